//! The chat view of one buffer: topic, the lines (time stamps, nick colours, /me actions,
//! folded joins/parts, clickable links, mentions highlighted), who is typing, and the input line.
//!
//! History from the server sits above the live lines, where its times put it. Reaching the top
//! draws more of the scroll-back, then asks the server for older lines, keeping the line that
//! was at the top where it was on screen (see [`history`]); a "new since you
//! were last here" separator marks where the user had read up to.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use charla_client::{Buffer, BufferId, Command, Line, LineKind, TypingState};
use chrono::{DateTime, Utc};
use egui::text::{CCursor, CCursorRange};
use egui::{Color32, Key, Modifiers, RichText, Ui};

use crate::history::{self, AtTop, ReadSync, ScrollAnchor};
use crate::input::Completion;
use crate::reactions::{self, Quote};
use crate::session::Session;
use crate::{compose, theme};

mod line;

use line::rich_text;
pub use line::{Deletable, LineAction, LineContext, line_ui};

/// How many lines are drawn at first; reaching the top adds this many more.
const PAGE: usize = 300;

/// How long an unanswered request for older lines holds the top (then it may ask again).
const OLDER_GIVEN_UP: Duration = Duration::from_secs(15);

/// What the separator above the first unread line says.
pub const NEW_SINCE: &str = "new since you were last here";

/// What the view draws for a run of lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    /// One line, by index.
    Single(usize),
    /// Two or more consecutive joins/parts/quits/nick changes, folded into one row
    /// (`start..end` indices).
    Folded {
        /// First index.
        start: usize,
        /// One past the last index.
        end: usize,
    },
}

/// Groups lines into rows: runs of two or more membership lines fold into one.
pub fn rows<'a>(lines: impl Iterator<Item = &'a Line>, first: usize) -> Vec<Row> {
    let mut out = Vec::new();
    let mut run_start: Option<usize> = None;
    let mut index = first;
    let flush = |out: &mut Vec<Row>, start: usize, end: usize| {
        if end - start >= 2 {
            out.push(Row::Folded { start, end });
        } else {
            out.extend((start..end).map(Row::Single));
        }
    };
    for line in lines {
        if line.kind.is_membership() {
            run_start.get_or_insert(index);
        } else {
            if let Some(start) = run_start.take() {
                flush(&mut out, start, index);
            }
            out.push(Row::Single(index));
        }
        index += 1;
    }
    if let Some(start) = run_start {
        flush(&mut out, start, index);
    }
    out
}

/// A short summary of a folded run: "3 joined, 1 left: ana, bob, carla, dani".
pub fn fold_summary<'a>(lines: impl Iterator<Item = &'a Line>) -> String {
    let (mut joined, mut left, mut renamed) = (0, 0, 0);
    let mut nicks: Vec<&str> = Vec::new();
    for line in lines {
        match line.kind {
            LineKind::Join => joined += 1,
            LineKind::Part | LineKind::Quit | LineKind::Kick => left += 1,
            _ => renamed += 1,
        }
        if let Some(nick) = line.nick.as_deref()
            && !nicks.contains(&nick)
        {
            nicks.push(nick);
        }
    }
    let mut parts = Vec::new();
    if joined > 0 {
        parts.push(format!("{joined} joined"));
    }
    if left > 0 {
        parts.push(format!("{left} left"));
    }
    if renamed > 0 {
        parts.push(format!("{renamed} renamed"));
    }
    const SHOWN: usize = 6;
    let mut names = nicks
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if nicks.len() > SHOWN {
        names.push_str(&format!(" and {} more", nicks.len() - SHOWN));
    }
    format!("{}: {names}", parts.join(", "))
}

/// Per-buffer view state kept by the app (not protocol state).
#[derive(Debug, Default, Clone)]
pub struct BufferView {
    /// The unsent text of the input line.
    pub draft: String,
    /// How many of the newest lines are drawn.
    pub shown: usize,
    /// Folded runs the user opened, by the time of their first line.
    pub unfolded: HashSet<i64>,
    /// Whether we told the others we are typing.
    pub typing_sent: bool,
    /// When the last key was typed (to send "paused").
    pub last_key: Option<Instant>,
    /// Where the user had read up to when they came to this buffer: the separator goes above
    /// the first line from others after it, until they leave.
    pub new_after: Option<DateTime<Utc>>,
    /// Whether the view is scrolled up from the newest line (then it is not being read).
    pub scrolled_up: bool,
    /// Whether the view was at the top last frame (a frame is laid out before the scrolling it
    /// receives: reaching the top counts once the view stays there).
    pub at_top: bool,
    /// The line kept in place while lines are added above it.
    pub anchor: Option<ScrollAnchor>,
    /// A scroll offset to apply next frame (keeping the anchor in place).
    pub scroll_to: Option<f32>,
    /// Older lines were asked for: the buffer's history answers then, its line count, and
    /// when.
    pub older_asked: Option<(u64, usize, Instant)>,
    /// Telling the server what was read here.
    pub read_sync: ReadSync,
    /// "Delete message" was chosen: the REDACT to send once the user confirms.
    pub confirm_delete: Option<Command>,
    /// "Reply" was chosen: the next message answers this one.
    pub replying: Option<Quote>,
    /// A line to scroll to, by its number (a reply's quote or a search result was clicked).
    pub jump_to: Option<u64>,
    /// The line a search result led to, marked until the search closes.
    pub found: Option<u64>,
}

/// Draws the active buffer of `session` (messages and input).
pub fn show(ui: &mut Ui, session: &mut Session) {
    let id = session.active.clone();
    let Some(buffer) = session.state.buffer(&id) else {
        ui.label("This conversation is closed.");
        return;
    };
    let dark = ui.visuals().dark_mode;
    let in_channel = matches!(id, BufferId::Channel(_));
    let search_clicked = header(ui, buffer);
    let typing: Vec<String> = buffer
        .typing_now(Instant::now())
        .into_iter()
        .map(str::to_owned)
        .collect();
    if search_clicked {
        session.search.show_box();
    }
    if !typing.is_empty() {
        // Typing notices expire by time, not by event: look again in a second.
        ui.ctx().request_repaint_after(Duration::from_secs(1));
    }

    crate::upload::take_input(ui, session, &id);
    egui::Panel::bottom(egui::Id::unique(("input-panel", session.key, &id)))
        .show_separator_line(false)
        .show(ui, |ui| {
            let draft = session.views.get(&id).map_or("", |v| v.draft.as_str());
            if draft.starts_with('/') && !draft.contains(' ') && draft.len() > 1 {
                command_hint(ui, draft);
            } else {
                typing_line(ui, &typing);
            }
            crate::upload::bar(ui, session, &id);
            input_line(ui, session, &id);
        });

    let state = &session.state;
    let Some(buffer) = state.buffer(&id) else {
        return;
    };
    let view = session.views.entry(id.clone()).or_default();
    if view.shown == 0 {
        view.shown = PAGE;
    }
    // The older lines asked for came: draw them too. (No answer in a long while: the
    // connection went, say; the top may ask again.)
    if let Some((answers, lines_then, at)) = view.older_asked {
        if buffer.history.answers != answers {
            view.shown += buffer.lines.len().saturating_sub(lines_then);
            view.older_asked = None;
        } else if at.elapsed() > OLDER_GIVEN_UP {
            view.older_asked = None;
            view.anchor = None;
        }
    }
    let total = buffer.lines.len();
    let separator = view
        .new_after
        .and_then(|after| history::separator_at(&buffer.lines, after));
    let mut area = egui::ScrollArea::vertical()
        .id_salt(("lines", session.key, &id))
        .auto_shrink([false, false])
        // A scroll asked for (a jump to a message, the anchor) wins over sticking to the end.
        .stick_to_bottom(view.scroll_to.is_none());
    if let Some(offset) = view.scroll_to.take() {
        area = area.vertical_scroll_offset(offset);
    }
    // Which lines offer "Delete message": our own, or every message in a channel we operate,
    // where the server deletes messages (draft/message-redaction).
    let deletable = session
        .state
        .has_cap("draft/message-redaction")
        .then(|| id.target())
        .flatten()
        .map(|target| Deletable {
            target,
            any: in_channel
                && buffer
                    .members
                    .iter()
                    .any(|m| session.state.is_me(&m.nick) && m.is_op()),
        });
    let cx = LineContext {
        state,
        buffer,
        dark,
        tint_mentions: in_channel,
        deletable,
        found: view.found,
        // Replies and reactions are client tags: only where the server passes them on.
        target: id.target().filter(|_| state.has_cap("message-tags")),
    };
    // A reply's quote was clicked: draw enough lines to hold the message, then scroll to it.
    let jump = view.jump_to.take().and_then(|seq| {
        let at = buffer.lines.iter().rposition(|l| l.seq == seq)?;
        view.shown = view.shown.max(total - at);
        Some(at)
    });
    let first = total.saturating_sub(view.shown);
    let mut action: Option<LineAction> = None;
    let mut more_asked = false;
    // The first row drawn (its line's number and top), and where the anchored line is now.
    let mut top_row: Option<(u64, f32)> = None;
    let mut anchor_y = None;
    let mut jump_y = None;
    let previews = &mut session.previews;
    let filehost = state.isupport.filehost.as_deref();
    let output = area.show(ui, |ui| {
        let origin = ui.max_rect().top();
        more_asked = top_of_lines(ui, buffer, first, view.older_asked.is_some());
        for row in rows(buffer.lines.range(first..), first) {
            let (start, end) = match row {
                Row::Single(i) => (i, i + 1),
                Row::Folded { start, end } => (start, end),
            };
            if separator == Some(start) {
                new_marker(ui);
            }
            let y = ui.cursor().top() - origin;
            if top_row.is_none() {
                top_row = buffer.lines.get(start).map(|l| (l.seq, y));
            }
            if let Some(anchor) = view.anchor
                && buffer.lines.range(start..end).any(|l| l.seq == anchor.seq)
            {
                anchor_y = Some(y);
            }
            let asked = match row {
                Row::Single(i) => buffer.lines.get(i).and_then(|line| {
                    let asked = line_ui(ui, line, &cx);
                    previews.under_line(ui, line, filehost);
                    asked
                }),
                Row::Folded { start, end } => folded_row(ui, &cx, view, start, end),
            };
            action = action.take().or(asked);
            if jump.is_some_and(|at| (start..end).contains(&at)) {
                jump_y = Some(y);
            }
        }
    });
    let offset = output.state.clamped_offset().y;
    let max_offset = output.content_size.y - output.inner_rect.height();
    view.scrolled_up = offset < max_offset - 4.0;
    // The message a quote was clicked for: in the middle of the view from the next frame on.
    if let Some(y) = jump_y {
        let to = (y - output.inner_rect.height() / 2.0).clamp(0.0, max_offset.max(0.0));
        view.scroll_to = Some(to);
        view.anchor = None;
        ui.ctx().request_repaint();
    }
    // Keep the anchored line where it was on screen; let it go once nothing more is coming.
    if let Some(anchor) = view.anchor {
        match anchor_y.and_then(|y| anchor.correction(offset, y, max_offset)) {
            Some(to) => {
                view.scroll_to = Some(to);
                ui.ctx().request_discard("lines added above the view");
            }
            None if view.older_asked.is_none() => view.anchor = None,
            None => {}
        }
    }
    // At the top (or asked by the button): more of the scroll-back, or older lines.
    let was_at_top = std::mem::replace(&mut view.at_top, offset <= 1.0);
    if ((was_at_top && view.at_top) || more_asked)
        && view.anchor.is_none()
        && view.older_asked.is_none()
    {
        match history::at_top(first, buffer) {
            AtTop::ShowMore => {
                view.anchor = top_row.map(|(seq, y)| ScrollAnchor::new(seq, y, offset));
                view.shown += PAGE;
                ui.ctx().request_repaint();
            }
            AtTop::LoadOlder => {
                view.anchor = top_row.map(|(seq, y)| ScrollAnchor::new(seq, y, offset));
                view.older_asked = Some((buffer.history.answers, total, Instant::now()));
                if let Some(target) = id.target() {
                    action = action.or(Some(LineAction::Send(Command::LoadOlder {
                        target: target.to_owned(),
                    })));
                }
            }
            AtTop::Nothing => {}
        }
    }
    match action {
        Some(LineAction::Send(command)) => session.send(command),
        // Deleting asks first.
        Some(LineAction::Delete(redact)) => {
            session.views.entry(id.clone()).or_default().confirm_delete = Some(redact);
        }
        Some(LineAction::Reply(quote)) => {
            session.views.entry(id.clone()).or_default().replying = Some(quote);
            // The input line takes the keyboard: the answer is typed next.
            ui.memory_mut(|m| m.request_focus(input_id(session.key, &id)));
        }
        Some(LineAction::Jump(msgid)) => {
            let seq = session.state.buffer(&id).and_then(|b| {
                b.lines
                    .iter()
                    .rev()
                    .find(|l| l.msgid.as_deref() == Some(msgid.as_str()))
                    .map(|l| l.seq)
            });
            session.views.entry(id.clone()).or_default().jump_to = seq;
            ui.ctx().request_repaint();
        }
        None => {}
    }
    session.previews.viewer(ui.ctx());
    let pending = &mut session.views.entry(id).or_default().confirm_delete;
    if let Some(redact) = confirm_delete(ui, pending) {
        session.send(redact);
    }
}

/// The "Delete this message?" dialog while `pending` holds a REDACT; the REDACT when the user
/// confirms.
fn confirm_delete(ui: &mut Ui, pending: &mut Option<Command>) -> Option<Command> {
    pending.as_ref()?;
    let mut answer = None;
    egui::Modal::new(egui::Id::unique("confirm-delete")).show(ui.ctx(), |ui| {
        ui.set_max_width(380.0);
        ui.heading("Delete this message?");
        ui.label(
            "It is removed from the server's history and search. Clients that support \
             deleting show it as deleted; others may have seen or kept it already.",
        );
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            if ui.button("Delete").clicked() {
                answer = Some(true);
            }
            if ui.button("Cancel").clicked() {
                answer = Some(false);
            }
        });
    });
    match answer {
        Some(true) => pending.take(),
        Some(false) => {
            *pending = None;
            None
        }
        None => None,
    }
}

/// Above the lines: "Loading older lines…" while they come, a button for more while there is
/// more (reaching the top does the same), or where the history starts. True when clicked.
fn top_of_lines(ui: &mut Ui, buffer: &Buffer, hidden: usize, asked: bool) -> bool {
    let muted = theme::muted(ui.visuals());
    if asked || buffer.history.loading {
        // As tall as the button it replaces: the lines below do not move.
        ui.add_enabled(false, egui::Button::new("Loading older lines…").small());
        false
    } else if hidden > 0 || buffer.history.more {
        ui.small_button("Show older lines").clicked()
    } else if buffer.history.answers > 0 && buffer.id != BufferId::Server {
        ui.label(
            RichText::new("This is the beginning of the history the server keeps").color(muted),
        );
        false
    } else {
        false
    }
}

/// A run of joins/parts folded into one line; click to open it.
fn folded_row(
    ui: &mut Ui,
    cx: &LineContext<'_>,
    view: &mut BufferView,
    start: usize,
    end: usize,
) -> Option<LineAction> {
    let buffer = cx.buffer;
    let key = buffer
        .lines
        .get(start)
        .map_or(0, |l| l.time.timestamp_millis());
    let open = view.unfolded.contains(&key);
    let summary = fold_summary(buffer.lines.range(start..end));
    let arrow = if open { "⏷" } else { "⏵" };
    let muted = theme::muted(ui.visuals());
    let response = ui.add(
        egui::Label::new(RichText::new(format!("{arrow} {summary}")).color(muted))
            .sense(egui::Sense::click()),
    );
    if response.clicked() {
        if open {
            view.unfolded.remove(&key);
        } else {
            view.unfolded.insert(key);
        }
    }
    let mut action = None;
    if open {
        for line in buffer.lines.range(start..end) {
            action = action.or(line_ui(ui, line, cx));
        }
    }
    action
}

/// The line above the first message that was unread when the user came back.
fn new_marker(ui: &mut Ui) {
    ui.horizontal(|ui| {
        let width = ui.available_width();
        ui.label(RichText::new(NEW_SINCE).color(theme::MENTION_BADGE));
        let y = ui.min_rect().center().y;
        let x = ui.min_rect().right() + 6.0;
        ui.painter().hline(
            x..=x + (width - 200.0).max(0.0),
            y,
            egui::Stroke::new(1.0, theme::MENTION_BADGE),
        );
    });
}

/// The buffer's name and topic, and the search button: true when it was clicked.
fn header(ui: &mut Ui, buffer: &Buffer) -> bool {
    let search = ui.horizontal(|ui| {
        let search = ui
            .small_button("🔍")
            .on_hover_text("Search the history (Ctrl+F)")
            .clicked();
        let title = match &buffer.id {
            BufferId::Server => "Server messages".to_owned(),
            BufferId::Channel(name) => name.clone(),
            BufferId::Query(nick) => format!("Conversation with {nick}"),
        };
        ui.heading(title);
        if let Some(topic) = buffer.topic.as_deref().filter(|t| !t.is_empty()) {
            ui.separator();
            let _ = rich_text(ui, topic, false);
        }
        if matches!(buffer.id, BufferId::Channel(_)) && !buffer.joined {
            ui.colored_label(theme::DANGER, "(not in this channel)");
        }
        search
    });
    ui.separator();
    search.inner
}

/// While a /command is being typed: the ones it could be (Tab completes).
fn command_hint(ui: &mut Ui, draft: &str) {
    let matches = Completion::commands(draft);
    let text = if matches.is_empty() {
        format!("No command {draft}: try /join /msg /me /nick /topic /away /quit /raw")
    } else {
        format!("{}   (Tab completes)", matches.join("  "))
    };
    ui.add(egui::Label::new(
        RichText::new(text).color(theme::muted(ui.visuals())),
    ));
}

fn typing_line(ui: &mut Ui, typing: &[String]) {
    let text = match typing {
        [] => String::new(),
        [one] => format!("{one} is typing…"),
        [a, b] => format!("{a} and {b} are typing…"),
        [a, rest @ ..] => format!("{a} and {} others are typing…", rest.len()),
    };
    // Always take the row's height so the input does not jump when someone starts typing.
    ui.add(egui::Label::new(
        RichText::new(text)
            .italics()
            .color(theme::muted(ui.visuals())),
    ));
}

/// The input line: Enter sends, Shift+Enter starts a new line (a pasted text keeps its lines,
/// and goes as one message where the server takes `draft/multiline`), Up/Down browse history
/// (in a one-line draft), Tab completes nicks, Ctrl+B/I/U/O and Ctrl+Shift+K write
/// formatting (see [`compose`]).
fn input_line(ui: &mut Ui, session: &mut Session, id: &BufferId) {
    let input_id = input_id(session.key, id);
    let focused = ui.memory(|m| m.has_focus(input_id));
    // Answering a message: what it answers, above the input; ✖ or Esc cancels.
    if let Some(view) = session.views.get_mut(id)
        && let Some(quote) = &view.replying
    {
        let escape = focused && ui.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape));
        if reactions::reply_bar(ui, quote) || escape {
            view.replying = None;
        }
    }
    let several_lines = session
        .views
        .get(id)
        .is_some_and(|v| v.draft.contains('\n'));
    // Take the keys before the text field sees them: Tab would move focus, Enter add a line,
    // Up/Down move the cursor (which they should, in a draft of several lines).
    let (tab, up, down, enter, mut code) = if focused {
        ui.input_mut(|i| {
            (
                i.consume_key(Modifiers::NONE, Key::Tab),
                !several_lines && i.consume_key(Modifiers::NONE, Key::ArrowUp),
                !several_lines && i.consume_key(Modifiers::NONE, Key::ArrowDown),
                consume_plain_enter(i),
                compose::take_shortcut(i),
            )
        })
    } else {
        (false, false, false, false, None)
    };
    let hint = match id {
        BufferId::Server => "Type a /command, e.g. /join #charla".to_owned(),
        BufferId::Channel(name) => format!("Message {name}"),
        BufferId::Query(nick) => format!("Message {nick}"),
    };
    let mut replaced = None;
    {
        let view = session.views.entry(id.clone()).or_default();
        if tab {
            let buffer = session.state.buffer(id);
            let first_word = !view.draft.contains(' ');
            replaced = session.completion.complete(&view.draft, |prefix| {
                if first_word && prefix.starts_with('/') {
                    Completion::commands(prefix)
                } else {
                    buffer.map(|b| b.complete_nick(prefix)).unwrap_or_default()
                }
            });
        } else if up {
            replaced = session.history.older(&view.draft).map(str::to_owned);
        } else if down {
            replaced = session.history.newer().map(str::to_owned);
        }
        if let Some(text) = &replaced {
            view.draft.clone_from(text);
        }
    }
    let upload_blocked = crate::upload::unavailable(session, id);
    let view = session.views.entry(id.clone()).or_default();
    let mut send = false;
    ui.horizontal(|ui| {
        crate::upload::button(ui, upload_blocked, &mut session.uploads);
        let width = ui.available_width() - 110.0;
        if let Some(format) = code.take() {
            compose::insert_at_cursor(ui, input_id, &mut view.draft, format);
        }
        let mut layouter = compose::layout;
        let response = ui.add(
            egui::TextEdit::multiline(&mut view.draft)
                .id(input_id)
                .hint_text(hint)
                .lock_focus(true)
                .desired_rows(1)
                .desired_width(width.max(100.0))
                .layouter(&mut layouter),
        );
        let response = response.accessible_name("Message input");
        if let Some(format) = compose::menu(ui) {
            compose::insert_at_cursor(ui, input_id, &mut view.draft, format);
            response.request_focus();
        }
        let entered = enter;
        if replaced.is_some() {
            move_cursor_to_end(ui, input_id, &view.draft);
        }
        if response.changed() {
            session.completion.reset();
        }
        if entered || ui.button("Send").clicked() {
            send = true;
            response.request_focus();
        }
        // Ready to type: when nothing else holds the keyboard, the input line takes it.
        if ui.memory(|m| m.focused().is_none()) && !ui.ctx().any_popup_open() {
            response.request_focus();
        }
    });

    let target = id.target().map(str::to_owned);
    let view = session.views.entry(id.clone()).or_default();
    let text = view.draft.trim_end().to_owned();
    if send && !text.is_empty() {
        view.draft.clear();
        view.typing_sent = false;
        view.last_key = None;
        // A line with a password in it (`/register`, `/oper`) is not kept for Up/Down.
        if !charla_client::input::holds_secret(&text) {
            session.history.push(&text);
        }
        session.completion.reset();
        // A reply: plain text answers the quoted message; a /command is a command.
        let reply = view.replying.take_if(|_| !text.starts_with('/'));
        match (reply, id.target()) {
            (Some(quote), Some(target)) => session.send(Command::Reply {
                target: target.to_owned(),
                msgid: quote.msgid,
                text,
            }),
            _ => session.send(Command::Input {
                buffer: id.clone(),
                text,
            }),
        }
        return;
    }
    // Typing notifications: only for chat text, not /commands.
    let Some(target) = target else { return };
    let chatting = !view.draft.is_empty() && !view.draft.starts_with('/');
    let now = Instant::now();
    let mut typing = None;
    if chatting && ui.input(|i| i.events.iter().any(|e| matches!(e, egui::Event::Text(_)))) {
        view.last_key = Some(now);
        view.typing_sent = true;
        typing = Some(TypingState::Active);
    } else if view.typing_sent && !chatting {
        view.typing_sent = false;
        typing = Some(TypingState::Done);
    } else if view.typing_sent
        && view
            .last_key
            .is_some_and(|t| now.duration_since(t) > Duration::from_secs(5))
    {
        view.typing_sent = false;
        typing = Some(TypingState::Paused);
    }
    if view.typing_sent {
        ui.ctx().request_repaint_after(Duration::from_secs(1));
    }
    if let Some(state) = typing {
        session.send(Command::Typing { target, state });
    }
}

/// The input line's egui id, for buffer `id` of session `key`.
fn input_id(key: u64, id: &BufferId) -> egui::Id {
    egui::Id::unique(("input", key, id))
}

/// Takes an Enter pressed without Shift (`consume_key` would take Shift+Enter too: it matches
/// modifiers logically, ignoring Shift).
fn consume_plain_enter(input: &mut egui::InputState) -> bool {
    let before = input.events.len();
    input.events.retain(|e| {
        !matches!(
            e,
            egui::Event::Key {
                key: Key::Enter,
                pressed: true,
                modifiers,
                ..
            } if !modifiers.shift && !modifiers.alt && !modifiers.command
        )
    });
    input.events.len() != before
}

fn move_cursor_to_end(ui: &Ui, id: egui::Id, text: &str) {
    if let Some(mut state) = egui::TextEdit::load_state(ui.ctx(), id) {
        let end = CCursor::new(text.chars().count());
        state.cursor.set_char_range(Some(CCursorRange::one(end)));
        state.store(ui.ctx(), id);
    }
}

/// Colour for a count badge.
pub fn badge_color(mentions: usize) -> Color32 {
    if mentions > 0 {
        theme::MENTION_BADGE
    } else {
        theme::UNREAD_BADGE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(kind: LineKind, nick: &str) -> Line {
        Line {
            nick: Some(nick.to_owned()),
            ..Line::info(kind, format!("{nick} did something"))
        }
    }

    #[test]
    fn runs_of_joins_and_parts_fold() {
        let lines = [
            line(LineKind::Join, "ana"),
            line(LineKind::Message, "ana"),
            line(LineKind::Join, "bob"),
            line(LineKind::Part, "carla"),
            line(LineKind::Quit, "Ñandú"),
            line(LineKind::Message, "bob"),
            line(LineKind::Join, "dani"),
            line(LineKind::Nick, "dani"),
        ];
        assert_eq!(
            rows(lines.iter(), 10),
            vec![
                Row::Single(10),
                Row::Single(11),
                Row::Folded { start: 12, end: 15 },
                Row::Single(15),
                Row::Folded { start: 16, end: 18 },
            ]
        );
        assert_eq!(
            fold_summary(lines[2..5].iter()),
            "1 joined, 2 left: bob, carla, Ñandú"
        );
    }
}
