//! Downloading batches: every byte arrives, from arguments, list files and
//! stdin; present files are skipped unless `--overwrite`; the request carries
//! the headers asked for.

use std::fs;

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
        .stderr(predicate::str::contains(
            "Nothing downloaded: the file is already present",
        ))
        .stderr(predicate::str::contains("busy time").not());

    tget(dir.path())
        .arg(&url)
        .arg("--overwrite")
        .assert()
        .success()
        .stdout("keep.bin\n");
    assert_served(&dir.path().join("keep.bin"), "/e/keep.bin", 50);
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
