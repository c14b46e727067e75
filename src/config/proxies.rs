//! Which proxy a URL goes through, by curl's rules: `--proxy` for every URL,
//! else the environment (`http_proxy` for http, `https_proxy` or
//! `HTTPS_PROXY` for https, `all_proxy` or `ALL_PROXY` for both), and the
//! hosts that go direct (`--noproxy`, else `no_proxy` or `NO_PROXY`).
//!
//! Upper-case `HTTP_PROXY` is never read: a CGI program gets a request's
//! `Proxy:` header as `HTTP_PROXY` (the "httpoxy" hole), so curl ignores it.

use std::net::IpAddr;

use url::Url;

use crate::userinfo::{self, Credentials};

/// What the proxy at the other end speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// HTTP: absolute-form requests for http URLs, CONNECT for https.
    Http,
    /// HTTP over TLS to the proxy.
    Https,
    /// SOCKS5, the target's name resolved here.
    Socks5,
    /// SOCKS5, the target's name resolved by the proxy.
    Socks5h,
}

impl ProxyKind {
    fn from_scheme(scheme: &str) -> Option<ProxyKind> {
        match scheme {
            "http" => Some(ProxyKind::Http),
            "https" => Some(ProxyKind::Https),
            "socks5" => Some(ProxyKind::Socks5),
            "socks5h" => Some(ProxyKind::Socks5h),
            _ => None,
        }
    }

    pub fn scheme(self) -> &'static str {
        match self {
            ProxyKind::Http => "http",
            ProxyKind::Https => "https",
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Socks5h => "socks5h",
        }
    }

    /// curl's defaults: 443 for an HTTPS proxy, 1080 for every other.
    fn default_port(self) -> u16 {
        match self {
            ProxyKind::Https => 443,
            _ => 1080,
        }
    }

    /// Whether the target's host name is looked up here (not by the proxy).
    pub fn resolves_here(self) -> bool {
        self == ProxyKind::Socks5
    }
}

/// A proxy, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    pub kind: ProxyKind,
    /// Without brackets for IPv6.
    pub host: String,
    pub port: u16,
    /// Percent-decoded, for `Proxy-Authorization` or SOCKS.
    pub credentials: Option<Credentials>,
}

impl ProxyUrl {
    /// `[scheme://][user:pass@]host[:port][/]`; without a scheme, http.
    pub fn parse(text: &str) -> Result<ProxyUrl, String> {
        let shown = userinfo::redact(text);
        let bad = |why: &str| format!("proxy `{shown}`: {why}");
        let full = if text.contains("://") {
            text.to_string()
        } else {
            format!("http://{text}")
        };
        let url = Url::parse(&full).map_err(|e| bad(&e.to_string()))?;
        let kind = ProxyKind::from_scheme(url.scheme()).ok_or_else(|| {
            bad(&format!(
                "unsupported scheme `{}` (http, https, socks5 or socks5h)",
                url.scheme()
            ))
        })?;
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(host) => host.to_string(),
            None => return Err(bad("no host")),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() {
            return Err(bad("a proxy URL has no path or query"));
        }
        let credentials = userinfo::decode(&url).map_err(|e| bad(&e))?;
        Ok(ProxyUrl {
            kind,
            port: url.port().unwrap_or(kind.default_port()),
            host,
            credentials,
        })
    }

    /// `host:port`, IPv6 in brackets, as a URL or CONNECT names it.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The proxy as messages show it: never its password.
    pub fn shown(&self) -> String {
        let user = match &self.credentials {
            Some(credentials) => format!("{}:{}@", credentials.user, userinfo::HIDDEN),
            None => String::new(),
        };
        format!("{}://{user}{}", self.kind.scheme(), self.authority())
    }
}

/// The hosts that never go through a proxy, as curl reads `no_proxy`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    /// `*`: no host uses a proxy.
    all: bool,
    names: Vec<String>,
    networks: Vec<(IpAddr, u8)>,
}

impl NoProxy {
    /// A comma-separated list; blanks around entries are ignored. An entry is
    /// a host name (matching itself and every name under it, a leading dot
    /// allowed), an IP address (IPv6 with or without brackets) with an
    /// optional `/bits` prefix length, or the whole list is `*`.
    pub fn parse(list: &str) -> NoProxy {
        let mut no_proxy = NoProxy {
            all: list.trim() == "*",
            ..NoProxy::default()
        };
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            // curl ends the list at an entry that holds a blank: "a b" is "a".
            let (entry, rest) = entry
                .split_once(char::is_whitespace)
                .map_or((entry, false), |(first, _)| (first, true));
            no_proxy.add(entry);
            if rest {
                break;
            }
        }
        no_proxy
    }

    fn add(&mut self, entry: &str) {
        let (address, bits) = match entry.split_once('/') {
            Some((address, bits)) => (address, bits.parse::<u8>().ok()),
            None => (entry, None),
        };
        let bare = address.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            let full = if ip.is_ipv4() { 32 } else { 128 };
            match bits {
                Some(bits) if bits <= full => self.networks.push((ip, bits)),
                // A prefix that cannot be (`/99`, `/x`) matches nothing, as in curl.
                Some(_) => {}
                None if entry.contains('/') => {}
                None => self.networks.push((ip, full)),
            }
            return;
        }
        let name = entry.trim_start_matches('.').trim_end_matches('.');
        if !name.is_empty() {
            self.names.push(name.to_ascii_lowercase());
        }
    }

    /// Whether `host` (a name, or an IP address, IPv6 with or without
    /// brackets) goes direct.
    pub fn matches(&self, host: &str) -> bool {
        if self.all {
            return true;
        }
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return self
                .networks
                .iter()
                .any(|&(net, bits)| within(ip, net, bits));
        }
        let name = bare.trim_end_matches('.').to_ascii_lowercase();
        self.names.iter().any(|entry| {
            name == *entry
                || name
                    .strip_suffix(entry.as_str())
                    .is_some_and(|head| head.ends_with('.'))
        })
    }
}

/// Whether `ip` is in `net/bits` (never across address families).
fn within(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (ip, net, width) = match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            (u128::from(ip.to_bits()), u128::from(net.to_bits()), 32)
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => (ip.to_bits(), net.to_bits(), 128),
        _ => return false,
    };
    let shift = width - u32::from(bits);
    shift >= width || (ip >> shift) == (net >> shift)
}

/// The proxies of a run, resolved once from the flags and the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    pub http: Option<ProxyUrl>,
    pub https: Option<ProxyUrl>,
    pub no_proxy: NoProxy,
}

impl Proxies {
    /// `--proxy` (empty: none, whatever the environment says) and
    /// `--noproxy` win over the environment, read through `env`.
    pub fn resolve(
        proxy: Option<&str>,
        noproxy: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Proxies, String> {
        let no_proxy = match noproxy {
            Some(list) => NoProxy::parse(list),
            None => NoProxy::parse(
                &first_set(env, &["no_proxy", "NO_PROXY"])
                    .unwrap_or_default()
                    .1,
            ),
        };
        let (http, https) = match proxy {
            Some(text) if text.trim().is_empty() => (None, None),
            Some(text) => {
                let proxy = ProxyUrl::parse(text).map_err(|e| format!("--proxy: {e}"))?;
                (Some(proxy.clone()), Some(proxy))
            }
            None => (
                from_env(env, &["http_proxy", "all_proxy", "ALL_PROXY"])?,
                from_env(
                    env,
                    &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"],
                )?,
            ),
        };
        Ok(Proxies {
            http,
            https,
            no_proxy,
        })
    }

    /// The proxy for a URL's scheme and host, if it uses one.
    pub fn for_url(&self, scheme: &str, host: &str) -> Option<&ProxyUrl> {
        let proxy = match scheme {
            "http" => self.http.as_ref(),
            "https" => self.https.as_ref(),
            _ => None,
        }?;
        (!self.no_proxy.matches(host)).then_some(proxy)
    }

    /// Every distinct proxy configured.
    pub fn all(&self) -> impl Iterator<Item = &ProxyUrl> {
        let https = self
            .https
            .as_ref()
            .filter(|p| Some(*p) != self.http.as_ref());
        self.http.iter().chain(https)
    }
}

/// The first of `names` that is set and not empty, with its name.
fn first_set(
    env: &dyn Fn(&str) -> Option<String>,
    names: &[&'static str],
) -> Option<(&'static str, String)> {
    names.iter().find_map(|name| {
        env(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (*name, v))
    })
}

/// The proxy in the first variable set; one that does not parse is an error
/// naming the variable, never a silent direct connection.
fn from_env(
    env: &dyn Fn(&str) -> Option<String>,
    names: &[&'static str],
) -> Result<Option<ProxyUrl>, String> {
    let Some((name, value)) = first_set(env, names) else {
        return Ok(None);
    };
    ProxyUrl::parse(value.trim())
        .map(Some)
        .map_err(|e| format!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn resolve(pairs: &[(&str, &str)]) -> Proxies {
        Proxies::resolve(None, None, &env(pairs)).unwrap()
    }

    #[test]
    fn proxy_urls_parse_with_curls_defaults() {
        let proxy = ProxyUrl::parse("proxy.corp").unwrap();
        assert_eq!((proxy.kind, proxy.port), (ProxyKind::Http, 1080));
        assert_eq!(ProxyUrl::parse("https://p").unwrap().port, 443);
        let socks = ProxyUrl::parse("socks5h://bob%40corp:p%40ss@[::1]:9050/").unwrap();
        assert_eq!(socks.kind, ProxyKind::Socks5h);
        assert_eq!((socks.host.as_str(), socks.port), ("::1", 9050));
        assert_eq!(
            socks.credentials,
            Some(Credentials::new("bob@corp", "p@ss"))
        );
        assert_eq!(socks.authority(), "[::1]:9050");
        assert_eq!(socks.shown(), "socks5h://bob@corp:***@[::1]:9050");
        for bad in ["ftp://p:21", "http://", "http://p/path", "socks4://p"] {
            let error = ProxyUrl::parse(bad).unwrap_err();
            assert!(error.starts_with("proxy `"), "{bad}: {error}");
        }
        let error = ProxyUrl::parse("ftp://u:secret@p").unwrap_err();
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn environment_by_curls_rules() {
        let p = |s: &str| Some(ProxyUrl::parse(s).unwrap());
        // https_proxy alone proxies only https.
        let only_https = resolve(&[("https_proxy", "http://s:1")]);
        assert_eq!((only_https.http, only_https.https), (None, p("http://s:1")));
        // Upper-case HTTP_PROXY is never read; HTTPS_PROXY is.
        let upper = resolve(&[("HTTP_PROXY", "http://h:1"), ("HTTPS_PROXY", "http://s:1")]);
        assert_eq!((upper.http, upper.https), (None, p("http://s:1")));
        // all_proxy covers both; the scheme's own variable wins.
        let all = resolve(&[("ALL_PROXY", "socks5://a:1"), ("http_proxy", "http://h:1")]);
        assert_eq!((all.http, all.https), (p("http://h:1"), p("socks5://a:1")));
        // Lower case first.
        let both = resolve(&[("https_proxy", "http://l:1"), ("HTTPS_PROXY", "http://u:1")]);
        assert_eq!(both.https, p("http://l:1"));
        // An empty variable is not set.
        assert_eq!(resolve(&[("http_proxy", " ")]).http, None);
    }

    #[test]
    fn flags_win_over_the_environment() {
        let vars = env(&[("http_proxy", "http://h:1"), ("no_proxy", "*")]);
        let flag = Proxies::resolve(Some("socks5://f:2"), Some(""), &vars).unwrap();
        assert_eq!(flag.for_url("http", "x").unwrap().host, "f");
        assert_eq!(flag.for_url("https", "x").unwrap().host, "f");
        let none = Proxies::resolve(Some(""), None, &vars).unwrap();
        assert_eq!(none.all().count(), 0);
        let error = Proxies::resolve(None, None, &env(&[("http_proxy", "ftp://x")])).unwrap_err();
        assert!(error.starts_with("http_proxy: proxy `ftp://x`"), "{error}");
    }

    #[test]
    fn no_proxy_entries() {
        let list =
            NoProxy::parse(" localhost, 127.0.0.1 ,::1, .corp.example,10.0.0.0/8, [fd00::]/16,");
        for direct in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "::1",
            "[::1]",
            "corp.example",
            "a.b.corp.example",
            "a.corp.example.",
            "10.200.3.4",
            "[fd00:1::5]",
        ] {
            assert!(list.matches(direct), "{direct}");
        }
        for proxied in [
            "notlocalhost",
            "127.0.0.2",
            "::2",
            "evilcorp.example",
            "11.0.0.1",
            "fe00::1",
            "example",
        ] {
            assert!(!list.matches(proxied), "{proxied}");
        }
        assert!(NoProxy::parse("[::1]").matches("::1"));
        assert!(NoProxy::parse("*").matches("anything"));
        assert!(!NoProxy::parse("*.corp").matches("a.b"));
        assert!(!NoProxy::parse("").matches("a"));
        // curl stops at an entry with a blank inside.
        let spaced = NoProxy::parse("a b, c");
        assert!(spaced.matches("a") && !spaced.matches("b") && !spaced.matches("c"));
        // A bad prefix length matches nothing, not everything.
        assert!(!NoProxy::parse("10.0.0.0/99").matches("10.0.0.1"));
        assert!(NoProxy::parse("0.0.0.0/0").matches("8.8.8.8"));
        assert!(!NoProxy::parse("0.0.0.0/0").matches("::1"));
    }

    proptest! {
        #[test]
        fn any_list_parses_and_a_listed_name_matches_itself_and_below(
            list in "[ -~]{0,60}",
            name in "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}",
            sub in "[a-z]{1,8}",
        ) {
            let _ = NoProxy::parse(&list).matches(&name);
            let with = NoProxy::parse(&format!("x.invalid, {name} ,z.invalid"));
            prop_assert!(with.matches(&name));
            let below = format!("{sub}.{name}");
            prop_assert!(with.matches(&below));
            let glued = format!("{sub}{name}");
            prop_assert!(!with.matches(&glued));
        }

        #[test]
        fn a_network_holds_exactly_its_prefix(a in any::<u32>(), b in any::<u32>(), bits in 0u8..=32) {
            let (ip, net) = (std::net::Ipv4Addr::from_bits(a), std::net::Ipv4Addr::from_bits(b));
            let expected = bits == 0 || (a >> (32 - u32::from(bits))) == (b >> (32 - u32::from(bits)));
            prop_assert_eq!(NoProxy::parse(&format!("{net}/{bits}")).matches(&ip.to_string()), expected);
        }
    }
}
