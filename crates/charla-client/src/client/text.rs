//! Cutting outgoing text to what one line can carry.

/// Splits `text` into pieces of at most `max` bytes, at spaces when it can, never inside a
/// character.
pub fn split_text(text: &str, max: usize) -> Vec<&str> {
    let max = max.max(4);
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        // Prefer the last space in the second half of the piece.
        if let Some(space) = rest[..cut].rfind(' ')
            && space > cut / 2
        {
            cut = space;
        }
        out.push(&rest[..cut]);
        rest = rest[cut..].strip_prefix(' ').unwrap_or(&rest[cut..]);
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest);
    }
    out
}

/// Splits `text` into pieces of at most `max` bytes that join back into it exactly: a cut at a
/// space keeps the space at the end of its piece (as `draft/multiline-concat` wants), never
/// inside a character.
pub fn split_joinable(text: &str, max: usize) -> Vec<&str> {
    let max = max.max(4);
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(space) = rest[..cut].rfind(' ')
            && space + 1 >= cut / 2
        {
            cut = space + 1;
        }
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joinable_pieces_join_back_exactly() {
        assert_eq!(
            split_joinable("uno dos tres cuatro", 12),
            ["uno dos ", "tres cuatro"]
        );
        let long = "ñandú ".repeat(40);
        let pieces = split_joinable(&long, 50);
        assert!(pieces.iter().all(|p| p.len() <= 50 && !p.is_empty()));
        assert_eq!(pieces.concat(), long);
    }

    #[test]
    fn split_text_respects_bytes_chars_and_spaces() {
        assert_eq!(split_text("hola", 10), ["hola"]);
        assert_eq!(split_text("", 10), [""]);
        let pieces = split_text("uno dos tres cuatro", 12);
        assert_eq!(pieces, ["uno dos", "tres cuatro"]);
        let pieces = split_text("abcdefghijklmnop", 5);
        assert_eq!(pieces.concat(), "abcdefghijklmnop");
        let emoji = "🎉".repeat(10);
        let pieces = split_text(&emoji, 9);
        assert!(pieces.iter().all(|p| p.len() <= 9 && !p.is_empty()));
        assert_eq!(pieces.concat(), emoji);
    }
}
