//! One job: request, stream to `NAME.part`, verify, publish as `NAME`.
//!
//! The final name only ever appears through `rename` (or `hard_link`, for a
//! name the server suggested), so it never holds a partial or unverified file.
//!
//! A part is resumed only when its sidecar proves which version of the file
//! it holds (see `part`): the request carries `Range` and `If-Range`, and
//! the answer decides. A 206 that continues exactly where the part ends is
//! appended; a 200 (range ignored, or the file changed) starts over from
//! zero; a 416 that says the file is exactly as long as the part completes
//! it; anything else throws the part away and asks again for the whole file.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use thiserror::Error;
use ureq::Agent;
use ureq::http::{HeaderMap, Response, header};

use crate::cancel::Cancel;
use crate::config::FetchConfig;
use crate::content_disposition;
use crate::http;
use crate::input::Origin;
use crate::naming::{self, Claims};
use crate::part::{ContentRange, Meta, PartFiles, unsatisfied_length};
use crate::progress::WorkerBar;
use crate::segment::{SplitPolicy, Transfers};

/// Bytes are read and written in chunks of this size through one buffer per
/// worker, so memory stays flat whatever the file size.
pub const CHUNK_BYTES: usize = 256 * 1024;
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// `-1`, `-2`, ... suffixes tried for a server-suggested name before giving up.
const MAX_NAME_TRIES: usize = 1000;

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
    /// The size of the saved file.
    pub bytes: u64,
    pub http_status: Option<u16>,
    pub elapsed: Duration,
    /// The part of `elapsed` spent waiting for servers: for response headers,
    /// and in pauses before a retry.
    pub waiting: Duration,
    /// Requests made, retries included.
    pub attempts: u32,
    pub error: Option<String>,
    /// Where the file was saved, when not under the planned name
    /// (`--content-disposition`).
    pub saved_as: Option<PathBuf>,
}

impl Outcome {
    pub fn failed(message: String) -> Outcome {
        Outcome {
            status: Status::Failed,
            error: Some(message),
            ..Outcome::default()
        }
    }
}

impl Default for Outcome {
    fn default() -> Outcome {
        Outcome {
            status: Status::Ok,
            bytes: 0,
            http_status: None,
            elapsed: Duration::ZERO,
            waiting: Duration::ZERO,
            attempts: 0,
            error: None,
            saved_as: None,
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
    #[error("connection closed after {received} of {expected} bytes")]
    Truncated { received: u64, expected: u64 },
    #[error("{0}")]
    Protocol(String),
    #[error("{0}")]
    Local(String),
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
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => http::is_transient_status(*status),
            FetchError::Network(e) => http::is_transient(e),
            FetchError::Truncated { .. } | FetchError::Restart | FetchError::Changed(_) => true,
            FetchError::Protocol(_)
            | FetchError::Local(_)
            | FetchError::Checksum { .. }
            | FetchError::Cancelled => false,
        }
    }

    pub(crate) fn local(action: &str, path: &Path, error: io::Error) -> FetchError {
        FetchError::Local(format!("cannot {action} {}: {error}", path.display()))
    }
}

/// A file saved under its final name.
struct Saved {
    bytes: u64,
    path: PathBuf,
}

/// Where a resumed request starts, and the version the part holds.
struct ResumePoint {
    offset: u64,
    meta: Meta,
}

/// A worker's tools for running jobs one after another.
pub struct Fetcher<'a> {
    agent: Agent,
    config: &'a FetchConfig,
    cancel: &'a Cancel,
    /// The batch's names, shared with planning: a server-suggested name is
    /// claimed here so it can never be another job's name.
    names: &'a Mutex<Claims>,
    buffer: Vec<u8>,
    sharing: Option<Sharing<'a>>,
    /// The part of the current job was started by this run, so a retry may
    /// resume it even without `-c`.
    part_is_ours: bool,
    /// The last output directory made, so a batch does not ask again per file.
    made_dir: Option<PathBuf>,
    /// Off for the rest of a job once its ranges proved unreliable.
    share_this_job: bool,
    /// Time blocked on servers since last taken: from sending a request to its
    /// response headers, and pauses before a retry. Threads exist to overlap it.
    waiting: Duration,
}

/// How a worker offers a big transfer to the rest of the pool.
#[derive(Clone, Copy)]
pub struct Sharing<'a> {
    pub transfers: &'a Transfers,
    /// Starts up to this many more workers, as the pool has room.
    pub call_for_help: &'a (dyn Fn(usize) + Sync),
    /// Workers that are idle or not started yet: how many ways to cut a file up front.
    pub spare_workers: &'a (dyn Fn() -> usize + Sync),
}

impl<'a> Fetcher<'a> {
    pub fn new(
        agent: Agent,
        config: &'a FetchConfig,
        cancel: &'a Cancel,
        names: &'a Mutex<Claims>,
    ) -> Self {
        Fetcher {
            agent,
            config,
            cancel,
            names,
            buffer: vec![0; CHUNK_BYTES],
            sharing: None,
            part_is_ours: false,
            made_dir: None,
            share_this_job: true,
            waiting: Duration::ZERO,
        }
    }

    pub fn with_sharing(mut self, sharing: Sharing<'a>) -> Self {
        self.sharing = Some(sharing);
        self
    }

    /// Makes the directory of `path` unless it was the last one made.
    fn make_parent(&mut self, path: &Path) -> Result<(), FetchError> {
        let dir = path.parent();
        if dir.is_some() && dir == self.made_dir.as_deref() {
            return Ok(());
        }
        create_parent(path)?;
        self.made_dir = dir.map(Path::to_path_buf);
        Ok(())
    }

    /// A GET with the user's headers.
    pub(crate) fn get(&self, url: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        let mut request = self.agent.get(url);
        for (name, value) in &self.config.http.headers {
            request = request.header(name, value);
        }
        request
    }

    /// Sends a request, counting the wait for its response as waiting.
    pub(crate) fn send(
        &mut self,
        request: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
    ) -> Result<Response<ureq::Body>, FetchError> {
        let sent = Instant::now();
        let response = request.call();
        self.waiting += sent.elapsed();
        response.map_err(FetchError::Network)
    }

    /// The waiting counted since the last call.
    pub fn take_waiting(&mut self) -> Duration {
        std::mem::take(&mut self.waiting)
    }

    pub(crate) fn cancel_requested(&self) -> bool {
        self.cancel.aborted()
    }

    pub(crate) fn buffer_mut(&mut self) -> &mut [u8] {
        &mut self.buffer
    }

    pub fn run(&mut self, job: &Job, bar: &WorkerBar) -> Outcome {
        let started = Instant::now();
        let mut outcome = Outcome::default();
        if !self.config.overwrite && job.path.exists() {
            outcome.status = Status::Skipped;
            return outcome;
        }
        let files = PartFiles::of(&job.path);
        self.part_is_ours = false;
        self.share_this_job = true;
        match self.with_retries(job, &files, bar, &mut outcome) {
            Ok(saved) => {
                outcome.bytes = saved.bytes;
                outcome.saved_as = (saved.path != job.path).then_some(saved.path);
            }
            Err(error) => {
                outcome.status = Status::Failed;
                outcome.error = Some(self.give_up(job, &files, error));
            }
        }
        outcome.elapsed = started.elapsed();
        outcome.waiting = self.take_waiting();
        outcome
    }

    /// Cleans up after a failed job and says why it failed. An interrupted
    /// job keeps a resumable part for `-c`; any other failure leaves nothing.
    fn give_up(&self, job: &Job, files: &PartFiles, error: FetchError) -> String {
        if matches!(error, FetchError::Cancelled) && resume_point(job, files).is_some() {
            return format!("interrupted; {} kept for -c", files.part.display());
        }
        // Nothing to clean up is the common case; a file that cannot be
        // removed is only ever a `.part` or a sidecar, never a final name.
        let _ = files.remove();
        error.to_string()
    }

    fn with_retries(
        &mut self,
        job: &Job,
        files: &PartFiles,
        bar: &WorkerBar,
        outcome: &mut Outcome,
    ) -> Result<Saved, FetchError> {
        // A part that is not resumed (no -c, or no usable sidecar) is stale:
        // `fresh` replaces it, and `give_up` removes it.
        let mut failures = 0;
        loop {
            outcome.attempts += 1;
            let error = match self.attempt(job, files, bar, outcome) {
                Ok(saved) => return Ok(saved),
                Err(error) => error,
            };
            // The part is gone, so the next request cannot end in another restart.
            if matches!(error, FetchError::Restart) && !self.cancel.aborted() {
                continue;
            }
            // Ranges of this file came back wrong: one plain stream will do.
            if matches!(error, FetchError::Changed(_)) {
                self.share_this_job = false;
            }
            failures += 1;
            self.wait_to_retry(error, failures)?;
        }
    }

    /// The one retry policy of jobs and ranges: gives the error back when it
    /// is final, else waits out the backoff. A shut-down agent looks like a
    /// dropped connection, so the cancel flag is asked first.
    pub(crate) fn wait_to_retry(
        &mut self,
        error: FetchError,
        failures: u32,
    ) -> Result<(), FetchError> {
        if self.cancel.aborted() {
            return Err(FetchError::Cancelled);
        }
        if !error.is_transient() || failures > self.config.http.retries {
            return Err(error);
        }
        self.pause(backoff(failures, &error, self.config.http.retry_delay));
        Ok(())
    }

    /// Sleeps in short steps so a Ctrl-C is not kept waiting behind a backoff.
    /// A pause waits for a server to recover, so it counts as waiting.
    fn pause(&mut self, wait: Duration) {
        let started = Instant::now();
        let deadline = started + wait;
        while !self.cancel.aborted() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            thread::sleep(left.min(Duration::from_millis(50)));
        }
        self.waiting += started.elapsed();
    }

    fn attempt(
        &mut self,
        job: &Job,
        files: &PartFiles,
        bar: &WorkerBar,
        outcome: &mut Outcome,
    ) -> Result<Saved, FetchError> {
        let may_resume = self.config.resume || self.part_is_ours;
        let resume = may_resume.then(|| resume_point(job, files)).flatten();
        let response = self.request(&job.url, resume.as_ref())?;
        let status = response.status().as_u16();
        outcome.http_status = Some(status);
        http::check_scheme(&response).map_err(FetchError::Protocol)?;
        match (status, resume) {
            (206, Some(resume)) => self.append(job, files, bar, resume, response),
            (416, Some(resume)) => self.complete(job, files, resume, response),
            (206, None) => Err(FetchError::Protocol(
                "HTTP 206 (part of the file) for a request of the whole file".into(),
            )),
            _ if response.status().is_success() => self.fresh(job, files, bar, response),
            _ => Err(status_error(&response)),
        }
    }

    fn request(
        &mut self,
        url: &str,
        resume: Option<&ResumePoint>,
    ) -> Result<Response<ureq::Body>, FetchError> {
        let mut request = self.get(url);
        if let Some(resume) = resume {
            request = request.header(header::RANGE, format!("bytes={}-", resume.offset));
            if let Some(validator) = resume.meta.validator() {
                request = request.header(header::IF_RANGE, validator);
            }
        }
        self.send(request)
    }

    /// A whole file: whatever the part held is replaced from byte zero.
    fn fresh(
        &mut self,
        job: &Job,
        files: &PartFiles,
        bar: &WorkerBar,
        response: Response<ureq::Body>,
    ) -> Result<Saved, FetchError> {
        let length = response.body().content_length();
        let mut meta = Meta::from_headers(&job.url, response.headers(), length);
        meta.name = self.suggested_name(response.headers());
        self.make_parent(&files.part)?;
        // Replaces a stale part from an earlier run, never following a link.
        let mut file = files
            .create()
            .map_err(|e| FetchError::local("create", &files.part, e))?;
        self.part_is_ours = true;
        let sharing = self
            .sharing
            .filter(|_| self.share_this_job)
            .filter(|s| worth_sharing(&response, &meta, s.transfers.policy()));
        if let Some(sharing) = sharing {
            let validator = meta.validator().unwrap_or_default().to_string();
            let received =
                self.download_shared(job, response, validator, file, &files.part, sharing, bar)?;
            let hasher = self.hash_part(job, files)?;
            return self.finish(job, files, hasher, received, meta.name);
        }
        bar.start(&job.path, length);
        let mut hasher = job.sha256.map(|_| Sha256::new());
        let mut body = response.into_body().into_reader();
        // A shared part fills in any order, so only a streamed one gets a sidecar for -c.
        let sidecar = meta
            .validator()
            .is_some()
            .then_some(Sidecar { files, meta: &meta });
        let received = self.stream(
            &mut body,
            &mut file,
            hasher.as_mut(),
            bar,
            &files.part,
            sidecar,
        )?;
        drop(file);
        check_length(received, length)?;
        self.finish(job, files, hasher, received, meta.name)
    }

    /// The rest of a file after the part, if the 206 is exactly that.
    fn append(
        &mut self,
        job: &Job,
        files: &PartFiles,
        bar: &WorkerBar,
        resume: ResumePoint,
        response: Response<ureq::Body>,
    ) -> Result<Saved, FetchError> {
        let ResumePoint { offset, meta } = resume;
        let total = ContentRange::from_headers(response.headers())
            .filter(|range| range.continues_at(offset))
            .and_then(|range| range.total)
            .filter(|&total| meta.length.is_none_or(|length| length == total));
        let Some(total) = total.filter(|_| meta.agrees_with(response.headers())) else {
            return restart(files);
        };
        let mut hasher = job.sha256.map(|_| Sha256::new());
        let (mut file, length) = self.read_part(files, hasher.as_mut())?;
        if length != offset {
            return restart(files);
        }
        let name = self.suggested_name(response.headers()).or(meta.name);
        bar.start(&job.path, Some(total));
        bar.resume_at(offset);
        let mut body = response.into_body().into_reader();
        let received = self.stream(
            &mut body,
            &mut file,
            hasher.as_mut(),
            bar,
            &files.part,
            None,
        )?;
        drop(file);
        check_length(offset + received, Some(total))?;
        self.finish(job, files, hasher, offset + received, name)
    }

    /// A 416 to a resumed request: the part may already be the whole file.
    fn complete(
        &mut self,
        job: &Job,
        files: &PartFiles,
        resume: ResumePoint,
        response: Response<ureq::Body>,
    ) -> Result<Saved, FetchError> {
        let ResumePoint { offset, meta } = resume;
        let whole = unsatisfied_length(response.headers()) == Some(offset)
            && meta.length.is_none_or(|length| length == offset)
            && meta.agrees_with(response.headers());
        if !whole {
            return restart(files);
        }
        let name = self.suggested_name(response.headers()).or(meta.name);
        drop(response);
        let mut hasher = job.sha256.map(|_| Sha256::new());
        // Without a checksum to compute, the part's length is already known.
        if hasher.is_some() && self.read_part(files, hasher.as_mut())?.1 != offset {
            return restart(files);
        }
        self.finish(job, files, hasher, offset, name)
    }

    /// Verifies and publishes a complete part; the sidecar goes with it.
    fn finish(
        &self,
        job: &Job,
        files: &PartFiles,
        hasher: Option<Sha256>,
        bytes: u64,
        suggested: Option<String>,
    ) -> Result<Saved, FetchError> {
        if let (Some(expected), Some(hasher)) = (job.sha256, hasher) {
            verify_digest(expected, hasher.finalize().into())?;
        }
        let path = self.publish(job, files, suggested)?;
        // A leftover sidecar without its part is harmless: it is never read alone.
        let _ = files.remove_meta();
        Ok(Saved { bytes, path })
    }

    /// The planned name is replaced by `rename` (an existing file there was
    /// either skipped earlier or is to be overwritten). A server-suggested
    /// name never replaces anything: see `publish_suggested`.
    fn publish(
        &self,
        job: &Job,
        files: &PartFiles,
        suggested: Option<String>,
    ) -> Result<PathBuf, FetchError> {
        let planned = job.path.file_name().and_then(OsStr::to_str);
        match suggested {
            Some(name) if Some(name.as_str()) != planned => {
                self.publish_suggested(files, &job.path, &name)
            }
            _ => {
                fs::rename(&files.part, &job.path)
                    .map_err(|e| FetchError::local("rename into", &job.path, e))?;
                Ok(job.path.clone())
            }
        }
    }

    /// Takes the first name, `wanted`, `wanted-1`, ..., that no job of the
    /// batch has claimed and that does not exist on disk, atomically.
    fn publish_suggested(
        &self,
        files: &PartFiles,
        planned: &Path,
        wanted: &str,
    ) -> Result<PathBuf, FetchError> {
        let dir = planned.parent().unwrap_or(Path::new(""));
        for _ in 0..MAX_NAME_TRIES {
            let name = self
                .names
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .claim(wanted);
            let path = dir.join(name);
            match link_exclusive(&files.part, &path) {
                Ok(()) => return Ok(path),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(FetchError::local("create", &path, e)),
            }
        }
        Err(FetchError::Local(format!(
            "no free name like {wanted} in {}",
            dir.display()
        )))
    }

    /// The server's `Content-Disposition` name, sanitised, when asked for.
    fn suggested_name(&self, headers: &HeaderMap) -> Option<String> {
        if !self.config.content_disposition {
            return None;
        }
        let value = headers.get(header::CONTENT_DISPOSITION)?;
        // Servers do send raw UTF-8 there, which `to_str` would refuse.
        let text = String::from_utf8_lossy(value.as_bytes());
        content_disposition::filename(&text).map(|raw| naming::sanitize(&raw))
    }

    /// The checksum of a finished part, read back from disk (a shared part
    /// is written out of order, so it cannot be hashed as it streams).
    fn hash_part(&mut self, job: &Job, files: &PartFiles) -> Result<Option<Sha256>, FetchError> {
        let Some(_) = job.sha256 else { return Ok(None) };
        let mut hasher = Sha256::new();
        self.read_part(files, Some(&mut hasher))?;
        Ok(Some(hasher))
    }

    /// Opens the existing part (for appending) and reads it from its start,
    /// hashing it if asked; returns the file and its length.
    fn read_part(
        &mut self,
        files: &PartFiles,
        hasher: Option<&mut Sha256>,
    ) -> Result<(File, u64), FetchError> {
        let part = &files.part;
        let mut file = files
            .open_existing()
            .map_err(|e| FetchError::local("open", part, e))?;
        let Some(hasher) = hasher else {
            let length = file
                .metadata()
                .map_err(|e| FetchError::local("read", part, e))?;
            return Ok((file, length.len()));
        };
        let mut length = 0;
        loop {
            let n = match file.read(&mut self.buffer) {
                Ok(0) => return Ok((file, length)),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(FetchError::local("read", part, e)),
            };
            hasher.update(&self.buffer[..n]);
            length += n as u64;
        }
    }

    /// Copies the body into the part. Bytes that arrived before a failure are
    /// written too: they are good, and a retry resumes after them.
    ///
    /// The sidecar that makes the part resumable is written just before the
    /// first bytes, and only if the body did not fit in one buffer: a file
    /// that arrives at once has nothing to resume, and skipping it saves four
    /// file operations per small file.
    fn stream(
        &mut self,
        body: &mut impl Read,
        file: &mut File,
        mut hasher: Option<&mut Sha256>,
        bar: &WorkerBar,
        part: &Path,
        mut sidecar: Option<Sidecar>,
    ) -> Result<u64, FetchError> {
        let mut received = 0u64;
        loop {
            let (filled, ended) = self.fill_buffer(body);
            if !matches!(ended, Ok(true))
                && let Some(Sidecar { files, meta }) = sidecar.take()
            {
                files
                    .write_meta(meta)
                    .map_err(|e| FetchError::local("create", &files.meta, e))?;
            }
            let chunk = &self.buffer[..filled];
            file.write_all(chunk)
                .map_err(|e| FetchError::local("write", part, e))?;
            if let Some(hasher) = hasher.as_deref_mut() {
                hasher.update(chunk);
            }
            received += filled as u64;
            bar.advance(filled as u64);
            if ended? {
                return Ok(received);
            }
        }
    }

    /// Reads until the buffer is full or the body ends, so the disk sees few,
    /// large writes however small the network's reads are. Returns the bytes
    /// read and whether the body ended (or why reading failed).
    fn fill_buffer(&mut self, body: &mut impl Read) -> (usize, Result<bool, FetchError>) {
        self.fill_buffer_to(body, self.buffer.len())
    }

    /// Like `fill_buffer`, stopping at `want` bytes.
    pub(crate) fn fill_buffer_to(
        &mut self,
        body: &mut impl Read,
        want: usize,
    ) -> (usize, Result<bool, FetchError>) {
        let mut filled = 0;
        while filled < want {
            if self.cancel.aborted() {
                return (filled, Err(FetchError::Cancelled));
            }
            match body.read(&mut self.buffer[filled..want]) {
                Ok(0) => return (filled, Ok(true)),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (filled, Err(FetchError::Network(http::from_body_error(e)))),
            }
        }
        (filled, Ok(false))
    }
}

/// The sidecar a streamed part gets once it is worth resuming.
struct Sidecar<'f> {
    files: &'f PartFiles,
    meta: &'f Meta,
}

/// A whole-file answer worth sharing among idle workers: big enough, ranges
/// accepted, and a validator for `If-Range` so every range is of this version.
fn worth_sharing(response: &Response<ureq::Body>, meta: &Meta, policy: SplitPolicy) -> bool {
    let accepts_ranges = response
        .headers()
        .get(header::ACCEPT_RANGES)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"bytes"));
    response.status() == 200
        && accepts_ranges
        && meta.validator().is_some()
        && response
            .body()
            .content_length()
            .is_some_and(|length| policy.allows(length))
}

/// The part can be resumed when it has bytes and its sidecar names this URL
/// and a validator, and the part is not longer than the file it belongs to.
fn resume_point(job: &Job, files: &PartFiles) -> Option<ResumePoint> {
    let offset = files.part_len().filter(|&n| n > 0)?;
    let meta = files.read_meta().filter(|meta| meta.url == job.url)?;
    if meta.length.is_some_and(|length| offset > length) {
        return None;
    }
    Some(ResumePoint { offset, meta })
}

fn restart(files: &PartFiles) -> Result<Saved, FetchError> {
    files
        .remove()
        .map_err(|e| FetchError::local("remove", &files.part, e))?;
    Err(FetchError::Restart)
}

pub(crate) fn status_error(response: &Response<ureq::Body>) -> FetchError {
    let retry_after = http::retry_after(
        response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
    );
    FetchError::Status {
        status: response.status().as_u16(),
        retry_after,
    }
}

fn create_parent(path: &Path) -> Result<(), FetchError> {
    match path.parent() {
        Some(dir) => {
            fs::create_dir_all(dir).map_err(|e| FetchError::local("create directory", dir, e))
        }
        None => Ok(()),
    }
}

/// ureq enforces a declared Content-Length itself; this check does not
/// depend on it, and covers a 206 whose length comes from Content-Range.
fn check_length(received: u64, expected: Option<u64>) -> Result<(), FetchError> {
    match expected {
        Some(expected) if received < expected => Err(FetchError::Truncated { received, expected }),
        Some(expected) if received > expected => Err(FetchError::Protocol(format!(
            "the server sent {received} bytes, more than the {expected} it announced"
        ))),
        _ => Ok(()),
    }
}

/// Makes `to` a name of `from` unless `to` exists (even as a dangling
/// symlink, which is neither followed nor replaced).
fn link_exclusive(from: &Path, to: &Path) -> io::Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => {
            let _ = fs::remove_file(from);
            Ok(())
        }
        Err(e) if !hard_links_unsupported(&e) => Err(e),
        Err(_) => {
            // No hard links on this filesystem: claim the name with an empty
            // file (O_EXCL), then move the complete part over it.
            OpenOptions::new().write(true).create_new(true).open(to)?;
            fs::rename(from, to).inspect_err(|_| {
                // Never leave the empty placeholder under a final name.
                let _ = fs::remove_file(to);
            })
        }
    }
}

/// The errors of `link` on filesystems that have no hard links (FAT, some
/// network mounts); anything else is a real failure to report.
fn hard_links_unsupported(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EPERM | libc::EOPNOTSUPP | libc::EXDEV | libc::EMLINK)
    )
}

fn verify_digest(expected: [u8; 32], actual: [u8; 32]) -> Result<(), FetchError> {
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
        let files = PartFiles::of(Path::new("out/a.bin"));
        assert_eq!(files.part, PathBuf::from("out/a.bin.part"));
        assert_eq!(files.meta, PathBuf::from("out/a.bin.part.meta"));
    }

    #[test]
    fn short_and_long_bodies_are_errors() {
        assert!(check_length(10, Some(10)).is_ok());
        assert!(check_length(10, None).is_ok());
        let short = check_length(3, Some(10)).unwrap_err();
        assert!(short.is_transient());
        assert_eq!(short.to_string(), "connection closed after 3 of 10 bytes");
        assert!(!check_length(11, Some(10)).unwrap_err().is_transient());
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
