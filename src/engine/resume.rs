//! What a job starts from, decided from what is on disk before any request:
//! skip it, ask only if newer (`-N`), continue a part or a short final file,
//! or fetch it whole. A run and `--dry-run` decide by these same rules.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::FetchConfig;
use crate::engine::job::Job;
use crate::engine::outdir::{Dir, Entry};
use crate::engine::part::{Meta, PartFiles};
use crate::engine::ranges::Ranges;
use crate::userinfo::redact;

/// What a job that is not skipped starts with.
#[derive(Debug, Clone, Copy)]
pub struct Start {
    /// A file under the final name, to continue (`-c`).
    pub final_file: Option<FinalFile>,
    /// `-N`: the time of the file under the final name, for If-Modified-Since.
    pub newer_than: Option<SystemTime>,
}

/// What a run does first with a job's file, as `--dry-run` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstStep {
    Skip,
    Check,
    Continue,
    Fetch,
    Replace,
}

impl FirstStep {
    pub fn name(self) -> &'static str {
        match self {
            FirstStep::Skip => "skip",
            FirstStep::Check => "check",
            FirstStep::Continue => "continue",
            FirstStep::Fetch => "fetch",
            FirstStep::Replace => "replace",
        }
    }
}

/// `None` when the job is skipped: something is under its name and no flag
/// asks to look at it again. Only a regular file is continued or checked; a
/// symlink counts as present when it leads to something.
pub fn start(dir: &Dir, name: &str, config: &FetchConfig) -> Option<Start> {
    let entry = dir.entry(name);
    let final_file = FinalFile::of(entry);
    let checks_final = config.resume || config.timestamping;
    if final_file.is_some() && !config.overwrite && !checks_final {
        return None;
    }
    let newer_than = final_file
        .filter(|_| config.timestamping && !config.overwrite)
        .map(|file| file.modified)
        .filter(|&time| is_http_date(time));
    // `-N` replaces a file rather than continuing it.
    let final_file =
        final_file.filter(|_| config.resume && !config.overwrite && !config.timestamping);
    let checked = final_file.is_some() || newer_than.is_some();
    // Only a symlink is left to look at: does it lead to something?
    if !checked && entry.is_some() && dir.holds(name) && !config.overwrite {
        return None;
    }
    Some(Start {
        final_file,
        newer_than,
    })
}

/// What a run would do first with `job`, in `dir` (`None`: the job's
/// directory does not exist yet), without writing anything.
pub fn first_step(job: &Job, dir: Option<&Dir>, config: &FetchConfig) -> FirstStep {
    let Some(dir) = dir else {
        return FirstStep::Fetch;
    };
    let Some(start) = start(dir, &job.name, config) else {
        return FirstStep::Skip;
    };
    if start.newer_than.is_some() {
        return FirstStep::Check;
    }
    let files = PartFiles::new(dir, &job.name);
    if resume_point(job, &files, start.final_file).is_some() {
        FirstStep::Continue
    } else if dir.holds(&job.name) {
        FirstStep::Replace
    } else {
        FirstStep::Fetch
    }
}

/// A regular file under a job's final name.
#[derive(Debug, Clone, Copy)]
pub struct FinalFile {
    pub length: u64,
    pub modified: SystemTime,
}

impl FinalFile {
    /// `None` for nothing there, or anything but a regular file (a symlink
    /// is never continued through).
    fn of(entry: Option<Entry>) -> Option<FinalFile> {
        let entry = entry.filter(|e| e.is_file)?;
        Some(FinalFile {
            length: entry.len,
            modified: entry.modified,
        })
    }
}

/// Where a resumed request starts, and the version the part holds.
pub struct ResumePoint {
    pub offset: u64,
    pub meta: Meta,
}

/// What a request may continue instead of starting from zero.
pub enum Resume {
    /// A streamed part: ask for the rest after it.
    Append(ResumePoint),
    /// A shared part with ranges missing: ask for the first, share the rest.
    Fill { meta: Meta, length: u64 },
    /// A file under the final name, left by another tool or a copy cut short.
    Final(FinalFile),
}

impl Resume {
    /// The bytes of the file already on disk.
    pub fn on_disk(&self) -> u64 {
        match self {
            Resume::Append(point) => point.offset,
            Resume::Fill { meta, .. } => meta.done.as_ref().map_or(0, Ranges::total),
            Resume::Final(file) => file.length,
        }
    }

    /// The `Range` to ask for and the `If-Range` to ask it with.
    pub fn range_and_validator(&self) -> (String, Option<String>) {
        match self {
            Resume::Append(point) => (
                format!("bytes={}-", point.offset),
                point.meta.validator().map(str::to_string),
            ),
            Resume::Fill { meta, length } => {
                let (start, end) = first_gap(meta, *length);
                (
                    format!("bytes={start}-{}", end - 1),
                    meta.validator().map(str::to_string),
                )
            }
            // The file's date stands for its version: a server whose copy
            // changed since then sends all of it, never a mismatched tail.
            Resume::Final(file) => (format!("bytes={}-", file.length), http_date(file.modified)),
        }
    }
}

/// The first range a shared part lacks.
pub fn first_gap(meta: &Meta, length: u64) -> (u64, u64) {
    let done = meta.done.clone().unwrap_or_default();
    done.missing(length).first().copied().unwrap_or((0, length))
}

/// What this job can continue: its part, when the part has bytes and its
/// sidecar names this URL and a validator (and fits the file), else the file
/// under its final name (`-c`), else nothing.
pub fn resume_point(job: &Job, files: &PartFiles, final_file: Option<FinalFile>) -> Option<Resume> {
    // Without a date for If-Range, a tail could be of another version.
    let final_file = final_file.filter(|file| is_http_date(file.modified));
    part_resume(job, files).or(final_file.map(Resume::Final))
}

/// A file time as an HTTP date, when it can be one (see [`is_http_date`]).
pub fn http_date(time: SystemTime) -> Option<String> {
    is_http_date(time).then(|| httpdate::fmt_http_date(time))
}

/// Whether a file time can be an HTTP date: from 1970 to the end of year
/// 9999 (httpdate panics past it, and tmpfs can hold such times). Asked
/// without formatting one.
fn is_http_date(time: SystemTime) -> bool {
    time.duration_since(UNIX_EPOCH)
        .is_ok_and(|since| since.as_secs() < 253_402_300_800)
}

fn part_resume(job: &Job, files: &PartFiles) -> Option<Resume> {
    let on_disk = files.part_len().filter(|&n| n > 0)?;
    let meta = files
        .read_meta()
        .filter(|meta| meta.url == redact(&job.url))?;
    let Some(done) = &meta.done else {
        if meta.length.is_some_and(|length| on_disk > length) {
            return None;
        }
        return Some(Resume::Append(ResumePoint {
            offset: on_disk,
            meta,
        }));
    };
    // A shared part is allocated to the file's length from the start.
    let length = meta.length.filter(|&length| length == on_disk)?;
    if done.covers(length) {
        return Some(Resume::Append(ResumePoint {
            offset: length,
            meta,
        }));
    }
    Some(Resume::Fill { meta, length })
}
