//! Wildcard masks (`*` any run, `?` one character), as used by channel modes `+b`, `+e` and
//! `+I` (`nick!user@host`, <https://modern.ircdocs.horse/#channel-modes>), WHO and operator
//! commands. Matching is case-insensitive with the server's case-mapping.
//!
//! Matching costs time linear in the text, whatever the mask: a user who writes the mask must
//! not be able to make the server work for each of thousands of other users in proportion to
//! the product of the two lengths (a naive back-tracking matcher on `*aaaa…ab` against long
//! real names does). A [`Mask`] is compiled once: folded, and cut at its stars into pieces of
//! fixed length. The first piece must match at the start, the last at the end, and each one
//! between them is found at its leftmost place after the one before (leftmost is always right
//! for fixed-length pieces, so there is no back-tracking). Each piece is searched with the
//! bit-parallel shift-and algorithm, one step per character of the text, `?` included; that is
//! why a mask may be at most [`MAX_MASK_CHARS`] characters long (a piece fits in a `u128`).

use charla_proto::casemap::casefold;

/// The longest mask accepted, in characters. A full `nick!user@host` fits with room to spare.
pub const MAX_MASK_CHARS: usize = 128;

/// Why a mask was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("mask longer than {MAX_MASK_CHARS} characters")]
pub struct MaskTooLong;

/// Completes a partial mask the way other servers do: `nick` becomes `nick!*@*`,
/// `nick!user` becomes `nick!user@*`, `user@host` becomes `*!user@host`.
pub fn normalize(mask: &str) -> String {
    let (nu, host) = match mask.split_once('@') {
        Some((nu, host)) => (nu, Some(host)),
        None => (mask, None),
    };
    let (nick, user) = match nu.split_once('!') {
        Some((n, u)) => (n, Some(u)),
        None if host.is_some() => ("*", Some(nu)),
        None => (nu, None),
    };
    let or_star = |s: &str| {
        if s.is_empty() {
            "*".to_owned()
        } else {
            s.to_owned()
        }
    };
    format!(
        "{}!{}@{}",
        or_star(nick),
        or_star(user.unwrap_or("*")),
        or_star(host.unwrap_or("*"))
    )
}

/// A compiled wildcard mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mask {
    /// No star: the text must be this piece.
    Exact(Piece),
    /// `head*middle*…*tail`: the text starts with `head` and ends with `tail` (either may be
    /// empty), with the middle pieces in order between them.
    Globbed {
        /// Anchored at the start.
        head: Piece,
        /// Each found leftmost after the one before (empty ones, from `**`, are left out).
        middle: Vec<Piece>,
        /// Anchored at the end.
        tail: Piece,
    },
}

/// A run of literal characters and `?`, at most [`MAX_MASK_CHARS`] long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    chars: Vec<char>,
    /// For each distinct literal character, the positions where it stands (bit i = position
    /// i), sorted by character for a binary search.
    masks: Vec<(char, u128)>,
    /// The positions of `?`, which every character matches.
    any: u128,
}

impl Piece {
    fn new(chars: Vec<char>) -> Piece {
        let mut any = 0u128;
        let mut masks: Vec<(char, u128)> = Vec::new();
        for (i, &c) in chars.iter().enumerate() {
            let bit = 1u128 << i;
            if c == '?' {
                any |= bit;
            } else {
                match masks.binary_search_by(|(k, _)| k.cmp(&c)) {
                    Ok(at) => masks[at].1 |= bit,
                    Err(at) => masks.insert(at, (c, bit)),
                }
            }
        }
        Piece { chars, masks, any }
    }

    fn len(&self) -> usize {
        self.chars.len()
    }

    /// The positions of the piece that `c` matches.
    fn bits(&self, c: char) -> u128 {
        let literal = self
            .masks
            .binary_search_by(|(k, _)| k.cmp(&c))
            .map_or(0, |at| self.masks[at].1);
        literal | self.any
    }

    fn matches_char(&self, i: usize, c: char) -> bool {
        self.chars[i] == '?' || self.chars[i] == c
    }

    /// Whether `text` (folded) begins with this piece.
    fn is_prefix_of(&self, text: &str) -> bool {
        let mut it = text.chars();
        (0..self.len()).all(|i| it.next().is_some_and(|c| self.matches_char(i, c)))
    }

    /// The byte offset just past the leftmost place of this piece in `text`, in one pass.
    fn find_end(&self, text: &str) -> Option<usize> {
        let n = self.len();
        if n == 0 {
            return Some(0);
        }
        let done = 1u128 << (n - 1);
        let mut state = 0u128;
        for (at, c) in text.char_indices() {
            state = ((state << 1) | 1) & self.bits(c);
            if state & done != 0 {
                return Some(at + c.len_utf8());
            }
        }
        None
    }

    /// Whether `text` (folded) ends with this piece, with the piece starting at byte `from` or
    /// later.
    fn is_suffix_of(&self, text: &str, from: usize) -> bool {
        let mut it = text[from..].chars().rev();
        (0..self.len())
            .rev()
            .all(|i| it.next().is_some_and(|c| self.matches_char(i, c)))
    }
}

impl Mask {
    /// Compiles `mask`; masks longer than [`MAX_MASK_CHARS`] are refused.
    pub fn new(mask: &str) -> Result<Mask, MaskTooLong> {
        let folded = casefold(mask);
        // Checked after folding, which may lengthen a name (some capitals lower-case into two
        // characters).
        if folded.chars().nth(MAX_MASK_CHARS).is_some() {
            return Err(MaskTooLong);
        }
        let mut pieces = folded.split('*').map(|p| Piece::new(p.chars().collect()));
        let head = pieces.next().unwrap_or_else(|| Piece::new(Vec::new()));
        let mut middle: Vec<Piece> = pieces.collect();
        let Some(tail) = middle.pop() else {
            return Ok(Mask::Exact(head));
        };
        middle.retain(|p| p.len() > 0);
        Ok(Mask::Globbed { head, middle, tail })
    }

    /// Whether `text` matches, ignoring case.
    pub fn matches(&self, text: &str) -> bool {
        self.matches_folded(&casefold(text))
    }

    /// Whether `text`, already folded with [`casefold`], matches: for one text checked against
    /// many masks (a channel's bans).
    pub fn matches_folded(&self, text: &str) -> bool {
        match self {
            Mask::Exact(piece) => piece.is_prefix_of(text) && text.chars().count() == piece.len(),
            Mask::Globbed { head, middle, tail } => {
                if !head.is_prefix_of(text) {
                    return false;
                }
                let mut at = text
                    .char_indices()
                    .nth(head.len())
                    .map_or(text.len(), |(i, _)| i);
                for piece in middle {
                    match piece.find_end(&text[at..]) {
                        Some(end) => at += end,
                        None => return false,
                    }
                }
                text[at..].chars().count() >= tail.len() && tail.is_suffix_of(text, at)
            }
        }
    }
}

/// Whether `text` matches the wildcard `mask`, ignoring case. A mask too long to compile
/// matches nothing.
pub fn matches(mask: &str, text: &str) -> bool {
    Mask::new(mask).is_ok_and(|m| m.matches(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_partial_masks() {
        assert_eq!(normalize("bob"), "bob!*@*");
        assert_eq!(normalize("bob!u"), "bob!u@*");
        assert_eq!(normalize("u@h"), "*!u@h");
        assert_eq!(normalize("*!*@10.*"), "*!*@10.*");
    }

    #[test]
    fn wildcards() {
        let cases = [
            ("*!*@*", "a!b@c", true),
            ("a?c!*@*", "abc!x@y", true),
            ("a?c!*@*", "ac!x@y", false),
            ("*!*@127.0.0.*", "ñandú!~u@127.0.0.1", true),
            ("ÑANDÚ!*@*", "ñandú!~u@h", true),
            ("*a*b*", "xxaxxbxx", true),
            ("*a*b", "xxaxxbxxc", false),
            ("*a*b", "xxaxxbxxb", true),
            ("", "", true),
            ("", "a", false),
            ("*", "", true),
            ("*", "anything", true),
            ("**", "x", true),
            ("a", "a", true),
            ("a", "ab", false),
            ("?", "ñ", true),
            ("??", "ñ", false),
            ("a*", "abc", true),
            ("a*", "ba", false),
            ("*c", "abc", true),
            ("*c", "abcd", false),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("ab*ba", "aba", false),
            ("ab*ba", "abba", true),
            ("*aab", "aaab", true),
            ("*a?b*", "xxaab", true),
            ("*?", "", false),
            ("*?", "x", true),
            ("a*?*b", "ab", false),
            ("a*?*b", "axb", true),
            ("a?*", "a", false),
        ];
        for (mask, text, want) in cases {
            assert_eq!(matches(mask, text), want, "{mask} vs {text}");
        }
    }

    /// The reference: the obvious exponential matcher, for small inputs.
    fn reference(mask: &[char], text: &[char]) -> bool {
        match mask.split_first() {
            None => text.is_empty(),
            Some(('*', rest)) => (0..=text.len()).any(|i| reference(rest, &text[i..])),
            Some((&m, rest)) => text
                .split_first()
                .is_some_and(|(&t, tr)| (m == '?' || m == t) && reference(rest, tr)),
        }
    }

    #[test]
    fn agrees_with_the_obvious_matcher() {
        // Every mask over {a, b, *, ?} up to 5 long against every text over {a, b} up to 6.
        let alphabet = ['a', 'b', '*', '?'];
        let mut masks = vec![String::new()];
        for _ in 0..5 {
            let next: Vec<String> = masks
                .iter()
                .flat_map(|m| alphabet.iter().map(move |c| format!("{m}{c}")))
                .collect();
            masks.extend(next);
            masks.sort();
            masks.dedup();
        }
        let mut texts = vec![String::new()];
        for len in 1..=6 {
            for n in 0..(1u32 << len) {
                texts.push(
                    (0..len)
                        .map(|i| if n >> i & 1 == 1 { 'b' } else { 'a' })
                        .collect(),
                );
            }
        }
        for m in &masks {
            let mc: Vec<char> = m.chars().collect();
            let compiled = Mask::new(m).expect("short");
            for t in &texts {
                let tc: Vec<char> = t.chars().collect();
                assert_eq!(compiled.matches(t), reference(&mc, &tc), "{m:?} vs {t:?}");
            }
        }
    }

    proptest::proptest! {
        /// Masks and texts with capitals, accents and more than one byte per character.
        #[test]
        fn agrees_with_the_obvious_matcher_on_unicode(
            mask in "[aAñÑb*?]{0,12}",
            text in "[aAñÑbc]{0,16}",
        ) {
            let m: Vec<char> = casefold(&mask).chars().collect();
            let t: Vec<char> = casefold(&text).chars().collect();
            let compiled = Mask::new(&mask).expect("short");
            proptest::prop_assert_eq!(compiled.matches(&text), reference(&m, &t));
        }
    }

    #[test]
    fn long_masks_are_refused_and_long_texts_cost_one_pass() {
        assert_eq!(Mask::new(&"a".repeat(MAX_MASK_CHARS + 1)), Err(MaskTooLong));
        let worst = format!("*{}b", "a".repeat(MAX_MASK_CHARS - 2));
        let mask = Mask::new(&worst).expect("fits");
        let text = "a".repeat(100_000);
        assert!(!mask.matches(&text));
        assert!(mask.matches(&format!("{text}b")));
    }
}
