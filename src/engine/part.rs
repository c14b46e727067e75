//! `NAME.part`, where a download grows, and its sidecar `NAME.part.meta`,
//! which records what the part was started from so that it can be resumed
//! without ever mixing two versions of a file.
//!
//! The sidecar is a few `key value` lines:
//!
//! ```text
//! tget-part 1
//! url http://example.com/a.iso
//! etag "5f3a-1000"
//! last-modified Mon, 01 Jan 2024 00:00:00 GMT
//! length 1000
//! name report.pdf
//! done 0-262144,524288-600000
//! ```
//!
//! It is written before the first byte of the part, and only for a response
//! with a validator (a strong `ETag` or a `Last-Modified` date): a part
//! without a sidecar cannot be proven to belong to any version, so it is
//! never resumed.
//!
//! A streamed part holds a prefix of the file: its length says what it has.
//! A shared part is as long as the file from the start and fills in several
//! places at once, so its sidecar lists the byte ranges on disk (`done`,
//! end exclusive). That list is rewritten as ranges grow, always after the
//! bytes it names were written, and always by an atomic rename, so a crash
//! or SIGKILL at any moment leaves a sidecar that claims no byte the part
//! does not hold.
//!
//! Neither file is ever opened through a symlink: they are created with
//! `O_CREAT|O_EXCL` relative to their directory (see `outdir`), and if
//! something is already there it is removed (a symlink itself, never its
//! target) and the create tried once more; they are reopened for resuming
//! with `O_NOFOLLOW`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ureq::http::HeaderMap;
use ureq::http::header::{ETAG, LAST_MODIFIED};

use crate::engine::outdir::{Access, Dir};
use crate::engine::ranges::Ranges;
use crate::engine::transport::header_text;
use crate::naming::{META_SUFFIX, PART_SUFFIX};
use crate::userinfo::redact;

const MAGIC: &str = "tget-part 1";
/// A sidecar is a few hundred bytes; anything bigger is not ours.
const MAX_META_BYTES: u64 = 64 * 1024;

/// The two working files of one final name, in its directory.
#[derive(Debug, Clone)]
pub struct PartFiles {
    dir: Dir,
    part: String,
    meta: String,
    /// Whether this job read or wrote the sidecar (clones share it): most
    /// files are small and never get one, and an `unlink` of nothing takes
    /// the directory's lock like any other.
    sidecar_used: Arc<AtomicBool>,
}

impl PartFiles {
    /// The part and sidecar of the final name `name` in `dir`.
    pub fn new(dir: &Dir, name: &str) -> PartFiles {
        PartFiles {
            dir: dir.clone(),
            part: format!("{name}{PART_SUFFIX}"),
            meta: format!("{name}{META_SUFFIX}"),
            sidecar_used: Arc::default(),
        }
    }

    /// The part as messages show it.
    pub fn part_path(&self) -> PathBuf {
        self.dir.shown(&self.part)
    }

    /// The sidecar as messages show it.
    pub fn meta_path(&self) -> PathBuf {
        self.dir.shown(&self.meta)
    }

    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// The part's name in its directory.
    pub fn part_name(&self) -> &str {
        &self.part
    }

    /// Bytes in the part, if it is a regular file (a symlink or anything
    /// else there is not a part).
    pub fn part_len(&self) -> Option<u64> {
        self.dir
            .entry(&self.part)
            .filter(|e| e.is_file)
            .map(|e| e.len)
    }

    /// Removes both files; a missing file is fine.
    pub fn remove(&self) -> io::Result<()> {
        self.remove_meta()?;
        self.dir.remove(&self.part)
    }

    pub fn remove_meta(&self) -> io::Result<()> {
        self.dir.remove(&self.meta)
    }

    /// Removes the sidecar once its part is published or given back, if
    /// this job had one.
    pub fn drop_sidecar(&self) -> io::Result<()> {
        if !self.sidecar_used.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.remove_meta()
    }

    /// A fresh, empty part. A sidecar left from an earlier run goes first:
    /// it describes other bytes, and must never make this part look resumable.
    pub fn create(&self) -> io::Result<File> {
        // Looked up first: a lookup shares the directory, an unlink locks it.
        if self.dir.entry(&self.meta).is_some() {
            self.remove_meta()?;
        }
        self.create_exclusive(&self.part)
    }

    /// The existing part, readable (to re-hash it) and appended to.
    pub fn open_existing(&self) -> io::Result<File> {
        self.dir.open_file(&self.part, Access::Append)
    }

    /// The existing part, for positioned writes where its ranges are missing
    /// (not in append mode, which would put every write at the end).
    pub fn open_for_filling(&self) -> io::Result<File> {
        self.dir.open_file(&self.part, Access::Write)
    }

    pub fn read_meta(&self) -> Option<Meta> {
        let file = self.dir.open_file(&self.meta, Access::Read).ok()?;
        self.sidecar_used.store(true, Ordering::Relaxed);
        let mut text = String::new();
        file.take(MAX_META_BYTES).read_to_string(&mut text).ok()?;
        Meta::parse(&text)
    }

    pub fn write_meta(&self, meta: &Meta) -> io::Result<()> {
        self.sidecar_used.store(true, Ordering::Relaxed);
        let mut file = self.create_exclusive(&self.meta)?;
        file.write_all(meta.to_text().as_bytes())
    }

    /// Replaces the sidecar in one step: a new file under a fresh hidden
    /// name is renamed over it, so the sidecar on disk is always a whole one.
    pub fn replace_meta(&self, meta: &Meta) -> io::Result<()> {
        self.sidecar_used.store(true, Ordering::Relaxed);
        let (temp, mut file) = self.dir.temp_file("tget-meta-")?;
        let written = file
            .write_all(meta.to_text().as_bytes())
            .and_then(|()| self.dir.rename(&temp, &self.meta));
        if written.is_err() {
            let _ = self.dir.remove(&temp);
        }
        written
    }

    /// Creates `name` with `O_EXCL`, which never follows or reuses anything
    /// there. Whatever is already there (a symlink itself, never its
    /// target) is removed and the create tried once more; trying first
    /// saves a failing `unlink` per file in the usual case, where nothing is.
    fn create_exclusive(&self, name: &str) -> io::Result<File> {
        match self.dir.create_new(name) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.dir.remove(name)?;
                self.dir.create_new(name)
            }
            created => created,
        }
    }
}

/// What a part was started from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    pub url: String,
    /// A strong ETag; weak ones (`W/"..."`) may not be used with `If-Range`.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The whole file's length, when the server said.
    pub length: Option<u64>,
    /// The server's suggested name (sanitised), for `--content-disposition`.
    pub name: Option<String>,
    /// For a shared part: the ranges on disk. `None` for a streamed part,
    /// whose length says what it holds.
    pub done: Option<Ranges>,
}

impl Meta {
    /// The validators of a response that starts a part. The URL is kept
    /// without its password: the sidecar is a file anyone who can list the
    /// directory may read, and a part is the same resource whatever the
    /// password was.
    pub fn from_headers(url: &str, headers: &HeaderMap, length: Option<u64>) -> Meta {
        Meta {
            url: redact(url).into_owned(),
            etag: header_text(headers, ETAG.as_str()).filter(|tag| !tag.starts_with("W/")),
            last_modified: header_text(headers, LAST_MODIFIED.as_str()),
            length,
            name: None,
            done: None,
        }
    }

    /// What goes into `If-Range`: the ETag if there is one, else the date.
    pub fn validator(&self) -> Option<&str> {
        self.etag.as_deref().or(self.last_modified.as_deref())
    }

    /// A 206 must describe the same version: its own validator, when it
    /// sends one, must be the one recorded. (`If-Range` already asks the
    /// server for this; checking again catches servers that ignore it.)
    pub fn agrees_with(&self, headers: &HeaderMap) -> bool {
        let same = |recorded: &Option<String>, name: &str| match header_text(headers, name) {
            Some(sent) => recorded.as_deref() == Some(sent.as_str()),
            None => true,
        };
        match &self.etag {
            Some(_) => same(&self.etag, ETAG.as_str()),
            None => same(&self.last_modified, LAST_MODIFIED.as_str()),
        }
    }

    fn to_text(&self) -> String {
        let mut text = format!("{MAGIC}\nurl {}\n", self.url);
        let fields = [
            ("etag", self.etag.clone()),
            ("last-modified", self.last_modified.clone()),
            ("length", self.length.map(|n| n.to_string())),
            ("name", self.name.clone()),
            ("done", self.done.as_ref().map(Ranges::to_string)),
        ];
        for (key, value) in fields {
            // Header values and sanitised names hold no line breaks, but a
            // sidecar must never be able to smuggle in a second field.
            if let Some(value) = value.filter(|v| !v.contains(['\n', '\r'])) {
                text.push_str(&format!("{key} {value}\n"));
            }
        }
        text
    }

    /// `None` for anything that is not a complete sidecar of this version.
    fn parse(text: &str) -> Option<Meta> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let mut meta = Meta::default();
        for line in lines {
            let (key, value) = line.split_once(' ')?;
            let value = Some(value.to_string());
            match key {
                "url" => meta.url = value?,
                "etag" => meta.etag = value,
                "last-modified" => meta.last_modified = value,
                "length" => meta.length = Some(value?.parse().ok()?),
                "name" => meta.name = value,
                "done" => meta.done = Some(Ranges::parse(&value?)?),
                _ => return None,
            }
        }
        // Ranges only mean something against the whole file's length.
        let ranges_fit = match (&meta.done, meta.length) {
            (Some(done), Some(length)) => done.iter().all(|(_, end)| end <= length),
            (Some(_), None) => false,
            (None, _) => true,
        };
        (!meta.url.is_empty() && meta.validator().is_some() && ranges_fit).then_some(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::transport::headers;

    #[test]
    fn part_names_sit_beside_the_final_name() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        let files = PartFiles::new(&Dir::open(&out).unwrap(), "a.bin");
        assert_eq!(files.part_path(), out.join("a.bin.part"));
        assert_eq!(files.meta_path(), out.join("a.bin.part.meta"));
    }

    #[test]
    fn sidecars_round_trip_and_reject_anything_else() {
        let meta = Meta {
            url: "http://h/a.bin".into(),
            etag: Some("\"abc\"".into()),
            last_modified: Some("Mon, 01 Jan 2024 00:00:00 GMT".into()),
            length: Some(1000),
            name: Some("€ rates.txt".into()),
            done: None,
        };
        assert_eq!(Meta::parse(&meta.to_text()), Some(meta.clone()));
        let shared = Meta {
            done: Ranges::parse("0-100,500-700"),
            ..meta.clone()
        };
        assert_eq!(Meta::parse(&shared.to_text()), Some(shared.clone()));
        let no_validator = Meta {
            etag: None,
            last_modified: None,
            ..meta.clone()
        };
        assert_eq!(Meta::parse(&no_validator.to_text()), None);
        for text in [
            "",
            "tget-part 2\nurl http://h/\netag \"x\"\n",
            "tget-part 1\nurl http://h/\netag \"x\"\nlength many\n",
            "tget-part 1\nurl http://h/\netag \"x\"\ncolour red\n",
            "tget-part 1\netag \"x\"\n",
            "tget-part 1\nurl http://h/\netag \"x\"\ndone 0-10\n",
            "tget-part 1\nurl http://h/\netag \"x\"\nlength 5\ndone 0-10\n",
            "tget-part 1\nurl http://h/\netag \"x\"\nlength 50\ndone 10-5\n",
        ] {
            assert_eq!(Meta::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn weak_etags_are_not_validators() {
        let meta = Meta::from_headers("u", &headers(&[("etag", "W/\"x\"")]), None);
        assert_eq!(meta.validator(), None);
        let meta = Meta::from_headers(
            "u",
            &headers(&[("etag", "W/\"x\""), ("last-modified", "Mon, 01 Jan 2024")]),
            None,
        );
        assert_eq!(meta.validator(), Some("Mon, 01 Jan 2024"));
    }

    #[test]
    fn a_206_must_carry_the_recorded_validator_if_any() {
        let meta = Meta::from_headers("u", &headers(&[("etag", "\"v1\"")]), Some(10));
        assert!(meta.agrees_with(&headers(&[("etag", "\"v1\"")])));
        assert!(meta.agrees_with(&headers(&[])));
        assert!(!meta.agrees_with(&headers(&[("etag", "\"v2\"")])));
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #[test]
            fn a_shared_sidecar_reads_back_with_exactly_its_ranges(
                length in 1u64..1 << 40,
                cuts in prop::collection::vec((0u64..1 << 40, 0u64..1 << 40), 0..16),
            ) {
                let mut done = Ranges::new();
                for (a, b) in cuts {
                    let (start, end) = (a.min(b) % length, a.max(b) % length);
                    done.add(start, end);
                }
                let meta = Meta {
                    url: "http://h/big.iso".into(),
                    etag: Some("\"v\"".into()),
                    length: Some(length),
                    done: Some(done),
                    ..Meta::default()
                };
                prop_assert_eq!(Meta::parse(&meta.to_text()), Some(meta));
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn parts_never_follow_symlinks() {
        use std::fs;
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, "precious").unwrap();
        let files = PartFiles::new(&Dir::open(dir.path()).unwrap(), "a.bin");
        std::os::unix::fs::symlink(&outside, files.part_path()).unwrap();
        assert_eq!(files.part_len(), None, "a symlink is not a part");
        assert!(files.open_existing().is_err());
        files.create().unwrap().write_all(b"new").unwrap();
        assert_eq!(fs::read(&outside).unwrap(), b"precious");
        assert_eq!(fs::read(files.part_path()).unwrap(), b"new");
        files
            .replace_meta(&Meta {
                url: "u".into(),
                etag: Some("\"e\"".into()),
                ..Meta::default()
            })
            .unwrap();
        assert_eq!(files.read_meta().unwrap().url, "u");
    }
}
