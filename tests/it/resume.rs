//! Resuming: a retry or `-c` continues a `.part` only when its validator
//! (ETag or Last-Modified, in the sidecar) proves it is the same file, and
//! starts again from zero otherwise.

use std::fs;

use crate::support::*;

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
fn a_part_of_this_url_is_continued_without_being_asked() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let url = server.url("/np/x.bin?size=8000");
    let part = dir.path().join("x.bin.part");
    fs::write(&part, &body("/np/x.bin", 8000)[..3000]).unwrap();
    plant_sidecar(&part, &url, &etag("/np/x.bin", "", 8000), Some(8000));
    let (code, _, _) = run_json(dir.path(), &[&url]);
    assert_eq!(code, Some(0));
    assert_served(&dir.path().join("x.bin"), "/np/x.bin", 8000);
    assert_eq!(
        header(&server.headers_for("/np/x.bin")[0], "Range"),
        Some("bytes=3000-")
    );
    assert_eq!(listing(dir.path()), ["x.bin"]);
}

#[test]
fn a_part_of_another_url_is_replaced() {
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
        &server.url("/elsewhere/x.bin?size=5000"),
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

// ---- -c on a file already under its final name (left by another tool) ----

/// The server's Last-Modified for `url` (served with `validator=date`).
fn last_modified(server: &Server, url: &str) -> std::time::SystemTime {
    let date = {
        let response = ureq::get(url).call().unwrap();
        response.headers()["last-modified"]
            .to_str()
            .unwrap()
            .to_string()
    };
    // The body this asked for is not counted against the run under test.
    settle(server);
    httpdate::parse_http_date(&date).unwrap()
}

/// Writes `bytes` under `path` with the modification time `modified`, as
/// `wget` leaves a download it was cut short in (it sets the server's date).
fn plant_final(path: &std::path::Path, bytes: &[u8], modified: std::time::SystemTime) {
    fs::write(path, bytes).unwrap();
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
}

#[test]
fn continue_finishes_a_short_final_file_of_the_same_version() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let size = 1_000_000;
    let url = server.url(&format!("/short/a.bin?size={size}&validator=date"));
    let date = last_modified(&server, &url);
    let file = dir.path().join("a.bin");
    plant_final(&file, &body("/short/a.bin", size)[..300_000], date);
    let before = server.body_bytes();
    let (code, lines, text) = run_json(dir.path(), &["-c", &url]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(json_job(&lines, "a.bin")["status"], "ok");
    assert_served(&file, "/short/a.bin", size);
    assert_eq!(
        server.body_bytes() - before,
        size - 300_000,
        "only the rest"
    );
    let seen = server.headers_for("/short/a.bin");
    let last = seen.last().unwrap();
    assert_eq!(header(last, "Range"), Some("bytes=300000-"));
    assert_eq!(
        header(last, "If-Range"),
        Some(httpdate::fmt_http_date(date).as_str())
    );
    assert_eq!(listing(dir.path()), ["a.bin"]);
}

#[test]
fn a_final_file_continued_keeps_its_name_whatever_the_server_calls_it() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let size = 300_000;
    let url = server.url(&format!(
        "/named/a.bin?size={size}&validator=date&cd=attachment%3B%20filename%3Dother.bin"
    ));
    let file = dir.path().join("a.bin");
    plant_final(
        &file,
        &body("/named/a.bin", size)[..100_000],
        last_modified(&server, &url),
    );
    let (code, _, text) = run_json(dir.path(), &["-c", "--content-disposition", &url]);
    assert_eq!(code, Some(0), "{text}");
    assert_served(&file, "/named/a.bin", size);
    assert_eq!(listing(dir.path()), ["a.bin"]);

    // An older file is of another version: replaced whole, under its name still.
    let older = last_modified(&server, &url) - std::time::Duration::from_secs(86400);
    plant_final(&file, &body("/named/a.bin", size)[..100_000], older);
    let (code, _, text) = run_json(dir.path(), &["-c", "--content-disposition", &url]);
    assert_eq!(code, Some(0), "{text}");
    assert_served(&file, "/named/a.bin", size);
    assert_eq!(listing(dir.path()), ["a.bin"]);
}

#[test]
fn continue_skips_a_final_file_that_is_already_whole() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let url = server.url("/whole/a.bin?size=5000&validator=date");
    plant_final(
        &dir.path().join("a.bin"),
        &body("/whole/a.bin", 5000),
        last_modified(&server, &url),
    );
    let before = server.body_bytes();
    let (code, lines, _) = run_json(dir.path(), &["-c", &url]);
    assert_eq!(code, Some(0));
    assert_eq!(json_job(&lines, "a.bin")["status"], "skipped");
    assert_eq!(server.body_bytes(), before, "a 416, no body");
    assert_served(&dir.path().join("a.bin"), "/whole/a.bin", 5000);
}

#[test]
fn continue_reports_a_final_file_longer_than_the_servers_and_leaves_it() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let url = server.url("/longer/a.bin?size=5000&validator=date");
    let mut bytes = body("/longer/a.bin", 5000);
    bytes.extend_from_slice(b"trailing bytes another tool added");
    plant_final(
        &dir.path().join("a.bin"),
        &bytes,
        last_modified(&server, &url),
    );
    let (code, lines, text) = run_json(dir.path(), &["-c", &url]);
    assert_eq!(code, Some(1), "{text}");
    let error = json_job(&lines, "a.bin")["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("more than the 5000 the server has"),
        "{error}"
    );
    assert_eq!(
        fs::read(dir.path().join("a.bin")).unwrap(),
        bytes,
        "not truncated"
    );
    assert_eq!(listing(dir.path()), ["a.bin"]);
}

#[test]
fn continue_replaces_a_short_final_file_of_another_version_whole() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let url = server.url("/other/a.bin?size=600000&validator=date");
    // Another version's prefix, dated now: the server's If-Range check fails.
    plant_final(
        &dir.path().join("a.bin"),
        &vec![b'x'; 200_000],
        std::time::SystemTime::now(),
    );
    let before = server.body_bytes();
    let (code, _, text) = run_json(dir.path(), &["-c", &url]);
    assert_eq!(code, Some(0), "{text}");
    assert_served(&dir.path().join("a.bin"), "/other/a.bin", 600_000);
    assert_eq!(
        server.body_bytes() - before,
        600_000,
        "the whole file, never a tail"
    );
    assert_eq!(listing(dir.path()), ["a.bin"]);
}

fn modified(path: &std::path::Path) -> std::time::SystemTime {
    fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn a_file_taken_over_goes_back_as_it_was_when_the_server_copy_changes() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    // Every whole-file or early answer is cut at 400000; requests after the
    // second (the probe, then the first -c) get another version.
    let size = 600_000;
    let url = server.url(&format!(
        "/tk/a.bin?size={size}&validator=date&truncate_at=400000&change_after=2"
    ));
    let date = last_modified(&server, &url);
    let file = dir.path().join("a.bin");
    let mine = body("/tk/a.bin", size)[..300_000].to_vec();
    plant_final(&file, &mine, date);
    let (code, lines, text) = run_json(dir.path(), &["-c", "--retries", "1", &url]);
    assert_eq!(code, Some(1), "{text}");
    let seen = server.headers_for("/tk/a.bin");
    assert_eq!(header(&seen[1], "Range"), Some("bytes=300000-"));
    assert_eq!(header(&seen[2], "Range"), Some("bytes=400000-"));
    assert!(
        seen.len() >= 4,
        "the changed copy was fetched whole: {seen:?}"
    );
    assert!(
        fs::read(&file).unwrap() == mine,
        "the user's bytes, no more"
    );
    assert_eq!(modified(&file), date, "and its time, its version");
    let error = json_job(&lines, "a.bin")["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.contains("a.bin.part kept"), "{error}");
}

#[test]
fn a_file_taken_over_keeps_what_was_added_when_the_connection_fails() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let size = 600_000;
    let url = server.url(&format!(
        "/tc/a.bin?size={size}&validator=date&truncate_at=400000&faults=2"
    ));
    let date = last_modified(&server, &url);
    let file = dir.path().join("a.bin");
    plant_final(&file, &body("/tc/a.bin", size)[..300_000], date);
    let (code, lines, text) = run_json(dir.path(), &["-c", "--retries", "0", &url]);
    assert_eq!(code, Some(1), "{text}");
    let error = json_job(&lines, "a.bin")["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.ends_with("a.bin kept, -c continues it"), "{error}");
    assert!(fs::read(&file).unwrap() == body("/tc/a.bin", size)[..400_000]);
    assert_eq!(modified(&file), date);
    assert_eq!(listing(dir.path()), ["a.bin"]);
    let before = server.body_bytes();
    let (code, _, text) = run_json(dir.path(), &["-c", &url]);
    assert_eq!(code, Some(0), "{text}");
    assert_served(&file, "/tc/a.bin", size);
    assert_eq!(
        server.body_bytes() - before,
        size - 400_000,
        "only the rest"
    );
}

#[test]
fn a_file_taken_over_that_fails_its_checksum_goes_back_as_it_was() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let url = server.url("/ts/a.bin?size=600000&validator=date");
    let date = last_modified(&server, &url);
    let file = dir.path().join("a.bin");
    let mine = body("/ts/a.bin", 600_000)[..300_000].to_vec();
    plant_final(&file, &mine, date);
    let wrong = "0".repeat(64);
    let (code, lines, _) = run_json(dir.path(), &["-c", "--sha256", &wrong, &url]);
    assert_eq!(code, Some(1));
    let error = json_job(&lines, "a.bin")["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.ends_with("a.bin left as it was"), "{error}");
    assert!(fs::read(&file).unwrap() == mine);
    assert_eq!(modified(&file), date);
    assert_eq!(listing(dir.path()), ["a.bin"]);
}

#[test]
fn a_file_dated_past_year_9999_is_not_continued_but_fetched_whole() {
    let server = Server::recording().unwrap();
    // ext4 keeps times up to 2446; tmpfs keeps this one.
    let dir = tempfile::tempdir_in("/dev/shm").expect("a directory on tmpfs");
    let url = server.url("/y10k/a.bin?size=600000");
    let file = dir.path().join("a.bin");
    let far = std::time::UNIX_EPOCH + std::time::Duration::from_secs(300_000_000_000);
    plant_final(&file, &body("/y10k/a.bin", 600_000)[..1000], far);
    assert_eq!(modified(&file), far, "the file system keeps the date");
    let (code, _, text) = run_json(dir.path(), &["-c", &url]);
    assert_eq!(code, Some(0), "{text}");
    assert_served(&file, "/y10k/a.bin", 600_000);
    assert_eq!(header(&server.headers_for("/y10k/a.bin")[0], "Range"), None);
    plant_final(&file, b"old", far);
    let (code, lines, text) = run_json(dir.path(), &["-N", &url]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(
        json_job(&lines, "a.bin")["status"],
        "skipped",
        "newer than any date"
    );
}
