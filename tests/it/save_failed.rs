//! `--save-failed FILE`: what did not end ok, written as list lines, so that
//! `tget -i FILE` fetches exactly the rest, under the same names.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::time::Duration;

use crate::support::*;

/// The URLs (list lines that are not comments) of a saved list.
fn listed(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn failed_jobs_are_listed_with_their_names_and_a_retry_fetches_just_those() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let digest = sha256_hex(&body("/s/b.txt", 100));
    // The second `a.txt` is named `a-1.txt`; it fails, and must keep that name.
    let list = [
        server.url("/s/a.txt?size=10"),
        server.url("/t/a.txt?size=20&fail=1"),
        format!("{} sha256={digest}", server.url("/s/b.txt?size=100&fail=1")),
        server.url("/s/c.txt?size=30"),
        "not a url".to_string(),
    ];
    fs::write(dir.path().join("list.txt"), list.join("\n")).unwrap();
    let output = tget(dir.path())
        .args([
            "--retries",
            "0",
            "-i",
            "list.txt",
            "--save-failed",
            "failed.txt",
        ])
        .output();
    assert_eq!(output.status.code(), Some(1));
    let saved = fs::read_to_string(dir.path().join("failed.txt")).unwrap();
    // Jobs end in any order: the list has them as they ended.
    let lines: BTreeSet<String> = listed(&saved).into_iter().collect();
    assert_eq!(
        lines,
        BTreeSet::from([
            format!("{} out=a-1.txt", server.url("/t/a.txt?size=20&fail=1")),
            format!(
                "{} out=b.txt sha256={digest}",
                server.url("/s/b.txt?size=100&fail=1")
            ),
            "not a url".to_string(),
        ]),
        "{saved}"
    );
    assert!(saved.contains("# HTTP 503 (list.txt:2)"), "{saved}");
    assert!(
        saved.contains("# list.txt:5: `not` is not an absolute"),
        "{saved}"
    );
    let requests = server.requests();

    let output = tget(dir.path())
        .args(["--retries", "0", "-i", "failed.txt"])
        .output();
    // The bad line fails again; both jobs now succeed.
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(server.requests() - requests, 2, "exactly the failed jobs");
    assert_served(&dir.path().join("a.txt"), "/s/a.txt", 10);
    assert_served(&dir.path().join("a-1.txt"), "/t/a.txt", 20);
    assert_served(&dir.path().join("b.txt"), "/s/b.txt", 100);
}

#[test]
fn a_failed_job_is_listed_as_it_ends_not_at_the_end_of_the_run() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let failing = server.url("/now/gone.bin?status=404");
    // Still being sent when the first job's line must already be there.
    let slow = server.url("/now/slow.bin?size=1000&latency=20000");
    let child = tget(dir.path())
        .args(["-t", "2", "--save-failed", "failed.txt", &failing, &slow])
        .spawn();
    wait_until(Duration::from_secs(10), "the failed job's line", || {
        fs::read_to_string(dir.path().join("failed.txt"))
            .is_ok_and(|text| listed(&text) == [format!("{failing} out=gone.bin")])
    });
    assert!(
        !dir.path().join("slow.bin").exists(),
        "the run is still going"
    );
    child.signal(libc::SIGINT);
    assert_interrupted(&child.wait_within(Duration::from_secs(10)));
}

#[test]
fn after_ctrl_c_the_list_holds_every_job_not_finished_and_a_retry_completes_the_batch() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let urls: Vec<String> = (0..40)
        .map(|i| server.url(&format!("/c/{i:02}.bin?size=1000&latency=100")))
        .collect();
    fs::write(dir.path().join("list.txt"), urls.join("\n")).unwrap();
    let child = tget(dir.path())
        .args(["-t", "2", "-i", "list.txt", "--save-failed", "failed.txt"])
        .spawn();
    wait_until(Duration::from_secs(20), "a few files", || {
        listing(dir.path())
            .iter()
            .filter(|n| n.ends_with(".bin"))
            .count()
            >= 4
    });
    child.signal(libc::SIGINT);
    let output = child.wait_within(Duration::from_secs(10));
    assert_interrupted(&output);
    let done: BTreeSet<String> = stdout_lines(&output).into_iter().collect();
    let saved = fs::read_to_string(dir.path().join("failed.txt")).unwrap();
    let retried = listed(&saved);
    assert_eq!(done.len() + retried.len(), 40, "{saved}");
    assert!(saved.contains("# not started: interrupted"), "{saved}");
    for line in &retried {
        let name = line.rsplit("out=").next().unwrap();
        assert!(!done.contains(name), "{name} was saved and is listed again");
    }

    let requests = server.requests();
    let output = tget(dir.path())
        .args(["-t", "8", "-i", "failed.txt"])
        .output();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(server.requests() - requests, retried.len() as u64);
    for i in 0..40 {
        let name = format!("{i:02}.bin");
        assert_served(&dir.path().join(&name), &format!("/c/{name}"), 1000);
    }
}

#[test]
fn a_closed_stdout_lists_what_was_never_started() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let urls: Vec<String> = (0..30)
        .map(|i| server.url(&format!("/o/{i:02}.bin?size=100&latency=50")))
        .collect();
    fs::write(dir.path().join("list.txt"), urls.join("\n")).unwrap();
    let mut child = tget(dir.path())
        .args(["-t", "1", "-i", "list.txt", "--save-failed", "failed.txt"])
        .spawn();
    child.close_stdout();
    let output = child.wait();
    assert!(output.status.success(), "{}", stderr(&output));
    let saved = fs::read_to_string(dir.path().join("failed.txt")).unwrap();
    let on_disk = listing(dir.path())
        .iter()
        .filter(|n| n.ends_with(".bin"))
        .count();
    assert_eq!(on_disk + listed(&saved).len(), 30, "{saved}");
    assert!(
        saved.contains("# not started: stdout was closed"),
        "{saved}"
    );
}

#[test]
fn names_with_spaces_go_into_the_list_encoded_and_come_back() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let url = server.url("/sp/x.bin?size=10&fail=1");
    fs::write(
        dir.path().join("list.txt"),
        format!("{url} out=my%20file.bin\n"),
    )
    .unwrap();
    tget(dir.path())
        .args([
            "--retries",
            "0",
            "-i",
            "list.txt",
            "--save-failed",
            "failed.txt",
        ])
        .assert()
        .code(1);
    let saved = fs::read_to_string(dir.path().join("failed.txt")).unwrap();
    assert_eq!(listed(&saved), [format!("{url} out=my%20file.bin")]);
    tget(dir.path())
        .args(["-i", "failed.txt"])
        .assert()
        .success();
    assert_served(&dir.path().join("my file.bin"), "/sp/x.bin", 10);
}

#[test]
fn the_list_is_never_one_of_the_lists_read() {
    let dir = tempdir();
    let mut list = fs::File::create(dir.path().join("list.txt")).unwrap();
    writeln!(list, "http://127.0.0.1:9/x").unwrap();
    tget(dir.path())
        .args(["-i", "list.txt", "--save-failed", "./list.txt"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("is also a list to read"));
    assert_eq!(
        fs::read_to_string(dir.path().join("list.txt")).unwrap(),
        "http://127.0.0.1:9/x\n",
        "the list is untouched"
    );
}

#[test]
fn the_list_keeps_passwords_so_jobs_run_again_and_only_its_owner_reads_it() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start().unwrap();
    let dir = tempdir();
    let url = format!(
        "http://ann:s3cret@{}/pw/x.bin?size=10&fail=1",
        server.addr()
    );
    // A list left from an earlier run, readable by all, is made owner-only.
    let path = dir.path().join("failed.txt");
    fs::write(&path, "http://old.example/x\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let output = tget(dir.path())
        .args(["--retries", "0", "--save-failed", "failed.txt", &url])
        .output();
    assert_eq!(output.status.code(), Some(1));
    assert!(!stderr(&output).contains("s3cret"), "{}", stderr(&output));
    assert_eq!(
        listed(&fs::read_to_string(&path).unwrap()),
        [format!("{url} out=x.bin")]
    );
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn a_list_that_cannot_be_written_whole_is_exit_3() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let output = tget(dir.path())
        .args(["--retries", "0", "--save-failed", "/dev/full"])
        .arg(server.url("/full/x.bin?status=404"))
        .output();
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output)
            .contains("cannot write the --save-failed file /dev/full: No space left on device"),
        "{}",
        stderr(&output)
    );
}
