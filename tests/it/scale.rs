//! Scale: threads beat one on a latency-bound batch, each worker reuses one
//! connection, and shards split a list.

use std::collections::BTreeSet;
use std::fs;

use crate::support::*;

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
fn each_worker_reuses_one_connection() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let list: String = (0..300)
        .map(|i| server.url(&format!("/reuse/{i}.bin?size=4096\n")))
        .collect();
    fs::write(dir.path().join("list.txt"), list).unwrap();
    tget(dir.path())
        .args(["-q", "-t", "16", "-i", "list.txt", "-d", "out"])
        .assert()
        .success();
    assert_eq!(server.requests(), 300);
    assert!(
        server.connections() <= 16,
        "{} connections for 16 workers",
        server.connections()
    );
    assert_eq!(listing(&dir.path().join("out")).len(), 300);
}

#[test]
fn shards_are_disjoint_and_together_cover_the_list() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let list: String = (0..60)
        .map(|i| server.url(&format!("/shard/{i}.bin?size=10\n")))
        .collect();
    fs::write(dir.path().join("list.txt"), list).unwrap();
    let mut seen = BTreeSet::new();
    for index in 0..3 {
        let out = format!("shard{index}");
        let output = tget(dir.path())
            .args([
                "-q",
                "-i",
                "list.txt",
                "--shard",
                &format!("{index}/3"),
                "-d",
                &out,
            ])
            .output();
        assert!(output.status.success());
        let names = listing(&dir.path().join(&out));
        assert!(
            names.len() > 5,
            "shard {index} got only {} of 60",
            names.len()
        );
        for name in names {
            assert!(seen.insert(name.clone()), "{name} is in two shards");
        }
    }
    let all: BTreeSet<String> = (0..60).map(|i| format!("{i}.bin")).collect();
    assert_eq!(seen, all);
    assert_eq!(
        server.requests(),
        60,
        "every URL fetched exactly once across shards"
    );
}
