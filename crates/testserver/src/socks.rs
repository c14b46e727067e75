//! A SOCKS5 proxy for the tests (RFC 1928, with RFC 1929 user and
//! password): CONNECT to an IPv4 or IPv6 address, or to a domain name that
//! the proxy resolves itself (what `socks5h://` asks for). Every request's
//! target, as the client sent it, is recorded. Only on 127.0.0.1, and only
//! with the `proxies` feature.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};

use crate::relay::{self, Listener, Shared};

/// Where a client asked the proxy to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocksTarget {
    /// An address: the client resolved the name (`socks5://`).
    Address(SocketAddr),
    /// A name the proxy resolved (`socks5h://`).
    Domain(String, u16),
}

/// One CONNECT the proxy was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocksRequest {
    pub target: SocksTarget,
    /// The user and password the client gave, if it chose that method.
    pub credentials: Option<(String, String)>,
}

/// The proxy; dropping it ends every connection through it.
pub struct Socks5(Listener<SocksRequest>);

impl Socks5 {
    pub fn start() -> io::Result<Socks5> {
        Listener::start("tget-socks", serve).map(Socks5)
    }

    pub fn addr(&self) -> SocketAddr {
        self.0.addr()
    }

    /// `socks5://127.0.0.1:PORT`, or `socks5h://` with `remote_dns`.
    pub fn url(&self, remote_dns: bool) -> String {
        let scheme = if remote_dns { "socks5h" } else { "socks5" };
        format!("{scheme}://{}", self.addr())
    }

    /// Every CONNECT asked for so far, in order.
    pub fn requests(&self) -> Vec<SocksRequest> {
        self.0.records()
    }
}

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0;
const USER_PASSWORD: u8 = 2;

fn serve(mut client: TcpStream, shared: &Shared<SocksRequest>) -> io::Result<()> {
    let credentials = greet(&mut client)?;
    let [version, command, _reserved, kind] = read_array::<4>(&mut client)?;
    if version != VERSION || command != 1 {
        return reply(&mut client, 7);
    }
    let target = read_target(&mut client, kind)?;
    shared.record(SocksRequest {
        target: target.clone(),
        credentials,
    });
    let address = match &target {
        SocksTarget::Address(address) => Some(*address),
        SocksTarget::Domain(name, port) => (name.as_str(), *port)
            .to_socket_addrs()?
            .min_by_key(|a| !a.is_ipv4()),
    };
    let Some(server) = address.and_then(|a| relay::connect(&a.to_string(), shared).ok()) else {
        return reply(&mut client, 5);
    };
    reply(&mut client, 0)?;
    relay::pipe(client, server)
}

/// The method choice: user and password when offered (and then read), else
/// none. Returns the credentials given.
fn greet(client: &mut TcpStream) -> io::Result<Option<(String, String)>> {
    let [version, count] = read_array::<2>(client)?;
    let mut methods = vec![0; usize::from(count)];
    client.read_exact(&mut methods)?;
    if version != VERSION {
        return Err(io::Error::other("not SOCKS5"));
    }
    if !methods.contains(&USER_PASSWORD) {
        client.write_all(&[VERSION, NO_AUTH])?;
        return Ok(None);
    }
    client.write_all(&[VERSION, USER_PASSWORD])?;
    let [_subversion, length] = read_array::<2>(client)?;
    let user = read_text(client, length)?;
    let [length] = read_array::<1>(client)?;
    let password = read_text(client, length)?;
    client.write_all(&[1, 0])?;
    Ok(Some((user, password)))
}

fn read_target(client: &mut TcpStream, kind: u8) -> io::Result<SocksTarget> {
    let ip = match kind {
        1 => IpAddr::V4(Ipv4Addr::from(read_array::<4>(client)?)),
        4 => IpAddr::V6(Ipv6Addr::from(read_array::<16>(client)?)),
        3 => {
            let [length] = read_array::<1>(client)?;
            let name = read_text(client, length)?;
            return Ok(SocksTarget::Domain(name, port(client)?));
        }
        _ => return Err(io::Error::other("unknown address type")),
    };
    Ok(SocksTarget::Address(SocketAddr::new(ip, port(client)?)))
}

fn port(client: &mut TcpStream) -> io::Result<u16> {
    Ok(u16::from_be_bytes(read_array::<2>(client)?))
}

/// A reply with status `status` and a zero IPv4 address.
fn reply(client: &mut TcpStream, status: u8) -> io::Result<()> {
    client.write_all(&[VERSION, status, 0, 1, 0, 0, 0, 0, 0, 0])
}

fn read_array<const N: usize>(client: &mut TcpStream) -> io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    client.read_exact(&mut bytes)?;
    Ok(bytes)
}

fn read_text(client: &mut TcpStream, length: u8) -> io::Result<String> {
    let mut bytes = vec![0; usize::from(length)];
    client.read_exact(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
