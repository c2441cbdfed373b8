//! File names: read from a client's `Content-Disposition`, cleaned for display, and written
//! back into URLs and `Content-Disposition` headers. A name is only ever shown: no name from a
//! request reaches the file system (blobs are named by their hash).

/// The longest name kept, in characters.
const MAX_NAME_CHARS: usize = 120;

/// The name given when a client gives none (or none survives cleaning).
pub(crate) const DEFAULT_NAME: &str = "file";

/// The `filename*` (RFC 6266 section 4.3, RFC 8187) or else the `filename` parameter of a
/// `Content-Disposition` value, decoded; `None` when there is neither.
pub(crate) fn from_disposition(value: &str) -> Option<String> {
    let params = split_params(value);
    let extended = params
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("filename*"))
        .and_then(|(_, v)| decode_extended(v));
    extended.or_else(|| {
        params
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("filename"))
            .map(|(_, v)| v)
    })
}

/// `type; a=b; c="d;e"` → `[("a", "b"), ("c", "d;e")]` (quoted strings unescaped).
fn split_params(value: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut rest = match value.split_once(';') {
        Some((_, rest)) => rest,
        None => return params,
    };
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        let Some((name, after)) = rest.split_once('=') else {
            return params;
        };
        let name = name.trim().to_owned();
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(';').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        params.push((name, value));
        rest = tail;
    }
}

/// `UTF-8''na%C3%AFve.txt` → `naïve.txt`; other charsets are not decoded.
fn decode_extended(value: &str) -> Option<String> {
    let mut parts = value.splitn(3, '\'');
    let charset = parts.next()?;
    let _language = parts.next()?;
    let encoded = parts.next()?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    String::from_utf8(percent_decode(encoded)?).ok()
}

fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// A name fit to show: its last path component, without control characters or bidirectional
/// overrides (which make `gpj.exe` look like `exe.jpg`), without leading dots or spaces, at
/// most [`MAX_NAME_CHARS`] characters; [`DEFAULT_NAME`] when nothing is left.
pub(crate) fn sanitise(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .take(MAX_NAME_CHARS)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        DEFAULT_NAME.to_owned()
    } else {
        cleaned.to_owned()
    }
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Percent-encodes everything but the unreserved characters of RFC 3986 section 2.3: safe in
/// a URL path segment and in a `filename*` value.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A `Content-Disposition` value (`inline` or `attachment`) naming `name`: an ASCII
/// `filename` for old clients and the exact name in `filename*` (RFC 6266 section 4.3). Always
/// a valid header value.
pub(crate) fn disposition(kind: &str, name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{}",
        percent_encode(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_from_content_disposition() {
        let cases = [
            (r#"attachment; filename="cat.png""#, Some("cat.png")),
            ("attachment; filename=cat.png", Some("cat.png")),
            (
                r#"attachment; filename="a \"b\"; c.txt""#,
                Some(r#"a "b"; c.txt"#),
            ),
            (
                r#"attachment; filename="fallback.txt"; filename*=UTF-8''na%C3%AFve%20%F0%9F%90%88.txt"#,
                Some("naïve 🐈.txt"),
            ),
            // A charset we do not decode falls back to `filename`.
            (
                "attachment; filename*=ISO-8859-1''x%E9; filename=x.txt",
                Some("x.txt"),
            ),
            // A broken escape falls back too.
            ("attachment; filename*=UTF-8''%ZZ; filename=y", Some("y")),
            ("attachment", None),
            ("", None),
            (
                r#"attachment; filename="unterminated"#,
                Some("unterminated"),
            ),
        ];
        for (value, want) in cases {
            assert_eq!(from_disposition(value).as_deref(), want, "{value}");
        }
    }

    #[test]
    fn names_are_cleaned_for_display() {
        let cases = [
            ("../../etc/passwd", "passwd"),
            ("C:\\Users\\ana\\foto.jpg", "foto.jpg"),
            ("..", "file"),
            (".htaccess", "htaccess"),
            ("  ", "file"),
            ("a\r\nb\u{0}c.txt", "abc.txt"),
            ("photo\u{202E}gpj.exe", "photogpj.exe"),
            ("Фото 🏖.png", "Фото 🏖.png"),
        ];
        for (raw, want) in cases {
            assert_eq!(sanitise(raw), want, "{raw:?}");
        }
        assert_eq!(sanitise(&"x".repeat(500)).chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn dispositions_are_valid_header_values() {
        for name in ["a.txt", "a \"quoted\" \\ name", "Фото 🏖.png", "semi;colon"] {
            let value = disposition("attachment", name);
            assert!(axum::http::HeaderValue::from_str(&value).is_ok(), "{value}");
            let back = from_disposition(&value).expect("a name");
            assert_eq!(back, name);
        }
        assert_eq!(percent_encode("a b/ñ"), "a%20b%2F%C3%B1");
    }
}
