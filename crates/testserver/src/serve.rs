//! One connection: reading request heads, and answering each from its
//! [`Plan`] until the client closes the connection or the server stops.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::Shared;
use crate::body::{Body, sleep_unless_stopping};
use crate::plan::{Cut, Framing, Plan, Ranges};

/// How often an idle connection looks up to see whether the server is stopping.
pub(crate) const POLL: Duration = Duration::from_millis(100);
const MAX_HEAD_BYTES: u64 = 64 * 1024;
const WRITE_CHUNK: usize = 64 * 1024;

/// One request's head.
pub(crate) struct RequestHead {
    pub(crate) target: String,
    pub(crate) headers: crate::Headers,
    pub(crate) close: bool,
}

impl RequestHead {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What becomes of a connection after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    KeepOpen,
    Close,
    Reset,
}

/// A connection's bytes: plain TCP, or TLS over it.
pub(crate) trait Wire: Read + Write {
    fn socket(&self) -> &TcpStream;

    /// Ends the connection cleanly (TLS says so first).
    fn close(&mut self) {
        let _ = self.flush();
        let _ = self.socket().shutdown(Shutdown::Both);
    }
}

impl Wire for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

#[cfg(feature = "tls")]
impl Wire for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn socket(&self) -> &TcpStream {
        &self.sock
    }

    fn close(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
        let _ = self.sock.shutdown(Shutdown::Both);
    }
}

/// Serves requests on one keep-alive connection until the client closes it.
pub(crate) fn serve_connection(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(POLL))?;
    stream.set_nodelay(true)?;
    #[cfg(feature = "tls")]
    if let Some(config) = &shared.tls {
        let connection = rustls::ServerConnection::new(config.clone()).map_err(io::Error::other)?;
        return serve(
            BufReader::new(rustls::StreamOwned::new(connection, stream)),
            shared,
        );
    }
    let mut reader = BufReader::new(stream);
    if opens_with_tls(&mut reader, shared)? {
        text(
            reader.get_mut(),
            400,
            "this is an http server",
            "Connection: close\r\n",
        )?;
        reader.get_mut().close();
        return Ok(());
    }
    serve(reader, shared)
}

/// Answers request after request until the client closes the connection.
fn serve<W: Wire>(mut reader: BufReader<W>, shared: &Shared) -> io::Result<()> {
    while let Some(head) = read_head(&mut reader, shared)? {
        match respond(&head, reader.get_mut(), shared)? {
            After::KeepOpen if !head.close => {}
            After::Reset => {
                reset_on_close(reader.get_ref().socket());
                return Ok(());
            }
            _ => break,
        }
    }
    reader.get_mut().close();
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
    reader: &mut BufReader<impl Wire>,
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
    let headers: crate::Headers = lines[1..]
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

/// What to send for a request that wants the file's bytes.
enum Answer {
    Whole,
    Part(u64, u64),
    Unsatisfiable,
}

/// Answers one request; says what becomes of the connection.
fn respond(head: &RequestHead, out: &mut impl Wire, shared: &Shared) -> io::Result<After> {
    let (path, query) = head.target.split_once('?').unwrap_or((&head.target, ""));
    shared.record(path, head);
    let plan = shared.plan(head, path, query);
    sleep_unless_stopping(plan.latency, &shared.stopping);
    if let Some(reply) = &plan.reply {
        return text(out, reply.status, &reply.body, &reply.headers);
    }
    if not_modified(head, &plan) {
        return text(out, 304, "", "");
    }
    if let Some(bytes) = plan.send_buffer {
        set_send_buffer(out.socket(), bytes);
    }
    let answer = answer(head, &plan);
    let (start, end) = match answer {
        Answer::Whole => (0, plan.size),
        Answer::Part(start, end) => (start, end),
        Answer::Unsatisfiable => {
            let range = format!("Content-Range: bytes */{}\r\n", plan.size);
            return text(out, 416, "range not satisfiable", &range);
        }
    };
    let cut = plan.cut.filter(|&(at, _)| at > start && at < end);
    write_head(out, &plan, &answer, (start, end))?;
    let mut body = Body {
        seed: plan.seed,
        position: start,
        end: cut.map_or(end, |(at, _)| at),
        rate: plan.rate,
        stall_at: plan.stall_after.map(|n| start + n),
        started: Instant::now(),
        sent: 0,
        stopping: &shared.stopping,
        peer: Some(std::os::fd::AsRawFd::as_raw_fd(out.socket())),
    };
    let chunked = plan.framing == Framing::Chunked;
    send_body(&mut body, out, chunked, &shared.body_bytes)?;
    if chunked && cut.is_none() {
        out.write_all(b"0\r\n\r\n")?;
    }
    out.flush()?;
    Ok(match cut {
        Some((_, Cut::Reset)) => After::Reset,
        Some((_, Cut::Close)) => After::Close,
        None if plan.framing == Framing::UntilClose => After::Close,
        None => After::KeepOpen,
    })
}

fn answer(head: &RequestHead, plan: &Plan) -> Answer {
    let Some((first, end)) = requested_range(head, plan.size) else {
        return Answer::Whole;
    };
    if plan.ranges == Ranges::Ignore || !if_range_holds(head, plan) {
        return Answer::Whole;
    }
    if plan.ranges == Ranges::FromZero {
        return Answer::Part(0, plan.size);
    }
    if first >= plan.size {
        return Answer::Unsatisfiable;
    }
    Answer::Part(first, end)
}

/// `If-Modified-Since` at or after the file's `Last-Modified` (if it has one).
fn not_modified(head: &RequestHead, plan: &Plan) -> bool {
    let Some(("Last-Modified", modified)) = &plan.validator else {
        return false;
    };
    let since = head
        .header("If-Modified-Since")
        .map(httpdate::parse_http_date);
    match (since, httpdate::parse_http_date(modified)) {
        (Some(Ok(since)), Ok(modified)) => since >= modified,
        _ => false,
    }
}

fn set_send_buffer(stream: &TcpStream, bytes: usize) {
    use std::os::fd::AsRawFd;
    let size = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: a valid socket descriptor and a correctly sized int value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// `If-Range` holds only when it names exactly the file's validator.
fn if_range_holds(head: &RequestHead, plan: &Plan) -> bool {
    match head.header("If-Range") {
        None => true,
        Some(given) => plan.validator.as_ref().is_some_and(|(_, v)| v == given),
    }
}

fn write_head(
    out: &mut impl Write,
    plan: &Plan,
    answer: &Answer,
    (start, end): (u64, u64),
) -> io::Result<()> {
    let mut headers =
        String::from("Content-Type: application/octet-stream\r\nAccept-Ranges: bytes\r\n");
    if let Some((name, value)) = &plan.validator {
        headers.push_str(&format!("{name}: {value}\r\n"));
    }
    headers.push_str(&plan.headers);
    let status = match answer {
        Answer::Part(..) => {
            headers.push_str(&format!(
                "Content-Range: bytes {start}-{}/{}\r\n",
                end - 1,
                plan.size
            ));
            206
        }
        _ => 200,
    };
    match plan.framing {
        // No length: the end of the body is the end of the connection.
        Framing::UntilClose => headers.push_str("Connection: close\r\n"),
        Framing::Chunked => headers.push_str("Transfer-Encoding: chunked\r\n"),
        Framing::ContentLength => {
            headers.push_str(&format!("Content-Length: {}\r\n", end - start));
        }
    }
    write!(out, "HTTP/1.1 {status} {}\r\n{headers}\r\n", reason(status))
}

/// Sends the body, each piece framed as a chunk when `chunked` (the final,
/// empty chunk is the caller's: a cut body must not have it).
fn send_body(
    body: &mut Body,
    out: &mut impl Write,
    chunked: bool,
    sent: &AtomicU64,
) -> io::Result<()> {
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
        sent.fetch_add(n as u64, Ordering::Relaxed);
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
        304 => "Not Modified",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn text(out: &mut impl Write, status: u16, body: &str, extra_headers: &str) -> io::Result<After> {
    write!(
        out,
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{extra_headers}\r\n{body}",
        reason(status),
        body.len()
    )?;
    out.flush()?;
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use crate::tests::{get, get_bytes};
    use crate::{Server, body, etag};

    #[test]
    fn a_file_has_its_length_etag_and_generated_bytes() {
        let server = Server::start().unwrap();
        let response = get(&server, "/f.bin?size=300", "");
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.contains("Content-Length: 300\r\n"), "{response}");
        assert!(response.contains("Accept-Ranges: bytes\r\n"), "{response}");
        let tag = etag("/f.bin", "", 300);
        assert!(response.contains(&format!("ETag: {tag}\r\n")), "{response}");
        let raw = get_bytes(&server, "/f.bin?size=300", "");
        let start = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert!(raw[start..] == body("/f.bin", 300)[..]);
    }

    #[test]
    fn ranges_get_206_or_416_and_a_stale_if_range_gets_the_whole_file() {
        let server = Server::start().unwrap();
        let tag = etag("/r.bin", "", 100);
        let part = get(&server, "/r.bin?size=100", "Range: bytes=10-19\r\n");
        assert!(
            part.starts_with("HTTP/1.1 206 Partial Content\r\n"),
            "{part}"
        );
        assert!(
            part.contains("Content-Range: bytes 10-19/100\r\n"),
            "{part}"
        );
        assert!(part.contains("Content-Length: 10\r\n"), "{part}");
        let open = get(
            &server,
            "/r.bin?size=100",
            &format!("Range: bytes=90-\r\nIf-Range: {tag}\r\n"),
        );
        assert!(
            open.contains("Content-Range: bytes 90-99/100\r\n"),
            "{open}"
        );
        let past = get(&server, "/r.bin?size=100", "Range: bytes=100-\r\n");
        assert!(past.starts_with("HTTP/1.1 416 "), "{past}");
        assert!(past.contains("Content-Range: bytes */100\r\n"), "{past}");
        let stale = get(
            &server,
            "/r.bin?size=100",
            "Range: bytes=10-\r\nIf-Range: \"other\"\r\n",
        );
        assert!(stale.starts_with("HTTP/1.1 200 OK\r\n"), "{stale}");
        assert!(stale.contains("Content-Length: 100\r\n"), "{stale}");
    }

    #[test]
    fn requests_share_a_kept_alive_connection() {
        let server = Server::start().unwrap();
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        write!(
            stream,
            "GET /k1?size=5 HTTP/1.1\r\nHost: x\r\n\r\nGET /k2?size=7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let response = String::from_utf8_lossy(&raw);
        assert_eq!(response.matches("HTTP/1.1 200 OK").count(), 2, "{response}");
        assert_eq!((server.requests(), server.connections()), (2, 1));
    }

    #[test]
    fn a_tls_handshake_gets_a_plain_400_and_no_request_is_counted() {
        let server = Server::start().unwrap();
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05]).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(
            response.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{response}"
        );
        assert_eq!(server.requests(), 0);
    }
}
