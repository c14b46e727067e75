//! Redirects: followed up to `--max-redirects`, named after the URL asked
//! for, never retried in a loop, only to http and https, and without
//! credentials to another origin.

use predicates::prelude::*;

use crate::support::*;

#[test]
fn redirects_are_followed_and_the_name_comes_from_the_given_url() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let url = server.url("/r/asked.bin?redirect=/elsewhere/target.bin%3Fsize%3D77");
    tget(dir.path())
        .arg(&url)
        .assert()
        .success()
        .stdout("asked.bin\n");
    assert_served(&dir.path().join("asked.bin"), "/elsewhere/target.bin", 77);
    assert_eq!(listing(dir.path()), ["asked.bin"]);
}

#[test]
fn too_many_redirects_fail_the_job() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    tget(dir.path())
        .args([
            "--max-redirects",
            "3",
            &server.url("/chain/ok.bin?redirects=3&size=9"),
        ])
        .assert()
        .success();
    assert_served(&dir.path().join("ok.bin"), "/chain/ok.bin", 9);
    tget(dir.path())
        .args([
            "--max-redirects",
            "3",
            &server.url("/chain/far.bin?redirects=4"),
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("too many redirects"));
    assert_eq!(listing(dir.path()), ["ok.bin"]);
}

#[test]
fn redirect_loops_are_not_retried() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let (code, lines, _) = run_json(
        dir.path(),
        &[
            "--max-redirects",
            "2",
            &server.url("/loop/x.bin?redirects=5"),
        ],
    );
    assert_eq!(code, Some(1));
    let job = json_job(&lines, "x.bin");
    assert_eq!(
        (attempts(job), job["error"].as_str()),
        (1, Some("too many redirects"))
    );
}

#[test]
fn credentials_are_not_sent_to_another_origin_after_a_redirect() {
    let first = Server::recording().unwrap();
    let second = Server::recording().unwrap();
    let dir = tempdir();
    let target = second.url("/b/x.bin?size=10");
    let url = first.url(&format!("/a/x.bin?redirect={}", encode(&target)));
    tget(dir.path())
        .args([
            "-H",
            "Authorization: Bearer s3cret",
            "-H",
            "Cookie: session=abc",
        ])
        .args(["-H", "X-Trace: t1", &url])
        .assert()
        .success();
    assert_served(&dir.path().join("x.bin"), "/b/x.bin", 10);
    let asked = &first.headers_for("/a/x.bin")[0];
    assert_eq!(header(asked, "Authorization"), Some("Bearer s3cret"));
    assert_eq!(header(asked, "Cookie"), Some("session=abc"));
    let redirected = &second.headers_for("/b/x.bin")[0];
    assert_eq!(header(redirected, "Authorization"), None);
    assert_eq!(header(redirected, "Cookie"), None);
    assert_eq!(
        header(redirected, "X-Trace"),
        Some("t1"),
        "other headers follow"
    );
}

#[test]
fn redirects_go_only_to_http_and_https() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let ftp = server.url("/f/x.bin?redirect=ftp%3A%2F%2F127.0.0.1%2Fx.bin");
    let socks = server.url(&format!(
        "/f/y.bin?redirect={}",
        encode(&format!("socks5://{}/g/y.bin?size=10", server.addr()))
    ));
    let (code, lines, _) = run_json(dir.path(), &["--retries", "2", &ftp, &socks]);
    assert_eq!(code, Some(1));
    let ftp_job = json_job(&lines, "/f/x.bin");
    assert_eq!(attempts(ftp_job), 1);
    assert!(
        ftp_job["error"].as_str().unwrap().contains("ftp"),
        "{ftp_job}"
    );
    let socks_job = json_job(&lines, "/f/y.bin");
    assert_eq!(attempts(socks_job), 1);
    assert!(
        socks_job["error"].as_str().unwrap().contains("socks5"),
        "{socks_job}"
    );
    assert!(listing(dir.path()).is_empty());
}
