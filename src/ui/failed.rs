//! `--save-failed FILE`: every job that did not end ok, as list lines in
//! tget's own format, so `tget -i FILE` tries exactly those again.
//!
//! Each entry is a comment saying why, then the line: the URL, `out=` with
//! the name the job was given (so a retry saves under the same name, even
//! where a collision had numbered it), and `sha256=` if it had one. Entries
//! are written as jobs end, each in one write, so the file is whole after a
//! Ctrl-C; nothing is held in memory.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::engine::fetch::hex;
use crate::engine::job::{JobReport, Planned, Status};
use crate::input;
use crate::naming;

pub struct FailedList {
    out: BufWriter<File>,
    path: PathBuf,
    /// The first write error, after which nothing more is tried.
    broken: Option<io::Error>,
}

impl FailedList {
    /// Creates (or empties) `path` before the run starts, so a path that
    /// cannot be written is an input error, not a surprise at the end.
    pub fn create(path: &Path) -> anyhow::Result<FailedList> {
        // Owner-only: its URLs keep the passwords they were listed with, so
        // that the jobs can run again.
        let cannot = || format!("cannot write the --save-failed file {}", path.display());
        let file = File::options()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .with_context(cannot)?;
        empty_and_owner_only(&file).with_context(cannot)?;
        Ok(FailedList {
            out: BufWriter::new(file),
            path: path.to_path_buf(),
            broken: None,
        })
    }

    /// Lists a job that ended neither ok nor skipped.
    pub fn record(&mut self, report: &JobReport) {
        if report.outcome.status() != Status::Failed {
            return;
        }
        let why = report.outcome.error().unwrap_or("failed");
        match &report.path {
            Some(path) => {
                let line = job_line(&report.listed_url, path, report.sha256, &report.listed_dir);
                self.write(&format!("# {why} ({})", report.origin), &line);
            }
            // A list line that never became a job goes back as it was; its
            // error already says where it was.
            None => self.write(&format!("# {why}"), &report.url),
        }
    }

    /// Lists a job the run never started, because it stopped for `why`.
    pub fn unstarted(&mut self, planned: &Planned, why: &str) {
        match planned {
            Ok(job) => {
                let line = job_line(&job.url, &job.path, job.sha256, &job.listed_dir);
                self.write(&format!("# not started: {why} ({})", job.origin), &line);
            }
            Err(bad_line) => self.write(&format!("# {bad_line}"), &bad_line.text),
        }
    }

    /// The write error that stopped the list, if one did.
    pub fn problem(&self) -> Option<String> {
        let error = self.broken.as_ref()?;
        Some(format!(
            "cannot write the --save-failed file {}: {error}",
            self.path.display()
        ))
    }

    fn write(&mut self, comment: &str, line: &str) {
        if self.broken.is_some() {
            return;
        }
        // One comment line, one list line: neither may break into more.
        let comment = naming::escape_for_terminal(comment);
        let entry = format!("{comment}\n{line}\n");
        let written = self
            .out
            .write_all(entry.as_bytes())
            .and_then(|()| self.out.flush());
        if let Err(error) = written {
            self.broken = Some(error);
        }
    }
}

/// `mode(0o600)` applies only to a file it creates: one already there is
/// made owner-only before a password is written to it, then emptied. A
/// device such as `/dev/stdout` is left as it is.
fn empty_and_owner_only(file: &File) -> io::Result<()> {
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Ok(());
    }
    if metadata.permissions().mode() & 0o077 != 0 {
        // Another user's file cannot be made private: it is not written.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io::Error::new(e.kind(), format!("cannot make it owner-only: {e}")))?;
    }
    file.set_len(0)
}

/// `URL out=NAME [sha256=HEX] [dir=SUBDIR]` for a job saved (or to be
/// saved) at `path`; `dir=` is the list's own, so the same flags (`-x`)
/// put the file in the same place again.
fn job_line(url: &str, path: &Path, sha256: Option<[u8; 32]>, dir: &[String]) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut line = format!("{url} out={}", input::encode_value(&name));
    if let Some(digest) = sha256 {
        line.push_str(&format!(" sha256={}", hex(&digest)));
    }
    if !dir.is_empty() {
        line.push_str(&format!(" dir={}", input::encode_value(&dir.join("/"))));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_job_reads_back_as_the_same_job() {
        let dir = ["sub dir".to_string(), "x".to_string()];
        let line = job_line(
            "http://h/a?x=1",
            Path::new("out/sub dir/x/a b-1.txt"),
            Some([7; 32]),
            &dir,
        );
        let entry = input::parse_line(&line).unwrap().unwrap();
        assert_eq!(entry.url, "http://h/a?x=1");
        assert_eq!(entry.out.as_deref(), Some("a b-1.txt"));
        assert_eq!(entry.sha256, Some([7; 32]));
        assert_eq!(entry.dir, dir);
    }
}
