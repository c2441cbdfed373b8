//! Replies and reactions in the chat window, over charla-client's (`+draft/reply`,
//! `+draft/react`): the quote above a reply (click: go to the message answered), the
//! reactions under a message as chips ("👍 2", ours marked; click: add or take back ours),
//! the emoji picker of the line's "React" menu, and the bar above the input line that shows
//! what the next message answers (✖ cancels).

use charla_client::{Buffer, QUICK_REACTIONS, Reaction, State};
use charla_proto::formatting;
use egui::{RichText, Ui};

use crate::theme;

/// How much of a quoted message is shown (in characters).
const QUOTE_CHARS: usize = 80;
/// Where quotes and chips start: under the text, past the time stamp's column ("00:00  " in
/// the monospace font at its default size).
const INDENT: f32 = 54.0;

/// The message a reply will answer, as the input line's bar shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// Its `msgid`.
    pub msgid: String,
    /// Who wrote it.
    pub nick: String,
    /// Its text, without formatting, shortened.
    pub text: String,
}

impl Quote {
    /// The quote of `line`, whose id is `msgid`.
    pub fn of(line: &charla_client::Line, msgid: &str) -> Self {
        Self {
            msgid: msgid.to_owned(),
            nick: line.nick.clone().unwrap_or_default(),
            text: shorten(&formatting::strip(&line.text)),
        }
    }
}

/// `text` cut to [`QUOTE_CHARS`] characters, on one line.
fn shorten(text: &str) -> String {
    let one_line = text.replace('\n', " ");
    match one_line.char_indices().nth(QUOTE_CHARS) {
        Some((at, _)) => format!("{}…", &one_line[..at]),
        None => one_line,
    }
}

/// Above a reply: "↪ bob: ¿Quién viene?", the message it answers when it is loaded (click:
/// the msgid to go to), else "↪ an earlier message". Returns the msgid when clicked.
pub fn quote_of_reply(ui: &mut Ui, buffer: &Buffer, msgid: &str, state: &State) -> Option<String> {
    let muted = theme::muted(ui.visuals());
    let original = buffer
        .lines
        .iter()
        .rev()
        .find(|l| l.msgid.as_deref() == Some(msgid));
    let mut jump = None;
    ui.horizontal(|ui| {
        ui.add_space(INDENT);
        match original {
            Some(line) => {
                let nick = line.nick.as_deref().unwrap_or("");
                let shown = state.display_name(nick).unwrap_or(nick);
                let text = format!("↪ {shown}: {}", shorten(&formatting::strip(&line.text)));
                let response = ui
                    .add(
                        egui::Label::new(RichText::new(text).italics().color(muted))
                            .truncate()
                            .sense(egui::Sense::click()),
                    )
                    .on_hover_text("Show the message answered");
                if response.clicked() {
                    jump = Some(msgid.to_owned());
                }
            }
            None => {
                ui.label(
                    RichText::new("↪ an earlier message (not loaded)")
                        .italics()
                        .color(muted),
                );
            }
        }
    });
    jump
}

/// A click on a reaction chip: add `emoji`, or take ours back (`remove`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chip {
    /// The reaction.
    pub emoji: String,
    /// Whether ours is taken back.
    pub remove: bool,
}

/// Under a message: one chip per reaction, "👍 2", ours selected; hover says who. The chip
/// clicked, if one was.
pub fn chips(ui: &mut Ui, reactions: &[Reaction], state: &State) -> Option<Chip> {
    if reactions.is_empty() {
        return None;
    }
    let mut clicked = None;
    ui.horizontal_wrapped(|ui| {
        ui.add_space(INDENT);
        for r in reactions {
            let ours = r.by(&state.nick);
            let who = r
                .nicks
                .iter()
                .map(|n| state.display_name(n).unwrap_or(n))
                .collect::<Vec<_>>()
                .join(", ");
            let tip = if ours {
                format!("{who} reacted with {} (click to take yours back)", r.emoji)
            } else {
                format!("{who} reacted with {} (click to add yours)", r.emoji)
            };
            let response = ui
                .add(
                    egui::Button::selectable(ours, format!("{} {}", r.emoji, r.count()))
                        .small()
                        // A chip: framed even when not ours.
                        .frame_when_inactive(true),
                )
                .on_hover_text(tip);
            if response.clicked() {
                clicked = Some(Chip {
                    emoji: r.emoji.clone(),
                    remove: ours,
                });
            }
        }
    });
    clicked
}

/// The "React" menu's emoji: a dozen in common use, in two rows. The one picked.
pub fn picker(ui: &mut Ui) -> Option<&'static str> {
    let mut picked = None;
    egui::Grid::new("reaction-picker").show(ui, |ui| {
        for (i, emoji) in QUICK_REACTIONS.iter().enumerate() {
            let button = egui::Button::new(RichText::new(*emoji).size(18.0))
                .min_size(egui::vec2(30.0, 28.0));
            if ui
                .add(button)
                .accessible_name(format!("React with {emoji}"))
                .clicked()
            {
                picked = Some(*emoji);
            }
            if i % 6 == 5 {
                ui.end_row();
            }
        }
    });
    picked
}

/// Above the input line while answering a message: "Replying to bob: …" and ✖. True when ✖
/// was clicked (the reply is cancelled; the draft stays).
pub fn reply_bar(ui: &mut Ui, quote: &Quote) -> bool {
    let muted = theme::muted(ui.visuals());
    ui.horizontal(|ui| {
        let cancel = ui
            .small_button("✖")
            .on_hover_text("Do not reply (Esc)")
            .accessible_name("Cancel the reply")
            .clicked();
        ui.add(
            egui::Label::new(
                RichText::new(format!("Replying to {}: {}", quote.nick, quote.text)).color(muted),
            )
            .truncate(),
        );
        cancel
    })
    .inner
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_short_and_on_one_line() {
        assert_eq!(shorten("¿Quién\nviene?"), "¿Quién viene?");
        let long = "ñ".repeat(100);
        let short = shorten(&long);
        assert_eq!(short.chars().count(), QUOTE_CHARS + 1);
        assert!(short.ends_with('…'));
    }
}
