//! Giving a complete, verified part its final name.
//!
//! The final name only ever appears through `rename` (or `link`, for a name
//! the server suggested), so it never holds a partial or unverified file.
//! Both happen relative to the part's directory (see `outdir`).

use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use crate::engine::job::FetchError;
use crate::engine::part::PartFiles;
use crate::naming::Claims;

/// `-1`, `-2`, ... suffixes tried for a server-suggested name before giving up.
const MAX_NAME_TRIES: usize = 1000;

/// Where a finished part is to go.
pub struct Destination<'a> {
    /// The name planned for the job, in the part's directory.
    pub planned: &'a str,
    /// The server's name for it (`--content-disposition`), if any.
    pub suggested: Option<&'a str>,
    /// The batch's names, and the directory's key among them.
    pub names: &'a Mutex<Claims>,
    pub scope: &'a str,
}

/// Moves the part to its final name and returns that name as shown. The
/// planned name is replaced by `rename` (an existing file there was either
/// skipped earlier or is to be overwritten). A server-suggested name never
/// replaces anything: see `publish_suggested`.
pub fn publish(files: &PartFiles, to: Destination) -> Result<PathBuf, FetchError> {
    let dir = files.dir();
    match to.suggested {
        Some(name) if name != to.planned => publish_suggested(files, &to, name),
        _ => {
            dir.rename(files.part_name(), to.planned)
                .map_err(|e| FetchError::local("rename into", &dir.shown(to.planned), e))?;
            Ok(dir.shown(to.planned))
        }
    }
}

/// Takes the first name, `wanted`, `wanted-1`, ..., that no job of the
/// batch has claimed in this directory and that does not exist on disk,
/// atomically.
fn publish_suggested(
    files: &PartFiles,
    to: &Destination,
    wanted: &str,
) -> Result<PathBuf, FetchError> {
    let dir = files.dir();
    for _ in 0..MAX_NAME_TRIES {
        let name = to
            .names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .claim(to.scope, wanted);
        match link_exclusive(files, &name) {
            Ok(()) => return Ok(dir.shown(&name)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(FetchError::local("create", &dir.shown(&name), e)),
        }
    }
    Err(FetchError::NoFreeName {
        wanted: wanted.to_string(),
        dir: dir.shown("."),
    })
}

/// Makes `to` a name of the part unless `to` exists (even as a dangling
/// symlink, which is neither followed nor replaced).
fn link_exclusive(files: &PartFiles, to: &str) -> io::Result<()> {
    let (dir, part) = (files.dir(), files.part_name());
    match dir.link(part, to) {
        Ok(()) => {
            let _ = dir.remove(part);
            Ok(())
        }
        Err(e) if !hard_links_unsupported(&e) => Err(e),
        Err(_) => {
            // No hard links on this filesystem: claim the name with an empty
            // file (O_EXCL), then move the complete part over it.
            dir.create_new(to)?;
            dir.rename(part, to).inspect_err(|_| {
                // Never leave the empty placeholder under a final name.
                let _ = dir.remove(to);
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
    use std::fs;

    use super::*;
    use crate::engine::outdir::Dir;

    fn part_with(dir: &Dir, name: &str, bytes: &str) -> PartFiles {
        let files = PartFiles::new(dir, name);
        fs::write(files.part_path(), bytes).unwrap();
        files
    }

    #[test]
    fn a_suggested_name_never_replaces_a_file() {
        let root = tempfile::tempdir().unwrap();
        let dir = Dir::open(root.path()).unwrap();
        let names = Mutex::new(Claims::default());
        fs::write(root.path().join("report.pdf"), "theirs").unwrap();
        let files = part_with(&dir, "planned.bin", "ours");
        let to = Destination {
            planned: "planned.bin",
            suggested: Some("report.pdf"),
            names: &names,
            scope: "",
        };
        let saved = publish(&files, to).unwrap();
        assert_eq!(saved, root.path().join("report-1.pdf"));
        assert_eq!(fs::read(&saved).unwrap(), b"ours");
        assert_eq!(fs::read(root.path().join("report.pdf")).unwrap(), b"theirs");
        assert!(!files.part_path().exists());
    }

    #[test]
    fn the_planned_name_is_replaced_by_rename() {
        let root = tempfile::tempdir().unwrap();
        let dir = Dir::open(root.path()).unwrap();
        fs::write(root.path().join("a.bin"), "old").unwrap();
        let files = part_with(&dir, "a.bin", "new");
        let names = Mutex::new(Claims::default());
        let to = Destination {
            planned: "a.bin",
            suggested: Some("a.bin"),
            names: &names,
            scope: "",
        };
        assert_eq!(publish(&files, to).unwrap(), root.path().join("a.bin"));
        assert_eq!(fs::read(root.path().join("a.bin")).unwrap(), b"new");
    }
}
