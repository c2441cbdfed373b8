//! [`Client::connect`]: one task per server that connects, registers, chats and reconnects.
//!
//! The task's life is a loop over connections: open (TCP/TLS, see
//! [`connection`]) → register (CAP LS 302, SASL PLAIN, NICK/USER, see
//! <https://ircv3.net/specs/extensions/capability-negotiation>) → one `select!` over the socket,
//! the command queue and a ping timer → on loss, a back-off wait (during which commands are still
//! handled) → again, rejoining the channels the user was in. A certificate the user must judge
//! stops the loop until they answer. The app talks to it only through a [`ClientHandle`]
//! (commands in, never blocking) and the event receiver.
//!
//! The task keeps its own [`State`], fed the same events the app gets, so that it knows our
//! nick, the capabilities and the channels to rejoin without asking the app.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use charla_proto::OwnedMessage;
use charla_proto::casemap::casefold;
use charla_proto::line::LineBuilder;
use charla_proto::numeric;
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use crate::backoff::Backoff;
use crate::command::{Command, TypingState};
use crate::config::ServerConfig;
use crate::connection::{self, ConnectError, Transport};
use crate::event::Event;
use crate::input::{self, InputError};
use crate::state::{BufferId, LineKind, State, ctcp};
use crate::trust::{CertificateIssue, TrustStore, same_fingerprint};

/// The capabilities we ask for when the server offers them.
const WANTED_CAPS: &[&str] = &[
    "server-time",
    "message-tags",
    "echo-message",
    "multi-prefix",
    "away-notify",
    "extended-join",
    "userhost-in-names",
    "cap-notify",
    "account-notify",
    "chghost",
    "invite-notify",
    "setname",
];

/// The account-registration capability (<https://ircv3.net/specs/extensions/account-registration>).
const CAP_ACCOUNT_REGISTRATION: &str = "draft/account-registration";

/// How often at most we send `+typing=active` to one target (the spec asks for 3 s).
const TYPING_THROTTLE: Duration = Duration::from_secs(3);

/// How long a session must last for the back-off to start again from its minimum.
const HEALTHY_SESSION: Duration = Duration::from_secs(30);

/// What `CTCP VERSION` answers.
const VERSION: &str = concat!("Charla ", env!("CARGO_PKG_VERSION"));

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
    /// The user disconnected: wait for them.
    Disconnect,
    /// A certificate needs the user's word: wait for them.
    Certificate,
    /// The server put us out on purpose (killed by an operator, banned): coming straight
    /// back would defeat it, so wait for the user.
    Refused(String),
    /// Stop the task.
    Quit,
}

/// Where registration is.
#[derive(Debug, Default)]
struct Registration {
    /// Caps offered in `CAP LS` (name -> value), accumulated over continuation lines.
    offered: HashMap<String, String>,
    /// Waiting for SASL to finish before `CAP END`.
    sasl_pending: bool,
    /// `CAP END` sent (or never needed).
    cap_done: bool,
    /// How many nicks we tried.
    nick_tries: u32,
    /// The nick we asked for last.
    nick: String,
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
            ping_counter: 0,
        }
    }

    /// Reports an event: to our own state first, then to the app.
    fn emit(&mut self, event: Event) {
        self.state.apply(&event);
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
                End::Disconnect => {
                    self.emit(Event::Disconnected {
                        reason: "you disconnected".to_owned(),
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
                        Control::StayDown => deadline = None,
                    }
                }
            }
        }
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
            Command::Disconnect { .. } => Control::StayDown,
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
            Command::Typing { .. } => Control::Continue,
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
                        Control::StayDown => return End::Disconnect,
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
            Ok(Err(e)) => return End::Lost(describe_connect_error(&e)),
            Ok(Ok(t)) => t,
        };
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
    StayDown,
}

/// Paces what the user sends as servers' flood control expects (a token bucket: `burst` lines
/// at once, then `rate` per second), so a pasted page is not an "Excess Flood" disconnect.
#[derive(Debug)]
struct Pacer {
    tokens: f64,
    burst: f64,
    rate: f64,
    last: tokio::time::Instant,
}

impl Pacer {
    fn new(burst: u32, rate: f64) -> Self {
        let burst = f64::from(burst.max(1));
        Pacer {
            tokens: burst,
            burst,
            rate: if rate > 0.0 { rate } else { 1.0 },
            last: tokio::time::Instant::now(),
        }
    }

    fn refill(&mut self, now: tokio::time::Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// Takes a token if one is there.
    fn take(&mut self, now: tokio::time::Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// When the next token is back.
    fn next_at(&self) -> tokio::time::Instant {
        let missing = (1.0 - self.tokens).max(0.0);
        self.last + Duration::from_secs_f64(missing / self.rate)
    }
}

/// Commands sent at once, outside the pacing: keep-alive, negotiation and leaving.
const UNPACED: &[&str] = &[
    "PONG",
    "PING",
    "QUIT",
    "CAP",
    "AUTHENTICATE",
    "PASS",
    "NICK",
    "USER",
];

/// An open connection: the socket and the lines queued for it.
struct Session {
    transport: Transport,
    /// Lines to write now.
    out: Vec<String>,
    /// Lines waiting for the pacer.
    paced: VecDeque<String>,
    pacer: Pacer,
    reg: Registration,
    registered: bool,
    /// When registration finished, to tell a healthy session from one cut at once.
    registered_at: Option<tokio::time::Instant>,
    /// The server's last words (ERROR), for the disconnect reason.
    error: Option<String>,
    /// Whether the server put us out on purpose (KILL, a ban).
    refused: bool,
    last_heard: tokio::time::Instant,
    ping_sent: Option<tokio::time::Instant>,
    /// Commands that arrived before registration finished, sent after.
    pending: Vec<Command>,
}

impl Session {
    fn new(transport: Transport, config: &ServerConfig, options: &ClientOptions) -> Self {
        Session {
            transport,
            out: Vec::new(),
            paced: VecDeque::new(),
            pacer: Pacer::new(options.send_burst, options.send_rate),
            reg: Registration {
                nick: config.nick.clone(),
                ..Default::default()
            },
            registered: false,
            registered_at: None,
            error: None,
            refused: false,
            last_heard: tokio::time::Instant::now(),
            ping_sent: None,
            pending: Vec::new(),
        }
    }

    /// Queues a line the user asked for: paced.
    fn send(&mut self, line: String) {
        self.paced.push_back(line);
    }

    fn send_msg(&mut self, cmd: &str, params: &[&str]) {
        let mut b = LineBuilder::new();
        b.command(cmd);
        for p in params {
            b.param(p);
        }
        let line = b.finish_string();
        if UNPACED.contains(&cmd) {
            self.out.push(line);
        } else {
            self.paced.push_back(line);
        }
    }

    /// Writes what is queued and what the pacer lets through, bounded in time so a stuck
    /// socket counts as a dead one.
    async fn flush(&mut self, limit: Duration) -> Result<(), String> {
        let now = tokio::time::Instant::now();
        while !self.paced.is_empty() && self.pacer.take(now) {
            if let Some(line) = self.paced.pop_front() {
                self.out.push(line);
            }
        }
        if self.out.is_empty() {
            return Ok(());
        }
        let lines = std::mem::take(&mut self.out);
        let transport = &mut self.transport;
        let write = async move {
            for line in lines {
                transport.feed(line).await?;
            }
            transport.flush().await
        };
        match tokio::time::timeout(limit, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("writing failed: {e}")),
            Err(_) => Err("the server stopped reading".to_owned()),
        }
    }

    async fn run(&mut self, task: &mut Task) -> End {
        let config = task.config.clone();
        self.send_msg("CAP", &["LS", "302"]);
        if let Some(pass) = &config.password {
            self.send_msg("PASS", &[pass]);
        }
        let nick = task.desired_nick.clone();
        self.reg.nick = nick.clone();
        self.send_msg("NICK", &[&nick]);
        let user = config.effective_username();
        self.send_msg("USER", &[&user, "0", "*", config.effective_realname()]);
        let write_limit = task.options.ping_timeout;
        if let Err(e) = self.flush(write_limit).await {
            return End::Lost(e);
        }
        let registration_deadline = tokio::time::Instant::now() + task.options.registration_timeout;
        let tick = (task.options.ping_timeout.min(task.options.ping_interval) / 4)
            .max(Duration::from_millis(50));
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let paced_waiting = !self.paced.is_empty();
            let next_token = self.pacer.next_at();
            let end = tokio::select! {
                () = tokio::time::sleep_until(next_token), if paced_waiting => None,
                line = self.transport.next() => match line {
                    Some(Ok(line)) => {
                        self.last_heard = tokio::time::Instant::now();
                        self.ping_sent = None;
                        self.inbound(task, &line)
                    }
                    Some(Err(e)) => Some(End::Lost(format!("connection error: {e}"))),
                    None => Some(match (&self.error, self.refused) {
                        (Some(e), true) => End::Refused(e.clone()),
                        (Some(e), false) => End::Lost(e.clone()),
                        (None, _) => End::Lost("the server closed the connection".to_owned()),
                    }),
                },
                cmd = task.commands.recv() => match cmd {
                    None => Some(self.quit(None)),
                    Some(cmd) if self.registered || is_control(&cmd) => self.command(task, cmd),
                    Some(cmd) => {
                        // Servers refuse most commands before registration; keep them (a
                        // typing notice would be stale by then).
                        if !matches!(cmd, Command::Typing { .. }) {
                            self.pending.push(cmd);
                        }
                        None
                    }
                },
                () = task.events.closed() => Some(self.quit(None)),
                _ = ticker.tick() => self.timer(task, registration_deadline),
            };
            let flushed = self.flush(write_limit).await;
            match (end, flushed) {
                (Some(End::Quit), _) => {
                    self.linger().await;
                    return End::Quit;
                }
                (Some(End::Disconnect), _) => {
                    self.linger().await;
                    return End::Disconnect;
                }
                (Some(End::Reconnect), _) => {
                    self.linger().await;
                    return End::Reconnect;
                }
                (Some(end), _) => return end,
                (None, Err(e)) => return End::Lost(e),
                (None, Ok(())) => {}
            }
        }
    }

    /// After our QUIT, give the server a moment to close (so the quit message is delivered),
    /// bounded.
    async fn linger(&mut self) {
        let drain = async { while let Some(Ok(_)) = self.transport.next().await {} };
        let _ = tokio::time::timeout(Duration::from_millis(500), drain).await;
    }

    fn quit(&mut self, reason: Option<&str>) -> End {
        self.send_msg("QUIT", &[reason.unwrap_or("Charla")]);
        End::Quit
    }

    fn timer(
        &mut self,
        task: &mut Task,
        registration_deadline: tokio::time::Instant,
    ) -> Option<End> {
        let now = tokio::time::Instant::now();
        if !self.registered && now >= registration_deadline {
            return Some(End::Lost("registration took too long".to_owned()));
        }
        if let Some(sent) = self.ping_sent {
            if now.duration_since(sent) >= task.options.ping_timeout {
                let secs = now.duration_since(self.last_heard).as_secs();
                return Some(End::Lost(format!("no answer from the server for {secs} s")));
            }
        } else if now.duration_since(self.last_heard) >= task.options.ping_interval {
            task.ping_counter += 1;
            let token = format!("charla-{}", task.ping_counter);
            self.send_msg("PING", &[&token]);
            self.ping_sent = Some(now);
        }
        None
    }

    /// One line from the server.
    fn inbound(&mut self, task: &mut Task, line: &str) -> Option<End> {
        let msg = match OwnedMessage::parse(line) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(error = %e, line, "unparsable line from server");
                return None;
            }
        };
        let command = msg.command.to_ascii_uppercase();
        let p = |i: usize| msg.param(i).unwrap_or("").to_owned();
        match command.as_str() {
            "PING" => {
                let token = msg.params.last().cloned().unwrap_or_default();
                self.send_msg("PONG", &[&token]);
                return None;
            }
            "PONG" => return None,
            "CAP" => {
                self.cap(task, &msg);
                return None;
            }
            "AUTHENTICATE" => {
                if p(0) == "+" {
                    self.sasl_payload(&task.config);
                }
                return None;
            }
            "ERROR" => {
                let text = p(0);
                self.refused |= is_refusal(&text);
                self.error = Some(format!("the server said: {text}"));
            }
            "KILL" if msg.param(0).is_some_and(|n| task.state.is_me(n)) => self.refused = true,
            _ => {}
        }
        if let Ok(num) = command.parse::<u16>() {
            match num {
                numeric::RPL_WELCOME => {
                    self.registered = true;
                    self.reg.cap_done = true;
                    let nick = msg.param(0).unwrap_or(&self.reg.nick).to_owned();
                    task.emit(Event::Irc(msg));
                    let reconnected = task.registered_once;
                    task.registered_once = true;
                    self.registered_at = Some(tokio::time::Instant::now());
                    task.emit(Event::Registered { nick, reconnected });
                    self.after_registration(task);
                    return None;
                }
                numeric::ERR_NICKNAMEINUSE
                | numeric::ERR_ERRONEUSNICKNAME
                | numeric::ERR_NICKCOLLISION
                    if !self.registered =>
                {
                    task.emit(Event::Irc(msg));
                    self.next_nick(task, num);
                    return None;
                }
                // A wrong server password or a server ban will not mend by retrying.
                numeric::ERR_PASSWDMISMATCH | numeric::ERR_YOUREBANNEDCREEP => self.refused = true,
                numeric::RPL_SASLSUCCESS
                | numeric::ERR_SASLFAIL
                | numeric::ERR_SASLTOOLONG
                | numeric::ERR_SASLABORTED
                | numeric::ERR_SASLALREADY
                    if self.reg.sasl_pending =>
                {
                    self.reg.sasl_pending = false;
                    self.cap_end();
                }
                _ => {}
            }
        }
        if command == "JOIN" && msg.source_nick().is_some_and(|n| task.state.is_me(n)) {
            let chan = p(0);
            let focus = task.focus_on_join.remove(casefold(&chan).as_ref());
            task.emit(Event::Irc(msg));
            // Learn the channel's modes (answered by RPL_CHANNELMODEIS).
            self.send_msg("MODE", &[&chan]);
            if focus {
                task.emit(Event::OpenBuffer {
                    buffer: BufferId::Channel(chan),
                    focus: true,
                });
            }
            return None;
        }
        if command == "PRIVMSG"
            && let Some((verb, body)) = ctcp(msg.param(1).unwrap_or(""))
            && verb != "ACTION"
        {
            self.ctcp_reply(task, msg.source_nick().unwrap_or(""), verb, body);
        }
        task.emit(Event::Irc(msg));
        None
    }

    fn ctcp_reply(&mut self, task: &mut Task, nick: &str, verb: &str, body: &str) {
        if nick.is_empty() {
            return;
        }
        let now = Instant::now();
        if task
            .last_ctcp_reply
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        let reply = match verb {
            "VERSION" => format!("\u{1}VERSION {VERSION}\u{1}"),
            "PING" => format!("\u{1}PING {body}\u{1}"),
            "TIME" => format!("\u{1}TIME {}\u{1}", chrono::Utc::now().to_rfc2822()),
            _ => return,
        };
        task.last_ctcp_reply = Some(now);
        self.send_msg("NOTICE", &[nick, &reply]);
    }

    fn cap(&mut self, task: &mut Task, msg: &OwnedMessage) {
        // CAP <target> <sub> [*] :<caps>
        let sub = msg.param(1).unwrap_or("").to_ascii_uppercase();
        let more = msg.params.len() > 3 && msg.param(2) == Some("*");
        let list = msg.params.last().map(String::as_str).unwrap_or("");
        match sub.as_str() {
            "LS" | "NEW" => {
                for item in list.split(' ').filter(|s| !s.is_empty()) {
                    let (name, value) = item.split_once('=').unwrap_or((item, ""));
                    self.reg.offered.insert(name.to_owned(), value.to_owned());
                }
                if more {
                    return;
                }
                if let Some(v) = self.reg.offered.get(CAP_ACCOUNT_REGISTRATION) {
                    task.account_registration = Some(v.clone());
                }
                let mut wanted: Vec<&str> = WANTED_CAPS
                    .iter()
                    .copied()
                    .filter(|c| self.reg.offered.contains_key(*c) && !task.state.has_cap(c))
                    .collect();
                if !self.registered && task.config.sasl.is_some() && !task.sasl_allowed() {
                    task.local(
                        BufferId::Server,
                        LineKind::Error,
                        "Not logging in: the password would travel unencrypted. Turn on TLS for \
                         this server.",
                    );
                }
                if !self.registered
                    && task.sasl_allowed()
                    && self.reg.offered.get("sasl").is_some_and(|mechs| {
                        mechs.is_empty() || mechs.split(',').any(|m| m == "PLAIN")
                    })
                {
                    wanted.push("sasl");
                }
                if wanted.is_empty() {
                    if !self.registered {
                        self.cap_end();
                    }
                } else {
                    self.send_msg("CAP", &["REQ", &wanted.join(" ")]);
                }
            }
            "ACK" => {
                let mut enabled = task.state.caps.clone();
                let mut sasl = false;
                for item in list.split(' ').filter(|s| !s.is_empty()) {
                    if let Some(removed) = item.strip_prefix('-') {
                        enabled.retain(|c| c != removed);
                    } else {
                        if item == "sasl" {
                            sasl = true;
                        }
                        if !enabled.iter().any(|c| c == item) {
                            enabled.push(item.to_owned());
                        }
                    }
                }
                task.emit(Event::Capabilities { enabled });
                if self.registered {
                    return;
                }
                if sasl && task.sasl_allowed() {
                    self.reg.sasl_pending = true;
                    self.send_msg("AUTHENTICATE", &["PLAIN"]);
                } else {
                    self.cap_end();
                }
            }
            "NAK" if !self.registered => self.cap_end(),
            "DEL" => {
                let gone: Vec<&str> = list.split(' ').collect();
                let mut enabled = task.state.caps.clone();
                enabled.retain(|c| !gone.contains(&c.as_str()));
                if gone.contains(&CAP_ACCOUNT_REGISTRATION) {
                    task.account_registration = None;
                }
                task.emit(Event::Capabilities { enabled });
            }
            _ => {}
        }
    }

    fn cap_end(&mut self) {
        if !self.reg.cap_done {
            self.reg.cap_done = true;
            self.send_msg("CAP", &["END"]);
        }
    }

    /// SASL PLAIN (<https://ircv3.net/specs/extensions/sasl-3.1>): `authzid \0 authcid \0
    /// password`, base64, in 400-byte pieces, with a `+` after a piece of exactly 400.
    fn sasl_payload(&mut self, config: &ServerConfig) {
        let Some(sasl) = &config.sasl else {
            self.send_msg("AUTHENTICATE", &["*"]);
            return;
        };
        let raw = format!("{0}\0{0}\0{1}", sasl.account, sasl.password);
        let encoded = BASE64.encode(raw.as_bytes());
        let bytes = encoded.as_bytes();
        for piece in bytes.chunks(400) {
            // Base64 is ASCII, so any cut is a char boundary.
            self.send_msg("AUTHENTICATE", &[&String::from_utf8_lossy(piece)]);
        }
        if bytes.len() % 400 == 0 {
            self.send_msg("AUTHENTICATE", &["+"]);
        }
    }

    fn next_nick(&mut self, task: &mut Task, num: u16) {
        self.reg.nick_tries += 1;
        let base = &task.desired_nick;
        let next = match (num, self.reg.nick_tries) {
            (numeric::ERR_ERRONEUSNICKNAME, _) => {
                format!("charla{}", rand::random_range(100..1000))
            }
            (_, 1) => format!("{base}_"),
            (_, 2) => format!("{base}__"),
            _ => format!("{base}{}", rand::random_range(10..1000)),
        };
        if self.reg.nick_tries > 12 {
            // Bounded: the registration timeout ends this if the server keeps refusing.
            return;
        }
        task.local(
            BufferId::Server,
            LineKind::Info,
            format!("Trying the nick {next}"),
        );
        self.reg.nick = next.clone();
        self.send_msg("NICK", &[&next]);
    }

    fn after_registration(&mut self, task: &mut Task) {
        // Rejoin what we were in (and autojoin), in as few lines as fit.
        let channels = task.state.channels_to_rejoin();
        let mut batch = String::new();
        for chan in channels {
            if !batch.is_empty() && batch.len() + chan.len() > 400 {
                self.send_msg("JOIN", &[&batch]);
                batch.clear();
            }
            if !batch.is_empty() {
                batch.push(',');
            }
            batch.push_str(&chan);
        }
        if !batch.is_empty() {
            self.send_msg("JOIN", &[&batch]);
        }
        if let Some(message) = task.away_message.clone() {
            self.send_msg("AWAY", &[&message]);
        }
        for cmd in std::mem::take(&mut self.pending) {
            // Ends cannot come from these (they are not control commands).
            let _ = self.command(task, cmd);
        }
    }

    /// A command from the app while connected.
    fn command(&mut self, task: &mut Task, command: Command) -> Option<End> {
        match command {
            Command::Input { buffer, text } => {
                task.emit(Event::Acting {
                    buffer: buffer.clone(),
                });
                match input::parse(&buffer, &text) {
                    Ok(cmds) => {
                        for c in cmds {
                            if let Some(end) = self.command(task, c) {
                                return Some(end);
                            }
                        }
                    }
                    Err(InputError::Empty) => {}
                    Err(e) => task.local(buffer, LineKind::Error, capitalise(&e.to_string())),
                }
            }
            Command::Join { channel, key } => {
                for name in channel.split(',').filter(|c| !c.is_empty()) {
                    if let Some(b) = task.state.buffer(&BufferId::Channel(name.to_owned()))
                        && b.joined
                    {
                        task.emit(Event::OpenBuffer {
                            buffer: b.id.clone(),
                            focus: true,
                        });
                    } else {
                        task.focus_on_join.insert(casefold(name).into_owned());
                    }
                }
                match key {
                    Some(k) => self.send_msg("JOIN", &[&channel, &k]),
                    None => self.send_msg("JOIN", &[&channel]),
                }
            }
            Command::Part { channel, reason } => {
                let joined = task
                    .state
                    .buffer(&BufferId::Channel(channel.clone()))
                    .is_some_and(|b| b.joined);
                let id = BufferId::Channel(channel.clone());
                if joined {
                    match reason {
                        Some(r) => self.send_msg("PART", &[&channel, &r]),
                        None => self.send_msg("PART", &[&channel]),
                    }
                } else if task.state.buffer(&id).is_none() {
                    let at = task.state_acting();
                    task.local(at, LineKind::Error, format!("You are not in {channel}"));
                    return None;
                }
                task.emit(Event::CloseBuffer {
                    buffer: BufferId::Channel(channel),
                });
            }
            Command::Privmsg { target, text } => self.say(task, "PRIVMSG", &target, &text, false),
            Command::Action { target, text } => self.say(task, "PRIVMSG", &target, &text, true),
            Command::Notice { target, text } => self.say(task, "NOTICE", &target, &text, false),
            Command::OpenQuery { nick } => {
                task.emit(Event::OpenBuffer {
                    buffer: BufferId::Query(nick),
                    focus: true,
                });
            }
            Command::CloseBuffer { buffer } => match &buffer {
                BufferId::Server => {}
                BufferId::Channel(name) => {
                    return self.command(
                        task,
                        Command::Part {
                            channel: name.clone(),
                            reason: None,
                        },
                    );
                }
                BufferId::Query(_) => task.emit(Event::CloseBuffer { buffer }),
            },
            Command::Typing { target, state } => self.typing(task, &target, state),
            Command::Nick { nick } => {
                task.desired_nick = nick.clone();
                self.send_msg("NICK", &[&nick]);
            }
            Command::Topic { channel, topic } => match topic {
                Some(t) => self.send_msg("TOPIC", &[&channel, &t]),
                None => self.send_msg("TOPIC", &[&channel]),
            },
            Command::Away { message } => {
                match &message {
                    Some(m) => self.send_msg("AWAY", &[m]),
                    None => self.send_msg("AWAY", &[]),
                }
                task.away_message = message;
            }
            Command::Kick {
                channel,
                nick,
                reason,
            } => match reason {
                Some(r) => self.send_msg("KICK", &[&channel, &nick, &r]),
                None => self.send_msg("KICK", &[&channel, &nick]),
            },
            Command::Raw { line } => {
                let line = line
                    .split(['\r', '\n'])
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_owned();
                if !line.is_empty() {
                    self.send(line);
                }
            }
            Command::TrustCertificate { fingerprint } => {
                let _ = task.trust_pending(&fingerprint);
            }
            Command::RegisterAccount {
                account,
                email,
                password,
            } => {
                if task.account_registration.is_none() {
                    let at = task.state_acting();
                    task.local(
                        at,
                        LineKind::Error,
                        "This server does not offer account registration",
                    );
                } else {
                    let account = account.unwrap_or_else(|| "*".to_owned());
                    let email = email.unwrap_or_else(|| "*".to_owned());
                    self.send_msg("REGISTER", &[&account, &email, &password]);
                }
            }
            Command::Reconnect => {
                self.send_msg("QUIT", &["Reconnecting"]);
                return Some(End::Reconnect);
            }
            Command::Disconnect { reason } => {
                self.send_msg("QUIT", &[reason.as_deref().unwrap_or("Charla")]);
                return Some(End::Disconnect);
            }
            Command::Quit { reason } => return Some(self.quit(reason.as_deref())),
        }
        None
    }

    /// Sends a message, split to fit, and shows it when the server will not echo it.
    fn say(&mut self, task: &mut Task, verb: &str, target: &str, text: &str, action: bool) {
        if target.is_empty() {
            return;
        }
        // The server prefixes relayed lines with `:nick!user@host `; leave room for it.
        let overhead =
            1 + task.state.nick.len() + 1 + 16 + 1 + 64 + 1 + verb.len() + 1 + target.len() + 2 + 2;
        let budget = charla_proto::limits::MAX_LINE
            .saturating_sub(overhead + if action { 9 } else { 0 })
            .max(64);
        for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
            if line.is_empty() {
                continue;
            }
            for piece in split_text(line, budget) {
                let body = if action {
                    format!("\u{1}ACTION {piece}\u{1}")
                } else {
                    piece.to_owned()
                };
                self.send_msg(verb, &[target, &body]);
                if !task.state.has_cap("echo-message") {
                    let msg = OwnedMessage {
                        tags: Vec::new(),
                        source: Some(task.state.nick.clone()),
                        command: verb.to_owned(),
                        params: vec![target.to_owned(), body],
                    };
                    task.emit(Event::Echo(msg));
                }
            }
        }
        // A message ends typing.
        task.typing_sent.remove(casefold(target).as_ref());
    }

    fn typing(&mut self, task: &mut Task, target: &str, state: TypingState) {
        if !task.state.has_cap("message-tags") || target.is_empty() {
            return;
        }
        let key = casefold(target).into_owned();
        let now = Instant::now();
        match state {
            TypingState::Active => {
                if task
                    .typing_sent
                    .get(&key)
                    .is_some_and(|t| now.duration_since(*t) < TYPING_THROTTLE)
                {
                    return;
                }
                task.typing_sent.insert(key, now);
            }
            TypingState::Paused | TypingState::Done => {
                // Only worth saying if we said we were typing.
                if task.typing_sent.remove(&key).is_none() {
                    return;
                }
            }
        }
        if !self.paced.is_empty() {
            // Behind on sending: a typing notice would arrive stale.
            return;
        }
        let mut b = LineBuilder::new();
        b.tag("+typing", Some(state.as_str()))
            .command("TAGMSG")
            .param(target);
        self.send(b.finish_string());
    }
}

impl Task {
    fn state_acting(&self) -> BufferId {
        self.state.acting().clone()
    }

    /// Whether we may send the SASL password: only over TLS, or to this machine.
    fn sasl_allowed(&self) -> bool {
        self.config.sasl.is_some() && (self.config.tls || is_loopback(&self.config.host))
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

/// Splits `text` into pieces of at most `max` bytes, at spaces when it can, never inside a
/// character.
pub fn split_text(text: &str, max: usize) -> Vec<&str> {
    let max = max.max(4);
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        // Prefer the last space in the second half of the piece.
        if let Some(space) = rest[..cut].rfind(' ')
            && space > cut / 2
        {
            cut = space;
        }
        out.push(&rest[..cut]);
        rest = rest[cut..].strip_prefix(' ').unwrap_or(&rest[cut..]);
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest);
    }
    out
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
    fn pacer_allows_a_burst_then_the_rate() {
        let mut p = Pacer::new(3, 2.0);
        let t0 = tokio::time::Instant::now();
        assert!(p.take(t0) && p.take(t0) && p.take(t0));
        assert!(!p.take(t0));
        assert_eq!(p.next_at(), t0 + Duration::from_millis(500));
        assert!(p.take(t0 + Duration::from_millis(500)));
        assert!(!p.take(t0 + Duration::from_millis(600)));
        // Idle time refills up to the burst, not beyond.
        let later = t0 + Duration::from_secs(60);
        assert!(p.take(later) && p.take(later) && p.take(later));
        assert!(!p.take(later));
    }

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

    #[test]
    fn split_text_respects_bytes_chars_and_spaces() {
        assert_eq!(split_text("hola", 10), ["hola"]);
        assert_eq!(split_text("", 10), [""]);
        let pieces = split_text("uno dos tres cuatro", 12);
        assert_eq!(pieces, ["uno dos", "tres cuatro"]);
        let pieces = split_text("abcdefghijklmnop", 5);
        assert_eq!(pieces.concat(), "abcdefghijklmnop");
        let emoji = "🎉".repeat(10);
        let pieces = split_text(&emoji, 9);
        assert!(pieces.iter().all(|p| p.len() <= 9 && !p.is_empty()));
        assert_eq!(pieces.concat(), emoji);
    }
}
