//! The network side of one worker: the agent every worker shares, sending
//! one request (following its redirects), reading its body, the retry
//! pauses, and the clocks that say how long the worker waited for servers
//! and how many bytes it received.
//!
//! A whole-file fetch and a range of a shared file both go through a
//! `Transport`, so they count, stop, retry and redirect the same way.

use std::io::{self, Read};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ureq::config::ConfigBuilder;
use ureq::http::{HeaderMap, HeaderName, HeaderValue, Response, header};
use ureq::typestate::AgentScope;
use ureq::unversioned::transport::{ConnectionDetails, Connector, TcpConnector, Transport as Wire};
use ureq::{Agent, Body, ResponseExt};
use url::Url;

use crate::config::HttpConfig;
use crate::engine::activity::{self, Lane};
use crate::engine::job::FetchError;
use crate::engine::proxy::{Resolving, Routed, Routes};
use crate::engine::throttle::Throttle;
use crate::engine::{auth, redirect, tls};
use crate::stop::Cancel;
use crate::userinfo::{Credentials, redact};

const MAX_BACKOFF: Duration = Duration::from_secs(10);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// How often a pause before a retry looks at the cancel flag.
const PAUSE_STEP: Duration = Duration::from_millis(50);
/// Room for a request head (and, through an HTTP proxy, its absolute-form
/// target and `Proxy-Authorization`).
const OUTPUT_BUFFER: usize = 16 * 1024;
/// What one read from a connection may take in. Over TLS each connection
/// has two (the socket's and the decrypted bytes'); at 64 KiB rather than
/// ureq's 128 KiB they stay in cache: w3t took 10% less CPU (1.33-1.45 s
/// down to 1.20-1.32 s), w2t 2 MiB less memory, plain w3 about 4% more CPU.
const INPUT_BUFFER: usize = 64 * 1024;

/// The settings of every connection, for the agent and for the copies of
/// it that name a SOCKS proxy (see `proxy`). With a limit per host, the
/// pool keeps no more idle connections to a host than it may have open, so
/// a finished connection is reused, never added to.
fn settings(
    http: &HttpConfig,
    threads: usize,
    per_host: Option<usize>,
) -> ConfigBuilder<AgentScope> {
    Agent::config_builder()
        .timeout_connect(Some(http.connect_timeout))
        .timeout_recv_response(Some(http.read_timeout))
        // Restarts on every read: a stall detector that never cuts a big, live transfer.
        .timeout_per_read(Some(http.read_timeout))
        // Redirects are followed by `Transport::send`, hop by hop, so each
        // hop's credentials and URL are decided here (see `redirect`).
        .max_redirects(0)
        // Proxies are chosen per connection by `proxy::Routes`, by curl's
        // rules; ureq's own reading of the environment is not wanted.
        .proxy(None)
        .tls_config(tls::config(&http.trust))
        .user_agent(http.user_agent.as_str())
        // Statuses are classified here (retry or not), with their headers intact.
        .http_status_as_error(false)
        // ureq keeps 3 idle connections per host by default; a pool of N workers
        // on one host would then reconnect all the time.
        .max_idle_connections(threads.max(10) * 2)
        .max_idle_connections_per_host(per_host.unwrap_or(threads.max(3) * 2))
        // Only request heads are written (GETs without bodies): ureq's 128 KiB
        // output buffer, per connection and twice over TLS, is memory for nothing.
        .output_buffer_size(OUTPUT_BUFFER)
        .input_buffer_size(INPUT_BUFFER)
}

/// One agent per run, cloned into every worker: clones share one connection
/// pool, so each worker keeps reusing its own keep-alive connection.
pub fn agent(http: &HttpConfig, threads: usize, per_host: Option<usize>) -> Agent {
    let routes = Arc::new(Routes::new(&http.proxies, |proxy| {
        settings(http, threads, per_host).proxy(Some(proxy)).build()
    }));
    let late = http.clone();
    let tls = tls::Tls::new(&http.trust, move |tls_config| {
        settings(&late, threads, per_host)
            .tls_config(tls_config)
            .build()
    });
    let connector = Routed::new(routes.clone(), tls.clone())
        .chain(TcpConnector::default())
        .chain(tls);
    Agent::with_parts(
        settings(http, threads, per_host).build(),
        Watching(connector),
        Resolving::new(routes),
    )
}

/// The connector chain, run on the worker's thread when no pooled
/// connection will do: while it runs, the worker's row says "connecting".
#[derive(Debug)]
struct Watching<C>(C);

impl<C: Connector<()>> Connector<()> for Watching<C> {
    type Out = Box<dyn Wire>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let _connecting = activity::connecting_here();
        Ok(self.0.connect(details, chained)?.map(Wire::boxed))
    }
}

/// What a worker's transport counted since it was last asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clock {
    /// Blocked on servers: from sending a request to its response headers,
    /// and pauses before a retry. Threads exist to overlap it.
    pub waiting: Duration,
    /// Body bytes read from the network.
    pub received: u64,
}

/// A GET to make: its URL and the headers of this request (a range, a
/// validator) on top of the user's. Built by `Transport::get`, sent by
/// `Transport::send`, which may send it to several URLs in turn.
#[derive(Debug)]
pub struct Request {
    url: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// A header that could not be made; reported when the request is sent.
    invalid: bool,
}

impl Request {
    /// Adds a header, as ureq's request builder does.
    pub fn header<K, V>(mut self, name: K, value: V) -> Request
    where
        HeaderName: TryFrom<K>,
        HeaderValue: TryFrom<V>,
    {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(name), Ok(value)) => self.headers.push((name, value)),
            _ => self.invalid = true,
        }
        self
    }
}

/// One URL of a request's redirect chain, and what it may carry.
struct Hop {
    /// Parsed only when needed (see `send`): a URL without user info, on a
    /// run without netrc, goes out as its text.
    url: Option<Url>,
    /// What ureq is given: the user's own text for the first URL (so it is
    /// asked exactly as written), the resolved URL after a redirect.
    text: String,
    /// Within the origin of the first URL: the user's credentials go along.
    same_origin: bool,
    credentials: Option<Credentials>,
}

impl Hop {
    fn after_redirect(url: Url, same_origin: bool, credentials: Option<Credentials>) -> Hop {
        Hop {
            text: url.to_string(),
            url: Some(url),
            same_origin,
            credentials,
        }
    }
}

/// Headers that carry credentials: kept only within the first URL's origin.
fn is_credential(name: &HeaderName) -> bool {
    name == header::AUTHORIZATION || name == header::COOKIE
}

/// One worker's connection to the network. Owned by the worker thread, so
/// its clock is worker-local: nobody else writes it.
pub struct Transport<'a> {
    agent: Agent,
    http: &'a HttpConfig,
    cancel: &'a Cancel,
    lane: Lane<'a>,
    /// `--limit-rate`, shared by every worker of the run.
    throttle: Option<&'a Throttle>,
    clock: Clock,
}

/// What a worker's transport shares with the others of its run.
#[derive(Clone, Copy)]
pub struct Shared<'a> {
    pub http: &'a HttpConfig,
    pub cancel: &'a Cancel,
    pub throttle: Option<&'a Throttle>,
}

impl<'a> Transport<'a> {
    pub fn new(agent: Agent, shared: Shared<'a>, lane: Lane<'a>) -> Self {
        Transport {
            agent,
            http: shared.http,
            cancel: shared.cancel,
            lane,
            throttle: shared.throttle,
            clock: Clock::default(),
        }
    }

    /// The worker's row on the board, for what it is doing.
    pub fn lane(&self) -> Lane<'a> {
        self.lane
    }

    /// A GET of `url`; `send` adds the user's headers and credentials.
    pub fn get(&self, url: &str) -> Request {
        Request {
            url: url.to_string(),
            headers: Vec::new(),
            invalid: false,
        }
    }

    /// Sends a request and follows its redirects (up to `--max-redirects`),
    /// counting the wait for each response as waiting. Returns the first
    /// answer that is not a redirect.
    pub fn send(&mut self, request: Request) -> Result<Response<Body>, FetchError> {
        if request.invalid {
            return Err(FetchError::Protocol("a request header is not valid".into()));
        }
        // The URL parser costs as much as the rest of a small request, so the
        // first URL is parsed only when its credentials or a redirect need it.
        let mut first = None;
        let credentials = match self.http.user.clone() {
            Some(user) => Some(user),
            None if self.http.netrc.is_none() && !request.url.contains('@') => None,
            None => auth::for_url(self.http, first.insert(parse(&request.url)?))?,
        };
        let mut hop = Hop {
            credentials,
            url: first.clone(),
            text: request.url.clone(),
            same_origin: true,
        };
        let mut redirects = 0;
        loop {
            let response = self.call(&hop, &request.headers)?;
            if !redirect::is_redirect(response.status().as_u16()) {
                return Ok(self.checked(response, &hop, first.as_ref()));
            }
            let from = match hop.url.take() {
                Some(url) => url,
                None => parse(&hop.text)?,
            };
            let Some(next) = redirect::target(&from, &response)? else {
                return Ok(response);
            };
            if redirects >= self.http.max_redirects {
                return Err(FetchError::Network(ureq::Error::TooManyRedirects));
            }
            redirects += 1;
            let first = match first.as_ref() {
                Some(url) => url,
                None => first.insert(parse(&request.url)?),
            };
            hop = self.next_hop(next, first)?;
        }
    }

    /// Where a redirect leads, and what it may carry there.
    fn next_hop(&self, next: Url, first: &Url) -> Result<Hop, FetchError> {
        if redirect::same_origin(first, &next) {
            let url = redirect::with_userinfo_of(next, first);
            let credentials = auth::for_url(self.http, &url)?;
            return Ok(Hop::after_redirect(url, true, credentials));
        }
        let credentials = auth::for_other_origin(self.http, &next)?;
        Ok(Hop::after_redirect(next, false, credentials))
    }

    /// One request to one URL. The user's `Authorization` header replaces
    /// the credentials tget would send, within the first URL's origin.
    fn call(
        &mut self,
        hop: &Hop,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<Response<Body>, FetchError> {
        let mut request = self.agent.get(hop.text.as_str());
        let mut authorized = false;
        for (name, value) in &self.http.headers {
            if hop.same_origin || !is_credential(name) {
                authorized |= name == header::AUTHORIZATION;
                request = request.header(name, value);
            }
        }
        match &hop.credentials {
            Some(credentials) if !authorized => {
                request = request.header(header::AUTHORIZATION, auth::basic(credentials));
            }
            // ureq would send a URL's user info as written (not decoded), so
            // it is never given one without an Authorization header beside it.
            None if !authorized && hop.url.as_ref().is_some_and(has_userinfo) => {
                return Err(FetchError::Protocol("user info without credentials".into()));
            }
            _ => {}
        }
        for (name, value) in headers {
            request = request.header(name, value);
        }
        self.lane.waiting();
        let sent = Instant::now();
        let response = request.call();
        self.clock.waiting += sent.elapsed();
        response.map_err(FetchError::Network)
    }

    /// The final answer of a chain. One that came from another origin than
    /// the first URL is not offered for sharing by range requests when the
    /// user's credentials were held back from it: those range requests
    /// would start at that origin, and carry them there.
    fn checked(
        &self,
        mut response: Response<Body>,
        hop: &Hop,
        first: Option<&Url>,
    ) -> Response<Body> {
        let held_back = self.http.user.is_some()
            || self
                .http
                .headers
                .iter()
                .any(|(name, _)| is_credential(name))
            || first.is_some_and(has_userinfo);
        if !hop.same_origin && held_back {
            response.headers_mut().remove(header::ACCEPT_RANGES);
        }
        response
    }

    /// Reads until `buffer` is full or the body ends, so the disk sees few,
    /// large writes however small the network's reads are. Every read counts
    /// at once, on the board and the clock. Returns the bytes read and
    /// whether the body ended (or why reading failed).
    pub fn fill(
        &mut self,
        body: &mut impl Read,
        buffer: &mut [u8],
    ) -> (usize, Result<bool, FetchError>) {
        let mut filled = 0;
        let most = self.throttle.map_or(buffer.len(), Throttle::read_size);
        while filled < buffer.len() {
            if self.cancel.aborted() {
                return (filled, Err(FetchError::Cancelled));
            }
            let end = buffer.len().min(filled + most);
            match body.read(&mut buffer[filled..end]) {
                Ok(0) => return (filled, Ok(true)),
                Ok(n) => {
                    filled += n;
                    self.clock.received += n as u64;
                    self.lane.advance(n as u64);
                    if let Some(throttle) = self.throttle {
                        throttle.pay(n, self.cancel);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A read error from a response body wraps the ureq error that caused it.
                Err(e) => return (filled, Err(FetchError::Network(e.into()))),
            }
        }
        (filled, Ok(false))
    }

    /// Whether Ctrl-C asked running transfers to stop.
    pub fn cancelled(&self) -> bool {
        self.cancel.aborted()
    }

    /// What was counted since the last call.
    pub fn take_clock(&mut self) -> Clock {
        std::mem::take(&mut self.clock)
    }

    /// The one retry policy of jobs and ranges: gives the error back when it
    /// is final, else waits out the backoff. A shut-down agent looks like a
    /// dropped connection, so the cancel flag is asked first.
    pub fn wait_to_retry(&mut self, error: FetchError, failures: u32) -> Result<(), FetchError> {
        if self.cancel.aborted() {
            return Err(FetchError::Cancelled);
        }
        if !error.is_transient() || failures > self.http.retries {
            return Err(error);
        }
        self.pause(backoff(failures, &error, self.http.retry_delay));
        Ok(())
    }

    /// Sleeps in short steps so a Ctrl-C is not kept waiting behind a backoff.
    /// A pause waits for a server to recover, so it counts as waiting.
    fn pause(&mut self, wait: Duration) {
        let started = Instant::now();
        let deadline = started + wait;
        while !self.cancel.aborted() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            thread::sleep(left.min(PAUSE_STEP));
        }
        self.clock.waiting += started.elapsed();
    }
}

/// The URL a response finally came from must be http or https. ureq refuses
/// unknown schemes itself (`ftp://` is a bad URI), but would speak plain HTTP
/// to a proxy scheme such as `socks5://`; that body is not the file asked for.
pub fn check_scheme(response: &Response<Body>) -> Result<(), FetchError> {
    match response.get_uri().scheme_str() {
        Some("http" | "https") => Ok(()),
        other => Err(FetchError::Protocol(format!(
            "redirected to a {} URL (only http and https are followed)",
            other.unwrap_or("relative")
        ))),
    }
}

/// A status that is not a success, with the server's `Retry-After`.
pub fn status_error(response: &Response<Body>) -> FetchError {
    let retry_after = retry_after(
        response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
    );
    FetchError::Status {
        status: response.status().as_u16(),
        retry_after,
    }
}

fn parse(text: &str) -> Result<Url, FetchError> {
    Url::parse(text)
        .map_err(|e| FetchError::Protocol(format!("`{}` is not a valid URL ({e})", redact(text))))
}

fn has_userinfo(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// `Retry-After` in seconds, or as an HTTP date (then the time until it;
/// a date already past means now).
fn retry_after(value: Option<&str>) -> Option<Duration> {
    let value = value?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// Exponential backoff with jitter, or the server's `Retry-After` (capped).
fn backoff(attempt: u32, error: &FetchError, base: Duration) -> Duration {
    if let FetchError::Status {
        retry_after: Some(wait),
        ..
    } = error
    {
        return (*wait).min(MAX_RETRY_AFTER);
    }
    let exponential = base
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    exponential.mul_f64(0.5 + jitter() * 0.5)
}

/// A cheap 0..1 value that differs between threads and moments, so workers
/// that failed together do not retry in lockstep.
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 1000.0
}

/// `Content-Range: bytes FIRST-LAST/TOTAL` of a 206.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub first: u64,
    pub last: u64,
    /// `None` for `*` (the server does not know).
    pub total: Option<u64>,
}

impl std::fmt::Display for ContentRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.total {
            Some(total) => write!(f, "bytes {}-{}/{total}", self.first, self.last),
            None => write!(f, "bytes {}-{}/*", self.first, self.last),
        }
    }
}

impl ContentRange {
    pub fn from_headers(headers: &HeaderMap) -> Option<ContentRange> {
        ContentRange::parse(&header_text(headers, header::CONTENT_RANGE.as_str())?)
    }

    pub fn parse(text: &str) -> Option<ContentRange> {
        let (range, total) = text.trim().strip_prefix("bytes ")?.split_once('/')?;
        let (first, last) = range.split_once('-')?;
        let range = ContentRange {
            first: first.trim().parse().ok()?,
            last: last.trim().parse().ok()?,
            total: match total.trim() {
                "*" => None,
                total => Some(total.parse().ok()?),
            },
        };
        let fits = range.total.is_none_or(|total| range.last < total);
        (range.first <= range.last && fits).then_some(range)
    }

    /// Whether this range carries exactly the rest of a file from `offset`.
    pub fn continues_at(&self, offset: u64) -> bool {
        // `checked_add`: a server may send any number as the last byte.
        self.first == offset && self.total.is_some() && self.total == self.last.checked_add(1)
    }
}

/// The file length in a 416's `Content-Range: bytes */TOTAL`.
pub fn unsatisfied_length(headers: &HeaderMap) -> Option<u64> {
    let text = header_text(headers, header::CONTENT_RANGE.as_str())?;
    text.strip_prefix("bytes */")?.trim().parse().ok()
}

/// A header's value as trimmed text; `None` if absent, empty or not text.
pub fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    (!value.is_empty()).then(|| value.to_string())
}

/// Headers from `(name, value)` pairs, for tests.
#[cfg(test)]
pub(crate) fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, value.parse().unwrap());
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body that arrives in small reads, noting what the board showed
    /// before each one.
    struct Trickle<'b> {
        chunks: Vec<usize>,
        board: &'b activity::Board,
        seen: Vec<u64>,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            self.seen.push(self.board.received());
            let Some(n) = self.chunks.pop() else {
                return Ok(0);
            };
            buffer[..n].fill(b'x');
            Ok(n)
        }
    }

    #[test]
    fn every_read_counts_at_once_not_when_the_buffer_is_full() {
        let args = <crate::cli::Cli as clap::Parser>::parse_from(["tget", "--proxy", ""]);
        let http = HttpConfig::from_args(&args.download.net).unwrap();
        let cancel = Cancel::default();
        let board = activity::Board::new(1, true);
        let shared = Shared {
            http: &http,
            cancel: &cancel,
            throttle: None,
        };
        let mut transport = Transport::new(Agent::new_with_defaults(), shared, board.lane(0));
        let mut body = Trickle {
            chunks: vec![300, 200, 100],
            board: &board,
            seen: Vec::new(),
        };
        let mut buffer = vec![0; 64 * 1024];
        let (filled, ended) = transport.fill(&mut body, &mut buffer);
        assert_eq!((filled, ended.unwrap()), (600, true));
        assert_eq!(body.seen, [0, 100, 300, 600]);
        assert_eq!(transport.take_clock().received, 600);
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(retry_after(Some(" 3 ")), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO),
            "a date gone by: retry at once"
        );
        let soon = std::time::SystemTime::now() + Duration::from_secs(120);
        let wait = retry_after(Some(&httpdate::fmt_http_date(soon))).unwrap();
        assert!(
            wait > Duration::from_secs(110) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );
        assert_eq!(retry_after(Some("soon")), None);
        assert_eq!(retry_after(None), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let network = FetchError::Protocol(String::new());
        for attempt in 1..40 {
            let wait = backoff(attempt, &network, base);
            let ceiling = base
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(MAX_BACKOFF);
            assert!(
                wait <= ceiling && wait >= ceiling / 2,
                "attempt {attempt}: {wait:?}"
            );
        }
        let limited = FetchError::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(3600)),
        };
        assert_eq!(backoff(1, &limited, base), MAX_RETRY_AFTER);
    }

    #[test]
    fn content_ranges() {
        let range = ContentRange::parse("bytes 100-999/1000").unwrap();
        assert!(range.continues_at(100));
        assert!(!range.continues_at(0));
        assert!(
            !ContentRange::parse("bytes 100-998/1000")
                .unwrap()
                .continues_at(100)
        );
        assert!(
            !ContentRange::parse("bytes 100-999/*")
                .unwrap()
                .continues_at(100)
        );
        assert!(
            !ContentRange::parse("bytes 100-18446744073709551615/*")
                .unwrap()
                .continues_at(100)
        );
        for bad in [
            "bytes 5-4/10",
            "bytes 0-10/10",
            "items 0-1/2",
            "bytes */10",
            "bytes a-b/c",
        ] {
            assert_eq!(ContentRange::parse(bad), None, "{bad}");
        }
        assert_eq!(
            unsatisfied_length(&headers(&[("content-range", "bytes */1000")])),
            Some(1000)
        );
    }
}
