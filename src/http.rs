//! The one HTTP agent of a run, and what its errors mean for a retry.

use std::io;
use std::time::Duration;

use ureq::config::RedirectAuthHeaders;
use ureq::http::Response;
use ureq::{Agent, ResponseExt};

use crate::config::HttpConfig;

/// One agent per run, cloned into every worker: clones share one connection
/// pool, so each worker keeps reusing its own keep-alive connection.
pub fn agent(http: &HttpConfig, threads: usize) -> Agent {
    Agent::config_builder()
        .timeout_connect(Some(http.connect_timeout))
        .timeout_recv_response(Some(http.read_timeout))
        // Restarts on every read: a stall detector that never cuts a big, live transfer.
        .timeout_per_read(Some(http.read_timeout))
        .max_redirects(http.max_redirects)
        // Authorization and Cookie (from -H) are dropped on every redirect,
        // even to the same host: ureq's default, stated so no one loosens it
        // to `SameHost`, which ignores the port and so the origin.
        .redirect_auth_headers(RedirectAuthHeaders::Never)
        .user_agent(http.user_agent.as_str())
        // Statuses are classified here (retry or not), with their headers intact.
        .http_status_as_error(false)
        // ureq keeps 3 idle connections per host by default; a pool of N workers
        // on one host would then reconnect all the time.
        .max_idle_connections(threads.max(10) * 2)
        .max_idle_connections_per_host(threads.max(3) * 2)
        .build()
        .into()
}

/// The URL a response finally came from must be http or https. ureq refuses
/// unknown schemes itself (`ftp://` is a bad URI), but would speak plain HTTP
/// to a proxy scheme such as `socks5://`; that body is not the file asked for.
pub fn check_scheme(response: &Response<ureq::Body>) -> Result<(), String> {
    match response.get_uri().scheme_str() {
        Some("http" | "https") => Ok(()),
        other => Err(format!(
            "redirected to a {} URL (only http and https are followed)",
            other.unwrap_or("relative")
        )),
    }
}

/// A transport error in words a user can act on.
pub fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Io(e) => describe_io(e),
        ureq::Error::Timeout(ureq::Timeout::Connect) => "timed out connecting".into(),
        ureq::Error::Timeout(ureq::Timeout::PerRead | ureq::Timeout::RecvResponse) => {
            "timed out waiting for data from the server".into()
        }
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::TooManyRedirects => "too many redirects".into(),
        ureq::Error::BadUri(uri) => format!("bad URL: {uri}"),
        other => other.to_string(),
    }
}

fn describe_io(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset by the server".into(),
        io::ErrorKind::UnexpectedEof => "connection closed before the body was complete".into(),
        _ => error.to_string(),
    }
}

/// Whether trying again could help: the network or the server may recover,
/// a bad URL or a TLS failure will not.
pub fn is_transient(error: &ureq::Error) -> bool {
    match error {
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed | ureq::Error::Protocol(_) => true,
        ureq::Error::Io(e) => is_transient_io(e),
        _ => false,
    }
}

fn is_transient_io(error: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionReset
            | ConnectionRefused
            | ConnectionAborted
            | UnexpectedEof
            | TimedOut
            | BrokenPipe
            | Interrupted
    )
}

/// 408 Request Timeout, 429 Too Many Requests and the 5xx that mean "later".
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` in seconds (the HTTP-date form is rare for downloads and ignored).
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A read error from a response body wraps the ureq error that caused it.
pub fn from_body_error(error: io::Error) -> ureq::Error {
    error.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert!(is_transient_status(503) && is_transient_status(429) && is_transient_status(408));
        assert!(
            !is_transient_status(404) && !is_transient_status(403) && !is_transient_status(501)
        );
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(retry_after(Some(" 3 ")), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(None), None);
    }

    #[test]
    fn transient_errors() {
        let refused = ureq::Error::Io(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(is_transient(&refused));
        assert_eq!(describe(&refused), "connection refused");
        assert!(!is_transient(&ureq::Error::TooManyRedirects));
        assert!(is_transient(&ureq::Error::Timeout(ureq::Timeout::PerRead)));
    }
}
