//! One line of the chat: time stamp, sender and text (a hanging indent), a quote of the
//! message a reply answers, the reactions under a message, and the line's menus: a nick's
//! (private conversation) and the text's (Reply, React, Delete message).

use charla_client::{Buffer, Command, Line, LineKind, State};
use charla_proto::formatting;
use egui::{RichText, Ui};

use crate::links::{self, Span};
use crate::reactions::{self, Quote};
use crate::{styled, theme};

/// What drawing a line needs besides the line.
#[derive(Debug, Clone, Copy)]
pub struct LineContext<'a> {
    /// The connection's state (our nick, display names).
    pub state: &'a State,
    /// The line's buffer (the messages replies quote, the reactions).
    pub buffer: &'a Buffer,
    /// Dark theme (nick colours).
    pub dark: bool,
    /// Tint lines that mention us (in channels).
    pub tint_mentions: bool,
    /// Who may delete what here, where the server deletes messages.
    pub deletable: Option<Deletable<'a>>,
    /// The line a search result led to (by number): marked.
    pub found: Option<u64>,
    /// Where replies and reactions go (the buffer's channel or nick), where the server passes
    /// client tags (`message-tags`); `None`: no Reply or React.
    pub target: Option<&'a str>,
}

/// What the user asked for on a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineAction {
    /// A command to send now (open a private conversation, react).
    Send(Command),
    /// A message to delete, once the user confirms (a [`Command::Redact`]).
    Delete(Command),
    /// Answer this message: it is quoted above the input line.
    Reply(Quote),
    /// Show the message with this `msgid` (a reply's quote was clicked).
    Jump(String),
}

/// Who may delete which lines of a buffer (see [`line_ui`]).
#[derive(Debug, Clone, Copy)]
pub struct Deletable<'a> {
    /// The channel or nick a REDACT names.
    pub target: &'a str,
    /// Every message, not only ours (we are a channel operator).
    pub any: bool,
}

impl Deletable<'_> {
    /// Whether `line` may be deleted: a message with an id, ours or (`any`) anyone's.
    pub fn allows(&self, line: &Line) -> bool {
        line.kind.is_chat() && line.msgid.is_some() && (line.own || self.any)
    }
}

/// Draws one line: time, nick, text; above a reply, a quote of what it answers (click: go
/// there); under a message, its reactions as chips (click: add or take back ours).
/// Mentions are tinted in channels only: in a private conversation every line is "for us".
/// Returns what the user asked for: from a nick's menu, a chip, the quote, or the text's menu
/// (right click: Reply, React, and with [`LineContext::deletable`] "Delete message", a
/// [`Command::Redact`] to confirm before sending).
pub fn line_ui(ui: &mut Ui, line: &Line, cx: &LineContext<'_>) -> Option<LineAction> {
    let LineContext {
        state,
        buffer,
        dark,
        tint_mentions,
        ..
    } = *cx;
    let mut action: Option<LineAction> = None;
    // The text's widgets: right-clicking them opens the line's menu.
    let mut body: Option<egui::Response> = None;
    let muted = theme::muted(ui.visuals());
    let time = line
        .time
        .with_timezone(&chrono::Local)
        .format("%H:%M")
        .to_string();
    let frame = if cx.found == Some(line.seq) {
        egui::Frame::new().fill(ui.visuals().selection.bg_fill.gamma_multiply(0.5))
    } else if tint_mentions && line.highlight && !line.own {
        egui::Frame::new().fill(theme::MENTION_BG)
    } else {
        egui::Frame::new()
    };
    frame.show(ui, |ui| {
        if let Some(msgid) = &line.reply_to
            && let Some(jump) = reactions::quote_of_reply(ui, buffer, msgid, state)
        {
            action = Some(LineAction::Jump(jump));
        }
        // A hanging indent: the time stamp and the sender make a column of their own, and
        // the text wraps within what is left, so continuation lines start under the text.
        ui.horizontal_top(|ui| {
            ui.spacing_mut().item_spacing.x = 0.0;
            ui.label(RichText::new(format!("{time}  ")).monospace().color(muted))
                .on_hover_text(
                    line.time
                        .with_timezone(&chrono::Local)
                        .format("%A %e %B %Y, %H:%M:%S")
                        .to_string(),
                );
            let nick = line.nick.as_deref();
            // The name people chose for themselves (draft/metadata-2), else the nick.
            let shown = |nick: &str| state.display_name(nick).unwrap_or(nick).to_owned();
            let colour = |nick: &str| theme::nick_color(nick, dark);
            // Who, before the text.
            let sender = match (line.kind, nick) {
                (LineKind::Message, Some(nick)) => Some(
                    RichText::new(format!("{}: ", shown(nick)))
                        .strong()
                        .color(colour(nick)),
                ),
                (LineKind::Action, Some(nick)) => Some(
                    RichText::new(format!("* {} ", shown(nick)))
                        .italics()
                        .strong()
                        .color(colour(nick)),
                ),
                (LineKind::Notice, Some(nick)) => Some(
                    RichText::new(format!("-{}- ", shown(nick)))
                        .strong()
                        .color(colour(nick)),
                ),
                (LineKind::Deleted, Some(nick)) => Some(
                    RichText::new(format!("{nick}: "))
                        .strong()
                        .color(colour(nick)),
                ),
                _ => None,
            };
            if let (Some(text), Some(nick)) = (sender, nick)
                && let Some(c) = nick_label(ui, text, nick, line.own)
            {
                action = Some(LineAction::Send(c));
            }
            ui.horizontal_wrapped(|ui| {
                ui.spacing_mut().item_spacing.x = 0.0;
                // Formatting codes show as styled text in messages; elsewhere (reasons,
                // topic changes, errors) they are only removed.
                let plain = || formatting::strip(&line.text);
                match line.kind {
                    LineKind::Message | LineKind::Notice => {
                        body = rich_text(ui, &line.text, false);
                    }
                    LineKind::Action => body = rich_text(ui, &line.text, true),
                    LineKind::Deleted => {
                        // Who and when stay; the words are gone.
                        ui.label(RichText::new(plain()).italics().color(muted));
                    }
                    LineKind::Error => {
                        ui.label(RichText::new(format!("⚠ {}", plain())).color(theme::DANGER));
                    }
                    LineKind::Join => {
                        ui.label(RichText::new(format!("» {}", plain())).color(muted));
                    }
                    LineKind::Part | LineKind::Quit | LineKind::Kick => {
                        ui.label(RichText::new(format!("« {}", plain())).color(muted));
                    }
                    LineKind::Nick | LineKind::Topic | LineKind::Mode | LineKind::Info => {
                        ui.label(RichText::new(plain()).color(muted));
                    }
                }
            });
        });
        if let Some(msgid) = line.msgid.as_deref().filter(|_| line.kind.is_chat())
            && let Some(target) = cx.target
            && let Some(chip) = reactions::chips(ui, buffer.reactions.of(msgid), state)
        {
            action = Some(LineAction::Send(Command::React {
                target: target.to_owned(),
                msgid: msgid.to_owned(),
                emoji: chip.emoji,
                remove: chip.remove,
            }));
        }
    });
    if let (Some(body), Some(msgid)) = (body, line.msgid.as_deref()) {
        let deletable = cx.deletable.filter(|d| d.allows(line));
        let answerable = cx.target.filter(|_| line.kind.is_chat());
        if deletable.is_some() || answerable.is_some() {
            body.context_menu(|ui| {
                if let Some(target) = answerable {
                    if ui.button("Reply").clicked() {
                        action = Some(LineAction::Reply(Quote::of(line, msgid)));
                        ui.close();
                    }
                    ui.menu_button("React", |ui| {
                        if let Some(emoji) = reactions::picker(ui) {
                            let remove = buffer
                                .reactions
                                .of(msgid)
                                .iter()
                                .any(|r| r.emoji == emoji && r.by(&state.nick));
                            action = Some(LineAction::Send(Command::React {
                                target: target.to_owned(),
                                msgid: msgid.to_owned(),
                                emoji: emoji.to_owned(),
                                remove,
                            }));
                            ui.close();
                        }
                    });
                }
                if let Some(deletable) = deletable
                    && ui.button("Delete message").clicked()
                {
                    action = Some(LineAction::Delete(Command::Redact {
                        target: deletable.target.to_owned(),
                        msgid: msgid.to_owned(),
                        reason: None,
                    }));
                }
            });
        }
    }
    action
}

/// A nick in a line: double-click or the menu opens a private conversation with them.
fn nick_label(ui: &mut Ui, text: RichText, nick: &str, own: bool) -> Option<Command> {
    let response = ui
        .add(egui::Label::new(text).sense(egui::Sense::click()))
        .on_hover_text(nick);
    if own {
        return None;
    }
    let mut command = None;
    if response.double_clicked() {
        command = Some(Command::OpenQuery {
            nick: nick.to_owned(),
        });
    }
    response.context_menu(|ui| {
        if ui
            .button(format!("Private conversation with {nick}"))
            .clicked()
        {
            command = Some(Command::OpenQuery {
                nick: nick.to_owned(),
            });
        }
    });
    command
}

/// Draws message text with its IRC formatting (see [`styled`]) and its links clickable;
/// `italics` draws all of it in italics (a `/me` action). Returns its widgets' response, as
/// one.
pub(super) fn rich_text(ui: &mut Ui, text: &str, italics: bool) -> Option<egui::Response> {
    let formatted = formatting::parse(text);
    let look = styled::Look::new(ui, italics);
    let mut all: Option<egui::Response> = None;
    // Links are found in the text as shown (codes may sit inside a URL as sent).
    let mut at = 0;
    for span in links::spans(&formatted.text) {
        let response = match span {
            Span::Text(t) => {
                let job = look.job(&formatted, at..at + t.len());
                at += t.len();
                ui.label(job)
            }
            Span::Link(url) => {
                at += url.len();
                ui.hyperlink_to(url, url)
                    .on_hover_text(format!("Open {url}"))
            }
        };
        all = Some(match all {
            Some(before) => before.union(response),
            None => response,
        });
    }
    all
}
