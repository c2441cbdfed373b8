//! A channel's lists (`+b` with its mutes, `+e`, `+I`) and the member lookups around them.

use std::time::SystemTime;

use charla_proto::casemap::casefold;

use super::{ChannelState, Member};
use crate::client::ConnectionId;
use crate::mask::{self, Mask};

/// An entry of a ban, exception or invite-exception list.
#[derive(Debug, Clone)]
pub struct ListEntry {
    /// The normalized mask, as listed (`~m:` included for a mute).
    pub mask: String,
    /// The `nick!user@host` mask, compiled for matching.
    pub compiled: Mask,
    /// A mute (`+b ~m:<mask>`): matching users may join and stay but not speak.
    pub mute: bool,
    /// Who set it.
    pub set_by: String,
    /// When.
    pub set_at: SystemTime,
}

impl ListEntry {
    /// The entry of list `mode` (`b`, `e` or `I`) for `arg` as MODE gives it: a partial mask is
    /// completed (`bob` becomes `bob!*@*`), and the ban list also takes mutes, `~m:<mask>`.
    /// `None`: not a mask this list takes (another extended ban, a space, too long).
    pub fn new(mode: char, arg: &str, set_by: &str, set_at: SystemTime) -> Option<ListEntry> {
        let (mute, rest) = match arg.strip_prefix("~m:") {
            Some(rest) if mode == 'b' => (true, rest),
            // No nick starts with `~`: it can only be an extended ban we do not have.
            _ if arg.starts_with('~') => return None,
            _ => (false, arg),
        };
        let mask = mask::normalize(rest);
        if mask.contains(' ') {
            return None;
        }
        let compiled = Mask::new(&mask).ok()?;
        Some(ListEntry {
            mask: if mute { format!("~m:{mask}") } else { mask },
            compiled,
            mute,
            set_by: set_by.to_owned(),
            set_at,
        })
    }
}

/// How the ban list holds someone back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ban {
    /// Banned: may neither join nor speak.
    Ban,
    /// Muted (`~m:`): may join and stay, but not speak.
    Mute,
}

impl ChannelState {
    /// The member with id `id`.
    pub fn member(&self, id: ConnectionId) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    /// The member with id `id`, mutable.
    pub fn member_mut(&mut self, id: ConnectionId) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    /// Removes the member with id `id`; returns whether it was there.
    pub fn remove(&mut self, id: ConnectionId) -> bool {
        match self.members.iter().position(|m| m.id == id) {
            Some(i) => {
                self.members.remove(i);
                true
            }
            None => false,
        }
    }

    /// Whether `source` (`nick!user@host`) is banned (mutes aside) and not excepted.
    pub fn is_banned(&self, source: &str) -> bool {
        self.ban_of(source) == Some(Ban::Ban)
    }

    /// What of the ban list holds `source` back, if anything: a ban wins over a mute, and an
    /// exception (`+e`) lifts both.
    pub fn ban_of(&self, source: &str) -> Option<Ban> {
        if self.bans.is_empty() {
            return None;
        }
        let source = casefold(source);
        let mut found = None;
        for b in &self.bans {
            if b.compiled.matches_folded(&source) {
                if !b.mute {
                    found = Some(Ban::Ban);
                    break;
                }
                found = Some(Ban::Mute);
            }
        }
        found.filter(|_| {
            !self
                .excepts
                .iter()
                .any(|e| e.compiled.matches_folded(&source))
        })
    }

    /// Whether `source` matches an invite exception.
    pub fn is_invex(&self, source: &str) -> bool {
        let source = casefold(source);
        self.invex
            .iter()
            .any(|e| e.compiled.matches_folded(&source))
    }
}
