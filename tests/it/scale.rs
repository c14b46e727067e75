//! Scale: connection reuse, sharding, lists streamed from a pipe.

use std::collections::BTreeSet;
use std::fs;

use crate::support::*;

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

#[test]
fn a_bad_shard_is_a_usage_error() {
    let dir = tempdir();
    tget(dir.path())
        .args(["--shard", "3/3", "http://127.0.0.1:9/x"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--shard `3/3`"));
}
