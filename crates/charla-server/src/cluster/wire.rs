//! What nodes tell each other, as JSON on NATS subjects (see [`super`] for the subjects).
//!
//! A delivered line crosses as its parts ([`WireLine`]: body, time, tags), never as the bytes
//! one recipient got, so that the receiving node renders it for each of its own clients'
//! capabilities exactly as the sending node renders it for its own.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::caps::Cap;
use crate::client::Client;
use crate::deliver::Payload;
use crate::outbound::Outgoing;

/// A user as other nodes see it (its node keeps the connection).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WireUser {
    /// The node it is connected to.
    pub node: String,
    /// Its connection id on that node.
    pub id: u64,
    /// Its nick.
    pub nick: String,
    /// Its user name.
    pub user: String,
    /// Its host as shown.
    pub host: String,
    /// Its real name.
    pub realname: String,
    /// The account it is logged into.
    pub account: Option<String>,
    /// Its away message.
    pub away: Option<String>,
    /// `+i`.
    pub invisible: bool,
    /// `+o`.
    pub oper: bool,
    /// `+B`.
    pub bot: bool,
    /// Whether it is connected over TLS (WHOIS 671).
    pub secure: bool,
    /// Its `draft/metadata-2` keys and values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl WireUser {
    /// `client`, a user of node `node`.
    pub fn of(node: &str, client: &Client) -> Self {
        let info = client.info.read();
        WireUser {
            node: node.to_owned(),
            id: client.id.0,
            nick: info.nick.clone(),
            user: info.user.clone(),
            host: client.host.clone(),
            realname: info.realname.clone(),
            account: info.account.clone(),
            away: info.away.clone(),
            invisible: info.modes.invisible,
            oper: info.modes.oper,
            bot: info.modes.bot,
            secure: client.transport.is_secure(),
            metadata: info
                .metadata
                .as_ref()
                .map(|m| m.values.clone())
                .unwrap_or_default(),
        }
    }
}

/// Presence, on `<prefix>.users`: who is on which node.
// Read off the wire one at a time and dropped: boxing a variant would cost an allocation per
// message for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t")]
pub enum Presence {
    /// A user registered (or is announced again to a node that asked).
    Up {
        /// The user.
        user: WireUser,
    },
    /// A user changed its nick.
    Nick {
        /// Its node.
        node: String,
        /// Its id there.
        id: u64,
        /// The new nick.
        nick: String,
    },
    /// A user's away state, account, user name or real name changed: its record as it is now,
    /// and the line its peers are told (AWAY, ACCOUNT, CHGHOST, SETNAME).
    Changed {
        /// The user now.
        user: WireUser,
        /// The line.
        line: WirePayload,
    },
    /// A user was invited into a channel on another node: its node lets it in when it joins
    /// (past `+i`, and past `+k`, `+l` and `+b` when an operator invited it).
    Invite {
        /// The user's node.
        node: String,
        /// Its id there.
        id: u64,
        /// The channel's key.
        channel: String,
        /// An operator invited it.
        by_op: bool,
    },
    /// A user is to be ended by its node (KILL, GHOST, an operator's console elsewhere).
    Kill {
        /// Its node.
        node: String,
        /// Its id there.
        id: u64,
        /// Why (the QUIT reason everyone sees).
        reason: String,
    },
    /// A node stops (cleanly): its users that have not said goodbye go now. On the users'
    /// subject, so that it comes after its users' own `Down`s.
    NodeLeaving {
        /// The node.
        node: String,
    },
    /// A user's `draft/metadata-2` key changed (`None`: removed); `line` tells subscribers.
    Meta {
        /// Its node.
        node: String,
        /// Its id there.
        id: u64,
        /// The key.
        key: String,
        /// The new value.
        value: Option<String>,
        /// The METADATA line.
        line: WirePayload,
    },
    /// A user left the network.
    Down {
        /// Its node.
        node: String,
        /// Its id there.
        id: u64,
        /// Its QUIT reason.
        reason: String,
    },
}

/// A node's heartbeat, on `<prefix>.nodes`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The node.
    pub node: String,
    /// When it started (milliseconds since the epoch): a node that restarted is a new one.
    pub started_ms: u64,
}

/// One line in its parts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireLine {
    /// The untagged line, `:source COMMAND params\r\n`.
    pub body: String,
    /// Its server time, microseconds since the epoch.
    pub time_us: u64,
    /// Client-only tags, escaped.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_tags: String,
    /// The sender's account, escaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msgid: Option<String>,
}

impl WireLine {
    /// `line` in its parts.
    pub fn of(line: &Outgoing) -> Self {
        let (body, time, client_tags, account, msgid) = line.parts();
        WireLine {
            body: String::from_utf8_lossy(body).into_owned(),
            time_us: time
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            client_tags: client_tags.to_owned(),
            account: account.map(str::to_owned),
            msgid: msgid.map(str::to_owned),
        }
    }

    /// The line again; `None` if its body is not one line ending in CR LF.
    pub fn to_outgoing(&self) -> Option<Outgoing> {
        let body = self.body.as_bytes();
        let inner = body.strip_suffix(b"\r\n")?;
        if inner.is_empty() || inner.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
            return None;
        }
        if self.client_tags.contains([' ', '\r', '\n', '\0'])
            || self
                .account
                .as_deref()
                .is_some_and(|a| a.contains([' ', ';', '\r', '\n', '\0']))
            || self
                .msgid
                .as_deref()
                .is_some_and(|m| m.contains([' ', ';', '\r', '\n', '\0']))
        {
            return None;
        }
        Some(Outgoing::from_parts(
            body.to_vec(),
            UNIX_EPOCH + Duration::from_micros(self.time_us),
            self.client_tags.clone(),
            self.account.clone(),
            self.msgid.clone(),
        ))
    }
}

/// A [`Payload`] in its parts: the line, and who gets it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WirePayload {
    /// The line.
    pub line: WireLine,
    /// The capability a recipient needs for `line` (by its name), if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<String>,
    /// The line for recipients without `cap` (none: they get nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<WireLine>,
}

impl WirePayload {
    /// `payload` in its parts.
    pub fn of(payload: &Payload) -> Self {
        let (cap, fallback) = payload.gate();
        WirePayload {
            line: WireLine::of(payload.line()),
            cap: cap.map(|c| c.name().to_owned()),
            fallback: fallback.map(WireLine::of),
        }
    }

    /// The payload again; `None` if a part is malformed or names a capability this node
    /// does not know.
    pub fn to_payload(&self) -> Option<Payload> {
        let line = self.line.to_outgoing()?;
        Some(match (&self.cap, &self.fallback) {
            (None, _) => Payload::new(line),
            (Some(cap), None) => Payload::only_with(Cap::from_name(cap)?, line),
            (Some(cap), Some(fallback)) => {
                Payload::or_else(Cap::from_name(cap)?, line, fallback.to_outgoing()?)
            }
        })
    }
}

/// What happens in a channel, in the order of its log (`<prefix>.ch.<channel key in hex>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t")]
pub enum ChannelEvent {
    /// A user joined (its node checked the modes and told its own members).
    Join {
        /// Who.
        user: Box<WireUser>,
        /// Whether it became an operator there.
        op: bool,
        /// Whether it became voiced there.
        voice: bool,
        /// The JOIN line.
        join: WirePayload,
        /// The AWAY line that follows it for `away-notify` members, if the joiner is away.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        away: Option<WirePayload>,
        /// It created the channel (its node knew no other member): two nodes creating one
        /// channel at once settle on one creator ([`crate::cluster`]).
        #[serde(default)]
        created: bool,
        /// Its history entry (event playback), kept by every node following the channel in
        /// the log's order; `None` when history is off or the node kept it itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record: Option<WireRecord>,
    },
    /// A user left (PART): every member is told `line`, the user goes.
    Part {
        /// Its node.
        node: String,
        /// Its id there.
        id: u64,
        /// The PART line.
        line: WirePayload,
        /// Its history entry (event playback), kept by every node following the channel in
        /// the log's order; `None` when history is off or the node kept it itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record: Option<WireRecord>,
    },
    /// A member was kicked: every member is told `line`, the victim goes.
    Kick {
        /// The node where the KICK was sent (it has applied it already).
        node: String,
        /// The victim's node.
        victim_node: String,
        /// The victim's id there.
        victim_id: u64,
        /// The KICK line.
        line: WirePayload,
        /// Its history entry (event playback), kept by every node following the channel in
        /// the log's order; `None` when history is off or the node kept it itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record: Option<WireRecord>,
    },
    /// A member deleted one of the channel's messages (REDACT, already recorded by its node).
    Redact {
        /// The node where it was sent.
        node: String,
        /// Who, there.
        id: u64,
        /// The message deleted.
        msgid: String,
        /// The REDACT event kept in history.
        record: WireRecord,
        /// The REDACT line.
        line: WirePayload,
    },
    /// The topic changed (or was cleared: `None`).
    Topic {
        /// The node where it was set (it has applied it already).
        node: String,
        /// Text, who set it, when (seconds since the epoch).
        topic: Option<(String, String, u64)>,
        /// The TOPIC line.
        line: WirePayload,
        /// Its history entry (event playback), kept by every node following the channel in
        /// the log's order; `None` when history is off or the node kept it itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record: Option<WireRecord>,
    },
    /// Modes changed: the channel's modes, lists and statuses as they are now, and the MODE
    /// lines that said so.
    Modes {
        /// The node where they were changed (it has applied them already).
        node: String,
        /// The flags, key and limit.
        modes: crate::channel::ChannelModes,
        /// The `b`, `e` and `I` lists: mode, mask, who set it, when (seconds).
        lists: Vec<(char, String, String, u64)>,
        /// Op and voice given or taken: (node, id, `o` or `v`, given). Every node applies
        /// them in the log's order, the changer's node again too, so that changes made on two
        /// nodes at once end the same everywhere.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        statuses: Vec<(String, u64, char, bool)>,
        /// The MODE lines.
        lines: Vec<WirePayload>,
    },
    /// A message to the members, in the channel's order.
    Message {
        /// The sender's node (which waits for this event before its own members see it).
        node: String,
        /// The sender's id there.
        id: u64,
        /// The sender node's number for the message (its own members' copy waits for it).
        token: u64,
        /// Only members with this status or higher get it (STATUSMSG).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<char>,
        /// The line.
        line: WirePayload,
        /// Its history entry, if it is kept: every node following the channel commits it
        /// (the first one to do so wins; the others find it there) before its members see it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record: Option<WireRecord>,
    },
    /// An event of one of the channel's members to keep in history (event playback) with no
    /// other effect here: its QUIT or NICK, whose effect comes with its presence.
    Kept {
        /// Its history entry.
        record: WireRecord,
    },
    /// A `draft/metadata-2` key of the channel changed (`None`: removed).
    Meta {
        /// The node where it was set (it has applied it already).
        node: String,
        /// The key.
        key: String,
        /// The new value.
        value: Option<String>,
        /// The METADATA line.
        line: WirePayload,
    },
    /// The channel was renamed (RENAME, applied by its node already, history moved there):
    /// the last event under its old name; its log goes on under the new one.
    Rename {
        /// The node where it was renamed.
        node: String,
        /// The new name.
        new: String,
        /// The reason given.
        reason: String,
        /// The RENAME line (members without `draft/channel-rename` get the fallback).
        line: WireLine,
    },
}

/// A history entry ([`charla_store::HistoryRecord`]) on its way to the store of a node that
/// follows the channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireRecord {
    /// The message id.
    pub msgid: String,
    /// Server time (Unix ms).
    pub time_ms: i64,
    /// The command.
    pub command: String,
    /// The sender's `nick!user@host`.
    pub source: String,
    /// The sender's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Client-only tags, escaped.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tags: String,
    /// The parameters.
    pub params: Vec<String>,
}

impl WireRecord {
    /// `record` for the wire (its target is the channel's log's own).
    pub fn of(record: &charla_store::HistoryRecord) -> Self {
        WireRecord {
            msgid: record.msgid.clone(),
            time_ms: record.time_ms,
            command: record.command.clone(),
            source: record.source.clone(),
            account: record.account.clone(),
            tags: record.tags.clone(),
            params: record.params.clone(),
        }
    }

    /// The entry for the channel keyed `target`; `None` if a field holds what no entry may
    /// (CR, LF, NUL; a space in an id, a source or tags), or it is far too big.
    pub fn to_record(&self, target: &str) -> Option<charla_store::HistoryRecord> {
        let bad = |s: &str| s.contains(['\r', '\n', '\0']);
        let worded = |s: &str| s.is_empty() || s.contains([' ', '\r', '\n', '\0']);
        if worded(&self.msgid)
            || worded(&self.command)
            || worded(&self.source)
            || self.account.as_deref().is_some_and(worded)
            || self.tags.contains([' ', '\r', '\n', '\0'])
            || self.params.iter().any(|p| bad(p))
            || self.params.len() > 64
            || self.params.iter().map(String::len).sum::<usize>() > 64 * 1024
        {
            return None;
        }
        Some(charla_store::HistoryRecord {
            seq: 0,
            target: target.to_owned(),
            msgid: self.msgid.clone(),
            time_ms: self.time_ms,
            command: self.command.clone(),
            source: self.source.clone(),
            account: self.account.clone(),
            tags: self.tags.clone(),
            params: self.params.clone(),
        })
    }
}

/// A node's answer to "who is in this channel?" (`<prefix>.snap.<channel key in hex>`): its own
/// members, and the channel's topic as it knows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// The node answering.
    pub node: String,
    /// The channel's name as that node shows it (empty if it has no members there).
    #[serde(default)]
    pub name: String,
    /// Its members of the channel, with their status.
    pub members: Vec<(WireUser, bool, bool)>,
    /// The topic: text, who set it, when (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<(String, String, u64)>,
    /// The flags, key and limit.
    #[serde(default)]
    pub modes: crate::channel::ChannelModes,
    /// The `b`, `e` and `I` lists: mode, mask, who set it, when (seconds).
    #[serde(default)]
    pub lists: Vec<(char, String, String, u64)>,
    /// The channel's `draft/metadata-2` keys and values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// A channel as another node lists it (LIST): one with members there, not secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listed {
    /// Its name.
    pub name: String,
    /// Its members, on every node the answering node knows of.
    pub users: usize,
    /// Its topic (empty if none).
    pub topic: String,
    /// When its topic was set (seconds since the epoch), if it has one.
    pub topic_set_secs: Option<u64>,
    /// When it was created there (seconds since the epoch).
    pub created_secs: u64,
}

/// A line for one user on another node (`<prefix>.to.<node>`): a private message, an INVITE,
/// anything addressed to the user rather than to a channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Direct {
    /// The user's id on the node the subject names.
    pub id: u64,
    /// The line.
    pub line: WirePayload,
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use charla_proto::LineBuilder;

    fn outgoing(text: &str) -> Outgoing {
        let mut b = LineBuilder::new();
        b.source("ana!~ana@10.0.0.1")
            .command("PRIVMSG")
            .param("#sala")
            .trailing(text);
        Outgoing::new(b)
            .with_account(Some("ana"))
            .with_msgid("abc".to_owned(), SystemTime::now())
            .with_client_tags([("+draft/reply", "xyz")].into_iter())
    }

    #[test]
    fn a_payload_crosses_with_its_tags_and_gate() {
        let sent = Payload::or_else(Cap::ExtendedJoin, outgoing("¿qué tal?"), outgoing("plain"));
        let json = serde_json::to_string(&WirePayload::of(&sent)).expect("json");
        let back: WirePayload = serde_json::from_str(&json).expect("parse");
        let got = back.to_payload().expect("payload");
        for caps in [
            crate::caps::CapSet::default(),
            crate::caps::CapSet(
                Cap::ExtendedJoin.bit() | Cap::MessageTags.bit() | Cap::AccountTag.bit(),
            ),
        ] {
            assert_eq!(
                sent.for_caps(caps).map(|l| l.to_vec()),
                got.for_caps(caps).map(|l| l.to_vec())
            );
        }
    }

    proptest::proptest! {
        /// Whatever another node (or anyone on NATS) sends, reading it never panics, and a line
        /// taken from it is always one line, whatever the recipient's capabilities.
        #[test]
        fn anything_from_the_wire_is_read_safely(
            body in ".{0,80}",
            tags in ".{0,20}",
            account in proptest::option::of(".{0,12}"),
            msgid in proptest::option::of(".{0,12}"),
            cap in proptest::option::of("[a-z/-]{0,20}"),
            param in ".{0,30}",
            raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            let line = WireLine { body, time_us: 0, client_tags: tags, account, msgid };
            let payload = WirePayload { line: line.clone(), cap, fallback: Some(line) };
            if let Some(p) = payload.to_payload() {
                for caps in [crate::caps::CapSet::default(), crate::caps::CapSet(u32::MAX)] {
                    if let Some(bytes) = p.for_caps(caps) {
                        let text = &bytes[..];
                        proptest::prop_assert!(text.ends_with(b"\r\n"));
                        let inner = &text[..text.len() - 2];
                        proptest::prop_assert!(!inner.contains(&b'\n') && !inner.contains(&b'\r'));
                    }
                }
            }
            let record = WireRecord {
                msgid: "m".into(), time_ms: 0, command: "PRIVMSG".into(), source: "a!b@c".into(),
                account: None, tags: String::new(), params: vec![param],
            };
            if let Some(r) = record.to_record("#x") {
                proptest::prop_assert!(r.params.iter().all(|p| !p.contains(['\r', '\n', '\0'])));
            }
            let _ = serde_json::from_slice::<ChannelEvent>(&raw);
            let _ = serde_json::from_slice::<Presence>(&raw);
            let _ = serde_json::from_slice::<Snapshot>(&raw);
        }
    }

    #[test]
    fn malformed_lines_are_refused() {
        let mut line = WireLine::of(&outgoing("hola"));
        line.body = "PRIVMSG #a :x\r\nQUIT\r\n".to_owned();
        assert!(line.to_outgoing().is_none());
        let mut line = WireLine::of(&outgoing("hola"));
        line.msgid = Some("a b".to_owned());
        assert!(line.to_outgoing().is_none());
        let payload = WirePayload {
            line: WireLine::of(&outgoing("hola")),
            cap: Some("no-such-cap".to_owned()),
            fallback: None,
        };
        assert!(payload.to_payload().is_none());
    }
}
