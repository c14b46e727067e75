//! One job: request, stream the body into `NAME.part`, verify, publish.
//!
//! A part is resumed only when its sidecar proves which version of the file
//! it holds (see `part`): the request carries `Range` and `If-Range`, and
//! the answer decides. A 206 that continues exactly where the part ends is
//! appended; a 200 (range ignored, or the file changed) starts over from
//! zero; a 416 that says the file is exactly as long as the part completes
//! it; anything else throws the part away and asks again for the whole file.
//!
//! A big file from a server that accepts ranges is handed to `split`, which
//! shares it with idle workers.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use ureq::Body;
use ureq::http::{HeaderMap, Response, header};

use crate::config::{FetchConfig, SplitPolicy};
use crate::engine::job::{End, Failure, FailureKind, FetchError, Job, Outcome};
use crate::engine::outdir::Dir;
use crate::engine::part::{Meta, PartFiles};
use crate::engine::publish::{Destination, publish};
use crate::engine::resume::{
    self, FinalFile, Resume, ResumePoint, first_gap, http_date, resume_point,
};
use crate::engine::split::{PartOnDisk, Piece, Sharer, Transfers};
use crate::engine::transport::{
    Clock, ContentRange, Transport, check_scheme, status_error, unsatisfied_length,
};
use crate::naming::{self, Claims, content_disposition};

/// Bytes are read and written in chunks of this size through one buffer per
/// worker, so memory stays flat whatever the file size.
pub const CHUNK_BYTES: usize = 256 * 1024;

/// A worker's tools for running jobs one after another.
pub struct Fetcher<'a> {
    transport: Transport<'a>,
    buffer: Vec<u8>,
    config: &'a FetchConfig,
    /// The batch's names, shared with planning: a server-suggested name is
    /// claimed here so it can never be another job's name.
    names: &'a Mutex<Claims>,
    /// The run's shared files, when big files may be shared.
    transfers: Option<&'a Transfers>,
    /// The output directory (`-d`), opened once.
    out: Dir,
    /// The directory below it the last job went in, so a batch does not
    /// open it again for every file.
    last_dir: Option<(Vec<String>, Dir)>,
}

/// What one job's attempts learn as they go; made afresh for every job.
struct Attempts<'j> {
    job: &'j Job,
    files: PartFiles,
    /// A file already under the final name, to continue (`-c`).
    final_file: Option<FinalFile>,
    /// The final file as it was before it was moved to the part to be
    /// continued: whatever happens, it goes back under its name.
    took_over: Option<FinalFile>,
    /// Off once this file's ranges proved unreliable: one plain stream will do.
    may_share: bool,
    made: u32,
    http_status: Option<u16>,
    /// Workers that moved the bytes of the saved file.
    workers: usize,
    /// `-N`: the time of the file under the final name, for If-Modified-Since.
    newer_than: Option<SystemTime>,
    /// The server's date for the file was not believable, so it was not used.
    odd_date: bool,
    /// Bytes on disk before the first request (see `Outcome::present`).
    present: u64,
}

/// A 416 to `bytes=LENGTH-` for a final file: it is whole if the server's
/// is as long.
fn final_is_complete(file: &FinalFile, headers: &HeaderMap) -> Result<Done, FetchError> {
    match unsatisfied_length(headers) {
        Some(total) if total == file.length => Ok(Done::AlreadyComplete),
        Some(total) if total < file.length => Err(longer_than(file, total)),
        _ => Err(FetchError::Protocol(
            "HTTP 416 without the file's length in Content-Range".into(),
        )),
    }
}

/// A 200 to the ranged request for a final file (the date did not match, or
/// the server ignores ranges): complete when as long, reported when longer,
/// and otherwise downloaded whole to replace it (`None`).
fn final_against_whole(
    file: &FinalFile,
    response: &Response<Body>,
) -> Result<Option<Done>, FetchError> {
    match response.body().content_length() {
        Some(length) if length == file.length => Ok(Some(Done::AlreadyComplete)),
        Some(length) if length < file.length => Err(longer_than(file, length)),
        _ => Ok(None),
    }
}

fn longer_than(file: &FinalFile, remote: u64) -> FetchError {
    FetchError::LongerThanServer {
        local: file.length,
        remote,
    }
}

/// A part with every byte, about to be verified and published.
struct Complete {
    hasher: Option<Sha256>,
    bytes: u64,
    /// The server's name for it (`--content-disposition`).
    name: Option<String>,
    /// The server's date for it, for the file's time.
    last_modified: Option<String>,
}

impl Complete {
    fn of(hasher: Option<Sha256>, bytes: u64, version: Meta) -> Complete {
        Complete {
            hasher,
            bytes,
            name: version.name,
            last_modified: version.last_modified,
        }
    }
}

/// Gives the part the server's date, when there is a believable one: not
/// before 1980 and not in the future (servers do send 1970). False when a
/// date was given but is not believable, so the run can say so once.
fn stamp(files: &PartFiles, last_modified: Option<&str>) -> bool {
    let Some(date) = last_modified.and_then(|text| httpdate::parse_http_date(text).ok()) else {
        return true;
    };
    let earliest = UNIX_EPOCH + Duration::from_secs(315_532_800);
    // A date ahead of this clock would go out as If-Modified-Since, which
    // servers ignore when it is in the future, so -N would fetch again.
    let latest = SystemTime::now();
    if date < earliest || date > latest {
        return false;
    }
    // A file whose time cannot be set is still the right file.
    let _ = files.dir().set_modified(files.part_name(), date);
    true
}

/// How a job's attempts ended well.
enum Done {
    Saved(Saved),
    /// `-c` found the file under its final name already whole.
    AlreadyComplete,
}

/// A file saved under its final name.
struct Saved {
    bytes: u64,
    path: PathBuf,
}

impl<'a> Fetcher<'a> {
    pub fn new(
        transport: Transport<'a>,
        config: &'a FetchConfig,
        names: &'a Mutex<Claims>,
        transfers: Option<&'a Transfers>,
        out: Dir,
    ) -> Self {
        Fetcher {
            transport,
            buffer: vec![0; CHUNK_BYTES],
            config,
            names,
            transfers,
            out,
            last_dir: None,
        }
    }

    /// A range of a shared file, taken by this worker while it had no job.
    pub fn run_piece(&mut self, transfers: &Transfers, piece: Arc<Piece>) {
        Sharer {
            transport: &mut self.transport,
            buffer: &mut self.buffer,
            transfers,
        }
        .run_piece(piece);
    }

    /// What the transport counted since it was last asked.
    pub fn take_clock(&mut self) -> Clock {
        self.transport.take_clock()
    }

    pub fn run(&mut self, job: &Job) -> Outcome {
        let started = Instant::now();
        let dir = match self.dir_for(job) {
            Ok(dir) => dir,
            Err(error) => {
                let kind = error.failure_kind();
                let message = error.to_string();
                return Outcome::new(End::Failed(Failure { message, kind }));
            }
        };
        let Some(start) = resume::start(&dir, &job.name, self.config) else {
            return Outcome::new(End::Skipped);
        };
        let mut attempts = Attempts {
            job,
            files: PartFiles::new(&dir, &job.name),
            final_file: start.final_file,
            took_over: None,
            may_share: true,
            made: 0,
            http_status: None,
            workers: 1,
            newer_than: start.newer_than,
            odd_date: false,
            present: 0,
        };
        let end = match self.with_retries(&mut attempts) {
            Ok(Done::Saved(saved)) => End::Saved {
                bytes: saved.bytes,
                path: saved.path,
            },
            Ok(Done::AlreadyComplete) => End::Skipped,
            Err(error) => End::Failed(self.give_up(&attempts, error)),
        };
        let clock = self.transport.take_clock();
        Outcome {
            end,
            http_status: attempts.http_status,
            elapsed: started.elapsed(),
            waiting: clock.waiting,
            attempts: attempts.made,
            received: clock.received,
            workers: attempts.workers,
            odd_date: attempts.odd_date,
            present: attempts.present,
        }
    }

    /// Cleans up after a failed job and says why it failed. An interrupted
    /// job, one stopped by a full disk and one whose connection failed keep
    /// a resumable part for the next run; a file taken over from its final
    /// name goes back there; any other failure (a checksum, a changed file)
    /// leaves nothing.
    fn give_up(&self, attempts: &Attempts, error: FetchError) -> Failure {
        let files = &attempts.files;
        let kind = error.failure_kind();
        // What arrived before a lost connection, an interrupt or a full disk
        // is still the file; after any other failure it may not be.
        let keep = kind != FailureKind::Job || error.cut_the_transfer();
        let message = if let Some(original) = attempts.took_over {
            let shown = attempts.job.path.display();
            match attempts.give_back(original, keep) {
                Ok(()) if keep => format!("{error}; {shown} kept, -c continues it"),
                Ok(()) => format!("{error}; {shown} left as it was"),
                Err(_) => format!("{error}; {} kept", files.part_path().display()),
            }
        } else if keep && resume_point(attempts.job, files, None).is_some() {
            let part = files.part_path();
            format!("{error}; {} kept, a re-run continues it", part.display())
        } else {
            // Nothing to clean up is the common case; a file that cannot be
            // removed is only ever a `.part` or a sidecar, never a final name.
            let _ = files.remove();
            error.to_string()
        };
        Failure { message, kind }
    }

    fn with_retries(&mut self, attempts: &mut Attempts) -> Result<Done, FetchError> {
        // A part that cannot be resumed (no usable sidecar, or another URL's)
        // is stale: `fresh` replaces it, and `give_up` removes it.
        let mut failures = 0;
        loop {
            attempts.made += 1;
            let error = match self.attempt(attempts) {
                Ok(done) => return Ok(done),
                Err(error) => error,
            };
            // The part is gone, so the next request cannot end in another restart.
            if matches!(error, FetchError::Restart) && !self.transport.cancelled() {
                continue;
            }
            if matches!(error, FetchError::Changed(_)) && attempts.took_over.is_none() {
                // Its ranges proved unreliable: one plain stream from zero will do.
                attempts.may_share = false;
                attempts.present = 0;
                attempts
                    .files
                    .remove()
                    .map_err(|e| FetchError::local("remove", &attempts.files.part_path(), e))?;
            }
            failures += 1;
            self.transport.wait_to_retry(error, failures)?;
        }
    }

    fn attempt(&mut self, attempts: &mut Attempts) -> Result<Done, FetchError> {
        let job = attempts.job;
        let resume = resume_point(job, &attempts.files, attempts.final_file);
        // Later attempts continue bytes this run fetched.
        if attempts.made == 1 {
            attempts.present = resume.as_ref().map_or(0, Resume::on_disk);
        }
        let response = self.request(&job.url, resume.as_ref(), attempts.newer_than)?;
        let status = response.status().as_u16();
        attempts.http_status = Some(status);
        check_scheme(&response)?;
        match (status, resume) {
            (304, _) if attempts.newer_than.is_some() => Ok(Done::AlreadyComplete),
            (206, Some(Resume::Append(point))) => self.append(attempts, point, response),
            (206, Some(Resume::Fill { meta, length })) => {
                self.fill(attempts, meta, length, response)
            }
            (206, Some(Resume::Final(file))) => self.take_over(attempts, file, response),
            (416, Some(Resume::Append(point))) => self.complete(attempts, point, response),
            (416, Some(Resume::Final(file))) => final_is_complete(&file, response.headers()),
            (416, Some(Resume::Fill { .. })) => attempts.restart(),
            (206, None) => Err(FetchError::Protocol(
                "HTTP 206 (part of the file) for a request of the whole file".into(),
            )),
            (_, Some(Resume::Final(file))) if response.status().is_success() => {
                match final_against_whole(&file, &response)? {
                    Some(done) => Ok(done),
                    None => self.fresh(attempts, response),
                }
            }
            // The file taken over is not replaced by another version's bytes:
            // it goes back, and the next attempt decides afresh.
            _ if response.status().is_success() && attempts.took_over.is_some() => {
                attempts.restart()
            }
            _ if response.status().is_success() => self.fresh(attempts, response),
            _ => Err(status_error(&response)),
        }
    }

    fn request(
        &mut self,
        url: &str,
        resume: Option<&Resume>,
        newer_than: Option<SystemTime>,
    ) -> Result<Response<Body>, FetchError> {
        let mut request = self.transport.get(url);
        if let Some(date) = newer_than.and_then(http_date) {
            request = request.header(header::IF_MODIFIED_SINCE, date);
        }
        if let Some(resume) = resume {
            let (range, validator) = resume.range_and_validator();
            request = request.header(header::RANGE, range);
            if let Some(validator) = validator {
                request = request.header(header::IF_RANGE, validator);
            }
        }
        self.transport.send(request)
    }

    /// A whole file: whatever the part held is replaced from byte zero.
    fn fresh(
        &mut self,
        attempts: &mut Attempts,
        response: Response<Body>,
    ) -> Result<Done, FetchError> {
        // Whatever was on disk is replaced from byte zero.
        attempts.present = 0;
        let (job, files) = (attempts.job, &attempts.files);
        let length = response.body().content_length();
        let mut meta = Meta::from_headers(&job.url, response.headers(), length);
        meta.name = self.suggested_name(response.headers());
        // Replaces a stale part from an earlier run, never following a link.
        let mut file = files
            .create()
            .map_err(|e| FetchError::local("create", &files.part_path(), e))?;
        let transfers = self
            .transfers
            .filter(|_| attempts.may_share)
            .filter(|t| worth_sharing(&response, &meta, t.policy()));
        if let Some(transfers) = transfers {
            let part = PartOnDisk {
                file,
                files: files.clone(),
                meta: meta.clone(),
            };
            let mut sharer = Sharer {
                transport: &mut self.transport,
                buffer: &mut self.buffer,
                transfers,
            };
            let (received, workers) = sharer.download(response, part)?;
            attempts.workers = workers;
            let hasher = self.hash_part(job, files)?;
            return self.finish(attempts, Complete::of(hasher, received, meta));
        }
        self.transport
            .lane()
            .start(|| file_name(&job.path), length, 0);
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
            &files.part_path(),
            sidecar,
        )?;
        drop(file);
        check_length(received, length)?;
        // Only a body without a length can turn out shorter than `-c`'s file.
        if let Some(file) = attempts.final_file
            && received < file.length
        {
            return Err(longer_than(&file, received));
        }
        self.finish(attempts, Complete::of(hasher, received, meta))
    }

    /// The missing ranges of a shared part, if the 206 is exactly the first
    /// of them and of the recorded version.
    fn fill(
        &mut self,
        attempts: &mut Attempts,
        meta: Meta,
        length: u64,
        response: Response<Body>,
    ) -> Result<Done, FetchError> {
        let (job, files) = (attempts.job, &attempts.files);
        let (start, end) = first_gap(&meta, length);
        let asked = ContentRange {
            first: start,
            last: end - 1,
            total: Some(length),
        };
        let answered = ContentRange::from_headers(response.headers());
        let Some(transfers) = self
            .transfers
            .filter(|_| answered == Some(asked) && meta.agrees_with(response.headers()))
        else {
            return attempts.restart();
        };
        let file = files
            .open_for_filling()
            .map_err(|e| FetchError::local("open", &files.part_path(), e))?;
        let done = meta.done.clone().unwrap_or_default();
        let name = self.resumed_name(response.headers(), &meta);
        let last_modified = meta.last_modified.clone();
        let part = PartOnDisk {
            file,
            files: files.clone(),
            meta,
        };
        let mut sharer = Sharer {
            transport: &mut self.transport,
            buffer: &mut self.buffer,
            transfers,
        };
        let (received, workers) = sharer.fill(response, part, length, done)?;
        attempts.workers = workers;
        let hasher = self.hash_part(job, files)?;
        let complete = Complete {
            hasher,
            bytes: received,
            name,
            last_modified,
        };
        self.finish(attempts, complete)
    }

    /// Moves a file found under the final name to the part, with a sidecar
    /// for the version the 206 proves it is, and continues it there.
    fn take_over(
        &mut self,
        attempts: &mut Attempts,
        file: FinalFile,
        response: Response<Body>,
    ) -> Result<Done, FetchError> {
        let (job, files) = (attempts.job, &attempts.files);
        let Some(total) = ContentRange::from_headers(response.headers())
            .filter(|range| range.continues_at(file.length))
            .and_then(|range| range.total)
        else {
            return Err(FetchError::Protocol(format!(
                "the server's 206 does not continue {} after its {} bytes",
                job.path.display(),
                file.length
            )));
        };
        let mut meta = Meta::from_headers(&job.url, response.headers(), Some(total));
        if meta.validator().is_none() {
            // The 206 answered our If-Range date, so that date is the version.
            meta.last_modified = http_date(file.modified);
        }
        files
            .remove()
            .map_err(|e| FetchError::local("remove", &files.part_path(), e))?;
        files
            .dir()
            .rename(&job.name, files.part_name())
            .map_err(|e| FetchError::local("move", &job.path, e))?;
        attempts.took_over = Some(file);
        files
            .write_meta(&meta)
            .map_err(|e| FetchError::local("create", &files.meta_path(), e))?;
        let point = ResumePoint {
            offset: file.length,
            meta,
        };
        self.append(attempts, point, response)
    }

    /// The rest of a file after the part, if the 206 is exactly that.
    fn append(
        &mut self,
        attempts: &mut Attempts,
        resume: ResumePoint,
        response: Response<Body>,
    ) -> Result<Done, FetchError> {
        let (job, files) = (attempts.job, &attempts.files);
        let ResumePoint { offset, meta } = resume;
        let total = ContentRange::from_headers(response.headers())
            .filter(|range| range.continues_at(offset))
            .and_then(|range| range.total)
            .filter(|&total| meta.length.is_none_or(|length| length == total));
        let Some(total) = total.filter(|_| meta.agrees_with(response.headers())) else {
            return attempts.restart();
        };
        let mut hasher = job.sha256.map(|_| Sha256::new());
        let (mut file, length) = self.read_part(files, hasher.as_mut())?;
        if length != offset {
            return attempts.restart();
        }
        let name = self.resumed_name(response.headers(), &meta);
        self.transport
            .lane()
            .start(|| file_name(&job.path), Some(total), offset);
        let mut body = response.into_body().into_reader();
        let received = self.stream(
            &mut body,
            &mut file,
            hasher.as_mut(),
            &files.part_path(),
            None,
        )?;
        drop(file);
        check_length(offset + received, Some(total))?;
        let complete = Complete {
            name,
            ..Complete::of(hasher, offset + received, meta)
        };
        self.finish(attempts, complete)
    }

    /// A 416 to a resumed request: the part may already be the whole file.
    fn complete(
        &mut self,
        attempts: &mut Attempts,
        resume: ResumePoint,
        response: Response<Body>,
    ) -> Result<Done, FetchError> {
        let (job, files) = (attempts.job, &attempts.files);
        let ResumePoint { offset, meta } = resume;
        let whole = unsatisfied_length(response.headers()) == Some(offset)
            && meta.length.is_none_or(|length| length == offset)
            && meta.agrees_with(response.headers());
        if !whole {
            return attempts.restart();
        }
        let name = self.resumed_name(response.headers(), &meta);
        drop(response);
        let mut hasher = job.sha256.map(|_| Sha256::new());
        // Without a checksum to compute, the part's length is already known.
        if hasher.is_some() && self.read_part(files, hasher.as_mut())?.1 != offset {
            return attempts.restart();
        }
        let complete = Complete {
            name,
            ..Complete::of(hasher, offset, meta)
        };
        self.finish(attempts, complete)
    }

    /// Verifies and publishes a complete part; the sidecar goes with it.
    fn finish(&self, attempts: &mut Attempts, complete: Complete) -> Result<Done, FetchError> {
        let (job, files) = (attempts.job, &attempts.files);
        if let (Some(expected), Some(hasher)) = (job.sha256, complete.hasher) {
            verify_digest(expected, hasher.finalize().into())?;
        }
        if self.config.remote_time {
            attempts.odd_date = !stamp(files, complete.last_modified.as_deref());
        }
        // A file `-c` found under its name (taken over or not) keeps that
        // name whatever the server would call it: finished, or replaced by a
        // newer copy.
        let suggested = complete
            .name
            .as_deref()
            .filter(|_| attempts.final_file.is_none());
        let to = Destination {
            planned: &job.name,
            suggested,
            names: self.names,
            scope: &job.scope(),
        };
        let path = publish(files, to)?;
        // A leftover sidecar without its part is harmless: it is never read alone.
        let _ = files.drop_sidecar();
        Ok(Done::Saved(Saved {
            bytes: complete.bytes,
            path,
        }))
    }

    /// The job's directory below `-d`, made where missing, never through a symlink.
    fn dir_for(&mut self, job: &Job) -> Result<Dir, FetchError> {
        if let Some((dirs, dir)) = &self.last_dir
            && *dirs == job.dirs
        {
            return Ok(dir.clone());
        }
        let dir = self.out.subdir(&job.dirs).map_err(|e| {
            let shown = job.path.parent().unwrap_or(&job.path);
            FetchError::local("create directory", shown, e)
        })?;
        self.last_dir = Some((job.dirs.clone(), dir.clone()));
        Ok(dir)
    }

    /// A resumed file's name: the server's now, else the one it gave when
    /// the part was started.
    fn resumed_name(&self, headers: &HeaderMap, meta: &Meta) -> Option<String> {
        self.suggested_name(headers).or(meta.name.clone())
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
        let part = &files.part_path();
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
        part: &Path,
        mut sidecar: Option<Sidecar>,
    ) -> Result<u64, FetchError> {
        let mut received = 0u64;
        loop {
            let (filled, ended) = self.transport.fill(body, &mut self.buffer);
            if !matches!(ended, Ok(true))
                && let Some(Sidecar { files, meta }) = sidecar.take()
            {
                files
                    .write_meta(meta)
                    .map_err(|e| FetchError::local("create", &files.meta_path(), e))?;
            }
            let chunk = &self.buffer[..filled];
            file.write_all(chunk)
                .map_err(|e| FetchError::local("write", part, e))?;
            if let Some(hasher) = hasher.as_deref_mut() {
                hasher.update(chunk);
            }
            received += filled as u64;
            if ended? {
                return Ok(received);
            }
        }
    }
}

/// The sidecar a streamed part gets once it is worth resuming.
struct Sidecar<'f> {
    files: &'f PartFiles,
    meta: &'f Meta,
}

/// The final name of a job, for the display.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A whole-file answer worth sharing among idle workers: big enough, ranges
/// accepted, and a validator for `If-Range` so every range is of this version.
fn worth_sharing(response: &Response<Body>, meta: &Meta, policy: SplitPolicy) -> bool {
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

impl Attempts<'_> {
    /// The part cannot be continued: the next attempt asks again from the
    /// start. A file taken over from its final name goes back there as it
    /// was; it is never removed.
    fn restart(&mut self) -> Result<Done, FetchError> {
        self.present = 0;
        match self.took_over.take() {
            Some(original) => self.give_back(original, false),
            None => self.files.remove(),
        }
        .map_err(|e| FetchError::local("remove", &self.files.part_path(), e))?;
        Err(FetchError::Restart)
    }

    /// Puts a taken-over file back under its final name with its own time
    /// (its version for `If-Range`), cut back to its old length unless the
    /// bytes added since are kept.
    fn give_back(&self, original: FinalFile, keep_added: bool) -> io::Result<()> {
        let files = &self.files;
        if !keep_added {
            files.open_existing()?.set_len(original.length)?;
        }
        files.dir().rename(files.part_name(), &self.job.name)?;
        // Without its old time the file is still the user's file, unchanged.
        let _ = files.dir().set_modified(&self.job.name, original.modified);
        let _ = files.drop_sidecar();
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn digest_mismatch_names_both_sums() {
        let error = verify_digest([0; 32], [1; 32]).unwrap_err().to_string();
        assert!(
            error.contains(&"00".repeat(32)) && error.contains(&"01".repeat(32)),
            "{error}"
        );
    }
}
