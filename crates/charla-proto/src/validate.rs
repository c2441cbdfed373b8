//! What a valid nick and channel name is.
//!
//! Nicks may hold UTF-8 letters and digits (as modern servers allow) plus the special characters
//! of RFC 2812 (`[]\`_^{|}-`); they may not start with a digit or `-`, and may not hold
//! characters that have a meaning in the protocol (space, `,`, `*`, `?`, `!`, `@`, `.`, `:`,
//! `#`, `&`, `$`) or control characters. A nick must also be in Unicode Normalization Form C and
//! may not hold a combining mark with nothing to attach to (first, or after a special
//! character): `Ñ` is accepted as U+00D1, and `N` + COMBINING TILDE is refused instead of being
//! a second, look-alike `Ñ` (see [`casemap`](crate::casemap) for the folding that backs this).
//! Channel names start with `#` and hold no space, comma, BEL or control character.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::is_nfc;

/// Longest nick in characters (ISUPPORT `NICKLEN`).
pub const NICKLEN: usize = 30;
/// Longest channel name in bytes (ISUPPORT `CHANNELLEN`).
pub const CHANNELLEN: usize = 64;
/// Longest topic in bytes (ISUPPORT `TOPICLEN`).
pub const TOPICLEN: usize = 390;
/// Longest kick reason in bytes (ISUPPORT `KICKLEN`).
pub const KICKLEN: usize = 255;
/// Longest away message in bytes (ISUPPORT `AWAYLEN`).
pub const AWAYLEN: usize = 255;
/// Longest user name (ISUPPORT `USERLEN`).
pub const USERLEN: usize = 16;
/// The channel type prefixes (ISUPPORT `CHANTYPES`).
pub const CHANTYPES: &str = "#";

fn is_nick_special(c: char) -> bool {
    matches!(
        c,
        '[' | ']' | '\\' | '`' | '_' | '^' | '{' | '|' | '}' | '-'
    )
}

/// Whether `nick` is a valid nick.
pub fn is_valid_nick(nick: &str) -> bool {
    let mut chars = nick.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if nick.chars().count() > NICKLEN || first.is_numeric() || first == '-' {
        return false;
    }
    if !nick.is_ascii() && !is_valid_unicode_nick(nick) {
        return false;
    }
    nick.chars()
        .all(|c| c.is_alphanumeric() || is_nick_special(c))
}

/// The extra rules for non-ASCII nicks: NFC, and every combining mark follows a letter or
/// digit (directly or after other marks).
fn is_valid_unicode_nick(nick: &str) -> bool {
    if !is_nfc(nick) {
        return false;
    }
    let mut can_attach = false;
    for c in nick.chars() {
        if is_combining_mark(c) {
            if !can_attach {
                return false;
            }
        } else {
            can_attach = c.is_alphanumeric();
        }
    }
    true
}

/// Whether `name` is a valid channel name.
pub fn is_valid_channel(name: &str) -> bool {
    name.len() >= 2
        && name.len() <= CHANNELLEN
        && name.starts_with(|c| CHANTYPES.contains(c))
        && !name
            .chars()
            .any(|c| c == ' ' || c == ',' || c == '\x07' || c.is_control())
}

/// Whether `target` names a channel (starts with a channel type prefix).
pub fn is_channel_name(target: &str) -> bool {
    target.starts_with(|c| CHANTYPES.contains(c))
}

/// Whether `user` is a valid user name (the USER command's first parameter).
pub fn is_valid_user(user: &str) -> bool {
    !user.is_empty()
        && !user
            .chars()
            .any(|c| c == ' ' || c == '@' || c == '!' || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicks() {
        for ok in [
            "alice", "Ñandú", "José_", "[bot]", "a-b", "x^", "李雷", "Zoë",
        ] {
            assert!(is_valid_nick(ok), "{ok}");
        }
        for bad in [
            "", "1abc", "-a", "a b", "a,b", "a!b", "a@b", "a.b", "#a", ":a", "a*", "a\u{7}",
        ] {
            assert!(!is_valid_nick(bad), "{bad:?}");
        }
        assert!(!is_valid_nick(&"a".repeat(NICKLEN + 1)));
    }

    #[test]
    fn unicode_nicks() {
        let cases = [
            ("Ñandú", true),
            ("Begoña", true),
            ("María_José", true),
            ("Çağla", true),
            ("Дмитрий", true),
            ("Σοφία", true),
            ("李雷", true),
            ("राम", true), // Devanagari: the vowel sign is a combining mark after a letter.
            ("Zoë", true),
            // Not in NFC: N + COMBINING TILDE, u + COMBINING ACUTE.
            ("N\u{303}andu\u{301}", false),
            ("Jose\u{301}", false),
            // KELVIN SIGN and ANGSTROM SIGN are not NFC (they normalise to K and Å).
            ("\u{212A}arl", false),
            ("\u{212B}sa", false),
            // Combining marks with nothing to attach to.
            ("\u{303}ana", false),
            ("ana_\u{301}", false),
            ("[\u{94D}]", false),
            ("\u{93E}ram", false),
            // Invisible and format characters.
            ("ana\u{200B}", false),
            ("ana\u{200D}bob", false),
            ("\u{FEFF}ana", false),
            // Digits of other scripts count as digits at the start.
            ("٣abc", false),
            ("🎉party", false),
        ];
        for (nick, ok) in cases {
            assert_eq!(is_valid_nick(nick), ok, "{nick:?}");
        }
        // NICKLEN counts characters, not bytes.
        assert!(is_valid_nick(&"ñ".repeat(NICKLEN)));
        assert!(!is_valid_nick(&"ñ".repeat(NICKLEN + 1)));
    }

    #[test]
    fn channels() {
        for ok in ["#a", "#canal-español", "#🎉"] {
            assert!(is_valid_channel(ok), "{ok}");
        }
        for bad in ["", "#", "a", "#a b", "#a,b", "#a\u{7}", "&local"] {
            assert!(!is_valid_channel(bad), "{bad:?}");
        }
    }
}
