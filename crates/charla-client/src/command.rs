//! [`Command`]: what the app asks the connection to do.

use crate::state::BufferId;

/// One request from the app to a server's connection task. Send it with
/// [`ClientHandle::send`](crate::ClientHandle::send), which never blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A raw line the user typed in `buffer`: plain text (a message to the buffer's channel or
    /// query) or a `/command`. Parsed by [`input::parse`](crate::input::parse); mistakes become
    /// error lines in that buffer.
    Input {
        /// The buffer the user typed in.
        buffer: BufferId,
        /// What they typed.
        text: String,
    },
    /// Join channels (comma-separated names allowed), with an optional key.
    Join {
        /// The channel, or channels separated by commas.
        channel: String,
        /// The channel key, if it has one.
        key: Option<String>,
    },
    /// Leave a channel; its buffer closes.
    Part {
        /// The channel.
        channel: String,
        /// Why, shown to the others.
        reason: Option<String>,
    },
    /// Send a message to a channel or nick (opens the query buffer for a nick).
    Privmsg {
        /// A channel or a nick.
        target: String,
        /// The text; long text is split into several messages.
        text: String,
    },
    /// Answer a message (`+draft/reply`, <https://ircv3.net/specs/client-tags/reply>): a
    /// PRIVMSG to `target` that names the message it answers, so that clients show it as a
    /// reply. Without `message-tags` on the connection the tag cannot pass, and the text goes
    /// as a plain message.
    Reply {
        /// A channel or a nick.
        target: String,
        /// The `msgid` of the message answered.
        msgid: String,
        /// The text; long text is split into several messages, each naming the message.
        text: String,
    },
    /// React to a message with an emoji (`TAGMSG` with `+draft/reply` and `+draft/react`,
    /// <https://ircv3.net/specs/client-tags/react>), or take the reaction back (`remove`:
    /// `+draft/unreact`). Needs `message-tags`; without it, an error line says so.
    React {
        /// A channel or a nick.
        target: String,
        /// The `msgid` of the message reacted to.
        msgid: String,
        /// The reaction: an emoji, usually.
        emoji: String,
        /// Take our reaction back instead.
        remove: bool,
    },
    /// Send a CTCP ACTION (`/me`).
    Action {
        /// A channel or a nick.
        target: String,
        /// What we do.
        text: String,
    },
    /// Send a NOTICE.
    Notice {
        /// A channel or a nick.
        target: String,
        /// The text.
        text: String,
    },
    /// Open (or focus) a private conversation with `nick`, without sending anything.
    OpenQuery {
        /// Who with.
        nick: String,
    },
    /// Close a buffer: parts a channel, forgets a query. The server buffer cannot be closed.
    CloseBuffer {
        /// Which.
        buffer: BufferId,
    },
    /// Tell `target` we are (or stopped) typing (`+typing` client tag, when the server has
    /// `message-tags`). Repeated `Active` are throttled to one per 3 s.
    Typing {
        /// A channel or a nick.
        target: String,
        /// Active, paused or done.
        state: TypingState,
    },
    /// Change our nick.
    Nick {
        /// The new nick.
        nick: String,
    },
    /// Show (with `None`) or set a channel's topic.
    Topic {
        /// The channel.
        channel: String,
        /// The new topic; `None` asks for the current one.
        topic: Option<String>,
    },
    /// Mark ourselves away with a message, or back with `None`.
    Away {
        /// The away message.
        message: Option<String>,
    },
    /// Kick someone from a channel (needs operator status there).
    Kick {
        /// The channel.
        channel: String,
        /// Who.
        nick: String,
        /// Why.
        reason: Option<String>,
    },
    /// Load the latest lines of a channel or private conversation from the server's history
    /// (`CHATHISTORY LATEST`, at most 100 or the server's limit), answered by
    /// [`Event::HistoryLoaded`](crate::Event::HistoryLoaded). The client does it by itself on
    /// joining a channel, opening a private conversation and reconnecting. Private
    /// conversations need an account.
    LoadLatest {
        /// A channel or a nick.
        target: String,
    },
    /// Load lines older than the oldest loaded of a conversation (`CHATHISTORY BEFORE` its
    /// oldest `msgid`), for scrolling back. Ignored while such a request is out.
    LoadOlder {
        /// A channel or a nick.
        target: String,
    },
    /// Ask which conversations had activity in the last `days` days (`CHATHISTORY TARGETS`):
    /// private ones come back as buffers, with their latest lines. The client does it by itself
    /// after connecting with an account (30 days).
    ListTargets {
        /// How far back.
        days: u32,
    },
    /// Tell the server the user has read `target` up to `time` (`MARKREAD`, with
    /// `draft/read-marker` and an account), so the account's other clients know. Never
    /// backwards: a time not after the buffer's read marker is not sent.
    MarkRead {
        /// A channel or a nick.
        target: String,
        /// The time of the newest line read (from the server: a line's `time`).
        time: chrono::DateTime<chrono::Utc>,
    },
    /// Search the server's history (`SEARCH`, with `soju.im/search`) for lines holding every
    /// word of `text` (whole words, without case or accents), in one conversation or in every
    /// one we may read. Answered by [`Event::SearchResults`](crate::Event::SearchResults), also
    /// when the server cannot search or refuses (with an error, no lines).
    Search {
        /// The words.
        text: String,
        /// Only this channel or nick; `None`: everywhere.
        target: Option<String>,
    },
    /// Delete a message (`REDACT`, `draft/message-redaction`): our own, or anyone's in a
    /// channel we operate. The server says yes by relaying the REDACT back (the line then
    /// shows as deleted), or no with a `FAIL REDACT` shown as an error.
    Redact {
        /// The channel or nick the message was sent to (for a message to us, its sender).
        target: String,
        /// The message's `msgid`.
        msgid: String,
        /// Why, shown to the others; none by default (the spec asks for no default reason).
        reason: Option<String>,
    },
    /// Send a line as it is (`/raw`). It is cut at CR/LF so it stays one line.
    Raw {
        /// The line, without CR LF.
        line: String,
    },
    /// Trust the certificate with this fingerprint for this server (after
    /// [`Event::CertificateUnknown`](crate::Event::CertificateUnknown) or
    /// [`Event::CertificateChanged`](crate::Event::CertificateChanged)): pin it and reconnect.
    TrustCertificate {
        /// The fingerprint the user was shown (as [`Fingerprint`](crate::Fingerprint) prints it).
        fingerprint: String,
    },
    /// Register an account (IRCv3 `draft/account-registration`), when the server offers it:
    /// `REGISTER <account|*> <email|*> <password>`. The answer comes as
    /// [`Event::AccountRegistration`](crate::Event::AccountRegistration). Sent once registered
    /// (servers may refuse it before).
    RegisterAccount {
        /// The account name; `None` registers the current nick (`*`).
        account: Option<String>,
        /// An e-mail address, if the server wants one.
        email: Option<String>,
        /// The password.
        password: String,
    },
    /// Complete a registration that needs verification (`VERIFY <account> <code>`), with the
    /// code the server sent (usually by e-mail).
    VerifyAccount {
        /// The account name.
        account: String,
        /// The code.
        code: String,
    },
    /// Reconnect now (skipping the back-off wait), or after a [`Command::Disconnect`].
    Reconnect,
    /// Quit and stay disconnected (no automatic reconnect) until [`Command::Reconnect`].
    Disconnect {
        /// The quit message.
        reason: Option<String>,
    },
    /// Quit and end the connection task for good.
    Quit {
        /// The quit message.
        reason: Option<String>,
    },
}

/// A typing notification's state (<https://ircv3.net/specs/client-tags/typing>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypingState {
    /// Typing now.
    Active,
    /// Typed something, stopped for a while, not sent.
    Paused,
    /// Cleared the input or sent it.
    Done,
}

impl TypingState {
    /// The tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            TypingState::Active => "active",
            TypingState::Paused => "paused",
            TypingState::Done => "done",
        }
    }

    /// Parses a tag value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(TypingState::Active),
            "paused" => Some(TypingState::Paused),
            "done" => Some(TypingState::Done),
            _ => None,
        }
    }
}
