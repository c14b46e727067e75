//! The command line itself: help, exit codes, usage errors (exit code 2).

use predicates::prelude::*;

use crate::support::*;

#[test]
fn help_documents_the_exit_codes() {
    let dir = tempdir();
    tget(dir.path())
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes:"))
        .stdout(predicate::str::contains("130"));
}

#[test]
fn zero_threads_is_a_usage_error() {
    let dir = tempdir();
    tget(dir.path())
        .args(["-t", "0", "http://127.0.0.1:9/"])
        .assert()
        .code(2);
}

#[test]
fn an_empty_list_is_not_an_error() {
    let dir = tempdir();
    tget(dir.path())
        .write_stdin("# nothing here\n\n")
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains(
            "Nothing to download: the input held no URLs.",
        ));
}

#[test]
fn sha256_flag_needs_one_url() {
    let dir = tempdir();
    tget(dir.path())
        .args([
            "--sha256",
            &"0".repeat(64),
            "http://127.0.0.1:9/a",
            "http://127.0.0.1:9/b",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--sha256 needs exactly one URL"));
}

#[test]
fn a_missing_list_file_is_a_usage_error() {
    let dir = tempdir();
    tget(dir.path())
        .args(["-d", "new", "-i", "nope.txt"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read URL list nope.txt"))
        .stderr(predicate::str::contains("panicked").not());
    assert!(listing(dir.path()).is_empty(), "no output directory made");
}

#[test]
fn a_bad_header_is_a_usage_error_naming_it() {
    let dir = tempdir();
    tget(dir.path())
        .args(["-H", "NoColonHere", "http://127.0.0.1:9/x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("header `NoColonHere`"));
}

#[test]
fn a_bad_shard_is_a_usage_error() {
    let dir = tempdir();
    tget(dir.path())
        .args(["--shard", "3/3", "http://127.0.0.1:9/x"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--shard `3/3`"));
}
