//! The user info of URLs (`user:password@`): percent-decoded into the
//! credentials it stands for, and hidden in every text tget prints.
//!
//! Redaction is done where a text is made (a job's report, an input error),
//! so every printer downstream is safe by construction.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;
use url::Url;

/// What stands for a password in anything printed.
pub const HIDDEN: &str = "***";

/// A user and password, decoded; its `Debug` form hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl Credentials {
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            user: user.into(),
            password: password.into(),
        }
    }

    /// `-u USER:PASSWORD`: split at the first colon, as curl does.
    pub fn parse(text: &str) -> Result<Credentials, String> {
        match text.split_once(':') {
            Some((user, password)) => Ok(Credentials::new(user, password)),
            None => Err(format!(
                "--user `{text}`: expected USER:PASSWORD (tget does not prompt for a password)"
            )),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{HIDDEN}", self.user)
    }
}

/// `text` with the user info of every URL in it hidden: `user:***@` where
/// a password follows the user, `***@` for a lone user (often a token).
/// Text without `://` is returned as it is.
pub fn redact(text: &str) -> Cow<'_, str> {
    // No user info without an `@`: the common case costs one byte scan.
    if !text.as_bytes().contains(&b'@') || !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace() || c == '`')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let info = &authority[..at];
                if let Some((user, _)) = info.split_once(':') {
                    out.push_str(user);
                    out.push(':');
                }
                out.push_str(HIDDEN);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The URL's user and password, percent-decoded (`bob%40corp` is `bob@corp`),
/// as curl sends them; `None` without user info. Bytes that do not decode to
/// UTF-8 are an error.
pub fn decode(url: &Url) -> Result<Option<Credentials>, String> {
    if url.username().is_empty() && url.password().is_none() {
        return Ok(None);
    }
    let part = |text: &str| {
        percent_decode_str(text)
            .decode_utf8()
            .map(Cow::into_owned)
            .map_err(|_| "the user info is not UTF-8 once decoded".to_string())
    };
    Ok(Some(Credentials::new(
        part(url.username())?,
        part(url.password().unwrap_or_default())?,
    )))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn passwords_are_hidden_wherever_a_url_is() {
        assert_eq!(
            redact("http://alice:s3cr3t@h:8/a?b=c@d"),
            "http://alice:***@h:8/a?b=c@d"
        );
        assert_eq!(redact("https://TOKEN@h/x"), "https://***@h/x");
        assert_eq!(redact("http://h/p@q"), "http://h/p@q");
        assert_eq!(
            redact("l.txt:3: `ftp://u:p@h/x` and socks5://a:b@c"),
            "l.txt:3: `ftp://u:***@h/x` and socks5://a:***@c"
        );
        assert_eq!(redact("no url here: a:b@c"), "no url here: a:b@c");
        assert_eq!(redact("http://u:p:q@h"), "http://u:***@h");
    }

    #[test]
    fn user_info_is_percent_decoded() {
        let url = Url::parse("http://bob%40corp:p%40ss%3A1@h/f").unwrap();
        assert_eq!(
            decode(&url).unwrap(),
            Some(Credentials::new("bob@corp", "p@ss:1"))
        );
        assert_eq!(decode(&Url::parse("http://h/").unwrap()).unwrap(), None);
        let user_only = Url::parse("http://tok@h/").unwrap();
        assert_eq!(
            decode(&user_only).unwrap(),
            Some(Credentials::new("tok", ""))
        );
        assert!(decode(&Url::parse("http://%ff:x@h/").unwrap()).is_err());
    }

    #[test]
    fn user_flags_split_at_the_first_colon_and_never_show_the_password() {
        let credentials = Credentials::parse("bob:p:w").unwrap();
        assert_eq!(credentials, Credentials::new("bob", "p:w"));
        assert_eq!(format!("{credentials:?}"), "bob:***");
        assert!(
            Credentials::parse("bob")
                .unwrap_err()
                .contains("USER:PASSWORD")
        );
    }

    proptest! {
        #[test]
        fn no_password_survives_redaction(
            user in "[a-z]{1,8}",
            password in "[A-Za-z0-9%!$&'()*+,;=]{1,12}",
            before in "[ -~]{0,12}",
        ) {
            let text = format!("{before} http://{user}:{password}@h/x");
            let shown = redact(&text).into_owned();
            let expected = format!("http://{user}:***@h/x");
            prop_assert!(shown.ends_with(&expected), "{}", shown);
        }
    }
}
