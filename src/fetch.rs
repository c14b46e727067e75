//! One job: request, stream to `NAME.part`, verify, rename to `NAME`.
//!
//! The final name only ever appears through `rename`, so it never holds a
//! partial or unverified file.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use thiserror::Error;
use ureq::Agent;
use ureq::http::header;

use crate::cancel::Cancel;
use crate::config::FetchConfig;
use crate::http;
use crate::input::Origin;
use crate::naming::PART_SUFFIX;
use crate::progress::WorkerBar;
use crate::segment::{SplitPolicy, Transfers};

/// Bytes are read and written in chunks of this size through one buffer per
/// worker, so memory stays flat whatever the file size.
pub const CHUNK_BYTES: usize = 256 * 1024;
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// A job with its final file name chosen.
#[derive(Debug, Clone)]
pub struct Job {
    pub url: String,
    pub path: PathBuf,
    pub sha256: Option<[u8; 32]>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Skipped,
    Failed,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Status,
    pub bytes: u64,
    pub http_status: Option<u16>,
    pub elapsed: Duration,
    pub attempts: u32,
    pub error: Option<String>,
}

impl Outcome {
    pub fn failed(message: String) -> Outcome {
        Outcome {
            status: Status::Failed,
            bytes: 0,
            http_status: None,
            elapsed: Duration::ZERO,
            attempts: 0,
            error: Some(message),
        }
    }
}

#[derive(Debug, Error)]
pub enum FetchError {
    #[error("HTTP {status}")]
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("{}", http::describe(.0))]
    Network(ureq::Error),
    #[error("{0}")]
    Local(String),
    #[error("sha256 mismatch: expected {expected}, got {actual}")]
    Checksum { expected: String, actual: String },
    #[error("cancelled")]
    Cancelled,
    /// A range came back from another version of the file: start over.
    #[error("the file changed on the server during the download: {0}")]
    Changed(String),
}

impl FetchError {
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => http::is_transient_status(*status),
            FetchError::Network(e) => http::is_transient(e),
            FetchError::Changed(_) => true,
            FetchError::Local(_) | FetchError::Checksum { .. } | FetchError::Cancelled => false,
        }
    }

    pub(crate) fn local(action: &str, path: &Path, error: io::Error) -> FetchError {
        FetchError::Local(format!("cannot {action} {}: {error}", path.display()))
    }
}

/// A worker's tools for running jobs one after another.
pub struct Fetcher<'a> {
    agent: Agent,
    config: &'a FetchConfig,
    cancel: &'a Cancel,
    buffer: Vec<u8>,
    sharing: Option<Sharing<'a>>,
}

/// How a worker offers a big transfer to the rest of the pool.
#[derive(Clone, Copy)]
pub struct Sharing<'a> {
    pub transfers: &'a Transfers,
    /// Starts the workers the pool still has room for.
    pub call_for_help: &'a (dyn Fn() + Sync),
    /// Workers that are idle or not started yet: how many ways to cut a file up front.
    pub spare_workers: &'a (dyn Fn() -> usize + Sync),
}

impl<'a> Fetcher<'a> {
    pub fn new(agent: Agent, config: &'a FetchConfig, cancel: &'a Cancel) -> Self {
        Fetcher {
            agent,
            config,
            cancel,
            buffer: vec![0; CHUNK_BYTES],
            sharing: None,
        }
    }

    pub fn with_sharing(mut self, sharing: Sharing<'a>) -> Self {
        self.sharing = Some(sharing);
        self
    }

    pub(crate) fn request(&self, url: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        let mut request = self.agent.get(url);
        for (name, value) in &self.config.http.headers {
            request = request.header(name, value);
        }
        request
    }

    pub(crate) fn cancel_requested(&self) -> bool {
        self.cancel.aborted()
    }

    pub(crate) fn retries(&self) -> u32 {
        self.config.http.retries
    }

    pub(crate) fn back_off(&self, attempt: u32, error: &FetchError) {
        self.pause(backoff(attempt, error, self.config.http.retry_delay));
    }

    pub(crate) fn buffer_len(&self) -> usize {
        self.buffer.len()
    }

    pub(crate) fn buffer(&self) -> &[u8] {
        &self.buffer
    }

    pub fn run(&mut self, job: &Job, bar: &WorkerBar) -> Outcome {
        let started = Instant::now();
        let mut outcome = Outcome {
            status: Status::Ok,
            bytes: 0,
            http_status: None,
            elapsed: Duration::ZERO,
            attempts: 0,
            error: None,
        };
        if !self.config.overwrite && job.path.exists() {
            outcome.status = Status::Skipped;
            return outcome;
        }
        let result = self.with_retries(job, bar, &mut outcome);
        if let Err(error) = result {
            remove_part(&job.path);
            outcome.status = Status::Failed;
            outcome.error = Some(error.to_string());
        }
        outcome.elapsed = started.elapsed();
        outcome
    }

    fn with_retries(
        &mut self,
        job: &Job,
        bar: &WorkerBar,
        outcome: &mut Outcome,
    ) -> Result<(), FetchError> {
        loop {
            outcome.attempts += 1;
            let error = match self.attempt(job, bar, outcome) {
                Ok(bytes) => {
                    outcome.bytes = bytes;
                    return Ok(());
                }
                Err(error) => error,
            };
            // A shut-down agent looks like a dropped connection: ask the flag first.
            if self.cancel.aborted() {
                return Err(FetchError::Cancelled);
            }
            if !error.is_transient() || outcome.attempts > self.config.http.retries {
                return Err(error);
            }
            bar.rewind();
            self.pause(backoff(
                outcome.attempts,
                &error,
                self.config.http.retry_delay,
            ));
        }
    }

    /// Sleeps in short steps so a Ctrl-C is not kept waiting behind a backoff.
    pub(crate) fn pause(&self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while !self.cancel.aborted() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    fn attempt(
        &mut self,
        job: &Job,
        bar: &WorkerBar,
        outcome: &mut Outcome,
    ) -> Result<u64, FetchError> {
        let response = self.request(&job.url).call().map_err(FetchError::Network)?;
        let status = response.status().as_u16();
        outcome.http_status = Some(status);
        if !response.status().is_success() {
            let retry_after = http::retry_after(
                response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()),
            );
            return Err(FetchError::Status {
                status,
                retry_after,
            });
        }
        let length = response.body().content_length();
        if let Some(sharing) = self.sharing
            && let Some(validator) = shareable(&response, sharing.transfers.policy())
        {
            return self.download_shared(job, response, validator, sharing, bar);
        }
        bar.start(&job.path, length);
        let mut body = response.into_body().into_reader();
        let part = part_path(&job.path);
        self.stream(&mut body, &part, job, bar)
    }

    fn stream(
        &mut self,
        body: &mut impl Read,
        part: &Path,
        job: &Job,
        bar: &WorkerBar,
    ) -> Result<u64, FetchError> {
        let mut file = create_part(part)?;
        let mut hasher = job.sha256.map(|_| Sha256::new());
        let mut total = 0u64;
        loop {
            let filled = self.fill_buffer(body)?;
            if filled == 0 {
                break;
            }
            let chunk = &self.buffer[..filled];
            file.write_all(chunk)
                .map_err(|e| FetchError::local("write", part, e))?;
            if let Some(hasher) = hasher.as_mut() {
                hasher.update(chunk);
            }
            total += filled as u64;
            bar.advance(filled as u64);
        }
        if let (Some(expected), Some(hasher)) = (job.sha256, hasher) {
            verify_digest(expected, hasher.finalize().into())?;
        }
        drop(file);
        fs::rename(part, &job.path).map_err(|e| FetchError::local("rename into", &job.path, e))?;
        Ok(total)
    }

    /// Reads until the buffer is full or the body ends, so the disk sees few,
    /// large writes however small the network's reads are.
    fn fill_buffer(&mut self, body: &mut impl Read) -> Result<usize, FetchError> {
        self.fill(body, self.buffer.len())
    }

    /// Reads until `want` bytes are in the buffer or the body ends.
    pub(crate) fn fill(&mut self, body: &mut impl Read, want: usize) -> Result<usize, FetchError> {
        let mut filled = 0;
        while filled < want {
            if self.cancel.aborted() {
                return Err(FetchError::Cancelled);
            }
            match body.read(&mut self.buffer[filled..want]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(FetchError::Network(http::from_body_error(e))),
            }
        }
        Ok(filled)
    }
}

/// A full response worth sharing: big enough, ranges accepted, and a
/// validator for `If-Range` so that every piece comes from this version.
fn shareable(response: &ureq::http::Response<ureq::Body>, policy: SplitPolicy) -> Option<String> {
    let headers = response.headers();
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &ureq::http::HeaderValue| v.to_str().ok())
    };
    if response.status() != 200
        || !policy.allows(response.body().content_length()?)
        || text(header::ACCEPT_RANGES) != Some("bytes")
    {
        return None;
    }
    // A weak ETag may not be used in If-Range; Last-Modified may.
    match text(header::ETAG) {
        Some(etag) if !etag.starts_with("W/") => Some(etag.to_string()),
        _ => text(header::LAST_MODIFIED).map(str::to_string),
    }
}

pub(crate) fn verify_digest(expected: [u8; 32], actual: [u8; 32]) -> Result<(), FetchError> {
    if expected == actual {
        return Ok(());
    }
    Err(FetchError::Checksum {
        expected: hex(&expected),
        actual: hex(&actual),
    })
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Creates (or truncates) a `.part` file, and its directory if needed.
pub(crate) fn create_part(part: &Path) -> Result<File, FetchError> {
    if let Some(dir) = part.parent() {
        fs::create_dir_all(dir).map_err(|e| FetchError::local("create directory", dir, e))?;
    }
    File::create(part).map_err(|e| FetchError::local("create", part, e))
}

pub fn part_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(PART_SUFFIX);
    PathBuf::from(name)
}

fn remove_part(path: &Path) {
    // Nothing to clean up is the common case; any other error leaves only a `.part`.
    let _ = fs::remove_file(part_path(path));
}

/// Exponential backoff with jitter, or the server's `Retry-After` (capped).
fn backoff(attempt: u32, error: &FetchError, base: Duration) -> Duration {
    if let FetchError::Status {
        retry_after: Some(wait),
        ..
    } = error
    {
        return (*wait).min(MAX_RETRY_AFTER);
    }
    let exponential = base
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    exponential.mul_f64(0.5 + jitter() * 0.5)
}

/// A cheap 0..1 value that differs between threads and moments, so workers
/// that failed together do not retry in lockstep.
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_sit_beside_the_final_name() {
        assert_eq!(
            part_path(Path::new("out/a.bin")),
            PathBuf::from("out/a.bin.part")
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let network = FetchError::Local(String::new());
        for attempt in 1..40 {
            let wait = backoff(attempt, &network, base);
            let ceiling = base
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(MAX_BACKOFF);
            assert!(
                wait <= ceiling && wait >= ceiling / 2,
                "attempt {attempt}: {wait:?}"
            );
        }
        let limited = FetchError::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(3600)),
        };
        assert_eq!(backoff(1, &limited, base), MAX_RETRY_AFTER);
    }

    #[test]
    fn digest_mismatch_names_both_sums() {
        let error = verify_digest([0; 32], [1; 32]).unwrap_err().to_string();
        assert!(
            error.contains(&"00".repeat(32)) && error.contains(&"01".repeat(32)),
            "{error}"
        );
    }
}
