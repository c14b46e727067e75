//! The output directory, opened once, and every file operation under it.
//!
//! Nothing is ever written through a path that could lead elsewhere: every
//! directory below `-d` is made and opened one component at a time relative
//! to its parent (`mkdirat`, then `openat` with `O_NOFOLLOW|O_DIRECTORY`),
//! and every file is created, opened, renamed, linked and removed relative
//! to its directory's descriptor (`openat` with `O_NOFOLLOW`, `renameat`,
//! `linkat`, `unlinkat`). A symlink planted anywhere below `-d`, at a
//! directory or at a file, makes the operation fail instead of following it.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

/// A directory files are written in: `-d`, or one opened beneath it.
#[derive(Debug, Clone)]
pub struct Dir {
    fd: Arc<OwnedFd>,
    /// The directory as messages and listings show it.
    shown: PathBuf,
}

/// What a name in a directory is, without following it if it is a symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub is_file: bool,
    pub is_symlink: bool,
    pub len: u64,
    pub modified: SystemTime,
}

/// How an existing file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    /// Read, and write at the end (a streamed part being continued).
    Append,
    /// Read, and write anywhere (a shared part being filled in).
    Write,
}

impl Dir {
    /// Makes `path` (and its parents) if needed and opens it. `-d` itself is
    /// the user's choice, so a symlink there is followed; nothing below is.
    pub fn open(path: &Path) -> io::Result<Dir> {
        std::fs::create_dir_all(path)?;
        Dir::open_existing(path)
    }

    /// `path`, when it is a directory already; nothing is made.
    pub fn open_existing(path: &Path) -> io::Result<Dir> {
        let fd = rustix::fs::openat(
            rustix::fs::CWD,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir {
            fd: Arc::new(fd),
            shown: path.to_path_buf(),
        })
    }

    /// The directory `components` below this one, made where missing.
    pub fn subdir(&self, components: &[String]) -> io::Result<Dir> {
        let mut dir = self.clone();
        for component in components {
            dir = dir.child(component)?;
        }
        Ok(dir)
    }

    /// The directory `components` below this one, when it is there; nothing
    /// is made (what `--dry-run` looks at). `None` if one is missing; an
    /// error for anything else in the way (a symlink or a file), as making
    /// it would fail.
    pub fn existing_subdir(&self, components: &[String]) -> io::Result<Option<Dir>> {
        let mut dir = self.clone();
        for component in components {
            dir = match dir.open_child(component) {
                Ok(child) => child,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
        }
        Ok(Some(dir))
    }

    fn child(&self, name: &str) -> io::Result<Dir> {
        plain(name)?;
        match rustix::fs::mkdirat(&*self.fd, name, Mode::from_bits_truncate(0o777)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        self.open_child(name)
    }

    fn open_child(&self, name: &str) -> io::Result<Dir> {
        plain(name)?;
        let fd = rustix::fs::openat(
            &*self.fd,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            // A symlink (ELOOP) or a file (ENOTDIR) where a directory goes.
            rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory (a symlink or a file is in the way)",
            ),
            e => e.into(),
        })?;
        Ok(Dir {
            fd: Arc::new(fd),
            shown: self.shown(name),
        })
    }

    /// `name` in this directory, as messages show it (`-d .` shows bare names).
    pub fn shown(&self, name: &str) -> PathBuf {
        if self.shown == Path::new(".") {
            PathBuf::from(name)
        } else {
            self.shown.join(name)
        }
    }

    /// What `name` is, if anything; a symlink is reported, not followed.
    pub fn entry(&self, name: &str) -> Option<Entry> {
        plain(name).ok()?;
        let stat = rustix::fs::statat(&*self.fd, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        let kind = FileType::from_raw_mode(stat.st_mode);
        let modified = UNIX_EPOCH
            + Duration::new(
                u64::try_from(stat.st_mtime).unwrap_or(0),
                u32::try_from(stat.st_mtime_nsec).unwrap_or(0),
            );
        Some(Entry {
            is_file: kind == FileType::RegularFile,
            is_symlink: kind == FileType::Symlink,
            len: u64::try_from(stat.st_size).unwrap_or(0),
            modified,
        })
    }

    /// Whether anything usable is at `name`: a file, or a symlink to one.
    pub fn holds(&self, name: &str) -> bool {
        if plain(name).is_err() {
            return false;
        }
        rustix::fs::statat(&*self.fd, name, AtFlags::empty()).is_ok()
    }

    /// A new, empty file at `name`; fails if anything is there already.
    pub fn create_new(&self, name: &str) -> io::Result<File> {
        plain(name)?;
        let fd = rustix::fs::openat(
            &*self.fd,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_bits_truncate(0o666),
        )?;
        Ok(File::from(fd))
    }

    /// The regular file at `name`. `O_NONBLOCK`: a FIFO planted there fails
    /// instead of blocking the worker (it changes nothing for regular files).
    pub fn open_file(&self, name: &str, access: Access) -> io::Result<File> {
        plain(name)?;
        let mode = match access {
            Access::Read => OFlags::RDONLY,
            Access::Append => OFlags::RDWR | OFlags::APPEND,
            Access::Write => OFlags::RDWR,
        };
        let flags = mode | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let file = File::from(rustix::fs::openat(&*self.fd, name, flags, Mode::empty())?);
        if !file.metadata()?.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        Ok(file)
    }

    /// Sets `name`'s modification time (of a symlink itself, never its target).
    pub fn set_modified(&self, name: &str, time: SystemTime) -> io::Result<()> {
        plain(name)?;
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let stamp = rustix::time::Timespec {
            tv_sec: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(since.subsec_nanos()),
        };
        let times = rustix::fs::Timestamps {
            // Access time: left as it is.
            last_access: rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
            last_modification: stamp,
        };
        Ok(rustix::fs::utimensat(
            &*self.fd,
            name,
            &times,
            AtFlags::SYMLINK_NOFOLLOW,
        )?)
    }

    /// Removes `name` (a symlink itself, never its target); a missing one is fine.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        plain(name)?;
        match rustix::fs::unlinkat(&*self.fd, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Renames `from` to `to`, replacing whatever entry `to` is (a symlink
    /// there is replaced, not followed).
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        plain(from)?;
        plain(to)?;
        Ok(rustix::fs::renameat(&*self.fd, from, &*self.fd, to)?)
    }

    /// Gives `from` the second name `to`, failing if `to` exists in any form.
    pub fn link(&self, from: &str, to: &str) -> io::Result<()> {
        plain(from)?;
        plain(to)?;
        Ok(rustix::fs::linkat(
            &*self.fd,
            from,
            &*self.fd,
            to,
            AtFlags::empty(),
        )?)
    }

    /// A new file under a fresh hidden name starting with `prefix`, which no
    /// final name can take (those never start with a dot).
    pub fn temp_file(&self, prefix: &str) -> io::Result<(String, File)> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        loop {
            let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!(".{prefix}{}-{unique}", std::process::id());
            match self.create_new(&name) {
                Ok(file) => return Ok((name, file)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Every name is checked here, not only by the callers that sanitise it:
/// `O_NOFOLLOW` guards the last component only, so a `/` or `..` in a name
/// would be a way out of the output directory.
fn plain(name: &str) -> io::Result<()> {
    if is_plain_name(name) {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{name:?} is not a plain file name"),
    ))
}

/// Whether `name` could sit in a directory as itself: not empty, not `.` or
/// `..`, no separator.
fn is_plain_name(name: &str) -> bool {
    // On Unix these are all the ways a name can be other than itself
    // (a NUL is refused by the system call).
    !name.is_empty() && name != "." && name != ".." && !name.as_bytes().contains(&b'/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn subdirectories_are_made_and_symlinks_below_are_never_followed() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let out = Dir::open(&root.path().join("out")).unwrap();
        let dir = out.subdir(&["a".into(), "b".into()]).unwrap();
        dir.create_new("x").unwrap().write_all(b"inside").unwrap();
        assert_eq!(
            std::fs::read(root.path().join("out/a/b/x")).unwrap(),
            b"inside"
        );
        std::os::unix::fs::symlink(outside.path(), root.path().join("out/evil")).unwrap();
        let error = out.subdir(&["evil".into(), "c".into()]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotADirectory, "{error}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn files_are_never_opened_through_a_symlink() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("precious");
        std::fs::write(&target, "precious").unwrap();
        let dir = Dir::open(root.path()).unwrap();
        std::os::unix::fs::symlink(&target, root.path().join("link")).unwrap();
        assert!(dir.open_file("link", Access::Append).is_err());
        assert!(dir.create_new("link").is_err());
        let entry = dir.entry("link").unwrap();
        assert!(entry.is_symlink && !entry.is_file);
        assert!(dir.holds("link"), "a symlink to a file counts as present");
        dir.remove("link").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    }

    #[test]
    fn shown_paths_are_bare_under_the_current_directory() {
        let here = Dir::open(Path::new(".")).unwrap();
        assert_eq!(here.shown("a.bin"), PathBuf::from("a.bin"));
    }

    #[test]
    fn no_name_with_a_separator_or_dots_is_used_whoever_asks() {
        let root = tempfile::tempdir().unwrap();
        let dir = Dir::open(&root.path().join("out")).unwrap();
        // Something to rename and link, so only the name can be refused.
        dir.create_new("x").unwrap();
        let invalid =
            |result: io::Result<()>| result.is_err_and(|e| e.kind() == io::ErrorKind::InvalidInput);
        for name in ["../x", "a/b", "..", ".", "", "/etc/x"] {
            assert!(invalid(dir.create_new(name).map(drop)), "{name:?}");
            assert!(
                invalid(dir.subdir(&[name.to_string()]).map(drop)),
                "{name:?}"
            );
            assert!(invalid(dir.rename("x", name)), "{name:?}");
            assert!(invalid(dir.link("x", name)), "{name:?}");
            assert!(invalid(dir.remove(name)) && dir.entry(name).is_none());
        }
        assert!(!root.path().join("x").exists());
        assert!(dir.create_new("a.bin").is_ok());
    }
}
