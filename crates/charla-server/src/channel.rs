//! A channel: its members with their prefixes, topic, modes and lists.
//!
//! Each channel has its own mutex. Fan-out to the members happens while that lock is held, so
//! every member sees the channel's lines in one order; pushes never block, so the lock is held
//! only for the time of N queue pushes. Lock order: the global channel map, then a channel,
//! then a member's `info` lock, then its send queue. Never hold a channel lock across `.await`.

use std::sync::Arc;
use std::time::SystemTime;

use charla_proto::casemap::casefold;
use parking_lot::Mutex;

use crate::client::{Client, ConnectionId};
use crate::mask::Mask;
use crate::outbound::Outgoing;

/// One member of a channel.
#[derive(Debug, Clone)]
pub struct Member {
    /// The client.
    pub client: Arc<Client>,
    /// Channel operator (`+o`, prefix `@`).
    pub op: bool,
    /// Voice (`+v`, prefix `+`).
    pub voice: bool,
}

impl Member {
    /// The prefixes to show: all of them (`multi-prefix`) or the highest only.
    pub fn prefixes(&self, all: bool) -> &'static str {
        match (self.op, self.voice, all) {
            (true, true, true) => "@+",
            (true, _, _) => "@",
            (false, true, _) => "+",
            (false, false, _) => "",
        }
    }
}

/// A channel's topic.
#[derive(Debug, Clone)]
pub struct Topic {
    /// The text.
    pub text: String,
    /// Who set it (a nick).
    pub set_by: String,
    /// When.
    pub set_at: SystemTime,
}

/// An entry of a ban, exception or invite-exception list.
#[derive(Debug, Clone)]
pub struct ListEntry {
    /// The normalized mask.
    pub mask: String,
    /// The mask, compiled for matching.
    pub compiled: Mask,
    /// Who set it.
    pub set_by: String,
    /// When.
    pub set_at: SystemTime,
}

/// The channel modes without list modes (<https://modern.ircdocs.horse/#channel-modes>).
#[derive(Debug, Clone, Default)]
pub struct ChannelModes {
    /// `+n`: no messages from outside.
    pub no_external: bool,
    /// `+t`: only operators change the topic.
    pub topic_lock: bool,
    /// `+m`: only voiced members and operators speak.
    pub moderated: bool,
    /// `+i`: join by invitation only.
    pub invite_only: bool,
    /// `+s`: hidden from LIST and WHOIS of outsiders.
    pub secret: bool,
    /// `+k`: the key.
    pub key: Option<String>,
    /// `+l`: the member limit.
    pub limit: Option<usize>,
}

impl ChannelModes {
    /// The mode string and its parameters, e.g. `("+ntkl", ["key", "10"])`. The key is shown
    /// only to members.
    pub fn to_mode_string(&self, show_key: bool) -> (String, Vec<String>) {
        let mut s = String::from("+");
        let mut params = Vec::new();
        for (on, c) in [
            (self.invite_only, 'i'),
            (self.moderated, 'm'),
            (self.no_external, 'n'),
            (self.secret, 's'),
            (self.topic_lock, 't'),
        ] {
            if on {
                s.push(c);
            }
        }
        if let Some(key) = &self.key {
            s.push('k');
            params.push(if show_key {
                key.clone()
            } else {
                "*".to_owned()
            });
        }
        if let Some(limit) = self.limit {
            s.push('l');
            params.push(limit.to_string());
        }
        (s, params)
    }
}

/// What is behind a channel's lock.
#[derive(Debug, Default)]
pub struct ChannelState {
    /// The members, in join order.
    pub members: Vec<Member>,
    /// The topic, if set.
    pub topic: Option<Topic>,
    /// The modes.
    pub modes: ChannelModes,
    /// `+b` masks.
    pub bans: Vec<ListEntry>,
    /// `+e` masks (exceptions to bans).
    pub excepts: Vec<ListEntry>,
    /// `+I` masks (may join a `+i` channel).
    pub invex: Vec<ListEntry>,
    /// Clients invited with INVITE, cleared when they join.
    pub invited: Vec<ConnectionId>,
    /// The channel was removed from the server's map; a joiner holding it must look again.
    pub dead: bool,
}

/// A channel.
#[derive(Debug)]
pub struct Channel {
    /// The name as its creator wrote it.
    pub name: String,
    /// When it was created.
    pub created: SystemTime,
    /// Members, topic, modes.
    pub state: Mutex<ChannelState>,
}

impl Channel {
    /// A new, empty channel with the default modes `+nt`.
    pub fn new(name: &str) -> Self {
        Channel {
            name: name.to_owned(),
            created: SystemTime::now(),
            state: Mutex::new(ChannelState {
                modes: ChannelModes {
                    no_external: true,
                    topic_lock: true,
                    ..ChannelModes::default()
                },
                ..ChannelState::default()
            }),
        }
    }
}

impl ChannelState {
    /// The member with id `id`.
    pub fn member(&self, id: ConnectionId) -> Option<&Member> {
        self.members.iter().find(|m| m.client.id == id)
    }

    /// The member with id `id`, mutable.
    pub fn member_mut(&mut self, id: ConnectionId) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.client.id == id)
    }

    /// Removes the member with id `id`; returns whether it was there.
    pub fn remove(&mut self, id: ConnectionId) -> bool {
        match self.members.iter().position(|m| m.client.id == id) {
            Some(i) => {
                self.members.remove(i);
                true
            }
            None => false,
        }
    }

    /// Pushes `out` to every member except `except`, each in the variant its capabilities ask.
    /// Called with the lock held: that is what gives every member the same order.
    pub fn broadcast(&self, out: &Outgoing, except: Option<ConnectionId>) {
        for m in &self.members {
            if Some(m.client.id) != except {
                // A full queue closes itself; its own task ends that session.
                let _ = m.client.queue.push(out.for_caps(m.client.caps()));
            }
        }
    }

    /// Like [`broadcast`](Self::broadcast), to the members `keep` accepts.
    pub fn broadcast_if(&self, out: &Outgoing, keep: impl Fn(&Member) -> bool) {
        for m in self.members.iter().filter(|m| keep(m)) {
            let _ = m.client.queue.push(out.for_caps(m.client.caps()));
        }
    }

    /// Whether `source` (`nick!user@host`) is banned and not excepted.
    pub fn is_banned(&self, source: &str) -> bool {
        if self.bans.is_empty() {
            return false;
        }
        let source = casefold(source);
        self.bans.iter().any(|b| b.compiled.matches_folded(&source))
            && !self
                .excepts
                .iter()
                .any(|e| e.compiled.matches_folded(&source))
    }

    /// Whether `source` matches an invite exception.
    pub fn is_invex(&self, source: &str) -> bool {
        let source = casefold(source);
        self.invex
            .iter()
            .any(|e| e.compiled.matches_folded(&source))
    }
}
