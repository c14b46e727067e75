//! Redirects, followed by the transport rather than by ureq, so that each
//! hop is checked here: its URL resolved per RFC 3986 (dot segments too),
//! only http and https followed, and whether it stays within the origin
//! (scheme, host and port) that the request's credentials belong to.

use ureq::Body;
use ureq::http::{Response, header};
use url::Url;

use crate::engine::job::FetchError;
use crate::userinfo::redact;

/// The statuses that send a GET elsewhere.
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Where a redirect leads: its `Location` resolved against the URL it came
/// from, without a fragment. `None` without a `Location` (the 3xx is then
/// the answer). A `Location` that is not a URL, or leads elsewhere than
/// http or https, is a permanent error.
pub fn target(from: &Url, response: &Response<Body>) -> Result<Option<Url>, FetchError> {
    let Some(location) = response.headers().get(header::LOCATION) else {
        return Ok(None);
    };
    let status = response.status().as_u16();
    let text = String::from_utf8_lossy(location.as_bytes());
    let mut next = from.join(text.trim()).map_err(|e| {
        FetchError::Protocol(format!(
            "HTTP {status} to `{}`, which is not a URL ({e})",
            redact(&text)
        ))
    })?;
    next.set_fragment(None);
    match next.scheme() {
        "http" | "https" => Ok(Some(next)),
        other => Err(FetchError::Protocol(format!(
            "redirected to a {other} URL (only http and https are followed)"
        ))),
    }
}

/// Same scheme, host and port: the origin credentials are kept within.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// `url` with the user info of `from`, for a hop within the same origin: a
/// range request made later to where the redirects led is then made with
/// the same credentials.
pub fn with_userinfo_of(mut url: Url, from: &Url) -> Url {
    if url.username().is_empty() && url.password().is_none() {
        // Setting user info fails only for URLs that cannot have it (no host).
        let _ = url.set_username(from.username());
        let _ = url.set_password(from.password());
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect(location: &str) -> Response<Body> {
        Response::builder()
            .status(308)
            .header("location", location)
            .body(Body::builder().data(""))
            .unwrap()
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn locations_resolve_per_rfc_3986() {
        let from = url("http://h:8/r308up?x=1");
        let next = |location: &str| {
            target(&from, &redirect(location))
                .unwrap()
                .unwrap()
                .to_string()
        };
        assert_eq!(next("../data/other.txt"), "http://h:8/data/other.txt");
        assert_eq!(next("./a/./b/../c#frag"), "http://h:8/a/c");
        assert_eq!(next("//other:9/x"), "http://other:9/x");
        assert_eq!(next("?y=2"), "http://h:8/r308up?y=2");
        assert_eq!(next(" https://s/p "), "https://s/p");
        let no_location = Response::builder()
            .status(302)
            .body(Body::builder().data(""))
            .unwrap();
        assert!(target(&from, &no_location).unwrap().is_none());
    }

    #[test]
    fn bad_and_foreign_locations_are_permanent_errors() {
        let from = url("http://h/");
        for (location, says) in [
            ("http://[::1", "not a URL"),
            ("ftp://h/x", "ftp URL"),
            ("socks5://h:1/", "socks5 URL"),
        ] {
            let error = target(&from, &redirect(location)).unwrap_err();
            assert!(!error.is_transient(), "{location}");
            assert!(error.to_string().contains(says), "{location}: {error}");
        }
        let secret = target(&from, &redirect("http://u:pw@[::1")).unwrap_err();
        assert!(!secret.to_string().contains("pw"), "{secret}");
    }

    #[test]
    fn origins_are_scheme_host_and_port() {
        assert!(same_origin(&url("http://h/a"), &url("http://H:80/b")));
        assert!(!same_origin(&url("http://h/"), &url("https://h/")));
        assert!(!same_origin(&url("http://h:1/"), &url("http://h:2/")));
        assert!(!same_origin(&url("http://h/"), &url("http://g/")));
        let kept = with_userinfo_of(url("http://h/b"), &url("http://u:p@h/a"));
        assert_eq!(kept.as_str(), "http://u:p@h/b");
    }
}
