//! A file shared by several workers survives Ctrl-C and SIGKILL: its part and
//! sidecar stay, and `-c` asks only for the ranges the sidecar does not list,
//! with If-Range, so the result is byte-identical, or, when the file changed
//! on the server meanwhile, a clean fresh download.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::support::*;

const MIB: u64 = 1 << 20;
/// What a continued download may be sent beyond the missing ranges: when an
/// idle worker takes the tail of a range, the bytes already on their way on
/// the first connection are dropped (a buffer or so per cut).
const CUT_SLACK: u64 = 4 * MIB;

/// Asserts that `sent` bytes were the ranges `missing` asked for, and no more.
fn assert_only_missing_sent(sent: u64, missing: u64) {
    assert!(
        (missing..=missing + CUT_SLACK).contains(&sent),
        "{sent} bytes sent for {missing} missing"
    );
}

/// The byte ranges a shared part's sidecar says are on disk, summed.
fn recorded(part_meta: &Path) -> u64 {
    let text = fs::read_to_string(part_meta).unwrap_or_default();
    let Some(line) = text.lines().find_map(|l| l.strip_prefix("done ")) else {
        return 0;
    };
    line.split(',')
        .filter_map(|r| r.split_once('-'))
        .map(|(a, b)| b.parse::<u64>().unwrap() - a.parse::<u64>().unwrap())
        .sum()
}

/// Starts a shared download of `path` (paced, four workers) and stops it by
/// `signal` once the server has sent `stop_at` body bytes.
fn stopped_shared_download(server: &Server, dir: &Path, path: &str, stop_at: u64, signal: i32) {
    let child = tget(dir).args(["-q", "-t", "4", &server.url(path)]).spawn();
    wait_until(
        Duration::from_secs(30),
        "the shared download to get going",
        || server.body_bytes() >= stop_at,
    );
    child.signal(signal);
    let output = child.wait_within(Duration::from_secs(10));
    assert_killed_by(&output, signal);
    settle(server);
}

#[test]
fn ctrl_c_at_half_a_shared_file_keeps_it_and_continue_fetches_only_the_rest() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let size = 64 * MIB;
    // Four 16 MiB ranges at 16 MiB/s each: a second for the whole file.
    let path = format!("/half/big.bin?size={size}&rate={}", 16 * MIB);
    stopped_shared_download(&server, dir.path(), &path, size / 2, libc::SIGINT);
    let meta = dir.path().join("big.bin.part.meta");
    assert_eq!(listing(dir.path()), ["big.bin.part", "big.bin.part.meta"]);
    let kept = recorded(&meta);
    assert!(kept >= size * 4 / 10, "only {kept} bytes recorded");

    let before = server.body_bytes();
    let output = tget(dir.path())
        .args(["-c", "-t", "4", &server.url(&path)])
        .output();
    assert!(output.status.success(), "{}", stderr(&output));
    let sent = server.body_bytes() - before;
    assert_served(&dir.path().join("big.bin"), "/half/big.bin", size);
    assert_eq!(listing(dir.path()), ["big.bin"]);
    assert_only_missing_sent(sent, size - kept);
    let summary = stderr(&output);
    assert!(
        summary.contains("1 file resumed:") && summary.contains("already on disk"),
        "the kept ranges are said to be resumed: {summary}"
    );
    assert!(
        sent <= size * 55 / 100,
        "{sent} bytes sent for the rest of {size}"
    );
    // For the record (cargo test -- --nocapture): what the second run cost.
    eprintln!(
        "kept {kept} of {size} bytes; -c was sent {sent} ({:.1}%)",
        100.0 * sent as f64 / size as f64
    );
}

#[test]
fn after_sigkill_continue_still_gives_the_exact_file() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let size = 32 * MIB;
    // Two seconds of work, so the sidecar is saved a few times before the kill.
    let path = format!("/kill/big.bin?size={size}&rate={}", 4 * MIB);
    stopped_shared_download(&server, dir.path(), &path, size / 2, libc::SIGKILL);
    let kept = recorded(&dir.path().join("big.bin.part.meta"));
    assert!(
        kept > 0,
        "the sidecar was saved while the ranges were written"
    );

    let before = server.body_bytes();
    let output = tget(dir.path())
        .args(["-c", "-t", "4", &server.url(&path)])
        .output();
    assert!(output.status.success(), "{}", stderr(&output));
    // Had the sidecar claimed a byte that was not written, it would still be a zero here.
    assert_served(&dir.path().join("big.bin"), "/kill/big.bin", size);
    assert_only_missing_sent(server.body_bytes() - before, size - kept);
}

#[test]
fn a_file_changed_on_the_server_is_downloaded_afresh_never_spliced() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let size = 16 * MIB;
    // Two workers, two requests; every later request gets another version.
    let path = format!(
        "/changed/big.bin?size={size}&rate={}&change_after=2",
        4 * MIB
    );
    let child = tget(dir.path())
        .args(["-q", "-t", "2", &server.url(&path)])
        .spawn();
    wait_until(Duration::from_secs(30), "half the file", || {
        server.body_bytes() >= size / 2
    });
    child.signal(libc::SIGINT);
    assert_interrupted(&child.wait_within(Duration::from_secs(10)));
    settle(&server);
    assert!(recorded(&dir.path().join("big.bin.part.meta")) > 0);

    let output = tget(dir.path())
        .args(["-c", "--json", "-t", "2", &server.url(&path)])
        .output();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stderr(&output).contains("resumed"), "{}", stderr(&output));
    let got = fs::read(dir.path().join("big.bin")).unwrap();
    let changed = body_version("/changed/big.bin", &changed_version(""), size);
    assert!(
        got == changed,
        "the new version whole, not two versions mixed"
    );
    assert_eq!(listing(dir.path()), ["big.bin"]);
}

#[test]
fn split_1_continues_a_shared_part_on_one_worker() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let size = 16 * MIB;
    let path = format!("/one/big.bin?size={size}&rate={}", 4 * MIB);
    stopped_shared_download(&server, dir.path(), &path, size / 2, libc::SIGINT);
    let kept = recorded(&dir.path().join("big.bin.part.meta"));
    let before = server.body_bytes();
    let output = tget(dir.path())
        .args([
            "-c",
            "--split",
            "1",
            "-t",
            "4",
            "--json",
            &server.url(&path),
        ])
        .output();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_served(&dir.path().join("big.bin"), "/one/big.bin", size);
    // One worker cuts nothing, so exactly the missing bytes come.
    assert_eq!(server.body_bytes() - before, size - kept);
    let job = json_job(&json_lines(&output), "/one/big.bin").clone();
    assert_eq!(job["shared_by"], 1, "{job}");
}
