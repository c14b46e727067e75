//! What a run prints: paths on stdout, `--json` lines, the human summary,
//! `-q`, progress bars, escaped error lines, and a stdout that closes early.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;

use predicates::prelude::*;

use crate::support::*;

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
fn the_human_summary_has_a_headline_workers_and_the_busy_split() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let urls: Vec<String> = (0..4)
        .map(|i| server.url(&format!("/h/{i}.bin?size=10&latency=20")))
        .collect();
    let output = tget(dir.path()).args(["-t", "2"]).args(&urls).output();
    assert!(output.status.success());
    let text = stderr(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[1].starts_with("4 files: 40 B in ") && lines[1].contains(" on 2 threads, "),
        "{text}"
    );
    assert!(lines[1].ends_with("x sequential (est.)"), "{text}");
    assert!(
        lines[2].starts_with("worker") && lines[4].starts_with("tget-w01"),
        "{text}"
    );
    assert!(
        lines[5].starts_with("Blocked (network, disk) ")
            && lines[5].ends_with("more threads help."),
        "latency is waiting: {text}"
    );
    assert!(lines[6].starts_with("Sequential estimate: "), "{text}");
    assert!(lines.iter().all(|l| l.chars().count() <= 80), "{text}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
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

#[test]
fn plain_progress_prints_a_line_per_file_and_status_lines_without_escape_codes() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let urls: Vec<String> = (0..4)
        .map(|i| server.url(&format!("/plain/{i}.bin?size=20000&rate=40000")))
        .collect();
    let output = tget(dir.path())
        .args([
            "--progress",
            "plain",
            "--progress-interval",
            "100ms",
            "-t",
            "2",
        ])
        .args(&urls)
        .output();
    assert!(output.status.success());
    let text = stderr(&output);
    assert!(!text.contains('\u{1b}'), "{text:?}");
    for i in 0..4 {
        assert!(
            text.contains(&format!("] saved {i}.bin (19.5 KiB in ")),
            "no line for {i}.bin: {text}"
        );
    }
    assert!(text.contains("tget: [4/4] saved "), "{text}");
    // About a second of transfers, a status line every 100 ms.
    let status = text
        .lines()
        .filter(|l| l.contains(" files, ") && l.contains(" received ("))
        .count();
    assert!(status >= 2, "{text}");
    assert_eq!(stdout_lines(&output).len(), 4, "stdout is unchanged");
}

#[test]
fn print0_ends_each_path_with_a_nul_for_xargs() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let output = tget(dir.path())
        .args(["-0", "-d", "out"])
        .arg(server.url("/nul/with%20space.bin?size=10"))
        .arg(server.url("/nul/b.bin?size=10"))
        .output();
    assert!(output.status.success(), "{}", stderr(&output));
    let mut paths: Vec<&[u8]> = output.stdout.split(|&b| b == 0).collect();
    assert_eq!(paths.pop(), Some(&b""[..]), "every path ends with a NUL");
    paths.sort();
    assert_eq!(paths, [&b"out/b.bin"[..], &b"out/with space.bin"[..]]);
    assert!(!output.stdout.contains(&b'\n'));
}

#[test]
fn print0_and_json_do_not_mix() {
    let dir = tempdir();
    let output = tget(dir.path())
        .args(["-0", "--json", "http://127.0.0.1:9/x"])
        .output();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--print0"), "{}", stderr(&output));
}

#[test]
fn a_bad_progress_interval_is_a_usage_error_naming_the_flag() {
    let dir = tempdir();
    let output = tget(dir.path())
        .args(["--progress-interval", "0", "http://127.0.0.1:9/x"])
        .output();
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.contains("--progress-interval") && text.contains("at least 100ms"),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn short_help_fits_a_screen_and_long_help_has_the_six_headings() {
    let dir = tempdir();
    let short = tget(dir.path()).arg("-h").output();
    assert!(short.status.success());
    let text = String::from_utf8_lossy(&short.stdout).into_owned();
    assert!(text.lines().count() <= 23, "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    assert!(
        text.contains("Examples:") && text.contains("xargs -0"),
        "{text}"
    );

    let long = tget(dir.path()).arg("--help").output();
    let text = String::from_utf8_lossy(&long.stdout).into_owned();
    for heading in [
        "\nInput:\n",
        "\nOutput:\n",
        "\nNetwork:\n",
        "\nRetries and resume:\n",
        "\nDisplay:\n",
        "\nBench:\n",
    ] {
        assert!(text.contains(heading), "{heading:?} missing: {text}");
    }
    assert!(
        !text.contains("\nOptions:\n"),
        "every option has a heading: {text}"
    );
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
}

#[test]
fn completions_and_the_man_page_are_generated() {
    let dir = tempdir();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = tget(dir.path()).args(["completions", shell]).output();
        assert!(output.status.success(), "{shell}: {}", stderr(&output));
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(script.contains("print0"), "{shell}: {script}");
    }
    let man = tget(dir.path()).arg("man").output();
    assert!(man.status.success());
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(
        page.contains(".TH tget 1") && page.contains("print0"),
        "{page}"
    );
}

/// Busy time on the CPU against busy time in all, from the `--json` summary.
fn cpu_share(summary: &serde_json::Value) -> f64 {
    let workers = summary["workers"].as_array().unwrap();
    let sum = |key: &str| -> f64 { workers.iter().map(|w| w[key].as_f64().unwrap()).sum() };
    sum("cpu_ms") / sum("busy_ms")
}

#[test]
fn a_cpu_bound_batch_reports_a_higher_cpu_share_than_a_latency_bound_one() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    // No latency, big bodies, every one hashed: the workers compute.
    let size = 8 * MIB;
    let list: String = (0..4)
        .map(|i| {
            let path = format!("/cpu/{i}.bin");
            let sum = sha256_hex(&body(&path, size));
            format!(
                "{} sha256={sum}\n",
                server.url(&format!("{path}?size={size}"))
            )
        })
        .collect();
    fs::write(dir.path().join("cpu.txt"), list).unwrap();
    let (code, lines, text) = run_json(dir.path(), &["-t", "2", "-i", "cpu.txt", "-d", "cpu"]);
    assert_eq!(code, Some(0), "{text}");
    let computing = cpu_share(lines.last().unwrap());
    // Small files behind a long wait: the workers are blocked.
    let urls: Vec<String> = (0..4)
        .map(|i| server.url(&format!("/lat/{i}.bin?size=1000&latency=200")))
        .collect();
    let mut args = vec!["-t", "2", "-d", "lat"];
    args.extend(urls.iter().map(String::as_str));
    let (code, lines, text) = run_json(dir.path(), &args);
    assert_eq!(code, Some(0), "{text}");
    let waiting = cpu_share(lines.last().unwrap());
    assert!(
        computing > 2.0 * waiting && computing > 0.05,
        "on the CPU: {computing:.3} hashing against {waiting:.3} waiting"
    );
}
