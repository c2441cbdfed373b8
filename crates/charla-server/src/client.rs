//! One connected client as the shared state sees it: its identity, modes, channels and the
//! handle of its send queue.
//!
//! The connection task owns the session; everybody else reaches a client through an
//! `Arc<Client>`: [`crate::deliver`] pushes lines into its [`SendQueue`], and others read its
//! [`ClientInfo`] (the lock order is in [`crate::state`]).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
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
    /// Its account's always-on choice (NickServ `SET ALWAYS-ON`), if it made one.
    pub always_on: Option<bool>,
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
    /// Whether `devices` holds anything: read on every delivery, so that a user with one
    /// connection (nearly all of them) never takes the lock.
    linked: AtomicBool,
    /// The user's other connections and the work they are asked to do ([`crate::devices`]).
    devices: RwLock<Option<Box<Devices>>>,
    /// A user of another node ([`crate::cluster`]): where it lives. Its queue is closed.
    pub remote: Option<Box<crate::cluster::RemoteUser>>,
}

/// Work a connection's session does for its user when it gets to it, between its own
/// commands: what another device's command means for this one (e.g. the topic and names of a
/// channel the user joined elsewhere).
pub type Mail = Box<dyn FnOnce(&mut crate::session::Session) -> crate::command::Flow + Send + Sync>;

/// A user's connections beyond its first, and its fate when they end (multiclient and
/// always-on, [`crate::devices`]). Only a user that has had more than one connection, or is
/// kept present without any, has one.
#[derive(Default)]
pub struct Devices {
    /// The other connections of the user (each a `Client` of its own: its queue, caps and
    /// address), in the order they came.
    pub others: Vec<Arc<Client>>,
    /// The user's first connection (the `Client` itself) has ended: its queue is closed, and
    /// the user lives on in the others, or kept present (always-on).
    pub first_gone: bool,
    /// The user is leaving (its last connection ended, or it was killed): nothing attaches.
    pub leaving: bool,
    /// Work for the user's connections, by connection id.
    pub mail: Vec<(ConnectionId, Mail)>,
}

impl fmt::Debug for Devices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Devices")
            .field(
                "others",
                &self.others.iter().map(|c| c.id).collect::<Vec<_>>(),
            )
            .field("first_gone", &self.first_gone)
            .field("leaving", &self.leaving)
            .field("mail", &self.mail.len())
            .finish()
    }
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
                always_on: None,
            }),
            linked: AtomicBool::new(false),
            devices: RwLock::new(None),
            remote: None,
        }
    }

    /// Whether the user has other connections or work for them (one relaxed load: the fast
    /// path of every delivery).
    #[inline(always)]
    pub fn is_linked(&self) -> bool {
        self.linked.load(Ordering::Relaxed)
    }

    /// Calls `f` with each of the user's connections after the first, under the lock of the
    /// list (deliveries push under it; nothing else is locked inside).
    pub fn each_device(&self, mut f: impl FnMut(&Client)) {
        if !self.is_linked() {
            return;
        }
        if let Some(devices) = self.devices.read().as_deref() {
            for d in &devices.others {
                f(d);
            }
        }
    }

    /// Every connection of the user: itself (unless its own connection has ended) and the
    /// others.
    pub fn connections(self: &Arc<Self>) -> Vec<Arc<Client>> {
        let mut all = Vec::with_capacity(1);
        let guard = self.is_linked().then(|| self.devices.read());
        let devices = guard.as_ref().and_then(|g| g.as_deref());
        if !devices.is_some_and(|d| d.first_gone) {
            all.push(self.clone());
        }
        if let Some(devices) = devices {
            all.extend(devices.others.iter().cloned());
        }
        all
    }

    /// Runs `f` on the user's devices record, created if missing, under its lock.
    pub fn with_devices<R>(&self, f: impl FnOnce(&mut Devices) -> R) -> R {
        let mut guard = self.devices.write();
        let devices = guard.get_or_insert_default();
        let result = f(devices);
        let linked = !devices.others.is_empty() || !devices.mail.is_empty();
        self.linked.store(linked, Ordering::Relaxed);
        result
    }

    /// The user's devices record as it is, if it has one (read only).
    pub fn devices_state(&self) -> Option<(usize, bool, bool)> {
        self.devices
            .read()
            .as_deref()
            .map(|d| (d.others.len(), d.first_gone, d.leaving))
    }

    /// Leaves `mail` for the user's connection `conn` and wakes it.
    pub fn post(&self, conn: &Client, mail: Mail) {
        self.with_devices(|d| d.mail.push((conn.id, mail)));
        conn.queue.nudge();
    }

    /// Takes the work left for connection `conn`, oldest first.
    pub fn take_mail(&self, conn: ConnectionId) -> Vec<Mail> {
        if !self.is_linked() {
            return Vec::new();
        }
        self.with_devices(|d| {
            let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut d.mail)
                .into_iter()
                .partition(|(id, _)| *id == conn);
            d.mail = rest;
            mine.into_iter().map(|(_, m)| m).collect()
        })
    }

    /// Whether work waits for connection `conn`.
    pub fn has_mail(&self, conn: ConnectionId) -> bool {
        self.is_linked()
            && self
                .devices
                .read()
                .as_deref()
                .is_some_and(|d| d.mail.iter().any(|(id, _)| *id == conn))
    }

    /// Closes every connection of the user for `reason` (KILL, GHOST, the operator console):
    /// the user leaves whatever keeps it present otherwise.
    pub fn close_all(&self, reason: crate::sendq::CloseReason) {
        let others = {
            let mut guard = self.devices.write();
            match guard.as_deref_mut() {
                Some(d) => {
                    d.leaving = true;
                    d.others.clone()
                }
                None => Vec::new(),
            }
        };
        self.queue.close(reason.clone());
        for d in others {
            d.queue.close(reason.clone());
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

    /// `out` with the tags every line from this user carries: its account (`account-tag`)
    /// and `bot`.
    pub fn tagged(&self, out: crate::outbound::Outgoing) -> crate::outbound::Outgoing {
        let (account, bot) = {
            let info = self.info.read();
            (info.account.clone(), info.modes.bot)
        };
        out.with_account(account.as_deref()).from_bot(bot)
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
impl Client {
    /// A client with id `id` and no connection behind it, its send queue of 1 MiB (tests).
    pub fn detached(id: u64) -> Client {
        Client::new(
            ConnectionId(id),
            "127.0.0.1:1".parse().expect("addr"),
            Transport::Plain,
            crate::sendq::SendQueue::new(1 << 20),
        )
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
