//! The file name a server suggests in `Content-Disposition` (RFC 6266).
//!
//! Only the name is extracted here, exactly as sent; it is hostile input and
//! becomes a file name only through `naming::sanitize`.

use percent_encoding::percent_decode_str;

/// The suggested file name: `filename*` (RFC 5987, `UTF-8''%e2%82%ac.txt`)
/// when it can be decoded, else `filename` (a token or a quoted string).
/// `None` when the header names no file.
pub fn filename(header: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for (name, value) in parameters(header) {
        if name.eq_ignore_ascii_case("filename*") && extended.is_none() {
            extended = decode_extended(&value);
        } else if name.eq_ignore_ascii_case("filename") && plain.is_none() {
            plain = Some(value);
        }
    }
    extended.or(plain).filter(|name| !name.is_empty())
}

/// `type; name=value; name="quoted; value"`: the `name=value` pairs, in
/// order. Lenient as browsers are: a bare token (the disposition type) is
/// skipped, an unterminated quote runs to the end.
fn parameters(header: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = header;
    while !rest.is_empty() {
        let end = rest.find(['=', ';']).unwrap_or(rest.len());
        let name = rest[..end].trim();
        rest = &rest[end..];
        match rest.strip_prefix('=') {
            Some(after) => {
                let (value, remaining) = value(after);
                found.push((name.to_string(), value));
                rest = remaining.find(';').map_or("", |i| &remaining[i + 1..]);
            }
            None => rest = rest.strip_prefix(';').unwrap_or_default(),
        }
    }
    found
}

/// One value and what follows it: a quoted string (with `\` escapes) or a
/// token that runs to the next `;`.
fn value(text: &str) -> (String, &str) {
    let text = text.trim_start();
    let Some(quoted) = text.strip_prefix('"') else {
        let end = text.find(';').unwrap_or(text.len());
        return (text[..end].trim().to_string(), &text[end..]);
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.extend(chars.next().map(|(_, escaped)| escaped)),
            '"' => return (value, &quoted[i + 1..]),
            c => value.push(c),
        }
    }
    (value, "")
}

/// `charset'language'percent-encoded`, for the two charsets RFC 5987 requires.
fn decode_extended(value: &str) -> Option<String> {
    let mut parts = value.splitn(3, '\'');
    let charset = parts.next()?.trim();
    let _language = parts.next()?;
    let bytes: Vec<u8> = percent_decode_str(parts.next()?).collect();
    if charset.eq_ignore_ascii_case("UTF-8") {
        String::from_utf8(bytes).ok()
    } else if charset.eq_ignore_ascii_case("ISO-8859-1") {
        Some(bytes.into_iter().map(char::from).collect())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_quoted_names() {
        assert_eq!(
            filename("attachment; filename=report.pdf").as_deref(),
            Some("report.pdf")
        );
        assert_eq!(
            filename("attachment; filename=\"a; b.txt\"; size=3").as_deref(),
            Some("a; b.txt")
        );
        assert_eq!(
            filename(r#"attachment; filename="say \"hi\" \\ bye.txt""#).as_deref(),
            Some(r#"say "hi" \ bye.txt"#)
        );
        assert_eq!(
            filename("ATTACHMENT; FileName = spaced.txt ").as_deref(),
            Some("spaced.txt")
        );
        assert_eq!(
            filename("filename=\"bare.txt\"").as_deref(),
            Some("bare.txt")
        );
    }

    #[test]
    fn extended_names_win_when_decodable() {
        assert_eq!(
            filename(
                "attachment; filename=\"fallback.txt\"; filename*=UTF-8''%e2%82%ac%20rates.txt"
            )
            .as_deref(),
            Some("€ rates.txt")
        );
        assert_eq!(
            filename("attachment; filename*=iso-8859-1'en'%A3%20rates.txt").as_deref(),
            Some("£ rates.txt")
        );
        assert_eq!(
            filename("attachment; filename*=KOI8-R''%c1; filename=plain.txt").as_deref(),
            Some("plain.txt"),
            "an unknown charset falls back to filename"
        );
        assert_eq!(
            filename("attachment; filename*=UTF-8''%ff%fe; filename=plain.txt").as_deref(),
            Some("plain.txt"),
            "invalid UTF-8 falls back to filename"
        );
    }

    #[test]
    fn no_name() {
        for header in [
            "",
            "inline",
            "attachment;",
            "attachment; filename=",
            "attachment; filename=\"\"",
            "attachment; name=field",
            ";;;==;\"",
            "attachment; filename*=nonsense",
        ] {
            assert_eq!(filename(header), None, "{header:?}");
        }
    }

    #[test]
    fn hostile_names_come_out_raw_for_the_sanitiser() {
        assert_eq!(
            filename("attachment; filename=\"../../etc/passwd\"").as_deref(),
            Some("../../etc/passwd")
        );
        assert_eq!(
            filename("attachment; filename*=UTF-8''..%2F..%2Fx%0A").as_deref(),
            Some("../../x\n")
        );
        assert_eq!(
            filename("attachment; filename=\"unterminated").as_deref(),
            Some("unterminated")
        );
    }

    mod properties {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        use proptest::prelude::*;

        use super::super::*;
        use crate::naming;

        fn header_like() -> impl Strategy<Value = String> {
            let pieces = prop_oneof![
                Just("attachment".to_string()),
                Just("; ".to_string()),
                Just("filename=".to_string()),
                Just("filename*=".to_string()),
                Just("UTF-8''".to_string()),
                Just("\"".to_string()),
                Just("\\".to_string()),
                Just("%".to_string()),
                Just("'".to_string()),
                "[^;]{0,12}",
                any::<String>(),
            ];
            prop::collection::vec(pieces, 0..12).prop_map(|p| p.concat())
        }

        proptest! {
            #[test]
            fn any_header_parses_without_panic_to_a_safe_name(header in header_like()) {
                if let Some(raw) = filename(&header) {
                    prop_assert!(!raw.is_empty());
                    let name = naming::sanitize(&raw);
                    prop_assert!(!name.is_empty() && !name.contains(['/', '\\', '\0']));
                }
            }

            #[test]
            fn extended_names_round_trip(name in "\\PC{1,40}") {
                let encoded = utf8_percent_encode(&name, NON_ALPHANUMERIC);
                let header = format!("attachment; filename*=UTF-8''{encoded}");
                prop_assert_eq!(filename(&header), Some(name));
            }

            #[test]
            fn quoted_names_round_trip(name in "[^\\x00]{1,40}") {
                let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
                let header = format!("attachment; filename=\"{quoted}\"; size=1");
                prop_assert_eq!(filename(&header), Some(name));
            }
        }
    }
}
