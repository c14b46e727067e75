//! Ctrl-C and SIGTERM: the first stops the run cleanly (parts kept for `-c`,
//! shared ones too, a partial summary, a bench's table so far);
//! a second exits at once. Every run ends by the signal it got, which
//! `assert_killed_by` checks.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Duration;

use crate::support::*;

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
        text.contains("interrupted; big.bin.part kept, a re-run continues it"),
        "{text}"
    );
    assert!(
        text.contains("Interrupted after") && text.contains(": 1 saved, 1 failed; "),
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
    assert_killed_by(&output, libc::SIGTERM);
    assert!(fs::metadata(dir.path().join("big.bin.part")).unwrap().len() > 0);
    assert!(dir.path().join("big.bin.part.meta").exists());
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
        line.contains("interrupted; big.bin.part kept, a re-run continues it"),
        "{line}"
    );
    assert!(child.is_running(), "still waiting for the list");
    child.signal(libc::SIGINT);
    let output = child.wait_within(Duration::from_secs(5));
    assert_interrupted(&output);
    drop(list);
    assert!(part.exists());
}

#[test]
fn an_interrupted_shared_file_stops_at_once_and_keeps_its_part() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    // Four ranges of 2 MiB at 1 MiB/s each: two seconds of work if nothing stops it.
    let url = server.url(&format!("/int/big.bin?size={}&rate={}", 8 * MIB, MIB));
    let child = tget(dir.path()).args(["-t", "4", &url]).spawn();
    let part = dir.path().join("big.bin.part");
    // The part is allocated to its full length when the file is shared.
    wait_until(
        std::time::Duration::from_secs(10),
        "the shared part",
        || std::fs::metadata(&part).is_ok_and(|m| m.len() == 8 * MIB),
    );
    child.signal(libc::SIGINT);
    let output = child.wait_within(std::time::Duration::from_secs(5));
    assert_interrupted(&output);
    // Kept for -c, with a sidecar saying which ranges are on disk.
    assert_eq!(listing(dir.path()), ["big.bin.part", "big.bin.part.meta"]);
    let meta = std::fs::read_to_string(dir.path().join("big.bin.part.meta")).unwrap();
    assert!(meta.lines().any(|l| l.starts_with("done ")), "{meta}");
    assert!(
        stderr(&output).contains("interrupted; big.bin.part kept, a re-run continues it"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn ctrl_c_stops_between_runs_and_reports_what_it_has() {
    let (dir, tmp) = (tempdir(), tempdir());
    let mut child = tget(dir.path())
        .env("TMPDIR", tmp.path())
        .args([
            "bench",
            "--files",
            "2",
            "--latency",
            "20ms",
            "--size",
            "10",
            "--threads",
            "2",
            "--rounds",
            "1000",
        ])
        .spawn();
    // The progress labels say when the second round has started.
    let mut progress = BufReader::new(child.stderr());
    let mut line = String::new();
    while !line.contains("round 2/1000") {
        line.clear();
        assert!(progress.read_line(&mut line).unwrap() > 0, "stderr closed");
    }
    child.signal(libc::SIGINT);
    let output = child.wait();
    assert_interrupted(&output);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("Interrupted after"), "{text}");
    assert_eq!(listing(tmp.path()), Vec::<String>::new());
}

#[test]
fn a_shell_loop_around_tget_stops_at_the_first_ctrl_c() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    // Past one 256 KiB buffer, so the part has bytes on disk when it stalls.
    let url = server.url("/loop/big.bin?size=500000&stall_after=300000");
    // Each pass would stall until killed; Ctrl-C must end the loop, not the pass.
    let script = format!(
        "for pass in 1 2 3; do \"$TGET\" -q --overwrite '{url}'; echo \"after pass $pass\"; done"
    );
    let child = tget_in_shell(dir.path(), &script).spawn();
    let part = dir.path().join("big.bin.part");
    wait_until(Duration::from_secs(10), "the first pass to stall", || {
        fs::metadata(&part).is_ok_and(|m| m.len() > 0)
    });
    // As a terminal does: the signal goes to the whole foreground job.
    child.signal(libc::SIGINT);
    let output = child.wait_within(Duration::from_secs(10));
    assert_interrupted(&output);
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("after pass"),
        "the loop went on: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(part.exists(), "the part is kept for the next run");
}

#[test]
fn a_run_with_failures_and_a_ctrl_c_ends_as_interrupted() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let child = tget(dir.path())
        .args([
            "-t",
            "2",
            &server.url("/mixed/gone.bin?status=404"),
            &server.url("/mixed/ok.bin?size=10"),
            &server.url("/mixed/big.bin?size=500000&stall_after=300000"),
        ])
        .spawn();
    let part = dir.path().join("big.bin.part");
    wait_until(
        Duration::from_secs(10),
        "the 404, the ok file and the stall",
        || dir.path().join("ok.bin").exists() && fs::metadata(&part).is_ok_and(|m| m.len() > 0),
    );
    child.signal(libc::SIGINT);
    let output = child.wait_within(Duration::from_secs(10));
    // Interrupted beats failed, which beats ok.
    assert_interrupted(&output);
    assert!(stderr(&output).contains("HTTP 404"), "{}", stderr(&output));
}
