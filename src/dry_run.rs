//! `tget --dry-run`: the plan of a batch, without a single request and
//! without writing anything.
//!
//! One tab-separated line per list line, on stdout, in list order:
//! `mkdir DIR` before the first job of a directory that does not exist yet,
//! then `ACTION PATH URL`, where ACTION says what a run would do with the
//! file: `fetch`, `skip` (it exists), `replace` (`--overwrite`), `continue`
//! (`-c`, a part or a short file is there), `check` (`-N`, asked for only if
//! newer), or `error` for a line that is not a job (with its message). The
//! exit code is the one the run would start with: 2 for an input error found
//! before any request, 1 when a list line is bad, else 0.

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};

use crate::config::Config;
use crate::engine::job::{self, FetchError, Job, Planning};
use crate::engine::outdir::Dir;
use crate::engine::resume;
use crate::exit::{Exit, Fatal, OrExit};
use crate::input;
use crate::naming::{self, Claims};
use crate::userinfo::redact;

pub fn run(config: &Config) -> Result<Exit, Fatal> {
    check_out_dir(&config.out_dir).or_exit(Exit::Usage)?;
    let requests = input::open(&config.sources, config.shard).or_exit(Exit::Usage)?;
    let planning = Planning {
        out_dir: config.out_dir.clone(),
        layout: config.layout,
        sha256: config.sha256,
    };
    let names = Arc::new(Mutex::new(Claims::default()));
    let mut out = io::stdout().lock();
    let mut made = HashSet::new();
    let mut bad_lines = false;
    // Opened once, if it is there; the plan makes nothing.
    let out_dir = Dir::open_existing(&config.out_dir).ok();
    for planned in job::plan(requests, planning, names) {
        let lines = match &planned {
            Ok(job) => match job_lines(job, out_dir.as_ref(), config, &mut made) {
                Ok(lines) => lines,
                Err(error) => {
                    bad_lines = true;
                    line(&["error", &job.path.display().to_string(), &error])
                }
            },
            Err(bad) => {
                bad_lines = true;
                line(&["error", &bad.to_string()])
            }
        };
        out.write_all(lines.as_bytes())
            .or_exit(Exit::CannotProceed)?;
    }
    Ok(if bad_lines {
        Exit::SomeFailed
    } else {
        Exit::Success
    })
}

/// The `mkdir` lines a job needs first, and its own line; an error when its
/// directory could not be made (a symlink or a file in the way), as the run
/// would find.
fn job_lines(
    job: &Job,
    out_dir: Option<&Dir>,
    config: &Config,
    made: &mut HashSet<PathBuf>,
) -> Result<String, String> {
    let dir = match out_dir.map(|out| out.existing_subdir(&job.dirs)) {
        Some(Err(error)) => {
            let shown = job.path.parent().unwrap_or(&job.path);
            return Err(FetchError::local("create directory", shown, error).to_string());
        }
        Some(Ok(dir)) => dir,
        None => None,
    };
    let mut text = String::new();
    if let Some(dir) = job.path.parent() {
        for missing in missing_dirs(dir) {
            if made.insert(missing.clone()) {
                text.push_str(&line(&["mkdir", &missing.display().to_string()]));
            }
        }
    }
    let path = job.path.display().to_string();
    let step = resume::first_step(job, dir.as_ref(), &config.fetch);
    text.push_str(&line(&[step.name(), &path, &redact(&job.url)]));
    Ok(text)
}

/// Tab-separated fields, none of which can break the line or the terminal.
fn line(fields: &[&str]) -> String {
    let fields: Vec<String> = fields
        .iter()
        .map(|f| naming::escape_for_terminal(f))
        .collect();
    format!("{}\n", fields.join("\t"))
}

/// The directories above `dir` (and it) that do not exist, outermost first.
fn missing_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && std::fs::symlink_metadata(d).is_err())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    missing
}

/// What the run would find before its first request, without making
/// anything: the nearest directory that exists must be one, and writable.
fn check_out_dir(path: &Path) -> anyhow::Result<()> {
    let existing = path
        .ancestors()
        .find(|d| d.as_os_str().is_empty() || std::fs::metadata(d).is_ok())
        .map(|d| {
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }
        })
        .unwrap_or(Path::new("."));
    let metadata = std::fs::metadata(existing)
        .with_context(|| format!("cannot create the output directory {}", path.display()))?;
    if !metadata.is_dir() {
        bail!(
            "cannot create the output directory {}: {} is not a directory",
            path.display(),
            existing.display()
        );
    }
    rustix::fs::access(existing, rustix::fs::Access::WRITE_OK)
        .map_err(io::Error::from)
        .with_context(|| format!("cannot write in the output directory {}", path.display()))
}
