//! [`Client::connect`]: one task per server that connects, registers, chats and reconnects.
//!
//! The task's life is a loop over connections: open (TCP/TLS, see
//! [`connection`]) → register (CAP LS 302, SASL in the private `sasl` module, NICK/USER, see
//! <https://ircv3.net/specs/extensions/capability-negotiation>) → one `select!` over the socket,
//! the command queue and a ping timer → on loss, a back-off wait (during which commands are still
//! handled) → again, rejoining the channels the user was in. A certificate the user must judge
//! stops the loop until they answer. The app talks to it only through a [`ClientHandle`]
//! (commands in, never blocking) and the event receiver.
//!
//! This file holds the task's outer loop (connect, wait, reconnect, offline commands); the
//! life of one open connection is in the private `session` module (`client/session.rs`).
//!
//! The task keeps its own [`State`], fed the same events the app gets, so that it knows our
//! nick, the capabilities and the channels to rejoin without asking the app.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use charla_proto::casemap::casefold;
use tokio::sync::mpsc;

use crate::backoff::Backoff;
use crate::command::Command;
use crate::config::ServerConfig;
use crate::connection::{self, ConnectError};
use crate::event::Event;
use crate::input::{self, InputError};
use crate::state::{BufferId, LineKind, State};
use crate::trust::{CertificateIssue, TrustStore, same_fingerprint};

mod sasl;
mod session;
mod text;

use session::Session;
pub use text::split_text;

/// How long a session must last for the back-off to start again from its minimum.
const HEALTHY_SESSION: Duration = Duration::from_secs(30);

/// A callback the task calls after each event, so a GUI can wake up and repaint.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// Timings and knobs of a connection task. The defaults suit real servers.
#[derive(Clone)]
pub struct ClientOptions {
    /// How long opening the socket and the TLS handshake may take.
    pub connect_timeout: Duration,
    /// How long registration (CAP, SASL, NICK/USER up to 001) may take.
    pub registration_timeout: Duration,
    /// After this long without hearing from the server we send a PING.
    pub ping_interval: Duration,
    /// If the server then stays silent this long, the connection is dead.
    pub ping_timeout: Duration,
    /// The first reconnect wait (before jitter).
    pub backoff_min: Duration,
    /// The longest reconnect wait.
    pub backoff_max: Duration,
    /// How many commands may wait in the queue before [`ClientHandle::send`] says it is full.
    pub command_queue: usize,
    /// Lines we may send at once before pacing (servers' flood control allows a burst).
    pub send_burst: u32,
    /// Lines per second after the burst.
    pub send_rate: f64,
    /// Called after each event (e.g. `egui::Context::request_repaint`).
    pub waker: Option<Waker>,
    /// The runtime to spawn on; the current one if `None`.
    pub runtime: Option<tokio::runtime::Handle>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(15),
            registration_timeout: Duration::from_secs(45),
            ping_interval: Duration::from_secs(90),
            ping_timeout: Duration::from_secs(60),
            backoff_min: Duration::from_secs(2),
            backoff_max: Duration::from_secs(120),
            command_queue: 512,
            send_burst: 8,
            send_rate: 2.0,
            waker: None,
            runtime: None,
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("connect_timeout", &self.connect_timeout)
            .field("registration_timeout", &self.registration_timeout)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("backoff_min", &self.backoff_min)
            .field("backoff_max", &self.backoff_max)
            .field("command_queue", &self.command_queue)
            .field("send_burst", &self.send_burst)
            .field("send_rate", &self.send_rate)
            .field("waker", &self.waker.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a command could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The queue is full (the task is far behind); try again later.
    #[error("the connection is busy; try again")]
    Full,
    /// The task has ended.
    #[error("the connection has ended")]
    Closed,
}

/// Starts connection tasks.
#[derive(Debug)]
pub struct Client;

impl Client {
    /// Starts a connection task for `config` on the current tokio runtime (call it from inside
    /// one, or inside `Runtime::enter`). Returns the handle to send commands and the receiver
    /// of events; the task ends on [`Command::Quit`] or when every handle is dropped.
    pub fn connect(
        config: ServerConfig,
        trust: TrustStore,
    ) -> (ClientHandle, mpsc::UnboundedReceiver<Event>) {
        Self::connect_with(config, trust, ClientOptions::default())
    }

    /// Like [`Client::connect`], with options (timings, a waker, a runtime).
    ///
    /// # Panics
    ///
    /// Without `options.runtime`, when called outside a tokio runtime (as `tokio::spawn` does);
    /// [`Client::try_connect_with`] returns an error instead.
    pub fn connect_with(
        config: ServerConfig,
        trust: TrustStore,
        options: ClientOptions,
    ) -> (ClientHandle, mpsc::UnboundedReceiver<Event>) {
        let (cmd_tx, cmd_rx) = mpsc::channel(options.command_queue.max(1));
        // Unbounded on purpose: a GUI may not drain while minimised, and blocking the task
        // then would stop it answering PINGs. Events are small and the app drains each frame.
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let runtime = options.runtime.clone();
        let task = Task::new(config, trust, options, cmd_rx, ev_tx);
        match runtime {
            Some(rt) => drop(rt.spawn(task.run())),
            None => drop(tokio::spawn(task.run())),
        }
        (ClientHandle { tx: cmd_tx }, ev_rx)
    }

    /// Like [`Client::connect_with`], but says so instead of panicking when there is no
    /// runtime to run on.
    pub fn try_connect_with(
        config: ServerConfig,
        trust: TrustStore,
        mut options: ClientOptions,
    ) -> Result<(ClientHandle, mpsc::UnboundedReceiver<Event>), NoRuntime> {
        if options.runtime.is_none() {
            options.runtime = Some(tokio::runtime::Handle::try_current().map_err(|_| NoRuntime)?);
        }
        Ok(Self::connect_with(config, trust, options))
    }
}

/// There was no tokio runtime to start the connection task on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no tokio runtime to run the connection on")]
pub struct NoRuntime;

/// The app's side of a connection task: send commands. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ClientHandle {
    tx: mpsc::Sender<Command>,
}

impl ClientHandle {
    /// Queues a command; never blocks.
    pub fn send(&self, command: Command) -> Result<(), SendError> {
        self.tx.try_send(command).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::Full,
            mpsc::error::TrySendError::Closed(_) => SendError::Closed,
        })
    }

    /// Whether the task has ended.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// How a connection ended, and so what the task does next.
enum End {
    /// Lost (or never opened): wait the back-off and try again.
    Lost(String),
    /// The user asked to reconnect now.
    Reconnect,
    /// The user disconnected (with the reason they gave, if any): wait for them.
    Disconnect(Option<String>),
    /// A certificate needs the user's word: wait for them.
    Certificate,
    /// The server put us out on purpose (killed by an operator, banned): coming straight
    /// back would defeat it, so wait for the user.
    Refused(String),
    /// Stop the task.
    Quit,
}

struct Task {
    config: ServerConfig,
    trust: TrustStore,
    options: ClientOptions,
    commands: mpsc::Receiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    state: State,
    backoff: Backoff,
    /// Registered at least once (so the next registration is a reconnect).
    registered_once: bool,
    /// The nick to register with: the configured one, or the last one the user chose.
    desired_nick: String,
    /// Our away message, restored after a reconnect.
    away_message: Option<String>,
    /// The certificate question pending, if any.
    certificate: Option<CertificateIssue>,
    /// Commands that arrived while the socket was opening, for the session to send.
    held: Vec<Command>,
    /// Whether the server offered account registration (and its flags).
    account_registration: Option<String>,
    /// Channels the user asked to join, to focus when the JOIN comes back (folded names).
    focus_on_join: HashSet<String>,
    /// When we last sent `+typing=active` to each target (folded).
    typing_sent: HashMap<String, Instant>,
    /// When we last answered a CTCP request (one per second at most: no reflection floods).
    last_ctcp_reply: Option<Instant>,
    /// Private conversations opened since the session last looked, for their history.
    opened_queries: Vec<String>,
    /// Private conversations the user closed in this run (folded nick), and when: the
    /// server's list of recent conversations does not bring them back unless someone spoke
    /// there since.
    closed_queries: HashMap<String, chrono::DateTime<chrono::Utc>>,
    ping_counter: u64,
}

impl Task {
    fn new(
        config: ServerConfig,
        trust: TrustStore,
        options: ClientOptions,
        commands: mpsc::Receiver<Command>,
        events: mpsc::UnboundedSender<Event>,
    ) -> Self {
        let backoff = Backoff::new(options.backoff_min, options.backoff_max);
        let mut state = State::new(&config.nick);
        let state_nick = config.nick.clone();
        // The task's copy only needs buffers, members and flags, not the scroll-back.
        state.scrollback = 1;
        for chan in &config.autojoin {
            // Autojoin channels behave as channels we were in: joined on every registration.
            state.apply(&Event::OpenBuffer {
                buffer: BufferId::Channel(chan.clone()),
                focus: false,
            });
            if let Some(b) = state.buffer_mut(&BufferId::Channel(chan.clone())) {
                b.rejoin = true;
            }
        }
        Task {
            config,
            trust,
            options,
            commands,
            events,
            state,
            backoff,
            registered_once: false,
            desired_nick: state_nick,
            away_message: None,
            certificate: None,
            account_registration: None,
            held: Vec::new(),
            focus_on_join: HashSet::new(),
            typing_sent: HashMap::new(),
            last_ctcp_reply: None,
            opened_queries: Vec::new(),
            closed_queries: HashMap::new(),
            ping_counter: 0,
        }
    }

    /// Reports an event: to our own state first, then to the app.
    fn emit(&mut self, event: Event) {
        let buffers = self.state.buffers.len();
        self.state.apply(&event);
        if self.state.buffers.len() > buffers
            && let Some(BufferId::Query(nick)) = self.state.buffers.last().map(|b| &b.id)
        {
            self.closed_queries.remove(casefold(nick).as_ref());
            self.opened_queries.push(nick.clone());
        }
        if let Event::CloseBuffer {
            buffer: BufferId::Query(nick),
        } = &event
        {
            let key = casefold(nick).into_owned();
            self.closed_queries.insert(key, chrono::Utc::now());
        }
        // A closed receiver means the app is gone; the loops notice through `events.closed()`.
        let _ = self.events.send(event);
        if let Some(w) = &self.options.waker {
            w();
        }
    }

    fn local(&mut self, buffer: BufferId, kind: LineKind, text: impl Into<String>) {
        self.emit(Event::Local {
            buffer,
            kind,
            text: text.into(),
        });
    }

    async fn run(mut self) {
        let mut attempt: u32 = 0;
        if let Err(e) = self.config.validate() {
            // Retrying cannot help: say why and wait for the user.
            self.emit(Event::Disconnected {
                reason: capitalise(&e.to_string()),
                retry_in: None,
            });
            if !self.wait(None).await {
                self.emit(Event::Stopped);
                return;
            }
        }
        loop {
            attempt = attempt.saturating_add(1);
            self.emit(Event::Connecting {
                host: self.config.host.clone(),
                port: self.config.port,
                attempt,
            });
            let end = self.connect_once().await;
            let wait = match end {
                End::Quit => break,
                End::Reconnect => {
                    self.emit(Event::Disconnected {
                        reason: "reconnecting at your request".to_owned(),
                        retry_in: Some(Duration::ZERO),
                    });
                    attempt = 0;
                    continue;
                }
                End::Lost(reason) => {
                    let delay = self.backoff.next_delay();
                    self.emit(Event::Disconnected {
                        reason,
                        retry_in: Some(delay),
                    });
                    Some(delay)
                }
                End::Disconnect(why) => {
                    let reason = match why {
                        Some(why) => format!("you disconnected ({why})"),
                        None => "you disconnected".to_owned(),
                    };
                    self.emit(Event::Disconnected {
                        reason,
                        retry_in: None,
                    });
                    None
                }
                End::Certificate => None,
                End::Refused(reason) => {
                    self.emit(Event::Disconnected {
                        reason: format!("{reason} (not reconnecting by itself: /reconnect to try)"),
                        retry_in: None,
                    });
                    None
                }
            };
            if !self.wait(wait).await {
                break;
            }
        }
        self.emit(Event::Stopped);
    }

    /// Waits `delay` (or until told, if `None`) while handling commands offline. Returns false
    /// when the task should stop.
    async fn wait(&mut self, delay: Option<Duration>) -> bool {
        let mut deadline = delay.map(|d| tokio::time::Instant::now() + d);
        loop {
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => return true,
                () = self.events.closed() => return false,
                cmd = self.commands.recv() => {
                    let Some(cmd) = cmd else { return false };
                    match self.offline(cmd) {
                        Control::Continue => {}
                        Control::Stop => return false,
                        Control::ConnectNow => {
                            self.backoff.reset();
                            return true;
                        }
                        Control::StayDown(why) => {
                            deadline = None;
                            self.stay_down(why);
                        }
                    }
                }
            }
        }
    }

    /// The user disconnected while no connection was up (waiting to retry, or for their word
    /// on a certificate): no retry is planned, a certificate question is dropped, and the
    /// status says so instead of still counting down or waiting for a decision.
    fn stay_down(&mut self, why: Option<String>) {
        let reason = match (self.certificate.take(), why) {
            (Some(CertificateIssue::Unknown { .. }), _) => {
                "the server's certificate was not trusted".to_owned()
            }
            (Some(CertificateIssue::Changed { .. }), _) => {
                "the server's certificate has changed".to_owned()
            }
            (None, Some(why)) => format!("you disconnected ({why})"),
            (None, None) => "you disconnected".to_owned(),
        };
        self.emit(Event::Disconnected {
            reason,
            retry_in: None,
        });
    }

    /// Pins the pending certificate if `fingerprint` is the one the user was shown.
    fn trust_pending(&mut self, fingerprint: &str) -> bool {
        let shown = match &self.certificate {
            Some(CertificateIssue::Unknown { fingerprint, .. }) => fingerprint.clone(),
            Some(CertificateIssue::Changed { got, .. }) => got.clone(),
            None => {
                self.local(
                    BufferId::Server,
                    LineKind::Error,
                    "There is no certificate waiting to be trusted",
                );
                return false;
            }
        };
        if !same_fingerprint(&shown, fingerprint) {
            self.local(
                BufferId::Server,
                LineKind::Error,
                "That fingerprint is not the one the server presented; nothing was trusted",
            );
            return false;
        }
        let (host, port) = (self.config.host.clone(), self.config.port);
        if let Err(e) = self.trust.pin(&host, port, &shown) {
            // The pin holds in memory all the same: the user's decision stands for this run.
            self.local(
                BufferId::Server,
                LineKind::Error,
                format!("Could not save the pin: {e}"),
            );
        }
        self.certificate = None;
        self.emit(Event::CertificateTrusted {
            host,
            port,
            fingerprint: shown,
        });
        true
    }

    /// A command while not connected.
    fn offline(&mut self, command: Command) -> Control {
        match command {
            Command::Quit { .. } => Control::Stop,
            Command::Reconnect => Control::ConnectNow,
            Command::Disconnect { reason } => Control::StayDown(reason),
            Command::TrustCertificate { fingerprint } => {
                if self.trust_pending(&fingerprint) {
                    Control::ConnectNow
                } else {
                    Control::Continue
                }
            }
            Command::Input { buffer, text } => {
                self.emit(Event::Acting {
                    buffer: buffer.clone(),
                });
                match input::parse(&buffer, &text) {
                    Ok(cmds) => {
                        for c in cmds {
                            let sendable = !matches!(
                                c,
                                Command::OpenQuery { .. }
                                    | Command::CloseBuffer { .. }
                                    | Command::Join { .. }
                                    | Command::Quit { .. }
                                    | Command::Reconnect
                                    | Command::Disconnect { .. }
                            );
                            if sendable {
                                self.local(
                                    buffer.clone(),
                                    LineKind::Error,
                                    "Not connected: that was not sent",
                                );
                                continue;
                            }
                            let control = self.offline(c);
                            if !matches!(control, Control::Continue) {
                                return control;
                            }
                        }
                    }
                    Err(InputError::Empty) => {}
                    Err(e) => self.local(buffer, LineKind::Error, capitalise(&e.to_string())),
                }
                Control::Continue
            }
            Command::OpenQuery { nick } => {
                self.emit(Event::OpenBuffer {
                    buffer: BufferId::Query(nick),
                    focus: true,
                });
                Control::Continue
            }
            Command::CloseBuffer { buffer } => {
                if buffer != BufferId::Server {
                    self.emit(Event::CloseBuffer { buffer });
                }
                Control::Continue
            }
            Command::Join { channel, .. } => {
                // Remembered: joined when we are back.
                for name in channel.split(',').filter(|c| !c.is_empty()) {
                    let id = BufferId::Channel(name.to_owned());
                    self.emit(Event::OpenBuffer {
                        buffer: id.clone(),
                        focus: true,
                    });
                    if let Some(b) = self.state.buffer_mut(&id) {
                        b.rejoin = true;
                    }
                }
                Control::Continue
            }
            // Of the moment, or answered once connected (history comes back by itself then).
            Command::Typing { .. }
            | Command::React { .. }
            | Command::LoadLatest { .. }
            | Command::LoadOlder { .. }
            | Command::ListTargets { .. }
            | Command::MarkRead { .. } => Control::Continue,
            Command::Search { text, target } => {
                self.emit(Event::SearchResults {
                    query: crate::search::SearchQuery { text, target },
                    lines: Vec::new(),
                    error: Some("Not connected".to_owned()),
                });
                Control::Continue
            }
            _ => {
                self.local(
                    BufferId::Server,
                    LineKind::Error,
                    "Not connected: that was not sent",
                );
                Control::Continue
            }
        }
    }

    /// Opens one connection and runs it to its end.
    async fn connect_once(&mut self) -> End {
        let config = self.config.clone();
        let trust = self.trust.clone();
        let open = tokio::time::timeout(
            self.options.connect_timeout,
            connection::open(&config, &trust),
        );
        tokio::pin!(open);
        // Commands still count while the socket opens (a slow or unreachable host can take the
        // whole connect timeout): the user may quit or disconnect meanwhile.
        let opened = loop {
            tokio::select! {
                opened = &mut open => break opened,
                () = self.events.closed() => return End::Quit,
                cmd = self.commands.recv() => {
                    let Some(cmd) = cmd else { return End::Quit };
                    if !is_control(&cmd) {
                        // Sent once registered (or refused in words if this try fails).
                        self.held.push(cmd);
                        continue;
                    }
                    match self.offline(cmd) {
                        Control::Stop => return End::Quit,
                        Control::StayDown(why) => return End::Disconnect(why),
                        Control::Continue | Control::ConnectNow => {}
                    }
                }
            }
        };
        if !matches!(opened, Ok(Ok(_))) {
            for cmd in std::mem::take(&mut self.held) {
                // Quit and friends were handled above; these only get their words.
                let _ = self.offline(cmd);
            }
        }
        let transport = match opened {
            Err(_) => return End::Lost("the server did not answer in time".to_owned()),
            Ok(Err(ConnectError::Certificate(issue))) => {
                let event = match &issue {
                    CertificateIssue::Unknown {
                        host,
                        port,
                        fingerprint,
                    } => Event::CertificateUnknown {
                        host: host.clone(),
                        port: *port,
                        fingerprint: fingerprint.clone(),
                    },
                    CertificateIssue::Changed {
                        host,
                        port,
                        expected,
                        got,
                    } => Event::CertificateChanged {
                        host: host.clone(),
                        port: *port,
                        expected: expected.clone(),
                        got: got.clone(),
                    },
                };
                self.certificate = Some(issue);
                self.emit(event);
                return End::Certificate;
            }
            Ok(Err(e @ ConnectError::ClientCertificate(_))) => return End::Refused(e.to_string()),
            Ok(Err(e)) => return End::Lost(describe_connect_error(&e)),
            Ok(Ok(t)) => t,
        };
        // A certificate question from an earlier try is answered by this one.
        self.certificate = None;
        self.emit(Event::Connected);
        let mut session = Session::new(transport, &self.config, &self.options);
        session.pending = std::mem::take(&mut self.held);
        let end = session.run(self).await;
        // A session that stayed up a while resets the back-off; one cut right after
        // registration (a ban, a full server) keeps it growing.
        if session
            .registered_at
            .is_some_and(|at| at.elapsed() >= HEALTHY_SESSION)
        {
            self.backoff.reset();
        }
        end
    }
}

/// What the offline handler tells the wait loop.
enum Control {
    Continue,
    Stop,
    ConnectNow,
    /// Stay disconnected (with the reason the user gave, if any).
    StayDown(Option<String>),
}

impl Task {
    fn state_acting(&self) -> BufferId {
        self.state.acting().clone()
    }

    /// Whether a password may be sent: only over TLS, or to this machine.
    fn password_may_travel(&self) -> bool {
        self.config.tls || is_loopback(&self.config.host)
    }

    /// Whether a client certificate goes out in the TLS handshake (for `EXTERNAL`).
    fn offers_certificate(&self) -> bool {
        self.config.tls && self.config.client_certificate.is_some()
    }
}

/// Whether `host` is this machine (where no one can listen in on the wire).
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether an ERROR text says we were put out on purpose. Servers word it freely; these are
/// the common forms (`Killed (oper (reason))`, `Closing Link: ... (K-Lined)`, bans).
fn is_refusal(text: &str) -> bool {
    let lower = text.to_lowercase();
    ["killed", "k-lined", "g-lined", "z-lined", "banned"]
        .iter()
        .any(|w| lower.contains(w))
}

/// Commands that end or reshape the connection: handled even before registration.
fn is_control(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::Quit { .. }
            | Command::Disconnect { .. }
            | Command::Reconnect
            | Command::Raw { .. }
            | Command::Nick { .. }
            | Command::TrustCertificate { .. }
            | Command::OpenQuery { .. }
            | Command::CloseBuffer { .. }
    )
}

fn describe_connect_error(e: &ConnectError) -> String {
    match e {
        ConnectError::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "the server refused the connection".to_owned(),
            std::io::ErrorKind::ConnectionReset => "the connection was reset".to_owned(),
            std::io::ErrorKind::TimedOut => "the connection timed out".to_owned(),
            _ => io.to_string(),
        },
        other => other.to_string(),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_recognised() {
        assert!(is_refusal("Killed (srv (basta))"));
        assert!(is_refusal("Closing Link: host (K-Lined)"));
        assert!(is_refusal("You are banned from this server"));
        assert!(!is_refusal("Server shutting down"));
        assert!(!is_refusal(
            "Closing Link: host (Ping timeout: 120 seconds)"
        ));
        assert!(!is_refusal("Excess Flood"));
    }

    #[test]
    fn no_runtime_is_an_error_not_a_panic() {
        let got = Client::try_connect_with(
            ServerConfig::new("127.0.0.1", 1, "ana"),
            TrustStore::in_memory(),
            ClientOptions::default(),
        );
        assert_eq!(got.err(), Some(NoRuntime));
    }

    #[test]
    fn loopback_hosts() {
        for (host, want) in [
            ("localhost", true),
            ("127.0.0.1", true),
            ("::1", true),
            ("[::1]", true),
            ("irc.libera.chat", false),
            ("10.0.0.1", false),
        ] {
            assert_eq!(is_loopback(host), want, "{host}");
        }
    }
}
