//! Parsing one IRC line (<https://modern.ircdocs.horse/#messages>) with IRCv3 message tags.
//!
//! [`Message::parse`] borrows from the line: no allocation unless a tag value needs unescaping
//! or a message has more parameters than fit inline.

use std::borrow::Cow;

use smallvec::SmallVec;

use crate::line::LineBuilder;
use crate::tags;

/// Why a line could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line holds nothing but white space.
    #[error("empty line")]
    Empty,
    /// Tags or a source were given but no command followed.
    #[error("no command")]
    NoCommand,
    /// The tag section is malformed: no tag at all, an empty key, or a key with characters keys
    /// cannot have.
    #[error("malformed message tags")]
    BadTags,
    /// The line holds a NUL, CR or LF byte in its middle.
    #[error("forbidden control character in line")]
    ForbiddenByte,
}

/// One parsed line, borrowing from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// The raw tag section, without the leading `@`; empty when there are no tags.
    pub raw_tags: &'a str,
    /// The source (prefix), without the leading `:`.
    pub source: Option<&'a str>,
    /// The command or numeric, as sent (not upper-cased).
    pub command: &'a str,
    /// The parameters; the trailing one, if any, is the last, without its `:`.
    pub params: SmallVec<[&'a str; 6]>,
}

/// One tag of a message, its value unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag<'a> {
    /// The key, `+` and vendor included.
    pub key: &'a str,
    /// The unescaped value; empty when the tag has no value.
    pub value: Cow<'a, str>,
}

/// The tags of a raw tag section (a line's tags without the leading `@`), in order, values
/// unescaped. Empty items (`;;`) are skipped.
pub fn parse_tags(raw_tags: &str) -> impl Iterator<Item = Tag<'_>> {
    raw_tags
        .split(';')
        .filter(|i| !i.is_empty())
        .map(|item| match item.split_once('=') {
            Some((key, value)) => Tag {
                key,
                value: tags::unescape(value),
            },
            None => Tag {
                key: item,
                value: Cow::Borrowed(""),
            },
        })
}

impl<'a> Message<'a> {
    /// Parses one line. A trailing CR LF (or lone LF or CR) is ignored.
    pub fn parse(line: &'a str) -> Result<Self, ParseError> {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.bytes().any(|b| b == 0 || b == b'\r' || b == b'\n') {
            return Err(ParseError::ForbiddenByte);
        }
        let mut rest = line.trim_start_matches(' ');
        if rest.is_empty() {
            return Err(ParseError::Empty);
        }

        let mut raw_tags = "";
        if let Some(after) = rest.strip_prefix('@') {
            let (t, r) = split_word(after);
            let mut count = 0;
            for item in t.split(';').filter(|i| !i.is_empty()) {
                let key = item.split_once('=').map_or(item, |(k, _)| k);
                if !tags::is_valid_key(key) {
                    return Err(ParseError::BadTags);
                }
                count += 1;
            }
            // The grammar asks for at least one tag after `@`. An empty section would also make
            // the next word's `@` (as in `@ @ x`) read as a command that cannot be sent back
            // without turning into tags again (found by fuzzing).
            if count == 0 {
                return Err(ParseError::BadTags);
            }
            raw_tags = t;
            rest = r;
        }

        let mut source = None;
        if let Some(after) = rest.strip_prefix(':') {
            let (s, r) = split_word(after);
            source = Some(s);
            rest = r;
        }

        let (command, mut rest) = split_word(rest);
        if command.is_empty() {
            return Err(ParseError::NoCommand);
        }

        let mut params = SmallVec::new();
        while !rest.is_empty() {
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing);
                break;
            }
            let (p, r) = split_word(rest);
            params.push(p);
            rest = r;
        }

        Ok(Message {
            raw_tags,
            source,
            command,
            params,
        })
    }

    /// The tags, in order, values unescaped. Empty items (`;;`) are skipped.
    pub fn tags(&self) -> impl Iterator<Item = Tag<'a>> + 'a {
        parse_tags(self.raw_tags)
    }

    /// The value of the last tag named `key` (later duplicates win, as the spec says).
    pub fn tag(&self, key: &str) -> Option<Cow<'a, str>> {
        self.tags().filter(|t| t.key == key).last().map(|t| t.value)
    }

    /// Parameter `i`, if present.
    pub fn param(&self, i: usize) -> Option<&'a str> {
        self.params.get(i).copied()
    }

    /// The nick part of the source (`nick!user@host`), if there is a source.
    pub fn source_nick(&self) -> Option<&'a str> {
        self.source.map(|s| split_source(s).0)
    }

    /// An owned copy, for keeping past the line's lifetime.
    pub fn to_owned_message(&self) -> OwnedMessage {
        OwnedMessage {
            tags: self
                .tags()
                .map(|t| (t.key.to_owned(), t.value.into_owned()))
                .collect(),
            source: self.source.map(str::to_owned),
            command: self.command.to_owned(),
            params: self.params.iter().map(|p| (*p).to_owned()).collect(),
        }
    }
}

/// Splits a source `nick!user@host` into its parts; absent parts are `None`.
pub fn split_source(source: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, host) = match source.split_once('@') {
        Some((r, h)) => (r, Some(h)),
        None => (source, None),
    };
    match rest.split_once('!') {
        Some((nick, user)) => (nick, Some(user), host),
        None => (rest, None, host),
    }
}

/// Splits off the first word; the rest starts at the next non-space character.
fn split_word(s: &str) -> (&str, &str) {
    match s.find(' ') {
        Some(i) => (&s[..i], s[i..].trim_start_matches(' ')),
        None => (s, ""),
    }
}

/// A message that owns its parts, for clients and for state kept between lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedMessage {
    /// Tags as (key, unescaped value); a tag without value has an empty value.
    pub tags: Vec<(String, String)>,
    /// The source, without `:`.
    pub source: Option<String>,
    /// The command or numeric.
    pub command: String,
    /// The parameters, the trailing one last.
    pub params: Vec<String>,
}

impl OwnedMessage {
    /// A message with a command and parameters, and no tags or source.
    pub fn new<I, S>(command: &str, params: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        OwnedMessage {
            command: command.to_owned(),
            params: params.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }

    /// Parses a line into an owned message.
    pub fn parse(line: &str) -> Result<Self, ParseError> {
        Message::parse(line).map(|m| m.to_owned_message())
    }

    /// The value of tag `key`, if present.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Parameter `i`, if present.
    pub fn param(&self, i: usize) -> Option<&str> {
        self.params.get(i).map(String::as_str)
    }

    /// The nick part of the source, if there is a source.
    pub fn source_nick(&self) -> Option<&str> {
        self.source.as_deref().map(|s| split_source(s).0)
    }

    /// Serialises the message (without CR LF). Parameters that cannot be sent (CR, LF, NUL) are
    /// cut there, so that no second command can be injected.
    pub fn to_line(&self) -> String {
        let mut b = LineBuilder::new();
        for (k, v) in &self.tags {
            b.tag(k, (!v.is_empty()).then_some(v.as_str()));
        }
        if let Some(s) = &self.source {
            b.source(s);
        }
        b.command(&self.command);
        for p in &self.params {
            b.param(p);
        }
        b.finish_string()
    }
}

impl std::fmt::Display for OwnedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_line())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_parts() {
        let m =
            Message::parse("@time=2024;+typing=active :nick!u@h PRIVMSG #chan :hola ñandú 🎉\r\n")
                .unwrap();
        assert_eq!(m.raw_tags, "time=2024;+typing=active");
        assert_eq!(m.tag("+typing").as_deref(), Some("active"));
        assert_eq!(m.source, Some("nick!u@h"));
        assert_eq!(m.source_nick(), Some("nick"));
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(&m.params[..], &["#chan", "hola ñandú 🎉"]);
    }

    /// What a line should parse into: the command and params, or the error.
    type Expected = Result<(&'static str, &'static [&'static str]), ParseError>;

    #[test]
    fn table_of_odd_lines() {
        let cases: &[(&str, Expected)] = &[
            ("", Err(ParseError::Empty)),
            ("   ", Err(ParseError::Empty)),
            (":src", Err(ParseError::NoCommand)),
            ("@a=b", Err(ParseError::NoCommand)),
            ("@=b CMD", Err(ParseError::BadTags)),
            ("@ CMD", Err(ParseError::BadTags)),
            ("@;; CMD", Err(ParseError::BadTags)),
            ("@ @ a b", Err(ParseError::BadTags)),
            ("@a; CMD", Ok(("CMD", &[]))),
            (":s @ a", Ok(("@", &["a"]))),
            ("CMD a\0b", Err(ParseError::ForbiddenByte)),
            ("CMD a\rb", Err(ParseError::ForbiddenByte)),
            ("PING", Ok(("PING", &[]))),
            ("PING  a   b  :c d ", Ok(("PING", &["a", "b", "c d "]))),
            ("CMD :", Ok(("CMD", &[""]))),
            ("CMD a :", Ok(("CMD", &["a", ""]))),
            ("CMD ::x", Ok(("CMD", &[":x"]))),
            ("NICK Ñandú", Ok(("NICK", &["Ñandú"]))),
        ];
        for (line, want) in cases {
            let got = Message::parse(line).map(|m| (m.command, m.params.to_vec()));
            let want = want.map(|(c, p)| (c, p.to_vec()));
            assert_eq!(got, want, "line {line:?}");
        }
    }

    #[test]
    fn split_source_parts() {
        assert_eq!(split_source("n!u@h"), ("n", Some("u"), Some("h")));
        assert_eq!(split_source("irc.example"), ("irc.example", None, None));
        assert_eq!(split_source("n@h"), ("n", None, Some("h")));
    }
}
