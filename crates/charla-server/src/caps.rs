//! IRCv3 capabilities this server offers (<https://ircv3.net/specs/extensions/capability-negotiation>).
//!
//! Only capabilities that really work are listed; each has a test. A client's enabled set is a
//! bit set in an atomic, so that fan-out can pick a line variant without taking a lock.

/// One capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// `cap-notify`: CAP NEW/DEL (always on for 302 clients; we never change the set at run time).
    CapNotify,
    /// `multi-prefix`: every prefix of a member in NAMES and WHO, not only the highest.
    MultiPrefix,
    /// `server-time`: a `time` tag on relayed messages.
    ServerTime,
    /// `message-tags`: client-only tags (`+key`) are relayed, and TAGMSG works.
    MessageTags,
    /// `echo-message`: a sender gets its own PRIVMSG/NOTICE/TAGMSG back.
    EchoMessage,
    /// `away-notify`: AWAY changes of channel peers are sent as AWAY lines.
    AwayNotify,
    /// `extended-join`: JOIN carries the account (`*`) and real name.
    ExtendedJoin,
    /// `userhost-in-names`: NAMES lists `nick!user@host`.
    UserhostInNames,
    /// `invite-notify`: channel operators see INVITEs sent to their channel.
    InviteNotify,
    /// `setname`: SETNAME changes the real name and peers are told.
    Setname,
}

impl Cap {
    /// Every capability, in the order CAP LS lists them.
    pub const ALL: [Cap; 10] = [
        Cap::CapNotify,
        Cap::MultiPrefix,
        Cap::ServerTime,
        Cap::MessageTags,
        Cap::EchoMessage,
        Cap::AwayNotify,
        Cap::ExtendedJoin,
        Cap::UserhostInNames,
        Cap::InviteNotify,
        Cap::Setname,
    ];

    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Cap::CapNotify => "cap-notify",
            Cap::MultiPrefix => "multi-prefix",
            Cap::ServerTime => "server-time",
            Cap::MessageTags => "message-tags",
            Cap::EchoMessage => "echo-message",
            Cap::AwayNotify => "away-notify",
            Cap::ExtendedJoin => "extended-join",
            Cap::UserhostInNames => "userhost-in-names",
            Cap::InviteNotify => "invite-notify",
            Cap::Setname => "setname",
        }
    }

    /// The capability named `name`, if we offer it.
    pub fn from_name(name: &str) -> Option<Cap> {
        Cap::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Its bit in a [`CapSet`].
    pub fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of capabilities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSet(pub u32);

impl CapSet {
    /// Whether `cap` is in the set.
    pub fn has(self, cap: Cap) -> bool {
        self.0 & cap.bit() != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Cap::ALL {
            assert_eq!(Cap::from_name(c.name()), Some(c));
        }
        assert_eq!(Cap::from_name("sasl"), None);
    }
}
