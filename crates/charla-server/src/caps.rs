//! IRCv3 capabilities this server offers (<https://ircv3.net/specs/extensions/capability-negotiation>).
//!
//! Only capabilities that really work are listed; each has a test. A client's enabled set is a
//! bit set in an atomic, so that fan-out can pick a line variant without taking a lock.

use crate::config::Registration;
use crate::state::State;

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
    /// `sasl`: AUTHENTICATE before (and after) registration, with PLAIN, SCRAM-SHA-256 and
    /// EXTERNAL (<https://ircv3.net/specs/extensions/sasl-3.2>).
    Sasl,
    /// `account-notify`: ACCOUNT lines when a channel peer logs in or out.
    AccountNotify,
    /// `account-tag`: an `account` tag on lines from logged-in users.
    AccountTag,
    /// `chghost`: CHGHOST when a peer's user or host changes (logging in sets the user name to
    /// the account's).
    Chghost,
    /// `draft/account-registration`: REGISTER and VERIFY, also before registration.
    AccountRegistration,
    /// `batch`: related lines come wrapped in `BATCH +id type` … `BATCH -id`
    /// (<https://ircv3.net/specs/extensions/batch>).
    Batch,
    /// `labeled-response`: a command's replies carry the `label` it was sent with (in a
    /// `labeled-response` batch when there are several; `ACK` when there are none)
    /// (<https://ircv3.net/specs/extensions/labeled-response>).
    LabeledResponse,
    /// `draft/chathistory`: CHATHISTORY gives back what was said
    /// (<https://ircv3.net/specs/extensions/chathistory>).
    ChatHistory,
    /// `draft/event-playback`: history holds joins, parts, quits, kicks, nick and topic
    /// changes too (<https://ircv3.net/specs/extensions/chathistory>).
    EventPlayback,
    /// `draft/read-marker`: MARKREAD keeps where an account has read each conversation up to,
    /// for all its clients (<https://ircv3.net/specs/extensions/read-marker>).
    ReadMarker,
    /// `soju.im/search`: SEARCH finds past messages by their words (as soju offers it).
    Search,
    /// `extended-monitor`: MONITOR also brings the AWAY, ACCOUNT, CHGHOST and SETNAME lines of
    /// the users followed (<https://ircv3.net/specs/extensions/extended-monitor>).
    ExtendedMonitor,
    /// `draft/no-implicit-names`: JOIN is not followed by NAMES
    /// (<https://ircv3.net/specs/extensions/no-implicit-names>).
    NoImplicitNames,
    /// `draft/pre-away`: AWAY before registration too, and `AWAY *` for "not here, for no
    /// particular reason" (<https://ircv3.net/specs/extensions/pre-away>).
    PreAway,
    /// `draft/multiline`: messages of several lines sent and received as one batch
    /// (<https://ircv3.net/specs/extensions/multiline>).
    Multiline,
    /// `draft/metadata-2`: key/value data on users and channels (display names, avatars)
    /// (<https://ircv3.net/specs/extensions/metadata>).
    Metadata,
    /// `draft/message-redaction`: REDACT deletes a message, and is relayed to the
    /// conversation's clients that have the capability
    /// (<https://ircv3.net/specs/extensions/message-redaction>). Offered with history only: a
    /// message must be in history for the server to know who sent it.
    MessageRedaction,
    /// `draft/channel-rename`: RENAME lines when a channel is renamed; without it, a PART of
    /// the old name and a JOIN of the new (<https://ircv3.net/specs/extensions/channel-rename>).
    ChannelRename,
    /// `sts`: the Strict Transport Security policy, in the value only ([`crate::sts`]). Listed
    /// to `CAP LS 302` clients only, since its value is required. Clients must not request
    /// it; one that does gets an ACK that changes nothing, as ergo does (the spec allows a NAK
    /// or that).
    Sts,
}

impl Cap {
    /// Every capability, in the order CAP LS lists them.
    pub const ALL: [Cap; 29] = [
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
        Cap::Sasl,
        Cap::AccountNotify,
        Cap::AccountTag,
        Cap::Chghost,
        Cap::AccountRegistration,
        Cap::Batch,
        Cap::LabeledResponse,
        Cap::ChatHistory,
        Cap::EventPlayback,
        Cap::ReadMarker,
        Cap::Search,
        Cap::ExtendedMonitor,
        Cap::NoImplicitNames,
        Cap::PreAway,
        Cap::Multiline,
        Cap::MessageRedaction,
        Cap::ChannelRename,
        Cap::Sts,
        Cap::Metadata,
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
            Cap::Sasl => "sasl",
            Cap::AccountNotify => "account-notify",
            Cap::AccountTag => "account-tag",
            Cap::Chghost => "chghost",
            Cap::AccountRegistration => "draft/account-registration",
            Cap::Batch => "batch",
            Cap::LabeledResponse => "labeled-response",
            Cap::ChatHistory => "draft/chathistory",
            Cap::EventPlayback => "draft/event-playback",
            Cap::ReadMarker => "draft/read-marker",
            Cap::Search => "soju.im/search",
            Cap::ExtendedMonitor => "extended-monitor",
            Cap::NoImplicitNames => "draft/no-implicit-names",
            Cap::PreAway => "draft/pre-away",
            Cap::Multiline => "draft/multiline",
            Cap::Metadata => "draft/metadata-2",
            Cap::MessageRedaction => "draft/message-redaction",
            Cap::ChannelRename => "draft/channel-rename",
            Cap::Sts => "sts",
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

/// The SASL mechanisms offered, in the order a client should prefer them.
pub const SASL_MECHANISMS: &str = "SCRAM-SHA-256,PLAIN,EXTERNAL";

/// Whether the server offers `cap` (account registration only when someone may register, STS
/// only with a policy).
pub fn offered(state: &State, cap: Cap) -> bool {
    let config = &state.config;
    match cap {
        Cap::AccountRegistration => config.accounts.registration != Registration::Closed,
        Cap::ChatHistory
        | Cap::EventPlayback
        | Cap::ReadMarker
        | Cap::Search
        | Cap::MessageRedaction => config.history.enabled,
        Cap::Sts => state.sts.is_some(),
        _ => true,
    }
}

/// The value `cap` shows in `CAP LS 302` to a client on a connection that is `secure` or not,
/// if any.
pub fn value(state: &State, cap: Cap, secure: bool) -> Option<String> {
    let config = &state.config;
    match cap {
        Cap::Sasl => Some(SASL_MECHANISMS.to_owned()),
        // Before registration only when that cannot skip the connection password
        // (https://ircv3.net/specs/extensions/account-registration, server considerations).
        Cap::AccountRegistration if config.password.is_none() => {
            Some("before-connect,custom-accountname".to_owned())
        }
        Cap::AccountRegistration => Some("custom-accountname".to_owned()),
        Cap::Multiline => Some(format!(
            "max-bytes={},max-lines={}",
            config.limits.multiline_max_bytes, config.limits.multiline_max_lines
        )),
        Cap::Metadata => Some(crate::command::metadata::cap_value()),
        Cap::Sts => state.sts.as_ref().map(|policy| policy.value(secure)),
        _ => None,
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
        assert_eq!(Cap::from_name("sasl"), Some(Cap::Sasl));
        assert_eq!(Cap::from_name("sasl=PLAIN"), None);
    }
}
