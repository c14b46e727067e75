use std::fs;
use std::path::Path;

use assert_cmd::Command;
use tempfile::TempDir;

pub use tget::server::{Server, body};

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
