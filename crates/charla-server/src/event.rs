//! Events for the operator's live log ([`crate::ServerHandle::subscribe`]).
//!
//! Sent on a `tokio::sync::broadcast` channel: the server never waits for a subscriber. A
//! subscriber that falls behind gets `RecvError::Lagged(n)` and should say that `n` events were
//! skipped — the server keeps going.

use std::net::SocketAddr;
use std::time::SystemTime;

use crate::client::ConnectionId;

/// PRIVMSG or NOTICE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A PRIVMSG.
    Privmsg,
    /// A NOTICE.
    Notice,
}

/// Something that happened on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A TCP (or in-process) connection was accepted.
    Connected {
        /// The connection.
        id: ConnectionId,
        /// Its peer address.
        addr: SocketAddr,
    },
    /// A connection finished registration and is now a user.
    Registered {
        /// The connection.
        id: ConnectionId,
        /// The nick.
        nick: String,
        /// The user name.
        user: String,
        /// Its peer address.
        addr: SocketAddr,
    },
    /// A connection ended.
    Disconnected {
        /// The connection.
        id: ConnectionId,
        /// The nick, if it had one.
        nick: Option<String>,
        /// Its peer address.
        addr: SocketAddr,
        /// Why (the QUIT message or the error).
        reason: String,
        /// The user stays: on its account's other connections, or kept present (always-on).
        stays: bool,
    },
    /// A user joined a channel.
    Joined {
        /// Who.
        nick: String,
        /// The channel.
        channel: String,
    },
    /// A user left a channel.
    Parted {
        /// Who.
        nick: String,
        /// The channel.
        channel: String,
        /// The part message.
        reason: Option<String>,
    },
    /// A user was kicked from a channel.
    Kicked {
        /// The channel.
        channel: String,
        /// Who was kicked.
        nick: String,
        /// Who kicked.
        by: String,
        /// Why.
        reason: String,
    },
    /// A user changed nick.
    NickChanged {
        /// The old nick.
        old: String,
        /// The new nick.
        new: String,
    },
    /// A PRIVMSG or NOTICE to a channel or a user (the server's own messages included).
    Message {
        /// The sender's nick (the server name for the server's own messages).
        from: String,
        /// The channel or nick it was sent to (`$*` for a server-wide notice).
        target: String,
        /// The text.
        text: String,
        /// PRIVMSG or NOTICE.
        kind: MessageKind,
    },
    /// A channel's topic changed.
    TopicChanged {
        /// The channel.
        channel: String,
        /// Who changed it.
        by: String,
        /// The new topic (empty when cleared).
        topic: String,
    },
    /// A channel was renamed (RENAME, `draft/channel-rename`).
    Renamed {
        /// Its name before.
        old: String,
        /// Its name now.
        new: String,
        /// Who renamed it.
        by: String,
    },
    /// A user became an IRC operator.
    Opered {
        /// The nick.
        nick: String,
        /// The operator account used.
        name: String,
    },
}

/// A snapshot of one registered user ([`crate::ServerHandle::users`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// The connection.
    pub id: ConnectionId,
    /// The nick.
    pub nick: String,
    /// The user name.
    pub user: String,
    /// The real name.
    pub realname: String,
    /// The host shown to others.
    pub host: String,
    /// The peer address.
    pub addr: SocketAddr,
    /// The channels, as named by their creators.
    pub channels: Vec<String>,
    /// When it connected.
    pub connected_since: SystemTime,
    /// Whether it is an IRC operator.
    pub oper: bool,
    /// Its away message, if away.
    pub away: Option<String>,
    /// Bytes of memory its waiting output holds (what `limits.sendq_bytes` bounds).
    pub sendq_bytes: usize,
}
