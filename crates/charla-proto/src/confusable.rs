//! Look-alike names: invisible and bidirectional characters, and confusable skeletons.
//!
//! Two ways a name can pass for another one:
//!
//! - **Characters that show nothing** or that reorder what follows: the Unicode
//!   `Default_Ignorable_Code_Point` property (ZERO WIDTH SPACE, ZWJ/ZWNJ, U+FEFF, SOFT HYPHEN,
//!   variation selectors, WORD JOINER, tag characters, Hangul fillers, …) and the `Bidi_Control`
//!   property of UAX #9 (LRM/RLM, U+202A–202E embeddings and overrides, U+2066–2069 isolates,
//!   ARABIC LETTER MARK). [`invisible`] finds them; [`validate`](crate::validate) refuses names
//!   that hold one.
//! - **Different letters that look the same**: Latin `a` and Cyrillic `а`, `rn` and `m`, `l`,
//!   `I` and `1`. [`skeleton`] maps a name to the key under which such names collide: the
//!   skeleton of UTS #39 section 4 (<https://www.unicode.org/reports/tr39/#Confusable_Detection>),
//!   then [`casefold`]. A server keeps one holder per key, as ergo does; lookups stay by
//!   [`casefold`] alone, so only the exact name (up to case) reaches its holder.
//!
//! The Unicode data comes from crates rather than tables of our own: `icu_properties` (ICU4X,
//! the Unicode Consortium's) for the two properties, `unicode-security` (unicode-rs) for the
//! confusables data of UTS #39.
//!
//! Why the skeleton comes before the case-folding (as in ergo) and not after: confusables.txt
//! maps capital `I` to small `l`, so `Iain` and `lain` share a skeleton, but folding first
//! would turn `Iain` into `iain` and miss it. The price is that two spellings of one nick that
//! differ only in case may have different keys (`BILL` is `blll`, `bill` is `bill`); the
//! case-folded map still keeps those one person, and each holder has exactly one key, that of
//! its current spelling.
//!
//! What the skeleton keeps apart: accents. It decomposes first (NFD), and combining marks are
//! not mapped away, so `peña` (`pen` + COMBINING TILDE + `a`) and `pena` stay two names, as do
//! `José` and `Jose`.

use icu_properties::CodePointSetData;
use icu_properties::props::{BidiControl, DefaultIgnorableCodePoint};

use crate::casemap::casefold;

/// Why a character is refused in a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invisible {
    /// A bidirectional control (`Bidi_Control`): it reorders the text around it.
    BidiControl(char),
    /// A default-ignorable code point (`Default_Ignorable_Code_Point`): it is not shown.
    Ignorable(char),
}

impl Invisible {
    /// The character.
    pub fn char(self) -> char {
        match self {
            Invisible::BidiControl(c) | Invisible::Ignorable(c) => c,
        }
    }
}

impl std::fmt::Display for Invisible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invisible::BidiControl(c) => {
                write!(
                    f,
                    "a bidirectional control character (U+{:04X})",
                    u32::from(*c)
                )
            }
            Invisible::Ignorable(c) => {
                write!(f, "an invisible character (U+{:04X})", u32::from(*c))
            }
        }
    }
}

/// The first character of `name` that is a bidirectional control or default-ignorable, if any.
pub fn invisible(name: &str) -> Option<Invisible> {
    // Every Bidi_Control is also Default_Ignorable, so it is checked first to name the worse.
    let bidi = CodePointSetData::new::<BidiControl>();
    let ignorable = CodePointSetData::new::<DefaultIgnorableCodePoint>();
    name.chars()
        // Both sets start above ASCII (U+00AD is the first), so ASCII names skip the lookups.
        .filter(|c| !c.is_ascii())
        .find_map(|c| {
            if bidi.contains(c) {
                Some(Invisible::BidiControl(c))
            } else if ignorable.contains(c) {
                Some(Invisible::Ignorable(c))
            } else {
                None
            }
        })
}

/// The key under which names that look alike collide: the UTS #39 skeleton of `name`,
/// case-folded (see the module doc for the order).
pub fn skeleton(name: &str) -> String {
    let skeleton: String = unicode_security::skeleton(name).collect();
    casefold(&skeleton).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_invisible_and_bidi_characters() {
        let cases = [
            ("alice", None),
            ("#canal-español", None),
            ("Ñandú", None),
            ("#🎉", None),
            ("#a\u{200B}b", Some(Invisible::Ignorable('\u{200B}'))),
            ("a\u{200C}b", Some(Invisible::Ignorable('\u{200C}'))),
            ("a\u{200D}b", Some(Invisible::Ignorable('\u{200D}'))),
            ("\u{FEFF}ana", Some(Invisible::Ignorable('\u{FEFF}'))),
            ("pa\u{AD}blo", Some(Invisible::Ignorable('\u{AD}'))),
            ("a\u{FE0F}", Some(Invisible::Ignorable('\u{FE0F}'))),
            ("a\u{E0100}", Some(Invisible::Ignorable('\u{E0100}'))),
            ("a\u{2060}b", Some(Invisible::Ignorable('\u{2060}'))),
            ("a\u{2064}b", Some(Invisible::Ignorable('\u{2064}'))),
            ("a\u{E0041}", Some(Invisible::Ignorable('\u{E0041}'))),
            ("a\u{034F}b", Some(Invisible::Ignorable('\u{034F}'))),
            // HANGUL FILLER is a letter (Lo), so the nick rules alone let it through.
            ("\u{3164}", Some(Invisible::Ignorable('\u{3164}'))),
            ("#\u{202E}abc", Some(Invisible::BidiControl('\u{202E}'))),
            ("#a\u{202A}b", Some(Invisible::BidiControl('\u{202A}'))),
            ("a\u{200E}", Some(Invisible::BidiControl('\u{200E}'))),
            ("a\u{200F}", Some(Invisible::BidiControl('\u{200F}'))),
            (
                "a\u{2066}b\u{2069}",
                Some(Invisible::BidiControl('\u{2066}')),
            ),
            ("a\u{2068}", Some(Invisible::BidiControl('\u{2068}'))),
            ("\u{61C}a", Some(Invisible::BidiControl('\u{61C}'))),
        ];
        for (name, want) in cases {
            assert_eq!(invisible(name), want, "{name:?}");
        }
    }

    #[test]
    fn look_alikes_share_a_skeleton() {
        // (a, b, look alike?)
        let cases = [
            // Latin and Cyrillic.
            ("pablo", "p\u{430}blo", true),
            ("alice", "\u{430}lice", true),
            ("Pablo", "\u{420}\u{430}blo", true),
            ("pepe", "\u{440}\u{435}\u{440}\u{435}", true),
            ("coco", "\u{441}\u{43E}\u{441}\u{43E}", true),
            // Latin and Greek.
            ("Pablo", "\u{3A1}ablo", true),
            // Within Latin and ASCII, per confusables.txt.
            ("rn", "m", true),
            ("carmen", "carrnen", true),
            ("lain", "Iain", true),
            ("alice", "a1ice", true),
            ("alice", "a|ice", true),
            ("bob0", "bobO", true),
            // Case alone.
            ("pablo", "PABLO", true),
            ("señor", "SEÑOR", true),
            // Accents keep names apart.
            ("pena", "peña", false),
            ("Pena", "Peña", false),
            ("jose", "josé", false),
            ("nando", "ñandú", false),
            ("muller", "müller", false),
            ("pablo", "pablito", false),
            ("alice", "bob", false),
        ];
        for (a, b, same) in cases {
            assert_eq!(skeleton(a) == skeleton(b), same, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn skeletons_keep_the_accent_as_a_mark() {
        // NFD first: ñ becomes n + COMBINING TILDE, which stays; the case-folding composes
        // it back.
        assert_eq!(skeleton("peña"), "peña");
        assert_eq!(skeleton("PEÑA"), "peña");
        assert_eq!(skeleton("m"), "rn");
        // Invisible characters are not part of a skeleton.
        assert_eq!(skeleton("pa\u{200B}blo"), skeleton("pablo"));
    }
}
