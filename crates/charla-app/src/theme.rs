//! Colours and text styles: nick colours from a stable hash, and the few accent colours the
//! chat uses (mentions, errors, folded joins/parts).

use egui::{Color32, Context, Visuals, ecolor::Hsva};

/// Red for refusals and errors (a changed certificate, a failed connect).
pub const DANGER: Color32 = Color32::from_rgb(0xe0, 0x3c, 0x31);
/// Background tint of a line that mentions the user.
pub const MENTION_BG: Color32 = Color32::from_rgba_unmultiplied_const(0xd9, 0x77, 0x06, 0x30);
/// Badge colour of the mention count.
pub const MENTION_BADGE: Color32 = Color32::from_rgb(0xd9, 0x77, 0x06);
/// Badge colour of the unread count.
pub const UNREAD_BADGE: Color32 = Color32::from_rgb(0x3b, 0x82, 0xf6);
/// Green for "connected" / "running".
pub const OK: Color32 = Color32::from_rgb(0x22, 0xa0, 0x4b);

/// FNV-1a over the lower-cased nick: stable across runs and platforms (unlike `std`'s
/// randomly seeded hasher), so "Ñandú" has the same colour tomorrow and on every machine.
fn stable_hash(nick: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for ch in nick.chars().flat_map(char::to_lowercase) {
        let mut buf = [0u8; 4];
        for byte in ch.encode_utf8(&mut buf).bytes() {
            hash ^= u32::from(byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    hash
}

/// The colour of a nick: a hue from its hash, with saturation and value chosen to stay
/// readable on the current background.
pub fn nick_color(nick: &str, dark: bool) -> Color32 {
    let nick = charla_client::state::bare_nick(nick);
    let hue = (stable_hash(nick) % 360) as f32 / 360.0;
    let (saturation, value) = if dark { (0.55, 0.95) } else { (0.85, 0.52) };
    Hsva::new(hue, saturation, value, 1.0).into()
}

/// Muted colour for folded joins/parts, hints and time stamps: between egui's weak text
/// colour (too faint to read comfortably) and the normal one.
pub fn muted(visuals: &Visuals) -> Color32 {
    visuals
        .weak_text_color()
        .lerp_to_gamma(visuals.text_color(), 0.45)
}

/// A hint in words (what to do next, why a list is empty), in the muted colour: readable,
/// unlike egui's `weak` text.
pub fn hint(ui: &mut egui::Ui, text: impl Into<String>) -> egui::Response {
    let colour = muted(ui.visuals());
    ui.label(egui::RichText::new(text).color(colour))
}

/// A small filled circle in `colour` (connection status); painted, since the bundled fonts
/// have no "●".
pub fn dot(ui: &mut egui::Ui, colour: Color32) -> egui::Response {
    let size = ui.text_style_height(&egui::TextStyle::Body);
    let (rect, response) =
        ui.allocate_exact_size(egui::vec2(size * 0.8, size), egui::Sense::hover());
    ui.painter()
        .circle_filled(rect.center(), size * 0.3, colour);
    response
}

/// Applies the app's look to the context.
pub fn apply(ctx: &Context, dark: bool) {
    ctx.set_visuals(if dark {
        Visuals::dark()
    } else {
        Visuals::light()
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_colours_are_stable_and_case_insensitive() {
        assert_eq!(nick_color("Ñandú", true), nick_color("ñandÚ", true));
        assert_eq!(nick_color("@alice", false), nick_color("alice", false));
        assert_eq!(stable_hash("alice"), stable_hash("alice"));
        // Different nicks should usually differ; these two do.
        assert_ne!(nick_color("alice", true), nick_color("bob", true));
    }
}
