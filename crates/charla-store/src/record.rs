//! The records a store keeps, and the writes that change them.
//!
//! Plain data: no behaviour beyond conversions, no knowledge of IRC beyond field names. Keys
//! (`key`, `founder`, `account`, `target`, `owner`) are names already case-folded by the caller;
//! the store compares them byte for byte. Times are Unix milliseconds (`i64`). History's records
//! are in [`crate::history`]; the writes that change them are here, with the others.

use std::fmt;

use crate::file::FileRecord;
use crate::history::HistoryRecord;

/// A registered account.
///
/// `Debug` leaves out the password hash and the SCRAM keys: they are what an attacker would
/// crack or replay, and records end up in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// The case-folded account name: the key the store compares.
    pub key: String,
    /// The name as it was registered (for display).
    pub name: String,
    /// The password as a PHC string (Argon2id), never the password.
    pub password_hash: String,
    /// SCRAM-SHA-256 credentials, when the account can use SASL SCRAM.
    pub scram: Option<ScramRecord>,
    /// When the account was registered (Unix milliseconds).
    pub created_at: i64,
    /// Whether the account's e-mail address (or an operator) verified it.
    pub verified: bool,
    /// The e-mail address given at registration.
    pub email: Option<String>,
    /// Whether the account stays present when its last connection leaves (always-on), if
    /// its owner chose; `None` follows the server's default.
    pub always_on: Option<bool>,
}

impl fmt::Debug for AccountRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountRecord")
            .field("key", &self.key)
            .field("name", &self.name)
            .field("password_hash", &"<hidden>")
            .field("scram", &self.scram)
            .field("created_at", &self.created_at)
            .field("verified", &self.verified)
            .field("always_on", &self.always_on)
            .field("email", &self.email)
            .finish()
    }
}

/// SCRAM-SHA-256 credentials of an account (RFC 5802 section 3, RFC 7677): what the server
/// needs to check a client's proof, never the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramRecord {
    /// The salt given to `Hi()`.
    pub salt: Vec<u8>,
    /// The iteration count given to `Hi()`.
    pub iterations: u32,
    /// `StoredKey = H(ClientKey)`.
    pub stored_key: Vec<u8>,
    /// `ServerKey = HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl fmt::Debug for ScramRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramRecord")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// A registered channel and what persists of its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRecord {
    /// The case-folded channel name: the key the store compares.
    pub key: String,
    /// The name as it was registered (for display).
    pub name: String,
    /// The key of the founder's account. Dropping that account drops the channel.
    pub founder: String,
    /// When the channel was registered (Unix milliseconds).
    pub registered_at: i64,
    /// The kept topic, if any.
    pub topic: Option<TopicRecord>,
    /// Channel mode flag letters without parameters, e.g. `"nt"`.
    pub modes: String,
    /// The channel key (mode `k`), if set.
    pub mode_key: Option<String>,
    /// The member limit (mode `l`), if set.
    pub mode_limit: Option<u32>,
    /// Ban, exception and invite-exception entries, in the order they were given.
    pub lists: Vec<ListEntryRecord>,
    /// Access entries, one per account, ordered by account key (byte order) when read back.
    pub access: Vec<AccessRecord>,
}

/// An always-on user kept present with no connection, as the server brings it back when it
/// starts: its nick, the rest of its `nick!user@host`, its real name and its channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceRecord {
    /// The account's key.
    pub account: String,
    /// The nick it held.
    pub nick: String,
    /// Its user name.
    pub user: String,
    /// Its host as shown.
    pub host: String,
    /// Its real name.
    pub realname: String,
    /// The channels it was in, by name.
    pub channels: Vec<String>,
}

/// A channel topic and who set it when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRecord {
    /// The topic text.
    pub text: String,
    /// Who set it (a nick or a nick!user@host, as the server chose to keep it).
    pub set_by: String,
    /// When it was set (Unix milliseconds).
    pub set_at: i64,
}

/// One entry of a channel's mask lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntryRecord {
    /// The list's mode letter: `'b'` (ban), `'e'` (exception) or `'I'` (invite exception).
    pub mode: char,
    /// The mask.
    pub mask: String,
    /// Who set it.
    pub set_by: String,
    /// When it was set (Unix milliseconds).
    pub set_at: i64,
}

/// One account's access to a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRecord {
    /// The account's key.
    pub account: String,
    /// What the account gets on joining.
    pub level: AccessLevel,
}

/// What an access entry grants on joining.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccessLevel {
    /// Voice (`+v`).
    Voice,
    /// Channel operator (`+o`).
    Op,
}

impl AccessLevel {
    /// The text a store keeps for this level.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::Voice => "voice",
            AccessLevel::Op => "op",
        }
    }

    /// The level kept as `text`, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "voice" => Some(AccessLevel::Voice),
            "op" => Some(AccessLevel::Op),
            _ => None,
        }
    }
}

/// One change to a store, applied by [`crate::Store::apply`] with its own outcome.
///
/// A write that creates a key reports [`crate::Conflict::Exists`] before it checks what it refers
/// to; any other write reports [`crate::Conflict::NotFound`] when what it names is missing. A write
/// with a conflict changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Registers an account. `Exists` if the key is taken.
    CreateAccount(AccountRecord),
    /// Replaces an account's password hash and SCRAM credentials. `NotFound` if there is no
    /// such account.
    SetPassword {
        /// The account's key.
        account: String,
        /// The new PHC string.
        password_hash: String,
        /// The new SCRAM credentials (`None` removes them).
        scram: Option<ScramRecord>,
    },
    /// Marks an account verified. `NotFound` if there is no such account.
    SetVerified {
        /// The account's key.
        account: String,
    },
    /// Sets an account's always-on choice (`None`: the server's default). `NotFound` if there
    /// is no such account.
    SetAlwaysOn {
        /// The account's key.
        account: String,
        /// The choice.
        value: Option<bool>,
    },
    /// Keeps (or, with `None`, forgets) the presence of an always-on account: one per
    /// account, replaced by the next. Dropping the account drops it. Always `Ok`.
    SetPresence {
        /// The account's key.
        account: String,
        /// What to bring back at start.
        presence: Option<PresenceRecord>,
    },
    /// Drops an account with its certificates, its access entries in every channel, every
    /// channel it founded, its conversations and its read markers. `NotFound` if there is no
    /// such account.
    DropAccount {
        /// The account's key.
        account: String,
    },
    /// Binds a certificate fingerprint to an account. `Exists` if the fingerprint already
    /// belongs to any account (this one included); then `NotFound` if there is no such account.
    AddCert {
        /// The account's key.
        account: String,
        /// Lowercase hex SHA-256 of the certificate.
        fingerprint: String,
    },
    /// Unbinds a certificate fingerprint. `NotFound` unless it belongs to that account.
    DelCert {
        /// The account's key.
        account: String,
        /// Lowercase hex SHA-256 of the certificate.
        fingerprint: String,
    },
    /// Registers a channel. `Exists` if the key is taken; then `NotFound` if the founder or an
    /// account of the access list has no account. Access entries naming the same account more
    /// than once keep the last.
    RegisterChannel(ChannelRecord),
    /// Drops a registered channel with its topic, lists and access entries. `NotFound` if it is
    /// not registered.
    DropChannel {
        /// The channel's key.
        channel: String,
    },
    /// Sets (or with `None` clears) a channel's kept topic. `NotFound` if it is not registered.
    SetTopic {
        /// The channel's key.
        channel: String,
        /// The new topic.
        topic: Option<TopicRecord>,
    },
    /// Sets a channel's kept modes. `NotFound` if it is not registered.
    SetModes {
        /// The channel's key.
        channel: String,
        /// Mode flag letters without parameters.
        modes: String,
        /// The channel key (mode `k`).
        key: Option<String>,
        /// The member limit (mode `l`).
        limit: Option<u32>,
    },
    /// Replaces all of a channel's list entries. `NotFound` if it is not registered.
    SetLists {
        /// The channel's key.
        channel: String,
        /// The new entries, kept in this order.
        lists: Vec<ListEntryRecord>,
    },
    /// Sets an account's access to a channel, or with `None` removes it. `NotFound` if the
    /// channel is not registered, if the account does not exist (setting), or if there is no
    /// entry to remove (removing).
    SetAccess {
        /// The channel's key.
        channel: String,
        /// The account's key.
        account: String,
        /// The new level, `None` to remove the entry.
        level: Option<AccessLevel>,
    },
    /// Adds an entry to a conversation's history. Its `seq` is ignored: the store assigns the
    /// next one. A `time_ms` earlier than the target's newest entry's is raised to it: two
    /// lines timed in one order may reach the store in the other, and along `seq` a target's
    /// times must never go back, or a reader paging by time and then by msgid would skip one.
    /// `Exists` if an entry (of any target) has this msgid already.
    Append(HistoryRecord),
    /// Redacts a message (draft/message-redaction): the entry `msgid` of `redaction.target`,
    /// which must be a message (PRIVMSG, NOTICE, TAGMSG), is deleted — its text, tags and
    /// search index entry go for good, so that a redaction is a deletion — and `redaction`
    /// (the REDACT event that names it) is appended as [`Write::Append`] would. `NotFound` if
    /// `msgid` is not a message of that target (unknown, already redacted, an event, or of
    /// another target); `Exists` if the redaction's own msgid is taken. Either changes nothing.
    Redact {
        /// The msgid of the message to delete.
        msgid: String,
        /// The REDACT event to keep in its place; its `target` names the conversation.
        redaction: HistoryRecord,
    },
    /// Records that account `owner` has a private conversation keyed `target`, whose other party
    /// shows as `peer`. One row per (owner, target): its time only moves forward (an earlier
    /// `time_ms` keeps the stored one), its peer is the last one given. Always `Ok`.
    Converse {
        /// The account whose conversation this is.
        owner: String,
        /// The other party's name, as `CHATHISTORY TARGETS` shows it.
        peer: String,
        /// The conversation's key (as in [`HistoryRecord::target`]).
        target: String,
        /// When the conversation last saw activity (Unix milliseconds).
        time_ms: i64,
    },
    /// Stores an account's read marker for a conversation. It only moves forward: a time not
    /// later than the stored one changes nothing. Always `Ok`.
    SetReadMarker {
        /// The account's key.
        account: String,
        /// The conversation's key.
        target: String,
        /// The time read up to (Unix milliseconds).
        time_ms: i64,
    },
    /// Sets one metadata key of a target (`draft/metadata-2`), or removes it with `None`. The
    /// target is `a:<account key>` (a user's metadata, kept with the account) or
    /// `c:<channel key>` (a registered channel's); dropping the account or the channel drops
    /// its metadata. Always `Ok`.
    SetMetadata {
        /// `a:<account key>` or `c:<channel key>`.
        target: String,
        /// The key (lower case).
        key: String,
        /// The value, or `None` to remove the key.
        value: Option<String>,
    },
    /// Renames a channel (`draft/channel-rename`): everything kept under key `from` moves to
    /// key `to` — its registration if it is registered (the record with its topic, modes,
    /// lists and access entries, now named `name`), its history entries (merged in `seq`
    /// order with any entries `to` already has: those of an earlier channel of that name),
    /// and the conversations and read markers whose target is `from` (where an account has
    /// one for both keys, the later time stays). `Exists` if `from` is registered and `to` is
    /// another registered channel; nothing changes then. With `from == to` (a change of case)
    /// only the registration's name changes. Otherwise always `Ok`, even when nothing is kept
    /// under `from`, so that a second rename can sweep up entries appended under the old key
    /// meanwhile.
    RenameChannel {
        /// The channel's key until now.
        from: String,
        /// Its new key.
        to: String,
        /// Its new name, as written (a registration's `name`).
        name: String,
    },
    /// Retention: removes history entries of one target (or, with `None`, of every target of
    /// `kind` but those in `except`: the channels with rules of their own) that
    /// are older than `before_ms` (`time_ms < before_ms`), and those older (by `seq`) than the
    /// newest `keep_last` messages (PRIVMSG, NOTICE, TAGMSG) of their target: events between
    /// the kept messages stay, and do not count. With both, an entry goes when either says so;
    /// with neither, nothing goes. Conversations and read markers stay. Always `Ok`.
    PruneHistory {
        /// The one target to prune, or `None` for every target of `kind`.
        target: Option<String>,
        /// Which targets `None` prunes.
        kind: TargetKind,
        /// Targets that `None` leaves alone.
        except: Vec<String>,
        /// Entries older than this go (Unix milliseconds).
        before_ms: Option<i64>,
        /// The newest messages of each target to keep.
        keep_last: Option<u64>,
    },
    /// Records an uploaded file. `Exists` if its id is taken. The owner need not be an
    /// account any more (files outlive a dropped account until retention or an operator
    /// removes them).
    AddFile(FileRecord),
    /// Removes a file's record. `NotFound` if there is none with this id.
    DeleteFile {
        /// The file's id.
        id: String,
    },
}

/// Kinds of history targets, by their keys: a channel's starts with `#`, a private
/// conversation's never does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TargetKind {
    /// Every target.
    #[default]
    All,
    /// Channels only.
    Channels,
    /// Private conversations only.
    Private,
}

impl TargetKind {
    /// Whether target key `target` is of this kind.
    pub fn covers(self, target: &str) -> bool {
        match self {
            TargetKind::All => true,
            TargetKind::Channels => target.starts_with('#'),
            TargetKind::Private => !target.starts_with('#'),
        }
    }
}
