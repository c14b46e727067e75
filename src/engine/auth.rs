//! Which credentials a request carries, as Basic auth: `-u` for every URL
//! (as curl, it wins over a URL's own), else the URL's user info
//! (percent-decoded), else the netrc entry for its host (with the URL's
//! user as the login, when it names one). An `Authorization` header given
//! with `-H` replaces them all.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use ureq::http::HeaderValue;
use url::Url;

use crate::config::HttpConfig;
use crate::engine::job::FetchError;
use crate::userinfo::{self, Credentials};

/// The credentials for the first URL of a request.
pub fn for_url(http: &HttpConfig, url: &Url) -> Result<Option<Credentials>, FetchError> {
    if let Some(user) = &http.user {
        return Ok(Some(user.clone()));
    }
    from_url_or_netrc(http, url)
}

/// The credentials for a hop to another origin: `-u` stays behind (it was
/// given for the URLs of the list), the URL's own user info or netrc do not.
pub fn for_other_origin(http: &HttpConfig, url: &Url) -> Result<Option<Credentials>, FetchError> {
    from_url_or_netrc(http, url)
}

fn from_url_or_netrc(http: &HttpConfig, url: &Url) -> Result<Option<Credentials>, FetchError> {
    let own = userinfo::decode(url)
        .map_err(|e| FetchError::Protocol(format!("{}: {e}", userinfo::redact(url.as_str()))))?;
    if own.as_ref().is_some_and(|c| !c.password.is_empty()) {
        return Ok(own);
    }
    let from_netrc = http.netrc.as_ref().and_then(|netrc| {
        let host = url.host_str()?;
        netrc.lookup(host, own.as_ref().map(|c| c.user.as_str()))
    });
    Ok(from_netrc.or(own))
}

/// `Basic base64(user:password)`, marked sensitive so that ureq never logs it.
pub fn basic(credentials: &Credentials) -> HeaderValue {
    let token = BASE64_STANDARD.encode(format!("{}:{}", credentials.user, credentials.password));
    let mut value =
        HeaderValue::from_str(&format!("Basic {token}")).expect("base64 is a valid header value");
    value.set_sensitive(true);
    value
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::netrc::Netrc;

    fn http(user: Option<&str>, netrc: Option<&str>) -> HttpConfig {
        let args = <crate::cli::Cli as clap::Parser>::parse_from(["tget", "--proxy", ""])
            .download
            .net;
        let mut http = HttpConfig::from_args(&args).unwrap();
        http.user = user.map(|u| Credentials::parse(u).unwrap());
        http.netrc = netrc.map(|text| Netrc::parse(text, Path::new("n")).unwrap());
        http
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn the_user_flag_wins_then_the_url_then_netrc() {
        let netrc = Some("machine h login n password np\nmachine h login bob password bp\n");
        let both = http(Some("u:up"), netrc);
        assert_eq!(
            for_url(&both, &url("http://a:ap@h/")).unwrap(),
            Some(Credentials::new("u", "up"))
        );
        let plain = http(None, netrc);
        assert_eq!(
            for_url(&plain, &url("http://a%3Ab:a%40p@h/")).unwrap(),
            Some(Credentials::new("a:b", "a@p"))
        );
        assert_eq!(
            for_url(&plain, &url("http://h/")).unwrap(),
            Some(Credentials::new("n", "np"))
        );
        assert_eq!(
            for_url(&plain, &url("http://bob@h/")).unwrap(),
            Some(Credentials::new("bob", "bp"))
        );
        assert_eq!(for_url(&plain, &url("http://other/")).unwrap(), None);
        assert_eq!(
            for_other_origin(&both, &url("http://other/")).unwrap(),
            None
        );
    }

    #[test]
    fn basic_is_base64_of_user_colon_password() {
        let value = basic(&Credentials::new("bob@corp", "p@ss"));
        assert_eq!(value.to_str().unwrap(), "Basic Ym9iQGNvcnA6cEBzcw==");
        assert!(value.is_sensitive());
    }
}
