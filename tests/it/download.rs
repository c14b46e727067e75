//! Downloading batches: content, inputs, names, stdout, timing.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;

use predicates::prelude::*;

use crate::support::*;

#[test]
fn a_batch_of_many_files_arrives_byte_exact() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    // Sizes straddle the chunk size and include an empty file.
    let sizes: Vec<u64> = (0..40)
        .map(|i| [0, 1, 4095, 65536, 262_145, 700_001][i % 6] + i as u64)
        .collect();
    let urls: Vec<String> = sizes
        .iter()
        .enumerate()
        .map(|(i, s)| server.url(&format!("/batch/f{i:02}.bin?size={s}")))
        .collect();
    let output = tget(dir.path())
        .args(["-t", "8", "-d", "out"])
        .args(&urls)
        .output();
    assert!(output.status.success(), "{}", stderr(&output));
    for (i, size) in sizes.iter().enumerate() {
        assert_served(
            &dir.path().join(format!("out/f{i:02}.bin")),
            &format!("/batch/f{i:02}.bin"),
            *size,
        );
    }
    assert_eq!(
        listing(&dir.path().join("out")).len(),
        40,
        "no .part or extra files"
    );
    let mut printed = stdout_lines(&output);
    printed.sort();
    let expected: Vec<String> = (0..40).map(|i| format!("out/f{i:02}.bin")).collect();
    assert_eq!(printed, expected);
}

#[test]
fn a_list_file_with_comments_options_and_collisions() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    fs::write(dir.path().join("urls.txt"), fixture("urls.txt", &server)).unwrap();
    tget(dir.path())
        .args(["-i", "urls.txt", "-d", "dl"])
        .assert()
        .success();
    let expected = fixture("urls.expected", &server);
    for line in expected.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_served(
            &dir.path().join("dl").join(fields[0]),
            fields[1],
            fields[2].parse().unwrap(),
        );
    }
    assert_eq!(
        listing(&dir.path().join("dl")).len(),
        expected.lines().count()
    );
}

#[test]
fn collisions_are_named_in_list_order_whatever_finishes_first() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    // The first job is the slowest, so it finishes last but still keeps the plain name.
    let urls = [
        server.url("/a/x.txt?size=11&latency=300"),
        server.url("/b/x.txt?size=22"),
        server.url("/c/x.txt?size=33"),
    ];
    tget(dir.path())
        .args(["-t", "3"])
        .args(&urls)
        .assert()
        .success();
    assert_served(&dir.path().join("x.txt"), "/a/x.txt", 11);
    assert_served(&dir.path().join("x-1.txt"), "/b/x.txt", 22);
    assert_served(&dir.path().join("x-2.txt"), "/c/x.txt", 33);
}

#[test]
fn urls_from_stdin_with_dash_and_from_a_pipe() {
    let server = Server::start().unwrap();
    let list = format!(
        "{}\n# comment\n{}\n",
        server.url("/s/one.bin?size=5"),
        server.url("/s/two.bin?size=6")
    );
    for args in [&["-i", "-"][..], &[][..]] {
        let dir = tempdir();
        tget(dir.path())
            .args(args)
            .write_stdin(list.clone())
            .assert()
            .success();
        assert_served(&dir.path().join("one.bin"), "/s/one.bin", 5);
        assert_served(&dir.path().join("two.bin"), "/s/two.bin", 6);
    }
}

#[test]
fn repeated_lists_and_arguments_all_count() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    fs::write(dir.path().join("a.txt"), server.url("/l/a.bin?size=3")).unwrap();
    fs::write(dir.path().join("b.txt"), server.url("/l/b.bin?size=4")).unwrap();
    tget(dir.path())
        .args(["-i", "a.txt", "-i", "b.txt", &server.url("/l/c.bin?size=5")])
        .assert()
        .success();
    assert_eq!(
        listing(dir.path()),
        ["a.bin", "a.txt", "b.bin", "b.txt", "c.bin"]
    );
}

#[test]
fn existing_files_are_skipped_unless_overwrite() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    fs::write(dir.path().join("keep.bin"), "mine").unwrap();
    let url = server.url("/e/keep.bin?size=50");
    let output = tget(dir.path()).arg(&url).arg("--json").output();
    assert!(output.status.success());
    assert_eq!(
        fs::read_to_string(dir.path().join("keep.bin")).unwrap(),
        "mine"
    );
    assert_eq!(json_lines(&output)[0]["status"], "skipped");
    assert_eq!(
        server.hits("/e/keep.bin"),
        0,
        "a skipped file costs no request"
    );
    tget(dir.path())
        .arg(&url)
        .assert()
        .success()
        .stderr(predicate::str::contains("0 ok, 1 skipped"))
        .stderr(predicate::str::contains("Waiting for servers").not());

    tget(dir.path())
        .arg(&url)
        .arg("--overwrite")
        .assert()
        .success()
        .stdout("keep.bin\n");
    assert_served(&dir.path().join("keep.bin"), "/e/keep.bin", 50);
}

#[test]
fn json_lines_describe_every_job_and_the_run() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let output = tget(dir.path())
        .args(["--json", "-t", "4", "--retries", "0"])
        .args([
            server.url("/j/ok.bin?size=1000"),
            server.url("/j/gone.bin?status=404"),
        ])
        .output();
    assert_eq!(output.status.code(), Some(1));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 3);
    let job = |name: &str| {
        lines
            .iter()
            .find(|l| l["url"].as_str().unwrap().contains(name))
            .unwrap()
    };
    let ok = job("ok.bin");
    assert_eq!(
        (ok["type"].as_str(), ok["status"].as_str()),
        (Some("job"), Some("ok"))
    );
    assert_eq!(
        (ok["bytes"].as_u64(), ok["http_status"].as_u64()),
        (Some(1000), Some(200))
    );
    assert_eq!(ok["path"], "ok.bin");
    assert!(ok["worker"].as_str().unwrap().starts_with("tget-w"));
    assert!(ok["elapsed_ms"].as_f64().unwrap() > 0.0);
    assert!(ok["error"].is_null());
    let gone = job("gone.bin");
    assert_eq!(
        (gone["status"].as_str(), gone["http_status"].as_u64()),
        (Some("failed"), Some(404))
    );
    assert_eq!(gone["error"], "HTTP 404");
    let summary = &lines[2];
    assert_eq!(summary["type"], "summary");
    assert_eq!(
        (summary["ok"].as_u64(), summary["failed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        summary["workers_started"], 2,
        "never more workers than jobs"
    );
    assert_eq!(summary["workers"].as_array().unwrap().len(), 2);
    assert!(summary["sequential_estimate_ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn workers_are_named_threads_and_their_stats_add_up() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let urls: Vec<String> = (0..12)
        .map(|i| server.url(&format!("/w/{i}.bin?size=1000&latency=20")))
        .collect();
    let output = tget(dir.path())
        .args(["--json", "-t", "3"])
        .args(&urls)
        .output();
    let lines = json_lines(&output);
    let summary = lines.last().unwrap();
    let workers = summary["workers"].as_array().unwrap();
    let names: Vec<&str> = workers
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["tget-w00", "tget-w01", "tget-w02"]);
    let files: u64 = workers.iter().map(|w| w["files"].as_u64().unwrap()).sum();
    let bytes: u64 = workers.iter().map(|w| w["bytes"].as_u64().unwrap()).sum();
    assert_eq!((files, bytes), (12, 12_000));
    for job in &lines[..12] {
        assert!(names.contains(&job["worker"].as_str().unwrap()));
    }
}

#[test]
fn waiting_for_a_response_is_told_apart_from_moving_its_bytes() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let output = tget(dir.path())
        .args(["--json", "-t", "1"])
        .arg(server.url("/wait/slow-answer.bin?size=1000&latency=150"))
        .arg(server.url("/wait/slow-body.bin?size=300000&rate=1000000"))
        .output();
    let lines = json_lines(&output);
    let waiting = |needle| {
        let job = json_job(&lines, needle);
        let waiting = job["waiting_ms"].as_f64().unwrap();
        assert!(waiting <= job["elapsed_ms"].as_f64().unwrap(), "{job}");
        waiting / job["elapsed_ms"].as_f64().unwrap()
    };
    assert!(waiting("slow-answer") > 0.9, "the latency is all waiting");
    assert!(waiting("slow-body") < 0.5, "a slow body is not waiting");
    let worker = &lines.last().unwrap()["workers"][0];
    let (waiting, busy) = (worker["waiting_ms"].as_f64(), worker["busy_ms"].as_f64());
    assert!(waiting >= Some(150.0) && waiting <= busy, "{worker}");
}

#[test]
fn the_human_summary_has_workers_and_the_sequential_estimate() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let urls: Vec<String> = (0..4)
        .map(|i| server.url(&format!("/h/{i}.bin?size=10")))
        .collect();
    tget(dir.path())
        .args(["-t", "2"])
        .args(&urls)
        .assert()
        .success()
        .stderr(predicate::str::contains("4 ok, 0 skipped, 0 failed"))
        .stderr(predicate::str::contains("tget-w01"))
        .stderr(predicate::str::contains("waiting"))
        .stderr(predicate::str::contains("Waiting for servers took"))
        .stderr(predicate::str::contains(
            "Sequential estimate (sum of per-file times, not measured)",
        ))
        .stderr(predicate::str::contains("\u{1b}[").not());
}

#[test]
fn quiet_prints_only_errors() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let output = tget(dir.path())
        .args([
            "-q",
            "--retries",
            "0",
            &server.url("/q/a.bin"),
            &server.url("/q/b.bin?status=500"),
        ])
        .output();
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("/q/b.bin?status=500: HTTP 500"), "{text}");
    assert_eq!(stdout_lines(&output), ["a.bin"]);
}

#[test]
fn forced_progress_draws_named_worker_bars() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let urls: Vec<String> = (0..4)
        .map(|i| server.url(&format!("/p/{i}.bin?size=300000&latency=150")))
        .collect();
    tget(dir.path())
        .args(["--progress", "always", "-t", "2"])
        .args(&urls)
        .assert()
        .success()
        .stderr(predicate::str::contains("tget-w00"))
        .stderr(predicate::str::contains("total"));
}

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
fn headers_and_user_agent_are_sent() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    tget(dir.path())
        .args(["-H", "X-Token: s3cret", &server.url("/hd/a.bin")])
        .assert()
        .success();
    tget(dir.path())
        .args(["-A", "robot/1", "--overwrite", &server.url("/hd/a.bin")])
        .assert()
        .success();
    let seen = server.headers_for("/hd/a.bin");
    assert_eq!(header(&seen[0], "X-Token"), Some("s3cret"));
    assert_eq!(
        header(&seen[0], "User-Agent"),
        Some(format!("tget/{}", env!("CARGO_PKG_VERSION")).as_str())
    );
    assert_eq!(header(&seen[1], "User-Agent"), Some("robot/1"));
    assert_eq!(
        header(&seen[0], "Accept-Encoding"),
        None,
        "bytes must arrive as served"
    );
}

#[test]
fn compare_measures_a_sequential_run_and_cleans_up() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let urls: Vec<String> = (0..6)
        .map(|i| server.url(&format!("/cmp/{i}.bin?size=100&latency=40")))
        .collect();
    let output = tget(dir.path())
        .args(["--compare", "--json", "-t", "3", "-d", "out"])
        .args(&urls)
        .output();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("Measured comparison"), "{text}");
    let summary = json_lines(&output).pop().unwrap();
    let rows = summary["comparison"].as_array().expect("comparison rows");
    assert_eq!(
        rows.iter()
            .map(|r| r["threads"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 3]
    );
    assert!(rows.iter().all(|r| r["median_s"].as_f64().unwrap() > 0.0));
    assert_eq!(server.hits("/cmp/0.bin"), 2, "the batch ran twice");
    assert_eq!(
        listing(&dir.path().join("out")).len(),
        6,
        "the scratch directory is gone"
    );
}

#[test]
fn compare_times_only_what_was_downloaded() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let urls: Vec<String> = (0..3)
        .map(|i| server.url(&format!("/again/{i}.bin?size=10")))
        .collect();
    tget(dir.path())
        .args(["--compare", "-d", "new/dir"])
        .args(&urls)
        .assert()
        .success();
    assert_eq!(server.hits("/again/0.bin"), 2);
    tget(dir.path())
        .args(["--compare", "-d", "new/dir"])
        .args(&urls)
        .assert()
        .success()
        .stderr(predicate::str::contains("nothing to time"))
        .stderr(predicate::str::contains("Measured comparison").not());
    assert_eq!(
        server.hits("/again/0.bin"),
        2,
        "present files are not fetched for the comparison"
    );
}

#[test]
fn eight_threads_beat_one_on_a_latency_bound_batch() {
    let server = Server::start().unwrap();
    let urls: Vec<String> = (0..24)
        .map(|i| server.url(&format!("/lat/{i}.bin?size=2000&latency=60")))
        .collect();
    let wall = |threads: &str| {
        let dir = tempdir();
        let output = tget(dir.path())
            .args(["--json", "-t", threads])
            .args(&urls)
            .output();
        assert!(output.status.success());
        json_lines(&output).pop().unwrap()["wall_ms"]
            .as_f64()
            .unwrap()
    };
    let (one, eight) = (wall("1"), wall("8"));
    // Ideal ratio is 8 (24 x 60 ms vs 3 x 60 ms); ask for well under half of it.
    assert!(
        one / eight > 3.0,
        "1 thread: {one} ms, 8 threads: {eight} ms"
    );
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let urls: Vec<String> = (0..20)
        .map(|i| server.url(&format!("/pipe/{i}.bin?size=10&latency=10")))
        .collect();
    let mut args = vec!["-t".to_string(), "2".to_string()];
    args.extend(urls);
    let output = run_with_stdout_closed(dir.path(), &args);
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    assert!(
        !text.contains("panicked") && !text.contains("Broken pipe"),
        "{text}"
    );
}

#[test]
fn a_closed_stdout_never_reports_lines_it_did_not_reach() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let mut list: Vec<String> = (0..10)
        .map(|i| server.url(&format!("/ahead/{i}.bin?size=10&latency=50")))
        .collect();
    list.push("ftp://127.0.0.1/never-reached.bin".into());
    fs::write(dir.path().join("list.txt"), list.join("\n")).unwrap();
    let output = run_with_stdout_closed(dir.path(), &["-t", "2", "-i", "list.txt"]);
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    assert!(!text.contains("never-reached"), "{text}");
    assert_eq!(
        server.hits("/ahead/9.bin"),
        0,
        "no job starts after stdout closed"
    );
}

/// Runs tget with a reader that goes away at once, as `tget ... | head -0` would.
fn run_with_stdout_closed(dir: &Path, args: &[impl AsRef<OsStr>]) -> std::process::Output {
    let mut child = tget(dir).args(args).env("RUST_BACKTRACE", "1").spawn();
    child.close_stdout();
    child.wait()
}
