//! User-supplied text in log lines, escaped: a nick, a quit reason or a message must not be able
//! to drive the terminal of whoever reads the log (`ESC[2J`), start a forged log line (CR, LF,
//! U+2028), or reverse what follows it (U+202E).
//!
//! [`Escaped`] shows such characters as visible escapes: C0 controls, DEL and C1 controls as
//! `\xNN` (`\t`, `\r` and `\n` by name), bidirectional controls and the line and paragraph
//! separators as `\u{NNNN}`, and the backslash itself as `\\`, so that an escape in the log always
//! means the escaped character, never the user's own backslash.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

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

/// A warning that would come once per message while something is wrong for everyone (a full
/// disk refusing every message): logged at most once a second, with the count of those left
/// out since, so that a busy server's log stays readable and small.
#[derive(Debug)]
pub struct Throttle {
    /// When the next warning may be logged, in milliseconds since the Unix epoch.
    next_ms: AtomicU64,
    /// Warnings left out since the last one logged.
    skipped: AtomicU64,
}

/// The store refusing messages, lines, renames and REDACTs.
pub static STORE_REFUSALS: Throttle = Throttle::new();

impl Default for Throttle {
    fn default() -> Self {
        Self::new()
    }
}

impl Throttle {
    /// A throttle that lets the first warning through.
    pub const fn new() -> Self {
        Throttle {
            next_ms: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }

    /// `Some(skipped)`: log this warning, saying that `skipped` were left out before it;
    /// `None`: leave it out.
    pub fn admit(&self) -> Option<u64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.admit_at(now)
    }

    fn admit_at(&self, now_ms: u64) -> Option<u64> {
        let next = self.next_ms.load(Ordering::Relaxed);
        if now_ms >= next
            && self
                .next_ms
                .compare_exchange(next, now_ms + 1_000, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.skipped.swap(0, Ordering::Relaxed));
        }
        self.skipped.fetch_add(1, Ordering::Relaxed);
        None
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

    #[test]
    fn a_throttle_lets_one_warning_through_a_second_and_counts_the_others() {
        let t = Throttle::new();
        assert_eq!(t.admit_at(10_000), Some(0));
        assert_eq!(t.admit_at(10_001), None);
        assert_eq!(t.admit_at(10_999), None);
        assert_eq!(t.admit_at(11_000), Some(2));
        assert_eq!(t.admit_at(11_500), None);
        assert_eq!(t.admit_at(13_000), Some(1));
        assert!(STORE_REFUSALS.admit().is_some());
    }
}
