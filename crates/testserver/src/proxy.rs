//! A forward HTTP proxy for the tests, as squid is to its clients: an
//! absolute-form request (`GET http://host:port/path`) is forwarded to that
//! origin in origin-form, and `CONNECT host:port` opens a tunnel. Every
//! request line and its headers are recorded. Only on 127.0.0.1, and only
//! with the `proxies` feature.
//!
//! Each absolute-form request is forwarded on a connection of its own and
//! answered with `Connection: close`, which keeps the proxy small.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};

use crate::Headers;
use crate::relay::{self, Listener, Shared};

/// A request or response head read from any stream (a TLS one, say).
pub use crate::relay::read_head;

/// One request as the proxy received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRequest {
    /// `GET`, `CONNECT`, ...
    pub method: String,
    /// The request-target as sent: `http://127.0.0.1:8/x` or `127.0.0.1:8`.
    pub target: String,
    pub headers: Headers,
}

impl ProxyRequest {
    /// One header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The proxy; dropping it ends every connection through it.
pub struct HttpProxy(Listener<ProxyRequest>);

impl HttpProxy {
    pub fn start() -> io::Result<HttpProxy> {
        Listener::start("tget-proxy", serve).map(HttpProxy)
    }

    pub fn addr(&self) -> SocketAddr {
        self.0.addr()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<ProxyRequest> {
        self.0.records()
    }
}

fn serve(mut client: TcpStream, shared: &Shared<ProxyRequest>) -> io::Result<()> {
    let Some(head) = relay::read_head(&mut client)? else {
        return Ok(());
    };
    let request = parse(&head);
    shared.record(request.clone());
    if request.method == "CONNECT" {
        return tunnel(client, &request.target, shared);
    }
    match request.target.strip_prefix("http://") {
        Some(rest) => forward(client, rest, &request, shared),
        None => answer(&mut client, "400 Bad Request"),
    }
}

fn parse(head: &str) -> ProxyRequest {
    let mut lines = head.lines();
    let mut words = lines.next().unwrap_or_default().split_whitespace();
    let method = words.next().unwrap_or_default().to_string();
    let target = words.next().unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    ProxyRequest {
        method,
        target,
        headers,
    }
}

fn answer(client: &mut TcpStream, status: &str) -> io::Result<()> {
    write!(
        client,
        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

fn tunnel(mut client: TcpStream, target: &str, shared: &Shared<ProxyRequest>) -> io::Result<()> {
    let Ok(server) = relay::connect(target, shared) else {
        return answer(&mut client, "502 Bad Gateway");
    };
    client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    relay::pipe(client, server)
}

/// Sends the request on to the origin in origin-form, without the proxy's
/// own headers, and relays the answer with `Connection: close`.
fn forward(
    mut client: TcpStream,
    rest: &str,
    request: &ProxyRequest,
    shared: &Shared<ProxyRequest>,
) -> io::Result<()> {
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let Ok(mut server) = relay::connect(&authority, shared) else {
        return answer(&mut client, "502 Bad Gateway");
    };
    let path = if path.is_empty() { "/" } else { path };
    let mut head = format!("{} {path} HTTP/1.1\r\n", request.method);
    for (name, value) in &request.headers {
        let hop_by_hop = ["proxy-authorization", "proxy-connection", "connection"];
        if !hop_by_hop.contains(&name.to_ascii_lowercase().as_str()) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    server.write_all(head.as_bytes())?;
    let Some(answer_head) = relay::read_head(&mut server)? else {
        return answer(&mut client, "502 Bad Gateway");
    };
    let answer_head = answer_head.trim_end_matches("\r\n");
    write!(client, "{answer_head}\r\nConnection: close\r\n\r\n")?;
    relay::copy_all(&mut server, &mut client)?;
    let _ = client.shutdown(std::net::Shutdown::Both);
    Ok(())
}
