//! One open connection of the task: registration (CAP LS 302, SASL, NICK/USER), then one
//! `select!` over the socket, the command queue, the pacer and a ping timer, until the
//! connection ends. What the user asked for is paced (`Pacer`, in `session/pacer.rs`) as
//! servers' flood control expects. History (CHATHISTORY, MARKREAD) is asked for and read in
//! `session/history.rs`, searches (SEARCH) in `session/search.rs`; capability negotiation and
//! SASL are in `session/negotiation.rs`, multiline batches in `session/multiline.rs`, replies
//! and reactions in `session/reactions.rs`.

use super::text::split_text;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use charla_proto::OwnedMessage;
use charla_proto::casemap::casefold;
use charla_proto::line::LineBuilder;
use charla_proto::numeric;
use futures::{SinkExt, StreamExt};

use super::sasl::Login;
use super::{End, Task, capitalise, is_control, is_refusal};
use crate::account::RegistrationReply;
use crate::client::ClientOptions;
use crate::command::{Command, TypingState};
use crate::config::ServerConfig;
use crate::connection::Transport;
use crate::event::Event;
use crate::input::{self, InputError};
use crate::state::{BufferId, LineKind, WHOX_TOKEN, ctcp};

mod history;
mod multiline;
mod negotiation;
mod pacer;
mod reactions;
mod search;

use history::Histories;
use pacer::{Background, Pacer};
use search::Searches;

/// How often at most we send `+typing=active` to one target (the spec asks for 3 s).
const TYPING_THROTTLE: Duration = Duration::from_secs(3);

/// What `CTCP VERSION` answers.
const VERSION: &str = concat!("Charla ", env!("CARGO_PKG_VERSION"));

/// Where registration is.
#[derive(Debug, Default)]
struct Registration {
    /// Caps offered in `CAP LS` (name -> value), accumulated over continuation lines.
    offered: HashMap<String, String>,
    /// Waiting for SASL to finish before `CAP END`.
    sasl_pending: bool,
    /// The login planned (after `CAP LS`) or under way (after `CAP ACK sasl`).
    login: Option<Login>,
    /// `CAP END` sent (or never needed).
    cap_done: bool,
    /// How many nicks we tried.
    nick_tries: u32,
    /// The nick we asked for last.
    nick: String,
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
pub(super) struct Session {
    transport: Transport,
    /// Lines to write now.
    out: Vec<String>,
    /// Lines waiting for the pacer.
    paced: VecDeque<String>,
    pacer: Pacer,
    /// Lines the client sends by itself, after the user's.
    background: Background,
    /// When the last of the user's lines went out.
    last_foreground: tokio::time::Instant,
    reg: Registration,
    registered: bool,
    /// When registration finished, to tell a healthy session from one cut at once.
    pub(super) registered_at: Option<tokio::time::Instant>,
    /// The server's last words (ERROR), for the disconnect reason.
    error: Option<String>,
    /// Whether the server put us out on purpose (KILL, a ban).
    refused: bool,
    last_heard: tokio::time::Instant,
    ping_sent: Option<tokio::time::Instant>,
    /// Commands that arrived before registration finished, sent after.
    pub(super) pending: Vec<Command>,
    /// Channels (folded) whose members' accounts we asked for with WHOX; their
    /// `RPL_ENDOFWHO` is ours, not the user's.
    who_pending: HashSet<String>,
    /// History asked for and coming in.
    histories: Histories,
    /// Searches asked for and coming in.
    searches: Searches,
    /// Multiline batches coming in.
    multilines: multiline::Multilines,
}

impl Session {
    pub(super) fn new(
        transport: Transport,
        config: &ServerConfig,
        options: &ClientOptions,
    ) -> Self {
        Session {
            transport,
            out: Vec::new(),
            paced: VecDeque::new(),
            background: Background::default(),
            last_foreground: tokio::time::Instant::now(),
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
            who_pending: HashSet::new(),
            histories: Histories::default(),
            searches: Searches::default(),
            multilines: multiline::Multilines::default(),
        }
    }

    /// When a background line may go: after the user's lines, and with a token.
    fn background_at(&self) -> Option<tokio::time::Instant> {
        if !self.paced.is_empty() {
            return None;
        }
        let at = self.background.next_at(self.last_foreground)?;
        Some(at.max(self.pacer.next_at()))
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
                self.last_foreground = now;
            }
        }
        if self.background_at().is_some_and(|at| at <= now)
            && self.pacer.take(now)
            && let Some(line) = self.background.take(now, self.last_foreground)
        {
            self.out.push(line);
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

    pub(super) async fn run(&mut self, task: &mut Task) -> End {
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
            let background_at = self.background_at();
            let end = tokio::select! {
                () = tokio::time::sleep_until(next_token), if paced_waiting => None,
                () = tokio::time::sleep_until(background_at.unwrap_or(next_token)),
                    if background_at.is_some() => None,
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
            self.follow_new_queries(task);
            let flushed = self.flush(write_limit).await;
            match (end, flushed) {
                (Some(End::Quit), _) => {
                    self.linger().await;
                    return End::Quit;
                }
                (Some(End::Disconnect(why)), _) => {
                    self.linger().await;
                    return End::Disconnect(why);
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
        let msg = self.multiline_inbound(msg)?;
        let msg = self.history_inbound(task, msg)?;
        let msg = self.search_inbound(task, msg)?;
        let command = msg.command.to_ascii_uppercase();
        let p = |i: usize| msg.param(i).unwrap_or("").to_owned();
        match command.as_str() {
            "PING" => {
                let token = msg.params.last().cloned().unwrap_or_default();
                self.send_msg("PONG", &[&token]);
                return None;
            }
            "PONG" => return None,
            "CAP" => return self.cap(task, &msg),
            "AUTHENTICATE" => return self.authenticate(task, msg.param(0).unwrap_or("")),
            "REGISTER" | "VERIFY" | "FAIL" => {
                if let Some(reply) = RegistrationReply::from_message(&msg) {
                    task.emit(Event::AccountRegistration(reply));
                    return None;
                }
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
                numeric::ERR_NICKLOCKED
                | numeric::RPL_SASLSUCCESS
                | numeric::ERR_SASLFAIL
                | numeric::ERR_SASLTOOLONG
                | numeric::ERR_SASLABORTED
                | numeric::ERR_SASLALREADY
                | numeric::RPL_SASLMECHS
                    if self.reg.sasl_pending =>
                {
                    // Ours: said as one `LoginFailed` (or nothing) rather than raw numerics.
                    return self.sasl_numeric(task, num, &msg);
                }
                numeric::RPL_ENDOFWHO
                    if self
                        .who_pending
                        .remove(casefold(msg.param(1).unwrap_or("")).as_ref()) =>
                {
                    return None;
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
            if task.state.isupport.whox {
                // And who there is logged in (WHOX: `354 <me> <token> <nick> <account>`).
                self.who_pending.insert(casefold(&chan).into_owned());
                let fields = format!("%tna,{WHOX_TOKEN}");
                self.send_msg("WHO", &[&chan, &fields]);
            }
            self.load_latest(task, &chan);
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
        // Display names and avatars (draft/metadata-2): what we show of people.
        if task.state.has_cap("draft/metadata-2") {
            let mut params = vec!["*", "SUB"];
            params.extend(crate::state::PROFILE_KEYS);
            self.send_msg("METADATA", &params);
        }
        self.history_after_welcome(task);
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
            Command::Reply {
                target,
                msgid,
                text,
            } => self.reply(task, &target, &msgid, &text),
            Command::React {
                target,
                msgid,
                emoji,
                remove,
            } => self.react(task, &target, &msgid, &emoji, remove),
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
            Command::LoadLatest { target } => self.load_latest(task, &target),
            Command::LoadOlder { target } => self.load_older(task, &target),
            Command::ListTargets { days } => self.list_targets(task, days),
            Command::MarkRead { target, time } => self.mark_read(task, &target, time),
            Command::Search { text, target } => {
                self.search(task, crate::search::SearchQuery { text, target });
            }
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
            Command::Redact {
                target,
                msgid,
                reason,
            } => match reason.as_deref().filter(|r| !r.is_empty()) {
                Some(r) => self.send_msg("REDACT", &[&target, &msgid, r]),
                None => self.send_msg("REDACT", &[&target, &msgid]),
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
                match registration_problem(task, account.as_deref(), email.as_deref(), &password) {
                    Some(problem) => {
                        let at = task.state_acting();
                        task.local(at, LineKind::Error, problem);
                    }
                    None => {
                        // `*` stands for the current nick, and for "no e-mail".
                        let account = account
                            .filter(|a| !task.state.is_me(a))
                            .unwrap_or_else(|| "*".to_owned());
                        let email = email.unwrap_or_else(|| "*".to_owned());
                        self.send_msg("REGISTER", &[&account, &email, &password]);
                    }
                }
            }
            Command::VerifyAccount { account, code } => {
                if task.account_registration.is_none() {
                    let at = task.state_acting();
                    task.local(at, LineKind::Error, NO_REGISTRATION);
                } else {
                    self.send_msg("VERIFY", &[&account, &code]);
                }
            }
            Command::Reconnect => {
                self.send_msg("QUIT", &["Reconnecting"]);
                return Some(End::Reconnect);
            }
            Command::Disconnect { reason } => {
                self.send_msg("QUIT", &[reason.as_deref().unwrap_or("Charla")]);
                return Some(End::Disconnect(reason));
            }
            Command::Quit { reason } => return Some(self.quit(reason.as_deref())),
        }
        None
    }

    /// Sends a message, split to fit, and shows it when the server will not echo it.
    pub(super) fn say(
        &mut self,
        task: &mut Task,
        verb: &str,
        target: &str,
        text: &str,
        action: bool,
    ) {
        if target.is_empty() {
            return;
        }
        let budget = text_budget(task, verb, target, action);
        // A paste, or a text too long for one line, goes as one message where it can.
        if !action && verb == "PRIVMSG" && self.say_multiline(task, verb, target, text, budget) {
            if !task.state.has_cap("echo-message") {
                let msg = OwnedMessage {
                    tags: Vec::new(),
                    source: Some(task.state.nick.clone()),
                    command: verb.to_owned(),
                    params: vec![target.to_owned(), text.trim_matches('\n').to_owned()],
                };
                task.emit(Event::Echo(msg));
            }
            task.typing_sent.remove(casefold(target).as_ref());
            return;
        }
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

/// How many bytes of text fit in one `verb` to `target` (an `action` takes its CTCP wrapping).
fn text_budget(task: &Task, verb: &str, target: &str, action: bool) -> usize {
    // The server prefixes relayed lines with `:nick!user@host `; leave room for it.
    let overhead =
        1 + task.state.nick.len() + 1 + 16 + 1 + 64 + 1 + verb.len() + 1 + target.len() + 2 + 2;
    charla_proto::limits::MAX_LINE
        .saturating_sub(overhead + if action { 9 } else { 0 })
        .max(64)
}

/// What a server without `draft/account-registration` is told.
const NO_REGISTRATION: &str = "This server does not offer account registration";

/// Why `REGISTER` would be refused, said before sending it: the capability's value lists what
/// the server needs (`email-required`, `custom-accountname`; the spec's section "The
/// capability").
fn registration_problem(
    task: &Task,
    account: Option<&str>,
    email: Option<&str>,
    password: &str,
) -> Option<String> {
    let Some(flags) = &task.account_registration else {
        return Some(NO_REGISTRATION.to_owned());
    };
    let has = |flag: &str| flags.split(',').any(|f| f == flag);
    if password.is_empty() {
        return Some("Choose a password".to_owned());
    }
    if email.is_none() && has("email-required") {
        return Some("This server needs an e-mail address to create an account".to_owned());
    }
    if let Some(account) = account
        && !task.state.is_me(account)
        // The draft spells it `custom-accountname`; some servers write `custom-account-name`.
        && !has("custom-accountname")
        && !has("custom-account-name")
    {
        return Some(format!(
            "On this server an account is named after your nick: change your nick to \
             {account} first (/nick {account}), then create the account"
        ));
    }
    None
}
