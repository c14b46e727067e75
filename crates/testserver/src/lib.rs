//! The built-in loopback HTTP server: what `tget bench` measures against when
//! given no URLs, and what the project's own tests download from.
//!
//! Every response is described by its URL, so one server covers every case:
//! `/any/name.bin?size=65536&latency=50&rate=1048576&status=404&fail=2`.
//! The body is generated on the fly from the path (no file, no buffer), so its
//! bytes can be checked with [`body`] and its size costs no memory.
//!
//! Query keys:
//! - `size=N`: body length (default 1024)
//! - `latency=MS`: wait before answering
//! - `rate=BYTES`: pace the body at this many bytes per second
//! - `status=CODE`: answer with this status and a short text body
//! - `fail=N`: the first N requests for this path get a 503
//! - `fail_status=CODE`: with `fail`, answer those requests with CODE instead of 503
//! - `retry_after=S`: with `fail`, also send `Retry-After: S`
//! - `fail_ranges=N`: the first N range requests for this path get a 503
//! - `redirect=PATH`: answer 302 to PATH on this server
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
//! - `change_after=K`: requests after the K-th for this path get a changed
//!   file (other bytes, other validator), as if it were replaced on the server
//! - `ignore_range=1`: never answer a range, always 200 with the whole body
//! - `bad_range=1`: answer a range with a 206 that starts at byte 0, whatever
//!   was asked (a broken server or cache)
//!
//! Ranges (`Range: bytes=A-` or `A-B`, with `If-Range`) get a 206; a range
//! that starts at or past the end gets a 416 with `Content-Range: bytes */SIZE`.
//! A connection that opens with a TLS handshake gets a plain-text 400, as
//! from an http server on an https URL.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often an idle connection looks up to see whether the server is stopping.
const POLL: Duration = Duration::from_millis(100);
const MAX_HEAD_BYTES: u64 = 64 * 1024;
const CONNECTION_STACK: usize = 128 * 1024;
const WRITE_CHUNK: usize = 64 * 1024;

type Headers = Vec<(String, String)>;

/// A thread per connection, started by an accept loop. (tiny_http's task pool
/// was tried first: with 8 keep-alive clients it left connections unserved
/// until the client's read timeout, which made timings meaningless.)
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    stopping: AtomicBool,
    requests: AtomicU64,
    peers: Mutex<HashSet<SocketAddr>>,
    hits: Mutex<HashMap<String, u64>>,
    range_hits: Mutex<HashMap<String, u64>>,
    headers_seen: Mutex<Vec<(String, Headers)>>,
    connections: Mutex<Vec<JoinHandle<()>>>,
}

impl Server {
    /// Listens on 127.0.0.1 on a free port.
    pub fn start() -> io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
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

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Distinct TCP connections seen so far.
    pub fn connections(&self) -> usize {
        self.shared.peers.lock().expect("poisoned").len()
    }

    /// Requests for one path (without query).
    pub fn hits(&self, path: &str) -> u64 {
        self.shared
            .hits
            .lock()
            .expect("poisoned")
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Request headers seen for one path, in arrival order.
    pub fn headers_for(&self, path: &str) -> Vec<Headers> {
        let seen = self.shared.headers_seen.lock().expect("poisoned");
        seen.iter()
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
        let connections = std::mem::take(&mut *self.shared.connections.lock().expect("poisoned"));
        for connection in connections {
            let _ = connection.join();
        }
    }
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::Relaxed) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let shared_for_thread = shared.clone();
        let spawned = thread::Builder::new()
            .name("tget-srv-conn".into())
            .stack_size(CONNECTION_STACK)
            .spawn(move || {
                let _ = serve_connection(stream, &shared_for_thread);
            });
        if let Ok(handle) = spawned {
            let mut connections = shared.connections.lock().expect("poisoned");
            connections.retain(|h| !h.is_finished());
            connections.push(handle);
        }
    }
}

/// One request's head.
struct RequestHead {
    target: String,
    headers: Headers,
    close: bool,
}

impl RequestHead {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Serves requests on one keep-alive connection until the client closes it.
fn serve_connection(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    let peer = stream.peer_addr()?;
    shared.peers.lock().expect("poisoned").insert(peer);
    stream.set_read_timeout(Some(POLL))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    if opens_with_tls(&mut reader, shared)? {
        text(
            &mut writer,
            400,
            "this is an http server",
            "Connection: close\r\n",
        )?;
        let _ = writer.shutdown(Shutdown::Both);
        return Ok(());
    }
    while let Some(head) = read_head(&mut reader, shared)? {
        match respond(&head, &mut writer, shared)? {
            After::KeepOpen if !head.close => {}
            After::Reset => {
                reset_on_close(&writer);
                return Ok(());
            }
            _ => break,
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
    Ok(())
}

/// A TLS ClientHello starts with record type 22 (handshake).
fn opens_with_tls(reader: &mut BufReader<TcpStream>, shared: &Shared) -> io::Result<bool> {
    while !shared.stopping.load(Ordering::Relaxed) {
        match reader.fill_buf() {
            Ok(bytes) => return Ok(bytes.first() == Some(&0x16)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// With a zero linger time, closing the socket sends RST instead of FIN:
/// the client sees "connection reset", not a clean end.
fn reset_on_close(stream: &TcpStream) {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket descriptor and a correctly sized `linger` value.
        unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(unix))]
    let _ = stream.shutdown(Shutdown::Both);
}

/// Reads one request head; `None` when the client closed the connection or
/// the server is stopping.
fn read_head(
    reader: &mut BufReader<TcpStream>,
    shared: &Shared,
) -> io::Result<Option<RequestHead>> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut budget = MAX_HEAD_BYTES;
    loop {
        if shared.stopping.load(Ordering::Relaxed) {
            return Ok(None);
        }
        match reader.by_ref().take(budget).read_line(&mut line) {
            Ok(0) => return Ok(None),
            Ok(n) => budget = budget.saturating_sub(n as u64),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        }
        if !line.ends_with('\n') {
            if budget == 0 {
                return Ok(None);
            }
            continue;
        }
        let text = line.trim_end().to_string();
        line.clear();
        if text.is_empty() && !lines.is_empty() {
            break;
        }
        if !text.is_empty() {
            lines.push(text);
        }
    }
    let mut request_line = lines[0].split_whitespace();
    let _method = request_line.next();
    let target = request_line.next().unwrap_or("/").to_string();
    let http10 = request_line.next() == Some("HTTP/1.0");
    let headers: Vec<(String, String)> = lines[1..]
        .iter()
        .filter_map(|l| {
            l.split_once(':')
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let close = http10
        || headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"));
    Ok(Some(RequestHead {
        target,
        headers,
        close,
    }))
}

/// The parsed query of one request.
#[derive(Debug, Default)]
struct Spec {
    size: u64,
    latency: Duration,
    rate: Option<u64>,
    status: Option<u16>,
    fail: u64,
    fail_ranges: u64,
    fail_status: Option<u16>,
    retry_after: Option<u64>,
    redirect: Option<String>,
    redirects: u64,
    content_disposition: Option<String>,
    stall_after: Option<u64>,
    version: String,
    chunked: bool,
    transfer_chunked: bool,
    cut_at: Option<(u64, Cut)>,
    faults: Option<u64>,
    validator: Validator,
    change_after: Option<u64>,
    ignore_range: bool,
    bad_range: bool,
}

/// How a `truncate_at`/`reset_after` body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    Close,
    Reset,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Validator {
    #[default]
    ETag,
    Date,
    None,
}

/// What becomes of a connection after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    KeepOpen,
    Close,
    Reset,
}

impl Spec {
    fn parse(query: &str) -> Spec {
        let mut spec = Spec {
            size: 1024,
            ..Spec::default()
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned();
            spec.set(key, value);
        }
        spec
    }

    fn set(&mut self, key: &str, value: String) {
        let number = value.parse::<u64>().ok();
        let status = number.and_then(|n| u16::try_from(n).ok());
        match key {
            "size" => self.size = number.unwrap_or(self.size),
            "latency" => self.latency = Duration::from_millis(number.unwrap_or(0)),
            "rate" => self.rate = number.filter(|&r| r > 0),
            "status" => self.status = status,
            "fail" => self.fail = number.unwrap_or(0),
            "fail_status" => self.fail_status = status,
            "fail_ranges" => self.fail_ranges = number.unwrap_or(0),
            "retry_after" => self.retry_after = number,
            "redirect" => self.redirect = Some(value),
            "redirects" => self.redirects = number.unwrap_or(0),
            "cd" => self.content_disposition = Some(value),
            "stall_after" => self.stall_after = number,
            "version" => self.version = value,
            "chunked" => self.chunked = value == "1",
            "te" => self.transfer_chunked = value == "chunked",
            "truncate_at" => self.cut_at = number.map(|n| (n, Cut::Close)),
            "reset_after" => self.cut_at = number.map(|n| (n, Cut::Reset)),
            "faults" => self.faults = number,
            "validator" => {
                self.validator = match value.as_str() {
                    "date" => Validator::Date,
                    "none" => Validator::None,
                    _ => Validator::ETag,
                }
            }
            "change_after" => self.change_after = number,
            "ignore_range" => self.ignore_range = value == "1",
            "bad_range" => self.bad_range = value == "1",
            _ => {}
        }
    }
}

/// The file a path serves at one moment: its bytes and its validator.
struct Served {
    seed: u64,
    validator: Option<(&'static str, String)>,
}

impl Served {
    fn new(path: &str, spec: &Spec, hit: u64) -> Served {
        let version = if spec.change_after.is_some_and(|k| hit > k) {
            changed_version(&spec.version)
        } else {
            spec.version.clone()
        };
        let seed = seed(path, &version);
        let validator = match spec.validator {
            Validator::ETag => Some(("ETag", etag_of(seed, spec.size))),
            Validator::Date => Some(("Last-Modified", date_of(seed))),
            Validator::None => None,
        };
        Served { seed, validator }
    }

    /// `If-Range` holds only when it names exactly this file's validator.
    fn if_range_holds(&self, head: &RequestHead) -> bool {
        match head.header("If-Range") {
            None => true,
            Some(given) => self.validator.as_ref().is_some_and(|(_, v)| v == given),
        }
    }
}

/// What to send for a request that wants the file's bytes.
enum Answer {
    Whole,
    Part(u64, u64),
    Unsatisfiable,
}

/// Answers one request; says what becomes of the connection.
fn respond(head: &RequestHead, out: &mut TcpStream, shared: &Shared) -> io::Result<After> {
    let (path, query) = head.target.split_once('?').unwrap_or((&head.target, ""));
    let (path, spec) = (path.to_string(), Spec::parse(query));
    let hit = record(head, &path, shared);
    sleep_unless_stopping(spec.latency, &shared.stopping);
    let ranged = head.header("Range").is_some();
    if hit <= spec.fail || (ranged && record_range(&path, shared) <= spec.fail_ranges) {
        let extra = spec
            .retry_after
            .map(|s| format!("Retry-After: {s}\r\n"))
            .unwrap_or_default();
        let status = spec.fail_status.unwrap_or(503);
        return text(out, status, "try again later", &extra);
    }
    if let Some(status) = spec.status {
        return text(out, status, &format!("status {status}"), "");
    }
    if let Some(target) = &spec.redirect {
        return text(out, 302, "moved", &format!("Location: {target}\r\n"));
    }
    if spec.redirects > 0 {
        let next = query.replace(
            &format!("redirects={}", spec.redirects),
            &format!("redirects={}", spec.redirects - 1),
        );
        return text(out, 302, "moved", &format!("Location: {path}?{next}\r\n"));
    }
    let served = Served::new(&path, &spec, hit);
    let answer = answer(head, &spec, &served);
    let (start, end) = match answer {
        Answer::Whole => (0, spec.size),
        Answer::Part(start, end) => (start, end),
        Answer::Unsatisfiable => {
            let range = format!("Content-Range: bytes */{}\r\n", spec.size);
            return text(out, 416, "range not satisfiable", &range);
        }
    };
    let cut = spec
        .cut_at
        .filter(|&(at, _)| at > start && at < end && spec.faults.is_none_or(|k| hit <= k));
    write_head(out, &spec, &served, &answer, (start, end))?;
    let mut body = Body {
        seed: served.seed,
        position: start,
        end: cut.map_or(end, |(at, _)| at),
        rate: spec.rate,
        stall_at: spec.stall_after.map(|n| start + n),
        started: Instant::now(),
        sent: 0,
        stopping: &shared.stopping,
    };
    send_body(&mut body, out, spec.transfer_chunked)?;
    if spec.transfer_chunked && cut.is_none() {
        out.write_all(b"0\r\n\r\n")?;
    }
    Ok(match cut {
        Some((_, Cut::Reset)) => After::Reset,
        Some((_, Cut::Close)) => After::Close,
        None if spec.chunked => After::Close,
        None => After::KeepOpen,
    })
}

fn answer(head: &RequestHead, spec: &Spec, served: &Served) -> Answer {
    let Some((first, end)) = requested_range(head, spec.size) else {
        return Answer::Whole;
    };
    if spec.ignore_range || !served.if_range_holds(head) {
        return Answer::Whole;
    }
    if spec.bad_range {
        return Answer::Part(0, spec.size);
    }
    if first >= spec.size {
        return Answer::Unsatisfiable;
    }
    Answer::Part(first, end)
}

fn write_head(
    out: &mut TcpStream,
    spec: &Spec,
    served: &Served,
    answer: &Answer,
    (start, end): (u64, u64),
) -> io::Result<()> {
    let mut headers =
        String::from("Content-Type: application/octet-stream\r\nAccept-Ranges: bytes\r\n");
    if let Some((name, value)) = &served.validator {
        headers.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(value) = &spec.content_disposition {
        headers.push_str(&format!("Content-Disposition: {value}\r\n"));
    }
    let status = match answer {
        Answer::Part(..) => {
            headers.push_str(&format!(
                "Content-Range: bytes {start}-{}/{}\r\n",
                end - 1,
                spec.size
            ));
            206
        }
        _ => 200,
    };
    if spec.chunked {
        // No length: the end of the body is the end of the connection.
        headers.push_str("Connection: close\r\n");
    } else if spec.transfer_chunked {
        headers.push_str("Transfer-Encoding: chunked\r\n");
    } else {
        headers.push_str(&format!("Content-Length: {}\r\n", end - start));
    }
    write!(out, "HTTP/1.1 {status} {}\r\n{headers}\r\n", reason(status))
}

/// Sends the body, each piece framed as a chunk when `chunked` (the final,
/// empty chunk is the caller's: a cut body must not have it).
fn send_body(body: &mut Body, out: &mut TcpStream, chunked: bool) -> io::Result<()> {
    let mut buffer = vec![0; WRITE_CHUNK];
    loop {
        let n = body.read(&mut buffer)?;
        if n == 0 {
            return Ok(());
        }
        if chunked {
            write!(out, "{n:x}\r\n")?;
        }
        out.write_all(&buffer[..n])?;
        if chunked {
            out.write_all(b"\r\n")?;
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        400 => "Bad Request",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Counts a range request; returns this path's range-request number (1-based).
fn record_range(path: &str, shared: &Shared) -> u64 {
    let mut hits = shared.range_hits.lock().expect("poisoned");
    let count = hits.entry(path.to_string()).or_default();
    *count += 1;
    *count
}

/// Counts the request; returns this path's hit number (1-based).
fn record(head: &RequestHead, path: &str, shared: &Shared) -> u64 {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    shared
        .headers_seen
        .lock()
        .expect("poisoned")
        .push((path.to_string(), head.headers.clone()));
    let mut hits = shared.hits.lock().expect("poisoned");
    let count = hits.entry(path.to_string()).or_default();
    *count += 1;
    *count
}

fn text(out: &mut TcpStream, status: u16, body: &str, extra_headers: &str) -> io::Result<After> {
    write!(
        out,
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{extra_headers}\r\n{body}",
        reason(status),
        body.len()
    )?;
    Ok(After::KeepOpen)
}

/// `Range: bytes=A-[B]` as `(A, B+1)`, the end capped at `size`.
fn requested_range(head: &RequestHead, size: u64) -> Option<(u64, u64)> {
    let spec = head.header("Range")?;
    let (first, last) = spec.strip_prefix("bytes=")?.split_once('-')?;
    let first: u64 = first.trim().parse().ok()?;
    let end = match last.trim() {
        "" => size,
        last => last.parse::<u64>().ok()?.saturating_add(1).min(size),
    };
    (first < end || first >= size).then_some((first, end))
}

fn sleep_unless_stopping(duration: Duration, stopping: &AtomicBool) {
    let deadline = Instant::now() + duration;
    while !stopping.load(Ordering::Relaxed) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        thread::sleep(left.min(Duration::from_millis(20)));
    }
}

/// A body made on the fly: byte `i` of a path is a pure function of (seed, i).
struct Body<'a> {
    seed: u64,
    position: u64,
    end: u64,
    rate: Option<u64>,
    stall_at: Option<u64>,
    started: Instant,
    sent: u64,
    stopping: &'a AtomicBool,
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stall_at.is_some_and(|at| self.position >= at) {
            sleep_unless_stopping(Duration::from_secs(120), self.stopping);
            return Err(io::Error::other("stalled body given up"));
        }
        if self.position >= self.end {
            return Ok(0);
        }
        let mut limit = (self.end - self.position).min(buf.len() as u64);
        if let Some(at) = self.stall_at {
            limit = limit.min(at - self.position);
        }
        if let Some(rate) = self.rate {
            limit = limit.min((rate / 20).max(1));
            // A chunk leaves once the rate has paid for it, so the last byte
            // arrives at size / rate and no pause follows it: a pause after
            // the last byte would hold up the next request on a keep-alive
            // connection and make reused connections look slow.
            let due = Duration::from_secs_f64((self.sent + limit) as f64 / rate as f64);
            sleep_unless_stopping(due.saturating_sub(self.started.elapsed()), self.stopping);
        }
        let n = limit as usize;
        fill(self.seed, self.position, &mut buf[..n]);
        self.position += limit;
        self.sent += limit;
        Ok(n)
    }
}

/// The ETag of `path` at `version` and `size`, as the server sends it.
pub fn etag(path: &str, version: &str, size: u64) -> String {
    etag_of(seed(path, version), size)
}

fn etag_of(seed: u64, size: u64) -> String {
    format!("\"{seed:016x}-{size}\"")
}

/// A Last-Modified date that differs between versions (the weekday is not checked).
fn date_of(seed: u64) -> String {
    let second = seed % 86_400;
    format!(
        "Mon, 01 Jan 2024 {:02}:{:02}:{:02} GMT",
        second / 3600,
        second / 60 % 60,
        second % 60
    )
}

/// The version a `change_after` path switches to.
pub fn changed_version(version: &str) -> String {
    format!("{version}~changed")
}

fn seed(path: &str, version: &str) -> u64 {
    let mixed = path
        .bytes()
        .chain(version.bytes())
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    splitmix(mixed)
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn fill(seed: u64, offset: u64, out: &mut [u8]) {
    for (i, byte) in out.iter_mut().enumerate() {
        let position = offset + i as u64;
        let word = splitmix(seed ^ (position / 8));
        *byte = (word >> ((position % 8) * 8)) as u8;
    }
}

/// The exact bytes the server sends for `path` (without query) at `size`.
pub fn body(path: &str, size: u64) -> Vec<u8> {
    body_version(path, "", size)
}

/// Like [`body`], for a `version=` variant.
pub fn body_version(path: &str, version: &str, size: u64) -> Vec<u8> {
    let mut out = vec![0; size as usize];
    fill(seed(path, version), 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_deterministic_and_path_specific() {
        assert_eq!(body("/a", 100), body("/a", 100));
        assert_ne!(body("/a", 100), body("/b", 100));
        assert_ne!(body("/a", 100), body_version("/a", "2", 100));
        let whole = body("/a", 1000);
        let mut tail = vec![0; 300];
        fill(seed("/a", ""), 700, &mut tail);
        assert_eq!(&whole[700..], &tail[..]);
    }

    #[test]
    fn a_paced_body_ends_at_size_over_rate_with_no_pause_after() {
        let stopping = AtomicBool::new(false);
        // 2000 bytes at 20 kB/s: two 1000-byte chunks, the last one due at 100 ms.
        let mut body = Body {
            seed: 1,
            position: 0,
            end: 2000,
            rate: Some(20_000),
            stall_at: None,
            started: Instant::now(),
            sent: 0,
            stopping: &stopping,
        };
        let mut buf = vec![0; 4096];
        let mut total = 0;
        while total < 2000 {
            total += body.read(&mut buf).unwrap();
        }
        assert!(body.started.elapsed() >= Duration::from_millis(100));
        let end = Instant::now();
        assert_eq!(body.read(&mut buf).unwrap(), 0);
        // The old pacing slept a whole chunk period (50 ms) here.
        assert!(
            end.elapsed() < Duration::from_millis(25),
            "{:?}",
            end.elapsed()
        );
    }

    #[test]
    fn query_parsing() {
        let spec =
            Spec::parse("size=10&latency=5&fail=2&cd=attachment%3B%20filename%3Dx&unknown=1");
        assert_eq!(
            (spec.size, spec.latency, spec.fail),
            (10, Duration::from_millis(5), 2)
        );
        assert_eq!(
            spec.content_disposition.as_deref(),
            Some("attachment; filename=x")
        );
    }
}
