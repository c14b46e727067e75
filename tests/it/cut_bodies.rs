//! Bodies that end early: cut, reset, chunked without its end marker, or
//! close-delimited. Never a file under its final name; retried and resumed
//! where that is safe, and kept as a part for `-c` when the retries run out.

use std::fs;

use crate::support::*;

#[test]
fn a_body_cut_short_is_an_error_never_a_file() {
    let server = Server::recording().unwrap();
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
    let error = job["error"].as_str().unwrap();
    assert!(error.contains("closed"), "{job}");
    assert!(
        error.ends_with("x.bin.part kept, a re-run continues it"),
        "{job}"
    );
    assert_eq!(listing(dir.path()), KEPT_PART, "no file, a part for -c");
    let (code, lines, _) = run_json(
        dir.path(),
        &["-c", &server.url("/cut/x.bin?size=10000&truncate_at=3000")],
    );
    assert_eq!(code, Some(0));
    assert_eq!(json_job(&lines, "x.bin")["bytes"], 10000);
    let asked = server.headers_for("/cut/x.bin");
    assert_eq!(header(&asked[1], "Range"), Some("bytes=3000-"));
    assert_served(&dir.path().join("x.bin"), "/cut/x.bin", 10000);
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
    assert_eq!(listing(dir.path()), KEPT_PART, "no file, a part for -c");
}

const KEPT_PART: [&str; 2] = ["x.bin.part", "x.bin.part.meta"];

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
        ["x.bin", "x.bin.part", "x.bin.part.meta"],
        "the old file stays beside the part"
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
