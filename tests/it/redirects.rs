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

#[test]
fn a_location_above_the_root_is_resolved_as_rfc_3986_says() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let url = server.url("/r308up?redirect_status=308&redirect=..%2Fdata%2Fother.txt%3Fsize%3D50");
    let (code, lines, stderr) = run_json(dir.path(), &[&url]);
    assert_eq!(code, Some(0), "{stderr}");
    let job = json_job(&lines, "r308up");
    assert_eq!((attempts(job), job["http_status"].as_u64()), (1, Some(200)));
    assert_served(&dir.path().join("r308up"), "/data/other.txt", 50);
}

#[test]
fn a_location_that_is_not_a_url_fails_once() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let url = server.url("/bad/x.bin?redirect=http%3A%2F%2F%5B%3A%3A1");
    let (code, lines, _) = run_json(dir.path(), &["--retries", "3", &url]);
    assert_eq!(code, Some(1));
    let job = json_job(&lines, "x.bin");
    assert_eq!(attempts(job), 1);
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("which is not a URL"),
        "{job}"
    );
}

#[test]
fn credentials_are_kept_on_a_redirect_within_the_origin() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let header_url = server.url("/h/x.bin?redirect=%2Fh2%2Fx.bin%3Fsize%3D4");
    tget(dir.path())
        .args([
            "-H",
            "Authorization: Bearer tok",
            "-H",
            "Cookie: c=1",
            &header_url,
        ])
        .assert()
        .success();
    let after = &server.headers_for("/h2/x.bin")[0];
    assert_eq!(header(after, "Authorization"), Some("Bearer tok"));
    assert_eq!(header(after, "Cookie"), Some("c=1"));
    let user_url = format!(
        "http://u%3A1:p@{}/u/y.bin?redirect=%2Fu2%2Fy.bin%3Fsize%3D4",
        server.addr()
    );
    tget(dir.path()).arg(&user_url).assert().success();
    let after = &server.headers_for("/u2/y.bin")[0];
    assert_eq!(
        header(after, "Authorization"),
        Some(basic("u:1", "p").as_str())
    );
}

#[test]
fn user_and_url_credentials_stay_behind_on_a_redirect_to_another_origin() {
    let first = Server::recording().unwrap();
    let second = Server::recording().unwrap();
    let dir = tempdir();
    let target = second.url("/b/z.bin?size=10");
    let via_user = first.url(&format!("/a/z.bin?redirect={}", encode(&target)));
    tget(dir.path())
        .args(["-u", "ann:pw", &via_user])
        .assert()
        .success();
    let via_info = format!(
        "http://bob:pw@{}/a/w.bin?redirect={}",
        first.addr(),
        encode(&second.url("/b/w.bin?size=10"))
    );
    tget(dir.path()).arg(&via_info).assert().success();
    assert_eq!(
        header(&first.headers_for("/a/z.bin")[0], "Authorization"),
        Some(basic("ann", "pw").as_str())
    );
    assert_eq!(
        header(&second.headers_for("/b/z.bin")[0], "Authorization"),
        None
    );
    assert_eq!(
        header(&second.headers_for("/b/w.bin")[0], "Authorization"),
        None
    );
    assert_served(&dir.path().join("w.bin"), "/b/w.bin", 10);
}
