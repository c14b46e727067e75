use std::fs;
use std::path::Path;

use assert_cmd::Command;
use tempfile::TempDir;

pub use testserver::{Server, body, body_version, changed_version, etag};

/// The real binary, isolated from the caller's environment.
pub fn tget(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("tget").expect("the tget binary is built");
    cmd.current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .env_remove("TGET_THREADS")
        .env("TERM", "dumb");
    for proxy in [
        "ALL_PROXY",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "all_proxy",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    ] {
        cmd.env_remove(proxy);
    }
    cmd
}

pub fn tempdir() -> TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// A fixture from `fixtures/` with `{BASE}` replaced by the server's address.
pub fn fixture(name: &str, server: &Server) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.replace("{BASE}", &server.url(""))
}

/// Every file name in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("readable directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Asserts `file` holds exactly what the server sends for `path` at `size`.
pub fn assert_served(file: &Path, path: &str, size: u64) {
    let got = fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert_eq!(
        got.len() as u64,
        size,
        "{} has the wrong length",
        file.display()
    );
    assert!(
        got == body(path, size),
        "{} differs from {path}",
        file.display()
    );
}

pub fn stdout_lines(output: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

pub fn json_lines(output: &std::process::Output) -> Vec<serde_json::Value> {
    stdout_lines(output)
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}")))
        .collect()
}

pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The job object for the URL containing `needle` in `--json` output.
pub fn json_job<'a>(lines: &'a [serde_json::Value], needle: &str) -> &'a serde_json::Value {
    lines
        .iter()
        .find(|l| l["type"] == "job" && l["url"].as_str().is_some_and(|u| u.contains(needle)))
        .unwrap_or_else(|| panic!("no job for {needle} in {lines:?}"))
}

/// One request header's value, as the server saw it.
pub fn header<'a>(request: &'a [(String, String)], name: &str) -> Option<&'a str> {
    request
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Percent-encodes a query value for the test server (which decodes it).
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The real binary as a child process, for tests that signal it.
pub fn spawn_tget(dir: &Path, args: &[String]) -> std::process::Child {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("tget"));
    cmd.current_dir(dir)
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .env("TERM", "dumb")
        .env_remove("TGET_THREADS")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for proxy in [
        "ALL_PROXY",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "all_proxy",
        "http_proxy",
        "https_proxy",
    ] {
        cmd.env_remove(proxy);
    }
    cmd.spawn().expect("tget starts")
}

/// Polls `ready` until it holds, failing the test after `limit`.
pub fn wait_until(limit: std::time::Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Waits for a child to exit, killing it (and failing) after `limit`.
pub fn wait_for_exit(
    mut child: std::process::Child,
    limit: std::time::Duration,
) -> std::process::Output {
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().expect("waitable child").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("killed child");
            panic!("tget did not exit in {limit:?}: {}", stderr(&output));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.wait_with_output().expect("exited child")
}

/// Sends `signal` (e.g. `libc::SIGINT`) to a child.
pub fn send_signal(child: &std::process::Child, signal: i32) {
    let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
    // SAFETY: kill(2) with a pid we own and a valid signal number.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill failed");
}
