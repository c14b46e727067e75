//! Connections through proxies. The run's `Proxies` decide, per target URL,
//! whether a connection goes direct or through a proxy, and the same answer
//! is given twice: to ureq's name lookup (a proxy that resolves names itself
//! must get the name, and the target is not looked up here), and to the
//! connector, which opens the way through:
//!
//! - http:// through an HTTP(S) proxy: a connection to the proxy on which
//!   every request is sent in absolute-form (`GET http://host/path`), as
//!   squid and every caching proxy expect; see `AbsoluteForm`.
//! - https:// through an HTTP(S) proxy: a `CONNECT host:port` tunnel, in
//!   which ureq then speaks TLS to the target.
//! - SOCKS5 and SOCKS5h: ureq's own SOCKS connector.
//!
//! A proxy that fails fails the request with a `ProxyError` naming it: there
//! is no fallback to a direct connection.

use std::fmt;
use std::io::Write;
use std::sync::Arc;

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, NextTimeout, SocksConnector, TcpConnector, Transport,
    TransportAdapter,
};
use ureq::{Error, Proxy, ProxyProtocol};

use crate::config::proxies::{Proxies, ProxyKind, ProxyUrl};
use crate::engine::tls::{Tls, copy};

/// The longest answer to a CONNECT read before giving up on it.
const MAX_CONNECT_ANSWER: usize = 16 * 1024;

/// A proxy that could not be used, and why.
#[derive(Debug, thiserror::Error)]
#[error("proxy {proxy}: {cause}")]
pub struct ProxyError {
    /// The proxy as messages show it (no password).
    pub proxy: String,
    #[source]
    pub cause: Error,
}

impl ProxyError {
    /// The `ProxyError` inside a ureq error, if it is one.
    pub fn inside(error: &Error) -> Option<&ProxyError> {
        match error {
            Error::Other(e) => e.downcast_ref(),
            _ => None,
        }
    }
}

/// One configured proxy and what reaching it takes. Both are made once;
/// `None` (which the checks of `config::proxies` leave no way to reach)
/// fails every connection through this proxy rather than going direct.
struct Route {
    proxy: ProxyUrl,
    /// `http://` or `https://` and the proxy's address: what a TCP (and TLS)
    /// connection to the proxy itself is made for.
    uri: Option<Uri>,
    /// For SOCKS: a copy of the agent's config that names the proxy, which
    /// is what ureq's SOCKS connector reads.
    socks: Option<Config>,
}

/// Which way each connection goes; shared by the connector and the resolver.
pub struct Routes {
    proxies: Proxies,
    routes: Vec<Route>,
}

impl fmt::Debug for Routes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self.routes.iter().map(|r| r.proxy.shown()).collect();
        write!(f, "Routes({shown:?})")
    }
}

impl Routes {
    /// `config` builds a copy of the agent's config naming a SOCKS proxy.
    pub fn new(proxies: &Proxies, config: impl Fn(Proxy) -> Config) -> Routes {
        let routes = proxies
            .all()
            .map(|proxy| {
                let scheme = if proxy.kind == ProxyKind::Https {
                    "https"
                } else {
                    "http"
                };
                let socks = matches!(proxy.kind, ProxyKind::Socks5 | ProxyKind::Socks5h);
                Route {
                    proxy: proxy.clone(),
                    uri: format!("{scheme}://{}", proxy.authority()).parse().ok(),
                    socks: socks.then(|| ureq_proxy(proxy).ok().map(&config)).flatten(),
                }
            })
            .collect();
        Routes {
            proxies: proxies.clone(),
            routes,
        }
    }

    /// The proxy a connection to `uri` goes through, if any.
    fn route(&self, uri: &Uri) -> Option<&Route> {
        let proxy = self.proxies.for_url(uri.scheme_str()?, uri.host()?)?;
        self.routes.iter().find(|route| route.proxy == *proxy)
    }
}

/// ureq's proxy for its SOCKS connector: credentials already decoded.
fn ureq_proxy(proxy: &ProxyUrl) -> Result<Proxy, Error> {
    let protocol = match proxy.kind {
        ProxyKind::Socks5 => ProxyProtocol::Socks5,
        _ => ProxyProtocol::Socks5h,
    };
    let mut builder = Proxy::builder(protocol)
        .host(&proxy.host)
        .port(proxy.port)
        .resolve_target(proxy.kind.resolves_here());
    if let Some(credentials) = &proxy.credentials {
        builder = builder
            .username(&credentials.user)
            .password(&credentials.password);
    }
    builder.build()
}

/// Name lookup that leaves a proxied target's name to the proxy (except for
/// `socks5://`, which is given an address).
#[derive(Debug)]
pub struct Resolving {
    routes: Arc<Routes>,
    inner: DefaultResolver,
}

impl Resolving {
    pub fn new(routes: Arc<Routes>) -> Resolving {
        Resolving {
            routes,
            inner: DefaultResolver::default(),
        }
    }
}

impl Resolver for Resolving {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, Error> {
        match self.routes.route(uri) {
            Some(route) if !route.proxy.kind.resolves_here() => Ok(self.empty()),
            _ => self.inner.resolve(uri, config, timeout),
        }
    }
}

/// The first link of the agent's connector chain: for a proxied target, the
/// whole way through the proxy; for any other, nothing (ureq's TCP connector
/// after it then connects directly). ureq's TLS connector, last in the
/// chain, adds TLS to an https target either way.
#[derive(Debug)]
pub struct Routed {
    routes: Arc<Routes>,
    resolver: DefaultResolver,
    tcp: TcpConnector,
    tls: Tls,
    socks: SocksConnector,
}

impl Routed {
    pub fn new(routes: Arc<Routes>, tls: Tls) -> Routed {
        Routed {
            routes,
            resolver: DefaultResolver::default(),
            tcp: TcpConnector::default(),
            tls,
            socks: SocksConnector::default(),
        }
    }

    fn through(
        &self,
        route: &Route,
        details: &ConnectionDetails,
    ) -> Result<Box<dyn Transport>, Error> {
        if matches!(route.proxy.kind, ProxyKind::Socks5 | ProxyKind::Socks5h) {
            let config = route.socks.as_ref().ok_or(Error::InvalidProxyUrl)?;
            let details = ConnectionDetails {
                config,
                resolver: &self.resolver,
                ..copy(details)
            };
            return self
                .socks
                .connect(&details, None::<()>)?
                .map(|t| t.boxed())
                .ok_or(Error::ConnectionFailed);
        }
        let to_proxy = self.to_proxy(route, details)?;
        if details.needs_tls() {
            tunnel(to_proxy, &route.proxy, details)
        } else {
            Ok(AbsoluteForm::new(to_proxy, &route.proxy, details.uri)?.boxed())
        }
    }

    /// A connection to the proxy itself: TCP, and TLS for an https:// proxy.
    fn to_proxy(
        &self,
        route: &Route,
        details: &ConnectionDetails,
    ) -> Result<Box<dyn Transport>, Error> {
        let uri = route.uri.as_ref().ok_or(Error::InvalidProxyUrl)?;
        let addrs = self
            .resolver
            .resolve(uri, details.config, details.timeout)?;
        let proxy = ConnectionDetails {
            uri,
            addrs,
            ..copy(details)
        };
        let tcp = self
            .tcp
            .connect(&proxy, None::<()>)?
            .ok_or(Error::ConnectionFailed)?;
        let tls = self
            .tls
            .connect(&proxy, Some(tcp))?
            .ok_or(Error::ConnectionFailed)?;
        Ok(tls.boxed())
    }
}

impl Connector<()> for Routed {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<Self::Out>, Error> {
        let Some(route) = self.routes.route(details.uri) else {
            return Ok(None);
        };
        self.through(route, details).map(Some).map_err(|cause| {
            Error::Other(Box::new(ProxyError {
                proxy: route.proxy.shown(),
                cause,
            }))
        })
    }
}

/// `Proxy-Authorization: Basic ...` for a proxy with credentials.
fn proxy_authorization(proxy: &ProxyUrl) -> Option<String> {
    let credentials = proxy.credentials.as_ref()?;
    let token = BASE64_STANDARD.encode(format!("{}:{}", credentials.user, credentials.password));
    Some(format!("Proxy-Authorization: Basic {token}\r\n"))
}

/// `host:port` of a target, the port always written.
fn host_port(uri: &Uri) -> Result<String, Error> {
    let host = uri.host().ok_or_else(|| Error::BadUri(uri.to_string()))?;
    let default = if uri.scheme_str() == Some("https") {
        443
    } else {
        80
    };
    Ok(format!("{host}:{}", uri.port_u16().unwrap_or(default)))
}

/// Asks an HTTP proxy for a tunnel to the target and reads its answer; any
/// status but 2xx is a refusal.
fn tunnel(
    to_proxy: Box<dyn Transport>,
    proxy: &ProxyUrl,
    details: &ConnectionDetails,
) -> Result<Box<dyn Transport>, Error> {
    let target = host_port(details.uri)?;
    let auth = proxy_authorization(proxy).unwrap_or_default();
    let mut wire = TransportAdapter::new(to_proxy, details.current_time.clone());
    wire.set_timeout(details.timeout);
    write!(
        wire,
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{auth}\r\n"
    )?;
    wire.flush()?;
    let mut transport = wire.into_inner();
    let head = loop {
        let input = transport.buffers().input();
        if let Some(end) = input.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&input[..end]).into_owned();
            transport.buffers().input_consume(end + 4);
            break head;
        }
        if input.len() > MAX_CONNECT_ANSWER {
            return Err(Error::ConnectProxyFailed(
                "the answer to CONNECT is too long".into(),
            ));
        }
        transport.buffers().input_consume(0);
        if !transport.await_input(details.timeout)? {
            return Err(Error::ConnectProxyFailed(
                "the proxy closed the connection instead of answering CONNECT".into(),
            ));
        }
    };
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line.split_whitespace().nth(1).unwrap_or_default();
    if !status.starts_with('2') || status.len() != 3 {
        return Err(Error::ConnectProxyFailed(format!(
            "CONNECT {target} was answered `{status_line}`"
        )));
    }
    Ok(Tunnel(transport).boxed())
}

/// A CONNECT tunnel: whatever TLS it runs over is to the proxy, so the
/// target still needs its own (ureq's TLS connector asks `is_tls`).
#[derive(Debug)]
struct Tunnel(Box<dyn Transport>);

impl Transport for Tunnel {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        self.0.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        self.0.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }

    fn is_tls(&self) -> bool {
        false
    }
}

/// A connection to an HTTP proxy for one http:// origin, on which each
/// request goes out in absolute-form. ureq writes requests in origin-form
/// (`GET /path HTTP/1.1`) and offers no other; so the first write of each
/// request is rewritten in ureq's own output buffer, in place, before it is
/// sent: the origin goes in front of the path, and `Proxy-Authorization`
/// after the request line. A request's head is written whole before its
/// response is read (tget sends only GETs, without bodies), so the first
/// write after any read is the start of the next request.
#[derive(Debug)]
struct AbsoluteForm {
    inner: Box<dyn Transport>,
    /// `http://host:port`, the request-target's prefix.
    origin: String,
    /// The `Proxy-Authorization` line, or empty.
    auth: String,
    at_head: bool,
}

impl AbsoluteForm {
    fn new(
        inner: Box<dyn Transport>,
        proxy: &ProxyUrl,
        target: &Uri,
    ) -> Result<AbsoluteForm, Error> {
        Ok(AbsoluteForm {
            inner,
            origin: format!("http://{}", host_port(target)?),
            auth: proxy_authorization(proxy).unwrap_or_default(),
            at_head: true,
        })
    }

    /// Rewrites the request head in the first `amount` bytes of the output
    /// buffer; returns its new length.
    fn rewrite(&mut self, amount: usize) -> Result<usize, Error> {
        let (origin, auth) = (self.origin.as_bytes(), self.auth.as_bytes());
        let grown = amount + origin.len() + auth.len();
        let out = self.inner.buffers().output();
        let head = &out[..amount];
        let target = head.iter().position(|&b| b == b' ').map(|at| at + 1);
        let line_end = head.windows(2).position(|w| w == b"\r\n").map(|at| at + 2);
        let (Some(target), Some(line_end)) = (target, line_end) else {
            return Err(Error::ConnectionFailed);
        };
        if grown > out.len() || out.get(target) != Some(&b'/') || target >= line_end {
            return Err(Error::Other(
                "a request head tget cannot send to a proxy".into(),
            ));
        }
        out.copy_within(line_end..amount, line_end + origin.len() + auth.len());
        out.copy_within(target..line_end, target + origin.len());
        out[target..target + origin.len()].copy_from_slice(origin);
        let auth_at = line_end + origin.len();
        out[auth_at..auth_at + auth.len()].copy_from_slice(auth);
        Ok(grown)
    }
}

impl Transport for AbsoluteForm {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        let amount = if std::mem::take(&mut self.at_head) {
            self.rewrite(amount)?
        } else {
            amount
        };
        self.inner.transmit_output(amount, timeout)
    }

    fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        self.at_head = true;
        self.inner.maybe_await_input(timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        self.at_head = true;
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}
