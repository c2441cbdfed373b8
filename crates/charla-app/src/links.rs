//! Splits message text into plain runs and links, so the chat can make links clickable.
//! The URL rules (trailing punctuation, brackets, schemes) are linkify's.

/// A run of message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span<'a> {
    /// Text shown as is.
    Text(&'a str),
    /// A URL to open on click.
    Link(&'a str),
}

/// Cuts `text` into text and link spans, in order; concatenated they give `text` back.
pub fn spans(text: &str) -> Vec<Span<'_>> {
    let mut finder = linkify::LinkFinder::new();
    finder.kinds(&[linkify::LinkKind::Url]);
    finder
        .spans(text)
        .map(|span| match span.kind() {
            Some(linkify::LinkKind::Url) => Span::Link(span.as_str()),
            _ => Span::Text(span.as_str()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_links_among_unicode_text() {
        let text = "mirá https://ejemplo.org/ñandú?x=1, ¿sí? 🎉";
        assert_eq!(
            spans(text),
            vec![
                Span::Text("mirá "),
                Span::Link("https://ejemplo.org/ñandú?x=1"),
                Span::Text(", ¿sí? 🎉"),
            ]
        );
    }

    #[test]
    fn text_without_links_is_one_span() {
        assert_eq!(spans("hola"), vec![Span::Text("hola")]);
        assert!(spans("").is_empty());
    }
}
