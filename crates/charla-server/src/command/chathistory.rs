//! CHATHISTORY (<https://ircv3.net/specs/extensions/chathistory>): LATEST, BEFORE, AFTER,
//! AROUND and BETWEEN of a channel or a private conversation, by message id or by time, and
//! TARGETS, the conversations with activity in a time range.
//!
//! Who may read what: a channel's present members (from when they joined, unless the channel is
//! registered or the config lets everyone see earlier history: `[history] before_join`); a
//! private conversation, each of its two parties while logged into their account. Anyone else
//! gets `FAIL CHATHISTORY INVALID_TARGET`, the same answer as for a target that does not exist,
//! so that the command tells nobody which conversations exist.
//!
//! Answers are wrapped in a `chathistory` batch (`draft/chathistory-targets` for TARGETS) for
//! clients with `batch`, and never hold more lines than [`history::request_limit`].

use std::borrow::Cow;

use charla_proto::casemap::casefold;
use charla_proto::validate::is_channel_name;
use charla_store::{Anchor, HistoryQuery, HistoryRecord, Kinds};

use crate::caps::Cap;
use crate::command::Flow;
use crate::command::table::Owned;
use crate::config::BeforeJoin;
use crate::deliver::batch_ref;
use crate::history;
use crate::msgid;
use crate::outbound::Line;
use crate::session::Session;
use crate::timefmt;

/// `CHATHISTORY <subcommand> ...`.
pub async fn chathistory(s: &mut Session, p: Owned<1>) -> Flow {
    let sub = p.req[0].to_ascii_uppercase();
    if !s.state.config.history.enabled {
        fail(s, "MESSAGE_ERROR", &[&sub], "This server keeps no history");
        return Flow::Continue;
    }
    match sub.as_str() {
        "TARGETS" => targets(s, &p).await,
        "LATEST" | "BEFORE" | "AFTER" | "AROUND" | "BETWEEN" => query(s, &sub, &p).await,
        _ => fail(s, "INVALID_PARAMS", &[&sub], "Unknown subcommand"),
    }
    Flow::Continue
}

/// `FAIL CHATHISTORY <code> <params...> :<text>`.
fn fail(s: &Session, code: &str, params: &[&str], text: &str) {
    let mut line = s.server_line("FAIL");
    line.param("CHATHISTORY").param(code);
    for p in params {
        line.param(p);
    }
    line.trailing(text);
    s.send_line(line);
}

/// A message reference: `msgid=…`, `timestamp=…`, or `*` where `star` allows it (`Ok(None)`).
fn reference(text: &str, star: bool) -> Result<Option<Anchor>, ()> {
    if star && text == "*" {
        return Ok(None);
    }
    match text.split_once('=') {
        Some(("msgid", id)) if msgid::looks_valid(id) => Ok(Some(Anchor::Msgid(id.to_owned()))),
        Some(("timestamp", t)) => timefmt::parse_iso8601(t)
            .map(|ms| Some(Anchor::Time(ms)))
            .ok_or(()),
        _ => Err(()),
    }
}

/// A positive line count, cut to what one answer may hold.
pub fn limit(s: &Session, text: Option<&str>) -> Option<usize> {
    let n: usize = text?.parse().ok().filter(|n| *n > 0)?;
    Some(n.min(history::request_limit(&s.state.config)))
}

/// Where a conversation's history is kept, and from when the asker may read it.
pub struct Access {
    /// The conversation's key in the store.
    pub key: String,
    /// Entries before this time (Unix ms) are not the asker's to read.
    pub since: Option<i64>,
}

/// The conversation `target` names, if the asker may read it.
pub fn access(s: &Session, target: &str) -> Option<Access> {
    if is_channel_name(target) {
        let channel = s.state.channel(target)?;
        let (registered, joined) = channel.read(|st| {
            let joined = st.member(s.client.id).map(|m| m.joined_ms);
            (st.registration.is_some(), joined)
        });
        let joined = joined?;
        let since = match s.state.config.history.before_join {
            BeforeJoin::Always => None,
            BeforeJoin::Registered if registered => None,
            BeforeJoin::Registered | BeforeJoin::Never => Some(joined),
        };
        return Some(Access {
            key: channel.key(),
            since,
        });
    }
    Some(Access {
        key: conversation(s, target)?,
        since: None,
    })
}

/// The key of the asker's private conversation with `nick`, if the asker is logged in (only an
/// account can come back for a conversation). The other party is whoever holds the nick now,
/// or else the account of that name.
pub fn conversation(s: &Session, nick: &str) -> Option<String> {
    let (my_nick, my_account) = {
        let info = s.client.info.read();
        (info.nick.clone(), info.account.clone())
    };
    let my_account = my_account?;
    let them = match s.state.find_nick(nick) {
        Some(c) => {
            let info = c.info.read();
            history::identity(&info.nick, info.account.as_deref())
        }
        None => casefold(nick).into_owned(),
    };
    let me = history::identity(&my_nick, Some(&my_account));
    Some(history::conversation_key(&me, &them))
}

/// LATEST, BEFORE, AFTER, AROUND, BETWEEN.
async fn query(s: &mut Session, sub: &str, p: &Owned<1>) {
    let Some(target) = p.get(1).filter(|t| !t.is_empty()) else {
        fail(s, "INVALID_PARAMS", &[sub], "Missing target");
        return;
    };
    let target = target.to_owned();
    let bad_reference = |s: &Session| {
        fail(
            s,
            "INVALID_PARAMS",
            &[sub],
            "Invalid message reference: use msgid=<id> or timestamp=<YYYY-MM-DDThh:mm:ss.sssZ>",
        );
    };
    let (query, limit_at) = match sub {
        "BETWEEN" => {
            let (Ok(Some(a)), Ok(Some(b))) = (
                reference(p.get(2).unwrap_or(""), false),
                reference(p.get(3).unwrap_or(""), false),
            ) else {
                bad_reference(s);
                return;
            };
            (HistoryQuery::Between(a, b), 4)
        }
        _ => {
            let Ok(anchor) = reference(p.get(2).unwrap_or(""), sub == "LATEST") else {
                bad_reference(s);
                return;
            };
            let query = match (sub, anchor) {
                ("LATEST", anchor) => HistoryQuery::Latest(anchor),
                (_, None) => {
                    bad_reference(s);
                    return;
                }
                ("BEFORE", Some(a)) => HistoryQuery::Before(a),
                ("AFTER", Some(a)) => HistoryQuery::After(a),
                (_, Some(a)) => HistoryQuery::Around(a),
            };
            (query, 3)
        }
    };
    let Some(limit) = limit(s, p.get(limit_at)) else {
        fail(
            s,
            "INVALID_PARAMS",
            &[sub],
            "Invalid limit: give a number above 0",
        );
        return;
    };
    let Some(access) = access(s, &target) else {
        fail(
            s,
            "INVALID_TARGET",
            &[sub, &target],
            "No history you can read there",
        );
        return;
    };
    // Without event-playback, the limit counts messages only.
    let kinds = if s.conn.has_cap(Cap::EventPlayback) {
        Kinds::All
    } else {
        Kinds::Messages
    };
    match s
        .state
        .store
        .history_of(&access.key, query, limit, kinds)
        .await
    {
        Ok(entries) => {
            let mut entries = entries.unwrap_or_default();
            if let Some(since) = access.since {
                entries.retain(|e| e.time_ms >= since);
            }
            send_batch(s, &target, &entries);
        }
        Err(error) => {
            tracing::warn!(%error, "CHATHISTORY could not read the store");
            fail(
                s,
                "MESSAGE_ERROR",
                &[sub, &target],
                "History cannot be read right now; try again later",
            );
        }
    }
}

/// The entries as a `chathistory` batch (without `batch`, the bare lines).
fn send_batch(s: &Session, target: &str, entries: &[HistoryRecord]) {
    send_entries(s, &["chathistory", target], entries);
}

/// The entries in a batch of type and parameters `batch` (without `batch`, the bare lines).
pub fn send_entries(s: &Session, batch: &[&str], entries: &[HistoryRecord]) {
    let caps = s.client.caps();
    let reference = caps.has(Cap::Batch).then(batch_ref);
    if let Some(r) = &reference {
        let mut open = s.server_line("BATCH");
        open.param(&format!("+{r}"));
        for p in batch {
            open.param(p);
        }
        s.send_line(open);
    }
    let mut renamed = Renamed::default();
    for entry in entries {
        let entry = renamed.as_now(s, entry);
        if let Some(line) = history::replay_line(&entry, caps, reference.as_deref()) {
            s.send_bytes(line);
        }
    }
    if let Some(r) = &reference {
        s.send_bytes(Line::from(format!(":{} BATCH -{r}\r\n", s.state.name())));
    }
}

/// The channel names of replayed entries as they are now: an entry kept before a RENAME
/// names the old channel, and is replayed with the new name, the one its history is read
/// under (the last channel looked up is remembered: entries come by conversation).
#[derive(Debug, Default)]
struct Renamed {
    last: Option<(String, Option<String>)>,
}

impl Renamed {
    fn as_now<'e>(&mut self, s: &Session, entry: &'e HistoryRecord) -> Cow<'e, HistoryRecord> {
        let Some(first) = entry.params.first() else {
            return Cow::Borrowed(entry);
        };
        if !is_channel_name(&entry.target)
            || !is_channel_name(first)
            || casefold(first) == entry.target.as_str()
        {
            return Cow::Borrowed(entry);
        }
        if self
            .last
            .as_ref()
            .is_none_or(|(key, _)| *key != entry.target)
        {
            let name = s.state.channel(&entry.target).map(|ch| ch.name());
            self.last = Some((entry.target.clone(), name));
        }
        match self.last.as_ref().and_then(|(_, name)| name.as_ref()) {
            Some(name) => {
                let mut now = entry.clone();
                now.params[0].clone_from(name);
                Cow::Owned(now)
            }
            None => Cow::Borrowed(entry),
        }
    }
}

/// `TARGETS <timestamp> <timestamp> <limit>`: the asker's channels and private conversations
/// with activity in that range, oldest activity first.
async fn targets(s: &mut Session, p: &Owned<1>) {
    let bound = |i| match reference(p.get(i).unwrap_or(""), false) {
        Ok(Some(Anchor::Time(ms))) => Some(ms),
        _ => None,
    };
    let (Some(from), Some(to)) = (bound(1), bound(2)) else {
        fail(
            s,
            "INVALID_PARAMS",
            &["TARGETS"],
            "Give two timestamps: timestamp=<YYYY-MM-DDThh:mm:ss.sssZ>",
        );
        return;
    };
    let Some(limit) = limit(s, p.get(3)) else {
        fail(
            s,
            "INVALID_PARAMS",
            &["TARGETS"],
            "Invalid limit: give a number above 0",
        );
        return;
    };
    let (channels, account) = {
        let info = s.client.info.read();
        let channels: Vec<(String, String)> =
            info.channels.iter().map(|c| (c.key(), c.name())).collect();
        (channels, info.account.clone())
    };
    // Without an account there are no private conversations to come back to.
    let owner = account.map_or_else(String::new, |a| casefold(&a).into_owned());
    let keys = channels.iter().map(|(k, _)| k.clone()).collect();
    let found = match s
        .state
        .store
        .history_targets(&owner, keys, from, to, limit)
        .await
    {
        Ok(found) => found,
        Err(error) => {
            tracing::warn!(%error, "CHATHISTORY TARGETS could not read the store");
            fail(
                s,
                "MESSAGE_ERROR",
                &["TARGETS"],
                "History cannot be read right now; try again later",
            );
            return;
        }
    };
    let reference = s.conn.has_cap(Cap::Batch).then(batch_ref);
    if let Some(r) = &reference {
        let mut open = s.server_line("BATCH");
        open.param(&format!("+{r}"))
            .param("draft/chathistory-targets");
        s.send_line(open);
    }
    for t in found {
        // A channel shows as its members know it; a conversation as the other party's name.
        let name = channels
            .iter()
            .find(|(k, _)| *k == t.target)
            .map_or(t.name, |(_, n)| n.clone());
        let mut line = s.server_line("CHATHISTORY");
        line.param("TARGETS")
            .param(&name)
            .param(&timefmt::iso8601(timefmt::from_unix_millis(t.last_ms)));
        let line = Line::new(line.finish());
        s.send_bytes(match &reference {
            Some(r) => crate::deliver::with_tags(&line, &format!("batch={r}")),
            None => line,
        });
    }
    if let Some(r) = &reference {
        s.send_bytes(Line::from(format!(":{} BATCH -{r}\r\n", s.state.name())));
    }
}
