//! History in the state: lines from the server's history (`CHATHISTORY`) merged into their
//! buffers, and read markers (`MARKREAD`) with the unread counts they give
//! (<https://ircv3.net/specs/extensions/chathistory>,
//! <https://ircv3.net/specs/extensions/read-marker>).
//!
//! Lines are placed by time: history loaded on joining lands above the join, lines missed while
//! disconnected land where they happened, older lines (scrolling back) at the top. Each line is
//! kept once: a message by its `msgid`; an event (a join, a part...), which has no id when seen
//! live, by its words, nick and time. That is why a history line is written in the same words
//! as the live one ("bob joined", "You joined #charla").
//!
//! History lines are never news: they bring no notification, and count as unread only after
//! the account's read marker, when the server told us one.

use std::collections::HashSet;

use charla_proto::OwnedMessage;
use charla_proto::casemap::eq_folded;
use chrono::{DateTime, Utc};

use super::{Buffer, BufferId, Isupport, Line, LineKind, State, ctcp, mentions};

/// How far apart in time a live event and the same event from history may be (their times are
/// taken separately by the server, and a line seen without `server-time` has ours).
const SAME_EVENT_WITHIN_MS: i64 = 3_000;

/// How many of a buffer's newest lines a live message is checked against, to drop one that a
/// history answer brought first.
const LIVE_CHECK: usize = 200;

/// The most lines one history request asks for.
pub const HISTORY_PAGE: usize = 100;

/// A message the server named: its id and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRef {
    /// The `msgid`.
    pub msgid: String,
    /// Its `time`.
    pub time: DateTime<Utc>,
}

/// How far a buffer's history is loaded from the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BufferHistory {
    /// A request is out ([`Event::HistoryRequested`](crate::Event::HistoryRequested)).
    pub loading: bool,
    /// The server may hold older lines than those loaded (its last answer was full).
    pub more: bool,
    /// The oldest message with an id in the buffer: what scrolling back asks before.
    pub oldest: Option<MessageRef>,
    /// How many answers came, so that the app can tell a new one.
    pub answers: u64,
}

impl BufferHistory {
    /// Follows the oldest message with an id.
    pub(super) fn note(&mut self, line: &Line) {
        if let Some(msgid) = &line.msgid
            && self.oldest.as_ref().is_none_or(|o| line.time < o.time)
        {
            self.oldest = Some(MessageRef {
                msgid: msgid.clone(),
                time: line.time,
            });
        }
    }
}

/// A time as IRCv3 writes it: `2026-11-30T10:00:00.000Z` (UTC, milliseconds).
pub fn iso_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A `time` tag or `timestamp=` value, if it is one.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Isupport {
    /// How many lines to ask for in one history request: [`HISTORY_PAGE`], or fewer if the
    /// server gives fewer.
    pub fn history_page(&self) -> usize {
        match self.chathistory {
            Some(n) if n > 0 => n.min(HISTORY_PAGE),
            _ => HISTORY_PAGE,
        }
    }
}

impl Buffer {
    /// The time of the newest line the server stamped with an id: what to say the user has
    /// read up to (`MARKREAD`). Lines the client wrote itself carry our clock, not the server's.
    pub fn newest_server_time(&self) -> Option<DateTime<Utc>> {
        self.lines
            .iter()
            .rev()
            .find(|l| l.msgid.is_some())
            .map(|l| l.time)
    }

    /// Whether a line counts as unread after the read marker `marker`.
    fn unread_after(line: &Line, marker: DateTime<Utc>) -> bool {
        line.kind.is_chat() && !line.own && line.time > marker
    }

    /// `REDACT <target> <msgid> [:<reason>]` (<https://ircv3.net/specs/extensions/message-redaction>):
    /// the message's line shows as deleted, keeping who sent it and when, and its text is
    /// dropped. A msgid not in this buffer is ignored, as the spec asks.
    pub(super) fn redact(&mut self, msg: &OwnedMessage) {
        let Some(msgid) = msg.param(1) else {
            return;
        };
        let by = msg.source_nick().unwrap_or("");
        let reason = msg.param(2).filter(|r| !r.is_empty());
        let Some(line) = self
            .lines
            .iter_mut()
            .rev()
            .find(|l| l.msgid.as_deref() == Some(msgid) && l.kind.is_chat())
        else {
            return;
        };
        let mut text = "message deleted".to_owned();
        if !by.is_empty() && line.nick.as_deref().is_none_or(|n| !eq_folded(n, by)) {
            text.push_str(&format!(" by {by}"));
        }
        if let Some(reason) = reason {
            text.push_str(&format!(" ({reason})"));
        }
        line.kind = LineKind::Deleted;
        line.text = text;
        line.highlight = false;
    }

    /// Counts unread lines and mentions again from the read marker, if there is one.
    fn recount(&mut self) {
        let Some(marker) = self.read_marker else {
            return;
        };
        let unread = self.lines.iter().filter(|l| Self::unread_after(l, marker));
        let (count, mentions) =
            unread.fold((0, 0), |(c, m), l| (c + 1, m + usize::from(l.highlight)));
        self.unread = count;
        self.mentions = mentions;
    }
}

impl State {
    /// The buffer a conversation's name stands for on this server (by its `CHANTYPES`): a
    /// channel, or a private conversation with a nick.
    pub fn target_buffer(&self, target: &str) -> BufferId {
        if self.is_channel(target) {
            BufferId::Channel(target.to_owned())
        } else {
            BufferId::Query(target.to_owned())
        }
    }

    /// [`Event::HistoryLoaded`](crate::Event::HistoryLoaded): merges the lines into the
    /// buffer (if it is still open).
    pub(super) fn apply_history(
        &mut self,
        target: &str,
        messages: &[OwnedMessage],
        before: bool,
        more: bool,
    ) {
        let id = self.target_buffer(target);
        let Some(i) = self.index(&id) else {
            return;
        };
        let private = matches!(id, BufferId::Query(_));
        let lines: Vec<Line> = messages
            .iter()
            .filter_map(|m| self.history_line(m, private))
            .collect();
        let added = self.merge(i, lines, before);
        // Reactions (TAGMSG) are no lines: they count under their messages, each person once.
        for m in messages
            .iter()
            .filter(|m| m.command.eq_ignore_ascii_case("TAGMSG"))
        {
            let nick = m.source_nick().unwrap_or("");
            self.buffers[i].apply_reaction(m, nick);
        }
        // A message deleted while we were away: its line goes, its REDACT is no line.
        for m in messages
            .iter()
            .filter(|m| m.command.eq_ignore_ascii_case("REDACT"))
        {
            self.buffers[i].redact(m);
        }
        if !before {
            // Not trimmed when scrolling back: the user asked for those lines.
            let cap = self.scrollback.max(1);
            let b = &mut self.buffers[i];
            while b.lines.len() > cap {
                b.lines.pop_front();
            }
        }
        let b = &mut self.buffers[i];
        b.history.loading = false;
        b.history.answers += 1;
        b.history.more = if before {
            more && added > 0
        } else {
            b.history.more || more
        };
        b.recount();
    }

    /// `MARKREAD <target> timestamp=<time>|*`: the account's read marker of a conversation
    /// (ours answered, another client's, or the one sent on joining). Never goes back.
    pub(super) fn apply_markread(&mut self, msg: &OwnedMessage) {
        let id = self.target_buffer(msg.param(0).unwrap_or(""));
        let Some(b) = self.buffer_mut(&id) else {
            return;
        };
        let Some(time) = msg
            .param(1)
            .and_then(|v| v.strip_prefix("timestamp="))
            .and_then(parse_time)
        else {
            // `*`: no marker yet.
            return;
        };
        if b.read_marker.is_none_or(|m| time > m) {
            b.read_marker = Some(time);
        }
        b.recount();
    }

    /// Whether the message `msgid` is already among the newest lines of buffer `i`, brought by
    /// a history answer before the live line arrived.
    pub(super) fn seen_before(&self, i: usize, msgid: Option<&str>) -> bool {
        let (Some(msgid), Some(b)) = (msgid, self.buffers.get(i)) else {
            return false;
        };
        b.history.answers > 0
            && b.lines
                .iter()
                .rev()
                .take(LIVE_CHECK)
                .any(|l| l.msgid.as_deref() == Some(msgid))
    }

    /// Gives out a line number ([`Line::seq`]).
    pub(super) fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// A history line in the words a live one would have; `None` for what is not shown (other
    /// CTCP, TAGMSG, anything unknown). `private`: the conversation is a query.
    fn history_line(&self, msg: &OwnedMessage, private: bool) -> Option<Line> {
        let time = msg
            .tag("time")
            .and_then(parse_time)
            .unwrap_or_else(Utc::now);
        let nick = msg.source_nick().unwrap_or("");
        let me = !nick.is_empty() && self.is_me(nick);
        // A message from another client of our account (a phone) is ours too.
        let ours = me
            || self
                .account
                .as_deref()
                .is_some_and(|a| msg.tag("account").is_some_and(|t| eq_folded(t, a)));
        let p = |i: usize| msg.param(i).unwrap_or("");
        let reason = |i: usize| msg.param(i).filter(|r| !r.is_empty());
        let (kind, text) = match msg.command.to_ascii_uppercase().as_str() {
            "PRIVMSG" => match ctcp(p(1)) {
                Some(("ACTION", body)) => (LineKind::Action, body.to_owned()),
                Some(_) => return None,
                None => (LineKind::Message, p(1).to_owned()),
            },
            "NOTICE" if ctcp(p(1)).is_none() => (LineKind::Notice, p(1).to_owned()),
            "JOIN" if me => (LineKind::Join, format!("You joined {}", p(0))),
            "JOIN" => (LineKind::Join, format!("{nick} joined")),
            "PART" => match reason(1) {
                Some(r) => (LineKind::Part, format!("{nick} left ({r})")),
                None => (LineKind::Part, format!("{nick} left")),
            },
            "QUIT" => match reason(0) {
                Some(r) => (LineKind::Quit, format!("{nick} quit ({r})")),
                None => (LineKind::Quit, format!("{nick} quit")),
            },
            "KICK" => {
                let victim = p(1);
                let kicked_me = self.is_me(victim);
                let who = if kicked_me {
                    "You were".to_owned()
                } else {
                    format!("{victim} was")
                };
                let mut text = format!("{who} kicked by {nick}");
                if let Some(r) = reason(2).filter(|r| *r != victim) {
                    text.push_str(&format!(" ({r})"));
                }
                let kind = if kicked_me {
                    LineKind::Error
                } else {
                    LineKind::Kick
                };
                (kind, text)
            }
            "NICK" if me => (LineKind::Nick, format!("You are now known as {}", p(0))),
            "NICK" => (LineKind::Nick, format!("{nick} is now known as {}", p(0))),
            "TOPIC" if p(1).is_empty() => (LineKind::Topic, format!("{nick} cleared the topic")),
            "TOPIC" => (
                LineKind::Topic,
                format!("{nick} changed the topic to: {}", p(1)),
            ),
            _ => return None,
        };
        let highlight = kind.is_chat() && !ours && (private || mentions(&text, &self.nick));
        let nick = if nick.is_empty() {
            msg.source.clone()
        } else {
            Some(nick.to_owned())
        };
        Some(Line {
            time,
            kind,
            nick,
            text,
            highlight,
            own: ours,
            msgid: msg.tag("msgid").map(str::to_owned),
            seq: 0,
            from_history: true,
            reply_to: super::irc::reply_to(msg),
        })
    }

    /// Puts `lines` (oldest first) into buffer `i` where their times say, skipping those it
    /// has. Lines of the same millisecond keep the server's order: the answer's own lines stay
    /// in their order, after any line of the answer already there, and older lines (`before`)
    /// go above lines of their time, the latest below. Returns how many went in.
    fn merge(&mut self, i: usize, lines: Vec<Line>, before: bool) -> usize {
        let mut known: HashSet<String> = self.buffers[i]
            .lines
            .iter()
            .filter_map(|l| l.msgid.clone())
            .collect();
        let mut added = 0;
        // Where the previous line of the answer is (or went): the next goes after it.
        let mut cursor = 0;
        for mut line in lines {
            let b = &self.buffers[i];
            let had = match &line.msgid {
                Some(id) if known.contains(id) => {
                    b.lines.iter().rposition(|l| l.msgid.as_ref() == Some(id))
                }
                _ => None,
            };
            let at = insertion_point(b, line.time, before).max(cursor);
            if let Some(k) = had.or_else(|| seen_live(b, at, &line)) {
                cursor = cursor.max(k + 1);
                continue;
            }
            line.seq = self.take_seq();
            if let Some(id) = &line.msgid {
                known.insert(id.clone());
            }
            let b = &mut self.buffers[i];
            b.lines.insert(at, line);
            cursor = at + 1;
            added += 1;
        }
        // The oldest is the topmost line with an id: lines of one millisecond are told apart by
        // their place, not their time (a sender's burst shares its time).
        let b = &mut self.buffers[i];
        if let Some(top) = b.lines.iter().find(|l| l.msgid.is_some()) {
            b.history.oldest = top.msgid.clone().map(|msgid| MessageRef {
                msgid,
                time: top.time,
            });
        }
        added
    }
}

/// Where a line of this time goes: above the first line of its time or later (`before`, older
/// lines), or below the last line of its time or earlier.
fn insertion_point(b: &Buffer, time: DateTime<Utc>, before: bool) -> usize {
    if before {
        b.lines
            .iter()
            .position(|l| l.time >= time)
            .unwrap_or(b.lines.len())
    } else {
        b.lines
            .iter()
            .rposition(|l| l.time <= time)
            .map_or(0, |k| k + 1)
    }
}

/// Where the buffer holds, near `at`, the live sighting of this history line: the same kind,
/// nick and words within [`SAME_EVENT_WITHIN_MS`], one of them without a `msgid` (two ids that
/// differ are two messages).
fn seen_live(b: &Buffer, at: usize, line: &Line) -> Option<usize> {
    let near = |l: &Line| (l.time - line.time).num_milliseconds().abs() <= SAME_EVENT_WITHIN_MS;
    let same = |l: &Line| {
        l.kind == line.kind
            && l.text == line.text
            && (l.msgid.is_none() || line.msgid.is_none())
            && match (&l.nick, &line.nick) {
                (Some(a), Some(b)) => eq_folded(a, b),
                (None, None) => true,
                _ => false,
            }
    };
    let earlier = (0..at.min(b.lines.len()))
        .rev()
        .take_while(|&k| near(&b.lines[k]));
    let later = (at..b.lines.len()).take_while(|&k| near(&b.lines[k]));
    earlier.chain(later).find(|&k| same(&b.lines[k]))
}

#[cfg(test)]
mod tests;
