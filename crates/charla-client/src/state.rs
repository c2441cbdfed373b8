//! [`State`]: what one server connection looks like to the user, built by a pure reducer.
//!
//! Every [`Event`] goes through [`State::apply`], in order; the app renders from the public
//! fields each frame and calls [`State::mark_read`] for the buffer on screen. The connection
//! task keeps a copy built the same way, which is how it knows what to rejoin.
//!
//! IRC lines are interpreted in the `irc` submodule (`state/irc.rs`, following
//! <https://modern.ircdocs.horse/>): messages and CTCP ACTION,
//! JOIN/PART/KICK/QUIT/NICK, TOPIC, NAMES (with `multi-prefix` and `userhost-in-names`), MODE
//! prefix changes, `away-notify`, `+typing` (TAGMSG), ISUPPORT, SASL results, FAIL, and error
//! numerics, which become lines in words (see the `words` module).
//!
//! Who is logged in to which account is kept once per user ([`State::account_of`]), learnt
//! from `extended-join`, `account-notify` (`ACCOUNT`), the `account` message tag, WHOIS
//! (`330`) and WHOX (`354`).
//!
//! History (`state/history.rs`): [`Event::HistoryLoaded`] merges a conversation's lines from
//! the server's history into its buffer by time, each once (by `msgid`; events seen live by
//! their words); `MARKREAD` sets a buffer's [`Buffer::read_marker`], from which its unread and
//! mention counts are counted again. MODE lines are read in `state/modes.rs`, channel members
//! are `state/member.rs`'s.
//!
//! Replies and reactions (`state/reactions.rs`): a message that answers another names its
//! `msgid` ([`Line::reply_to`], from `+draft/reply`); reactions (`TAGMSG` with `+draft/react`,
//! taken back with `+draft/unreact`) are counted per message and emoji with who reacted, in
//! [`Buffer::reactions`], live and from history alike.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use charla_proto::casemap::{casefold, eq_folded};
use chrono::{DateTime, Utc};

use crate::account::{LoginError, RegistrationReply};
use crate::command::TypingState;
use crate::event::Event;
use crate::trust::CertificateIssue;

/// How many lines a buffer keeps by default before dropping the oldest.
pub const DEFAULT_SCROLLBACK: usize = 5_000;

/// The token the client puts in its WHOX queries (`WHO #chan %tna,152`), so that their
/// replies are told from the user's own `/who`.
pub const WHOX_TOKEN: &str = "152";

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
    /// A message that was deleted (`draft/message-redaction`): who sent it and when stay, its
    /// text is gone; the line says "message deleted" (by whom, if not its sender, and why).
    Deleted,
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
    /// The server's id of the message (`msgid`), when it gave one.
    pub msgid: Option<String>,
    /// A number unique among the lines of this state, given as lines are added (so not in the
    /// order of their times: older lines loaded from history get higher numbers). The app
    /// names a line by it, to keep it in place on screen while lines are added above it.
    pub seq: u64,
    /// Whether it came from the server's history (CHATHISTORY) rather than live.
    pub from_history: bool,
    /// The `msgid` of the message this one answers (`+draft/reply`), when it is a reply.
    pub reply_to: Option<String>,
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
            msgid: None,
            seq: 0,
            from_history: false,
            reply_to: None,
        }
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
    /// Where the account has read this conversation up to (`draft/read-marker`), when the
    /// server said; lines after it count as unread.
    pub read_marker: Option<DateTime<Utc>>,
    /// How far the server's history of this conversation is loaded.
    pub history: BufferHistory,
    /// The reactions to this conversation's messages, by their `msgid`.
    pub reactions: Reactions,
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
            read_marker: None,
            history: BufferHistory::default(),
            reactions: Reactions::default(),
        }
    }

    /// The member with this nick, if present.
    pub fn member(&self, nick: &str) -> Option<&Member> {
        self.members.iter().find(|m| eq_folded(&m.nick, nick))
    }

    /// Whether `nick` is here as a channel operator (half-operator or above), such as whether
    /// we may kick.
    pub fn is_op(&self, nick: &str) -> bool {
        self.member(nick).is_some_and(Member::is_op)
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
    /// `WHOX`: the server answers `WHO` with chosen fields (such as the account).
    pub whox: bool,
    /// `CHATHISTORY`: the server gives back history, at most this many lines per request
    /// (0: it set no limit).
    pub chathistory: Option<usize>,
    /// `soju.im/FILEHOST`: the URL files are uploaded to (soju's FILEHOST extension), if the
    /// server hosts files.
    pub filehost: Option<String>,
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
            whox: false,
            chathistory: None,
            filehost: None,
        }
    }
}

/// What a user or channel says of itself (`draft/metadata-2`), the keys we subscribe to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// `display-name`: how they would like to be called.
    pub display_name: Option<String>,
    /// `avatar`: the address of their picture.
    pub avatar: Option<String>,
}

/// The metadata keys we subscribe to.
pub const PROFILE_KEYS: [&str; 2] = ["display-name", "avatar"];

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
    /// Why logging in failed on this connection, if it did (cleared by the next try).
    pub login_error: Option<LoginError>,
    /// The last answer to an account registration (`REGISTER`/`VERIFY`), if any.
    pub registration: Option<RegistrationReply>,
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
    /// Accounts of the users we know to be logged in, by folded nick.
    accounts: HashMap<String, String>,
    /// What users and channels say of themselves (`draft/metadata-2`: display name, avatar),
    /// by folded nick or channel name.
    profiles: HashMap<String, Profile>,
    /// Whether we registered at least once.
    registered_once: bool,
    /// The number the next line gets ([`Line::seq`]).
    next_seq: u64,
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
            login_error: None,
            registration: None,
            user_modes: String::new(),
            away: false,
            certificate: None,
            scrollback: DEFAULT_SCROLLBACK,
            acting: BufferId::Server,
            focus: None,
            names: HashMap::new(),
            accounts: HashMap::new(),
            profiles: HashMap::new(),
            registered_once: false,
            next_seq: 1,
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

    /// The account `nick` is logged in to, when the server told us (`None`: not logged in,
    /// or not known).
    pub fn account_of(&self, nick: &str) -> Option<&str> {
        self.accounts
            .get(casefold(nick).as_ref())
            .map(String::as_str)
    }

    /// What `name` (a nick or a channel) says of itself, if anything.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(casefold(name).as_ref())
    }

    /// The display name `nick` chose, if any (and if it says more than the nick).
    pub fn display_name(&self, nick: &str) -> Option<&str> {
        self.profile(nick)
            .and_then(|p| p.display_name.as_deref())
            .filter(|d| *d != nick)
    }

    /// Records one metadata value of `target` (`None`: removed); only the keys we show.
    pub(crate) fn set_metadata(&mut self, target: &str, key: &str, value: Option<&str>) {
        if target.is_empty() || target == "*" {
            return;
        }
        let folded = casefold(target).into_owned();
        let profile = self.profiles.entry(folded.clone()).or_default();
        let value = value.filter(|v| !v.is_empty()).map(str::to_owned);
        match key {
            "display-name" => profile.display_name = value,
            "avatar" => profile.avatar = value,
            _ => {}
        }
        if *profile == Profile::default() {
            self.profiles.remove(&folded);
        }
    }

    /// Records `nick`'s account; `*`, `0` or empty mean "not logged in".
    pub(crate) fn set_account(&mut self, nick: &str, account: &str) {
        if nick.is_empty() {
            return;
        }
        let key = casefold(nick).into_owned();
        if matches!(account, "" | "*" | "0") {
            self.accounts.remove(&key);
        } else {
            self.accounts.insert(key, account.to_owned());
        }
    }

    /// Follows a nick change in the accounts.
    pub(crate) fn rename_account(&mut self, old: &str, new: &str) {
        if let Some(account) = self.accounts.remove(casefold(old).as_ref()) {
            self.accounts.insert(casefold(new).into_owned(), account);
        }
        if let Some(profile) = self.profiles.remove(casefold(old).as_ref()) {
            self.profiles.insert(casefold(new).into_owned(), profile);
        }
    }

    /// Forgets `nick`'s account once no channel of ours has them (they left our sight).
    pub(crate) fn forget_account_if_gone(&mut self, nick: &str) {
        if !self.is_me(nick) && !self.buffers.iter().any(|b| b.member(nick).is_some()) {
            self.accounts.remove(casefold(nick).as_ref());
        }
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
                self.login_error = None;
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
            Event::LoginFailed { error, continuing } => {
                let then = if *continuing {
                    "Carrying on without an account."
                } else {
                    "Disconnecting."
                };
                self.push_server(
                    LineKind::Error,
                    format!("Could not log in: {error}. {then}"),
                );
                self.login_error = Some(error.clone());
                None
            }
            Event::AccountRegistration(reply) => {
                let kind = if reply.succeeded() {
                    LineKind::Info
                } else {
                    LineKind::Error
                };
                let at = self.acting.clone();
                self.push_to(at, Line::info(kind, reply.describe()));
                self.registration = Some(reply.clone());
                None
            }
            Event::Capabilities { enabled } => {
                self.caps = enabled.clone();
                None
            }
            Event::HistoryRequested { target, .. } => {
                if let Some(b) = self.buffer_mut(&self.target_buffer(target)) {
                    b.history.loading = true;
                }
                None
            }
            Event::HistoryLoaded {
                target,
                lines,
                before,
                more,
            } => {
                self.apply_history(target, lines, *before, *more);
                None
            }
            // Shown apart by the app, not kept in buffers.
            Event::SearchResults { .. } => None,
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
                self.accounts.clear();
                self.caps.clear();
                // Any certificate question was answered or dropped (the user disconnected).
                self.certificate = None;
                self.account = None;
                self.user_modes.clear();
                for i in 0..self.buffers.len() {
                    let b = &mut self.buffers[i];
                    b.joined = false;
                    b.members.clear();
                    b.typing.clear();
                    b.history.loading = false;
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
            msgid: None,
            seq: 0,
            from_history: false,
            reply_to: None,
        }
    }

    fn push_at(&mut self, i: usize, mut line: Line) {
        let cap = self.scrollback.max(1);
        line.seq = self.take_seq();
        let b = &mut self.buffers[i];
        b.history.note(&line);
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

/// Whether `target` starts with one of `chantypes`.
fn is_channel(target: &str, chantypes: &str) -> bool {
    target.chars().next().is_some_and(|c| chantypes.contains(c))
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

mod history;
mod irc;
mod member;
mod modes;
mod reactions;
mod text;

pub(crate) use history::parse_time;
pub use history::{BufferHistory, HISTORY_PAGE, MessageRef, iso_time};
pub use member::{Member, PREFIX_SYMBOLS, Role, bare_nick};
pub use modes::{ModeChange, parse_mode_changes};
use modes::{apply_channel_modes, apply_user_modes, sort_prefixes};
pub use reactions::{QUICK_REACTIONS, REACT_TAG, REPLY_TAG, Reaction, Reactions, UNREACT_TAG};
pub use text::{ctcp, mentions};

#[cfg(test)]
mod tests;
