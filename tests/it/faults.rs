//! Faults, one test per behaviour: what is retried and what is not, cut
//! bodies, resuming, checksums, hostile names and paths, redirects, signals
//! and local failures. Each asserts the exact outcome: the bytes on disk (or
//! their absence), the exit code, the attempt count and the message.

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::*;

// ---- what is retried ----

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
    fs::write(dir.path().join("occupied"), "a file").unwrap();
    let (code, lines, text) = run_json(
        dir.path(),
        &[
            "--retries",
            "3",
            "-d",
            "occupied/sub",
            &server.url("/l/a.bin"),
        ],
    );
    assert_eq!(code, Some(1));
    let job = json_job(&lines, "a.bin");
    assert_eq!(attempts(job), 1);
    assert!(
        text.contains("cannot create directory occupied/sub: Not a directory"),
        "{text}"
    );
}

#[cfg(unix)]
#[test]
fn a_read_only_directory_fails_the_jobs_clearly() {
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
    assert_eq!(code, Some(1));
    assert_eq!(attempts(json_job(&lines, "a.bin")), 1);
    assert!(text.contains("cannot create locked/a.bin.part"), "{text}");
}

// ---- cut bodies ----

#[test]
fn a_body_cut_short_is_an_error_never_a_file() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let (code, lines, text) = run_json(
        dir.path(),
        &[
            "--retries",
            "0",
            &server.url("/cut/x.bin?size=10000&truncate_at=3000"),
        ],
    );
    assert_eq!(code, Some(1), "{text}");
    let job = json_job(&lines, "x.bin");
    assert_eq!((job["status"].as_str(), attempts(job)), (Some("failed"), 1));
    assert!(job["error"].as_str().unwrap().contains("closed"), "{job}");
    assert!(listing(dir.path()).is_empty(), "no file, no .part");
}

#[test]
fn a_reset_mid_body_is_an_error_never_a_file() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let (code, lines, _) = run_json(
        dir.path(),
        &[
            "--retries",
            "0",
            &server.url("/rst/x.bin?size=10000&reset_after=3000"),
        ],
    );
    assert_eq!(code, Some(1));
    let job = json_job(&lines, "x.bin");
    assert_eq!((job["status"].as_str(), attempts(job)), (Some("failed"), 1));
    assert!(listing(dir.path()).is_empty(), "no file, no .part");
}

#[test]
fn a_cut_body_is_retried_and_resumed_with_if_range() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let (code, lines, _) = run_json(
        dir.path(),
        &[&server.url("/res/x.bin?size=10000&truncate_at=3000&faults=1")],
    );
    assert_eq!(code, Some(0));
    assert_eq!(attempts(json_job(&lines, "x.bin")), 2);
    assert_served(&dir.path().join("x.bin"), "/res/x.bin", 10000);
    let seen = server.headers_for("/res/x.bin");
    assert_eq!(header(&seen[0], "Range"), None);
    assert_eq!(header(&seen[1], "Range"), Some("bytes=3000-"));
    assert_eq!(
        header(&seen[1], "If-Range"),
        Some(etag("/res/x.bin", "", 10000).as_str())
    );
    assert_eq!(listing(dir.path()), ["x.bin"], "the sidecar is gone");
}

#[test]
fn a_reset_body_is_retried_and_resumed() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let (code, lines, _) = run_json(
        dir.path(),
        &[&server.url("/rres/x.bin?size=600000&reset_after=400000&faults=1")],
    );
    assert_eq!(code, Some(0));
    assert_eq!(attempts(json_job(&lines, "x.bin")), 2);
    assert_served(&dir.path().join("x.bin"), "/rres/x.bin", 600000);
    let seen = server.headers_for("/rres/x.bin");
    let range = header(&seen[1], "Range").expect("a resumed request");
    let offset: u64 = range["bytes=".len()..range.len() - 1].parse().unwrap();
    assert!(offset > 0 && offset <= 400000, "{range}");
}

#[test]
fn a_cut_chunked_body_is_caught_by_its_missing_end_marker() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let url = server.url("/te/x.bin?size=10000&te=chunked");
    let (code, _, _) = run_json(dir.path(), &[&url]);
    assert_eq!(code, Some(0));
    assert_served(&dir.path().join("x.bin"), "/te/x.bin", 10000);
    let (code, lines, _) = run_json(
        dir.path(),
        &[
            "--overwrite",
            "--retries",
            "0",
            &format!("{url}&truncate_at=3000"),
        ],
    );
    assert_eq!(code, Some(1));
    let job = json_job(&lines, "truncate_at");
    assert_eq!((job["status"].as_str(), attempts(job)), (Some("failed"), 1));
    assert_served(&dir.path().join("x.bin"), "/te/x.bin", 10000);
    assert_eq!(
        listing(dir.path()),
        ["x.bin"],
        "the old file stays, no part"
    );
}

#[test]
fn a_cut_close_delimited_body_is_only_caught_by_a_checksum() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let url = server.url("/cd0/x.bin?size=10000&chunked=1&truncate_at=3000");
    // Without a length there is nothing to compare with: this is the documented gap.
    let (code, lines, _) = run_json(dir.path(), &[&url]);
    assert_eq!(code, Some(0));
    assert_eq!(json_job(&lines, "x.bin")["bytes"], 3000);
    fs::remove_file(dir.path().join("x.bin")).unwrap();
    let whole = sha256_hex(&body("/cd0/x.bin", 10000));
    let (code, lines, _) = run_json(dir.path(), &["--sha256", &whole, &url]);
    assert_eq!(code, Some(1));
    assert!(
        json_job(&lines, "x.bin")["error"]
            .as_str()
            .unwrap()
            .starts_with("sha256 mismatch"),
    );
    assert!(listing(dir.path()).is_empty());
}

// ---- resuming ----

#[test]
fn a_file_changed_between_attempts_restarts_from_zero() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let (code, lines, _) = run_json(
        dir.path(),
        &[&server.url("/chg/x.bin?size=10000&truncate_at=3000&faults=1&change_after=1")],
    );
    assert_eq!(code, Some(0));
    assert_eq!(attempts(json_job(&lines, "x.bin")), 2);
    let got = fs::read(dir.path().join("x.bin")).unwrap();
    assert!(
        got == body_version("/chg/x.bin", &changed_version(""), 10000),
        "the new version, whole: never the old head with the new tail"
    );
    let seen = server.headers_for("/chg/x.bin");
    assert_eq!(header(&seen[1], "Range"), Some("bytes=3000-"));
}

#[test]
fn a_server_that_ignores_ranges_gets_a_fresh_download() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let (code, lines, _) = run_json(
        dir.path(),
        &[&server.url("/ign/x.bin?size=10000&truncate_at=3000&faults=1&ignore_range=1")],
    );
    assert_eq!(code, Some(0));
    assert_eq!(attempts(json_job(&lines, "x.bin")), 2);
    assert_served(&dir.path().join("x.bin"), "/ign/x.bin", 10000);
}

#[test]
fn a_206_that_does_not_continue_the_part_is_discarded() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let (code, lines, _) = run_json(
        dir.path(),
        &[
            "--retries",
            "1",
            &server.url("/bad/x.bin?size=10000&truncate_at=3000&faults=1&bad_range=1"),
        ],
    );
    assert_eq!(code, Some(0));
    // Cut, then a 206 from byte 0 (refused), then the whole file again.
    assert_eq!(attempts(json_job(&lines, "x.bin")), 3);
    assert_served(&dir.path().join("x.bin"), "/bad/x.bin", 10000);
    let seen = server.headers_for("/bad/x.bin");
    assert_eq!(header(&seen[2], "Range"), None);
}

#[test]
fn last_modified_serves_as_the_validator() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let (code, _, _) = run_json(
        dir.path(),
        &[&server.url("/lm/x.bin?size=10000&truncate_at=3000&faults=1&validator=date")],
    );
    assert_eq!(code, Some(0));
    assert_served(&dir.path().join("x.bin"), "/lm/x.bin", 10000);
    let seen = server.headers_for("/lm/x.bin");
    assert_eq!(header(&seen[1], "Range"), Some("bytes=3000-"));
    assert!(
        header(&seen[1], "If-Range").is_some_and(|v| v.ends_with(" GMT")),
        "{:?}",
        seen[1]
    );
}

#[test]
fn without_a_validator_a_retry_starts_from_zero() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let (code, lines, _) = run_json(
        dir.path(),
        &[&server.url("/nv/x.bin?size=10000&truncate_at=3000&faults=1&validator=none")],
    );
    assert_eq!(code, Some(0));
    assert_eq!(attempts(json_job(&lines, "x.bin")), 2);
    assert_served(&dir.path().join("x.bin"), "/nv/x.bin", 10000);
    let seen = server.headers_for("/nv/x.bin");
    assert_eq!(
        header(&seen[1], "Range"),
        None,
        "nothing proves the part's version"
    );
}

#[test]
fn a_stale_part_is_replaced_without_continue() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let url = server.url("/st/x.bin?size=5000");
    fs::write(
        dir.path().join("x.bin.part"),
        b"stale bytes from another time",
    )
    .unwrap();
    plant_sidecar(
        &dir.path().join("x.bin.part"),
        &url,
        &etag("/st/x.bin", "", 5000),
        Some(5000),
    );
    let (code, _, _) = run_json(dir.path(), &[&url]);
    assert_eq!(code, Some(0));
    assert_served(&dir.path().join("x.bin"), "/st/x.bin", 5000);
    assert_eq!(header(&server.headers_for("/st/x.bin")[0], "Range"), None);
    assert_eq!(listing(dir.path()), ["x.bin"]);
}

#[test]
fn continue_resumes_a_part_with_its_sidecar() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let url = server.url("/cr/x.bin?size=8000");
    let part = dir.path().join("x.bin.part");
    fs::write(&part, &body("/cr/x.bin", 8000)[..5000]).unwrap();
    plant_sidecar(&part, &url, &etag("/cr/x.bin", "", 8000), Some(8000));
    let whole = sha256_hex(&body("/cr/x.bin", 8000));
    let (code, lines, _) = run_json(dir.path(), &["-c", "--sha256", &whole, &url]);
    assert_eq!(code, Some(0));
    assert_eq!(json_job(&lines, "x.bin")["bytes"], 8000);
    assert_served(&dir.path().join("x.bin"), "/cr/x.bin", 8000);
    assert_eq!(
        header(&server.headers_for("/cr/x.bin")[0], "Range"),
        Some("bytes=5000-")
    );
    assert_eq!(listing(dir.path()), ["x.bin"]);
}

#[test]
fn continue_without_a_sidecar_starts_from_zero() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    fs::write(dir.path().join("x.bin.part"), vec![b'?'; 3000]).unwrap();
    let (code, _, _) = run_json(dir.path(), &["-c", &server.url("/ns/x.bin?size=8000")]);
    assert_eq!(code, Some(0));
    assert_served(&dir.path().join("x.bin"), "/ns/x.bin", 8000);
    assert_eq!(header(&server.headers_for("/ns/x.bin")[0], "Range"), None);
}

#[test]
fn continue_rehashes_the_part_so_a_corrupt_prefix_fails_the_checksum() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let url = server.url("/rh/x.bin?size=8000");
    let part = dir.path().join("x.bin.part");
    let mut prefix = body("/rh/x.bin", 8000)[..5000].to_vec();
    prefix[10] ^= 0xff;
    fs::write(&part, &prefix).unwrap();
    plant_sidecar(&part, &url, &etag("/rh/x.bin", "", 8000), Some(8000));
    let whole = sha256_hex(&body("/rh/x.bin", 8000));
    let (code, lines, _) = run_json(dir.path(), &["-c", "--sha256", &whole, &url]);
    assert_eq!(code, Some(1));
    let job = json_job(&lines, "x.bin");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .starts_with("sha256 mismatch"),
        "{job}"
    );
    assert_eq!(
        header(&server.headers_for("/rh/x.bin")[0], "Range"),
        Some("bytes=5000-")
    );
    assert!(listing(dir.path()).is_empty(), "no final file, no part");
}

#[test]
fn continue_on_a_complete_part_gets_416_and_publishes_it() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let url = server.url("/full/x.bin?size=6000");
    let part = dir.path().join("x.bin.part");
    fs::write(&part, body("/full/x.bin", 6000)).unwrap();
    plant_sidecar(&part, &url, &etag("/full/x.bin", "", 6000), None);
    let (code, lines, _) = run_json(dir.path(), &["-c", &url]);
    assert_eq!(code, Some(0));
    let job = json_job(&lines, "x.bin");
    assert_eq!(
        (job["http_status"].as_u64(), job["bytes"].as_u64()),
        (Some(416), Some(6000))
    );
    assert_served(&dir.path().join("x.bin"), "/full/x.bin", 6000);
    assert_eq!(listing(dir.path()), ["x.bin"]);
}

#[test]
fn continue_on_a_part_longer_than_the_file_starts_again() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let url = server.url("/long/x.bin?size=6000");
    let part = dir.path().join("x.bin.part");
    fs::write(&part, vec![b'x'; 7000]).unwrap();
    plant_sidecar(&part, &url, &etag("/long/x.bin", "", 6000), None);
    let (code, lines, _) = run_json(dir.path(), &["-c", &url]);
    assert_eq!(code, Some(0));
    // A 416 that names another length, then the whole file.
    assert_eq!(attempts(json_job(&lines, "x.bin")), 2);
    assert_served(&dir.path().join("x.bin"), "/long/x.bin", 6000);
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

// ---- signals ----

/// A batch whose big file stalls after 300000 bytes, so a signal always finds
/// it mid-body with bytes on disk (tget writes in 256 KiB chunks).
fn interrupted_batch(server: &Server, dir: &Path, signal: i32) -> std::process::Output {
    let args = vec![
        "-t".to_string(),
        "2".to_string(),
        server.url("/sig/small.bin?size=1000"),
        server.url("/sig/big.bin?size=500000&stall_after=300000"),
    ];
    let child = tget(dir).args(&args).spawn();
    let part = dir.join("big.bin.part");
    wait_until(
        Duration::from_secs(10),
        "big.bin.part to have bytes",
        || fs::metadata(&part).is_ok_and(|m| m.len() > 0),
    );
    child.signal(signal);
    child.wait_within(Duration::from_secs(10))
}

#[test]
fn ctrl_c_keeps_the_part_and_continue_finishes_it() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let output = interrupted_batch(&server, dir.path(), libc::SIGINT);
    let text = stderr(&output);
    assert_interrupted(&output);
    assert!(
        text.contains("interrupted; big.bin.part kept for -c"),
        "{text}"
    );
    assert!(
        text.contains("1 ok, 0 skipped, 1 failed"),
        "partial summary: {text}"
    );
    let kept = fs::read(dir.path().join("big.bin.part")).unwrap();
    assert!(!kept.is_empty() && kept.len() <= 300000, "{}", kept.len());
    assert!(kept[..] == body("/sig/big.bin", 500000)[..kept.len()]);
    assert!(!dir.path().join("big.bin").exists());

    let output = tget(dir.path())
        .args(["-c", "--json"])
        .arg(server.url("/sig/small.bin?size=1000"))
        .arg(server.url("/sig/big.bin?size=500000&stall_after=300000"))
        .timeout(Duration::from_secs(30))
        .output();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_served(&dir.path().join("big.bin"), "/sig/big.bin", 500000);
    assert_served(&dir.path().join("small.bin"), "/sig/small.bin", 1000);
    assert_eq!(
        json_job(&json_lines(&output), "small.bin")["status"],
        "skipped"
    );
    let seen = server.headers_for("/sig/big.bin");
    assert_eq!(
        header(seen.last().unwrap(), "Range"),
        Some(format!("bytes={}-", kept.len()).as_str())
    );
    assert_eq!(listing(dir.path()), ["big.bin", "small.bin"]);
}

#[test]
fn sigterm_acts_like_the_first_ctrl_c() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let output = interrupted_batch(&server, dir.path(), libc::SIGTERM);
    assert_interrupted(&output);
    assert!(fs::metadata(dir.path().join("big.bin.part")).unwrap().len() > 0);
    assert!(dir.path().join("big.bin.part.meta").exists());
}

// ---- names and paths ----

#[test]
fn content_disposition_names_are_sanitised_inside_the_directory() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let long = format!("{}.txt", "a".repeat(300));
    let cases: Vec<(String, String)> = vec![
        ("attachment; filename=\"../../x\"".into(), "x".into()),
        ("attachment; filename=/abs/path".into(), "path".into()),
        ("attachment; filename=a\\b".into(), "b".into()),
        ("attachment; filename=\"..\"".into(), "index.html".into()),
        (
            "attachment; filename*=UTF-8''evil%1b%5B31m.txt".into(),
            "evil_[31m.txt".into(),
        ),
        (
            "attachment; filename*=UTF-8''ev%E2%80%AEtxt.exe".into(),
            "ev_txt.exe".into(),
        ),
        (
            "attachment; filename*=UTF-8''%e2%82%ac%20rates.txt".into(),
            "€ rates.txt".into(),
        ),
        (
            format!("attachment; filename=\"{long}\""),
            format!("{}.txt", "a".repeat(196)),
        ),
        ("attachment; filename=CON".into(), "_CON".into()),
        ("attachment; filename=\".bashrc\"".into(), "bashrc".into()),
        (
            "attachment; filename=other.bin.part".into(),
            "other.bin.part_".into(),
        ),
        (
            "attachment; filename=\"say \\\"hi\\\".txt\"".into(),
            "say _hi_.txt".into(),
        ),
    ];
    let urls: Vec<String> = cases
        .iter()
        .enumerate()
        .map(|(i, (cd, _))| server.url(&format!("/cd/{i}.bin?size=10&cd={}", encode(cd))))
        .collect();
    let output = tget(dir.path())
        .args(["--content-disposition", "--json", "-d", "out"])
        .args(&urls)
        .output();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let lines = json_lines(&output);
    let mut expected: Vec<String> = cases.iter().map(|(_, name)| name.clone()).collect();
    expected.sort();
    assert_eq!(listing(&dir.path().join("out")), expected);
    assert_eq!(
        listing(dir.path()),
        ["out"],
        "nothing outside the output directory"
    );
    for (i, (_, name)) in cases.iter().enumerate() {
        let job = json_job(&lines, &format!("/cd/{i}.bin"));
        assert_eq!(job["path"], format!("out/{name}"));
        assert_served(
            &dir.path().join("out").join(name),
            &format!("/cd/{i}.bin"),
            10,
        );
    }
}

#[cfg(unix)]
#[test]
fn a_suggested_name_never_replaces_a_file_or_another_jobs_name() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let outside = tempdir();
    fs::write(dir.path().join("keep.txt"), "mine").unwrap();
    std::os::unix::fs::symlink(outside.path().join("victim"), dir.path().join("link.txt")).unwrap();
    let cd = |name: &str| encode(&format!("attachment; filename={name}"));
    let urls = [
        server.url("/s/report.pdf?size=11"),
        server.url(&format!("/s/a.bin?size=12&cd={}", cd("report.pdf"))),
        server.url(&format!("/s/b.bin?size=13&cd={}", cd("keep.txt"))),
        server.url(&format!("/s/c.bin?size=14&cd={}", cd("link.txt"))),
        server.url(&format!("/s/d.bin?size=15&cd={}", cd("same.txt"))),
        server.url(&format!("/s/e.bin?size=16&cd={}", cd("same.txt"))),
    ];
    let output = tget(dir.path())
        .args(["--content-disposition", "--overwrite", "--json", "-t", "4"])
        .args(&urls)
        .output();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let lines = json_lines(&output);
    assert_served(&dir.path().join("report.pdf"), "/s/report.pdf", 11);
    assert_served(&dir.path().join("report-1.pdf"), "/s/a.bin", 12);
    assert_eq!(
        fs::read_to_string(dir.path().join("keep.txt")).unwrap(),
        "mine"
    );
    assert_served(&dir.path().join("keep-1.txt"), "/s/b.bin", 13);
    assert!(
        fs::symlink_metadata(dir.path().join("link.txt"))
            .unwrap()
            .is_symlink()
    );
    assert!(!outside.path().join("victim").exists());
    assert_served(&dir.path().join("link-1.txt"), "/s/c.bin", 14);
    let d = json_job(&lines, "/s/d.bin")["path"]
        .as_str()
        .unwrap()
        .to_string();
    let e = json_job(&lines, "/s/e.bin")["path"]
        .as_str()
        .unwrap()
        .to_string();
    let mut pair = [d, e];
    pair.sort();
    assert_eq!(pair, ["same-1.txt", "same.txt"]);
}

#[cfg(unix)]
#[test]
fn symlinks_at_part_and_final_names_are_never_followed() {
    use std::os::unix::fs::symlink;
    let server = Server::start().unwrap();
    let dir = tempdir();
    let outside = tempdir();
    let victim = |name: &str| outside.path().join(name);
    fs::write(victim("a"), "precious a").unwrap();
    fs::write(victim("c"), "precious c").unwrap();
    fs::write(victim("d"), "precious d").unwrap();
    symlink(victim("a"), dir.path().join("a.bin.part")).unwrap();
    symlink(victim("b"), dir.path().join("b.bin")).unwrap();
    symlink(victim("c"), dir.path().join("c.bin")).unwrap();
    symlink(victim("d"), dir.path().join("d.bin.part.meta")).unwrap();
    let urls = ["a", "b", "c", "d"].map(|n| server.url(&format!("/sl/{n}.bin?size=100")));
    // With a valid sidecar, -c would append to the part: it must not be the symlink's target.
    plant_sidecar(
        &dir.path().join("a.bin.part"),
        &urls[0],
        &etag("/sl/a.bin", "", 100),
        Some(100),
    );
    tget(dir.path())
        .args(["--overwrite", "-c"])
        .args(&urls)
        .assert()
        .success();
    for n in ["a", "b", "c", "d"] {
        let path = dir.path().join(format!("{n}.bin"));
        assert!(
            fs::symlink_metadata(&path).unwrap().is_file(),
            "{n}.bin is a plain file"
        );
        assert_served(&path, &format!("/sl/{n}.bin"), 100);
    }
    assert_eq!(fs::read_to_string(victim("a")).unwrap(), "precious a");
    assert!(!victim("b").exists());
    assert_eq!(fs::read_to_string(victim("c")).unwrap(), "precious c");
    assert_eq!(fs::read_to_string(victim("d")).unwrap(), "precious d");
    assert_eq!(listing(dir.path()), ["a.bin", "b.bin", "c.bin", "d.bin"]);
}

// ---- redirects ----

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

// ---- what reaches the terminal ----

#[test]
fn error_lines_escape_control_characters() {
    let dir = tempdir();
    fs::write(
        dir.path().join("list.txt"),
        "http://h/\u{1b}]0;owned\u{7}x \u{202e}\n",
    )
    .unwrap();
    let output = tget(dir.path()).args(["-i", "list.txt"]).output();
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(text.contains("\\u{1b}]0;owned\\u{7}x"), "{text}");
}

#[test]
fn a_second_interrupt_exits_at_once() {
    use std::io::{BufRead, BufReader, Write};
    let server = Server::start().unwrap();
    let dir = tempdir();
    let mut child = tget(dir.path()).args(["-i", "-"]).spawn();
    // A list on a pipe that never closes keeps the first interrupt waiting for input.
    let mut list = child.stdin();
    writeln!(
        list,
        "{}",
        server.url("/two/big.bin?size=500000&stall_after=300000")
    )
    .unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    let stderr_pipe = child.stderr();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let part = dir.path().join("big.bin.part");
    wait_until(
        Duration::from_secs(10),
        "big.bin.part to have bytes",
        || fs::metadata(&part).is_ok_and(|m| m.len() > 0),
    );
    child.signal(libc::SIGINT);
    let line = lines_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the interrupted job is reported");
    assert!(
        line.contains("interrupted; big.bin.part kept for -c"),
        "{line}"
    );
    assert!(child.is_running(), "still waiting for the list");
    child.signal(libc::SIGINT);
    let output = child.wait_within(Duration::from_secs(5));
    assert_interrupted(&output);
    drop(list);
    assert!(part.exists());
}
