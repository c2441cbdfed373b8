//! One server connection as the app sees it: the client core's handle and [`State`], plus the
//! view state the app keeps per buffer (drafts, how much is shown, folds, where the user had
//! read up to). All protocol work is in charla-client; this only feeds its events to its
//! reducer and sends its commands, among them `MARKREAD` for the buffer being read.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use charla_client::{
    BufferId, Client, ClientHandle, ClientOptions, Command, ConnectionStatus, Event, Notification,
    ServerConfig, State, TrustStore,
};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::account::CreateAccount;
use crate::chat::BufferView;
use crate::connect::Registration;
use crate::history;
use crate::input::{Completion, History};
use crate::search::SearchBox;
use crate::trouble;

/// How many events one frame applies at most, so a flood cannot freeze the window; the rest
/// wait for the next frame (which is requested at once).
const EVENTS_PER_FRAME: usize = 2_000;

/// One connection and its view state.
pub struct Session {
    /// A number unique within the app run, for egui ids.
    pub key: u64,
    /// What the side list calls this server.
    pub label: String,
    /// How we connected.
    pub config: ServerConfig,
    /// The client core's state of this connection: buffers, members, status.
    pub state: State,
    /// The buffer on screen.
    pub active: BufferId,
    /// View state per buffer.
    pub views: HashMap<BufferId, BufferView>,
    /// Sent lines, for Up/Down.
    pub history: History,
    /// Tab completion in progress.
    pub completion: Completion,
    /// An account to register once connected.
    pub registration: Option<Registration>,
    /// The "Create an account" window, while open.
    pub create_account: Option<CreateAccount>,
    /// Whether the user answered the current certificate question: the prompt hides at once,
    /// before the client's answer (connected, or disconnected) arrives.
    pub certificate_dismissed: bool,
    /// Whether the embedded server of "Host a server" is at the other end.
    pub hosted: bool,
    /// The search box and what it found.
    pub search: SearchBox,
    /// Files being sent to the server's file host.
    pub uploads: crate::upload::Uploads,
    /// Previews of the links in its lines.
    pub previews: crate::previews::Previews,
    /// The active buffer was off screen (window in the background, another tab) since the
    /// last frame it was seen.
    looked_away: bool,
    /// History or a read marker came for the active buffer since the last frame: what it made
    /// unread gets a separator even while the user looks.
    news_from_history: bool,
    handle: ClientHandle,
    events: UnboundedReceiver<Event>,
}

impl Session {
    /// Starts a connection task on `runtime`; `waker` is called after each event (the egui
    /// context's repaint request).
    pub fn connect(
        key: u64,
        label: String,
        config: ServerConfig,
        trust: TrustStore,
        runtime: tokio::runtime::Handle,
        waker: Arc<dyn Fn() + Send + Sync>,
    ) -> Self {
        let options = ClientOptions {
            waker: Some(waker),
            runtime: Some(runtime),
            ..ClientOptions::default()
        };
        let state = State::new(&config.nick);
        let (handle, events) = Client::connect_with(config.clone(), trust, options);
        Self {
            key,
            label,
            config,
            state,
            active: BufferId::Server,
            views: HashMap::new(),
            history: History::default(),
            completion: Completion::default(),
            registration: None,
            create_account: None,
            certificate_dismissed: false,
            hosted: false,
            search: SearchBox::default(),
            uploads: crate::upload::Uploads::default(),
            previews: crate::previews::Previews::default(),
            looked_away: false,
            news_from_history: false,
            handle,
            events,
        }
    }

    /// Applies the events that arrived since the last frame. Returns the notifications to
    /// show, and whether more events are waiting.
    pub fn drain(&mut self) -> (Vec<Notification>, bool) {
        crate::upload::deliver(self);
        let mut notifications = Vec::new();
        for _ in 0..EVENTS_PER_FRAME {
            let Ok(event) = self.events.try_recv() else {
                return (notifications, false);
            };
            let buffers_before = self.state.buffers.len();
            let registered = matches!(event, Event::Registered { .. });
            if matches!(
                event,
                Event::CertificateUnknown { .. } | Event::CertificateChanged { .. }
            ) {
                self.certificate_dismissed = false;
            }
            // draft/channel-rename: the buffer on screen keeps its place under its new name.
            let renamed = match &event {
                Event::Irc(msg) if msg.command.eq_ignore_ascii_case("RENAME") => {
                    msg.param(0).zip(msg.param(1)).map(|(old, new)| {
                        (BufferId::Channel(old.into()), BufferId::Channel(new.into()))
                    })
                }
                _ => None,
            };
            if let Some(n) = self.state.apply(&event) {
                notifications.push(n);
            }
            if let Some((old, new)) = renamed
                && self.state.buffer(&new).is_some()
            {
                if let Some(view) = self.views.remove(&old) {
                    self.views.insert(new.clone(), view);
                }
                if self.active.same(&old) {
                    self.active = new;
                }
            }
            self.follow_history(&event);
            self.search.follow(&event);
            if registered && let Some(registration) = self.registration.take() {
                self.send(Command::RegisterAccount {
                    account: Some(registration.account),
                    email: registration.email,
                    password: registration.password,
                });
            }
            if let Some(focus) = self.state.take_focus() {
                self.active = focus;
            }
            // A channel we just joined (by /join or on connect) comes to the front, as in
            // most chat apps; channels rejoined after a reconnect already had a buffer.
            if self.state.buffers.len() > buffers_before
                && let Some(buffer) = self.state.buffers.last()
                && matches!(buffer.id, BufferId::Channel(_))
                && buffer.joined
            {
                self.active = buffer.id.clone();
            }
        }
        (notifications, true)
    }

    /// Sends a command; a full or closed queue is said in the active buffer, in words.
    pub fn send(&mut self, command: Command) {
        if let Err(e) = self.handle.send(command) {
            let event = Event::Local {
                buffer: self.active.clone(),
                kind: charla_client::LineKind::Error,
                text: format!("Not sent: {e}."),
            };
            self.state.apply(&event);
        }
    }

    /// Switches to a buffer and marks it read; a "new since you were last here" separator goes
    /// above the first line that was unread, until the user leaves the buffer.
    pub fn select(&mut self, id: BufferId) {
        if let Some(view) = self.views.get_mut(&self.active) {
            view.new_after = None;
        }
        self.active = id.clone();
        self.mark_seen(&id);
    }

    /// Marks a buffer read, first placing the separator where the user had read up to (unless
    /// one is already there).
    fn mark_seen(&mut self, id: &BufferId) {
        let after = self.state.buffer(id).and_then(history::read_up_to);
        let view = self.views.entry(id.clone()).or_default();
        if view.new_after.is_none() {
            view.new_after = after;
        }
        self.state.mark_read(id);
    }

    /// After an event: history or a read marker for the active buffer is news to place a
    /// separator for; a read marker from another client of the account (not this window's
    /// answer) moves the separator past what was read there.
    fn follow_history(&mut self, event: &Event) {
        let target = match event {
            Event::HistoryLoaded { target, .. } => target,
            Event::Irc(msg) if msg.command.eq_ignore_ascii_case("MARKREAD") => {
                let Some(target) = msg.param(0) else { return };
                target
            }
            _ => return,
        };
        let Some(buffer) = self.state.buffer(&self.state.target_buffer(target)) else {
            return;
        };
        if buffer.id.same(&self.active) {
            self.news_from_history = true;
        }
        let Some(marker) = buffer.read_marker else {
            return;
        };
        if let Some(view) = self.views.get_mut(&buffer.id)
            && !view.read_sync.is_own(marker)
            && view.new_after.is_some_and(|after| after < marker)
        {
            view.new_after = Some(marker);
        }
    }

    /// Keeps the active buffer valid (it may have been closed) and read while on screen:
    /// `seen` is false when the window is in the background, so counts (and the title) grow
    /// until the user looks again, and then a separator shows where they left off. Tells the
    /// server what was read; returns when to look again for a read marker held back.
    pub fn settle(&mut self, seen: bool) -> Option<Duration> {
        if self.state.buffer(&self.active).is_none() {
            self.active = BufferId::Server;
        }
        if !seen {
            self.looked_away = true;
            return self.sync_read(false);
        }
        let active = self.active.clone();
        if self
            .state
            .buffer(&active)
            .is_some_and(|b| b.unread > 0 || b.mentions > 0)
        {
            if self.looked_away || self.news_from_history {
                self.mark_seen(&active);
            } else {
                // Arrived while the user was looking: no separator needed.
                self.state.mark_read(&active);
            }
        }
        self.looked_away = false;
        self.news_from_history = false;
        self.sync_read(true)
    }

    /// Tells the server (`MARKREAD`) that the active buffer is read up to its newest line when
    /// `reading` it (on screen, window focused, scrolled to the bottom), at most every couple
    /// of seconds per buffer; sends what was held back once its time comes.
    fn sync_read(&mut self, reading: bool) -> Option<Duration> {
        if !self.state.has_cap("draft/read-marker") || self.state.account.is_none() {
            return None;
        }
        let now = Instant::now();
        let mut marks = Vec::new();
        if reading
            && let Some(buffer) = self.state.buffer(&self.active)
            && let Some(target) = buffer.id.target()
            && let Some(newest) = buffer.newest_server_time()
        {
            let view = self.views.entry(buffer.id.clone()).or_default();
            if !view.scrolled_up
                && let Some(time) = view.read_sync.read(newest, buffer.read_marker, now)
            {
                marks.push((target.to_owned(), time));
            }
        }
        let mut wake: Option<Duration> = None;
        for (id, view) in &mut self.views {
            if let (Some(target), Some(time)) = (id.target(), view.read_sync.due(now)) {
                marks.push((target.to_owned(), time));
            }
            if let Some(in_) = view.read_sync.wake_in(now) {
                wake = Some(wake.map_or(in_, |w| w.min(in_)));
            }
        }
        for (target, time) in marks {
            self.send(Command::MarkRead { target, time });
        }
        wake
    }

    /// A short status for the side list and the status bar.
    pub fn status_text(&self) -> String {
        match &self.state.status {
            ConnectionStatus::Idle => "starting".to_owned(),
            ConnectionStatus::Connecting { attempt } if *attempt > 1 => {
                format!("connecting (try {attempt})")
            }
            ConnectionStatus::Connecting { .. } => "connecting".to_owned(),
            ConnectionStatus::Registering => "logging in".to_owned(),
            ConnectionStatus::Connected => format!("connected as {}", self.state.nick),
            ConnectionStatus::Disconnected { reason, retry_at } => {
                // In plain words where the problem is a known one (the details: `trouble`).
                let reason = self.trouble().map_or_else(|| reason.clone(), |e| e.summary);
                match retry_at {
                    Some(at) => {
                        let secs = at
                            .saturating_duration_since(std::time::Instant::now())
                            .as_secs();
                        format!("disconnected: {reason} (retrying in {secs} s)")
                    }
                    None => format!("disconnected: {reason}"),
                }
            }
            ConnectionStatus::WaitingForTrust => {
                "waiting for your decision on the certificate".to_owned()
            }
            ConnectionStatus::Stopped => "closed".to_owned(),
        }
    }

    /// While disconnected for a known reason: the problem in plain words, with what to try
    /// (see [`trouble`]).
    pub fn trouble(&self) -> Option<trouble::Explained> {
        let ConnectionStatus::Disconnected { reason, .. } = &self.state.status else {
            return None;
        };
        trouble::explain(
            reason,
            trouble::Target {
                host: &self.config.host,
                port: self.config.port,
                tls: self.config.tls,
            },
        )
    }

    /// Whether the connection is up.
    pub fn is_connected(&self) -> bool {
        self.state.status == ConnectionStatus::Connected
    }

    /// Ends the connection for good (the task quits).
    pub fn quit(&mut self, reason: Option<String>) {
        // Ignored if already closed: nothing left to stop.
        let _ = self.handle.send(Command::Quit { reason });
    }
}
