//! The quick switcher (Ctrl+K): a box over the window that lists every buffer of every
//! connection, filtered as one types by a fuzzy match on the buffer's name (the letters in
//! order, not necessarily together: `chr` finds `#charla`); Up/Down choose, Enter (or a
//! click) switches, Esc closes.

use charla_client::BufferId;
use egui::{Key, Modifiers, RichText, Ui};

use crate::buffers::ListAction;
use crate::session::Session;
use crate::theme;

/// The most buffers listed at once.
const SHOWN: usize = 12;

/// The switcher's state.
#[derive(Debug, Default)]
pub struct Switcher {
    /// Whether it is open.
    pub open: bool,
    /// What was typed.
    pub query: String,
    /// The chosen entry among those listed.
    selected: usize,
}

/// One buffer that matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its session, by index.
    pub session: usize,
    /// The buffer.
    pub id: BufferId,
    /// What the list shows: the buffer's name (the server buffer: the session's label).
    pub name: String,
    /// How well it matched (higher first).
    score: i32,
}

/// How well `query` matches `name`: `None` unless its letters all appear in `name` in
/// order (without case). Matches at the start or after a separator, and runs of letters,
/// count more; a short name beats a long one.
pub fn score(query: &str, name: &str) -> Option<i32> {
    let query: Vec<char> = query.trim().to_lowercase().chars().collect();
    let name: Vec<char> = name.to_lowercase().chars().collect();
    let mut total = 0;
    let mut at = 0;
    let mut previous: Option<usize> = None;
    for q in query.iter().filter(|c| !c.is_whitespace()) {
        let found = (at..name.len()).find(|&i| name[i] == *q)?;
        let boundary = found == 0 || !name[found - 1].is_alphanumeric();
        total += match (boundary, previous == Some(found.wrapping_sub(1))) {
            (_, true) => 8,
            (true, false) => 10,
            (false, false) => 1 - (found - at).min(5) as i32,
        };
        previous = Some(found);
        at = found + 1;
    }
    Some(total * 4 - name.len() as i32)
}

/// The buffers of every session that match `query`, best first (all, in list order, when it
/// is empty).
pub fn matches(query: &str, sessions: &[Session]) -> Vec<Entry> {
    let mut out: Vec<Entry> = sessions
        .iter()
        .enumerate()
        .flat_map(|(index, session)| {
            session.state.buffers.iter().map(move |b| {
                let name = match &b.id {
                    BufferId::Server => session.label.clone(),
                    other => other.name().to_owned(),
                };
                (index, b.id.clone(), name)
            })
        })
        .filter_map(|(session, id, name)| {
            let score = score(query, &name)?;
            Some(Entry {
                session,
                id,
                name,
                score,
            })
        })
        .collect();
    if !query.trim().is_empty() {
        // Stable: equal scores keep the side list's order.
        out.sort_by_key(|e| std::cmp::Reverse(e.score));
    }
    out
}

/// Ctrl+K (Cmd+K) without Shift (Ctrl+Shift+K writes a colour in the input line): opens the
/// switcher. Taken before the input line sees it.
pub fn shortcut(ui: &Ui, switcher: &mut Switcher) {
    let pressed = ui.input_mut(|i| {
        let before = i.events.len();
        i.events.retain(|e| {
            !matches!(
                e,
                egui::Event::Key {
                    key: Key::K,
                    pressed: true,
                    modifiers,
                    ..
                } if modifiers.command && !modifiers.shift && !modifiers.alt
            )
        });
        i.events.len() != before
    });
    if pressed {
        switcher.open = true;
        switcher.query.clear();
        switcher.selected = 0;
    }
}

/// Draws the switcher while it is open; the buffer to switch to when one was picked.
pub fn show(ui: &mut Ui, switcher: &mut Switcher, sessions: &[Session]) -> Option<ListAction> {
    if !switcher.open {
        return None;
    }
    let (escape, up, down, enter) = ui.input_mut(|i| {
        (
            i.consume_key(Modifiers::NONE, Key::Escape),
            i.consume_key(Modifiers::NONE, Key::ArrowUp),
            i.consume_key(Modifiers::NONE, Key::ArrowDown),
            i.consume_key(Modifiers::NONE, Key::Enter),
        )
    });
    if escape {
        switcher.open = false;
        return None;
    }
    let found = matches(&switcher.query, sessions);
    let shown = found.len().min(SHOWN);
    if down && switcher.selected + 1 < shown {
        switcher.selected += 1;
    }
    if up {
        switcher.selected = switcher.selected.saturating_sub(1);
    }
    switcher.selected = switcher.selected.min(shown.saturating_sub(1));
    let mut picked = enter.then_some(switcher.selected).filter(|_| shown > 0);
    let several = sessions.len() > 1;
    let muted = theme::muted(ui.visuals());
    egui::Modal::new(egui::Id::unique("quick-switcher")).show(ui.ctx(), |ui| {
        ui.set_width(360.0);
        let response = ui.add(
            egui::TextEdit::singleline(&mut switcher.query)
                .hint_text("Go to a channel or conversation…")
                .desired_width(f32::INFINITY),
        );
        let response = response.accessible_name("Switch to");
        response.request_focus();
        if response.changed() {
            switcher.selected = 0;
        }
        ui.add_space(4.0);
        for (i, entry) in found.iter().take(SHOWN).enumerate() {
            let mut text = entry.name.clone();
            if several && entry.id != BufferId::Server {
                text.push_str(&format!("  ({})", sessions[entry.session].label));
            }
            if ui
                .add(egui::Button::selectable(i == switcher.selected, text).truncate())
                .clicked()
            {
                picked = Some(i);
            }
        }
        if found.is_empty() {
            ui.label(RichText::new("Nothing by that name").color(muted));
        }
        ui.label(
            RichText::new("Up/Down choose · Enter switches · Esc closes")
                .small()
                .color(muted),
        );
    });
    let entry = found.into_iter().nth(picked?)?;
    switcher.open = false;
    Some(ListAction::Select(entry.session, entry.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_in_order_match_better_at_the_start_and_together() {
        assert!(score("chr", "#charla").is_some());
        assert!(score("rch", "#charla").is_none());
        assert!(score("", "#charla").is_some(), "an empty query lists all");
        // Without case, in Spanish too.
        assert!(score("ÑAN", "#ñandú").is_some());
        assert!(score("nan", "#ñandú").is_none(), "ñ is not n");
        // Together and at the start beat scattered.
        let start = score("cha", "#charla").unwrap();
        let scattered = score("cha", "#coches-hay").unwrap();
        assert!(start > scattered, "{start} > {scattered}");
        // A shorter name wins a tie.
        assert!(score("bob", "bob").unwrap() > score("bob", "bobby").unwrap());
    }
}
