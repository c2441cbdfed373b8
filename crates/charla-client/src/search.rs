//! Searching the server's history (`soju.im/search`, <https://soju.im/doc/ext/search.html>):
//! what a search asks and what it finds.
//!
//! [`Command::Search`](crate::Command::Search) sends `SEARCH text=<words>[;in=<target>];limit=<n>`
//! (values escaped as message-tag values: `;` as `\:`, space as `\s`). The answer is a
//! `soju.im/search` batch of PRIVMSG and NOTICE lines, oldest first; the client reports it as one
//! [`Event::SearchResults`](crate::Event::SearchResults) with the lines as [`SearchLine`]s. They
//! are not history to merge into buffers: the state leaves them alone, the app shows them apart.
//! A refusal (`FAIL SEARCH`) gives an empty result with the server's words.

use charla_proto::OwnedMessage;
use charla_proto::tags::escape;
use chrono::{DateTime, Utc};

use crate::state::{LineKind, ctcp, parse_time};

/// The capability that offers `SEARCH`.
pub const CAP_SEARCH: &str = "soju.im/search";

/// What a search asks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchQuery {
    /// The words; every one must be in a line (whole words, without case or accents).
    pub text: String,
    /// Only this conversation (a channel or a nick); `None` searches every one we may read.
    pub target: Option<String>,
}

impl SearchQuery {
    /// The `SEARCH` parameter: `text=…[;in=…];limit=<limit>`, values escaped.
    pub fn attributes(&self, limit: usize) -> String {
        let mut out = format!("text={}", escape(self.text.trim()));
        if let Some(target) = self.target.as_deref().filter(|t| !t.is_empty()) {
            out.push_str(";in=");
            out.push_str(&escape(target));
        }
        out.push_str(&format!(";limit={limit}"));
        out
    }
}

/// One line a search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchLine {
    /// The conversation it was said in: the channel, or the other party of a private
    /// conversation (the sender, or whom we wrote to).
    pub target: String,
    /// Who said it (a nick).
    pub sender: String,
    /// What was said (an action without its CTCP wrapping).
    pub text: String,
    /// A message, an action (`/me`) or a notice.
    pub kind: LineKind,
    /// When (the server's `time`).
    pub time: DateTime<Utc>,
    /// The server's `msgid`, if it gave one.
    pub msgid: Option<String>,
}

impl SearchLine {
    /// A PRIVMSG or NOTICE of a search batch; `None` for anything else (other CTCP, other
    /// commands). `is_me` tells our nick, to name a private conversation by the other party.
    pub fn from_message(msg: &OwnedMessage, is_me: impl Fn(&str) -> bool) -> Option<Self> {
        let body = msg.param(1)?;
        let (kind, text) = match msg.command.to_ascii_uppercase().as_str() {
            "PRIVMSG" => match ctcp(body) {
                Some(("ACTION", action)) => (LineKind::Action, action.to_owned()),
                Some(_) => return None,
                None => (LineKind::Message, body.to_owned()),
            },
            "NOTICE" if ctcp(body).is_none() => (LineKind::Notice, body.to_owned()),
            _ => return None,
        };
        let sender = msg
            .source_nick()
            .map(str::to_owned)
            .or_else(|| msg.source.clone())
            .unwrap_or_default();
        let to = msg.param(0).unwrap_or("");
        // Sent to us: the conversation is with the sender.
        let target = if is_me(to) && !sender.is_empty() {
            sender.clone()
        } else {
            to.to_owned()
        };
        Some(SearchLine {
            target,
            sender,
            text,
            kind,
            time: msg
                .tag("time")
                .and_then(parse_time)
                .unwrap_or_else(Utc::now),
            msgid: msg.tag("msgid").map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_escaped_as_tag_values() {
        let q = SearchQuery {
            text: " qué tal;bien\\ ".into(),
            target: Some("#a b".into()),
        };
        assert_eq!(
            q.attributes(50),
            "text=qué\\stal\\:bien\\\\;in=#a\\sb;limit=50"
        );
        let all = SearchQuery {
            text: "hola".into(),
            target: None,
        };
        assert_eq!(all.attributes(100), "text=hola;limit=100");
    }

    #[test]
    fn lines_name_their_conversation() {
        let me = |n: &str| n.eq_ignore_ascii_case("ana");
        let parse = |l: &str| OwnedMessage::parse(l).expect("line");
        let chan =
            parse("@time=2026-12-01T10:00:00.000Z;msgid=m1 :beto!b@h PRIVMSG #a :¿Qué tal, Ñandú?");
        let line = SearchLine::from_message(&chan, me).expect("found");
        assert_eq!(
            (
                line.target.as_str(),
                line.sender.as_str(),
                line.text.as_str()
            ),
            ("#a", "beto", "¿Qué tal, Ñandú?")
        );
        assert_eq!(line.msgid.as_deref(), Some("m1"));
        assert_eq!(line.time.to_rfc3339(), "2026-12-01T10:00:00+00:00");
        let to_me = parse(":beto!b@h PRIVMSG ana :\u{1}ACTION saluda\u{1}");
        let line = SearchLine::from_message(&to_me, me).expect("found");
        assert_eq!(
            (line.target.as_str(), line.kind),
            ("beto", LineKind::Action)
        );
        assert_eq!(line.text, "saluda");
        let from_me = parse(":ana!a@h NOTICE beto :que sí");
        let line = SearchLine::from_message(&from_me, me).expect("found");
        assert_eq!(
            (line.target.as_str(), line.kind),
            ("beto", LineKind::Notice)
        );
        assert!(SearchLine::from_message(&parse(":beto JOIN #a"), me).is_none());
    }
}
