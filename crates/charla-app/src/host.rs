//! "Host a server": starts an embedded charla-server on the app's tokio runtime and shows the
//! operator console of the original exercise: start/stop, the live log (connections, joins,
//! leaves, messages), who is connected (address, since when), send to everyone, send to one
//! user, kick. With TLS the server listens over TLS with its own self-signed certificate
//! (made once in the app's data directory and reused, so pins stay valid); the console shows
//! its fingerprint for the operator to pass on.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use charla_proto::formatting::strip;
use charla_server::config::StoreConfig;
use charla_server::{
    Config, ListenerConfig, MessageKind, Server, ServerEvent, ServerHandle, UserInfo,
};
use egui::{RichText, Ui};
use tokio::sync::broadcast::error::RecvError;

use crate::config::HostSettings;
use crate::theme;

/// Below this width the user table goes above the log rather than beside it, so that it
/// keeps all its columns.
const SIDE_BY_SIDE: f32 = 960.0;

/// How many log entries the console keeps.
const LOG_LIMIT: usize = 2_000;

/// What the console asks of the rest of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAction {
    /// The server is up on `port`: connect the host's chat window as `nick`.
    Started {
        /// The port it listens on.
        port: u16,
        /// The host's nick.
        nick: String,
        /// With TLS, the SHA-256 fingerprint of the server's certificate: the app made the
        /// server, so its own chat pins this certificate without asking.
        tls_fingerprint: Option<String>,
    },
    /// The server stopped.
    Stopped,
    /// Show the chat window.
    OpenChat,
}

/// One line of the live log.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// When.
    pub time: SystemTime,
    /// What, in words.
    pub text: String,
    /// How to colour it.
    pub kind: LogKind,
}

/// The kinds of log line, for colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// Connects, disconnects, server start/stop.
    Connection,
    /// Joins, parts, kicks, nick and topic changes.
    Channel,
    /// Messages and notices.
    Message,
    /// Something went wrong.
    Problem,
}

/// What the forwarding task passes to the UI thread.
enum Feed {
    Event(ServerEvent),
    Skipped(u64),
}

enum Phase {
    Stopped,
    Starting(mpsc::Receiver<Result<ServerHandle, String>>),
    Running(Running),
    Stopping(mpsc::Receiver<()>),
}

struct Running {
    handle: ServerHandle,
    addr: SocketAddr,
    /// The certificate's fingerprint when the server speaks TLS.
    fingerprint: Option<String>,
    since: SystemTime,
    feed: mpsc::Receiver<Feed>,
    forward: tokio::task::JoinHandle<()>,
}

/// The operator console and the embedded server it controls.
pub struct HostConsole {
    runtime: tokio::runtime::Handle,
    ctx: egui::Context,
    port: String,
    tls: bool,
    public: bool,
    nick: String,
    /// Where a TLS server keeps its generated certificate.
    data_dir: PathBuf,
    phase: Phase,
    log: VecDeque<LogEntry>,
    users: Vec<UserInfo>,
    selected: Option<String>,
    to_everyone: String,
    to_user: String,
    kick_reason: String,
    /// The outcome of the last action, in words (error or confirmation).
    feedback: Option<(bool, String)>,
}

impl HostConsole {
    /// A stopped console that will run its server on `runtime`, with last time's choices; a
    /// TLS server keeps its certificate in `data_dir`.
    pub fn new(
        runtime: tokio::runtime::Handle,
        ctx: egui::Context,
        saved: &HostSettings,
        data_dir: PathBuf,
    ) -> Self {
        Self {
            runtime,
            ctx,
            port: saved.port.to_string(),
            tls: saved.tls,
            public: saved.public,
            nick: saved.nick.clone(),
            data_dir,
            phase: Phase::Stopped,
            log: VecDeque::new(),
            users: Vec::new(),
            selected: None,
            to_everyone: String::new(),
            to_user: String::new(),
            kick_reason: String::new(),
            feedback: None,
        }
    }

    /// The choices to remember (port, nick, reach), as the user left them.
    pub fn settings(&self) -> HostSettings {
        HostSettings {
            port: self.port.trim().parse().unwrap_or(0),
            nick: self.nick.trim().to_owned(),
            public: self.public,
            tls: self.tls,
        }
    }

    /// Whether the server is running.
    pub fn is_running(&self) -> bool {
        matches!(self.phase, Phase::Running(_))
    }

    /// The running server's certificate fingerprint, when it speaks TLS.
    pub fn tls_fingerprint(&self) -> Option<&str> {
        match &self.phase {
            Phase::Running(r) => r.fingerprint.as_deref(),
            _ => None,
        }
    }

    /// The running server's address.
    pub fn address(&self) -> Option<SocketAddr> {
        match &self.phase {
            Phase::Running(r) => Some(r.addr),
            _ => None,
        }
    }

    /// The live log, oldest first.
    pub fn log(&self) -> &VecDeque<LogEntry> {
        &self.log
    }

    /// The connected users as last seen.
    pub fn users(&self) -> &[UserInfo] {
        &self.users
    }

    fn push_log(&mut self, kind: LogKind, text: String) {
        if self.log.len() == LOG_LIMIT {
            self.log.pop_front();
        }
        self.log.push_back(LogEntry {
            time: SystemTime::now(),
            text,
            kind,
        });
    }

    /// Starts the server at once (the `--host` command-line option), as the Start button does.
    pub fn start_now(&mut self, port: u16, nick: &str, tls: bool) {
        if matches!(self.phase, Phase::Stopped) {
            self.port = port.to_string();
            self.tls = tls;
            nick.clone_into(&mut self.nick);
            self.start(port);
        }
    }

    /// Starts the server on `port` (0: any free port).
    fn start(&mut self, port: u16) {
        let ip = if self.public {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        };
        let addr = SocketAddr::new(ip, port);
        let mut config = Config::with_listener(addr);
        // Accounts and registered channels are kept beside the certificate, across restarts.
        config.data_dir = self.data_dir.clone();
        config.store = StoreConfig::default();
        if self.tls {
            config.listeners = vec![ListenerConfig::tls(addr)];
        }
        let (tx, rx) = mpsc::channel();
        let ctx = self.ctx.clone();
        self.runtime.spawn(async move {
            let result = Server::start(config).await.map_err(|e| e.to_string());
            // The console may be gone (app closing); then there is no one to tell.
            let _ = tx.send(result);
            ctx.request_repaint();
        });
        self.phase = Phase::Starting(rx);
        self.feedback = None;
    }

    /// Stops the server (in the background); harmless when stopped.
    pub fn stop(&mut self) {
        let phase = std::mem::replace(&mut self.phase, Phase::Stopped);
        let Phase::Running(running) = phase else {
            self.phase = phase;
            return;
        };
        let (tx, rx) = mpsc::channel();
        let ctx = self.ctx.clone();
        let handle = running.handle.clone();
        running.forward.abort();
        self.runtime.spawn(async move {
            handle.shutdown().await;
            let _ = tx.send(());
            ctx.request_repaint();
        });
        self.push_log(LogKind::Connection, "Stopping the server…".to_owned());
        self.phase = Phase::Stopping(rx);
    }

    /// Takes in what happened since the last frame: start/stop results and server events.
    /// Returns an action when the server started or stopped.
    pub fn drain(&mut self) -> Option<HostAction> {
        match &mut self.phase {
            Phase::Starting(rx) => match rx.try_recv() {
                Ok(Ok(handle)) => Some(self.started(handle)),
                Ok(Err(e)) => {
                    self.phase = Phase::Stopped;
                    let text = format!("Could not start the server: {e}");
                    self.push_log(LogKind::Problem, text.clone());
                    self.feedback = Some((false, text));
                    None
                }
                Err(mpsc::TryRecvError::Empty) => None,
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.phase = Phase::Stopped;
                    self.feedback = Some((false, "The server task ended unexpectedly.".to_owned()));
                    None
                }
            },
            Phase::Stopping(rx) => match rx.try_recv() {
                Ok(()) | Err(mpsc::TryRecvError::Disconnected) => {
                    self.phase = Phase::Stopped;
                    self.users.clear();
                    self.selected = None;
                    self.push_log(LogKind::Connection, "Server stopped.".to_owned());
                    Some(HostAction::Stopped)
                }
                Err(mpsc::TryRecvError::Empty) => None,
            },
            Phase::Running(running) => {
                let mut feed = Vec::new();
                while let Ok(item) = running.feed.try_recv() {
                    feed.push(item);
                    if feed.len() >= LOG_LIMIT {
                        self.ctx.request_repaint();
                        break;
                    }
                }
                // The snapshot is cheap (a lock and a copy); taking it every frame keeps
                // "connected since" and the channels current without tracking each event.
                let users = running.handle.users();
                for item in feed {
                    match item {
                        Feed::Event(event) => {
                            if let Some((kind, text)) = describe(&event) {
                                self.push_log(kind, text);
                            }
                        }
                        Feed::Skipped(n) => {
                            self.push_log(
                                LogKind::Problem,
                                format!("({n} events skipped: the log fell behind)"),
                            );
                        }
                    }
                }
                self.users = users;
                if self
                    .selected
                    .as_ref()
                    .is_some_and(|nick| !self.users.iter().any(|u| &u.nick == nick))
                {
                    self.selected = None;
                }
                None
            }
            Phase::Stopped => None,
        }
    }

    fn started(&mut self, handle: ServerHandle) -> HostAction {
        let addr = handle
            .local_addrs()
            .first()
            .copied()
            .unwrap_or_else(|| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
        let (tx, rx) = mpsc::channel();
        let mut events = handle.subscribe();
        let ctx = self.ctx.clone();
        let forward = self.runtime.spawn(async move {
            loop {
                let item = match events.recv().await {
                    Ok(event) => Feed::Event(event),
                    Err(RecvError::Lagged(n)) => Feed::Skipped(n),
                    Err(RecvError::Closed) => break,
                };
                if tx.send(item).is_err() {
                    break;
                }
                ctx.request_repaint();
            }
        });
        let fingerprint = handle.tls_fingerprint();
        let text = match &fingerprint {
            Some(fp) => format!(
                "Server started on {addr} with TLS. Others connect to this computer's address, \
                 port {}, with TLS on; their app asks them to trust the certificate once: its \
                 fingerprint must be {fp}.",
                addr.port()
            ),
            None => format!(
                "Server started on {addr}. Others connect to this computer's address, port {}.",
                addr.port()
            ),
        };
        // Listening on loopback only: nobody else can connect, whatever the above would say.
        let text = if addr.ip().is_loopback() {
            format!(
                "Server started on {addr}. Only this computer can connect; turn on \"Let other \
                 computers connect\" to let others in."
            )
        } else {
            text
        };
        self.push_log(LogKind::Connection, text);
        self.phase = Phase::Running(Running {
            handle,
            addr,
            fingerprint: fingerprint.clone(),
            since: SystemTime::now(),
            feed: rx,
            forward,
        });
        let nick = if self.nick.trim().is_empty() {
            "host".to_owned()
        } else {
            self.nick.trim().to_owned()
        };
        HostAction::Started {
            port: addr.port(),
            nick,
            tls_fingerprint: fingerprint,
        }
    }

    /// Draws the console; `nick_hint` is the nick from the connect screen. Call [`Self::drain`]
    /// every frame first, whichever tab is shown.
    pub fn show(&mut self, ui: &mut Ui, nick_hint: &str) -> Option<HostAction> {
        let mut action = None;
        if self.nick.is_empty() && !nick_hint.is_empty() {
            self.nick = nick_hint.to_owned();
        }
        ui.heading("Host a server");
        ui.label("Run a Charla server on this computer. People on your network connect to it with Charla or any IRC app; you chat in the Chat tab.");
        ui.add_space(8.0);
        if let Some(a) = self.controls(ui) {
            action = Some(a);
        }
        self.feedback_line(ui);
        ui.separator();
        if self.is_running() {
            ui.ctx().request_repaint_after(Duration::from_secs(1));
            self.send_to_everyone(ui);
            ui.separator();
        }
        let width = ui.available_width();
        if width >= SIDE_BY_SIDE {
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.set_width(width * 0.5);
                    self.log_ui(ui);
                });
                ui.separator();
                ui.vertical(|ui| {
                    self.users_ui(ui);
                });
            });
        } else {
            // A small window: the users (with all their columns) above, the log below.
            self.users_ui(ui);
            ui.separator();
            self.log_ui(ui);
        }
        action
    }

    /// The outcome of the last action, in one row that is there (empty) before any action, so
    /// that nothing below it moves when it appears: a click meant for one user must not land
    /// on the next. A long text is cut, whole on hover.
    fn feedback_line(&self, ui: &mut Ui) {
        let height = ui.text_style_height(&egui::TextStyle::Body);
        let size = egui::vec2(ui.available_width(), height);
        ui.allocate_ui_with_layout(
            size,
            egui::Layout::left_to_right(egui::Align::Center),
            |ui| {
                ui.set_min_size(size);
                if let Some((ok, text)) = &self.feedback {
                    let colour = if *ok { theme::OK } else { theme::DANGER };
                    ui.add(egui::Label::new(RichText::new(text).color(colour)).truncate());
                }
            },
        );
    }

    fn controls(&mut self, ui: &mut Ui) -> Option<HostAction> {
        let mut action = None;
        let stopped = matches!(self.phase, Phase::Stopped);
        ui.horizontal(|ui| {
            ui.add_enabled_ui(stopped, |ui| {
                ui.label("Port");
                ui.add(egui::TextEdit::singleline(&mut self.port).desired_width(60.0))
                    .accessible_name("Server port");
                ui.checkbox(&mut self.tls, "TLS").on_hover_text(
                    "Encrypt connections. The certificate is made on this computer \
                         (self-signed): others' apps ask them once to trust it; the console \
                         shows its fingerprint for you to give them.",
                );
                ui.checkbox(&mut self.public, "Let other computers connect")
                    .on_hover_text(
                        "Off (the default): only this computer (127.0.0.1) can connect.\n\
                         On: anyone who can reach this computer on this port can join: people \
                         on your network, or on the internet if your router forwards the port. \
                         Turn on TLS as well, so that what is said cannot be read on the way.",
                    );
                ui.label("Your nick");
                ui.add(
                    egui::TextEdit::singleline(&mut self.nick)
                        .desired_width(120.0)
                        .hint_text("host"),
                )
                .accessible_name("Host nick");
            });
        });
        ui.add_space(4.0);
        ui.horizontal(|ui| match &self.phase {
            Phase::Stopped => {
                if ui.button(RichText::new("▶ Start server").strong()).clicked() {
                    match self.port.trim().parse::<u16>() {
                        Ok(port) => self.start(port),
                        Err(_) => {
                            self.feedback = Some((
                                false,
                                format!("The port must be a number from 1 to 65535 (0: any free port), not “{}”.", self.port.trim()),
                            ));
                        }
                    }
                }
                ui.label("Stopped.");
            }
            Phase::Starting(_) => {
                ui.spinner();
                ui.label("Starting…");
            }
            Phase::Stopping(_) => {
                ui.spinner();
                ui.label("Stopping…");
            }
            Phase::Running(running) => {
                let addr = running.addr;
                let since = running.since;
                let tls = if running.fingerprint.is_some() { " with TLS" } else { "" };
                if ui.button("■ Stop server").clicked() {
                    self.stop();
                    return;
                }
                theme::dot(ui, theme::OK);
                ui.label(format!("Running on port {}{tls} since {}", addr.port(), clock(since)));
                if ui.button("Open my chat").clicked() {
                    action = Some(HostAction::OpenChat);
                }
            }
        });
        if let Some(fingerprint) = self.tls_fingerprint() {
            // Selectable: the operator copies it to whoever will connect.
            ui.horizontal_wrapped(|ui| {
                ui.label("Certificate fingerprint (SHA-256):");
                ui.add(egui::Label::new(RichText::new(fingerprint).monospace()).selectable(true));
            });
        }
        action
    }

    fn send_to_everyone(&mut self, ui: &mut Ui) {
        let Phase::Running(running) = &self.phase else {
            return;
        };
        let handle = running.handle.clone();
        ui.horizontal(|ui| {
            ui.label("Send to everyone");
            let response = ui
                .add(
                    egui::TextEdit::singleline(&mut self.to_everyone)
                        .desired_width(ui.available_width() - 80.0)
                        .hint_text("A notice every connected user sees"),
                )
                .accessible_name("Message to everyone");
            let entered = response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Send to all").clicked() || entered)
                && !self.to_everyone.trim().is_empty()
            {
                let text = self.to_everyone.trim().to_owned();
                self.feedback = Some(match handle.notice_all(&text) {
                    Ok(()) => {
                        self.to_everyone.clear();
                        (true, format!("Sent to {} users.", self.users.len()))
                    }
                    Err(e) => (false, format!("Not sent: {e}.")),
                });
            }
        });
    }

    fn log_ui(&mut self, ui: &mut Ui) {
        ui.label(RichText::new("Live log").strong());
        egui::ScrollArea::vertical()
            .id_salt("host-log")
            .auto_shrink([false, false])
            .stick_to_bottom(true)
            .max_height(ui.available_height())
            .show(ui, |ui| {
                if self.log.is_empty() {
                    theme::hint(ui, "Nothing yet. Start the server: connections, joins, leaves and messages show here.");
                }
                let muted = theme::muted(ui.visuals());
                for entry in &self.log {
                    let colour = match entry.kind {
                        LogKind::Connection => theme::OK,
                        LogKind::Channel => muted,
                        LogKind::Message => ui.visuals().text_color(),
                        LogKind::Problem => theme::DANGER,
                    };
                    ui.horizontal_wrapped(|ui| {
                        ui.label(RichText::new(clock(entry.time)).monospace().color(muted));
                        ui.label(RichText::new(&entry.text).color(colour));
                    });
                }
            });
    }

    fn users_ui(&mut self, ui: &mut Ui) {
        ui.label(RichText::new(format!("Connected users ({})", self.users.len())).strong());
        if !self.is_running() {
            theme::hint(ui, "The server is not running.");
            return;
        }
        if self.users.is_empty() {
            theme::hint(ui, "No one yet.");
        }
        let now = SystemTime::now();
        // The user list can be long: it scrolls within a share of the height, leaving room for
        // the controls under it; sideways too, should a column still not fit.
        egui::ScrollArea::both()
            .id_salt("host-users-scroll")
            .max_height((ui.available_height() * 0.5).max(120.0))
            .auto_shrink([false, true])
            .show(ui, |ui| self.users_grid(ui, now));
        self.user_actions(ui);
    }

    /// The table of connected users; clicking a nick selects it.
    fn users_grid(&mut self, ui: &mut Ui, now: SystemTime) {
        egui::Grid::new("host-users")
            .striped(true)
            .num_columns(4)
            .show(ui, |ui| {
                ui.label(RichText::new("Nick").strong());
                ui.label(RichText::new("Address").strong());
                ui.label(RichText::new("Connected").strong());
                ui.label(RichText::new("Channels").strong());
                ui.end_row();
                for user in &self.users {
                    let selected = self.selected.as_deref() == Some(user.nick.as_str());
                    let nick = if user.oper {
                        format!("{} (oper)", user.nick)
                    } else {
                        user.nick.clone()
                    };
                    let response = ui.selectable_label(selected, nick);
                    let channels = if user.channels.is_empty() {
                        "in no channel".to_owned()
                    } else {
                        format!("in {}", user.channels.join(", "))
                    };
                    let response = response.on_hover_text(channels);
                    if response.clicked() {
                        self.selected = if selected {
                            None
                        } else {
                            Some(user.nick.clone())
                        };
                    }
                    ui.label(user.addr.to_string());
                    let ago = now.duration_since(user.connected_since).unwrap_or_default();
                    ui.label(format!(
                        "{} ({})",
                        clock(user.connected_since),
                        ago_text(ago)
                    ));
                    ui.label(user.channels.join(" "));
                    ui.end_row();
                }
            });
    }

    /// Writing to or kicking the selected user.
    fn user_actions(&mut self, ui: &mut Ui) {
        ui.add_space(8.0);
        let Some(nick) = self.selected.clone() else {
            if !self.users.is_empty() {
                theme::hint(ui, "Select a user to write to them or kick them.");
            }
            return;
        };
        let Phase::Running(running) = &self.phase else {
            return;
        };
        let handle = running.handle.clone();
        ui.label(RichText::new(format!("To {nick}")).strong());
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.to_user)
                    .desired_width(220.0)
                    .hint_text("A private notice"),
            )
            .accessible_name("Message to this user");
            if ui.button("Send to this user").clicked() && !self.to_user.trim().is_empty() {
                let text = self.to_user.trim().to_owned();
                self.feedback = Some(match handle.message_user(&nick, &text) {
                    Ok(()) => {
                        self.to_user.clear();
                        (true, format!("Sent to {nick}."))
                    }
                    Err(e) => (false, format!("Not sent: {e}.")),
                });
            }
        });
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.kick_reason)
                    .desired_width(220.0)
                    .hint_text("Reason (optional)"),
            )
            .accessible_name("Kick reason");
            let kick = RichText::new("Kick").color(theme::DANGER);
            if ui.button(kick).clicked() {
                let reason = if self.kick_reason.trim().is_empty() {
                    "Kicked by the operator".to_owned()
                } else {
                    self.kick_reason.trim().to_owned()
                };
                self.feedback = Some(match handle.disconnect(&nick, &reason) {
                    Ok(()) => {
                        self.kick_reason.clear();
                        (true, format!("{nick} was disconnected."))
                    }
                    Err(e) => (false, format!("Could not kick {nick}: {e}.")),
                });
            }
        });
    }
}

/// A server event as a log line, in words; `None` for events the log does not show.
pub fn describe(event: &ServerEvent) -> Option<(LogKind, String)> {
    Some(match event {
        ServerEvent::Connected { addr, .. } => {
            (LogKind::Connection, format!("Connection from {addr}"))
        }
        ServerEvent::Registered { nick, addr, .. } => {
            (LogKind::Connection, format!("{nick} connected from {addr}"))
        }
        ServerEvent::Disconnected {
            nick,
            addr,
            reason,
            stays,
            ..
        } => {
            let who = nick
                .as_deref()
                .map_or_else(|| addr.to_string(), str::to_owned);
            if *stays {
                (
                    LogKind::Connection,
                    format!("{who} closed a connection from {addr} ({reason}) and stays online"),
                )
            } else {
                (LogKind::Connection, format!("{who} left ({reason})"))
            }
        }
        ServerEvent::Joined { nick, channel } => {
            (LogKind::Channel, format!("{nick} joined {channel}"))
        }
        ServerEvent::Parted {
            nick,
            channel,
            reason,
        } => match reason {
            Some(r) if !r.is_empty() => (LogKind::Channel, format!("{nick} left {channel} ({r})")),
            _ => (LogKind::Channel, format!("{nick} left {channel}")),
        },
        ServerEvent::Kicked {
            channel,
            nick,
            by,
            reason,
        } => (
            LogKind::Channel,
            format!("{by} kicked {nick} from {channel} ({reason})"),
        ),
        ServerEvent::NickChanged { old, new } => (LogKind::Channel, format!("{old} is now {new}")),
        ServerEvent::Message {
            from, target, text, ..
        } if charla_client::state::ctcp(text).is_some_and(|(verb, _)| verb == "ACTION") => {
            let action = charla_client::state::ctcp(text).map_or("", |(_, body)| body);
            (
                LogKind::Message,
                format!("{target}: * {from} {}", strip(action)),
            )
        }
        ServerEvent::Message {
            from,
            target,
            text,
            kind,
        } => {
            let arrow = match kind {
                MessageKind::Privmsg => "to",
                MessageKind::Notice => "(notice) to",
            };
            (
                LogKind::Message,
                format!("{from} {arrow} {target}: {}", strip(text)),
            )
        }
        ServerEvent::TopicChanged { channel, by, topic } => (
            LogKind::Channel,
            format!("{by} set the topic of {channel}: {}", strip(topic)),
        ),
        ServerEvent::Renamed { old, new, by } => {
            (LogKind::Channel, format!("{by} renamed {old} to {new}"))
        }
        ServerEvent::Opered { nick, .. } => {
            (LogKind::Connection, format!("{nick} is now an operator"))
        }
        // The enum is non-exhaustive: newer events are left out rather than guessed at.
        _ => return None,
    })
}

/// "14:03:22" in local time.
fn clock(time: SystemTime) -> String {
    let time: chrono::DateTime<chrono::Local> = time.into();
    time.format("%H:%M:%S").to_string()
}

/// "just now", "5 min", "2 h 3 min".
fn ago_text(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => "just now".to_owned(),
        60..3600 => format!("{} min", secs / 60),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}
