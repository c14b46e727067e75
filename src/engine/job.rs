//! A job (one URL with its final path), how jobs are planned from a list,
//! what became of each, and why one failed.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use thiserror::Error;

use crate::config::Layout;
use crate::engine::proxy::ProxyError;
use crate::engine::tls;
use crate::input::{self, InputError, Origin, Request};
use crate::naming::{self, Claims};
use crate::userinfo::redact;

/// A job with its final file name chosen.
#[derive(Debug, Clone)]
pub struct Job {
    pub url: String,
    /// Where the file goes, as messages and stdout show it.
    pub path: PathBuf,
    /// The directories below `-d` it goes in, each a plain name.
    pub dirs: Vec<String>,
    /// Its name in that directory.
    pub name: String,
    /// The list's own `dir=`, as given, to list the job again with it.
    pub listed_dir: Vec<String>,
    pub sha256: Option<[u8; 32]>,
    pub origin: Origin,
}

impl Job {
    /// The directory's key among the batch's names: collisions are per directory.
    pub fn scope(&self) -> String {
        self.dirs.join("/")
    }
}

/// A job ready to run, or a list line that could not become one.
pub type Planned = Result<Job, InputError>;

/// What naming a batch's jobs takes besides the list.
#[derive(Debug, Clone)]
pub struct Planning {
    /// `-d`, as paths are to be shown.
    pub out_dir: PathBuf,
    pub layout: Layout,
    /// `--sha256`, for the one URL given.
    pub sha256: Option<[u8; 32]>,
}

/// Names every job in list order (so names are deterministic) inside
/// `planning.out_dir`. `names` is shared with the workers, which claim
/// server-suggested names in it.
pub fn plan(
    requests: impl Iterator<Item = input::Item> + Send,
    planning: Planning,
    names: Arc<Mutex<Claims>>,
) -> impl Iterator<Item = Planned> + Send {
    requests.map(move |item| {
        item.map(|request: Request| {
            let wanted = match &request.out {
                Some(out) => naming::sanitize(out),
                None => naming::name_from_url(&request.url),
            };
            let dirs = naming::directories(&request.url, &planning.layout, &request.dir);
            let name = names
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .claim(&dirs.join("/"), &wanted);
            let mut path = planning.out_dir.clone();
            path.extend(&dirs);
            path.push(&name);
            Job {
                // `-d .` (the default) lists bare paths, as a user would type them.
                path: path
                    .strip_prefix(".")
                    .map(Path::to_path_buf)
                    .unwrap_or(path),
                dirs,
                name,
                listed_dir: request.dir,
                sha256: request.sha256.or(planning.sha256),
                url: request.url,
                origin: request.origin,
            }
        })
    })
}

/// The three ends of a job, as `--json` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Skipped,
    Failed,
}

/// How a job ended: exactly one of saved, skipped or failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Complete and verified under `path` (the planned name, or the server's
    /// suggestion with `--content-disposition`).
    Saved {
        bytes: u64,
        path: PathBuf,
    },
    /// The file was already there (and complete, with `-c`).
    Skipped,
    Failed(Failure),
}

/// Why a job did not end ok.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub kind: FailureKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// This job failed; the others go on.
    Job,
    /// Ctrl-C stopped it; its part is kept for `-c` if it has one.
    Interrupted,
    /// It hit an error every other job would hit too (a full disk): the
    /// batch stops starting jobs.
    StopsBatch,
}

/// A job's end and what it cost.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub end: End,
    pub http_status: Option<u16>,
    pub elapsed: Duration,
    /// The part of `elapsed` spent waiting for servers: for response headers,
    /// and in pauses before a retry.
    pub waiting: Duration,
    /// Requests made, retries included.
    pub attempts: u32,
    /// Body bytes this job read from the network (not those of a part it
    /// resumed); with a shared file, those of its own worker only.
    pub received: u64,
    /// Worker threads that moved the file's bytes: more than 1 for a file
    /// shared by range requests (see `split`).
    pub workers: usize,
    /// The server dated the file before 1980 or in the future, so it keeps
    /// the time it was saved at.
    pub odd_date: bool,
    /// Bytes already on disk when the job started (a part it continued, or
    /// the file `-c` continued), none of them fetched by this run.
    pub present: u64,
}

impl Outcome {
    pub fn new(end: End) -> Outcome {
        Outcome {
            end,
            http_status: None,
            elapsed: Duration::ZERO,
            waiting: Duration::ZERO,
            attempts: 0,
            received: 0,
            workers: 1,
            odd_date: false,
            present: 0,
        }
    }

    pub fn failed(message: String) -> Outcome {
        Outcome::new(End::Failed(Failure {
            message,
            kind: FailureKind::Job,
        }))
    }

    pub fn status(&self) -> Status {
        match self.end {
            End::Saved { .. } => Status::Ok,
            End::Skipped => Status::Skipped,
            End::Failed(_) => Status::Failed,
        }
    }

    pub fn error(&self) -> Option<&str> {
        match &self.end {
            End::Failed(failure) => Some(&failure.message),
            _ => None,
        }
    }

    pub fn failure_kind(&self) -> Option<FailureKind> {
        match &self.end {
            End::Failed(failure) => Some(failure.kind),
            _ => None,
        }
    }

    /// The size of the saved file; 0 for anything else.
    pub fn bytes(&self) -> u64 {
        match self.end {
            End::Saved { bytes, .. } => bytes,
            _ => 0,
        }
    }
}

/// What happened to one job, sent back to the reporting thread. Its URL
/// and error are redacted when it is made (`userinfo::redact`), so no
/// printer can show a password.
#[derive(Debug, Clone)]
pub struct JobReport {
    /// The job's URL with any password hidden (`user:***@`).
    pub url: String,
    /// The URL as listed, password included, so `--save-failed` lists a
    /// job that can run again. Never printed.
    pub listed_url: String,
    /// Where the file is (or would have been); none for a bad list line.
    pub path: Option<PathBuf>,
    /// The checksum the job was given, so a failed one can be listed again with it.
    pub sha256: Option<[u8; 32]>,
    /// The list's `dir=`, likewise.
    pub listed_dir: Vec<String>,
    pub origin: Origin,
    pub outcome: Outcome,
    /// The worker thread that ran it; none for a bad list line.
    pub worker: Option<String>,
}

impl JobReport {
    pub fn new(job: Job, mut outcome: Outcome, worker: &str) -> JobReport {
        let path = match &outcome.end {
            End::Saved { path, .. } => path.clone(),
            _ => job.path,
        };
        if let End::Failed(failure) = &mut outcome.end {
            failure.message = redact(&failure.message).into_owned();
        }
        JobReport {
            url: redact(&job.url).into_owned(),
            listed_url: job.url,
            path: Some(path),
            sha256: job.sha256,
            listed_dir: job.listed_dir,
            origin: job.origin,
            outcome,
            worker: Some(worker.to_string()),
        }
    }

    /// A list line that never became a job fails as one, in its turn.
    pub fn invalid_line(error: InputError) -> JobReport {
        let url = redact(&error.text).into_owned();
        JobReport {
            listed_url: url.clone(),
            url,
            path: None,
            sha256: None,
            listed_dir: Vec::new(),
            origin: error.origin.clone(),
            outcome: Outcome::failed(redact(&error.to_string()).into_owned()),
            worker: None,
        }
    }
}

/// Counts kept while jobs finish; nothing per job is held.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub ok: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes: u64,
    /// Sum of every job's own time: what one thread would have needed.
    pub job_time: Duration,
    /// Files whose server date was not believable (see `Outcome::odd_date`).
    pub odd_dates: u64,
}

impl Totals {
    pub fn add(&mut self, report: &JobReport) {
        let outcome = &report.outcome;
        match outcome.status() {
            Status::Ok => self.ok += 1,
            Status::Skipped => self.skipped += 1,
            Status::Failed => self.failed += 1,
        }
        self.bytes += outcome.bytes();
        self.job_time += outcome.elapsed;
        self.odd_dates += u64::from(outcome.odd_date);
    }
}

/// Why one attempt at a job (or at one range of it) failed.
#[derive(Debug, Error)]
pub enum FetchError {
    #[error("HTTP {status}")]
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("{}", describe(.0))]
    Network(#[source] ureq::Error),
    #[error("connection closed after {received} of {expected} bytes")]
    Truncated { received: u64, expected: u64 },
    #[error("{0}")]
    Protocol(String),
    #[error("cannot {action} {}: {source}", path.display())]
    Local {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A shared part is not whole after every range ended.
    #[error("{0}")]
    Incomplete(String),
    #[error("no free name like {wanted} in {}", dir.display())]
    NoFreeName { wanted: String, dir: PathBuf },
    /// `-c` found a file under the final name longer than the server's.
    #[error(
        "the file on disk has {local} bytes, more than the {remote} the server has; left as it is"
    )]
    LongerThanServer { local: u64, remote: u64 },
    #[error("sha256 mismatch: expected {expected}, got {actual}")]
    Checksum { expected: String, actual: String },
    #[error("interrupted")]
    Cancelled,
    /// The answer to a resumed request does not continue the part, which
    /// has been thrown away: ask again for the whole file.
    #[error("the server's answer does not continue the partial file")]
    Restart,
    /// A range of a shared file came from another version: start over.
    #[error("the file changed on the server during the download: {0}")]
    Changed(String),
}

impl FetchError {
    /// Whether trying again could help: the network or the server may
    /// recover, a bad URL, a TLS failure or a local error will not.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => is_transient_status(*status),
            FetchError::Network(e) => is_transient(e),
            FetchError::Truncated { .. } | FetchError::Restart | FetchError::Changed(_) => true,
            FetchError::Protocol(_)
            | FetchError::Local { .. }
            | FetchError::Incomplete(_)
            | FetchError::NoFreeName { .. }
            | FetchError::LongerThanServer { .. }
            | FetchError::Checksum { .. }
            | FetchError::Cancelled => false,
        }
    }

    /// A local error that every other job would hit too: the disk (or the
    /// user's quota, or the file size limit) is full. It stops the batch.
    pub fn stops_batch(&self) -> bool {
        let FetchError::Local { source, .. } = self else {
            return false;
        };
        matches!(
            source.raw_os_error(),
            Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG)
        )
    }

    /// How a job that ended with this error failed.
    pub fn failure_kind(&self) -> FailureKind {
        match self {
            FetchError::Cancelled => FailureKind::Interrupted,
            error if error.stops_batch() => FailureKind::StopsBatch,
            _ => FailureKind::Job,
        }
    }

    /// A failure of the connection, not of the bytes: what arrived is still
    /// the file, so its part is kept for `-c` (as after Ctrl-C).
    pub fn cut_the_transfer(&self) -> bool {
        match self {
            FetchError::Network(_) | FetchError::Truncated { .. } | FetchError::Incomplete(_) => {
                true
            }
            FetchError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    pub fn local(action: &'static str, path: &Path, source: io::Error) -> FetchError {
        FetchError::Local {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A transport error in words a user can act on.
fn describe(error: &ureq::Error) -> String {
    if let Some(certificate) = tls::certificate_error(error) {
        return tls::describe(certificate);
    }
    if let Some(store) = tls::trust_error(error) {
        return store.to_string();
    }
    if let Some(proxy) = ProxyError::inside(error) {
        return format!("proxy {}: {}", proxy.proxy, describe(&proxy.cause));
    }
    match error {
        ureq::Error::Io(e) => describe_io(e),
        ureq::Error::Timeout(ureq::Timeout::Connect) => "timed out connecting".into(),
        ureq::Error::Timeout(ureq::Timeout::PerRead | ureq::Timeout::RecvResponse) => {
            "timed out waiting for data from the server".into()
        }
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::TooManyRedirects => "too many redirects".into(),
        ureq::Error::BadUri(uri) => format!("bad URL: {}", redact(uri)),
        ureq::Error::ConnectProxyFailed(why) => why.clone(),
        other => other.to_string(),
    }
}

fn describe_io(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset by the server".into(),
        io::ErrorKind::UnexpectedEof => "connection closed before the body was complete".into(),
        _ => error.to_string(),
    }
}

fn is_transient(error: &ureq::Error) -> bool {
    if let Some(proxy) = ProxyError::inside(error) {
        return is_transient(&proxy.cause);
    }
    match error {
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed | ureq::Error::Protocol(_) => true,
        ureq::Error::Io(e) => is_transient_io(e),
        _ => false,
    }
}

fn is_transient_io(error: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionReset
            | ConnectionRefused
            | ConnectionAborted
            | UnexpectedEof
            | TimedOut
            | BrokenPipe
            | Interrupted
    )
}

/// 408 Request Timeout, 429 Too Many Requests and the 5xx that mean "later".
fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert!(is_transient_status(503) && is_transient_status(429) && is_transient_status(408));
        assert!(
            !is_transient_status(404) && !is_transient_status(403) && !is_transient_status(501)
        );
    }

    #[test]
    fn transient_errors() {
        let refused = ureq::Error::Io(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(is_transient(&refused));
        assert_eq!(describe(&refused), "connection refused");
        assert!(!is_transient(&ureq::Error::TooManyRedirects));
        assert!(is_transient(&ureq::Error::Timeout(ureq::Timeout::PerRead)));
    }

    #[test]
    fn local_errors_keep_their_cause() {
        let error = FetchError::local(
            "write",
            Path::new("out/a.bin.part"),
            io::Error::from_raw_os_error(28),
        );
        assert!(
            error
                .to_string()
                .starts_with("cannot write out/a.bin.part: ")
        );
        let cause = std::error::Error::source(&error).expect("the io::Error is kept");
        let io = cause.downcast_ref::<io::Error>().unwrap();
        assert_eq!(io.raw_os_error(), Some(28));
        assert!(!error.is_transient());
    }

    #[test]
    fn an_outcome_is_exactly_one_end() {
        let saved = Outcome::new(End::Saved {
            bytes: 5,
            path: "a".into(),
        });
        assert_eq!(
            (saved.status(), saved.error(), saved.bytes()),
            (Status::Ok, None, 5)
        );
        let failed = Outcome::failed("HTTP 404".into());
        assert_eq!(
            (failed.status(), failed.error(), failed.bytes()),
            (Status::Failed, Some("HTTP 404"), 0)
        );
    }
}
