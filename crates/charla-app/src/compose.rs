//! Writing IRC formatting in the input line: the usual shortcuts put the codes in (Ctrl+B
//! bold, Ctrl+I italics, Ctrl+U underline, Ctrl+Shift+K colour, then the colour's number,
//! Ctrl+O plain; Ctrl+K alone opens the quick switcher, as in most chat apps), around the
//! selection when there is one; and the input line shows each code as a small marked letter
//! instead of an invisible character, so the user sees where it is and can delete it.
//!
//! The codes themselves are [`charla_proto::formatting`]'s.

use std::sync::Arc;

use charla_proto::formatting::{
    BOLD, COLOUR, HEX_COLOUR, ITALICS, MONOSPACE, RESET, REVERSE, STRIKETHROUGH, UNDERLINE,
};
use egui::text::{CCursor, CCursorRange, LayoutJob, TextFormat};
use egui::{Galley, Key, Modifiers, TextBuffer, TextStyle, Ui};

/// The shortcuts, for the help text: key and what it does.
pub const SHORTCUTS: [(&str, &str); 5] = [
    ("Ctrl+B", "bold"),
    ("Ctrl+I", "italics"),
    ("Ctrl+U", "underline"),
    (
        "Ctrl+Shift+K",
        "colour (then a number, e.g. 04 for red, or 04,02 for red on blue)",
    ),
    ("Ctrl+O", "back to plain text"),
];

/// What to put into the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A formatting code (bold, reset, a bare colour code…).
    Code(char),
    /// A colour code with its number (0 to 98).
    Colour(u8),
}

impl Format {
    /// The code (and number) that opens it.
    fn opening(self) -> String {
        match self {
            Self::Code(code) => code.to_string(),
            // Always two digits: a message that goes on with a digit keeps it as text.
            Self::Colour(number) => format!("{COLOUR}{number:02}"),
        }
    }

    /// The code that closes it around a selection, if any.
    fn closing(self) -> Option<char> {
        match self {
            Self::Code(RESET) => None,
            Self::Code(HEX_COLOUR) | Self::Colour(_) => Some(COLOUR),
            Self::Code(code) => Some(code),
        }
    }
}

/// Takes a formatting shortcut out of this frame's input (before the text field sees it:
/// egui's text field deletes text on Ctrl+K and Ctrl+U).
pub fn take_shortcut(input: &mut egui::InputState) -> Option<Format> {
    // Colour first: Ctrl+B and the others match with Shift held too.
    if input.consume_key(Modifiers::COMMAND | Modifiers::SHIFT, Key::K) {
        return Some(Format::Code(COLOUR));
    }
    [
        (Key::B, BOLD),
        (Key::I, ITALICS),
        (Key::U, UNDERLINE),
        (Key::O, RESET),
    ]
    .into_iter()
    .find(|(key, _)| input.consume_key(Modifiers::COMMAND, *key))
    .map(|(_, code)| Format::Code(code))
}

/// Puts `format` into `text` at the selection `start..end` (in characters): around the
/// selected text when there is some (a colour is closed by a bare colour code, reset by
/// nothing, the others by themselves), else at the cursor. Returns where the cursor goes:
/// just after the opening code, where a colour's number is typed.
pub fn insert(text: &mut String, start: usize, end: usize, format: Format) -> usize {
    // A stale cursor may lie past the end of a text changed since.
    let count = text.chars().count();
    let (start, end) = (start.min(end).min(count), start.max(end).min(count));
    let byte = |chars: usize| {
        text.char_indices()
            .nth(chars)
            .map_or(text.len(), |(at, _)| at)
    };
    let (from, to) = (byte(start), byte(end));
    if from < to
        && let Some(closing) = format.closing()
    {
        text.insert(to, closing);
    }
    let opening = format.opening();
    text.insert_str(from, &opening);
    start + opening.chars().count()
}

/// Inserts `format` into the text field `id`'s `text` where its cursor is (see [`insert`]),
/// and moves the cursor after it.
pub fn insert_at_cursor(ui: &Ui, id: egui::Id, text: &mut String, format: Format) {
    let mut state = egui::TextEdit::load_state(ui.ctx(), id).unwrap_or_default();
    let end_of_text = text.chars().count();
    let (start, end) = state
        .cursor
        .char_range()
        .map_or((end_of_text, end_of_text), |r| {
            (r.primary.index.into(), r.secondary.index.into())
        });
    let cursor = insert(text, start, end, format);
    state
        .cursor
        .set_char_range(Some(CCursorRange::one(CCursor::new(cursor))));
    state.store(ui.ctx(), id);
}

/// The "Aa" button beside the input line: the formatting there is, with its shortcuts, and
/// the 16 basic colours. What the user picked.
pub fn menu(ui: &mut Ui) -> Option<Format> {
    let mut picked = None;
    let tip = SHORTCUTS
        .iter()
        .map(|(key, what)| format!("{key}: {what}"))
        .collect::<Vec<_>>()
        .join("\n");
    ui.menu_button("Aa", |ui| {
        let items = [
            ("Bold", "Ctrl+B", BOLD),
            ("Italics", "Ctrl+I", ITALICS),
            ("Underline", "Ctrl+U", UNDERLINE),
            ("Strikethrough", "", STRIKETHROUGH),
            ("Monospace", "", MONOSPACE),
            ("Plain text", "Ctrl+O", RESET),
        ];
        for (name, key, code) in items {
            if ui.add(egui::Button::new(name).shortcut_text(key)).clicked() {
                picked = Some(Format::Code(code));
            }
        }
        ui.separator();
        ui.label("Colour (Ctrl+Shift+K)");
        egui::Grid::new("colour-swatches").show(ui, |ui| {
            for number in 0..16u8 {
                let colour =
                    crate::styled::colour32(charla_proto::formatting::Colour::Code(number));
                let swatch = egui::Button::new("   ")
                    .fill(colour)
                    .min_size(egui::vec2(22.0, 18.0));
                if ui
                    .add(swatch)
                    .on_hover_text(format!("Colour {number:02}"))
                    .accessible_name(format!("Colour {number:02}"))
                    .clicked()
                {
                    picked = Some(Format::Colour(number));
                }
                if number % 8 == 7 {
                    ui.end_row();
                }
            }
        });
    })
    .response
    .on_hover_text(format!("Formatting\n{tip}"));
    picked
}

/// The letter a code shows as in the input line.
fn marker(c: char) -> Option<char> {
    Some(match c {
        BOLD => 'B',
        ITALICS => 'I',
        UNDERLINE => 'U',
        STRIKETHROUGH => 'S',
        MONOSPACE => 'M',
        COLOUR => 'C',
        HEX_COLOUR => 'H',
        REVERSE => 'R',
        RESET => 'O',
        _ => return None,
    })
}

/// Lays out the input line's text with each formatting code as a marked letter (one
/// character for one, so the cursor stays where the text says).
pub fn layout(ui: &Ui, text: &dyn TextBuffer, wrap_width: f32) -> Arc<Galley> {
    let font = TextStyle::Body.resolve(ui.style());
    let visuals = ui.visuals();
    let plain = TextFormat::simple(font.clone(), visuals.text_color());
    let code = TextFormat {
        font_id: egui::FontId::new(font.size * 0.8, font.family.clone()),
        color: visuals.strong_text_color(),
        background: visuals.selection.bg_fill.gamma_multiply(0.6),
        valign: egui::Align::Center,
        ..TextFormat::default()
    };
    let mut job = LayoutJob::default();
    let mut run = String::new();
    for c in text.as_str().chars() {
        match marker(c) {
            Some(letter) => {
                if !run.is_empty() {
                    job.append(&std::mem::take(&mut run), 0.0, plain.clone());
                }
                job.append(letter.encode_utf8(&mut [0; 4]), 0.0, code.clone());
            }
            None => run.push(c),
        }
    }
    job.append(&run, 0.0, plain);
    job.wrap.max_width = wrap_width;
    ui.fonts_mut(|fonts| fonts.layout_job(job))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_go_at_the_cursor_or_around_the_selection() {
        let cases = [
            // text, selection, code, result, cursor
            ("hola", (4, 4), BOLD, "hola\x02", 5),
            ("hola", (0, 0), ITALICS, "\x1dhola", 1),
            ("¿qué tal?", (1, 4), BOLD, "¿\x02qué\x02 tal?", 2),
            // A selection made backwards is the same selection.
            ("¿qué tal?", (4, 1), UNDERLINE, "¿\x1fqué\x1f tal?", 2),
            // A colour opens before the selection (the number goes there) and closes after.
            ("ñandú", (0, 5), COLOUR, "\x03ñandú\x03", 1),
            // Reset is one code, selection or not.
            ("ab", (0, 2), RESET, "\x0fab", 1),
            // A cursor past the end (stale state) puts the code at the end.
            ("ab", (9, 9), BOLD, "ab\x02", 3),
        ];
        for (text, (start, end), code, want, cursor) in cases {
            let mut s = text.to_owned();
            let format = Format::Code(code);
            assert_eq!(
                insert(&mut s, start, end, format),
                cursor,
                "{text:?} {start}..{end}"
            );
            assert_eq!(s, want, "{text:?} {start}..{end}");
        }
    }

    #[test]
    fn a_colour_has_two_digits() {
        let mut s = "5 ñandúes".to_owned();
        assert_eq!(insert(&mut s, 0, 1, Format::Colour(4)), 3);
        assert_eq!(s, "\x03045\x03 ñandúes");
        let mut s = String::new();
        assert_eq!(insert(&mut s, 0, 0, Format::Colour(12)), 3);
        assert_eq!(s, "\x0312");
    }

    #[test]
    fn every_code_has_a_marker() {
        for c in [
            BOLD,
            ITALICS,
            UNDERLINE,
            STRIKETHROUGH,
            MONOSPACE,
            COLOUR,
            HEX_COLOUR,
            REVERSE,
            RESET,
        ] {
            assert!(marker(c).is_some(), "{c:?}");
        }
    }
}
