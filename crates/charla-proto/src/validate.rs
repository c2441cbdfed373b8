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
//!
//! Neither may hold a character that shows nothing or reorders the text (a default-ignorable
//! code point such as ZERO WIDTH SPACE, or a bidirectional control such as RIGHT-TO-LEFT
//! OVERRIDE; see [`confusable`](crate::confusable)): `#canal` and `#ca` + ZWSP + `nal` would be
//! two channels that look like one. Names that differ only by look-alike letters are valid
//! here; that they may not be held at once is the server's rule, by
//! [`confusable::skeleton`](crate::confusable::skeleton).
//!
//! [`check_nick`] and [`check_channel`] say why a name is refused, for the text of the error
//! reply; [`is_valid_nick`] and [`is_valid_channel`] only whether.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::is_nfc;

use crate::confusable::{Invisible, invisible};

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

/// Why a nick is refused. Its `Display` completes "Erroneous nickname: ".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NickError {
    /// No characters.
    #[error("it is empty")]
    Empty,
    /// More than [`NICKLEN`] characters.
    #[error("it is longer than {NICKLEN} characters")]
    TooLong,
    /// A default-ignorable or bidirectional control character.
    #[error("it holds {0}")]
    Invisible(Invisible),
    /// Starts with a digit or `-`.
    #[error("it may not start with a digit or '-'")]
    BadStart,
    /// Not in Normalization Form C.
    #[error("it is not in Unicode Normalization Form C")]
    NotNfc,
    /// A combining mark first or after a special character.
    #[error("it holds a combining mark with no letter before it")]
    LoneMark,
    /// A character that is not a letter, digit or one of `[]\`_^{|}-`.
    #[error("it holds {0:?}, which nicks may not")]
    Forbidden(char),
}

/// Checks that `nick` is a valid nick, or says why not.
pub fn check_nick(nick: &str) -> Result<(), NickError> {
    let Some(first) = nick.chars().next() else {
        return Err(NickError::Empty);
    };
    if nick.chars().count() > NICKLEN {
        return Err(NickError::TooLong);
    }
    // Before the other rules, so that an invisible character is named as such.
    if let Some(bad) = invisible(nick) {
        return Err(NickError::Invisible(bad));
    }
    if first.is_numeric() || first == '-' {
        return Err(NickError::BadStart);
    }
    if !nick.is_ascii() {
        check_unicode_nick(nick)?;
    }
    match nick
        .chars()
        .find(|&c| !(c.is_alphanumeric() || is_nick_special(c)))
    {
        Some(c) => Err(NickError::Forbidden(c)),
        None => Ok(()),
    }
}

/// Whether `nick` is a valid nick (see [`check_nick`] for why not).
pub fn is_valid_nick(nick: &str) -> bool {
    check_nick(nick).is_ok()
}

/// The extra rules for non-ASCII nicks: NFC, and every combining mark follows a letter or
/// digit (directly or after other marks).
fn check_unicode_nick(nick: &str) -> Result<(), NickError> {
    if !is_nfc(nick) {
        return Err(NickError::NotNfc);
    }
    let mut can_attach = false;
    for c in nick.chars() {
        if is_combining_mark(c) {
            if !can_attach {
                return Err(NickError::LoneMark);
            }
        } else {
            can_attach = c.is_alphanumeric();
        }
    }
    Ok(())
}

/// Why a channel name is refused. Its `Display` completes "Illegal channel name: ".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// Does not start with one of [`CHANTYPES`]: not a channel name at all.
    #[error("it does not start with one of {CHANTYPES}")]
    NoPrefix,
    /// Nothing after the prefix.
    #[error("it has nothing after the prefix")]
    Empty,
    /// More than [`CHANNELLEN`] bytes.
    #[error("it is longer than {CHANNELLEN} bytes")]
    TooLong,
    /// A default-ignorable or bidirectional control character.
    #[error("it holds {0}")]
    Invisible(Invisible),
    /// A space, comma, BEL or other control character.
    #[error("it holds {0:?}, which channel names may not")]
    Forbidden(char),
}

/// Checks that `name` is a valid channel name, or says why not.
pub fn check_channel(name: &str) -> Result<(), ChannelError> {
    if !is_channel_name(name) {
        return Err(ChannelError::NoPrefix);
    }
    if name.len() < 2 {
        return Err(ChannelError::Empty);
    }
    if name.len() > CHANNELLEN {
        return Err(ChannelError::TooLong);
    }
    if let Some(c) = name
        .chars()
        .find(|&c| c == ' ' || c == ',' || c == '\x07' || c.is_control())
    {
        return Err(ChannelError::Forbidden(c));
    }
    match invisible(name) {
        Some(bad) => Err(ChannelError::Invisible(bad)),
        None => Ok(()),
    }
}

/// Whether `name` is a valid channel name (see [`check_channel`] for why not).
pub fn is_valid_channel(name: &str) -> bool {
    check_channel(name).is_ok()
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
    fn invisible_and_bidi_characters_are_refused_with_a_reason() {
        use crate::confusable::Invisible::{BidiControl, Ignorable};
        let nicks = [
            ("pa\u{200B}blo", NickError::Invisible(Ignorable('\u{200B}'))),
            ("pa\u{AD}blo", NickError::Invisible(Ignorable('\u{AD}'))),
            ("ana\u{2060}", NickError::Invisible(Ignorable('\u{2060}'))),
            // A variation selector and a tag character after a letter.
            ("ana\u{FE0F}", NickError::Invisible(Ignorable('\u{FE0F}'))),
            ("ana\u{E0061}", NickError::Invisible(Ignorable('\u{E0061}'))),
            // HANGUL FILLER is a letter (Lo): only the ignorable rule catches it.
            ("\u{3164}", NickError::Invisible(Ignorable('\u{3164}'))),
            ("bob\u{3164}", NickError::Invisible(Ignorable('\u{3164}'))),
            (
                "\u{202E}olleh",
                NickError::Invisible(BidiControl('\u{202E}')),
            ),
            ("ana\u{200F}", NickError::Invisible(BidiControl('\u{200F}'))),
            ("\u{2067}ana", NickError::Invisible(BidiControl('\u{2067}'))),
            ("\u{61C}ana", NickError::Invisible(BidiControl('\u{61C}'))),
            // The other reasons.
            ("", NickError::Empty),
            ("1abc", NickError::BadStart),
            ("a b", NickError::Forbidden(' ')),
            ("Jose\u{301}", NickError::NotNfc),
            ("ana_\u{301}", NickError::LoneMark),
        ];
        for (nick, why) in nicks {
            assert_eq!(check_nick(nick), Err(why), "{nick:?}");
        }
        let channels = [
            (
                "#a\u{200B}b",
                ChannelError::Invisible(Ignorable('\u{200B}')),
            ),
            (
                "#\u{FEFF}canal",
                ChannelError::Invisible(Ignorable('\u{FEFF}')),
            ),
            (
                "#ca\u{200D}nal",
                ChannelError::Invisible(Ignorable('\u{200D}')),
            ),
            (
                "#\u{202E}lanac",
                ChannelError::Invisible(BidiControl('\u{202E}')),
            ),
            (
                "#a\u{2066}b",
                ChannelError::Invisible(BidiControl('\u{2066}')),
            ),
            (
                "#a\u{200E}",
                ChannelError::Invisible(BidiControl('\u{200E}')),
            ),
            ("canal", ChannelError::NoPrefix),
            ("#", ChannelError::Empty),
            ("#a b", ChannelError::Forbidden(' ')),
            ("#a\u{7}", ChannelError::Forbidden('\u{7}')),
        ];
        for (name, why) in channels {
            assert_eq!(check_channel(name), Err(why), "{name:?}");
        }
        assert_eq!(
            check_channel(&format!("#{}", "a".repeat(CHANNELLEN))),
            Err(ChannelError::TooLong)
        );
        // The text the server puts after "Illegal channel name: ".
        assert_eq!(
            ChannelError::Invisible(BidiControl('\u{202E}')).to_string(),
            "it holds a bidirectional control character (U+202E)"
        );
        assert_eq!(
            NickError::Invisible(Ignorable('\u{200B}')).to_string(),
            "it holds an invisible character (U+200B)"
        );
    }

    #[test]
    fn spanish_names_stay_valid() {
        for nick in [
            "señor",
            "SEÑOR",
            "Peña",
            "pingüino",
            "Ángel",
            "María_José",
            "Begoña",
        ] {
            assert_eq!(check_nick(nick), Ok(()), "{nick:?}");
        }
        for name in ["#español", "#señores", "#Peña-Ñuñoa", "#pingüino", "#❤"] {
            assert_eq!(check_channel(name), Ok(()), "{name:?}");
        }
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
