//! Giving a complete, verified part its final name.
//!
//! The final name only ever appears through `rename` (or `link`, for a name
//! the server suggested), so it never holds a partial or unverified file.

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::engine::job::FetchError;
use crate::naming::Claims;

/// `-1`, `-2`, ... suffixes tried for a server-suggested name before giving up.
const MAX_NAME_TRIES: usize = 1000;

/// Moves `part` to its final name and returns that name. The planned name is
/// replaced by `rename` (an existing file there was either skipped earlier or
/// is to be overwritten). A server-suggested name never replaces anything:
/// see `publish_suggested`.
pub fn publish(
    part: &Path,
    planned: &Path,
    suggested: Option<&str>,
    names: &Mutex<Claims>,
) -> Result<PathBuf, FetchError> {
    let planned_name = planned.file_name().and_then(OsStr::to_str);
    match suggested {
        Some(name) if Some(name) != planned_name => publish_suggested(part, planned, name, names),
        _ => {
            fs::rename(part, planned).map_err(|e| FetchError::local("rename into", planned, e))?;
            Ok(planned.to_path_buf())
        }
    }
}

/// Takes the first name, `wanted`, `wanted-1`, ..., that no job of the
/// batch has claimed and that does not exist on disk, atomically.
fn publish_suggested(
    part: &Path,
    planned: &Path,
    wanted: &str,
    names: &Mutex<Claims>,
) -> Result<PathBuf, FetchError> {
    let dir = planned.parent().unwrap_or(Path::new(""));
    for _ in 0..MAX_NAME_TRIES {
        let name = names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .claim(wanted);
        let path = dir.join(name);
        match link_exclusive(part, &path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(FetchError::local("create", &path, e)),
        }
    }
    Err(FetchError::NoFreeName {
        wanted: wanted.to_string(),
        dir: dir.to_path_buf(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suggested_name_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let names = Mutex::new(Claims::default());
        let planned = dir.path().join("planned.bin");
        fs::write(dir.path().join("report.pdf"), "theirs").unwrap();
        let part = dir.path().join("planned.bin.part");
        fs::write(&part, "ours").unwrap();
        let saved = publish(&part, &planned, Some("report.pdf"), &names).unwrap();
        assert_eq!(saved, dir.path().join("report-1.pdf"));
        assert_eq!(fs::read(&saved).unwrap(), b"ours");
        assert_eq!(fs::read(dir.path().join("report.pdf")).unwrap(), b"theirs");
        assert!(!part.exists());
    }

    #[test]
    fn the_planned_name_is_replaced_by_rename() {
        let dir = tempfile::tempdir().unwrap();
        let planned = dir.path().join("a.bin");
        fs::write(&planned, "old").unwrap();
        let part = dir.path().join("a.bin.part");
        fs::write(&part, "new").unwrap();
        let names = Mutex::new(Claims::default());
        assert_eq!(
            publish(&part, &planned, Some("a.bin"), &names).unwrap(),
            planned
        );
        assert_eq!(fs::read(&planned).unwrap(), b"new");
    }
}
