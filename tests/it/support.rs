//! What every test file shares: the one way to run tget ([`tget`]), on
//! pipes or on a pseudo-terminal ([`Tget::on_terminal`]), the loopback
//! server (the `testserver` crate, with its fault keys), and checks on what
//! a run printed and left on disk.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tempfile::TempDir;

pub use testserver::proxy::HttpProxy;
pub use testserver::socks::{Socks5, SocksTarget};
pub use testserver::tls::Pki;
pub use testserver::{Server, body, body_version, changed_version, etag};

mod terminal;
pub use terminal::{FRAME_END, Row};

/// How long one tget run may take unless the test says otherwise; past it
/// the process is killed and the test fails.
pub const RUN_LIMIT: Duration = Duration::from_secs(60);

/// One run of the real binary, to set up like a `Command`, then either run to
/// the end ([`Tget::output`], [`Tget::assert`]) or start ([`Tget::spawn`]).
///
/// Every run starts in `dir` with a clean environment: only `PATH`, `HOME`
/// (the test's own directory, so no real `~/.netrc` or config is read),
/// `TERM=dumb` and `RUST_BACKTRACE=0`, plus what the test adds with
/// [`Tget::env`]. No proxy, `TGET_*` or `NO_COLOR` setting of the caller's
/// leaks in. Every run is killed once its time limit ([`RUN_LIMIT`] by
/// default) has passed, and a spawned one also when it is dropped.
pub struct Tget {
    command: Command,
    line: String,
    stdin: Option<Vec<u8>>,
    limit: Duration,
    /// Runs in a process group of its own, signalled and killed as a whole.
    group: bool,
}

/// The real binary, run in `dir` (see [`Tget`]).
pub fn tget(dir: &Path) -> Tget {
    with_clean_env(Command::new(env!("CARGO_BIN_EXE_tget")), dir, "tget".into())
}

/// A bash script that runs tget as `$TGET`, in a process group of its own
/// as a job in an interactive shell would be, with tget's clean environment
/// and time limit: for what a calling shell sees of tget's end.
pub fn tget_in_shell(dir: &Path, script: &str) -> Tget {
    let mut command = Command::new("bash");
    command.args(["-c", script]);
    let mut run = with_clean_env(command, dir, format!("bash -c '{script}'"));
    run.env("TGET", env!("CARGO_BIN_EXE_tget"));
    run.group = true;
    std::os::unix::process::CommandExt::process_group(&mut run.command, 0);
    run
}

fn with_clean_env(mut command: Command, dir: &Path, line: String) -> Tget {
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("TERM", "dumb")
        .env("RUST_BACKTRACE", "0");
    Tget {
        command,
        line,
        stdin: None,
        limit: RUN_LIMIT,
        group: false,
    }
}

impl Tget {
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Tget {
        let _ = write!(self.line, " {}", arg.as_ref().to_string_lossy());
        self.command.arg(arg);
        self
    }

    pub fn args<S: AsRef<OsStr>>(&mut self, args: impl IntoIterator<Item = S>) -> &mut Tget {
        for arg in args {
            self.arg(arg);
        }
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Tget {
        self.command.env(key, value);
        self
    }

    /// What tget reads on stdin, which is then closed. Without it, stdin is
    /// empty for [`Tget::output`] and an open pipe for [`Tget::spawn`].
    pub fn write_stdin(&mut self, input: impl Into<Vec<u8>>) -> &mut Tget {
        self.stdin = Some(input.into());
        self
    }

    /// Replaces [`RUN_LIMIT`] for this run.
    pub fn timeout(&mut self, limit: Duration) -> &mut Tget {
        self.limit = limit;
        self
    }

    /// Runs tget with RLIMIT_FSIZE at `bytes` and SIGXFSZ ignored, so a
    /// write past the limit fails with EFBIG: a full disk, without root.
    pub fn file_size_limit(&mut self, bytes: u64) -> &mut Tget {
        use std::os::unix::process::CommandExt;
        // SAFETY: between fork and exec the closure only makes two
        // async-signal-safe system calls and allocates nothing.
        unsafe {
            self.command.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: bytes,
                    rlim_max: bytes,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                Ok(())
            });
        }
        self
    }

    /// Runs tget to the end and returns what it printed.
    ///
    /// # Panics
    ///
    /// When tget cannot start or outlives its time limit.
    pub fn output(&mut self) -> Output {
        if self.stdin.is_none() {
            self.command.stdin(Stdio::null());
        }
        self.start().wait()
    }

    /// Runs tget to the end, for `assert_cmd`'s checks.
    pub fn assert(&mut self) -> assert_cmd::assert::Assert {
        let line = self.line.clone();
        assert_cmd::assert::Assert::new(self.output()).append_context("command", line)
    }

    /// Starts tget with piped stdin, stdout and stderr, for tests that
    /// signal it, talk to it or close its stdout early.
    pub fn spawn(&mut self) -> Running {
        self.command.stdin(Stdio::piped());
        self.start()
    }

    fn start(&mut self) -> Running {
        if self.stdin.is_some() {
            self.command.stdin(Stdio::piped());
        }
        let mut child = self
            .command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", self.line));
        if let Some(input) = self.stdin.clone() {
            let mut pipe = child.stdin.take().expect("a piped stdin");
            // tget may exit without reading it all: a broken pipe is no error here.
            thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        Running::new(child, self.line.clone(), self.limit, self.group)
    }
}

/// A tget process started by [`Tget::spawn`]. A watchdog kills it when its
/// time limit passes, even while the test is blocked reading its output, and
/// dropping it kills it too: no test leaves a process behind.
pub struct Running {
    child: Arc<Mutex<Child>>,
    /// Signals and kills go to the child's whole process group.
    group: bool,
    line: String,
    limit: Duration,
    deadline: Instant,
    timed_out: Arc<AtomicBool>,
    watchdog: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl Running {
    fn new(child: Child, line: String, limit: Duration, group: bool) -> Running {
        let child = Arc::new(Mutex::new(child));
        let timed_out = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel::<()>();
        let watchdog = {
            let (child, timed_out) = (child.clone(), timed_out.clone());
            thread::spawn(move || {
                if stopped.recv_timeout(limit) == Err(mpsc::RecvTimeoutError::Timeout) {
                    let mut child = child.lock().unwrap_or_else(PoisonError::into_inner);
                    if matches!(child.try_wait(), Ok(None)) {
                        timed_out.store(true, Ordering::SeqCst);
                        kill(&mut child, group);
                    }
                }
            })
        };
        Running {
            child,
            group,
            line,
            limit,
            deadline: Instant::now() + limit,
            timed_out,
            watchdog: Some((stop, watchdog)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// tget's stdin; closing it ends the list when tget reads one from there.
    pub fn stdin(&mut self) -> ChildStdin {
        self.lock().stdin.take().expect("stdin is taken once")
    }

    /// tget's stderr, to read while it runs; [`Running::wait`] then returns
    /// no stderr.
    pub fn stderr(&mut self) -> ChildStderr {
        self.lock().stderr.take().expect("stderr is taken once")
    }

    /// Closes the reading end of tget's stdout, as `tget ... | head -0` would.
    pub fn close_stdout(&mut self) {
        drop(self.lock().stdout.take());
    }

    pub fn id(&self) -> u32 {
        self.lock().id()
    }

    pub fn is_running(&self) -> bool {
        matches!(self.lock().try_wait(), Ok(None))
    }

    /// Sends `signal` (e.g. `libc::SIGINT`) to tget, which must still be running.
    pub fn signal(&self, signal: i32) {
        let mut child = self.lock();
        // Holding the lock, nothing else can reap it, so the pid is still ours.
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{} exited ({status}) before it could be signalled",
                self.line
            );
        }
        let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
        let target = if self.group { -pid } else { pid };
        // SAFETY: kill(2) with the pid (or process group) of our own unreaped
        // child and a valid signal number.
        let rc = unsafe { libc::kill(target, signal) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits for tget to exit within what is left of its time limit.
    pub fn wait(self) -> Output {
        let limit = self.limit;
        let deadline = self.deadline;
        self.finish(deadline, limit)
    }

    /// Waits for tget to exit within `limit` from now, killing it (and
    /// failing) if it has not.
    pub fn wait_within(self, limit: Duration) -> Output {
        let deadline = (Instant::now() + limit).min(self.deadline);
        self.finish(deadline, limit)
    }

    fn finish(self, deadline: Instant, limit: Duration) -> Output {
        let (stdout, stderr) = {
            let mut child = self.lock();
            (child.stdout.take(), child.stderr.take())
        };
        let stdout = stdout.map(read_all);
        let stderr = stderr.map(read_all);
        let exited = loop {
            if let Some(status) = self.lock().try_wait().expect("a waitable child") {
                break Some(status);
            }
            if Instant::now() >= deadline {
                break None;
            }
            thread::sleep(Duration::from_millis(5));
        };
        let status = match exited {
            Some(status) => status,
            None => {
                let mut child = self.lock();
                kill(&mut child, self.group);
                child.wait().expect("a killed child")
            }
        };
        let joined = |reader: Option<JoinHandle<Vec<u8>>>| {
            reader.map_or_else(Vec::new, |r| r.join().expect("a pipe reader"))
        };
        let output = Output {
            status,
            stdout: joined(stdout),
            stderr: joined(stderr),
        };
        // The watchdog may have killed it while the test was busy elsewhere.
        let watchdog_fired = self.timed_out.load(Ordering::SeqCst);
        let limit = if watchdog_fired { self.limit } else { limit };
        if exited.is_none() || watchdog_fired {
            panic!(
                "{} was still running after {limit:?}, and was killed: {}",
                self.line,
                self::stderr(&output)
            );
        }
        output
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some((stop, watchdog)) = self.watchdog.take() {
            drop(stop);
            let _ = watchdog.join();
        }
        let group = self.group;
        let mut child = self.lock();
        if matches!(child.try_wait(), Ok(None)) {
            kill(&mut child, group);
            let _ = child.wait();
        }
    }
}

/// Kills the child, or with `group` its whole process group, so nothing it
/// started outlives the test.
fn kill(child: &mut Child, group: bool) {
    if group && let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) on the process group our own unreaped child leads.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let _ = child.kill();
}

fn read_all(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Asserts that tget, interrupted by `signal`, cleaned up and then died by
/// that same signal (as the parent shell sees it), not by an exit code.
pub fn assert_killed_by(output: &Output, signal: i32) {
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        (output.status.code(), output.status.signal()),
        (None, Some(signal)),
        "{:?}: {}",
        output.status,
        stderr(output)
    );
}

/// Ctrl-C: see `assert_killed_by`.
pub fn assert_interrupted(output: &Output) {
    assert_killed_by(output, libc::SIGINT);
}

/// Waits until `server` has stopped sending to every client that went away,
/// so its byte count holds the bytes of runs that ended and no later run's.
pub fn settle(server: &Server) {
    wait_until(
        Duration::from_secs(10),
        "the server's connections to close",
        || server.open_connections() == 0,
    );
}

/// Polls `ready` until it holds, failing the test after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

pub fn tempdir() -> TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// A fixture from `fixtures/` with `{BASE}` replaced by the server's address.
pub fn fixture(name: &str, server: &Server) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.replace("{BASE}", &server.url(""))
}

/// Every file name in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("readable directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Asserts `file` holds exactly what the server sends for `path` at `size`.
pub fn assert_served(file: &Path, path: &str, size: u64) {
    let got = fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert_eq!(
        got.len() as u64,
        size,
        "{} has the wrong length",
        file.display()
    );
    assert!(
        got == body(path, size),
        "{} differs from {path}",
        file.display()
    );
}

pub fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

pub fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    stdout_lines(output)
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}")))
        .collect()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The job object for the URL containing `needle` in `--json` output.
pub fn json_job<'a>(lines: &'a [serde_json::Value], needle: &str) -> &'a serde_json::Value {
    lines
        .iter()
        .find(|l| l["type"] == "job" && l["url"].as_str().is_some_and(|u| u.contains(needle)))
        .unwrap_or_else(|| panic!("no job for {needle} in {lines:?}"))
}

/// One request header's value, as the server saw it.
pub fn header<'a>(request: &'a [(String, String)], name: &str) -> Option<&'a str> {
    request
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Percent-encodes a query value for the test server (which decodes it).
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub const MIB: u64 = 1 << 20;

/// A loopback address where nothing listens: connections to it are refused.
pub fn refusing_addr() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

/// Writes `text` to `name` in `dir` and returns the path as text, for a flag.
pub fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path.display().to_string()
}

/// `Basic base64(user:password)`, as a test expects it on the wire.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::prelude::BASE64_STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Retries that do not slow a test down.
pub const FAST_RETRIES: [&str; 2] = ["--retry-delay", "10ms"];

/// Runs tget with `--json` and fast retries; returns (exit code, json lines, stderr).
pub fn run_json(dir: &Path, args: &[&str]) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let output = tget(dir)
        .args(["--json"])
        .args(FAST_RETRIES)
        .args(args)
        .timeout(Duration::from_secs(30))
        .output();
    (output.status.code(), json_lines(&output), stderr(&output))
}

/// A `--json` job's attempt count.
pub fn attempts(job: &serde_json::Value) -> u64 {
    job["attempts"].as_u64().unwrap()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes a sidecar as tget does (the format is documented in `part.rs` and the README).
pub fn plant_sidecar(part: &Path, url: &str, etag: &str, length: Option<u64>) {
    let mut text = format!("tget-part 1\nurl {url}\netag {etag}\n");
    if let Some(length) = length {
        text.push_str(&format!("length {length}\n"));
    }
    let mut meta = part.as_os_str().to_owned();
    meta.push(".meta");
    fs::write(meta, text).unwrap();
}

/// The harness itself: no run outlives its limit or its test.
mod tests {
    use std::io::Read;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::time::{Duration, Instant};

    use super::*;

    /// Whether a process with this pid still exists (it has been reaped).
    fn exists(pid: u32) -> bool {
        // SAFETY: kill(2) with signal 0 only checks that the process exists.
        unsafe { libc::kill(libc::pid_t::try_from(pid).unwrap(), 0) == 0 }
    }

    fn panic_text(result: Result<Output, Box<dyn std::any::Any + Send>>) -> String {
        let panic = result.expect_err("the run was expected to fail its test");
        panic.downcast_ref::<String>().cloned().unwrap_or_default()
    }

    #[test]
    fn a_run_past_its_limit_is_killed_and_fails_its_test() {
        let server = Server::start().unwrap();
        let dir = tempdir();
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| {
            tget(dir.path())
                .arg(server.url("/never.bin?latency=30000"))
                .timeout(Duration::from_millis(300))
                .output()
        }));
        assert!(panic_text(result).contains("was still running after 300ms, and was killed"));
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn the_watchdog_kills_a_run_while_the_test_reads_its_output() {
        let dir = tempdir();
        // A list on stdin that never ends: tget waits for it forever.
        let mut child = tget(dir.path())
            .args(["-i", "-"])
            .timeout(Duration::from_millis(300))
            .spawn();
        let pid = child.id();
        let mut progress = String::new();
        child.stderr().read_to_string(&mut progress).unwrap();
        let result = catch_unwind(AssertUnwindSafe(|| child.wait()));
        assert!(panic_text(result).contains("was still running after 300ms, and was killed"));
        assert!(!exists(pid));
    }

    #[test]
    fn dropping_a_spawned_run_kills_it() {
        let dir = tempdir();
        let child = tget(dir.path()).args(["-i", "-"]).spawn();
        let pid = child.id();
        assert!(child.is_running());
        drop(child);
        assert!(!exists(pid));
    }
}
