//! Safe file names: from a URL (or a server's suggestion) to one plain name
//! inside the output directory, and distinct names for jobs that collide.

pub mod content_disposition;

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use percent_encoding::percent_decode_str;
use ureq::http::Uri;

use crate::config::Layout;

pub const FALLBACK_NAME: &str = "index.html";
/// `NAME.part` holds a download until it is complete and verified.
pub const PART_SUFFIX: &str = ".part";
/// `NAME.part.meta` is the part's sidecar: what it was started from, for `-c`.
pub const META_SUFFIX: &str = ".part.meta";
/// Most filesystems cap a name at 255 bytes; leave room for `-NN` and `.part.meta`.
const MAX_NAME_BYTES: usize = 200;

/// The last path segment of the URL the user gave (never a redirect target),
/// percent-decoded and sanitised.
pub fn name_from_url(url: &str) -> String {
    let path = url
        .parse::<Uri>()
        .map(|uri| uri.path().to_string())
        .unwrap_or_default();
    let segment = path.rsplit('/').next().unwrap_or_default();
    sanitize(&percent_decode_str(segment).decode_utf8_lossy())
}

/// Reduces any text to a plain file name: no directory parts, no `..`, no
/// control or bidi characters, not hidden, not a reserved device name, not
/// ending like tget's own working files, at most `MAX_NAME_BYTES`, never empty.
pub fn sanitize(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let name = clean(base).unwrap_or_else(|| FALLBACK_NAME.to_string());
    // Checked after the cut, which could otherwise leave a `.part` ending behind.
    let name = truncate_keeping_extension(&name, MAX_NAME_BYTES);
    if is_working_file_name(&name) {
        let mut name = truncate_keeping_extension(&name, MAX_NAME_BYTES - 1);
        name.push('_');
        return name;
    }
    name
}

/// A final name must never be another job's `.part` or sidecar. Compared
/// without case, for case-insensitive filesystems.
fn is_working_file_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(PART_SUFFIX) || lower.ends_with(META_SUFFIX)
}

/// Text from the network or a list (URLs, names) made safe to print on a
/// terminal: control and bidi characters are shown as escapes, never obeyed.
pub fn escape_for_terminal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_invisible_or_control(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn is_unsafe_char(c: char) -> bool {
    is_invisible_or_control(c) || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
}

fn is_invisible_or_control(c: char) -> bool {
    c.is_control()
        // Bidi marks, overrides and isolates can make a name display as another one;
        // line separators break lines where no newline is seen.
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
                | '\u{2028}' | '\u{2029}' | '\u{feff}'
        )
}

/// Windows device names stay reserved with any extension (`CON.txt`); refusing
/// them everywhere keeps a batch portable to shared or mounted filesystems.
fn is_reserved(name: &str) -> bool {
    let stem = name
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || (stem.len() == 4
            && (stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.as_bytes()[3].is_ascii_digit())
}

fn truncate_keeping_extension(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let (stem, ext) = split_extension(name);
    let ext = if ext.len() > 16 { "" } else { ext };
    let mut cut = max - ext.len();
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ext}", &stem[..cut])
}

/// `archive.tar.gz` splits as (`archive.tar`, `.gz`); `README` has no extension.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name, ""),
    }
}

/// The names already handed out in this batch. Jobs are named in list order,
/// so the same list always gives the same names: the first job keeps
/// `a.txt`, the next ones that want it get `a-1.txt`, `a-2.txt`, ...
///
/// Only 64-bit hashes are kept, 8 bytes a name: most in one sorted vector
/// (no hash table's spare buckets), the latest few in a small set merged into
/// it now and then. A million-line list costs 8 MB here, and nothing else
/// grows with the list.
#[derive(Debug, Default)]
pub struct Claims {
    sorted: Vec<u64>,
    recent: HashSet<u64>,
}

/// Names kept in the small set, at least, before it is merged into the sorted vector.
const RECENT_CLAIMS: usize = 4096;

impl Claims {
    /// The first of `wanted`, `wanted-1`, ... not yet given out in the
    /// directory `scope` (collisions are per directory).
    pub fn claim(&mut self, scope: &str, wanted: &str) -> String {
        if self.insert(hash(scope, wanted)) {
            return wanted.to_string();
        }
        let (stem, ext) = split_extension(wanted);
        (1..)
            .map(|n| format!("{stem}-{n}{ext}"))
            .find(|candidate| self.insert(hash(scope, candidate)))
            .expect("an unbounded range always yields a free name")
    }

    /// Adds `name`; false if it was taken already.
    fn insert(&mut self, name: u64) -> bool {
        if self.sorted.binary_search(&name).is_ok() || !self.recent.insert(name) {
            return false;
        }
        // Merged when it holds a 64th of the rest: a set is some 2.5 times
        // the room of its names, so at an eighth a million-line list took
        // 2 MB more; each name is still moved a bounded number of times.
        if self.recent.len() >= RECENT_CLAIMS.max(self.sorted.len() / 64) {
            self.merge_recent();
        }
        true
    }

    fn merge_recent(&mut self) {
        let mut recent: Vec<u64> = self.recent.drain().collect();
        recent.sort_unstable();
        // Grown by what is added only: a doubling would hold twice the names' room.
        self.sorted.reserve_exact(recent.len());
        let old = self.sorted.len();
        self.sorted.extend_from_slice(&recent);
        // Both halves are sorted and disjoint: merge them in place, from the back.
        let (mut i, mut j, mut at) = (old, recent.len(), self.sorted.len());
        while j > 0 {
            at -= 1;
            if i > 0 && self.sorted[i - 1] > recent[j - 1] {
                self.sorted[at] = self.sorted[i - 1];
                i -= 1;
            } else {
                self.sorted[at] = recent[j - 1];
                j -= 1;
            }
        }
    }
}

fn hash(scope: &str, name: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    (scope, name).hash(&mut hasher);
    hasher.finish()
}

/// The directories below `-d` a job's file goes in, each a sanitised plain
/// name: the list's `dir=` first, then, with `-x`, the URL's host
/// (`HOST_PORT` for a port that is not the scheme's) and its path's
/// directories, less `--cut-dirs` of them.
pub fn directories(url: &str, layout: &Layout, listed: &[String]) -> Vec<String> {
    let mut dirs: Vec<String> = listed
        .iter()
        .filter_map(|d| sanitize_component(d))
        .collect();
    if !layout.force_directories {
        return dirs;
    }
    let Ok(uri) = url.parse::<Uri>() else {
        return dirs;
    };
    if layout.host_directories {
        let host = uri.host().unwrap_or_default();
        let default_port = if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        };
        let host = match uri.port_u16().filter(|&p| p != default_port) {
            Some(port) => format!("{host}_{port}"),
            None => host.to_string(),
        };
        dirs.extend(sanitize_component(&host));
    }
    let path = uri.path();
    let segments: Vec<&str> = path.split('/').collect();
    let directories = &segments[..segments.len().saturating_sub(1)];
    let from_path = directories
        .iter()
        .filter_map(|segment| sanitize_component(&percent_decode_str(segment).decode_utf8_lossy()));
    dirs.extend(from_path.skip(layout.cut_dirs));
    dirs
}

/// One directory name from any text: unsafe characters (a `/` decoded from
/// `%2f` among them) become `_`, leading dots go, device names are escaped.
/// `None` for what names no directory: empty, `.`, `..`.
pub fn sanitize_component(raw: &str) -> Option<String> {
    clean(raw).map(|name| truncate_keeping_extension(&name, MAX_NAME_BYTES))
}

/// What file and directory names share: unsafe characters become `_`,
/// spaces and dots around it go (no hidden names, no `.` or `..`), and a
/// device name gets a `_` in front. `None` when nothing is left.
fn clean(raw: &str) -> Option<String> {
    let cleaned: String = raw
        .chars()
        .map(|c| if is_unsafe_char(c) { '_' } else { c })
        .collect();
    let mut name = cleaned
        .trim()
        .trim_start_matches('.')
        .trim_end_matches(['.', ' '])
        .to_string();
    if name.is_empty() {
        return None;
    }
    if is_reserved(&name) {
        name.insert(0, '_');
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collisions_are_per_directory() {
        let mut claims = Claims::default();
        assert_eq!(claims.claim("a", "data.csv"), "data.csv");
        assert_eq!(claims.claim("b", "data.csv"), "data.csv");
        assert_eq!(claims.claim("a", "data.csv"), "data-1.csv");
    }

    #[test]
    fn url_trees_as_wget_lays_them_out() {
        let tree = |url: &str, host: bool, cut: usize, listed: &[&str]| {
            let layout = Layout {
                force_directories: true,
                host_directories: host,
                cut_dirs: cut,
            };
            let listed: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
            directories(url, &layout, &listed).join("/")
        };
        assert_eq!(tree("http://h/a/b/c.txt", true, 0, &[]), "h/a/b");
        assert_eq!(tree("http://h:8080/a/b/c.txt", true, 0, &[]), "h_8080/a/b");
        assert_eq!(tree("https://h:443/a/c.txt", true, 0, &[]), "h/a");
        assert_eq!(tree("http://h/a/b/c.txt", false, 1, &[]), "b");
        assert_eq!(tree("http://h/a/b/c.txt", true, 5, &[]), "h");
        assert_eq!(
            tree("http://h/a/b/c.txt", true, 0, &["x", "y"]),
            "x/y/h/a/b"
        );
        assert_eq!(
            tree("http://h/%2e%2e/./a%2fb/../c.txt", false, 0, &[]),
            "a_b"
        );
        let flat = Layout::default();
        assert_eq!(
            directories("http://h/a/b/c.txt", &flat, &[]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn url_names() {
        assert_eq!(
            name_from_url("http://h/dir/file.tar.gz?x=1#top"),
            "file.tar.gz"
        );
        assert_eq!(name_from_url("http://h/a%20b.txt"), "a b.txt");
        assert_eq!(name_from_url("http://h/"), FALLBACK_NAME);
        assert_eq!(name_from_url("http://h"), FALLBACK_NAME);
        assert_eq!(name_from_url("http://h/dir/"), FALLBACK_NAME);
        assert_eq!(name_from_url("http://h/x/%2e%2e"), FALLBACK_NAME);
        assert_eq!(name_from_url("http://h/x/..%2f..%2fetc%2fpasswd"), "passwd");
    }

    #[test]
    fn hostile_names_become_plain_files() {
        for (raw, want) in [
            ("../../etc/passwd", "passwd"),
            ("/abs/path", "path"),
            ("a\\b", "b"),
            ("..", FALLBACK_NAME),
            (".", FALLBACK_NAME),
            ("", FALLBACK_NAME),
            (".bashrc", "bashrc"),
            ("ev\u{202e}fdp.exe", "ev_fdp.exe"),
            ("line\nbreak\r", "line_break_"),
            ("CON", "_CON"),
            ("com1.txt", "_com1.txt"),
            ("secret.part", "secret.part_"),
            ("trailing. . ", "trailing"),
        ] {
            assert_eq!(sanitize(raw), want, "sanitize({raw:?})");
        }
    }

    #[test]
    fn long_names_are_cut_on_a_char_boundary_keeping_the_extension() {
        let name = sanitize(&format!("{}.iso", "é".repeat(300)));
        assert!(name.len() <= MAX_NAME_BYTES, "{}", name.len());
        assert!(name.ends_with(".iso"));
    }

    #[test]
    fn names_stay_claimed_across_merges_of_the_recent_set() {
        let mut claims = Claims::default();
        let names: Vec<String> = (0..3 * RECENT_CLAIMS)
            .map(|i| format!("f{i}.bin"))
            .collect();
        for name in &names {
            assert_eq!(&claims.claim("", name), name);
        }
        assert!(claims.recent.len() < RECENT_CLAIMS && claims.sorted.len() >= 2 * RECENT_CLAIMS);
        assert!(claims.sorted.is_sorted());
        for name in names.iter().step_by(97) {
            assert_ne!(&claims.claim("", name), name, "{name} was given out twice");
        }
    }

    #[test]
    fn collisions_get_numbered_deterministically() {
        let mut claims = Claims::default();
        let names: Vec<String> = ["a.txt", "a.txt", "a-1.txt", "a.txt", "README", "README"]
            .iter()
            .map(|n| claims.claim("", n))
            .collect();
        assert_eq!(
            names,
            [
                "a.txt",
                "a-1.txt",
                "a-1-1.txt",
                "a-2.txt",
                "README",
                "README-1"
            ]
        );
    }

    #[test]
    fn tget_working_names_are_never_final_names() {
        for (raw, want) in [
            ("a.part.meta", "a.part.meta_"),
            ("a.PART", "a.PART_"),
            ("a.Part.Meta", "a.Part.Meta_"),
            ("a.part.tar", "a.part.tar"),
        ] {
            assert_eq!(sanitize(raw), want, "sanitize({raw:?})");
        }
        // The cut must not leave a `.part` ending behind either.
        let long = format!("{}.part.{}", "a".repeat(195), "y".repeat(20));
        assert!(
            !is_working_file_name(&sanitize(&long)),
            "{}",
            sanitize(&long)
        );
    }

    #[test]
    fn terminal_escaping_shows_control_and_bidi_characters() {
        assert_eq!(
            escape_for_terminal("a\u{1b}[31mb\u{7}\u{202e}c é"),
            "a\\u{1b}[31mb\\u{7}\\u{202e}c é"
        );
        assert_eq!(escape_for_terminal("line\nbreak"), "line\\nbreak");
    }

    mod properties {
        use std::path::{Component, Path};

        use proptest::prelude::*;

        use super::super::*;

        /// Arbitrary text, rich in the characters that make names dangerous.
        pub fn hostile_text() -> impl Strategy<Value = String> {
            let tricky = prop_oneof![
                Just('/'),
                Just('\\'),
                Just('.'),
                Just('\0'),
                Just(' '),
                Just('\n'),
                Just('\u{202e}'),
                Just('%'),
                Just(':'),
            ];
            prop::collection::vec(prop_oneof![tricky, any::<char>()], 0..300)
                .prop_map(String::from_iter)
        }

        pub fn assert_safe_name(name: &str) {
            assert!(!name.is_empty());
            assert!(!name.contains(['/', '\\', '\0']), "{name:?}");
            assert!(name != "." && name != "..", "{name:?}");
            assert!(!name.chars().any(char::is_control), "{name:?}");
            assert!(name.len() <= MAX_NAME_BYTES, "{} bytes", name.len());
            assert!(!is_working_file_name(name), "{name:?}");
            let dir = Path::new("out/dir");
            let joined = dir.join(name);
            assert_eq!(joined.parent(), Some(dir), "{name:?}");
            assert_eq!(
                joined.components().next_back(),
                Some(Component::Normal(name.as_ref())),
                "{name:?}"
            );
        }

        proptest! {
            #[test]
            fn sanitised_names_stay_plain_and_inside(raw in hostile_text()) {
                assert_safe_name(&sanitize(&raw));
            }

            #[test]
            fn url_names_stay_plain_and_inside(tail in hostile_text()) {
                assert_safe_name(&name_from_url(&tail));
                assert_safe_name(&name_from_url(&format!("http://h/{tail}")));
                let encoded: String = tail.bytes().map(|b| format!("%{b:02x}")).collect();
                assert_safe_name(&name_from_url(&format!("http://h/d/{encoded}")));
            }

            #[test]
            fn url_trees_stay_plain_and_inside(
                segments in prop::collection::vec(hostile_text(), 0..6),
                listed in prop::collection::vec(hostile_text(), 0..3),
                host in any::<bool>(),
                cut in 0usize..3,
            ) {
                let encoded: Vec<String> = segments
                    .iter()
                    .map(|s| s.bytes().map(|b| format!("%{b:02x}")).collect())
                    .collect();
                let url = format!("http://h:81/{}/last.bin", encoded.join("/"));
                let layout = Layout { force_directories: true, host_directories: host, cut_dirs: cut };
                let dirs = directories(&url, &layout, &listed);
                let mut path = std::path::PathBuf::from("out");
                for dir in &dirs {
                    prop_assert!(!dir.is_empty() && dir != "." && dir != "..", "{dir:?}");
                    prop_assert!(!dir.contains(['/', '\\', '\0']), "{dir:?}");
                    prop_assert!(!dir.chars().any(char::is_control), "{dir:?}");
                    path.push(dir);
                }
                prop_assert!(path.components().all(|c| matches!(c, Component::Normal(_))));
                prop_assert_eq!(path.components().count(), dirs.len() + 1);
            }

            #[test]
            fn claims_never_hand_out_a_name_twice(names in prop::collection::vec("[ab.-]{0,4}", 1..40)) {
                let mut claims = Claims::default();
                let mut given = std::collections::HashSet::new();
                for name in names {
                    prop_assert!(given.insert(claims.claim("", &sanitize(&name))));
                }
            }
        }
    }
}
