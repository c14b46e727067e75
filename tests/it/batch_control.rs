//! Batch control: a connection limit per host, one rate limit for the run,
//! URL directory trees that never leave `-d`, timestamping, server times,
//! Retry-After dates, and a dry run.

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::support::*;

const MIB: u64 = 1 << 20;

/// `host:port/`, as `-x` names a server's directory (`127.0.0.1_PORT`).
fn host_dir(server: &Server) -> String {
    format!("127.0.0.1_{}", server.addr().port())
}

// ---- --max-per-host ----

#[test]
fn no_host_gets_more_connections_than_the_limit_and_others_go_ahead() {
    let (a, b) = (Server::start().unwrap(), Server::start().unwrap());
    let dir = tempdir();
    // A hundred jobs for host A come first; host B's twenty must not wait behind them.
    let mut list: Vec<String> = (0..100)
        .map(|i| a.url(&format!("/a/{i:03}.bin?size=100&latency=40")))
        .collect();
    list.extend((0..20).map(|i| b.url(&format!("/b/{i:03}.bin?size=100&latency=40"))));
    fs::write(dir.path().join("list.txt"), list.join("\n")).unwrap();
    let output = tget(dir.path())
        .args(["--json", "-t", "8", "--max-per-host", "2", "-i", "list.txt"])
        .output();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        a.peak_connections() <= 2,
        "host A had {}",
        a.peak_connections()
    );
    assert!(
        b.peak_connections() <= 2,
        "host B had {}",
        b.peak_connections()
    );
    assert_eq!(b.peak_connections(), 2, "host B's jobs ran beside A's");
    let jobs: Vec<String> = json_lines(&output)
        .iter()
        .filter(|l| l["type"] == "job")
        .map(|l| l["url"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(jobs.len(), 120);
    let last_b = jobs.iter().rposition(|u| u.contains("/b/")).unwrap();
    assert!(
        last_b < 60,
        "B finished after {last_b} jobs: it waited behind A"
    );
}

#[test]
fn ranges_of_a_shared_file_count_against_its_host() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let url = server.url(&format!(
        "/shared/big.bin?size={}&rate={}",
        8 * MIB,
        8 * MIB
    ));
    let output = tget(dir.path())
        .args(["--json", "-t", "8", "--max-per-host", "3", &url])
        .output();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_served(&dir.path().join("big.bin"), "/shared/big.bin", 8 * MIB);
    assert!(
        server.peak_connections() <= 3,
        "{}",
        server.peak_connections()
    );
    // Shared, though never by more than three at once.
    let job = json_job(&json_lines(&output), "big.bin").clone();
    assert!(job["shared_by"].as_u64().unwrap() >= 2, "{job}");
}

#[test]
fn a_redirected_file_and_its_ranges_count_against_the_host_listed() {
    let (listed, cdn) = (Server::start().unwrap(), Server::start().unwrap());
    let dir = tempdir();
    let target = cdn.url(&format!("/cdn/big.bin?size={}&rate={}", 8 * MIB, 8 * MIB));
    let url = listed.url(&format!("/big.bin?redirect={}", encode(&target)));
    let output = tget(dir.path())
        .args(["--json", "-t", "4", "--max-per-host", "2", &url])
        .output();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_served(&dir.path().join("big.bin"), "/cdn/big.bin", 8 * MIB);
    // The owner holds one of the listed host's two slots; one helper the other.
    assert_eq!(
        cdn.peak_connections(),
        2,
        "the job and its ranges as one host"
    );
}

// ---- --limit-rate ----

/// The most body bytes the server sent in any `window` of a run starting
/// `after` its first sample.
fn worst_window(samples: &[(Instant, u64)], window: Duration, after: Duration) -> u64 {
    let first = samples.first().map(|s| s.0);
    samples
        .iter()
        .filter(|(at, _)| first.is_some_and(|first| at.duration_since(first) >= after))
        .map(|&(start, sent)| {
            let end = samples
                .iter()
                .take_while(|(at, _)| at.duration_since(start) <= window)
                .last()
                .map_or(sent, |&(_, s)| s);
            end - sent
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn one_rate_limit_holds_for_every_worker_together() {
    let server = Arc::new(Server::start().unwrap());
    let dir = tempdir();
    let rate = 2 * MIB;
    // Four files at once, small send buffers so what the server counts is what tget read.
    let urls: Vec<String> = (0..4)
        .map(|i| server.url(&format!("/rate/{i}.bin?size={}&sndbuf=32768", 3 * MIB / 2)))
        .collect();
    let samples = Arc::new(Mutex::new(Vec::new()));
    let running = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (server, samples, running) = (server.clone(), samples.clone(), running.clone());
        thread::spawn(move || {
            while running.load(Ordering::Relaxed) {
                let sample = (Instant::now(), server.body_bytes());
                samples.lock().unwrap().push(sample);
                thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let started = Instant::now();
    let output = tget(dir.path())
        .args(["-t", "4", "--split", "1", "--limit-rate", "2M"])
        .args(&urls)
        .output();
    let elapsed = started.elapsed();
    running.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    // 6 MiB at 2 MiB/s: three seconds, whatever the four workers would do alone.
    assert!(elapsed >= Duration::from_millis(2800), "{elapsed:?}");
    let samples = samples.lock().unwrap();
    let two = Duration::from_secs(2);
    // Once the kernel's buffers are full, the server sends what tget reads.
    let steady = worst_window(&samples, two, Duration::from_millis(500));
    assert!(
        steady <= 2 * rate * 110 / 100,
        "{steady} bytes in a 2 s window, against {} allowed",
        2 * rate
    );
    // Before that, the buffers of four connections fill at once (some
    // hundreds of KiB each): the one burst a limit on reads cannot stop.
    let first = worst_window(&samples, two, Duration::ZERO);
    assert!(
        first <= 2 * rate + 4 * MIB,
        "{first} bytes in the first 2 s"
    );
    for i in 0..4 {
        assert_served(
            &dir.path().join(format!("{i}.bin")),
            &format!("/rate/{i}.bin"),
            3 * MIB / 2,
        );
    }
}

// ---- directory trees ----

#[test]
fn force_directories_keep_the_urls_tree_and_collisions_are_per_directory() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let list = [
        server.url("/a/data.csv?size=10"),
        server.url("/b/data.csv?size=20"),
        format!("{} dir=extra/sub", server.url("/c/deep/x.bin?size=30")),
    ];
    fs::write(dir.path().join("list.txt"), list.join("\n")).unwrap();
    let output = tget(dir.path())
        .args(["-x", "-i", "list.txt", "-d", "out"])
        .output();
    assert!(output.status.success(), "{}", stderr(&output));
    let host = host_dir(&server);
    assert_served(
        &dir.path().join(format!("out/{host}/a/data.csv")),
        "/a/data.csv",
        10,
    );
    assert_served(
        &dir.path().join(format!("out/{host}/b/data.csv")),
        "/b/data.csv",
        20,
    );
    assert_served(
        &dir.path()
            .join(format!("out/extra/sub/{host}/c/deep/x.bin")),
        "/c/deep/x.bin",
        30,
    );

    let output = tget(dir.path())
        .args([
            "-x",
            "--no-host-directories",
            "--cut-dirs",
            "1",
            "-i",
            "list.txt",
            "-d",
            "cut",
        ])
        .output();
    assert!(output.status.success(), "{}", stderr(&output));
    // `a/` and `b/` are cut away: the two data.csv now meet in one directory.
    assert_served(&dir.path().join("cut/data.csv"), "/a/data.csv", 10);
    assert_served(&dir.path().join("cut/data-1.csv"), "/b/data.csv", 20);
    assert_served(
        &dir.path().join("cut/extra/sub/deep/x.bin"),
        "/c/deep/x.bin",
        30,
    );
}

#[test]
fn hostile_paths_never_leave_the_output_directory() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let urls = [
        server.url("/%2e%2e/%2e%2e/escape1.bin?size=10"),
        server.url("/a/..%2f..%2f/escape2.bin?size=10"),
        server.url("/%2fetc/escape3.bin?size=10"),
    ];
    let output = tget(dir.path())
        .args(["-x", "-d", "out"])
        .args(&urls)
        .output();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        listing(dir.path()),
        ["out"],
        "nothing beside the output directory"
    );
    // Every file is somewhere below `out/HOST`, under names that are plain.
    let host = dir.path().join("out").join(host_dir(&server));
    let saved: Vec<String> = stdout_lines(&output);
    assert_eq!(saved.len(), 3);
    for path in &saved {
        let path = dir.path().join(path);
        assert!(path.starts_with(&host), "{}", path.display());
        assert!(path.is_file(), "{}", path.display());
        let below = path.strip_prefix(&host).unwrap();
        assert!(
            below
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_))),
            "{}",
            below.display()
        );
    }
}

#[test]
fn a_symlink_planted_inside_the_output_directory_is_never_followed() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let elsewhere = tempdir();
    fs::create_dir(dir.path().join("out")).unwrap();
    std::os::unix::fs::symlink(
        elsewhere.path(),
        dir.path().join("out").join(host_dir(&server)),
    )
    .unwrap();
    let output = tget(dir.path())
        .args(["-x", "-d", "out", &server.url("/a/x.bin?size=10")])
        .output();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("a symlink or a file is in the way"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        listing(elsewhere.path()),
        Vec::<String>::new(),
        "nothing written through it"
    );
}

#[test]
fn a_list_dir_that_leads_out_is_an_error_naming_the_line() {
    let dir = tempdir();
    fs::write(
        dir.path().join("list.txt"),
        "http://127.0.0.1:9/x dir=../x\n",
    )
    .unwrap();
    let output = tget(dir.path()).args(["-i", "list.txt"]).output();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("list.txt:1: dir=../x: `..` would lead out of -d"),
        "{}",
        stderr(&output)
    );
}

// ---- -N and server times ----

#[test]
fn timestamping_asks_if_modified_since_and_a_304_is_up_to_date() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let url = server.url("/ts/a.bin?size=100&validator=date");
    assert!(tget(dir.path()).arg(&url).output().status.success());
    let file = dir.path().join("a.bin");
    let served_at = fs::metadata(&file).unwrap().modified().unwrap();

    let (code, lines, _) = run_json(dir.path(), &["-N", &url]);
    assert_eq!(code, Some(0));
    assert_eq!(json_job(&lines, "a.bin")["status"], "skipped");
    assert_eq!(json_job(&lines, "a.bin")["http_status"], 304);
    let seen = server.headers_for("/ts/a.bin");
    assert_eq!(
        header(seen.last().unwrap(), "If-Modified-Since"),
        Some(httpdate::fmt_http_date(served_at).as_str())
    );

    // An older copy on disk is replaced, atomically, by the server's.
    fs::write(&file, "stale").unwrap();
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(400_000_000))
        .unwrap();
    let (code, lines, _) = run_json(dir.path(), &["-N", &url]);
    assert_eq!(code, Some(0));
    assert_eq!(json_job(&lines, "a.bin")["status"], "ok");
    assert_served(&file, "/ts/a.bin", 100);
    assert_eq!(listing(dir.path()), ["a.bin"]);
}

#[test]
fn saved_files_get_the_servers_time_unless_told_or_unbelievable() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let date = "Tue, 02 Jan 2024 03:04:05 GMT";
    let url = server.url(&format!("/t/a.bin?size=10&last_modified={}", encode(date)));
    assert!(tget(dir.path()).arg(&url).output().status.success());
    let modified = fs::metadata(dir.path().join("a.bin"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(modified, httpdate::parse_http_date(date).unwrap());

    let before = SystemTime::now() - Duration::from_secs(5);
    let url = server.url(&format!("/t/b.bin?size=10&last_modified={}", encode(date)));
    assert!(
        tget(dir.path())
            .args(["--no-remote-time", &url])
            .output()
            .status
            .success()
    );
    assert!(
        fs::metadata(dir.path().join("b.bin"))
            .unwrap()
            .modified()
            .unwrap()
            > before
    );

    // One file from 1970, one from next year: neither date is used.
    let epoch = "Thu, 01 Jan 1970 00:00:00 GMT".to_string();
    let ahead = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(366 * 86400));
    let urls: Vec<String> = [("c", &epoch), ("d", &ahead)]
        .iter()
        .map(|(n, date)| {
            server.url(&format!(
                "/t/{n}.bin?size=10&last_modified={}",
                encode(date)
            ))
        })
        .collect();
    let output = tget(dir.path()).args(&urls).output();
    assert!(output.status.success());
    let text = stderr(&output);
    assert_eq!(
        text.matches("note: the server dated 2 files before 1980")
            .count(),
        1,
        "{text}"
    );
    for name in ["c.bin", "d.bin"] {
        let modified = fs::metadata(dir.path().join(name))
            .unwrap()
            .modified()
            .unwrap();
        assert!(modified > before && modified <= SystemTime::now(), "{name}");
    }
}

// ---- Retry-After as a date ----

#[test]
fn a_retry_after_date_is_waited_for() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let when = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(5));
    let url = server.url(&format!(
        "/ra/x.bin?size=10&fail=1&retry_after={}",
        encode(&when)
    ));
    let (code, lines, _) = run_json(dir.path(), &[&url]);
    assert_eq!(code, Some(0));
    let job = json_job(&lines, "x.bin");
    assert_eq!(job["attempts"], 2);
    // The date has whole seconds, so four to five of them away, less
    // whatever tget took to start and ask (well under a second).
    assert!(job["waiting_ms"].as_f64().unwrap() >= 3000.0, "{job}");
}

// ---- --dry-run ----

#[test]
fn a_dry_run_says_what_the_run_then_does_and_shows_no_password() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let url = |name: &str| server.url(&format!("/dr/{name}?size=8000"));
    let plant_part = |name: &str, of_url: &str| {
        let part = out.join(format!("{name}.part"));
        fs::write(&part, &body(&format!("/dr/{name}"), 8000)[..3000]).unwrap();
        let tag = etag(&format!("/dr/{name}"), "", 8000);
        plant_sidecar(&part, of_url, &tag, Some(8000));
    };
    // `-c` never continues through a symlink, even with a part beside it.
    fs::write(out.join("target.bin"), "mine").unwrap();
    std::os::unix::fs::symlink("target.bin", out.join("link.bin")).unwrap();
    plant_part("link.bin", &url("link.bin"));
    plant_part("half.bin", &url("half.bin"));
    // A part whose sidecar names another URL is stale.
    plant_part("other.bin", &url("elsewhere.bin"));
    let secret = server
        .url("/dr/pw.bin?size=8000")
        .replace("http://", "http://ann:s3cret@");
    let urls = [url("link.bin"), url("half.bin"), url("other.bin"), secret];
    let args = |extra: &str| {
        let mut args = vec![extra.to_string(), "-c".into(), "-d".into(), "out".into()];
        args.extend(urls.iter().cloned());
        args
    };
    let plan = tget(dir.path()).args(args("--dry-run")).output();
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    let steps: Vec<String> = stdout_lines(&plan)
        .iter()
        .map(|line| line.split('\t').next().unwrap().to_string())
        .collect();
    assert_eq!(steps, ["skip", "continue", "fetch", "fetch"]);
    let shown = String::from_utf8_lossy(&plan.stdout).into_owned();
    assert!(
        !shown.contains("s3cret") && shown.contains("ann:***@"),
        "{shown}"
    );
    assert_eq!(server.requests(), 0);

    let run = tget(dir.path()).args(args("--json")).output();
    let lines = json_lines(&run);
    let status = |name: &str| json_job(&lines, name)["status"].clone();
    let statuses = ["link.bin", "half.bin", "other.bin", "pw.bin"].map(status);
    assert_eq!(statuses, ["skipped", "ok", "ok", "ok"], "{}", stderr(&run));
    let ranged = |name: &str| {
        let seen = server.headers_for(&format!("/dr/{name}"));
        seen.iter().any(|h| header(h, "Range").is_some())
    };
    assert!(
        ranged("half.bin"),
        "the part planned as continued is continued"
    );
    assert!(
        !ranged("other.bin"),
        "the part planned as fetched starts over"
    );
    assert_eq!(fs::read(out.join("target.bin")).unwrap(), b"mine");
}

#[test]
fn a_dry_run_plans_without_a_request_or_a_write() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    fs::create_dir(dir.path().join("out")).unwrap();
    fs::write(dir.path().join("out/have.bin"), "x").unwrap();
    // A link to nothing is fetched; a part whose sidecar is not one is stale.
    std::os::unix::fs::symlink("nowhere", dir.path().join("out/gone.bin")).unwrap();
    fs::write(dir.path().join("out/half.bin.part"), "x").unwrap();
    fs::write(dir.path().join("out/half.bin.part.meta"), "x").unwrap();
    // A directory the run could not make: a symlink is in the way.
    std::os::unix::fs::symlink(dir.path(), dir.path().join("out/linked")).unwrap();
    let list = [
        server.url("/have.bin"),
        server.url("/d/new.bin"),
        "bogus".to_string(),
        server.url("/gone.bin"),
        server.url("/half.bin"),
        server.url("/linked/x.bin"),
    ];
    fs::write(dir.path().join("list.txt"), list.join("\n")).unwrap();
    let output = tget(dir.path())
        .args([
            "--dry-run",
            "-x",
            "--no-host-directories",
            "-d",
            "out",
            "-i",
            "list.txt",
        ])
        .output();
    assert_eq!(output.status.code(), Some(1), "a bad line would fail");
    assert_eq!(
        stdout_lines(&output),
        [
            format!("skip\tout/have.bin\t{}", server.url("/have.bin")),
            "mkdir\tout/d".to_string(),
            format!("fetch\tout/d/new.bin\t{}", server.url("/d/new.bin")),
            "error\tlist.txt:3: `bogus` is not an absolute http(s) URL".to_string(),
            format!("fetch\tout/gone.bin\t{}", server.url("/gone.bin")),
            format!("fetch\tout/half.bin\t{}", server.url("/half.bin")),
            "error\tout/linked/x.bin\tcannot create directory out/linked: not a directory \
             (a symlink or a file is in the way)"
                .to_string(),
        ]
    );
    assert_eq!(server.requests(), 0);
    assert_eq!(
        listing(&dir.path().join("out")),
        [
            "gone.bin",
            "half.bin.part",
            "half.bin.part.meta",
            "have.bin",
            "linked"
        ],
        "nothing written"
    );
}
