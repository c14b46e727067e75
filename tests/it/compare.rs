//! `--compare`: the same batch timed again on one thread, after the real run.

use predicates::prelude::*;

use crate::support::*;

#[test]
fn compare_measures_a_sequential_run_and_cleans_up() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let urls: Vec<String> = (0..6)
        .map(|i| server.url(&format!("/cmp/{i}.bin?size=100&latency=40")))
        .collect();
    let output = tget(dir.path())
        .args(["--compare", "--json", "-t", "16", "-d", "out"])
        .args(&urls)
        .output();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("Measured against a sequential run"), "{text}");
    let summary = json_lines(&output).pop().unwrap();
    let rows = summary["comparison"].as_array().expect("comparison rows");
    assert_eq!(
        rows.iter()
            .map(|r| r["threads"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 6],
        "six jobs ran on six threads, whatever -t allowed"
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
        .stderr(predicate::str::contains("Measured against").not());
    assert_eq!(
        server.hits("/again/0.bin"),
        2,
        "present files are not fetched for the comparison"
    );
}
