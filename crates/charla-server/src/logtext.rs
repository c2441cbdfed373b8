//! User-supplied text in log lines, escaped: a nick, a quit reason or a message must not be able
//! to drive the terminal of whoever reads the log (`ESC[2J`), start a forged log line (CR, LF,
//! U+2028), or reverse what follows it (U+202E).
//!
//! [`Escaped`] shows such characters as visible escapes: C0 controls, DEL and C1 controls as
//! `\xNN` (`\t`, `\r` and `\n` by name), bidirectional controls and the line and paragraph
//! separators as `\u{NNNN}`, and the backslash itself as `\\`, so that an escape in the log always
//! means the escaped character, never the user's own backslash.

use std::fmt;

/// A `Display` of user text for a log line, escaped (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

/// Whether `c` must be escaped in a log line.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || c == '\\'
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
                | '\u{2028}' | '\u{2029}'
        )
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(needs_escape) {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '\\' => f.write_str("\\\\")?,
                '\t' => f.write_str("\\t")?,
                '\r' => f.write_str("\\r")?,
                '\n' => f.write_str("\\n")?,
                c if u32::from(c) <= 0xFF => write!(f, "\\x{:02x}", u32::from(c))?,
                c => write!(f, "\\u{{{:04x}}}", u32::from(c))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_are_shown_not_obeyed() {
        let cases = [
            ("hola ñandú 🎉", "hola ñandú 🎉"),
            ("\u{1b}[2Jclear", "\\x1b[2Jclear"),
            ("a\r\nINFO forged", "a\\r\\nINFO forged"),
            ("tab\there", "tab\\there"),
            ("del\u{7f}", "del\\x7f"),
            ("c1\u{9b}31m", "c1\\x9b31m"),
            ("abc\u{202e}fed", "abc\\u{202e}fed"),
            ("line\u{2028}sep", "line\\u{2028}sep"),
            ("back\\x1b", "back\\\\x1b"),
            ("", ""),
        ];
        for (raw, shown) in cases {
            assert_eq!(Escaped(raw).to_string(), shown, "{raw:?}");
        }
    }
}
