//! `.netrc`, as curl reads it: `machine NAME`, `default`, `login`,
//! `password`, `account` (read, unused) and `macdef` (skipped to the next
//! blank line); tokens split by blanks, `"quoted"` with `\` escapes, `#` to
//! the end of the line a comment. The first entry for a host wins; `default`
//! stands for any host no `machine` names.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::userinfo::Credentials;

/// One `machine` (or `default`) entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Entry {
    /// `None` for `default`.
    machine: Option<String>,
    login: Option<String>,
    password: Option<String>,
}

/// A parsed netrc file.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Netrc {
    entries: Vec<Entry>,
}

/// Never shows a password, should a config be printed for debugging.
impl fmt::Debug for Netrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Netrc({} entries)", self.entries.len())
    }
}

/// A token and the line it starts on.
struct Token {
    text: String,
    line: usize,
}

impl Netrc {
    /// Parses `text` read from `path` (named, with the line, in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Netrc, String> {
        let at = |line: usize, why: String| format!("{}:{line}: {why}", path.display());
        let mut tokens = tokens(text)
            .map_err(|(line, why)| at(line, why))?
            .into_iter();
        let mut netrc = Netrc::default();
        while let Some(token) = tokens.next() {
            let mut value = |what: &str| {
                tokens
                    .next()
                    .map(|t| t.text)
                    .ok_or_else(|| at(token.line, format!("`{what}` needs a value")))
            };
            match token.text.as_str() {
                "machine" => netrc.entries.push(Entry {
                    machine: Some(value("machine")?),
                    ..Entry::default()
                }),
                "default" => netrc.entries.push(Entry::default()),
                keyword @ ("login" | "password" | "account") => {
                    let value = value(keyword)?;
                    let Some(entry) = netrc.entries.last_mut() else {
                        return Err(at(
                            token.line,
                            format!("`{keyword}` before any `machine` or `default`"),
                        ));
                    };
                    match keyword {
                        "login" => entry.login = Some(value),
                        "password" => entry.password = Some(value),
                        _ => {}
                    }
                }
                // `tokens` already skipped the macro's body.
                "macdef" => {
                    value("macdef")?;
                }
                other => {
                    return Err(at(
                        token.line,
                        format!(
                            "unknown keyword `{other}` (machine, default, login, password, account, macdef)"
                        ),
                    ));
                }
            }
        }
        Ok(netrc)
    }

    /// The login and password for `host`: of the first entry for it (or
    /// `default`) whose login is `login` when one is given. `None` when no
    /// entry has a password for it.
    pub fn lookup(&self, host: &str, login: Option<&str>) -> Option<Credentials> {
        let named = |entry: &&Entry| {
            entry
                .machine
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(host))
        };
        let wanted = |entry: &&Entry| login.is_none_or(|l| entry.login.as_deref() == Some(l));
        let entry = self.entries.iter().filter(named).find(wanted).or_else(|| {
            self.entries
                .iter()
                .filter(|e| e.machine.is_none())
                .find(wanted)
        })?;
        let password = entry.password.clone()?;
        Some(Credentials::new(
            entry.login.clone().unwrap_or_default(),
            password,
        ))
    }
}

/// `~/.netrc` for `--netrc`.
pub fn default_path(home: Option<PathBuf>) -> Option<PathBuf> {
    home.map(|home| home.join(".netrc"))
}

/// Splits the file into tokens, dropping comments and macro bodies.
fn tokens(text: &str) -> Result<Vec<Token>, (usize, String)> {
    let mut out: Vec<Token> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let line_no = index + 1;
        let mut chars = line.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&first) = chars.peek() else { break };
            if first == '#' {
                break;
            }
            let text = if first == '"' {
                chars.next();
                quoted(&mut chars).ok_or((line_no, "a quoted token does not end".into()))?
            } else {
                let mut word = String::new();
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    word.push(c);
                }
                word
            };
            out.push(Token {
                text,
                line: line_no,
            });
        }
        // A macro's body runs to the next blank line once its name is read.
        if let [.., keyword, name] = out.as_slice()
            && keyword.text == "macdef"
            && name.line == line_no
        {
            for (_, body) in lines.by_ref() {
                if body.trim().is_empty() {
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// The rest of a `"..."` token after its opening quote; `None` if it does not end.
fn quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
    let mut text = String::new();
    loop {
        match chars.next()? {
            '"' => return Some(text),
            '\\' => text.push(match chars.next()? {
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                other => other,
            }),
            c => text.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse(text: &str) -> Netrc {
        Netrc::parse(text, Path::new("n")).unwrap()
    }

    #[test]
    fn machines_logins_and_default() {
        let netrc = parse(
            "# mine\nmachine a.example login alice password \"p w\\\"1\"\n\
             machine B.example\n  login bob\n  password b1\nmachine b.example login carol password c1\n\
             default login anon password guest\n",
        );
        assert_eq!(
            netrc.lookup("a.example", None),
            Some(Credentials::new("alice", "p w\"1"))
        );
        assert_eq!(
            netrc.lookup("b.EXAMPLE", None),
            Some(Credentials::new("bob", "b1"))
        );
        assert_eq!(
            netrc.lookup("b.example", Some("carol")),
            Some(Credentials::new("carol", "c1"))
        );
        assert_eq!(
            netrc.lookup("elsewhere", None),
            Some(Credentials::new("anon", "guest"))
        );
        assert_eq!(netrc.lookup("a.example", Some("mallory")), None);
    }

    #[test]
    fn macros_and_comments_are_skipped() {
        let netrc = parse(
            "macdef init\ncd /pub\nmachine fake login x password y\n\nmachine h login u password p # note\n",
        );
        assert_eq!(netrc.lookup("fake", None), None);
        assert_eq!(netrc.lookup("h", None), Some(Credentials::new("u", "p")));
        assert_eq!(parse("").lookup("h", None), None);
        assert_eq!(parse("machine h login u").lookup("h", None), None);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let error = |text: &str| Netrc::parse(text, Path::new("/home/u/.netrc")).unwrap_err();
        assert_eq!(
            error("machine h\n login u\n pasword p\n"),
            "/home/u/.netrc:3: unknown keyword `pasword` (machine, default, login, password, account, macdef)"
        );
        assert_eq!(
            error("machine h login"),
            "/home/u/.netrc:1: `login` needs a value"
        );
        assert_eq!(
            error("\nmachine h password \"open"),
            "/home/u/.netrc:2: a quoted token does not end"
        );
        assert_eq!(
            error("login u"),
            "/home/u/.netrc:1: `login` before any `machine` or `default`"
        );
    }

    #[test]
    fn the_debug_form_hides_passwords() {
        let netrc = parse("machine h login u password s3cret");
        assert!(!format!("{netrc:?}").contains("s3cret"));
    }

    proptest! {
        #[test]
        fn any_text_parses_or_fails_without_panic(text in "[ -~\n\t]{0,200}") {
            let _ = Netrc::parse(&text, Path::new("n")).map(|n| n.lookup("h", None));
        }

        #[test]
        fn a_written_entry_reads_back(
            host in "[a-z]{1,10}",
            login in "[!-~&&[^\"#\\\\]]{1,12}",
            password in "[ -~]{0,16}",
        ) {
            let quoted = password.replace('\\', "\\\\").replace('"', "\\\"");
            let netrc = parse(&format!("machine {host}\nlogin {login} password \"{quoted}\"\n"));
            prop_assert_eq!(netrc.lookup(&host, None), Some(Credentials::new(login, password)));
        }
    }
}
