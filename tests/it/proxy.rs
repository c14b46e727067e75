//! Proxies, against the test proxies: http URLs in absolute-form and https
//! as CONNECT through an HTTP proxy, SOCKS5 with local and remote names,
//! the environment read by curl's rules, `no_proxy`, and a proxy that is
//! down never turning into a direct connection.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use predicates::prelude::*;

use crate::support::*;

/// An `https://` proxy in front of `inner`: ends TLS for one connection and
/// hands its one request to the plain proxy, whose answer ends the
/// connection (it answers `Connection: close`).
fn tls_front(identity: &testserver::tls::Identity, inner: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = identity.server_config().unwrap();
    thread::spawn(move || {
        let Some(tcp) = accept_within(&listener, Duration::from_secs(10)) else {
            return;
        };
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
        let connection = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::StreamOwned::new(connection, tcp);
        let Ok(Some(head)) = testserver::proxy::read_head(&mut tls) else {
            return;
        };
        let Ok(mut upstream) = TcpStream::connect(inner) else {
            return;
        };
        let _ = upstream.write_all(head.as_bytes());
        let _ = std::io::copy(&mut upstream, &mut tls);
        tls.conn.send_close_notify();
        let _ = tls.flush();
    });
    addr
}

#[test]
fn an_http_url_goes_through_an_http_proxy_in_absolute_form() {
    let origin = Server::recording().unwrap();
    let proxy = HttpProxy::start().unwrap();
    let dir = tempdir();
    let url = origin.url("/p/a.bin?size=3000");
    tget(dir.path())
        .args([
            "--proxy",
            &proxy.url(),
            &url,
            &origin.url("/p/b.bin?size=5"),
        ])
        .assert()
        .success();
    assert_served(&dir.path().join("a.bin"), "/p/a.bin", 3000);
    let mut seen: Vec<(String, String)> = proxy
        .requests()
        .into_iter()
        .map(|r| (r.method, r.target))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("GET".to_string(), url),
            ("GET".to_string(), origin.url("/p/b.bin?size=5"))
        ]
    );
    assert_eq!(
        origin.headers_for("/p/a.bin").len(),
        1,
        "the proxy forwarded it"
    );
}

/// One connection, if one comes within `limit`: the front never outlives its test.
fn accept_within(listener: &TcpListener, limit: Duration) -> Option<TcpStream> {
    listener.set_nonblocking(true).ok()?;
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Ok((tcp, _)) = listener.accept() {
            tcp.set_nonblocking(false).ok()?;
            return Some(tcp);
        }
        thread::sleep(Duration::from_millis(5));
    }
    None
}

#[test]
fn an_https_proxy_is_reached_over_tls_checked_by_the_runs_trust_store() {
    let pki = Pki::new();
    let origin = Server::start().unwrap();
    let inner = HttpProxy::start().unwrap();
    let dir = tempdir();
    let ca = write_file(dir.path(), "ca.pem", &pki.ca_pem);
    let url = origin.url("/tp/a.bin?size=3000");
    let front = tls_front(&pki.good(), inner.addr());
    tget(dir.path())
        .args([
            "--cacert",
            &ca,
            "--proxy",
            &format!("https://{front}"),
            &url,
        ])
        .assert()
        .success();
    assert_served(&dir.path().join("a.bin"), "/tp/a.bin", 3000);
    let seen: Vec<(String, String)> = inner
        .requests()
        .into_iter()
        .map(|r| (r.method, r.target))
        .collect();
    assert_eq!(
        seen,
        [("GET".to_string(), url.clone())],
        "through the TLS front"
    );

    // A proxy whose certificate the store does not trust is not used, and
    // nothing goes direct.
    let untrusted = tls_front(&Pki::new().good(), inner.addr());
    let (code, lines, text) = run_json(
        dir.path(),
        &[
            "--cacert",
            &ca,
            "--proxy",
            &format!("https://{untrusted}"),
            &origin.url("/tp/b.bin"),
        ],
    );
    assert_eq!(code, Some(1), "{text}");
    let error = json_job(&lines, "b.bin")["error"]
        .as_str()
        .unwrap()
        .to_string();
    // The other CA has the same name as the trusted one, so its signature fails.
    let named = format!("proxy https://{untrusted}: TLS: the server's certificate is not signed");
    assert!(error.starts_with(&named), "{error}");
    assert_eq!(
        attempts(json_job(&lines, "b.bin")),
        1,
        "a certificate is not retried"
    );
    assert_eq!(
        origin.requests(),
        1,
        "only the first file reached the origin"
    );
}

#[test]
fn an_https_url_goes_through_an_http_proxy_as_connect() {
    let pki = Pki::new();
    let origin = Server::https(&pki.good()).unwrap();
    let proxy = HttpProxy::start().unwrap();
    let dir = tempdir();
    let ca = write_file(dir.path(), "ca.pem", &pki.ca_pem);
    tget(dir.path())
        .args([
            "--cacert",
            &ca,
            "--proxy",
            &proxy.url(),
            &origin.url("/s.bin?size=4000"),
        ])
        .assert()
        .success();
    assert_served(&dir.path().join("s.bin"), "/s.bin", 4000);
    let requests = proxy.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].method, "CONNECT");
    assert_eq!(requests[0].target, origin.addr().to_string());
}

#[test]
fn proxy_credentials_go_to_the_proxy_only_and_are_never_printed() {
    let origin = Server::recording().unwrap();
    let proxy = HttpProxy::start().unwrap();
    let dir = tempdir();
    let with_user = format!("http://pu:p%40ss@{}", proxy.addr());
    tget(dir.path())
        .args(["--proxy", &with_user, &origin.url("/c.bin?size=9")])
        .assert()
        .success();
    let request = &proxy.requests()[0];
    assert_eq!(
        request.header("Proxy-Authorization"),
        Some(basic("pu", "p@ss").as_str())
    );
    let forwarded = &origin.headers_for("/c.bin")[0];
    assert_eq!(header(forwarded, "Proxy-Authorization"), None);
    let down = format!("socks5://pu:s3cr3t@{}", refusing_addr());
    let (code, lines, stderr) = run_json(dir.path(), &["--proxy", &down, &origin.url("/d.bin")]);
    assert_eq!(code, Some(1));
    let error = json_job(&lines, "d.bin")["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.contains("pu:***@"), "{error}");
    assert!(
        !stderr.contains("s3cr3t") && !error.contains("s3cr3t"),
        "{stderr} {error}"
    );
}

#[test]
fn socks5h_leaves_the_name_to_the_proxy_and_socks5_sends_an_address() {
    let pki = Pki::new();
    let origin = Server::start().unwrap();
    let secure = Server::https(&pki.good()).unwrap();
    let socks = Socks5::start().unwrap();
    let dir = tempdir();
    let ca = write_file(dir.path(), "ca.pem", &pki.ca_pem);
    let by_name = format!("http://localhost:{}/n.bin?size=800", origin.addr().port());
    let secure_by_name = format!("https://localhost:{}/t.bin?size=900", secure.addr().port());
    tget(dir.path())
        .args([
            "--cacert",
            &ca,
            "--proxy",
            &socks.url(true),
            &by_name,
            &secure_by_name,
        ])
        .assert()
        .success();
    assert_served(&dir.path().join("n.bin"), "/n.bin", 800);
    assert_served(&dir.path().join("t.bin"), "/t.bin", 900);
    let mut targets: Vec<SocksTarget> = socks.requests().into_iter().map(|r| r.target).collect();
    targets.sort_by_key(|t| format!("{t:?}"));
    let mut expected = vec![
        SocksTarget::Domain("localhost".into(), origin.addr().port()),
        SocksTarget::Domain("localhost".into(), secure.addr().port()),
    ];
    expected.sort_by_key(|t| format!("{t:?}"));
    assert_eq!(targets, expected);
    let local = Socks5::start().unwrap();
    tget(dir.path())
        .args(["--proxy", &local.url(false), &origin.url("/a.bin?size=7")])
        .assert()
        .success();
    assert_eq!(
        local.requests()[0].target,
        SocksTarget::Address(origin.addr())
    );
}

#[test]
fn socks_credentials_are_decoded() {
    let origin = Server::start().unwrap();
    let socks = Socks5::start().unwrap();
    let dir = tempdir();
    let proxy = format!("socks5h://s%20u:p%3Aw@{}", socks.addr());
    tget(dir.path())
        .args(["--proxy", &proxy, &origin.url("/s.bin?size=3")])
        .assert()
        .success();
    assert_eq!(
        socks.requests()[0].credentials,
        Some(("s u".to_string(), "p:w".to_string()))
    );
}

#[test]
fn a_proxy_that_is_down_fails_the_job_and_nothing_goes_direct() {
    let origin = Server::start().unwrap();
    let dir = tempdir();
    let dead = refusing_addr();
    for proxy in [format!("http://{dead}"), format!("socks5h://{dead}")] {
        let (code, lines, _) = run_json(
            dir.path(),
            &["--retries", "1", "--proxy", &proxy, &origin.url("/x.bin")],
        );
        assert_eq!(code, Some(1));
        let error = json_job(&lines, "x.bin")["error"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            error.starts_with(&format!("proxy {proxy}: ")) && error.contains("refused"),
            "{error}"
        );
    }
    let (code, _, _) = run_json(dir.path(), &["--retries", "0", &origin.url("/y.bin")]);
    tget(dir.path())
        .env("http_proxy", format!("http://{dead}"))
        .arg(origin.url("/z.bin"))
        .assert()
        .code(1);
    assert_eq!(code, Some(0));
    assert_eq!(
        origin.requests(),
        1,
        "only the run without a proxy reached the origin"
    );
}

#[test]
fn a_proxy_url_that_cannot_be_used_is_a_usage_error() {
    let dir = tempdir();
    tget(dir.path())
        .args(["--proxy", "ftp://u:secret@p:21", "http://127.0.0.1:1/x"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("--proxy: proxy `ftp://u:***@p:21`: unsupported scheme `ftp`")
                .and(predicate::str::contains("secret").not()),
        );
    tget(dir.path())
        .env("https_proxy", "socks4://p:1")
        .arg("http://127.0.0.1:1/x")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "https_proxy: proxy `socks4://p:1`",
        ));
}

/// Runs tget on one URL of `origin` with `vars`, and says whether the
/// proxy saw it (it never fails the job: the proxy forwards it).
fn proxied(vars: &[(&'static str, String)], url: &str, extra: &[&str]) -> bool {
    let proxy = HttpProxy::start().unwrap();
    let dir = tempdir();
    let mut run = tget(dir.path());
    for (name, value) in vars {
        run.env(name, value.replace("{PROXY}", &proxy.url()));
    }
    let output = run.args(["--retries", "0"]).args(extra).arg(url).output();
    let seen = !proxy.requests().is_empty();
    assert!(output.status.code().is_some(), "{}", stderr(&output));
    seen
}

#[test]
fn the_environment_is_read_by_curls_rules() {
    let origin = Server::start().unwrap();
    let pki = Pki::new();
    let secure = Server::https(&pki.good()).unwrap();
    let dir = tempdir();
    let ca = write_file(dir.path(), "ca.pem", &pki.ca_pem);
    let http = origin.url("/e.bin?size=4");
    let https = secure.url("/e.bin?size=4");
    let vars = |name: &'static str| vec![(name, "{PROXY}".to_string())];
    assert!(proxied(&vars("http_proxy"), &http, &[]));
    assert!(
        !proxied(&vars("HTTP_PROXY"), &http, &[]),
        "upper-case HTTP_PROXY is never read"
    );
    assert!(
        !proxied(&vars("https_proxy"), &http, &[]),
        "https_proxy is not for http URLs"
    );
    assert!(proxied(&vars("HTTPS_PROXY"), &https, &["--cacert", &ca]));
    assert!(proxied(&vars("https_proxy"), &https, &["--cacert", &ca]));
    assert!(!proxied(&vars("http_proxy"), &https, &["--cacert", &ca]));
    assert!(proxied(&vars("ALL_PROXY"), &http, &[]));
    assert!(proxied(&vars("all_proxy"), &https, &["--cacert", &ca]));
}

#[test]
fn no_proxy_lists_are_read_as_curl_reads_them() {
    let origin = Server::start().unwrap();
    let port = origin.addr().port();
    let ip_url = origin.url("/n.bin?size=4");
    let name_url = format!("http://localhost:{port}/n.bin?size=4");
    // Nothing listens on [::1] at this port: a direct attempt fails, a
    // proxied one reaches the proxy (which then cannot connect either).
    let v6_url = format!("http://[::1]:{port}/n.bin");
    let with = |list: &str| {
        vec![
            ("http_proxy", "{PROXY}".to_string()),
            ("NO_PROXY", list.to_string()),
        ]
    };
    for (list, url, expected) in [
        ("example.invalid, 127.0.0.1 ,x", &ip_url, false),
        ("example.invalid,127.0.0.2", &ip_url, true),
        ("127.0.0.0/8", &ip_url, false),
        ("10.0.0.0/8", &ip_url, true),
        ("*", &ip_url, false),
        ("localhost", &name_url, false),
        (".localhost", &name_url, false),
        ("host", &name_url, true),
        ("::1", &v6_url, false),
        ("[::1]", &v6_url, false),
        ("::2", &v6_url, true),
    ] {
        assert_eq!(
            proxied(&with(list), url, &[]),
            expected,
            "NO_PROXY={list} for {url}"
        );
    }
    let lower = vec![
        ("http_proxy", "{PROXY}".to_string()),
        ("no_proxy", "127.0.0.1".to_string()),
        ("NO_PROXY", "nothing".to_string()),
    ];
    assert!(
        !proxied(&lower, &ip_url, &[]),
        "no_proxy wins over NO_PROXY"
    );
    let flag = [
        ("http_proxy", "{PROXY}".to_string()),
        ("no_proxy", "*".to_string()),
    ];
    assert!(
        proxied(&flag, &ip_url, &["--noproxy", ""]),
        "--noproxy replaces no_proxy"
    );
    assert!(!proxied(&flag[..1], &ip_url, &["--noproxy", "127.0.0.1"]));
    assert!(
        !proxied(&flag[..1], &ip_url, &["--proxy", ""]),
        "--proxy \"\" means none"
    );
}
