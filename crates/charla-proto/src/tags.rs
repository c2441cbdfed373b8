//! IRCv3 message tag values: escaping and unescaping
//! (<https://ircv3.net/specs/extensions/message-tags#escaping-values>).

use std::borrow::Cow;

/// Unescapes a tag value as sent on the wire. An invalid escape drops the backslash, and a
/// trailing lone backslash is dropped, as the spec asks.
pub fn unescape(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

/// Escapes a tag value for the wire.
pub fn escape_into(value: &str, out: &mut Vec<u8>) {
    // Most values (times, ids, accounts) need no escaping: copy them in one go.
    if !value
        .bytes()
        .any(|b| matches!(b, b';' | b' ' | b'\\' | b'\r' | b'\n' | b'\0'))
    {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    for b in value.bytes() {
        match b {
            b';' => out.extend_from_slice(b"\\:"),
            b' ' => out.extend_from_slice(b"\\s"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\0' => {}
            _ => out.push(b),
        }
    }
}

/// Escapes a tag value into a new string.
pub fn escape(value: &str) -> String {
    let mut out = Vec::with_capacity(value.len());
    escape_into(value, &mut out);
    // Only ASCII bytes were replaced by ASCII sequences, so the result is still UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Whether `key` is a valid tag key: an optional `+` (client-only), an optional vendor
/// (a host name followed by `/`), and a name of letters, digits and hyphens.
pub fn is_valid_key(key: &str) -> bool {
    let key = key.strip_prefix('+').unwrap_or(key);
    let name = match key.rsplit_once('/') {
        Some((vendor, name)) => {
            if vendor.is_empty()
                || !vendor
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            {
                return false;
            }
            name
        }
        None => key,
    };
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_special_characters() {
        for v in ["", "plain", "a;b c\\d\r\ne", "ñandú 🎉; ok"] {
            assert_eq!(unescape(&escape(v)), v);
        }
    }

    #[test]
    fn unescape_follows_the_spec_for_odd_input() {
        assert_eq!(unescape("a\\"), "a");
        assert_eq!(unescape("\\b"), "b");
        assert_eq!(unescape("\\:\\s"), "; ");
    }

    #[test]
    fn keys() {
        assert!(is_valid_key("time"));
        assert!(is_valid_key("+typing"));
        assert!(is_valid_key("+draft/reply"));
        assert!(is_valid_key("example.com/foo-bar"));
        assert!(!is_valid_key(""));
        assert!(!is_valid_key("+"));
        assert!(!is_valid_key("a b"));
        assert!(!is_valid_key("/x"));
        assert!(!is_valid_key("ex/"));
    }
}
