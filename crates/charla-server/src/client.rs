//! One connected client as the shared state sees it: its identity, modes, channels and the
//! handle of its send queue.
//!
//! The connection task owns the session; everybody else reaches a client through an
//! `Arc<Client>`: [`crate::deliver`] pushes lines into its [`SendQueue`], and others read its
//! [`ClientInfo`] (the lock order is in [`crate::state`]).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Instant, SystemTime};

use parking_lot::RwLock;

use crate::caps::{Cap, CapSet};
use crate::channel::Channel;
use crate::listener::IpGuard;
use crate::sendq::SendQueue;

/// A connection's identity, unique for the life of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How a client reached the server, and what its transport proves about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Plain TCP (or an in-process stream).
    Plain,
    /// TLS, with the SHA-256 fingerprint of the client certificate it offered, if any
    /// (lower-case hex, [`crate::tls::certfp`]).
    Tls {
        /// The client certificate's fingerprint.
        certfp: Option<Box<str>>,
    },
    /// A WebSocket (`/socket` of the HTTP listener, [`crate::http::websocket`]); `secure` when
    /// that listener speaks HTTPS.
    WebSocket {
        /// The HTTP listener speaks TLS.
        secure: bool,
    },
}

impl Transport {
    /// Whether the connection is encrypted (WHOIS 671, passwords allowed).
    pub fn is_secure(&self) -> bool {
        matches!(
            self,
            Transport::Tls { .. } | Transport::WebSocket { secure: true }
        )
    }

    /// The client certificate's fingerprint, if one was offered.
    pub fn certfp(&self) -> Option<&str> {
        match self {
            Transport::Tls { certfp } => certfp.as_deref(),
            Transport::Plain | Transport::WebSocket { .. } => None,
        }
    }
}

/// A client's user modes (<https://modern.ircdocs.horse/#user-modes>).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserModes {
    /// `+i`: hidden from WHO/NAMES of people who share no channel with it.
    pub invisible: bool,
    /// `+o`: an IRC operator (set by OPER only).
    pub oper: bool,
    /// `+w`: receives WALLOPS.
    pub wallops: bool,
    /// `+B`: a bot (<https://ircv3.net/specs/extensions/bot-mode>): its lines carry the `bot`
    /// tag, WHOIS says 335, WHO shows `B`.
    pub bot: bool,
}

impl UserModes {
    /// The mode string, e.g. `+iw`.
    pub fn to_mode_string(self) -> String {
        let mut s = String::from("+");
        if self.bot {
            s.push('B');
        }
        if self.invisible {
            s.push('i');
        }
        if self.oper {
            s.push('o');
        }
        if self.wallops {
            s.push('w');
        }
        s
    }
}

/// What may change about a client; behind the client's `info` lock.
#[derive(Debug)]
pub struct ClientInfo {
    /// The nick (`*` until NICK).
    pub nick: String,
    /// The user name from USER (`~`-prefixed: we run no ident lookup).
    pub user: String,
    /// The real name from USER or SETNAME.
    pub realname: String,
    /// Whether registration finished.
    pub registered: bool,
    /// The user modes.
    pub modes: UserModes,
    /// The away message, if away.
    pub away: Option<String>,
    /// The operator account name after a successful OPER.
    pub oper_name: Option<String>,
    /// The account it is logged into (its name as registered), if any.
    pub account: Option<String>,
    /// The channels it is in.
    pub channels: Vec<Arc<Channel>>,
    /// The channels that invited it, oldest first, for `INVITE` without parameters: an index
    /// only, the invitation itself is the channel's (it may have been forgotten there).
    pub invites: Vec<Weak<Channel>>,
    /// When it last sent a PRIVMSG/NOTICE (WHOIS idle time).
    pub last_message: Instant,
    /// Its `draft/metadata-2` keys and subscriptions, if it has any.
    pub metadata: Option<Box<crate::command::metadata::UserMetadata>>,
}

/// One client.
#[derive(Debug)]
pub struct Client {
    /// Its id.
    pub id: ConnectionId,
    /// Where it connected from.
    pub addr: SocketAddr,
    /// Its host as shown in `nick!user@host` (the IP address; we do no reverse DNS).
    pub host: String,
    /// When it connected.
    pub connected_since: SystemTime,
    /// How it connected.
    pub transport: Transport,
    /// Its outgoing lines.
    pub queue: SendQueue,
    /// The WEBIRC gateway it came through, if any (boxed: most clients have none).
    pub gateway: Option<Box<Gateway>>,
    caps: AtomicU32,
    /// The mutable part.
    pub info: RwLock<ClientInfo>,
}

/// The WEBIRC gateway a client came through (<https://ircv3.net/specs/extensions/webirc>).
#[derive(Debug)]
pub struct Gateway {
    /// The gateway's configured name.
    pub name: Box<str>,
    /// The gateway's own address (the client's `addr` is the user's).
    pub addr: SocketAddr,
    /// The user's place under the per-IP limits, held as long as the client.
    pub ip_slot: Option<IpGuard>,
}

/// The host form of an IP address: IPv6 addresses starting with `:` get a leading `0` so that
/// the host never reads as a trailing parameter.
pub fn host_of(ip: IpAddr) -> String {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    let s = ip.to_string();
    if s.starts_with(':') {
        format!("0{s}")
    } else {
        s
    }
}

impl Client {
    /// A new, unregistered client.
    pub fn new(id: ConnectionId, addr: SocketAddr, transport: Transport, queue: SendQueue) -> Self {
        Client {
            id,
            addr,
            host: host_of(addr.ip()),
            connected_since: SystemTime::now(),
            transport,
            queue,
            gateway: None,
            caps: AtomicU32::new(0),
            info: RwLock::new(ClientInfo {
                nick: "*".to_owned(),
                user: String::new(),
                realname: String::new(),
                registered: false,
                modes: UserModes::default(),
                away: None,
                oper_name: None,
                account: None,
                channels: Vec::new(),
                invites: Vec::new(),
                last_message: Instant::now(),
                metadata: None,
            }),
        }
    }

    /// The enabled capabilities.
    pub fn caps(&self) -> CapSet {
        CapSet(self.caps.load(Ordering::Relaxed))
    }

    /// Whether `cap` is enabled.
    pub fn has_cap(&self, cap: Cap) -> bool {
        self.caps().has(cap)
    }

    /// Replaces the enabled capabilities.
    pub fn set_caps(&self, caps: CapSet) {
        self.caps.store(caps.0, Ordering::Relaxed);
    }

    /// The current nick.
    pub fn nick(&self) -> String {
        self.info.read().nick.clone()
    }

    /// `nick!user@host`, the source of its messages.
    pub fn source(&self) -> String {
        let info = self.info.read();
        format!("{}!{}@{}", info.nick, info.user, self.host)
    }

    /// Whether it is an IRC operator.
    pub fn is_oper(&self) -> bool {
        self.info.read().modes.oper
    }
}

impl ClientInfo {
    /// `nick!user@host` given the client's host.
    pub fn source(&self, host: &str) -> String {
        format!("{}!{}@{}", self.nick, self.user, host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_never_start_with_a_colon() {
        assert_eq!(host_of("::1".parse().expect("ip")), "0::1");
        assert_eq!(host_of("::ffff:10.0.0.1".parse().expect("ip")), "10.0.0.1");
        assert_eq!(host_of("127.0.0.1".parse().expect("ip")), "127.0.0.1");
    }

    #[test]
    fn mode_strings() {
        let m = UserModes {
            invisible: true,
            oper: false,
            wallops: true,
            bot: false,
        };
        assert_eq!(m.to_mode_string(), "+iw");
        let bot = UserModes { bot: true, ..m };
        assert_eq!(bot.to_mode_string(), "+Biw");
    }
}
