//! URL sources (arguments, list files, stdin) and the list format.
//!
//! Lists are read lazily, one line at a time, so a million-line list costs no
//! more memory than a short one: jobs flow from here through a bounded channel.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use ureq::http::Uri;

use crate::config::{Shard, Source, parse_sha256};
use crate::userinfo::redact;

/// Where a job came from, for messages: `urls.txt:3` or `argument 2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The Nth URL argument (1-based).
    Argument(usize),
    /// A line (1-based) of a list file, or of `<stdin>`.
    Line { list: Arc<str>, line: usize },
}

impl Origin {
    pub fn line(&self) -> usize {
        match self {
            Origin::Argument(line) | Origin::Line { line, .. } => *line,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Argument(n) => write!(f, "argument {n}"),
            Origin::Line { list, line } => write!(f, "{list}:{line}"),
        }
    }
}

/// One download as the user asked for it, before a file name is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub url: String,
    pub out: Option<String>,
    pub sha256: Option<[u8; 32]>,
    /// `dir=`: directories below `-d`, as listed (checked, not yet sanitised).
    pub dir: Vec<String>,
    pub origin: Origin,
}

/// A line that could not become a job; reported as a failed job, never dropped.
/// Its text and message never show a password (see `InputError::new`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub origin: Origin,
    pub text: String,
    pub message: String,
}

impl InputError {
    /// Hides the user info of any URL in the line and the message.
    fn new(origin: Origin, text: &str, message: &str) -> InputError {
        InputError {
            origin,
            text: redact(text).into_owned(),
            message: redact(message).into_owned(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

pub type Item = Result<Request, InputError>;

/// Opens every source up front (so a missing file is a usage error before any
/// download starts) and then yields requests lazily, in order.
pub fn open(
    sources: &[Source],
    shard: Option<Shard>,
) -> Result<impl Iterator<Item = Item> + Send + use<>> {
    let mut readers: Vec<Box<dyn Iterator<Item = Item> + Send>> = Vec::new();
    for source in sources {
        readers.push(match source {
            Source::Arguments(urls) => Box::new(arguments(urls.clone())),
            Source::File(path) => {
                let file = File::open(path)
                    .with_context(|| format!("cannot read URL list {}", path.display()))?;
                Box::new(lines(BufReader::new(file), path))
            }
            Source::Stdin => Box::new(lines(BufReader::new(io::stdin()), Path::new("<stdin>"))),
        });
    }
    Ok(readers
        .into_iter()
        .flatten()
        .filter(move |item| match (shard, item) {
            (Some(shard), Ok(request)) => shard.keeps(&request.url),
            _ => true,
        }))
}

/// How many jobs the sources will yield, for the progress bar's total, when
/// that can be known without consuming anything (not for stdin). A quick
/// scan: lines are counted, not parsed, so it may be off for bad lines the
/// shard filter would have dropped; the bar grows if the count was short.
pub fn count_jobs(sources: &[Source], shard: Option<Shard>) -> Option<u64> {
    let kept = |url: &str| shard.is_none_or(|shard| shard.keeps(url));
    let mut count = 0;
    for source in sources {
        count += match source {
            Source::Arguments(urls) => urls.iter().filter(|url| kept(url)).count() as u64,
            Source::File(path) => {
                let file = File::open(path).ok()?;
                // A pipe or FIFO (`-i <(cmd)`) can be read only once: leave it to the real reader.
                if !file.metadata().ok()?.is_file() {
                    return None;
                }
                let file = BufReader::new(file);
                let mut n = 0;
                for line in file.lines() {
                    let line = line.ok()?;
                    let first = line.split_whitespace().next().unwrap_or("#");
                    n += u64::from(!first.starts_with('#') && kept(first));
                }
                n
            }
            Source::Stdin => return None,
        };
    }
    Some(count)
}

fn arguments(urls: Vec<String>) -> impl Iterator<Item = Item> {
    urls.into_iter().enumerate().map(move |(i, url)| {
        let origin = Origin::Argument(i + 1);
        match check_url(&url) {
            Ok(()) => Ok(Request {
                url,
                out: None,
                sha256: None,
                dir: Vec::new(),
                origin,
            }),
            Err(message) => Err(InputError::new(origin, &url, &message)),
        }
    })
}

/// Parses a list lazily; a read error ends the list with one error item.
pub fn lines<R: BufRead + Send>(
    reader: R,
    name: &Path,
) -> impl Iterator<Item = Item> + Send + use<R> {
    let list: Arc<str> = Arc::from(name.display().to_string());
    let mut failed = false;
    // Bytes, decoded leniently: one line that is not UTF-8 is one bad line
    // (or a harmless comment), not the end of the list.
    reader
        .split(b'\n')
        .map(|line| {
            line.map(|bytes| {
                String::from_utf8_lossy(&bytes)
                    .trim_end_matches('\r')
                    .to_string()
            })
        })
        .enumerate()
        .map_while(move |(i, line)| {
            if failed {
                return None;
            }
            let origin = Origin::Line {
                list: list.clone(),
                line: i + 1,
            };
            Some(match line {
                Ok(text) => parse_line(&text)
                    .map(|entry| {
                        entry.map(|e| Request {
                            url: e.url,
                            out: e.out,
                            sha256: e.sha256,
                            dir: e.dir,
                            origin: origin.clone(),
                        })
                    })
                    .map_err(|message| InputError::new(origin, &text, &message)),
                Err(e) => {
                    failed = true;
                    Err(InputError::new(
                        origin,
                        "",
                        &format!("cannot read line: {e}"),
                    ))
                }
            })
        })
        .filter_map(|item| item.transpose())
}

/// One list line's content.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    pub url: String,
    pub out: Option<String>,
    pub sha256: Option<[u8; 32]>,
    pub dir: Vec<String>,
}

/// `URL [out=NAME] [sha256=HEX] [dir=SUBDIR]`; `Ok(None)` for blank lines and comments.
/// Option values are percent-decoded, so a name can hold spaces (`%20`);
/// a `%` not followed by two hex digits stays as it is.
pub fn parse_line(line: &str) -> Result<Option<Entry>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut fields = line.split_whitespace();
    let url = fields.next().unwrap_or_default().to_string();
    check_url(&url)?;
    let mut entry = Entry {
        url,
        out: None,
        sha256: None,
        dir: Vec::new(),
    };
    for field in fields {
        let Some((key, value)) = field.split_once('=') else {
            return Err(format!(
                "`{field}` is not a key=value option (expected out=NAME, sha256=HEX or dir=SUBDIR)"
            ));
        };
        let value = percent_decode_str(value).decode_utf8_lossy();
        match key {
            "out" if value.is_empty() => return Err("out= needs a file name".into()),
            "out" => entry.out = Some(value.into_owned()),
            "sha256" => entry.sha256 = Some(parse_sha256(&value)?),
            "dir" => entry.dir = parse_dir(&value)?,
            _ => {
                return Err(format!(
                    "unknown option `{key}` (expected out=NAME, sha256=HEX or dir=SUBDIR)"
                ));
            }
        }
    }
    Ok(Some(entry))
}

/// `dir=a/b`: directories below `-d`. Nothing may lead out of it: no
/// absolute path, no `..`.
fn parse_dir(value: &str) -> Result<Vec<String>, String> {
    if value.starts_with('/') || value.starts_with('\\') {
        return Err(format!(
            "dir={value}: an absolute path (use a directory below -d)"
        ));
    }
    let components: Vec<String> = value
        .split(['/', '\\'])
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
        .collect();
    if components.iter().any(|c| c == "..") {
        return Err(format!("dir={value}: `..` would lead out of -d"));
    }
    Ok(components)
}

/// What a list's option value may not hold as it is: what splits a line
/// into fields, and `%`, which starts an escape.
const VALUE_ESCAPES: &AsciiSet = &CONTROLS.add(b' ').add(b'%');

/// An option value as a list line holds it; `parse_line` reads it back.
pub fn encode_value(value: &str) -> String {
    utf8_percent_encode(value, VALUE_ESCAPES).to_string()
}

/// Accepts absolute http and https URLs with a host.
pub fn check_url(url: &str) -> Result<(), String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("`{url}` is not a valid URL ({e})"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(format!(
                "`{url}`: unsupported scheme `{other}` (only http and https)"
            ));
        }
        None => return Err(format!("`{url}` is not an absolute http(s) URL")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("`{url}` has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_and_comment_lines_are_skipped() {
        assert_eq!(parse_line(""), Ok(None));
        assert_eq!(parse_line("   \t"), Ok(None));
        assert_eq!(parse_line("# http://example.com/x"), Ok(None));
    }

    #[test]
    fn url_with_options() {
        let hex = "ab".repeat(32);
        let entry = parse_line(&format!("  http://h/a.bin out=b.bin sha256={hex} "))
            .unwrap()
            .unwrap();
        assert_eq!(entry.url, "http://h/a.bin");
        assert_eq!(entry.out.as_deref(), Some("b.bin"));
        assert_eq!(entry.sha256, Some([0xab; 32]));
    }

    #[test]
    fn option_values_round_trip_through_their_encoding() {
        for name in ["a b.txt", "100%.txt", "tab\there", "€ rates.txt", "plain"] {
            let line = format!("http://h/x out={}", encode_value(name));
            let entry = parse_line(&line).unwrap().unwrap();
            assert_eq!(entry.out.as_deref(), Some(name), "{line}");
        }
        // Lists written by hand keep a lone percent sign.
        let entry = parse_line("http://h/x out=50%off.txt").unwrap().unwrap();
        assert_eq!(entry.out.as_deref(), Some("50%off.txt"));
    }

    #[test]
    fn dirs_stay_below_the_output_directory() {
        let entry = parse_line("http://h/x dir=a/./b/").unwrap().unwrap();
        assert_eq!(entry.dir, ["a", "b"]);
        for bad in ["dir=../x", "dir=a/../../x", "dir=/etc", "dir=%2e%2e/x"] {
            let error = parse_line(&format!("http://h/x {bad}")).unwrap_err();
            assert!(error.starts_with("dir="), "{bad}: {error}");
        }
    }

    #[test]
    fn bad_lines_say_why() {
        assert!(
            parse_line("ftp://h/x")
                .unwrap_err()
                .contains("unsupported scheme `ftp`")
        );
        assert!(
            parse_line("not a url")
                .unwrap_err()
                .contains("not an absolute")
        );
        assert!(
            parse_line("http://h/x colour=red")
                .unwrap_err()
                .contains("unknown option `colour`")
        );
        assert!(
            parse_line("http://h/x loose")
                .unwrap_err()
                .contains("key=value")
        );
        assert!(
            parse_line("http://h/x out=")
                .unwrap_err()
                .contains("out= needs")
        );
        assert!(
            parse_line("http://h/x sha256=12")
                .unwrap_err()
                .contains("64 hexadecimal")
        );
        assert!(parse_line("http:///nohost").is_err());
    }

    #[test]
    fn list_errors_carry_file_and_line() {
        let text = "http://h/1\n\n# c\nbogus\nhttp://h/2 out=two\n";
        let items: Vec<Item> = lines(text.as_bytes(), Path::new("urls.txt")).collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].as_ref().unwrap().origin.to_string(), "urls.txt:1");
        let error = items[1].as_ref().unwrap_err();
        assert!(
            error.to_string().starts_with("urls.txt:4: `bogus`"),
            "{error}"
        );
        assert_eq!(items[2].as_ref().unwrap().out.as_deref(), Some("two"));
    }

    #[test]
    fn bad_lines_never_show_a_password() {
        let text = "ftp://alice:s3cr3t@h/x\nhttp://bob:pw@h/y colour=red\n";
        let items: Vec<Item> = lines(text.as_bytes(), Path::new("l.txt")).collect();
        for item in &items {
            let error = item.as_ref().unwrap_err();
            let shown = format!("{error} {}", error.text);
            assert!(
                !shown.contains("s3cr3t") && !shown.contains(":pw@"),
                "{shown}"
            );
        }
        assert_eq!(items[0].as_ref().unwrap_err().text, "ftp://alice:***@h/x");
        let argument = arguments(vec!["gopher://u:p@h/".into()]).next().unwrap();
        assert!(!argument.unwrap_err().to_string().contains(":p@"));
    }

    #[test]
    fn jobs_are_counted_ahead_unless_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("l.txt");
        std::fs::write(&list, "# c\nhttp://h/1\n\n  http://h/2 out=x\nbogus\n").unwrap();
        let sources = [
            Source::Arguments(vec!["http://h/3".into()]),
            Source::File(list),
        ];
        assert_eq!(count_jobs(&sources, None), Some(4));
        assert_eq!(count_jobs(&[Source::Stdin], None), None);
        let shard = Shard { index: 0, count: 2 };
        let all = ["http://h/1", "http://h/2", "http://h/3", "bogus"];
        let kept = all.iter().filter(|u| shard.keeps(u)).count() as u64;
        assert_eq!(count_jobs(&sources, Some(shard)), Some(kept));
    }

    #[test]
    fn a_line_that_is_not_utf8_does_not_end_the_list() {
        let text = b"http://h/1\n# caf\xe9\nhttp://h/\xff\r\nhttp://h/2\r\n";
        let items: Vec<Item> = lines(&text[..], Path::new("l.txt")).collect();
        assert_eq!(items.len(), 3);
        let line_of = |item: &Item| {
            item.as_ref()
                .map_or_else(|e| e.origin.line(), |r| r.origin.line())
        };
        assert_eq!(items.iter().map(line_of).collect::<Vec<_>>(), [1, 3, 4]);
        assert_eq!(items[2].as_ref().unwrap().url, "http://h/2");
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #[test]
            fn any_line_parses_without_panic(line in any::<String>()) {
                let _ = parse_line(&line);
            }

            #[test]
            fn accepted_lines_hold_a_checked_url(
                tail in "[ -~]{0,60}",
                options in "( (out|sha256|x)=[ -~]{0,70}){0,3}",
            ) {
                let line = format!("http://h/{tail}{options}");
                if let Ok(Some(entry)) = parse_line(&line) {
                    prop_assert!(check_url(&entry.url).is_ok());
                    prop_assert!(!entry.url.contains(char::is_whitespace));
                    prop_assert!(entry.out.as_ref().is_none_or(|out| !out.is_empty()));
                }
            }
        }
    }
}
