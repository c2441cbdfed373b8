//! [`CharlaApp`]: the window. A top bar switches between the chat (connect screen, side list,
//! chat view, nick list) and "Host a server" (the operator console). Each frame drains the
//! connections' events into their states, then draws; commands go out with `try_send`, so
//! the UI never waits on the network.

use std::sync::Arc;

use charla_client::{BufferId, Command, ConnectionStatus, ServerConfig, TrustStore};
use egui::{RichText, Ui};

use crate::buffers::{self, ListAction};
use crate::config::{ConfigStore, Settings};
use crate::connect::{self, ConnectAction, ConnectForm, Registration};
use crate::host::{HostAction, HostConsole};
use crate::secrets::{Pending, Secrets};
use crate::session::Session;
use crate::{account, certificate, chat, nicklist, notify, search, theme, trouble};

/// How the app is set up: where it keeps things, and whether it may notify the desktop.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Saved servers and settings.
    pub store: ConfigStore,
    /// Certificate pins.
    pub trust: TrustStore,
    /// Send desktop notifications (off in tests).
    pub notifications: bool,
    /// Where account passwords are kept: the system keyring, or memory (tests).
    pub secrets: Secrets,
}

impl AppOptions {
    /// The user's own files (config directory), notifications on.
    pub fn user() -> Self {
        let store = ConfigStore::user();
        let trust = store
            .path()
            .and_then(|p| p.parent())
            .map(|dir| dir.join("pins.toml"))
            .and_then(|path| match TrustStore::load(&path) {
                Ok(store) => Some(store),
                Err(e) => {
                    tracing::warn!(error = %e, "certificate pins unreadable; starting empty");
                    None
                }
            })
            .unwrap_or_else(TrustStore::in_memory);
        Self {
            store,
            trust,
            notifications: true,
            secrets: Secrets::system(),
        }
    }

    /// Nothing on disk, no notifications: for tests.
    pub fn ephemeral() -> Self {
        Self {
            store: ConfigStore::in_memory(),
            trust: TrustStore::in_memory(),
            notifications: false,
            secrets: Secrets::in_memory(),
        }
    }
}

/// Which part of the window is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// The chat window.
    Chat,
    /// The operator console of the embedded server.
    Host,
}

/// The desktop app.
pub struct CharlaApp {
    runtime: tokio::runtime::Handle,
    ctx: egui::Context,
    options: AppOptions,
    settings: Settings,
    /// The settings file's problem, shown on the connect screen.
    settings_error: Option<String>,
    tab: Tab,
    connect: ConnectForm,
    show_connect: bool,
    sessions: Vec<Session>,
    current: Option<usize>,
    next_key: u64,
    host: HostConsole,
    title: String,
    last_notification: Option<std::time::Instant>,
    /// The user closed the window while others were on the hosted server: ask first.
    confirm_quit: bool,
    /// The user said yes: let the window close.
    quitting: bool,
    /// A password being looked up in the keyring for the connect form.
    password_lookup: Option<Pending<Option<String>>>,
    /// A password being written to (or removed from) the keyring.
    password_saving: Option<Pending<()>>,
    /// People's pictures (draft/metadata-2 avatars).
    avatars: crate::avatars::Avatars,
    /// The quick switcher (Ctrl+K).
    switcher: crate::switcher::Switcher,
}

impl CharlaApp {
    /// Builds the app on `ctx`, spawning network work on `runtime`.
    /// People's pictures fetched so far.
    pub fn avatars(&self) -> &crate::avatars::Avatars {
        &self.avatars
    }

    pub fn new(ctx: egui::Context, runtime: tokio::runtime::Handle, options: AppOptions) -> Self {
        let (settings, settings_error) = match options.store.load() {
            Ok(settings) => (settings, None),
            Err(e) => {
                let kept = match options.store.set_aside() {
                    Ok(Some(aside)) => format!(" It was kept as {}.", aside.display()),
                    Ok(None) => String::new(),
                    Err(e) => format!(" ({e})"),
                };
                (
                    Settings::default(),
                    Some(format!("{e}. Starting with no saved servers.{kept}")),
                )
            }
        };
        if let Some(dark) = settings.dark {
            theme::apply(&ctx, dark);
        }
        crate::emoji::install(&ctx);
        let connect = settings
            .servers
            .first()
            .map(|s| ConnectForm::from_saved(s, Some(0)))
            .unwrap_or_default();
        // The embedded server's files (its TLS certificate) live beside the settings; without
        // a settings file (tests), in a temporary directory of this process.
        let server_dir = options
            .store
            .path()
            .and_then(|p| p.parent())
            .map(|dir| dir.join("server"))
            .unwrap_or_else(|| {
                std::env::temp_dir().join(format!("charla-host-{}", std::process::id()))
            });
        let host = HostConsole::new(runtime.clone(), ctx.clone(), &settings.host, server_dir);
        Self {
            runtime,
            ctx,
            options,
            settings,
            settings_error,
            tab: Tab::Chat,
            connect,
            show_connect: true,
            sessions: Vec::new(),
            current: None,
            next_key: 1,
            host,
            title: String::new(),
            last_notification: None,
            confirm_quit: false,
            quitting: false,
            password_lookup: None,
            password_saving: None,
            avatars: crate::avatars::Avatars::default(),
            switcher: crate::switcher::Switcher::default(),
        }
    }

    /// The connect form as it stands (for tests).
    pub fn connect_form(&self) -> &ConnectForm {
        &self.connect
    }

    /// Follows the keyring for the connect form: looks the password up when the form names
    /// another server or account (and has none typed), fills it in when found, and says in
    /// words when there is no keyring, so the user knows to type it each time.
    fn poll_keyring(&mut self) {
        let key = self.connect.secret_key();
        if key.is_some() && key != self.connect.looked_up && self.connect.password.is_empty() {
            self.connect.looked_up = key.clone();
            self.password_lookup = key.map(|k| self.options.secrets.lookup(&k));
        }
        if let Some(answer) = self.password_lookup.as_ref().and_then(Pending::poll) {
            self.password_lookup = None;
            match answer {
                Ok(Some(password)) if self.connect.password.is_empty() => {
                    self.connect.password = password;
                    self.connect.keyring_note =
                        Some("The password came from the system keyring.".to_owned());
                }
                Ok(_) => self.connect.keyring_note = None,
                Err(e) => {
                    self.connect.keyring_note =
                        Some(format!("{}: enter the password each time.", capital(&e)));
                }
            }
        }
        if let Some(answer) = self.password_saving.as_ref().and_then(Pending::poll) {
            self.password_saving = None;
            if let Err(e) = answer {
                self.connect.keyring_note = Some(format!("The password was not remembered: {e}."));
            }
        }
        if self.password_lookup.is_some() || self.password_saving.is_some() {
            // The keyring answers from its own thread: look again soon.
            self.ctx
                .request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    /// Remembers (or forgets) the form's password in the keyring, as the form says.
    fn keep_password(&mut self) {
        let Some(key) = self.connect.secret_key() else {
            return;
        };
        if self.connect.remember_password && !self.connect.password.is_empty() {
            self.password_saving =
                Some(self.options.secrets.remember(&key, &self.connect.password));
        } else if !self.connect.remember_password {
            self.password_saving = Some(self.options.secrets.forget(&key));
        }
        self.connect.looked_up = Some(key);
    }

    /// The connections (for tests and the status bar).
    pub fn sessions(&self) -> &[Session] {
        &self.sessions
    }

    /// The connections, to change (benchmarks feed events straight into a state).
    pub fn sessions_mut(&mut self) -> &mut [Session] {
        &mut self.sessions
    }

    /// The tab on screen.
    pub fn tab(&self) -> Tab {
        self.tab
    }

    /// The operator console.
    pub fn host(&self) -> &HostConsole {
        &self.host
    }

    /// Starts "Host a server" on `port` as `nick` (over TLS if `tls`) and shows the console
    /// (command line).
    pub fn host_now(&mut self, port: u16, nick: &str, tls: bool) {
        self.host.start_now(port, nick, tls);
        self.tab = Tab::Host;
    }

    /// Opens a connection and shows it.
    pub fn open_session(
        &mut self,
        label: String,
        config: ServerConfig,
        register: Option<Registration>,
    ) -> usize {
        let key = self.next_key;
        self.next_key += 1;
        let ctx = self.ctx.clone();
        let waker = Arc::new(move || ctx.request_repaint());
        let mut session = Session::connect(
            key,
            label,
            config,
            self.options.trust.clone(),
            self.runtime.clone(),
            waker,
        );
        session.registration = register;
        self.sessions.push(session);
        let index = self.sessions.len() - 1;
        self.current = Some(index);
        self.show_connect = false;
        self.tab = Tab::Chat;
        index
    }

    fn save_settings(&mut self) {
        if let Err(e) = self.options.store.save(&self.settings) {
            self.connect.error = Some(format!("Could not save: {e}"));
        }
    }

    fn drain(&mut self) {
        let focused = self.ctx.input(|i| i.viewport().focused.unwrap_or(true));
        let mut more = false;
        for (index, session) in self.sessions.iter_mut().enumerate() {
            let (notifications, pending) = session.drain();
            more |= pending;
            let on_screen = focused
                && self.current == Some(index)
                && self.tab == Tab::Chat
                && !self.show_connect;
            if let Some(wake) = session.settle(on_screen) {
                // A read marker held back goes out then.
                self.ctx.request_repaint_after(wake);
            }
            if self.options.notifications && self.settings.notifications {
                for n in &notifications {
                    let on_screen = focused
                        && self.current == Some(index)
                        && match n {
                            charla_client::Notification::Mention { buffer, .. } => {
                                session.active.same(buffer)
                            }
                            charla_client::Notification::Private { nick, .. } => {
                                session.active.same(&BufferId::Query(nick.clone()))
                            }
                        };
                    // At most one popup a second: a flood of mentions must not flood the desktop
                    // (the counts in the side list still say how many).
                    let quiet = self
                        .last_notification
                        .is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(1));
                    if !on_screen && !quiet {
                        self.last_notification = Some(std::time::Instant::now());
                        notify::show(&session.label, n);
                    }
                }
            }
        }
        if more {
            self.ctx.request_repaint();
        }
        self.update_title();
    }

    /// "Charla (3)": the window title counts unread mentions, like most chat apps.
    fn update_title(&mut self) {
        let mentions: usize = self
            .sessions
            .iter()
            .flat_map(|s| s.state.buffers.iter())
            .map(|b| b.mentions)
            .sum();
        let title = if mentions > 0 {
            format!("Charla ({mentions})")
        } else {
            "Charla".to_owned()
        };
        if title != self.title {
            self.ctx
                .send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
        }
    }

    fn top_bar(&mut self, ui: &mut Ui) {
        egui::Panel::top("top-bar").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(RichText::new("💬 Charla").heading().strong());
                ui.separator();
                ui.selectable_value(&mut self.tab, Tab::Chat, "Chat");
                ui.selectable_value(&mut self.tab, Tab::Host, "Host a server");
                if self.host.is_running() {
                    theme::dot(ui, theme::OK).on_hover_text("Your server is running");
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let bell = if self.settings.notifications {
                        "🔔 Alerts on"
                    } else {
                        "🔕 Alerts off"
                    };
                    let tip = if self.settings.notifications {
                        "Desktop notifications on mentions and private messages: on"
                    } else {
                        "Desktop notifications: off"
                    };
                    let response = ui
                        .button(bell)
                        .on_hover_text(tip)
                        .accessible_name("Notifications");
                    if response.clicked() {
                        self.settings.notifications = !self.settings.notifications;
                        self.save_settings();
                    }
                    let others = self.settings.avatars_from_other_sites;
                    let (label, tip) = if others {
                        (
                            "🖼 Pictures: all sites",
                            "Avatars and link previews load from any site (over HTTPS). Each \
                             site then learns your address and when you are online. Click to \
                             load them only from the chat server.",
                        )
                    } else {
                        (
                            "🖼 Pictures: this server",
                            "Avatars and link previews load only from the chat server itself: \
                             other sites do not learn your address. Click to allow other sites.",
                        )
                    };
                    if ui
                        .button(label)
                        .on_hover_text(tip)
                        .accessible_name("Pictures from other sites")
                        .clicked()
                    {
                        self.settings.avatars_from_other_sites = !others;
                        self.save_settings();
                    }
                    let dark = ui.visuals().dark_mode;
                    let label = if dark { "☀ Light" } else { "🌙 Dark" };
                    if ui
                        .button(label)
                        .on_hover_text("Switch the colour theme")
                        .clicked()
                    {
                        theme::apply(ui.ctx(), !dark);
                        self.settings.dark = Some(!dark);
                        self.save_settings();
                    }
                });
            });
        });
    }

    /// Alt+Up / Alt+Down: the previous or next buffer in the side list, across servers.
    fn switch_buffer_by_keys(&mut self, ui: &Ui) {
        let (up, down) = ui.input_mut(|i| {
            (
                i.consume_key(egui::Modifiers::ALT, egui::Key::ArrowUp),
                i.consume_key(egui::Modifiers::ALT, egui::Key::ArrowDown),
            )
        });
        if !(up || down) {
            return;
        }
        let all: Vec<(usize, BufferId)> = self
            .sessions
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.state.buffers.iter().map(move |b| (i, b.id.clone())))
            .collect();
        let Some(current) = self.current else { return };
        let Some(session) = self.sessions.get(current) else {
            return;
        };
        let Some(at) = all
            .iter()
            .position(|(i, id)| *i == current && id.same(&session.active))
        else {
            return;
        };
        let next = if up {
            at.checked_sub(1).unwrap_or(all.len() - 1)
        } else {
            (at + 1) % all.len()
        };
        if let Some((index, id)) = all.get(next).cloned() {
            self.list_action(ListAction::Select(index, id));
        }
    }

    fn chat_tab(&mut self, ui: &mut Ui) {
        self.switch_buffer_by_keys(ui);
        let current = self.current.filter(|i| *i < self.sessions.len());
        if self.sessions.is_empty() || self.show_connect || current.is_none() {
            self.connect_screen(ui);
            return;
        }
        let Some(index) = current else { return };
        crate::switcher::shortcut(ui, &mut self.switcher);
        if let Some(action) = crate::switcher::show(ui, &mut self.switcher, &self.sessions) {
            self.list_action(action);
            ui.ctx().request_repaint();
            return;
        }

        let action = egui::Panel::left("buffer-list-panel")
            .resizable(true)
            .default_size(200.0)
            .show(ui, |ui| buffers::show(ui, &self.sessions, current))
            .inner;
        if let Some(action) = action {
            self.list_action(action);
            // This frame's layout is stale now; draw the new state at once.
            ui.ctx().request_repaint();
            return;
        }
        let mut close_session = false;
        let Some(session) = self.sessions.get_mut(index) else {
            return;
        };

        egui::Panel::bottom("status-bar").show(ui, |ui| {
            // The buttons come first, after the dot: a long status text must not push them
            // out of a small window. The words after them are cut to fit (whole on hover).
            ui.horizontal(|ui| {
                let colour = match session.state.status {
                    ConnectionStatus::Connected => theme::OK,
                    ConnectionStatus::Disconnected { .. } | ConnectionStatus::WaitingForTrust => {
                        theme::DANGER
                    }
                    _ => theme::MENTION_BADGE,
                };
                theme::dot(ui, colour);
                if let ConnectionStatus::Disconnected {
                    retry_at: Some(_), ..
                } = session.state.status
                {
                    // The countdown in the status text moves by itself.
                    ui.ctx()
                        .request_repaint_after(std::time::Duration::from_secs(1));
                }
                let stalled = matches!(session.state.status, ConnectionStatus::Disconnected { .. });
                if stalled && ui.small_button("Reconnect now").clicked() {
                    session.send(Command::Reconnect);
                }
                if session.state.status == ConnectionStatus::Stopped
                    && ui
                        .small_button("Close")
                        .on_hover_text("Remove this server from the list")
                        .clicked()
                {
                    close_session = true;
                }
                if session.is_connected()
                    && session.state.account.is_none()
                    && ui
                        .small_button("Create an account…")
                        .on_hover_text("Register an account on this server")
                        .clicked()
                {
                    session.create_account = Some(account::CreateAccount::default());
                }
                // Each piece of status: its words, colour, and more on hover.
                let mut words: Vec<(String, Option<egui::Color32>, Option<String>)> = Vec::new();
                let status = format!("{}: {}", session.label, session.status_text());
                let details = match (&session.state.status, session.trouble()) {
                    (ConnectionStatus::Disconnected { reason, .. }, Some(explained)) => {
                        Some(format!("{}\n\nDetails: {reason}", explained.advice))
                    }
                    _ => None,
                };
                words.push((status, None, details));
                if let Some(account) = &session.state.account {
                    words.push((format!("logged in as {account}"), None, None));
                } else if let Some(error) = &session.state.login_error {
                    words.push((
                        format!("Could not log in: {error}"),
                        Some(theme::DANGER),
                        trouble::login_advice(error).map(str::to_owned),
                    ));
                }
                if let Some(reply) = &session.state.registration {
                    let colour = if reply.succeeded() {
                        theme::OK
                    } else {
                        theme::DANGER
                    };
                    words.push((reply.describe(), Some(colour), None));
                }
                if session.state.away {
                    words.push(("away".to_owned(), None, None));
                }
                for (i, (text, colour, more)) in words.into_iter().enumerate() {
                    if i > 0 {
                        ui.separator();
                    }
                    let shown = match colour {
                        Some(colour) => RichText::new(&text).color(colour),
                        None => RichText::new(&text),
                    };
                    let response = ui.add(egui::Label::new(shown).truncate());
                    if let Some(more) = more {
                        response.on_hover_text(format!("{text}\n\n{more}"));
                    }
                }
            });
        });

        if let Some(buffer) = session.state.buffer(&session.active)
            && matches!(buffer.id, BufferId::Channel(_))
        {
            let state = &session.state;
            let pictures = nicklist::Pictures {
                avatars: &mut self.avatars,
                server_host: &session.config.host,
                other_sites: self.settings.avatars_from_other_sites,
            };
            let command = egui::Panel::right("nick-list-panel")
                .resizable(true)
                .default_size(160.0)
                .show(ui, |ui| nicklist::show(ui, state, buffer, pictures))
                .inner;
            if let Some(command) = command {
                session.send(command);
            }
        }

        search::shortcut(ui, &mut session.search);
        if session.search.open {
            let (command, go) = egui::Panel::right("search-panel")
                .resizable(true)
                .default_size(320.0)
                .show(ui, |ui| {
                    search::show(ui, &mut session.search, &session.state, &session.active)
                })
                .inner;
            if let Some(command) = command {
                session.send(command);
            }
            match go {
                Some(search::GoTo::Select(id)) => session.select(id),
                Some(search::GoTo::Send(command)) => session.send(command),
                Some(search::GoTo::Line(seq)) => {
                    let view = session.views.entry(session.active.clone()).or_default();
                    view.jump_to = Some(seq);
                    view.found = Some(seq);
                }
                None => {}
            }
        }
        if !session.search.open
            && let Some(view) = session.views.get_mut(&session.active)
        {
            view.found = None;
        }

        let nick = session.state.nick.clone();
        if let Some(command) = account::window(ui.ctx(), &mut session.create_account, &nick) {
            session.send(command);
        }
        // Link previews from other sites follow the same switch as avatars (privacy).
        session.previews.other_sites = self.settings.avatars_from_other_sites;
        egui::CentralPanel::default().show(ui, |ui| chat::show(ui, session));
        if close_session {
            self.list_action(ListAction::CloseSession(index));
        }
    }

    fn list_action(&mut self, action: ListAction) {
        match action {
            ListAction::NewConnection => self.show_connect = true,
            ListAction::CloseSession(index) => {
                if index < self.sessions.len() {
                    let mut session = self.sessions.remove(index);
                    session.quit(None);
                    self.current = if self.sessions.is_empty() {
                        None
                    } else {
                        Some(0)
                    };
                }
            }
            ListAction::Select(index, _) => {
                self.current = Some(index);
                self.show_connect = false;
                buffers::apply(&mut self.sessions, &action);
            }
            other => buffers::apply(&mut self.sessions, &other),
        }
    }

    fn connect_screen(&mut self, ui: &mut Ui) {
        egui::Panel::left("saved-servers")
            .resizable(true)
            .default_size(240.0)
            .show(ui, |ui| {
                connect::saved_list(ui, &mut self.connect, &self.settings.servers);
            });
        egui::CentralPanel::default().show(ui, |ui| {
            // The form is taller than a small window: it scrolls rather than cut off Connect.
            let action = egui::ScrollArea::vertical()
                .id_salt("connect-form")
                .show(ui, |ui| {
                    if !self.sessions.is_empty() && ui.button("⏴ Back to the chat").clicked() {
                        self.show_connect = false;
                        self.current = self.current.or(Some(0));
                    }
                    if let Some(error) = &self.settings_error {
                        ui.colored_label(theme::DANGER, error);
                    }
                    ui.add_space(8.0);
                    self.poll_keyring();
                    let action = connect::show(ui, &mut self.connect);
                    ui.add_space(16.0);
                    ui.separator();
                    ui.horizontal(|ui| {
                        ui.label("No server yet?");
                        if ui.button("Host a server on this computer…").clicked() {
                            self.tab = Tab::Host;
                        }
                    });
                    action
                })
                .inner;
            match action {
                Some(ConnectAction::Connect { config, register }) => {
                    self.keep_password();
                    let label = if self.connect.name.trim().is_empty() {
                        format!("{}:{}", config.host, config.port)
                    } else {
                        self.connect.name.trim().to_owned()
                    };
                    self.open_session(label, config, register);
                }
                Some(ConnectAction::Save(saved, index)) => {
                    self.keep_password();
                    match index.and_then(|i| self.settings.servers.get_mut(i)) {
                        Some(slot) => *slot = saved,
                        None => {
                            self.settings.servers.push(saved);
                            self.connect.selected = Some(self.settings.servers.len() - 1);
                        }
                    }
                    self.save_settings();
                }
                Some(ConnectAction::Delete(index)) if index < self.settings.servers.len() => {
                    self.settings.servers.remove(index);
                    self.save_settings();
                }
                Some(ConnectAction::Delete(_)) | None => {}
            }
        });
    }

    /// Closing the window stops the hosted server and so drops everyone on it: when others are
    /// connected, ask before going.
    fn guard_quit(&mut self, ui: &mut Ui) {
        let close = ui.ctx().input(|i| i.viewport().close_requested());
        let others = self
            .host
            .users()
            .iter()
            .filter(|u| {
                !self
                    .sessions
                    .iter()
                    .any(|s| s.hosted && s.state.is_me(&u.nick))
            })
            .count();
        if close && !self.quitting && self.host.is_running() && others > 0 {
            ui.ctx()
                .send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.confirm_quit = true;
        }
        if !self.confirm_quit {
            return;
        }
        let mut answer = None;
        egui::Modal::new(egui::Id::unique("confirm-quit")).show(ui.ctx(), |ui| {
            ui.set_max_width(420.0);
            ui.heading("Stop your server and quit?");
            ui.label(format!(
                "{others} {} connected to the server you host. Quitting stops it and \
                 disconnects them.",
                if others == 1 {
                    "person is"
                } else {
                    "people are"
                }
            ));
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                if ui.button("Quit").clicked() {
                    answer = Some(true);
                }
                if ui.button("Keep running").clicked() {
                    answer = Some(false);
                }
            });
        });
        match answer {
            Some(true) => {
                self.quitting = true;
                self.confirm_quit = false;
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
            Some(false) => self.confirm_quit = false,
            None => {}
        }
    }

    fn host_tab(&mut self, ui: &mut Ui) {
        let nick_hint = self.connect.nick.clone();
        let action = egui::CentralPanel::default()
            .show(ui, |ui| self.host.show(ui, &nick_hint))
            .inner;
        self.host_action(action);
    }

    fn host_action(&mut self, action: Option<HostAction>) {
        match action {
            Some(HostAction::Started {
                port,
                nick,
                tls_fingerprint,
            }) => {
                // Remember the choices (a port of 0 stays 0: "any free port" was the choice).
                let remembered = self.host.settings();
                if remembered != self.settings.host {
                    self.settings.host = remembered;
                    self.save_settings();
                }
                // The app made this server and its certificate: its own chat trusts it without
                // asking (a pin for 127.0.0.1:port, replacing one from an earlier run).
                let tls = tls_fingerprint.is_some();
                if let Some(fingerprint) = &tls_fingerprint
                    && let Err(e) = self.options.trust.pin("127.0.0.1", port, fingerprint)
                {
                    // The pin holds in memory all the same.
                    tracing::warn!(error = %e, "could not save the embedded server's pin");
                }
                // The host's own chat window connects to its server by itself.
                if let Some(session) = self
                    .sessions
                    .iter_mut()
                    .find(|s| s.hosted && s.config.port == port && s.config.tls == tls)
                {
                    session.send(Command::Reconnect);
                } else {
                    let mut config = ServerConfig::new("127.0.0.1", port, &nick);
                    config.tls = tls;
                    config.autojoin = vec!["#charla".to_owned()];
                    let label = if tls {
                        format!("My server (port {port}, TLS)")
                    } else {
                        format!("My server (port {port})")
                    };
                    let index = self.open_session(label, config, None);
                    if let Some(session) = self.sessions.get_mut(index) {
                        session.hosted = true;
                    }
                    // Stay on the console: the operator just pressed Start there.
                    self.tab = Tab::Host;
                }
            }
            Some(HostAction::Stopped) => {
                for session in self.sessions.iter_mut().filter(|s| s.hosted) {
                    session.send(Command::Disconnect {
                        reason: Some("your server stopped".to_owned()),
                    });
                }
            }
            Some(HostAction::OpenChat) => self.tab = Tab::Chat,
            None => {}
        }
    }
}

impl eframe::App for CharlaApp {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.drain();
        let action = self.host.drain();
        self.host_action(action);
        self.top_bar(ui);
        match self.tab {
            Tab::Chat => self.chat_tab(ui),
            Tab::Host => self.host_tab(ui),
        }
        certificate::show(ui, &mut self.sessions);
        self.guard_quit(ui);
    }
}

impl Drop for CharlaApp {
    fn drop(&mut self) {
        for session in &mut self.sessions {
            session.quit(Some("Charla closed".to_owned()));
        }
        self.host.stop();
    }
}

/// `s` with its first letter in upper case.
fn capital(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
