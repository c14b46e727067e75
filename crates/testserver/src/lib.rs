//! A loopback HTTP/1.1 server whose every response is described by its URL:
//! what `tget bench` measures against when given no URLs, and what tget's
//! own tests download from.
//!
//! One server covers every case, e.g.
//! `/any/name.bin?size=65536&latency=50&rate=1048576`. The body is generated
//! on the fly from the path (no file, no buffer), so its bytes can be checked
//! with [`body`] and its size costs no memory.
//!
//! # Query keys
//!
//! Every build (what `tget bench` needs):
//! - `size=N`: body length (default 1024)
//! - `latency=MS`: wait before answering
//! - `rate=BYTES`: pace the body at this many bytes per second
//!
//! With the `faults` feature (tests only; the release `tget` is built
//! without it, and without it these keys are ignored like any unknown key):
//! - `status=CODE`: answer with this status and a short text body
//! - `fail=N`: the first N requests for this path get a 503
//! - `fail_status=CODE`: with `fail`, answer those requests with CODE instead of 503
//! - `retry_after=S`: with `fail`, also send `Retry-After: S` (seconds, or
//!   an HTTP date, as given)
//! - `fail_ranges=N`: the first N range requests for this path get a 503
//! - `redirect=PATH`: answer 302 with `Location: PATH`, as given (relative or not)
//! - `redirect_status=CODE`: with `redirect`, answer CODE instead of 302
//! - `redirects=N`: answer 302 to the same URL with `redirects=N-1` (a chain of N)
//! - `cd=VALUE`: send `Content-Disposition: VALUE`
//! - `stall_after=N`: send N bytes, then stop sending until the server shuts down
//! - `version=V`: a different body and ETag for the same path
//! - `chunked=1`: no Content-Length; the body ends when the connection closes
//! - `te=chunked`: `Transfer-Encoding: chunked`, which marks its own end
//! - `truncate_at=N`: declare the full Content-Length but close the connection
//!   once the body reaches byte N of the file (a response that starts at or
//!   past N is sent whole, so a resumed request gets the rest)
//! - `reset_after=N`: like `truncate_at`, but end with a TCP reset (RST)
//! - `faults=K`: `truncate_at` and `reset_after` hit only the first K requests
//!   for this path (default: all)
//! - `validator=etag|date|none`: send an `ETag` (default), a `Last-Modified`
//!   date, or neither; `If-Range` is compared with whichever is sent
//! - `last_modified=DATE`: send `Last-Modified: DATE` as the validator
//!   (with any `validator=`), e.g. a date servers get wrong, like 1970
//! - `sndbuf=BYTES`: a send buffer this small, so bytes counted as sent are
//!   close to those the client has read (for measuring a client's rate)
//! - `change_after=K`: requests after the K-th for this path get a changed
//!   file (other bytes, other validator), as if it were replaced on the server
//! - `ignore_range=1`: never answer a range, always 200 with the whole body
//! - `bad_range=1`: answer a range with a 206 that starts at byte 0, whatever
//!   was asked (a broken server or cache)
//!
//! Keys may come in any order; a repeated key takes its last value.
//!
//! # Protocol
//!
//! Ranges (`Range: bytes=A-` or `A-B`, with `If-Range`) get a 206; a range
//! that starts at or past the end gets a 416 with `Content-Range: bytes */SIZE`.
//! Connections stay open between requests unless the client sends
//! `Connection: close` or speaks HTTP/1.0. A connection that opens with a TLS
//! handshake gets a plain-text 400, as from an http server on an https URL.
//!
//! # Records
//!
//! [`Server::start`] keeps two counters and nothing per request, so a long
//! benchmark costs no memory: requests answered ([`Server::requests`]) and
//! connections accepted ([`Server::connections`]). [`Server::recording`] also
//! keeps the headers of the first [`RECORDED_REQUESTS`] requests, for
//! [`Server::headers_for`]. With `faults`, the server counts requests per path
//! (`Server::hits`), which the fault keys need.
//!
//! # Design
//!
//! Each request becomes a plain `Plan` (its size, pacing, validator, framing,
//! cut ...) and the core serves the plan. The core fills a plan from the keys
//! above the line; the `faults` module (its own file, compiled only with the
//! feature) fills in the rest from the fault keys and the path's history.

mod body;
#[cfg(feature = "faults")]
mod faults;
mod plan;
#[cfg(feature = "proxies")]
pub mod proxy;
#[cfg(feature = "proxies")]
mod relay;
mod serve;
#[cfg(feature = "proxies")]
pub mod socks;
#[cfg(feature = "tls")]
pub mod tls;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

pub use body::{body, body_version, changed_version, etag};

use plan::Plan;
use serve::{RequestHead, serve_connection};

/// How many requests [`Server::recording`] keeps the headers of: the first
/// ones, so `headers_for(path)[i]` never shifts. Later requests are counted
/// but not recorded.
pub const RECORDED_REQUESTS: usize = 4096;

const CONNECTION_STACK: usize = 128 * 1024;

/// One request's headers, as sent: `(name, value)` in order.
pub type Headers = Vec<(String, String)>;

/// The server side of TLS, for a server started by `Server::https`.
#[cfg(feature = "tls")]
type TlsSettings = Arc<rustls::ServerConfig>;
#[cfg(not(feature = "tls"))]
type TlsSettings = std::convert::Infallible;

/// A thread per connection, started by an accept loop. (tiny_http's task pool
/// was tried first: with 8 keep-alive clients it left connections unserved
/// until the client's read timeout, which made timings meaningless.)
///
/// Dropping the server stops it: it waits for every connection thread to end.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    stopping: AtomicBool,
    requests: AtomicU64,
    connections: AtomicU64,
    /// Body bytes written to clients, every response's together.
    body_bytes: AtomicU64,
    /// The most connections open at once so far.
    peak: AtomicU64,
    /// The sockets of the connections not known to be closed, for `peak`.
    open: Mutex<Vec<RawFd>>,
    /// Connection threads that have not ended yet (no handles are kept).
    live: Mutex<usize>,
    none_live: Condvar,
    /// `None` unless started by [`Server::recording`].
    records: Option<Records>,
    /// Set for an https server.
    tls: Option<TlsSettings>,
    #[cfg(feature = "faults")]
    history: faults::History,
}

struct Records {
    limit: usize,
    heads: Mutex<Vec<(String, Headers)>>,
}

impl Server {
    /// Listens on 127.0.0.1 on a free port, keeping only counters.
    pub fn start() -> io::Result<Server> {
        Server::listen(None)
    }

    /// Like [`Server::start`], and also records the headers of the first
    /// [`RECORDED_REQUESTS`] requests for [`Server::headers_for`].
    pub fn recording() -> io::Result<Server> {
        Server::listen(Some(RECORDED_REQUESTS))
    }

    /// Like [`Server::start`], over TLS with `identity`: its URLs are https.
    #[cfg(feature = "tls")]
    pub fn https(identity: &tls::Identity) -> io::Result<Server> {
        Server::listen_with(None, Some(identity.server_config()?))
    }

    /// Like [`Server::recording`], over TLS with `identity`.
    #[cfg(feature = "tls")]
    pub fn https_recording(identity: &tls::Identity) -> io::Result<Server> {
        Server::listen_with(Some(RECORDED_REQUESTS), Some(identity.server_config()?))
    }

    /// Requests for one path (without query) so far. Only with the `faults`
    /// feature.
    #[cfg(feature = "faults")]
    pub fn hits(&self, path: &str) -> u64 {
        self.shared.history.hits(path)
    }

    fn listen(record_limit: Option<usize>) -> io::Result<Server> {
        Server::listen_with(record_limit, None)
    }

    fn listen_with(record_limit: Option<usize>, tls: Option<TlsSettings>) -> io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            records: record_limit.map(|limit| Records {
                limit,
                heads: Mutex::default(),
            }),
            tls,
            ..Shared::default()
        });
        let acceptor = {
            let shared = shared.clone();
            thread::Builder::new()
                .name("tget-srv-accept".into())
                .spawn(move || accept(&listener, &shared))?
        };
        Ok(Server {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (https for [`Server::https`]) followed by
    /// `path_and_query`.
    pub fn url(&self, path_and_query: &str) -> String {
        let scheme = if self.shared.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}{}", self.addr, path_and_query)
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Body bytes sent so far, all responses together: what a resumed
    /// download really cost.
    pub fn body_bytes(&self) -> u64 {
        self.shared.body_bytes.load(Ordering::Relaxed)
    }

    /// Connections whose thread has not ended: 0 once every client is gone
    /// and every response that was under way has stopped (and been counted).
    pub fn open_connections(&self) -> usize {
        *self
            .shared
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The most connections that were open at once so far.
    pub fn peak_connections(&self) -> u64 {
        self.shared.peak.load(Ordering::Relaxed)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// The headers of each recorded request for one path (without query), in
    /// arrival order. Only the first [`RECORDED_REQUESTS`] requests to the
    /// server are recorded.
    ///
    /// # Panics
    ///
    /// On a server from [`Server::start`], which records no requests.
    pub fn headers_for(&self, path: &str) -> Vec<Headers> {
        let records = self
            .shared
            .records
            .as_ref()
            .expect("Server::start() records no requests: use Server::recording()");
        let heads = records.heads.lock().expect("poisoned");
        heads
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, h)| h.clone())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        // Wakes the accept loop, which then sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        // Idle connections look at the flag every `serve::POLL`.
        let mut live = self
            .shared
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *live > 0 {
            live = self
                .shared
                .none_live
                .wait(live)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Shared {
    /// Counts the request, and records its head when asked to.
    fn record(&self, path: &str, head: &RequestHead) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(records) = &self.records {
            let mut heads = records.heads.lock().expect("poisoned");
            if heads.len() < records.limit {
                heads.push((path.to_string(), head.headers.clone()));
            }
        }
    }

    /// What to answer: from the core keys alone.
    #[cfg(not(feature = "faults"))]
    fn plan(&self, _head: &RequestHead, path: &str, query: &str) -> Plan {
        Plan::parse(path, query)
    }

    /// What to answer: the core keys, then the fault keys and this path's history.
    #[cfg(feature = "faults")]
    fn plan(&self, head: &RequestHead, path: &str, query: &str) -> Plan {
        faults::plan(head, path, query, &self.history)
    }
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::Relaxed) {
            return;
        }
        let Ok(stream) = stream else { continue };
        shared.connections.fetch_add(1, Ordering::Relaxed);
        let live = Live::enter(shared.clone(), &stream);
        // A failed spawn drops the closure, and `live` with it.
        let _ = thread::Builder::new()
            .name("tget-srv-conn".into())
            .stack_size(CONNECTION_STACK)
            .spawn(move || {
                let _ = serve_connection(stream, &live.0);
            });
    }
}

/// A connection thread, counted in `Shared::live` until it ends.
struct Live(Arc<Shared>, RawFd);

impl Live {
    fn enter(shared: Arc<Shared>, stream: &TcpStream) -> Live {
        let fd = stream.as_raw_fd();
        let mut live = shared.live.lock().unwrap_or_else(PoisonError::into_inner);
        *live += 1;
        let mut open = shared.open.lock().unwrap_or_else(PoisonError::into_inner);
        // Connections whose client hung up before this one connected are
        // not open any more, whether or not their threads have noticed:
        // packets arrive in order, so this counts what a client really had.
        open.retain(|&other| !body::hung_up(other, std::time::Duration::ZERO));
        open.push(fd);
        shared.peak.fetch_max(open.len() as u64, Ordering::Relaxed);
        drop(open);
        drop(live);
        Live(shared, fd)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let mut live = self.0.live.lock().unwrap_or_else(PoisonError::into_inner);
        // Forgotten before the descriptor closes, so a new socket reusing
        // its number is never taken for it.
        self.0
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|&fd| fd != self.1);
        *live -= 1;
        if *live == 0 {
            self.0.none_live.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    use super::*;

    /// One request on its own connection; returns the whole response.
    pub(crate) fn get_bytes(server: &Server, target: &str, headers: &str) -> Vec<u8> {
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        write!(
            stream,
            "GET {target} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        response
    }

    /// Like [`get_bytes`], as text.
    pub(crate) fn get(server: &Server, target: &str, headers: &str) -> String {
        String::from_utf8_lossy(&get_bytes(server, target, headers)).into_owned()
    }

    fn live(server: &Server) -> usize {
        *server.shared.live.lock().unwrap()
    }

    #[test]
    fn start_counts_requests_and_connections_and_records_nothing() {
        let server = Server::start().unwrap();
        for _ in 0..3 {
            assert!(get(&server, "/a?size=1", "").starts_with("HTTP/1.1 200 OK\r\n"));
        }
        assert_eq!((server.requests(), server.connections()), (3, 3));
        assert!(server.shared.records.is_none());
    }

    #[test]
    #[should_panic(expected = "use Server::recording()")]
    fn headers_for_on_a_server_that_records_nothing_says_so() {
        let server = Server::start().unwrap();
        let _ = server.headers_for("/a");
    }

    #[test]
    fn recording_keeps_the_first_requests_up_to_its_limit() {
        let server = Server::listen(Some(3)).unwrap();
        for i in 0..5 {
            get(&server, "/r", &format!("X-N: {i}\r\n"));
        }
        get(&server, "/other", "");
        let seen = server.headers_for("/r");
        let numbers: Vec<&str> = seen
            .iter()
            .map(|h| h.iter().find(|(n, _)| n == "X-N").unwrap().1.as_str())
            .collect();
        assert_eq!(numbers, ["0", "1", "2"]);
        assert!(server.headers_for("/other").is_empty());
        assert_eq!(server.requests(), 6, "every request is still counted");
        assert_eq!(
            Server::recording()
                .unwrap()
                .shared
                .records
                .as_ref()
                .unwrap()
                .limit,
            RECORDED_REQUESTS
        );
    }

    #[test]
    fn ended_connections_leave_nothing_behind() {
        let server = Server::start().unwrap();
        for _ in 0..50 {
            get(&server, "/c?size=10", "");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while live(&server) > 0 {
            assert!(Instant::now() < deadline, "{} threads left", live(&server));
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(server.connections(), 50);
    }

    #[test]
    fn dropping_the_server_ends_idle_keep_alive_connections() {
        let server = Server::start().unwrap();
        let mut idle = TcpStream::connect(server.addr()).unwrap();
        write!(idle, "GET /k?size=3 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0; 512];
        assert!(idle.read(&mut buf).unwrap() > 0);
        let started = Instant::now();
        drop(server);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
