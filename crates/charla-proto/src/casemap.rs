//! Case-folding of nicks and channel names.
//!
//! Charla allows UTF-8 nicks and channels, so ASCII-only folding would let `Ñandú` and `ñandú`
//! be two people. What [`casefold`] does:
//!
//! 1. ASCII names (the common case) fold `A`-`Z` to `a`-`z`, exactly as `CASEMAPPING=ascii`,
//!    and allocate nothing when already folded.
//! 2. Other names are lower-cased with Unicode's simple lower-case mapping, final sigma `ς` is
//!    folded to `σ` (as Unicode case folding does), and the result is put in Normalization Form
//!    C. So `Ñ` written as one code point (U+00D1) and as `N` + combining tilde (U+004E U+0303)
//!    fold to the same `ñ`, and compatibility look-alikes with canonical equivalents fold to
//!    them (KELVIN SIGN U+212A folds to `k`, OHM SIGN U+2126 to `ω`, ANGSTROM SIGN U+212B to
//!    `å`). Decomposed-accent spoofing therefore cannot make two different people.
//!
//! [`validate::is_valid_nick`](crate::validate::is_valid_nick) also refuses new nicks that are
//! not in NFC or that hold a combining mark with nothing to attach to, so what users see is
//! what is stored.
//!
//! What we do not do: the full PRECIS `UsernameCaseMapped` profile of RFC 8265 (width mapping of
//! full-width forms, its exact allowed-character classes and bidi rule). Cross-script
//! look-alikes (Latin `a` vs Cyrillic `а`) fold to distinct names here: keeping two of them
//! from being held at once is the job of [`confusable::skeleton`](crate::confusable::skeleton),
//! and invisible or bidirectional characters are refused by
//! [`validate`](crate::validate). Because
//! of that we do not claim `rfc8265`: we advertise `CASEMAPPING=ascii`, which is exactly what
//! we do for ASCII names; for non-ASCII names we are stricter than a client assuming `ascii`
//! (we treat more names as equal), which can only make the server refuse a nick a client
//! thought free, never let two users share one.

use std::borrow::Cow;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// The name of the case-mapping, as advertised in ISUPPORT `CASEMAPPING` (see the module doc for
/// why `ascii`).
pub const CASEMAPPING: &str = "ascii";

/// Folds `name` for comparison and lookup.
pub fn casefold(name: &str) -> Cow<'_, str> {
    if name.is_ascii() {
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name)
        }
    } else {
        let lowered: String = name
            .chars()
            .flat_map(char::to_lowercase)
            .map(|c| if c == 'ς' { 'σ' } else { c })
            .collect();
        // Most names are already in NFC once lower-cased; the quick check spares the
        // decompose-recompose pass for them.
        if is_nfc_quick(lowered.chars()) == IsNormalized::Yes {
            Cow::Owned(lowered)
        } else {
            Cow::Owned(lowered.nfc().collect())
        }
    }
}

/// Whether `a` and `b` are the same name once folded.
pub fn eq_folded(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        casefold(a) == casefold(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_ascii_and_unicode() {
        assert_eq!(casefold("Alice"), "alice");
        assert!(matches!(casefold("alice"), Cow::Borrowed(_)));
        assert_eq!(casefold("ÑANDÚ"), "ñandú");
        assert!(eq_folded("#Canal", "#canal"));
        assert!(eq_folded("José", "JOSÉ"));
        assert!(!eq_folded("a[", "a{"));
    }

    #[test]
    fn table_of_unicode_names() {
        // (a, b, same person?)
        let cases = [
            ("Ñandú", "ñandú", true),
            ("ÑANDÚ", "ñandú", true),
            // Ñ as N + COMBINING TILDE, ú as u + COMBINING ACUTE.
            ("N\u{303}andu\u{301}", "Ñandú", true),
            ("n\u{303}andu\u{301}", "ÑANDÚ", true),
            ("Ñandu", "Ñandú", false),
            ("Nandu", "Ñandu", false),
            ("José", "JOSE\u{301}", true),
            ("Begoña", "BEGOÑA", true),
            ("Çağla", "ÇAĞLA", true),
            ("Zoë", "ZOË", true),
            ("Ærøskøbing", "ÆRØSKØBING", true),
            ("Straße", "STRASSE", false),
            ("ΟΔΟΣ", "οδος", true),
            ("Σοφία", "ΣΟΦΊΑ", true),
            ("Дмитрий", "ДМИТРИЙ", true),
            ("李雷", "李雷", true),
            // KELVIN SIGN folds to ASCII k; OHM SIGN to omega; ANGSTROM SIGN to å.
            ("\u{212A}arl", "karl", true),
            ("\u{2126}mega", "ωMEGA", true),
            ("\u{212B}sa", "Åsa", true),
            // Cross-script look-alikes fold apart; their skeletons collide (see confusable).
            ("аlice", "alice", false),
            ("#Canal-Ñ", "#canal-n\u{303}", true),
        ];
        for (a, b, same) in cases {
            assert_eq!(eq_folded(a, b), same, "{a:?} vs {b:?}");
            assert_eq!(casefold(a) == casefold(b), same, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn folding_is_idempotent() {
        for name in [
            "Ñandú",
            "N\u{303}ANDU\u{301}",
            "ΟΔΟΣ",
            "\u{212A}",
            "İstanbul",
            "ǅemal",
        ] {
            let once = casefold(name).into_owned();
            assert_eq!(casefold(&once), once, "{name:?}");
        }
    }
}
