//! One big file shared by idle workers through range requests.

use crate::support::*;

#[test]
fn a_big_file_is_shared_by_idle_workers_and_arrives_byte_exact() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    // Paced at 8 MiB/s per connection, so one connection alone would need a second.
    let url = server.url(&format!("/split/big.bin?size={}&rate={}", 8 * MIB, 8 * MIB));
    let output = tget(dir.path())
        .args(["--json", "-t", "4", "--split-min", "512KiB", &url])
        .output();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_served(&dir.path().join("big.bin"), "/split/big.bin", 8 * MIB);
    assert_eq!(listing(dir.path()), ["big.bin"]);
    let summary = json_lines(&output).pop().unwrap();
    let busy_workers = summary["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["bytes"].as_u64() > Some(0))
        .count();
    assert_eq!(busy_workers, 4, "{summary}");
    let requests = server.headers_for("/split/big.bin");
    // One full request, then at least one range per helper (a helper that
    // finishes early may take a further range).
    assert!(requests.len() >= 4, "{} requests", requests.len());
    assert_eq!(
        requests
            .iter()
            .filter(|r| header(r, "Range").is_none())
            .count(),
        1
    );
    for range_request in &requests[1..] {
        assert!(header(range_request, "Range").is_some_and(|r| r.starts_with("bytes=")));
        assert!(
            header(range_request, "If-Range").is_some_and(|v| v.starts_with('"')),
            "ranges are tied to the ETag"
        );
    }
}

#[test]
fn a_lone_file_is_cut_into_equal_ranges_for_the_whole_pool() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    // 1 MiB ranges are the smallest allowed by default, so nothing is cut further.
    let url = server.url(&format!("/equal/big.bin?size={}&rate={}", 4 * MIB, 4 * MIB));
    let output = tget(dir.path()).args(["--json", "-t", "4", &url]).output();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_served(&dir.path().join("big.bin"), "/equal/big.bin", 4 * MIB);
    let summary = json_lines(&output).pop().unwrap();
    let shares: Vec<u64> = summary["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(shares, [MIB; 4]);
    let job = json_job(&json_lines(&output), "/equal/big.bin").clone();
    assert_eq!(job["shared_by"], 4, "{job}");
}

#[test]
fn split_1_keeps_one_connection_per_file() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let url = server.url(&format!("/nosplit/big.bin?size={}", 4 * MIB));
    tget(dir.path())
        .args(["-t", "4", "--split", "1", "--split-min", "64KiB", &url])
        .assert()
        .success();
    assert_served(&dir.path().join("big.bin"), "/nosplit/big.bin", 4 * MIB);
    assert_eq!(server.hits("/nosplit/big.bin"), 1);
}

#[test]
fn small_files_are_never_split() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let url = server.url("/small/a.bin?size=1000000");
    tget(dir.path()).args(["-t", "8", &url]).assert().success();
    assert_eq!(
        server.hits("/small/a.bin"),
        1,
        "under twice --split-min (1 MiB)"
    );
}

#[test]
fn a_failed_piece_is_retried_on_its_own() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let url = server.url(&format!(
        "/flaky/big.bin?size={}&rate={}&fail_ranges=2",
        4 * MIB,
        8 * MIB
    ));
    tget(dir.path())
        .args([
            "-t",
            "4",
            "--split-min",
            "256KiB",
            "--retry-delay",
            "10ms",
            &url,
        ])
        .assert()
        .success();
    assert_served(&dir.path().join("big.bin"), "/flaky/big.bin", 4 * MIB);
    let requests = server.headers_for("/flaky/big.bin");
    assert_eq!(
        requests
            .iter()
            .filter(|r| header(r, "Range").is_none())
            .count(),
        1,
        "the whole file was never restarted"
    );
}

#[test]
fn a_shared_file_is_checked_against_its_sha256() {
    let server = Server::start().unwrap();
    let path = "/sum/big.bin";
    let size = 2 * MIB;
    let url = server.url(&format!("{path}?size={size}&rate={}", 4 * MIB));
    let good = {
        use sha2::Digest;
        tget::engine::fetch::hex(&sha2::Sha256::digest(body(path, size)))
    };
    let dir = tempdir();
    tget(dir.path())
        .args(["-t", "4", "--split-min", "128KiB", "--sha256", &good, &url])
        .assert()
        .success();
    assert_served(&dir.path().join("big.bin"), path, size);

    let dir = tempdir();
    tget(dir.path())
        .args([
            "-t",
            "4",
            "--split-min",
            "128KiB",
            "--sha256",
            &"0".repeat(64),
            &url,
        ])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("sha256 mismatch"));
    assert!(
        listing(dir.path()).is_empty(),
        "no file under the final name, no .part"
    );
}

#[test]
fn a_stale_sidecar_never_makes_a_shared_part_resumable() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let size = 4 * MIB;
    // Every range request fails at first, so the job is retried after sharing started.
    let url = server.url(&format!(
        "/stale/big.bin?size={size}&rate={}&fail_ranges=4",
        4 * MIB
    ));
    let etag = ureq::get(&url).call().unwrap().headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();
    let planted = tget::engine::part::Meta {
        url: url.clone(),
        etag: Some(etag),
        length: Some(size),
        ..Default::default()
    };
    let out = tget::engine::outdir::Dir::open(dir.path()).unwrap();
    tget::engine::part::PartFiles::new(&out, "big.bin")
        .write_meta(&planted)
        .unwrap();
    tget(dir.path())
        .args([
            "-t",
            "2",
            "--split-min",
            "1MiB",
            "--retry-delay",
            "10ms",
            &url,
        ])
        .assert()
        .success();
    assert_served(&dir.path().join("big.bin"), "/stale/big.bin", size);
    assert_eq!(listing(dir.path()), ["big.bin"]);
}

#[test]
fn ranges_that_come_back_wrong_fall_back_to_one_stream() {
    for fault in ["ignore_range=1", "bad_range=1"] {
        let server = Server::start().unwrap();
        let dir = tempdir();
        let url = server.url(&format!("/wrong/big.bin?size={}&{fault}", 4 * MIB));
        let output = tget(dir.path())
            .args(["--json", "-t", "4", "--retry-delay", "10ms", &url])
            .output();
        assert!(output.status.success(), "{fault}: {}", stderr(&output));
        assert_served(&dir.path().join("big.bin"), "/wrong/big.bin", 4 * MIB);
        let job = &json_lines(&output)[0];
        assert_eq!(
            job["attempts"], 2,
            "{fault}: one shared attempt, then one stream"
        );
        assert_eq!(job["shared_by"], 1, "{fault}: the stream was one worker's");
    }
}

#[test]
fn a_shared_file_starts_no_more_workers_than_it_has_ranges() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let url = server.url(&format!("/two/big.bin?size={}", 2 * MIB));
    let output = tget(dir.path()).args(["--json", "-t", "64", &url]).output();
    assert!(output.status.success());
    assert_eq!(
        json_lines(&output).pop().unwrap()["workers_started"],
        2,
        "2 MiB is two 1 MiB ranges"
    );
}
