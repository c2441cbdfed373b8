//! [`State`]: what one server connection looks like to the user, built by a pure reducer.
//!
//! Every [`Event`] goes through [`State::apply`], in order; the app renders from the public
//! fields each frame and calls [`State::mark_read`] for the buffer on screen. The connection
//! task keeps a copy built the same way, which is how it knows what to rejoin.
//!
//! IRC lines are interpreted here (<https://modern.ircdocs.horse/>): messages and CTCP ACTION,
//! JOIN/PART/KICK/QUIT/NICK, TOPIC, NAMES (with `multi-prefix` and `userhost-in-names`), MODE
//! prefix changes, `away-notify`, `+typing` (TAGMSG), ISUPPORT, SASL results, FAIL, and error
//! numerics, which become lines in words (see the `words` module).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use charla_proto::OwnedMessage;
use charla_proto::casemap::{casefold, eq_folded};
use charla_proto::numeric;
use chrono::{DateTime, Utc};

use crate::command::TypingState;
use crate::event::Event;
use crate::trust::CertificateIssue;
use crate::words;

/// How many lines a buffer keeps by default before dropping the oldest.
pub const DEFAULT_SCROLLBACK: usize = 5_000;

/// How a disconnection line starts.
const DISCONNECTED: &str = "Disconnected: ";

/// How long an `active` typing notification lasts without a refresh (the spec says 6 s).
const TYPING_ACTIVE_FOR: Duration = Duration::from_secs(6);
/// How long a `paused` one lasts (the spec says 30 s).
const TYPING_PAUSED_FOR: Duration = Duration::from_secs(30);

/// Names a buffer: the server's own, a channel, or a private conversation with a nick.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BufferId {
    /// The server buffer: connection status, MOTD, notices from the server.
    Server,
    /// A channel, named as the server spells it.
    Channel(String),
    /// A private conversation with a nick.
    Query(String),
}

impl BufferId {
    /// The buffer's target for messages: the channel or nick; `None` for the server buffer.
    pub fn target(&self) -> Option<&str> {
        match self {
            BufferId::Server => None,
            BufferId::Channel(name) | BufferId::Query(name) => Some(name),
        }
    }

    /// The name to show in a buffer list (the server buffer shows as `server`).
    pub fn name(&self) -> &str {
        self.target().unwrap_or("server")
    }

    /// Whether two ids name the same buffer, names compared case-insensitively.
    pub fn same(&self, other: &BufferId) -> bool {
        match (self, other) {
            (BufferId::Server, BufferId::Server) => true,
            (BufferId::Channel(a), BufferId::Channel(b))
            | (BufferId::Query(a), BufferId::Query(b)) => eq_folded(a, b),
            _ => false,
        }
    }

    /// The buffer id for a target: a channel if it starts with `#` (or another channel type),
    /// else a query.
    pub fn for_target(target: &str) -> BufferId {
        if is_channel(target, "#&") {
            BufferId::Channel(target.to_owned())
        } else {
            BufferId::Query(target.to_owned())
        }
    }
}

/// The state of the connection, for a status bar.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ConnectionStatus {
    /// Nothing happened yet.
    #[default]
    Idle,
    /// Opening the socket (try number `attempt`).
    Connecting {
        /// 1 for the first try.
        attempt: u32,
    },
    /// Socket up, registering (CAP, SASL, NICK/USER).
    Registering,
    /// Registered: chatting.
    Connected,
    /// Connection lost or refused.
    Disconnected {
        /// Why, in words.
        reason: String,
        /// When the next try happens, if one is planned.
        retry_at: Option<Instant>,
    },
    /// Stopped on a certificate the user must decide about (see [`State::certificate`]).
    WaitingForTrust,
    /// The task ended.
    Stopped,
}

/// What a line in a buffer is, for how to draw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineKind {
    /// A message (PRIVMSG).
    Message,
    /// A `/me` action.
    Action,
    /// A NOTICE.
    Notice,
    /// Someone joined.
    Join,
    /// Someone left the channel.
    Part,
    /// Someone quit IRC.
    Quit,
    /// Someone was kicked.
    Kick,
    /// Someone changed nick.
    Nick,
    /// The topic, or a change of it.
    Topic,
    /// A mode change.
    Mode,
    /// Something went wrong (in words).
    Error,
    /// Anything else worth saying: connection status, MOTD, WHOIS replies.
    Info,
}

impl LineKind {
    /// Whether lines of this kind are joins/parts/quits/nick changes, which an app may fold.
    pub fn is_membership(self) -> bool {
        matches!(
            self,
            LineKind::Join | LineKind::Part | LineKind::Quit | LineKind::Nick
        )
    }

    /// Whether lines of this kind count as unread (messages, actions, notices).
    pub fn is_chat(self) -> bool {
        matches!(
            self,
            LineKind::Message | LineKind::Action | LineKind::Notice
        )
    }
}

/// One line of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// When it happened (the server's `server-time` if given, else when we received it).
    pub time: DateTime<Utc>,
    /// What it is.
    pub kind: LineKind,
    /// Who said or did it, if someone did.
    pub nick: Option<String>,
    /// The text (for joins/parts/etc. a ready sentence, such as "ana joined").
    pub text: String,
    /// Whether it mentions our nick (or is a private message to us).
    pub highlight: bool,
    /// Whether we sent it.
    pub own: bool,
}

impl Line {
    /// A line without a nick, now.
    pub fn info(kind: LineKind, text: impl Into<String>) -> Self {
        Line {
            time: Utc::now(),
            kind,
            nick: None,
            text: text.into(),
            highlight: false,
            own: false,
        }
    }
}

/// Someone in a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Their nick.
    pub nick: String,
    /// Their status prefixes, highest first (`@` operator, `+` voice...), with `multi-prefix`.
    pub prefixes: String,
    /// Whether they are away (from `away-notify`).
    pub away: bool,
}

impl Member {
    /// The highest prefix, if any, to show before the nick.
    pub fn prefix(&self) -> Option<char> {
        self.prefixes.chars().next()
    }
}

/// Someone typing in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typist {
    /// Who.
    pub nick: String,
    /// Active or paused.
    pub state: TypingState,
    /// When we heard it.
    pub since: Instant,
}

/// One buffer: the server's, a channel or a query.
#[derive(Debug, Clone)]
pub struct Buffer {
    /// Which.
    pub id: BufferId,
    /// Its lines, oldest first, at most [`State::scrollback`].
    pub lines: VecDeque<Line>,
    /// Messages since the user last looked ([`State::mark_read`]).
    pub unread: usize,
    /// Mentions of our nick (and private messages) since the user last looked.
    pub mentions: usize,
    /// The channel topic.
    pub topic: Option<String>,
    /// Channel members, sorted: highest status first, then by nick.
    pub members: Vec<Member>,
    /// Whether we are in the channel now.
    pub joined: bool,
    /// Whether to rejoin the channel after a reconnect (we joined it and were not kicked).
    pub rejoin: bool,
    /// Who is typing here.
    pub typing: Vec<Typist>,
    /// The channel's modes as `+` and letters (`+nt`), arguments left out (a key is a secret);
    /// `None` until the server told us.
    pub modes: Option<String>,
}

impl Buffer {
    fn new(id: BufferId) -> Self {
        Buffer {
            id,
            lines: VecDeque::new(),
            unread: 0,
            mentions: 0,
            topic: None,
            members: Vec::new(),
            joined: false,
            rejoin: false,
            typing: Vec::new(),
            modes: None,
        }
    }

    /// The member with this nick, if present.
    pub fn member(&self, nick: &str) -> Option<&Member> {
        self.members.iter().find(|m| eq_folded(&m.nick, nick))
    }

    /// The nicks typing now (active or paused and not yet expired).
    pub fn typing_now(&self, now: Instant) -> Vec<&str> {
        self.typing
            .iter()
            .filter(|t| {
                let lasts = match t.state {
                    TypingState::Active => TYPING_ACTIVE_FOR,
                    _ => TYPING_PAUSED_FOR,
                };
                now.saturating_duration_since(t.since) < lasts
            })
            .map(|t| t.nick.as_str())
            .collect()
    }

    /// Nick completion: members (or the query's nick) whose nick starts with `prefix`,
    /// case-insensitively, in member order; recent speakers first.
    pub fn complete_nick(&self, prefix: &str) -> Vec<String> {
        let folded = casefold(prefix);
        let mut out: Vec<String> = Vec::new();
        let matches = |nick: &str| casefold(nick).starts_with(folded.as_ref());
        // Recent speakers first: that is who one usually answers.
        for line in self.lines.iter().rev().take(200) {
            if let Some(nick) = &line.nick
                && line.kind.is_chat()
                && !line.own
                && matches(nick)
                && !out.iter().any(|n| eq_folded(n, nick))
                && (self.member(nick).is_some() || matches!(self.id, BufferId::Query(_)))
            {
                out.push(nick.clone());
            }
        }
        for m in &self.members {
            if matches(&m.nick) && !out.iter().any(|n| eq_folded(n, &m.nick)) {
                out.push(m.nick.clone());
            }
        }
        if let BufferId::Query(nick) = &self.id
            && matches(nick)
            && !out.iter().any(|n| eq_folded(n, nick))
        {
            out.push(nick.clone());
        }
        out
    }
}

/// Something the app may want to tell the user outside the window (a desktop notification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// Someone mentioned our nick in a channel.
    Mention {
        /// The channel's buffer.
        buffer: BufferId,
        /// Who.
        nick: String,
        /// What they said.
        text: String,
    },
    /// Someone wrote to us privately.
    Private {
        /// Who.
        nick: String,
        /// What they said.
        text: String,
    },
}

/// What the server told us in ISUPPORT (005) that the client uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isupport {
    /// `NETWORK`: the network's name.
    pub network: Option<String>,
    /// `PREFIX`: (mode, symbol) pairs, highest first.
    pub prefix: Vec<(char, char)>,
    /// `CHANTYPES`: the characters channel names start with.
    pub chantypes: String,
    /// `CHANMODES` A,B,C,D: which modes take an argument.
    pub chanmodes: [String; 4],
}

impl Default for Isupport {
    fn default() -> Self {
        Isupport {
            network: None,
            prefix: vec![('o', '@'), ('v', '+')],
            chantypes: "#&".to_owned(),
            chanmodes: [
                "beI".to_owned(),
                "k".to_owned(),
                "l".to_owned(),
                "imnpst".to_owned(),
            ],
        }
    }
}

/// Everything about one server connection that the user sees.
#[derive(Debug, Clone)]
pub struct State {
    /// Our nick (the configured one until the server says otherwise).
    pub nick: String,
    /// The connection's status.
    pub status: ConnectionStatus,
    /// The buffers; the first is always the server buffer.
    pub buffers: Vec<Buffer>,
    /// Capabilities the server acknowledged.
    pub caps: Vec<String>,
    /// What the server supports.
    pub isupport: Isupport,
    /// The account we are logged into, if any.
    pub account: Option<String>,
    /// Our user modes as `+` and letters (`+iw`; `o` when we are an IRC operator).
    pub user_modes: String,
    /// Whether we are marked away.
    pub away: bool,
    /// A certificate the user must decide about (trust on first use, or a changed pin).
    pub certificate: Option<CertificateIssue>,
    /// How many lines each buffer keeps.
    pub scrollback: usize,
    /// The buffer the user last acted in (where errors without a target go).
    acting: BufferId,
    /// Buffers the app should switch to, oldest first ([`State::take_focus`]).
    focus: Option<BufferId>,
    /// NAMES replies being collected, by folded channel name, until RPL_ENDOFNAMES.
    names: HashMap<String, Vec<Member>>,
    /// Whether we registered at least once.
    registered_once: bool,
}

impl State {
    /// A fresh state for a connection that will ask for `nick`.
    pub fn new(nick: &str) -> Self {
        State {
            nick: nick.to_owned(),
            status: ConnectionStatus::Idle,
            buffers: vec![Buffer::new(BufferId::Server)],
            caps: Vec::new(),
            isupport: Isupport::default(),
            account: None,
            user_modes: String::new(),
            away: false,
            certificate: None,
            scrollback: DEFAULT_SCROLLBACK,
            acting: BufferId::Server,
            focus: None,
            names: HashMap::new(),
            registered_once: false,
        }
    }

    /// The buffer with this id (names compared case-insensitively).
    pub fn buffer(&self, id: &BufferId) -> Option<&Buffer> {
        self.buffers.iter().find(|b| b.id.same(id))
    }

    /// The buffer with this id, mutable.
    pub fn buffer_mut(&mut self, id: &BufferId) -> Option<&mut Buffer> {
        self.buffers.iter_mut().find(|b| b.id.same(id))
    }

    /// The server buffer.
    pub fn server_buffer(&self) -> &Buffer {
        // The server buffer is created in `new` and never removed.
        &self.buffers[0]
    }

    /// The user has seen this buffer: its unread and mention counts go to zero.
    pub fn mark_read(&mut self, id: &BufferId) {
        if let Some(b) = self.buffer_mut(id) {
            b.unread = 0;
            b.mentions = 0;
        }
    }

    /// A buffer the app should switch to (the user opened it), if any; asking clears it.
    pub fn take_focus(&mut self) -> Option<BufferId> {
        self.focus.take()
    }

    /// The buffer the user last acted in.
    pub fn acting(&self) -> &BufferId {
        &self.acting
    }

    /// Channels to rejoin after a reconnect.
    pub fn channels_to_rejoin(&self) -> Vec<String> {
        self.buffers
            .iter()
            .filter(|b| b.rejoin)
            .filter_map(|b| match &b.id {
                BufferId::Channel(name) => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    /// Whether the server acknowledged capability `cap`.
    pub fn has_cap(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c == cap)
    }

    /// Whether `target` names a channel on this server.
    pub fn is_channel(&self, target: &str) -> bool {
        is_channel(target, &self.isupport.chantypes)
    }

    /// Whether `nick` is ours.
    pub fn is_me(&self, nick: &str) -> bool {
        eq_folded(nick, &self.nick)
    }

    /// Applies one event. Returns a notification when the user should hear of it even if the
    /// window is not in front (a mention or a private message).
    pub fn apply(&mut self, event: &Event) -> Option<Notification> {
        match event {
            Event::Connecting {
                host,
                port,
                attempt,
            } => {
                self.status = ConnectionStatus::Connecting { attempt: *attempt };
                if *attempt <= 1 {
                    self.push_server(LineKind::Info, format!("Connecting to {host}:{port}…"));
                }
                None
            }
            Event::Connected => {
                self.status = ConnectionStatus::Registering;
                // A new connection negotiates afresh.
                self.caps.clear();
                self.certificate = None;
                None
            }
            Event::Registered { nick, reconnected } => {
                self.status = ConnectionStatus::Connected;
                self.nick = nick.clone();
                if *reconnected || self.registered_once {
                    for i in 0..self.buffers.len() {
                        self.push_at(i, Line::info(LineKind::Info, "Reconnected"));
                    }
                } else {
                    self.push_server(LineKind::Info, format!("Connected as {nick}"));
                }
                self.registered_once = true;
                None
            }
            Event::Irc(msg) => self.apply_irc(msg, false),
            Event::Echo(msg) => self.apply_irc(msg, true),
            Event::Local { buffer, kind, text } => {
                let line = Line::info(*kind, text.clone());
                self.push_to(buffer.clone(), line);
                None
            }
            Event::Acting { buffer } => {
                self.acting = buffer.clone();
                None
            }
            Event::OpenBuffer { buffer, focus } => {
                let i = self.ensure(buffer.clone());
                if *focus {
                    self.focus = Some(self.buffers[i].id.clone());
                }
                None
            }
            Event::CloseBuffer { buffer } => {
                if *buffer != BufferId::Server {
                    self.buffers.retain(|b| !b.id.same(buffer));
                }
                None
            }
            Event::Capabilities { enabled } => {
                self.caps = enabled.clone();
                None
            }
            Event::Disconnected { reason, retry_in } => {
                let text = match retry_in {
                    Some(d) if d.is_zero() => format!("{DISCONNECTED}{reason}, retrying now"),
                    Some(d) => format!("{DISCONNECTED}{reason}, retrying in {}", seconds(*d)),
                    None => format!("{DISCONNECTED}{reason}"),
                };
                self.status = ConnectionStatus::Disconnected {
                    reason: reason.clone(),
                    retry_at: retry_in.map(|d| Instant::now() + d),
                };
                self.names.clear();
                self.caps.clear();
                self.account = None;
                self.user_modes.clear();
                for i in 0..self.buffers.len() {
                    let b = &mut self.buffers[i];
                    b.joined = false;
                    b.members.clear();
                    b.typing.clear();
                    // While the server stays away, each failed try updates the last line
                    // instead of stacking a new one in every buffer.
                    match b.lines.back_mut() {
                        Some(last)
                            if last.kind == LineKind::Error
                                && last.text.starts_with(DISCONNECTED) =>
                        {
                            *last = Line::info(LineKind::Error, text.clone());
                        }
                        _ => self.push_at(i, Line::info(LineKind::Error, text.clone())),
                    }
                }
                None
            }
            Event::CertificateUnknown {
                host,
                port,
                fingerprint,
            } => {
                self.status = ConnectionStatus::WaitingForTrust;
                self.certificate = Some(CertificateIssue::Unknown {
                    host: host.clone(),
                    port: *port,
                    fingerprint: fingerprint.clone(),
                });
                self.push_server(
                    LineKind::Error,
                    format!(
                        "The certificate of {host}:{port} is not signed by a known authority. \
                         Its SHA-256 fingerprint is {fingerprint}. Trust it only if it is the \
                         one the server's operator gave you."
                    ),
                );
                None
            }
            Event::CertificateChanged {
                host,
                port,
                expected,
                got,
            } => {
                self.status = ConnectionStatus::WaitingForTrust;
                self.certificate = Some(CertificateIssue::Changed {
                    host: host.clone(),
                    port: *port,
                    expected: expected.clone(),
                    got: got.clone(),
                });
                self.push_server(
                    LineKind::Error,
                    format!(
                        "WARNING: the certificate of {host}:{port} has CHANGED. Someone may be \
                         intercepting the connection. Pinned: {expected}; presented: {got}. \
                         The connection was refused."
                    ),
                );
                None
            }
            Event::CertificateTrusted {
                host,
                port,
                fingerprint,
            } => {
                self.certificate = None;
                self.push_server(
                    LineKind::Info,
                    format!("Trusted the certificate of {host}:{port} ({fingerprint})"),
                );
                None
            }
            Event::Stopped => {
                self.status = ConnectionStatus::Stopped;
                for b in &mut self.buffers {
                    b.joined = false;
                    b.members.clear();
                }
                None
            }
        }
    }

    fn apply_irc(&mut self, msg: &OwnedMessage, echo: bool) -> Option<Notification> {
        let time = msg
            .tag("time")
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
        let source_nick = msg.source_nick().unwrap_or("").to_owned();
        let from_me = echo || (!source_nick.is_empty() && self.is_me(&source_nick));
        let cmd = msg.command.to_ascii_uppercase();
        let p = |i: usize| msg.param(i).unwrap_or("");
        if let Ok(num) = cmd.parse::<u16>()
            && cmd.len() == 3
        {
            self.apply_numeric(num, msg, time);
            return None;
        }
        match cmd.as_str() {
            "PRIVMSG" | "NOTICE" => {
                return self.apply_message(msg, &cmd, &source_nick, from_me, time);
            }
            "TAGMSG" => {
                if from_me {
                    return None;
                }
                if let Some(state) = msg.tag("+typing").and_then(TypingState::parse) {
                    let id = self.route_target(p(0), &source_nick, false);
                    if let Some(b) = self.buffer_mut(&id) {
                        b.typing.retain(|t| !eq_folded(&t.nick, &source_nick));
                        if state != TypingState::Done {
                            b.typing.push(Typist {
                                nick: source_nick.clone(),
                                state,
                                since: Instant::now(),
                            });
                        }
                    }
                }
            }
            "JOIN" => {
                let chan = p(0).to_owned();
                let id = BufferId::Channel(chan.clone());
                if from_me {
                    let i = self.ensure(id);
                    let b = &mut self.buffers[i];
                    b.joined = true;
                    b.rejoin = true;
                    b.members.clear();
                    let line = self.line(
                        time,
                        LineKind::Join,
                        &source_nick,
                        format!("You joined {chan}"),
                    );
                    self.push_at(i, line);
                } else if let Some(i) = self.index(&id) {
                    let b = &mut self.buffers[i];
                    if b.member(&source_nick).is_none() {
                        b.members.push(Member {
                            nick: source_nick.clone(),
                            prefixes: String::new(),
                            away: false,
                        });
                        self.sort_members(i);
                    }
                    let line = self.line(
                        time,
                        LineKind::Join,
                        &source_nick,
                        format!("{source_nick} joined"),
                    );
                    self.push_at(i, line);
                }
            }
            "PART" => {
                let id = BufferId::Channel(p(0).to_owned());
                let reason = msg.param(1).filter(|r| !r.is_empty());
                if from_me {
                    self.buffers.retain(|b| !b.id.same(&id));
                } else if let Some(i) = self.index(&id) {
                    self.buffers[i]
                        .members
                        .retain(|m| !eq_folded(&m.nick, &source_nick));
                    self.buffers[i]
                        .typing
                        .retain(|t| !eq_folded(&t.nick, &source_nick));
                    let text = match reason {
                        Some(r) => format!("{source_nick} left ({r})"),
                        None => format!("{source_nick} left"),
                    };
                    let line = self.line(time, LineKind::Part, &source_nick, text);
                    self.push_at(i, line);
                }
            }
            "KICK" => {
                let id = BufferId::Channel(p(0).to_owned());
                let victim = p(1).to_owned();
                let reason = msg.param(2).filter(|r| !r.is_empty() && *r != victim);
                if let Some(i) = self.index(&id) {
                    let me = self.is_me(&victim);
                    let b = &mut self.buffers[i];
                    b.members.retain(|m| !eq_folded(&m.nick, &victim));
                    let who = if me {
                        "You were".to_owned()
                    } else {
                        format!("{victim} was")
                    };
                    let mut text = format!("{who} kicked by {source_nick}");
                    if let Some(r) = reason {
                        text.push_str(&format!(" ({r})"));
                    }
                    if me {
                        b.joined = false;
                        b.rejoin = false;
                        b.members.clear();
                    }
                    let kind = if me { LineKind::Error } else { LineKind::Kick };
                    let line = self.line(time, kind, &source_nick, text);
                    self.push_at(i, line);
                }
            }
            "QUIT" => {
                let reason = msg.param(0).filter(|r| !r.is_empty());
                let text = match reason {
                    Some(r) => format!("{source_nick} quit ({r})"),
                    None => format!("{source_nick} quit"),
                };
                for i in 0..self.buffers.len() {
                    let b = &mut self.buffers[i];
                    let present = match &b.id {
                        BufferId::Channel(_) => {
                            let before = b.members.len();
                            b.members.retain(|m| !eq_folded(&m.nick, &source_nick));
                            b.members.len() != before
                        }
                        BufferId::Query(n) => eq_folded(n, &source_nick),
                        BufferId::Server => false,
                    };
                    b.typing.retain(|t| !eq_folded(&t.nick, &source_nick));
                    if present {
                        let line = self.line(time, LineKind::Quit, &source_nick, text.clone());
                        self.push_at(i, line);
                    }
                }
            }
            "NICK" => {
                let new = p(0).to_owned();
                let text = if from_me {
                    format!("You are now known as {new}")
                } else {
                    format!("{source_nick} is now known as {new}")
                };
                if from_me {
                    self.nick = new.clone();
                    self.push_server(LineKind::Nick, text.clone());
                }
                let clash = self.index(&BufferId::Query(new.clone())).is_some();
                for i in 0..self.buffers.len() {
                    let b = &mut self.buffers[i];
                    let present = match &mut b.id {
                        BufferId::Channel(_) => {
                            let mut found = false;
                            for m in &mut b.members {
                                if eq_folded(&m.nick, &source_nick) {
                                    m.nick = new.clone();
                                    found = true;
                                }
                            }
                            found
                        }
                        BufferId::Query(n) if eq_folded(n, &source_nick) => {
                            // Follow the person into their new name, unless a buffer for it
                            // exists already (then both stay).
                            if !clash || eq_folded(&new, &source_nick) {
                                *n = new.clone();
                            }
                            true
                        }
                        _ => false,
                    };
                    if present {
                        self.sort_members(i);
                        let line = self.line(time, LineKind::Nick, &source_nick, text.clone());
                        self.push_at(i, line);
                    }
                }
            }
            "TOPIC" => {
                let id = BufferId::Channel(p(0).to_owned());
                let topic = p(1).to_owned();
                if let Some(i) = self.index(&id) {
                    self.buffers[i].topic = (!topic.is_empty()).then(|| topic.clone());
                    let text = if topic.is_empty() {
                        format!("{source_nick} cleared the topic")
                    } else {
                        format!("{source_nick} changed the topic to: {topic}")
                    };
                    let line = self.line(time, LineKind::Topic, &source_nick, text);
                    self.push_at(i, line);
                }
            }
            "MODE" => self.apply_mode(msg, &source_nick, time),
            "AWAY" => {
                let away = msg.param(0).is_some_and(|m| !m.is_empty());
                for b in &mut self.buffers {
                    for m in &mut b.members {
                        if eq_folded(&m.nick, &source_nick) {
                            m.away = away;
                        }
                    }
                }
            }
            "ERROR" => {
                let text = format!("Server closed the connection: {}", p(0));
                self.push_server(LineKind::Error, text);
            }
            "FAIL" | "WARN" | "NOTE" => {
                // FAIL <command> <code> [<context>...] <description>
                let text = words::standard_reply(msg);
                let kind = if cmd == "FAIL" {
                    LineKind::Error
                } else {
                    LineKind::Info
                };
                let at = self.acting.clone();
                self.push_to(
                    at,
                    Line {
                        time,
                        ..Line::info(kind, text)
                    },
                );
            }
            "REGISTER" => {
                // REGISTER SUCCESS|VERIFICATION_REQUIRED <account> <message>
                let account = p(1).to_owned();
                let text = match p(0) {
                    "SUCCESS" => format!("Account {account} registered. {}", p(2)),
                    "VERIFICATION_REQUIRED" => {
                        format!(
                            "Account {account} registered; it needs verification: {}",
                            p(2)
                        )
                    }
                    other => format!("Registration: {other} {}", p(2)),
                };
                let at = self.acting.clone();
                self.push_to(
                    at,
                    Line {
                        time,
                        ..Line::info(LineKind::Info, text.trim_end())
                    },
                );
            }
            "PING" | "PONG" | "CAP" | "AUTHENTICATE" | "BATCH" | "CHGHOST" | "ACCOUNT"
            | "SETNAME" => {}
            "INVITE" => {
                // To us: said where the user is. Between others (`invite-notify`): in the
                // channel.
                let (text, at) = if self.is_me(p(0)) {
                    (
                        format!("{source_nick} invites you to {} (/join {0})", p(1)),
                        self.acting.clone(),
                    )
                } else {
                    (
                        format!("{source_nick} invited {} to {}", p(0), p(1)),
                        BufferId::Channel(p(1).to_owned()),
                    )
                };
                self.push_to(
                    at,
                    Line {
                        time,
                        ..Line::info(LineKind::Info, text)
                    },
                );
            }
            _ => {
                let text = msg.params.join(" ");
                self.push_server(LineKind::Info, format!("{} {}", msg.command, text));
            }
        }
        None
    }

    fn apply_message(
        &mut self,
        msg: &OwnedMessage,
        cmd: &str,
        source_nick: &str,
        from_me: bool,
        time: DateTime<Utc>,
    ) -> Option<Notification> {
        let target = msg.param(0).unwrap_or("");
        let raw_text = msg.param(1).unwrap_or("");
        let notice = cmd == "NOTICE";
        let (kind, text) = match ctcp(raw_text) {
            Some(("ACTION", body)) if !notice => (LineKind::Action, body.to_owned()),
            Some((verb, body)) => {
                // Other CTCP (VERSION, PING...) are answered by the connection task; show a
                // trace in the server buffer so nothing happens silently.
                let what = if notice { "reply" } else { "request" };
                let text = format!("CTCP {verb} {what} from {source_nick} {body}");
                self.push_server(LineKind::Info, text.trim_end().to_owned());
                return None;
            }
            None if notice => (LineKind::Notice, raw_text.to_owned()),
            None => (LineKind::Message, raw_text.to_owned()),
        };
        // Notices from the server itself (no `!` in the source, or before registration) belong
        // in the server buffer.
        let server_notice =
            notice && (msg.source.as_deref().is_none_or(|s| !s.contains('!')) || target == "*");
        let id = if server_notice {
            BufferId::Server
        } else {
            self.route_target(target, source_nick, from_me)
        };
        // A private notice from a service goes to the server buffer unless a query is open.
        let id = match id {
            BufferId::Query(n) if notice && self.index(&BufferId::Query(n.clone())).is_none() => {
                BufferId::Server
            }
            other => other,
        };
        // Once we are registered, a notice from the server itself to us or to everyone (`$*`)
        // is its operator talking ("send to everyone", "send to this user"): worth a
        // notification, like a private message.
        let operator_notice = server_notice
            && self.status == ConnectionStatus::Connected
            && (target.starts_with('$') || self.is_me(target));
        let private = matches!(id, BufferId::Query(_)) || operator_notice;
        let highlight = !from_me
            && (operator_notice || (!server_notice && (private || mentions(&text, &self.nick))));
        let nick = if source_nick.is_empty() {
            msg.source.clone()
        } else {
            Some(source_nick.to_owned())
        };
        let line = Line {
            time,
            kind,
            nick,
            text: text.clone(),
            highlight,
            own: from_me,
        };
        let i = self.ensure(id.clone());
        let b = &mut self.buffers[i];
        b.typing.retain(|t| !eq_folded(&t.nick, source_nick));
        if !from_me {
            b.unread += 1;
            if highlight {
                b.mentions += 1;
            }
        }
        let id = b.id.clone();
        self.push_at(i, line);
        if !highlight {
            return None;
        }
        Some(if private {
            Notification::Private {
                nick: source_nick.to_owned(),
                text,
            }
        } else {
            Notification::Mention {
                buffer: id,
                nick: source_nick.to_owned(),
                text,
            }
        })
    }

    fn apply_numeric(&mut self, num: u16, msg: &OwnedMessage, time: DateTime<Utc>) {
        let p = |i: usize| msg.param(i).unwrap_or("");
        let last = msg.params.last().map(String::as_str).unwrap_or("");
        match num {
            numeric::RPL_WELCOME => {
                if let Some(n) = msg.param(0) {
                    self.nick = n.to_owned();
                }
                self.push_server_at(time, LineKind::Info, last);
            }
            numeric::RPL_ISUPPORT => {
                let tokens = msg
                    .params
                    .get(1..msg.params.len().saturating_sub(1))
                    .unwrap_or_default();
                for token in tokens {
                    self.isupport_token(token);
                }
            }
            numeric::RPL_TOPIC => {
                let id = BufferId::Channel(p(1).to_owned());
                if let Some(i) = self.index(&id) {
                    self.buffers[i].topic = Some(p(2).to_owned());
                    let line = Line {
                        time,
                        ..Line::info(LineKind::Topic, format!("Topic: {}", p(2)))
                    };
                    self.push_at(i, line);
                }
            }
            numeric::RPL_NOTOPIC => {
                if let Some(i) = self.index(&BufferId::Channel(p(1).to_owned())) {
                    self.buffers[i].topic = None;
                    let line = Line {
                        time,
                        ..Line::info(LineKind::Topic, "No topic is set")
                    };
                    self.push_at(i, line);
                }
            }
            numeric::RPL_TOPICWHOTIME => {
                if let Some(i) = self.index(&BufferId::Channel(p(1).to_owned())) {
                    let who = charla_proto::message::split_source(p(2)).0;
                    let when = p(3)
                        .parse::<i64>()
                        .ok()
                        .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
                        .map(|t| format!(" on {}", t.format("%Y-%m-%d %H:%M UTC")))
                        .unwrap_or_default();
                    let line = Line {
                        time,
                        ..Line::info(LineKind::Topic, format!("Topic set by {who}{when}"))
                    };
                    self.push_at(i, line);
                }
            }
            numeric::RPL_NAMREPLY => {
                // 353 <me> <symbol> <channel> :<prefix><nick>[!user@host] ...
                let key = casefold(p(2)).into_owned();
                let prefixes: String = self.isupport.prefix.iter().map(|(_, s)| *s).collect();
                let entry = self.names.entry(key).or_default();
                for item in p(3).split(' ').filter(|s| !s.is_empty()) {
                    let symbols: String =
                        item.chars().take_while(|c| prefixes.contains(*c)).collect();
                    let rest = &item[symbols.len()..];
                    let nick = charla_proto::message::split_source(rest).0;
                    if !nick.is_empty() {
                        entry.push(Member {
                            nick: nick.to_owned(),
                            prefixes: symbols,
                            away: false,
                        });
                    }
                }
            }
            numeric::RPL_ENDOFNAMES => {
                let key = casefold(p(1)).into_owned();
                let members = self.names.remove(&key).unwrap_or_default();
                let i = self.index(&BufferId::Channel(p(1).to_owned()));
                if i.is_none_or(|i| !self.buffers[i].joined) && !members.is_empty() {
                    // `/names #elsewhere`: say who is there where the user asked.
                    let list: Vec<String> = members
                        .iter()
                        .map(|m| format!("{}{}", m.prefixes, m.nick))
                        .collect();
                    let text = format!("In {}: {}", p(1), list.join(" "));
                    let at = self.acting.clone();
                    self.push_to(
                        at,
                        Line {
                            time,
                            ..Line::info(LineKind::Info, text)
                        },
                    );
                }
                if let Some(i) = i {
                    self.buffers[i].members = members;
                    for m in &mut self.buffers[i].members {
                        m.prefixes = sort_prefixes(&m.prefixes, &self.isupport.prefix);
                    }
                    self.sort_members(i);
                }
            }
            numeric::RPL_UNAWAY => {
                self.away = false;
                let at = self.acting.clone();
                let line = Line {
                    time,
                    ..Line::info(LineKind::Info, "You are no longer marked as away")
                };
                self.push_to(at, line);
            }
            numeric::RPL_NOWAWAY => {
                self.away = true;
                let at = self.acting.clone();
                let line = Line {
                    time,
                    ..Line::info(LineKind::Info, "You are now marked as away")
                };
                self.push_to(at, line);
            }
            numeric::RPL_AWAY => {
                let id = BufferId::Query(p(1).to_owned());
                let text = format!("{} is away: {}", p(1), p(2));
                let id = if self.index(&id).is_some() {
                    id
                } else {
                    self.acting.clone()
                };
                self.push_to(
                    id,
                    Line {
                        time,
                        ..Line::info(LineKind::Info, text)
                    },
                );
            }
            numeric::RPL_LOGGEDIN => {
                self.account = Some(p(2).to_owned());
                self.push_server_at(time, LineKind::Info, format!("Logged in as {}", p(2)));
            }
            numeric::RPL_LOGGEDOUT => {
                self.account = None;
                self.push_server_at(time, LineKind::Info, "Logged out");
            }
            numeric::RPL_SASLSUCCESS | numeric::RPL_SASLMECHS => {}
            numeric::RPL_WHOISUSER
            | numeric::RPL_WHOISSERVER
            | numeric::RPL_WHOISOPERATOR
            | numeric::RPL_WHOISIDLE
            | numeric::RPL_WHOISCHANNELS
            | numeric::RPL_WHOISACCOUNT
            | numeric::RPL_WHOISHOST
            | numeric::RPL_WHOISMODES
            | numeric::RPL_WHOISSPECIAL
            | numeric::RPL_WHOISREGNICK
            | numeric::RPL_WHOISCERTFP
            | numeric::RPL_WHOISACTUALLY
            | numeric::RPL_ENDOFWHOIS => {
                let text = words::whois_line(num, msg);
                let at = self.acting.clone();
                self.push_to(
                    at,
                    Line {
                        time,
                        ..Line::info(LineKind::Info, text)
                    },
                );
            }
            numeric::RPL_CHANNELMODEIS => {
                let Some(i) = self.index(&BufferId::Channel(p(1).to_owned())) else {
                    return;
                };
                let changes =
                    parse_mode_changes(&msg.params[2.min(msg.params.len())..], &self.isupport);
                let known_before = self.buffers[i].modes.is_some();
                let b = &mut self.buffers[i];
                b.modes = Some(String::from("+"));
                apply_channel_modes(b, &changes, &self.isupport);
                // The client asks for the modes on join, silently; a second answer is one
                // the user asked for with /mode.
                if known_before {
                    let text = format!("Channel modes: {}", b.modes.as_deref().unwrap_or("+"));
                    self.push_at(
                        i,
                        Line {
                            time,
                            ..Line::info(LineKind::Mode, text)
                        },
                    );
                }
            }
            // Server version and mode letters: for programs, not people.
            numeric::RPL_CREATIONTIME | numeric::RPL_MYINFO => {}
            numeric::RPL_UMODEIS => {
                self.user_modes = apply_user_modes("", p(1));
            }
            400..=599 => {
                let text = words::error_numeric(num, msg);
                let id = self.error_buffer(msg);
                self.push_to(
                    id,
                    Line {
                        time,
                        ..Line::info(LineKind::Error, text)
                    },
                );
            }
            numeric::ERR_NICKLOCKED
            | numeric::ERR_SASLFAIL
            | numeric::ERR_SASLTOOLONG
            | numeric::ERR_SASLABORTED
            | numeric::ERR_SASLALREADY => {
                let text = words::error_numeric(num, msg);
                self.push_server_at(time, LineKind::Error, text);
            }
            _ => {
                // Informational numerics (MOTD, LUSERS, ...): their text, in the server buffer.
                // Counts before a sentence ("3 :channels formed") read well joined; the user
                // counts of 265/266 repeat themselves in their sentence.
                let sentence_only =
                    matches!(num, numeric::RPL_LOCALUSERS | numeric::RPL_GLOBALUSERS);
                let text = if msg.params.len() > 2 && !sentence_only {
                    msg.params[1..].join(" ")
                } else {
                    last.to_owned()
                };
                if !text.is_empty() {
                    self.push_server_at(time, LineKind::Info, text);
                }
            }
        }
    }

    fn apply_mode(&mut self, msg: &OwnedMessage, source_nick: &str, time: DateTime<Utc>) {
        let target = msg.param(0).unwrap_or("");
        let rest = msg.params.get(1..).map(|s| s.join(" ")).unwrap_or_default();
        if !self.is_channel(target) {
            if self.is_me(target) {
                let modes = msg.params.get(1).map_or("", String::as_str);
                self.user_modes = apply_user_modes(&self.user_modes, modes);
            }
            self.push_server_at(
                time,
                LineKind::Mode,
                format!("{source_nick} sets mode {rest} on {target}"),
            );
            return;
        }
        let Some(i) = self.index(&BufferId::Channel(target.to_owned())) else {
            return;
        };
        let changes = parse_mode_changes(&msg.params[1.min(msg.params.len())..], &self.isupport);
        for change in &changes {
            let Some(symbol) = self
                .isupport
                .prefix
                .iter()
                .find(|(m, _)| *m == change.mode)
                .map(|(_, s)| *s)
            else {
                continue;
            };
            let Some(nick) = &change.arg else { continue };
            let order = self.isupport.prefix.clone();
            if let Some(m) = self.buffers[i]
                .members
                .iter_mut()
                .find(|m| eq_folded(&m.nick, nick))
            {
                if change.set {
                    if !m.prefixes.contains(symbol) {
                        m.prefixes.push(symbol);
                    }
                } else {
                    m.prefixes.retain(|c| c != symbol);
                }
                m.prefixes = sort_prefixes(&m.prefixes, &order);
            }
        }
        let isupport = self.isupport.clone();
        apply_channel_modes(&mut self.buffers[i], &changes, &isupport);
        self.sort_members(i);
        let who = if source_nick.is_empty() {
            msg.source.as_deref().unwrap_or("server")
        } else {
            source_nick
        };
        let line = self.line(time, LineKind::Mode, who, format!("{who} sets mode {rest}"));
        self.push_at(i, line);
    }

    fn isupport_token(&mut self, token: &str) {
        let (key, value) = token.split_once('=').unwrap_or((token, ""));
        match key {
            "NETWORK" if !value.is_empty() => self.isupport.network = Some(value.to_owned()),
            "CHANTYPES" => self.isupport.chantypes = value.to_owned(),
            "PREFIX" => {
                // PREFIX=(ov)@+
                if let Some((modes, symbols)) =
                    value.strip_prefix('(').and_then(|v| v.split_once(')'))
                    && modes.chars().count() == symbols.chars().count()
                {
                    self.isupport.prefix = modes.chars().zip(symbols.chars()).collect();
                }
            }
            "CHANMODES" => {
                let mut parts = value.split(',');
                for slot in &mut self.isupport.chanmodes {
                    *slot = parts.next().unwrap_or("").to_owned();
                }
            }
            _ => {}
        }
    }

    /// Where an error numeric goes: the channel or query it names if we have that buffer, else
    /// the buffer the user acted in.
    fn error_buffer(&self, msg: &OwnedMessage) -> BufferId {
        if let Some(target) = msg.param(1) {
            let id = if self.is_channel(target) {
                BufferId::Channel(target.to_owned())
            } else {
                BufferId::Query(target.to_owned())
            };
            if let Some(i) = self.index(&id) {
                return self.buffers[i].id.clone();
            }
        }
        if self.index(&self.acting).is_some() {
            self.acting.clone()
        } else {
            BufferId::Server
        }
    }

    /// The buffer for a message to `target` from `source`.
    fn route_target(&self, target: &str, source: &str, from_me: bool) -> BufferId {
        // STATUSMSG: `@#chan` is a message to the channel's operators.
        let bare = target.trim_start_matches(|c| self.isupport.prefix.iter().any(|(_, s)| *s == c));
        if self.is_channel(bare) {
            BufferId::Channel(bare.to_owned())
        } else if from_me {
            BufferId::Query(target.to_owned())
        } else {
            BufferId::Query(source.to_owned())
        }
    }

    fn index(&self, id: &BufferId) -> Option<usize> {
        self.buffers.iter().position(|b| b.id.same(id))
    }

    /// The index of buffer `id`, created if missing.
    fn ensure(&mut self, id: BufferId) -> usize {
        match self.index(&id) {
            Some(i) => i,
            None => {
                self.buffers.push(Buffer::new(id));
                self.buffers.len() - 1
            }
        }
    }

    fn line(&self, time: DateTime<Utc>, kind: LineKind, nick: &str, text: String) -> Line {
        Line {
            time,
            kind,
            nick: (!nick.is_empty()).then(|| nick.to_owned()),
            text,
            highlight: false,
            own: !nick.is_empty() && self.is_me(nick),
        }
    }

    fn push_at(&mut self, i: usize, line: Line) {
        let cap = self.scrollback.max(1);
        let b = &mut self.buffers[i];
        b.lines.push_back(line);
        while b.lines.len() > cap {
            b.lines.pop_front();
        }
    }

    fn push_to(&mut self, id: BufferId, line: Line) {
        // Errors about a buffer that does not exist any more land in the server buffer.
        let i = self.index(&id).unwrap_or(0);
        self.push_at(i, line);
    }

    fn push_server(&mut self, kind: LineKind, text: impl Into<String>) {
        self.push_at(0, Line::info(kind, text));
    }

    fn push_server_at(&mut self, time: DateTime<Utc>, kind: LineKind, text: impl Into<String>) {
        self.push_at(
            0,
            Line {
                time,
                ..Line::info(kind, text)
            },
        );
    }

    fn sort_members(&mut self, i: usize) {
        let order: Vec<char> = self.isupport.prefix.iter().map(|(_, s)| *s).collect();
        let rank = |m: &Member| {
            m.prefix()
                .and_then(|c| order.iter().position(|o| *o == c))
                .unwrap_or(order.len())
        };
        self.buffers[i].members.sort_by(|a, b| {
            rank(a)
                .cmp(&rank(b))
                .then_with(|| casefold(&a.nick).cmp(&casefold(&b.nick)))
        });
    }
}

/// One change from a MODE line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeChange {
    /// `+` (true) or `-`.
    pub set: bool,
    /// The mode letter.
    pub mode: char,
    /// Its argument, if it takes one.
    pub arg: Option<String>,
}

/// Splits MODE parameters (`+ov-k`, `ana`, `bob`, `key`) into changes, using ISUPPORT to know
/// which modes take an argument (<https://modern.ircdocs.horse/#mode-message>).
pub fn parse_mode_changes(params: &[String], isupport: &Isupport) -> Vec<ModeChange> {
    let mut out = Vec::new();
    let Some((modes, args)) = params.split_first() else {
        return out;
    };
    let mut args = args.iter();
    let mut set = true;
    for c in modes.chars() {
        match c {
            '+' => set = true,
            '-' => set = false,
            mode => {
                let takes_arg = isupport.prefix.iter().any(|(m, _)| *m == mode)
                    || isupport.chanmodes[0].contains(mode)
                    || isupport.chanmodes[1].contains(mode)
                    || (set && isupport.chanmodes[2].contains(mode));
                let arg = if takes_arg {
                    args.next().cloned()
                } else {
                    None
                };
                out.push(ModeChange { set, mode, arg });
            }
        }
    }
    out
}

/// Applies channel-setting changes (types B, C and D of CHANMODES; not lists, not prefixes) to
/// a buffer's known modes.
fn apply_channel_modes(buffer: &mut Buffer, changes: &[ModeChange], isupport: &Isupport) {
    let Some(modes) = &mut buffer.modes else {
        return;
    };
    for change in changes {
        let is_setting = !isupport.chanmodes[0].contains(change.mode)
            && !isupport.prefix.iter().any(|(m, _)| *m == change.mode);
        if !is_setting {
            continue;
        }
        if change.set {
            if !modes.contains(change.mode) {
                modes.push(change.mode);
            }
        } else {
            modes.retain(|c| c != change.mode);
        }
    }
    let mut letters: Vec<char> = modes.chars().filter(|c| *c != '+').collect();
    letters.sort_unstable();
    *modes = std::iter::once('+').chain(letters).collect();
}

/// Applies a user mode string (`+iw-x`) to our modes (`+i`), sorted.
fn apply_user_modes(current: &str, change: &str) -> String {
    let mut letters: Vec<char> = current.chars().filter(|c| *c != '+').collect();
    let mut set = true;
    for c in change.chars() {
        match c {
            '+' => set = true,
            '-' => set = false,
            m if set => {
                if !letters.contains(&m) {
                    letters.push(m);
                }
            }
            m => letters.retain(|x| *x != m),
        }
    }
    letters.sort_unstable();
    if letters.is_empty() {
        String::new()
    } else {
        std::iter::once('+').chain(letters).collect()
    }
}

/// Orders prefix symbols as PREFIX does (highest first).
fn sort_prefixes(prefixes: &str, order: &[(char, char)]) -> String {
    let mut chars: Vec<char> = prefixes.chars().collect();
    chars.sort_by_key(|c| order.iter().position(|(_, s)| s == c).unwrap_or(usize::MAX));
    chars.dedup();
    chars.into_iter().collect()
}

/// Whether `target` starts with one of `chantypes`.
fn is_channel(target: &str, chantypes: &str) -> bool {
    target.chars().next().is_some_and(|c| chantypes.contains(c))
}

/// Splits a CTCP message (`\x01VERB body\x01`) into its verb and body.
pub fn ctcp(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('\u{1}')?;
    let inner = inner.strip_suffix('\u{1}').unwrap_or(inner);
    Some(inner.split_once(' ').unwrap_or((inner, "")))
}

/// Whether `text` mentions `nick` as a word (case-insensitively; letters, digits and the nick
/// characters `_-[]\`^{}|` around it make it a different word).
pub fn mentions(text: &str, nick: &str) -> bool {
    if nick.is_empty() {
        return false;
    }
    let text = casefold(text);
    let nick = casefold(nick);
    let is_word = |c: char| c.is_alphanumeric() || "_-[]\\`^{}|".contains(c);
    let mut from = 0;
    while let Some(pos) = text[from..].find(nick.as_ref()) {
        let start = from + pos;
        let end = start + nick.len();
        let before_ok = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !is_word(c));
        let after_ok = text[end..].chars().next().is_none_or(|c| !is_word(c));
        if before_ok && after_ok {
            return true;
        }
        from = start + text[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// "4 s", "1 min 30 s": a short duration for a status line.
fn seconds(d: Duration) -> String {
    let s = d.as_secs().max(1);
    if s < 60 {
        format!("{s} s")
    } else if s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{} min {} s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests;
