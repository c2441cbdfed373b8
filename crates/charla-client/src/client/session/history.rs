//! History in an open connection (<https://ircv3.net/specs/extensions/chathistory>,
//! <https://ircv3.net/specs/extensions/read-marker>): asking for it, and reading the answers.
//!
//! - Joining a channel asks for its latest lines (`CHATHISTORY LATEST <channel> * <n>`, n the
//!   smaller of 100 and the server's `CHATHISTORY` limit); so does opening a private
//!   conversation, with an account (only an account can read one back), which also asks its read
//!   marker (the server sends a channel's on JOIN by itself).
//! - After registering with an account: `CHATHISTORY TARGETS` over the last 30 days, and every
//!   private conversation in the answer comes back as a buffer, with its latest lines. So
//!   private conversations survive a restart of the app.
//! - Scrolling back asks `BEFORE` the buffer's oldest `msgid`; reading sends `MARKREAD`.
//!
//! What the client asks by itself goes out after what the user asks, one line at a time
//! (`Background`): a history request costs servers more than a line, and joining many channels
//! must not leave the user's first message waiting behind their history. Scrolling back, which
//! the user waits for, goes out at once.
//!
//! An answer is a batch (`BATCH +ref chathistory <target>` … `BATCH -ref`): its lines are
//! collected apart from live ones and reported as one [`Event::HistoryLoaded`]. A refusal
//! (`FAIL CHATHISTORY`) ends the request with no lines. Requests are matched to answers in the
//! order they were sent, per target.

use std::collections::{HashMap, VecDeque};

use charla_proto::OwnedMessage;
use charla_proto::casemap::casefold;
use charla_proto::line::LineBuilder;
use chrono::{Duration as Days, Utc};

use super::Session;
use crate::client::Task;
use crate::event::Event;
use crate::state::{BufferId, iso_time, parse_time};

/// How far back the conversations to come back to are looked for after connecting.
pub(super) const TARGETS_DAYS: u32 = 30;

/// What a request asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Latest,
    Before,
    Targets,
}

/// A request sent and not answered yet.
#[derive(Debug)]
struct Request {
    kind: Kind,
    /// The target as asked (empty for TARGETS).
    target: String,
    /// The folded target.
    key: String,
    /// How many lines it asked for.
    limit: usize,
}

/// A batch being collected.
#[derive(Debug)]
struct Open {
    /// The target of a `chathistory` batch; `None` for `draft/chathistory-targets`.
    target: Option<String>,
    lines: Vec<OwnedMessage>,
}

/// The history requests of one connection and the answers coming in.
#[derive(Debug, Default)]
pub(super) struct Histories {
    pending: VecDeque<Request>,
    open: HashMap<String, Open>,
}

impl Histories {
    fn is_pending(&self, kind: Kind, key: &str) -> bool {
        self.pending.iter().any(|r| r.kind == kind && r.key == key)
    }

    /// Takes the oldest request a batch about `key` (None: TARGETS) answers.
    fn answered(&mut self, key: Option<&str>) -> Option<Request> {
        let at = self.pending.iter().position(|r| match key {
            Some(key) => r.kind != Kind::Targets && r.key == key,
            None => r.kind == Kind::Targets,
        })?;
        self.pending.remove(at)
    }
}

impl Session {
    /// Queues a line the client sends by itself: it goes after the user's (`Background`).
    fn send_background(&mut self, cmd: &str, params: &[&str]) {
        let mut b = LineBuilder::new();
        b.command(cmd);
        for p in params {
            b.param(p);
        }
        self.background.push(b.finish_string());
    }

    /// Whether this connection can ask for history (`draft/chathistory`, whose answers come in
    /// batches).
    fn has_history(task: &Task) -> bool {
        task.state.has_cap("draft/chathistory") && task.state.has_cap("batch")
    }

    /// Whether the history of `target` is ours to read: a channel, or (with an account) a
    /// private conversation.
    fn may_read(task: &Task, target: &str) -> bool {
        Self::has_history(task) && (task.state.is_channel(target) || task.state.account.is_some())
    }

    /// `CHATHISTORY LATEST <target> * <n>`, unless one is out already.
    pub(super) fn load_latest(&mut self, task: &mut Task, target: &str) {
        let key = casefold(target).into_owned();
        if target.is_empty()
            || !Self::may_read(task, target)
            || self.histories.is_pending(Kind::Latest, &key)
        {
            return;
        }
        let limit = task.state.isupport.history_page();
        self.send_background("CHATHISTORY", &["LATEST", target, "*", &limit.to_string()]);
        self.request(task, Kind::Latest, key, limit, target);
    }

    /// `CHATHISTORY BEFORE <target> msgid=<oldest> <n>`, unless one is out already or there is
    /// no message to go back from.
    pub(super) fn load_older(&mut self, task: &mut Task, target: &str) {
        let key = casefold(target).into_owned();
        let id = task.state.target_buffer(target);
        let Some(oldest) = task
            .state
            .buffer(&id)
            .and_then(|b| b.history.oldest.as_ref())
            .map(|o| o.msgid.clone())
        else {
            return;
        };
        if !Self::may_read(task, target) || self.histories.is_pending(Kind::Before, &key) {
            return;
        }
        let limit = task.state.isupport.history_page();
        let anchor = format!("msgid={oldest}");
        self.send_msg(
            "CHATHISTORY",
            &["BEFORE", target, &anchor, &limit.to_string()],
        );
        self.request(task, Kind::Before, key, limit, target);
    }

    fn request(&mut self, task: &mut Task, kind: Kind, key: String, limit: usize, target: &str) {
        self.histories.pending.push_back(Request {
            kind,
            target: target.to_owned(),
            key,
            limit,
        });
        task.emit(Event::HistoryRequested {
            target: target.to_owned(),
            before: kind == Kind::Before,
        });
    }

    /// `CHATHISTORY TARGETS` over the last `days` days (with an account: private
    /// conversations are kept per account).
    pub(super) fn list_targets(&mut self, task: &mut Task, days: u32) {
        if !Self::has_history(task)
            || task.state.account.is_none()
            || self.histories.is_pending(Kind::Targets, "")
        {
            return;
        }
        let now = Utc::now();
        let from = format!("timestamp={}", iso_time(now - Days::days(i64::from(days))));
        // A day ahead: the server's clock may be ahead of ours.
        let to = format!("timestamp={}", iso_time(now + Days::days(1)));
        let limit = task.state.isupport.history_page();
        self.send_background("CHATHISTORY", &["TARGETS", &from, &to, &limit.to_string()]);
        self.histories.pending.push_back(Request {
            kind: Kind::Targets,
            target: String::new(),
            key: String::new(),
            limit,
        });
    }

    /// `MARKREAD <target> timestamp=<time>`, if the server keeps read markers for our account
    /// and it moves the marker forward.
    pub(super) fn mark_read(&mut self, task: &mut Task, target: &str, time: chrono::DateTime<Utc>) {
        if !Self::may_mark(task) {
            return;
        }
        let id = task.state.target_buffer(target);
        if task
            .state
            .buffer(&id)
            .and_then(|b| b.read_marker)
            .is_some_and(|m| time <= m)
        {
            return;
        }
        let stamp = format!("timestamp={}", iso_time(time));
        self.send_background("MARKREAD", &[target, &stamp]);
    }

    fn may_mark(task: &Task) -> bool {
        task.state.has_cap("draft/read-marker") && task.state.account.is_some()
    }

    /// A private conversation to show: its latest lines and its read marker.
    fn open_private(&mut self, task: &mut Task, nick: &str) {
        self.load_latest(task, nick);
        if Self::may_mark(task) && Self::may_read(task, nick) {
            self.send_background("MARKREAD", &[nick]);
        }
    }

    /// After registration: the private conversations we have (reopened while disconnected, or
    /// open before a reconnect) and those of the last days come back with their latest lines.
    pub(super) fn history_after_welcome(&mut self, task: &mut Task) {
        task.opened_queries.clear();
        if task.state.account.is_none() {
            return;
        }
        let queries: Vec<String> = task
            .state
            .buffers
            .iter()
            .filter_map(|b| match &b.id {
                BufferId::Query(nick) => Some(nick.clone()),
                _ => None,
            })
            .collect();
        for nick in queries {
            self.open_private(task, &nick);
        }
        self.list_targets(task, TARGETS_DAYS);
    }

    /// Private conversations opened since the last look (by the user, or by a message):
    /// their history.
    pub(super) fn follow_new_queries(&mut self, task: &mut Task) {
        if !self.registered || task.opened_queries.is_empty() {
            return;
        }
        for nick in std::mem::take(&mut task.opened_queries) {
            self.open_private(task, &nick);
        }
    }

    /// Takes the lines that belong to history answers; gives back any other.
    pub(super) fn history_inbound(
        &mut self,
        task: &mut Task,
        msg: OwnedMessage,
    ) -> Option<OwnedMessage> {
        if let Some(reference) = msg.tag("batch")
            && let Some(open) = self.histories.open.get_mut(reference)
        {
            open.lines.push(msg);
            return None;
        }
        let command = msg.command.to_ascii_uppercase();
        match command.as_str() {
            "BATCH" => self.history_batch(task, msg),
            "FAIL" if matches!(msg.param(0), Some("CHATHISTORY")) => {
                self.history_refused(task, &msg);
                None
            }
            // Our own asking for markers (a conversation the server has none for, say).
            "FAIL" if matches!(msg.param(0), Some("MARKREAD")) => {
                tracing::debug!(line = %msg, "MARKREAD refused");
                None
            }
            _ => Some(msg),
        }
    }

    /// `BATCH +ref type params…` and `BATCH -ref`: ours are collected, others pass on.
    fn history_batch(&mut self, task: &mut Task, msg: OwnedMessage) -> Option<OwnedMessage> {
        let reference = msg.param(0).unwrap_or("");
        if let Some(id) = reference.strip_prefix('+') {
            let target = match msg.param(1) {
                Some("chathistory") => Some(msg.param(2).unwrap_or("").to_owned()),
                Some("draft/chathistory-targets") => None,
                _ => return Some(msg),
            };
            self.histories.open.insert(
                id.to_owned(),
                Open {
                    target,
                    lines: Vec::new(),
                },
            );
            return None;
        }
        let Some(open) = reference
            .strip_prefix('-')
            .and_then(|id| self.histories.open.remove(id))
        else {
            return Some(msg);
        };
        match open.target {
            Some(target) => {
                let request = self.histories.answered(Some(&casefold(&target)));
                let (before, more) = match request {
                    Some(r) => (r.kind == Kind::Before, open.lines.len() >= r.limit),
                    // Someone typed CHATHISTORY by hand: show it as the latest.
                    None => (false, false),
                };
                task.emit(Event::HistoryLoaded {
                    target,
                    lines: open.lines,
                    before,
                    more,
                });
            }
            None => {
                self.histories.answered(None);
                self.reopen_targets(task, &open.lines);
            }
        }
        None
    }

    /// `CHATHISTORY TARGETS <name> <time>` lines: private conversations come back as buffers
    /// (channels come back by rejoining).
    fn reopen_targets(&mut self, task: &mut Task, lines: &[OwnedMessage]) {
        for line in lines {
            let name = line.param(1).unwrap_or("");
            if line.param(0) != Some("TARGETS") || name.is_empty() || task.state.is_channel(name) {
                continue;
            }
            // Closed by the user since its last line: it stays closed.
            let last = line.param(2).and_then(parse_time);
            if let Some(closed) = task.closed_queries.get(casefold(name).as_ref())
                && last.is_none_or(|t| t <= *closed)
            {
                continue;
            }
            let id = BufferId::Query(name.to_owned());
            if task.state.buffer(&id).is_none() {
                // Its history follows (`follow_new_queries`).
                task.emit(Event::OpenBuffer {
                    buffer: id,
                    focus: false,
                });
            }
        }
    }

    /// `FAIL CHATHISTORY <code> <subcommand> [<target>] :<text>`: the request ends empty.
    fn history_refused(&mut self, task: &mut Task, msg: &OwnedMessage) {
        tracing::debug!(line = %msg, "CHATHISTORY refused");
        let kind = match msg.param(2).unwrap_or("").to_ascii_uppercase().as_str() {
            "TARGETS" => Kind::Targets,
            "BEFORE" => Kind::Before,
            _ => Kind::Latest,
        };
        // The target is there when the request got as far as naming one.
        let key = msg
            .params
            .get(3)
            .filter(|_| msg.params.len() > 4 && kind != Kind::Targets)
            .map(|t| casefold(t).into_owned());
        let pending = &mut self.histories.pending;
        let Some(at) = pending
            .iter()
            .position(|r| r.kind == kind && key.as_ref().is_none_or(|k| *k == r.key))
        else {
            return;
        };
        let Some(request) = pending.remove(at) else {
            return;
        };
        if request.kind != Kind::Targets {
            task.emit(Event::HistoryLoaded {
                target: request.target,
                lines: Vec::new(),
                before: request.kind == Kind::Before,
                more: false,
            });
        }
    }
}
