//! What a message's text says: a CTCP request, a mention of a nick.

use charla_proto::casemap::casefold;

/// Splits a CTCP message (`\x01VERB body\x01`) into its verb and body.
pub fn ctcp(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('\u{1}')?;
    let inner = inner.strip_suffix('\u{1}').unwrap_or(inner);
    Some(inner.split_once(' ').unwrap_or((inner, "")))
}

/// Whether `text` mentions `nick` as a word (case-insensitively; letters, digits and the nick
/// characters `_-[]\`^{}|` around it make it a different word). Links and e-mail addresses
/// do not count: `https://example.org/ñandú` names a page, not the person (the URL rules are
/// linkify's, which the app also uses to make links clickable).
pub fn mentions(text: &str, nick: &str) -> bool {
    if nick.is_empty() {
        return false;
    }
    let nick = casefold(nick);
    let mut finder = linkify::LinkFinder::new();
    finder.kinds(&[linkify::LinkKind::Url, linkify::LinkKind::Email]);
    finder
        .spans(text)
        .filter(|span| span.kind().is_none())
        .any(|span| mentions_in_words(&casefold(span.as_str()), &nick))
}

/// Whether folded `text` holds folded `nick` with no word character on either side.
fn mentions_in_words(text: &str, nick: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || "_-[]\\`^{}|".contains(c);
    let mut from = 0;
    while let Some(pos) = text[from..].find(nick) {
        let start = from + pos;
        let end = start + nick.len();
        let before_ok = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !is_word(c));
        let after_ok = text[end..].chars().next().is_none_or(|c| !is_word(c));
        if before_ok && after_ok {
            return true;
        }
        from = start + text[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}
