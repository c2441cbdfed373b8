//! Case-folding of nicks and channel names.
//!
//! Charla allows UTF-8 nicks and channels, so ASCII-only folding would let `Ñandú` and `ñandú`
//! be two people. We fold ASCII letters as `CASEMAPPING=ascii` does, and every other character
//! with Unicode's lower-case mapping. The ASCII path allocates nothing when the name is already
//! folded, which is the common case on the hot path.

use std::borrow::Cow;

/// The name of the case-mapping, as advertised in ISUPPORT `CASEMAPPING`.
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
        Cow::Owned(name.chars().flat_map(char::to_lowercase).collect())
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
}
