//! Failures: each is reported with its URL, never stops the other jobs, and
//! never leaves a partial file under a final name.

use std::fs;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use predicates::prelude::*;

use crate::support::*;

/// A port nobody listens on: bound, then released.
fn dead_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/nothing.bin")
}

#[test]
fn one_failing_job_does_not_stop_the_others() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let dead = dead_port_url();
    let output = tget(dir.path())
        .args(["--retries", "0", "-t", "4"])
        .args([
            server.url("/m/good1.bin?size=5000"),
            server.url("/m/missing.bin?status=404"),
            dead.clone(),
            server.url("/m/broken.bin?status=503"),
            server.url("/m/good2.bin?size=6000"),
        ])
        .output();
    assert_eq!(output.status.code(), Some(1));
    assert_served(&dir.path().join("good1.bin"), "/m/good1.bin", 5000);
    assert_served(&dir.path().join("good2.bin"), "/m/good2.bin", 6000);
    assert_eq!(
        listing(dir.path()),
        ["good1.bin", "good2.bin"],
        "failed jobs leave nothing behind"
    );
    let text = stderr(&output);
    assert!(
        text.contains("/m/missing.bin?status=404: HTTP 404 (argument 2)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{dead}: connection refused")),
        "{text}"
    );
    assert!(text.contains("HTTP 503"), "{text}");
    assert!(text.contains("2 saved, 3 failed: "), "{text}");
}

#[test]
fn bad_list_lines_fail_with_file_and_line_and_the_rest_still_runs() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    fs::write(
        dir.path().join("list.txt"),
        fixture("bad-lines.txt", &server),
    )
    .unwrap();
    tget(dir.path())
        .args(["-i", "list.txt"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "list.txt:2: `ftp://example.invalid/file`: unsupported scheme `ftp`",
        ))
        .stderr(predicate::str::contains(
            "list.txt:3: unknown option `colour`",
        ))
        .stderr(predicate::str::contains("2 saved, 2 failed: "));
    assert_eq!(listing(dir.path()), ["first.bin", "list.txt", "third.bin"]);
}

#[test]
fn a_dead_port_fails_fast() {
    let dir = tempdir();
    let started = Instant::now();
    tget(dir.path())
        .args([
            "--retries",
            "0",
            "--connect-timeout",
            "2s",
            &dead_port_url(),
        ])
        .timeout(Duration::from_secs(20))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("connection refused"));
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn a_server_that_stalls_mid_body_is_cut_off_by_the_timeout() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    tget(dir.path())
        .args(["--retries", "0", "--timeout", "400ms"])
        .arg(server.url("/stall/half.bin?size=100000&stall_after=30000"))
        .arg(server.url("/stall/fine.bin?size=10"))
        .timeout(Duration::from_secs(30))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "half.bin?size=100000&stall_after=30000: timed out waiting for data",
        ));
    assert_eq!(
        listing(dir.path()),
        ["fine.bin", "half.bin.part", "half.bin.part.meta"],
        "no partial file under a final name, a part for -c"
    );
}

#[test]
fn a_server_that_never_answers_is_cut_off_by_the_timeout() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    tget(dir.path())
        .args([
            "--retries",
            "0",
            "--timeout",
            "300ms",
            &server.url("/slow/x.bin?latency=20000"),
        ])
        .timeout(Duration::from_secs(30))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("timed out"));
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn an_output_directory_that_cannot_be_made_is_an_input_error_before_any_request() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    fs::write(dir.path().join("list.txt"), "a file, not a directory").unwrap();
    let urls: Vec<String> = (0..100)
        .map(|i| server.url(&format!("/u/{i}.bin")))
        .collect();
    let output = tget(dir.path())
        .args(["-d", "list.txt/sub"])
        .args(&urls)
        .output();
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert_eq!(
        text.trim_end(),
        "tget: error: cannot create the output directory list.txt/sub: Not a directory (os error 20)",
        "one line naming the directory and the reason"
    );
    assert_eq!(server.requests(), 0, "not one request");
}

#[test]
fn a_checksum_mismatch_leaves_no_file() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let wrong = "0".repeat(64);
    let (code, lines, text) = run_json(
        dir.path(),
        &["--sha256", &wrong, &server.url("/sum/x.bin?size=5000")],
    );
    assert_eq!(code, Some(1));
    let job = json_job(&lines, "x.bin");
    assert_eq!(attempts(job), 1, "a checksum mismatch is not retried");
    let expected = format!(
        "sha256 mismatch: expected {wrong}, got {}",
        sha256_hex(&body("/sum/x.bin", 5000))
    );
    assert_eq!(job["error"], expected.as_str());
    assert!(text.contains(&expected));
    assert!(listing(dir.path()).is_empty());
}
