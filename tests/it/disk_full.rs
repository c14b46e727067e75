//! A write error every job would hit (a full disk, a quota, a file size
//! limit) stops the batch: that job fails naming its file and keeps its part
//! for `-c`, no new job starts, the summary says why, and the exit code is 1.
//! Tested without root: RLIMIT_FSIZE turns writes past it into EFBIG.

use std::fs;

use crate::support::*;

const MIB: u64 = 1 << 20;

#[test]
fn a_full_disk_stops_the_batch_with_one_reason_and_keeps_the_part() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let urls: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|n| server.url(&format!("/full/{n}.bin?size={}", 3 * MIB)))
        .collect();
    fs::write(dir.path().join("list.txt"), urls.join("\n")).unwrap();
    let output = tget(dir.path())
        .file_size_limit(2 * MIB)
        .args(["-t", "1", "--split", "1", "-i", "list.txt"])
        .args(["--save-failed", "failed.txt"])
        .output();
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains("cannot write a.bin.part: File too large"),
        "{text}"
    );
    assert_eq!(
        text.matches("stopped starting jobs: cannot write a.bin.part")
            .count(),
        1,
        "{text}"
    );
    assert_eq!(server.requests(), 1, "no job starts after the disk is full");
    assert_eq!(
        (server.hits("/full/b.bin"), server.hits("/full/c.bin")),
        (0, 0)
    );
    assert_eq!(
        fs::metadata(dir.path().join("a.bin.part")).unwrap().len(),
        2 * MIB
    );
    assert!(
        dir.path().join("a.bin.part.meta").exists(),
        "kept for the next run"
    );
    let saved = fs::read_to_string(dir.path().join("failed.txt")).unwrap();
    assert_eq!(
        saved.lines().filter(|l| !l.starts_with('#')).count(),
        3,
        "{saved}"
    );

    // With room again, -c finishes the part and fetches the others.
    settle(&server);
    let before = server.body_bytes();
    // One stream per file, so the server's count is exactly what was missing.
    let output = tget(dir.path())
        .args(["-c", "--split", "1", "-i", "failed.txt"])
        .output();
    assert!(output.status.success(), "{}", stderr(&output));
    for name in ["a", "b", "c"] {
        assert_served(
            &dir.path().join(format!("{name}.bin")),
            &format!("/full/{name}.bin"),
            3 * MIB,
        );
    }
    assert_eq!(
        server.body_bytes() - before,
        7 * MIB,
        "a.bin's first 2 MiB were kept"
    );
}

#[test]
fn a_shared_file_past_the_limit_stops_the_batch_too() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let big = server.url(&format!("/alloc/a.bin?size={}", 8 * MIB));
    let output = tget(dir.path())
        .file_size_limit(4 * MIB)
        .args(["-t", "4", &big])
        .output();
    assert_eq!(output.status.code(), Some(1));
    // A shared part is allocated to its length before any range is fetched,
    // and the limit refuses that first.
    let text = stderr(&output);
    assert!(
        text.contains("stopped starting jobs: cannot allocate a.bin.part: File too large"),
        "{text}"
    );
    assert_eq!(server.hits("/alloc/a.bin"), 1, "no range was asked for");
}
