//! Credentials: URL user info percent-decoded into Basic auth, `-u` for
//! every URL, netrc by host; and no password in anything tget prints.

use std::fs;

use predicates::prelude::*;

use crate::support::*;

#[test]
fn user_info_is_percent_decoded_into_basic_auth() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let url = format!("http://bob%40corp:p%40ss@{}/f.bin?size=12", server.addr());
    tget(dir.path())
        .arg(&url)
        .assert()
        .success()
        .stdout("f.bin\n");
    let seen = &server.headers_for("/f.bin")[0];
    assert_eq!(
        header(seen, "Authorization"),
        Some(basic("bob@corp", "p@ss").as_str())
    );
    assert_served(&dir.path().join("f.bin"), "/f.bin", 12);
}

#[test]
fn the_user_flag_applies_to_every_url() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    tget(dir.path())
        .args([
            "-u",
            "ann:pw:1",
            &server.url("/a.bin"),
            &server.url("/b.bin"),
        ])
        .assert()
        .success();
    for path in ["/a.bin", "/b.bin"] {
        let seen = &server.headers_for(path)[0];
        assert_eq!(
            header(seen, "Authorization"),
            Some(basic("ann", "pw:1").as_str()),
            "{path}"
        );
    }
    tget(dir.path())
        .args(["-u", "nopassword", &server.url("/c.bin")])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("expected USER:PASSWORD"));
}

#[test]
fn netrc_gives_credentials_by_host() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let netrc = write_file(
        dir.path(),
        "my.netrc",
        "machine example.invalid login x password y\n\
         machine 127.0.0.1\n  login nina\n  password \"n p\"\n",
    );
    tget(dir.path())
        .args(["--netrc-file", &netrc, &server.url("/n.bin")])
        .assert()
        .success();
    let seen = &server.headers_for("/n.bin")[0];
    assert_eq!(
        header(seen, "Authorization"),
        Some(basic("nina", "n p").as_str())
    );
    // --netrc reads ~/.netrc (HOME is the test's directory).
    write_file(dir.path(), ".netrc", "default login dee password dp\n");
    tget(dir.path())
        .args(["--netrc", &server.url("/d.bin")])
        .assert()
        .success();
    let seen = &server.headers_for("/d.bin")[0];
    assert_eq!(
        header(seen, "Authorization"),
        Some(basic("dee", "dp").as_str())
    );
    // Without a flag, no netrc is read.
    tget(dir.path())
        .arg(server.url("/none.bin"))
        .assert()
        .success();
    assert_eq!(
        header(&server.headers_for("/none.bin")[0], "Authorization"),
        None
    );
}

#[test]
fn a_malformed_netrc_is_a_usage_error_naming_its_line() {
    let dir = tempdir();
    let netrc = write_file(dir.path(), "bad.netrc", "machine h\n  pasword x\n");
    tget(dir.path())
        .args(["--netrc-file", &netrc, "http://127.0.0.1:1/x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{netrc}:2: unknown keyword `pasword`"
        )));
    tget(dir.path())
        .args(["--netrc-file", "absent.netrc", "http://127.0.0.1:1/x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read netrc file absent.netrc",
        ));
}

#[test]
fn passwords_never_reach_stderr_or_json() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let failing = format!("http://alice:s3cr3t@{}/gone.bin?status=404", server.addr());
    let list = write_file(
        dir.path(),
        "urls.txt",
        &format!(
            "{failing}\nftp://carol:hunter2@h/x\nhttp://dave:pw9@{}/ok.bin?size=3\n",
            server.addr()
        ),
    );
    let output = tget(dir.path()).args(["-i", &list]).output();
    assert_eq!(output.status.code(), Some(1));
    let errors = stderr(&output);
    assert!(errors.contains("alice:***@"), "{errors}");
    let (_, lines, json_errors) = run_json(dir.path(), &["--overwrite", "-i", &list]);
    let printed = format!("{errors}{json_errors}{lines:?}");
    for secret in ["s3cr3t", "hunter2", "pw9"] {
        assert!(!printed.contains(secret), "{secret} printed: {printed}");
    }
    assert_eq!(
        json_job(&lines, "gone.bin")["url"],
        failing.replace("s3cr3t", "***")
    );
    assert!(
        json_job(&lines, "ok.bin")["url"]
            .as_str()
            .unwrap()
            .contains("dave:***@")
    );
    assert!(
        lines.iter().any(|l| l["url"] == "ftp://carol:***@h/x"),
        "{lines:?}"
    );
}

#[test]
fn a_kept_part_records_no_password_and_continues_after_a_password_change() {
    let server = Server::recording().unwrap();
    let dir = tempdir();
    let url = |password: &str| {
        format!(
            "http://ann:{password}@{}/kp/x.bin?size=900000&truncate_at=400000&faults=1",
            server.addr()
        )
    };
    let output = tget(dir.path())
        .args(["--retries", "0", &url("old-s3cret")])
        .output();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let sidecar = fs::read_to_string(dir.path().join("x.bin.part.meta"))
        .unwrap_or_else(|e| panic!("{e}: {:?} {}", listing(dir.path()), stderr(&output)));
    assert!(!sidecar.contains("old-s3cret"), "{sidecar}");
    assert!(sidecar.contains("ann:***@"), "{sidecar}");
    let (code, lines, _) = run_json(dir.path(), &["-c", &url("new-s3cret")]);
    assert_eq!(code, Some(0));
    assert_eq!(json_job(&lines, "x.bin")["bytes"], 900000);
    assert_served(&dir.path().join("x.bin"), "/kp/x.bin", 900000);
    let asked = server.headers_for("/kp/x.bin");
    assert_eq!(
        header(asked.last().unwrap(), "Range"),
        Some("bytes=400000-")
    );
}
