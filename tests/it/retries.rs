//! What is retried and what is not: transient statuses, Retry-After, refused
//! connections and read timeouts are; other statuses, TLS failures, invalid
//! URLs and local file errors are not. Each test asserts the attempt count.

use std::fs;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn transient_statuses_are_retried() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let codes = [408, 429, 500, 502, 503, 504];
    let urls: Vec<String> = codes
        .iter()
        .map(|c| server.url(&format!("/t/{c}.bin?size=100&fail=1&fail_status={c}")))
        .collect();
    let args: Vec<&str> = ["--retries", "1", "-t", "3"]
        .into_iter()
        .chain(urls.iter().map(String::as_str))
        .collect();
    let (code, lines, text) = run_json(dir.path(), &args);
    assert_eq!(code, Some(0), "{text}");
    for c in codes {
        let job = json_job(&lines, &format!("/t/{c}.bin"));
        assert_eq!(
            (job["status"].as_str(), attempts(job)),
            (Some("ok"), 2),
            "{c}"
        );
        assert_served(
            &dir.path().join(format!("{c}.bin")),
            &format!("/t/{c}.bin"),
            100,
        );
        assert_eq!(server.hits(&format!("/t/{c}.bin")), 2);
    }
}

#[test]
fn other_statuses_are_not_retried() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let codes = [400, 401, 403, 404, 410, 501];
    let urls: Vec<String> = codes
        .iter()
        .map(|c| server.url(&format!("/n/{c}.bin?status={c}")))
        .collect();
    let args: Vec<&str> = ["--retries", "3"]
        .into_iter()
        .chain(urls.iter().map(String::as_str))
        .collect();
    let (code, lines, _) = run_json(dir.path(), &args);
    assert_eq!(code, Some(1));
    for c in codes {
        let job = json_job(&lines, &format!("/n/{c}.bin"));
        assert_eq!(job["status"], "failed");
        assert_eq!(attempts(job), 1, "HTTP {c} must not be retried");
        assert_eq!(job["error"], format!("HTTP {c}"));
    }
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn retries_give_up_after_n_and_the_error_line_counts_the_attempts() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let url = server.url("/g/down.bin?status=503");
    let output = tget(dir.path())
        .args(["--retries", "2"])
        .args(FAST_RETRIES)
        .arg(&url)
        .output();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(&format!(
            "tget: {url}: HTTP 503 after 3 attempts (argument 1)"
        )),
        "{}",
        stderr(&output)
    );
    assert_eq!(server.hits("/g/down.bin"), 3);
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn retry_after_is_honoured() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let started = Instant::now();
    let (code, lines, _) = run_json(
        dir.path(),
        &[&server.url("/ra/x.bin?size=10&fail=1&retry_after=1")],
    );
    assert_eq!(code, Some(0));
    let job = json_job(&lines, "x.bin");
    assert_eq!(attempts(job), 2);
    assert!(
        job["waiting_ms"].as_f64().unwrap() >= 1000.0,
        "the pause before a retry is waiting for the server: {job}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 waited only {:?} (--retry-delay is 10ms)",
        started.elapsed()
    );
    assert_served(&dir.path().join("x.bin"), "/ra/x.bin", 10);
}

#[test]
fn connection_refused_is_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/gone.bin", listener.local_addr().unwrap());
    drop(listener);
    let dir = tempdir();
    let (code, lines, text) = run_json(dir.path(), &["--retries", "2", &url]);
    assert_eq!(code, Some(1));
    let job = json_job(&lines, "gone.bin");
    assert_eq!(
        (attempts(job), job["error"].as_str()),
        (3, Some("connection refused"))
    );
    assert!(
        text.contains("connection refused after 3 attempts"),
        "{text}"
    );
}

#[test]
fn a_read_timeout_is_retried_and_the_retry_resumes() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    // The first response stalls after 30000 bytes; the resumed one (from
    // 30000) has only 20000 left, fewer than its own stall point.
    let (code, lines, text) = run_json(
        dir.path(),
        &[
            "--timeout",
            "300ms",
            "--retries",
            "1",
            &server.url("/to/slow.bin?size=50000&stall_after=30000"),
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(attempts(json_job(&lines, "slow.bin")), 2);
    assert_served(&dir.path().join("slow.bin"), "/to/slow.bin", 50000);
    let seen = server.headers_for("/to/slow.bin");
    assert_eq!(header(&seen[1], "Range"), Some("bytes=30000-"));
}

#[test]
fn a_tls_failure_is_not_retried() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let url = format!("https://{}/tls/x.bin", server.addr());
    let (code, lines, _) = run_json(dir.path(), &["--retries", "3", &url]);
    assert_eq!(code, Some(1));
    let job = json_job(&lines, "x.bin");
    assert_eq!(attempts(job), 1, "{job}");
    assert_eq!(
        server.requests(),
        0,
        "the plain server never saw an HTTP request"
    );
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn an_invalid_url_is_never_requested() {
    let dir = tempdir();
    fs::write(dir.path().join("list.txt"), "http://exa mple.com/x\n").unwrap();
    let (code, lines, _) = run_json(dir.path(), &["-i", "list.txt"]);
    assert_eq!(code, Some(1));
    let job = json_job(&lines, "exa mple");
    assert_eq!((job["status"].as_str(), attempts(job)), (Some("failed"), 0));
}

#[test]
fn local_file_errors_are_not_retried() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    // A directory where the part would go: no retry will make it a file.
    fs::create_dir(dir.path().join("a.bin.part")).unwrap();
    let (code, lines, text) = run_json(dir.path(), &["--retries", "3", &server.url("/l/a.bin")]);
    assert_eq!(code, Some(1));
    let job = json_job(&lines, "a.bin");
    assert_eq!(attempts(job), 1);
    assert!(
        text.contains("cannot create a.bin.part: Is a directory"),
        "{text}"
    );
    assert_eq!(server.requests(), 1);
}

#[cfg(unix)]
#[test]
fn a_read_only_output_directory_is_an_input_error() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        eprintln!("skipped: root ignores directory permissions");
        return;
    }
    let server = Server::start().unwrap();
    let dir = tempdir();
    let locked = dir.path().join("locked");
    fs::create_dir(&locked).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o555)).unwrap();
    let (code, lines, text) = run_json(dir.path(), &["-d", "locked", &server.url("/ro/a.bin")]);
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
    // Found before the first request: every job would have failed the same way.
    assert_eq!(code, Some(2));
    assert!(lines.is_empty());
    assert!(
        text.contains("cannot write in the output directory locked"),
        "{text}"
    );
    assert_eq!(server.requests(), 0);
}
