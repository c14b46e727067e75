//! HTTPS against the test server with certificates made for the run: which
//! roots are trusted (`--cacert`, `SSL_CERT_FILE`, `SSL_CERT_DIR`,
//! `--insecure`), and certificate errors a user can act on, tried once.

use predicates::prelude::*;

use crate::support::*;

/// A bundle with another CA first: every certificate of it is trusted.
fn bundle(dir: &std::path::Path, pki: &Pki) -> String {
    let other = Pki::new();
    write_file(
        dir,
        "bundle.pem",
        &format!("{}{}", other.ca_pem, pki.ca_pem),
    )
}

#[test]
fn cacert_trusts_every_certificate_of_its_bundle() {
    let pki = Pki::new();
    let server = Server::https(&pki.good()).unwrap();
    let dir = tempdir();
    let ca = bundle(dir.path(), &pki);
    let url = server.url("/s/secure.bin?size=70000");
    assert!(url.starts_with("https://127.0.0.1:"));
    tget(dir.path())
        .args(["--cacert", &ca, &url])
        .assert()
        .success()
        .stdout("secure.bin\n");
    assert_served(&dir.path().join("secure.bin"), "/s/secure.bin", 70000);
}

#[test]
fn ca_native_is_the_systems_store_and_not_the_bundled_one() {
    let pki = Pki::new();
    let server = Server::https(&pki.good()).unwrap();
    let dir = tempdir();
    let url = server.url("/n/native.bin?size=5000");
    // The system's store as OpenSSL finds it: SSL_CERT_FILE, when set,
    // is where the operating system's certificates are.
    let ca = write_file(dir.path(), "system.pem", &pki.ca_pem);
    tget(dir.path())
        .env("SSL_CERT_FILE", &ca)
        .args(["--ca-native", &url])
        .assert()
        .success();
    assert_served(&dir.path().join("native.bin"), "/n/native.bin", 5000);
    // This run's CA is in no real system's store: refused at once (or, on a
    // machine with no store at all, a clear input error before any request).
    let output = tget(dir.path())
        .args(["--json", "--ca-native", &server.url("/n/other.bin")])
        .output();
    let text = stderr(&output);
    match output.status.code() {
        Some(1) => {
            let lines = json_lines(&output);
            let job = json_job(&lines, "other.bin");
            assert!(
                job["error"].as_str().unwrap().contains("unknown issuer"),
                "{job}"
            );
            assert_eq!(attempts(job), 1);
        }
        Some(2) => assert!(
            text.contains("--ca-native: the system's certificates"),
            "{text}"
        ),
        code => panic!("exit {code:?}: {text}"),
    }
}

#[test]
fn ssl_cert_file_and_ssl_cert_dir_are_the_trust_store() {
    let pki = Pki::new();
    let server = Server::https(&pki.good()).unwrap();
    let dir = tempdir();
    let ca = write_file(dir.path(), "ca.pem", &pki.ca_pem);
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    write_file(&certs, "5ed36f99.0", &pki.ca_pem);
    write_file(&certs, "README", "not a certificate\n");
    tget(dir.path())
        .env("SSL_CERT_FILE", &ca)
        .arg(server.url("/a.bin?size=10"))
        .assert()
        .success();
    tget(dir.path())
        .env("SSL_CERT_DIR", &certs)
        .arg(server.url("/b.bin?size=10"))
        .assert()
        .success();
    assert_served(&dir.path().join("a.bin"), "/a.bin", 10);
    assert_served(&dir.path().join("b.bin"), "/b.bin", 10);
}

#[test]
fn insecure_fetches_from_any_certificate_and_warns_once() {
    let pki = Pki::new();
    let server = Server::https(&pki.wrong_name()).unwrap();
    let dir = tempdir();
    let output = tget(dir.path())
        .args([
            "-k",
            &server.url("/x.bin?size=5"),
            &server.url("/y.bin?size=6"),
        ])
        .output();
    assert!(output.status.success(), "{}", stderr(&output));
    let warnings = stderr(&output).matches("warning: --insecure").count();
    assert_eq!(warnings, 1, "{}", stderr(&output));
    assert_served(&dir.path().join("y.bin"), "/y.bin", 6);
}

#[test]
fn an_unknown_issuer_says_how_to_trust_it_and_is_tried_once() {
    let pki = Pki::new();
    let server = Server::https_recording(&pki.good()).unwrap();
    let dir = tempdir();
    let (code, lines, _) = run_json(dir.path(), &[&server.url("/u.bin")]);
    assert_eq!(code, Some(1));
    let job = json_job(&lines, "u.bin");
    let error = job["error"].as_str().unwrap();
    assert!(
        error.contains("unknown issuer")
            && error.contains("--cacert")
            && error.contains("--ca-native"),
        "{error}"
    );
    assert_eq!(attempts(job), 1);
    assert!(
        server.headers_for("/u.bin").is_empty(),
        "no request was sent"
    );
}

#[test]
fn a_certificate_for_another_name_names_the_name() {
    let pki = Pki::new();
    let server = Server::https(&pki.wrong_name()).unwrap();
    let dir = tempdir();
    let ca = write_file(dir.path(), "ca.pem", &pki.ca_pem);
    let (code, lines, _) = run_json(dir.path(), &["--cacert", &ca, &server.url("/n.bin")]);
    assert_eq!(code, Some(1));
    let job = json_job(&lines, "n.bin");
    assert_eq!(
        job["error"],
        "TLS: the server's certificate is for wrong.example, not 127.0.0.1"
    );
    assert_eq!(attempts(job), 1);
}

#[test]
fn an_expired_certificate_says_when_it_expired() {
    let pki = Pki::new();
    let server = Server::https(&pki.expired()).unwrap();
    let dir = tempdir();
    let ca = write_file(dir.path(), "ca.pem", &pki.ca_pem);
    let (code, lines, _) = run_json(dir.path(), &["--cacert", &ca, &server.url("/e.bin")]);
    assert_eq!(code, Some(1));
    let job = json_job(&lines, "e.bin");
    assert_eq!(
        job["error"],
        "TLS: the server's certificate expired on 2020-01-01 00:00:00 UTC"
    );
    assert_eq!(attempts(job), 1);
}

#[test]
fn a_cacert_that_cannot_be_used_is_a_usage_error() {
    let dir = tempdir();
    tget(dir.path())
        .args(["--cacert", "missing.pem", "https://127.0.0.1:1/x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--cacert missing.pem: cannot read it",
        ));
    let junk = write_file(dir.path(), "junk.pem", "hello\n");
    tget(dir.path())
        .args(["--cacert", &junk, "https://127.0.0.1:1/x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no PEM certificate in it"));
}

#[test]
fn the_environments_store_is_read_only_for_https_and_a_bad_one_fails_those_jobs_once() {
    let pki = Pki::new();
    let https = Server::https(&pki.good()).unwrap();
    let plain = Server::start().unwrap();
    let dir = tempdir();
    tget(dir.path())
        .env("SSL_CERT_FILE", "missing.pem")
        .arg(plain.url("/p.bin?size=10"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "SSL_CERT_FILE missing.pem: cannot read it",
        ));
    let empty = write_file(dir.path(), "empty.pem", "hello\n");
    tget(dir.path())
        .env("SSL_CERT_FILE", &empty)
        .arg(plain.url("/p.bin?size=10"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "empty.pem holds no PEM certificate",
        ));
    assert_eq!(plain.requests(), 0, "found before any request");
    // Only parsing finds a damaged certificate: at the first https connection.
    let junk = write_file(
        dir.path(),
        "junk.pem",
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    );
    let output = tget(dir.path())
        .env("SSL_CERT_FILE", &junk)
        .args([
            "--json",
            &plain.url("/p.bin?size=10"),
            &https.url("/s.bin?size=10"),
        ])
        .output();
    assert_eq!(output.status.code(), Some(1));
    let lines = json_lines(&output);
    assert_eq!(
        json_job(&lines, "p.bin")["status"],
        "ok",
        "http needs no store"
    );
    let job = json_job(&lines, "s.bin");
    assert_eq!(attempts(job), 1, "{job}");
    assert!(
        job["error"].as_str().unwrap().contains("SSL_CERT_FILE"),
        "{job}"
    );
}

#[test]
fn a_big_https_file_is_shared_by_range_requests() {
    let pki = Pki::new();
    let server = Server::https(&pki.good()).unwrap();
    let dir = tempdir();
    let ca = write_file(dir.path(), "ca.pem", &pki.ca_pem);
    let size = 8 * MIB;
    let (code, lines, stderr) = run_json(
        dir.path(),
        &[
            "-t",
            "4",
            "--cacert",
            &ca,
            &server.url(&format!("/big.bin?size={size}&rate=4194304")),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        json_job(&lines, "big.bin")["shared_by"].as_u64().unwrap() > 1,
        "{lines:?}"
    );
    assert_served(&dir.path().join("big.bin"), "/big.bin", size);
}
