//! File names and where files go: collisions numbered in list order,
//! Content-Disposition names sanitised inside the output directory, and
//! symlinks and other people's files never followed or replaced.

use std::fs;

use crate::support::*;

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
fn content_disposition_names_are_sanitised_inside_the_directory() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let long = format!("{}.txt", "a".repeat(300));
    let cases: Vec<(String, String)> = vec![
        ("attachment; filename=\"../../x\"".into(), "x".into()),
        ("attachment; filename=/abs/path".into(), "path".into()),
        ("attachment; filename=a\\b".into(), "b".into()),
        ("attachment; filename=\"..\"".into(), "index.html".into()),
        (
            "attachment; filename*=UTF-8''evil%1b%5B31m.txt".into(),
            "evil_[31m.txt".into(),
        ),
        (
            "attachment; filename*=UTF-8''ev%E2%80%AEtxt.exe".into(),
            "ev_txt.exe".into(),
        ),
        (
            "attachment; filename*=UTF-8''%e2%82%ac%20rates.txt".into(),
            "€ rates.txt".into(),
        ),
        (
            format!("attachment; filename=\"{long}\""),
            format!("{}.txt", "a".repeat(196)),
        ),
        ("attachment; filename=CON".into(), "_CON".into()),
        ("attachment; filename=\".bashrc\"".into(), "bashrc".into()),
        (
            "attachment; filename=other.bin.part".into(),
            "other.bin.part_".into(),
        ),
        (
            "attachment; filename=\"say \\\"hi\\\".txt\"".into(),
            "say _hi_.txt".into(),
        ),
    ];
    let urls: Vec<String> = cases
        .iter()
        .enumerate()
        .map(|(i, (cd, _))| server.url(&format!("/cd/{i}.bin?size=10&cd={}", encode(cd))))
        .collect();
    let output = tget(dir.path())
        .args(["--content-disposition", "--json", "-d", "out"])
        .args(&urls)
        .output();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let lines = json_lines(&output);
    let mut expected: Vec<String> = cases.iter().map(|(_, name)| name.clone()).collect();
    expected.sort();
    assert_eq!(listing(&dir.path().join("out")), expected);
    assert_eq!(
        listing(dir.path()),
        ["out"],
        "nothing outside the output directory"
    );
    for (i, (_, name)) in cases.iter().enumerate() {
        let job = json_job(&lines, &format!("/cd/{i}.bin"));
        assert_eq!(job["path"], format!("out/{name}"));
        assert_served(
            &dir.path().join("out").join(name),
            &format!("/cd/{i}.bin"),
            10,
        );
    }
}

#[cfg(unix)]
#[test]
fn a_suggested_name_never_replaces_a_file_or_another_jobs_name() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let outside = tempdir();
    fs::write(dir.path().join("keep.txt"), "mine").unwrap();
    std::os::unix::fs::symlink(outside.path().join("victim"), dir.path().join("link.txt")).unwrap();
    let cd = |name: &str| encode(&format!("attachment; filename={name}"));
    let urls = [
        server.url("/s/report.pdf?size=11"),
        server.url(&format!("/s/a.bin?size=12&cd={}", cd("report.pdf"))),
        server.url(&format!("/s/b.bin?size=13&cd={}", cd("keep.txt"))),
        server.url(&format!("/s/c.bin?size=14&cd={}", cd("link.txt"))),
        server.url(&format!("/s/d.bin?size=15&cd={}", cd("same.txt"))),
        server.url(&format!("/s/e.bin?size=16&cd={}", cd("same.txt"))),
    ];
    let output = tget(dir.path())
        .args(["--content-disposition", "--overwrite", "--json", "-t", "4"])
        .args(&urls)
        .output();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let lines = json_lines(&output);
    assert_served(&dir.path().join("report.pdf"), "/s/report.pdf", 11);
    assert_served(&dir.path().join("report-1.pdf"), "/s/a.bin", 12);
    assert_eq!(
        fs::read_to_string(dir.path().join("keep.txt")).unwrap(),
        "mine"
    );
    assert_served(&dir.path().join("keep-1.txt"), "/s/b.bin", 13);
    assert!(
        fs::symlink_metadata(dir.path().join("link.txt"))
            .unwrap()
            .is_symlink()
    );
    assert!(!outside.path().join("victim").exists());
    assert_served(&dir.path().join("link-1.txt"), "/s/c.bin", 14);
    let d = json_job(&lines, "/s/d.bin")["path"]
        .as_str()
        .unwrap()
        .to_string();
    let e = json_job(&lines, "/s/e.bin")["path"]
        .as_str()
        .unwrap()
        .to_string();
    let mut pair = [d, e];
    pair.sort();
    assert_eq!(pair, ["same-1.txt", "same.txt"]);
}

#[cfg(unix)]
#[test]
fn symlinks_at_part_and_final_names_are_never_followed() {
    use std::os::unix::fs::symlink;
    let server = Server::start().unwrap();
    let dir = tempdir();
    let outside = tempdir();
    let victim = |name: &str| outside.path().join(name);
    fs::write(victim("a"), "precious a").unwrap();
    fs::write(victim("c"), "precious c").unwrap();
    fs::write(victim("d"), "precious d").unwrap();
    symlink(victim("a"), dir.path().join("a.bin.part")).unwrap();
    symlink(victim("b"), dir.path().join("b.bin")).unwrap();
    symlink(victim("c"), dir.path().join("c.bin")).unwrap();
    symlink(victim("d"), dir.path().join("d.bin.part.meta")).unwrap();
    let urls = ["a", "b", "c", "d"].map(|n| server.url(&format!("/sl/{n}.bin?size=100")));
    // With a valid sidecar, -c would append to the part: it must not be the symlink's target.
    plant_sidecar(
        &dir.path().join("a.bin.part"),
        &urls[0],
        &etag("/sl/a.bin", "", 100),
        Some(100),
    );
    tget(dir.path())
        .args(["--overwrite", "-c"])
        .args(&urls)
        .assert()
        .success();
    for n in ["a", "b", "c", "d"] {
        let path = dir.path().join(format!("{n}.bin"));
        assert!(
            fs::symlink_metadata(&path).unwrap().is_file(),
            "{n}.bin is a plain file"
        );
        assert_served(&path, &format!("/sl/{n}.bin"), 100);
    }
    assert_eq!(fs::read_to_string(victim("a")).unwrap(), "precious a");
    assert!(!victim("b").exists());
    assert_eq!(fs::read_to_string(victim("c")).unwrap(), "precious c");
    assert_eq!(fs::read_to_string(victim("d")).unwrap(), "precious d");
    assert_eq!(listing(dir.path()), ["a.bin", "b.bin", "c.bin", "d.bin"]);
}
