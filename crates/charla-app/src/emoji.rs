//! Emoji in colour. epaint draws colour glyphs (`COLR`, `CBDT`, `sbix`) with its
//! `color_fonts` feature, but bundles only a monochrome emoji font (Noto Emoji, which egui's
//! `monochrome_emoji_fonts` brings). Bundling a colour one would add about 10 MB to the binary
//! (Noto Color Emoji) or several MB (Twemoji's COLR builds), so the app uses the colour emoji
//! font the system already has — Noto Color Emoji on most Linux desktops (Debian:
//! `fonts-noto-color-emoji`, SIL Open Font License 1.1), Segoe UI Emoji on Windows, Apple
//! Color Emoji on macOS — placed ahead of the monochrome one. Without one, emoji still show,
//! in one colour, never as boxes.
//!
//! Fonts with SVG glyphs only (`SVGinOT`, such as some Twemoji packages) are not drawn by
//! epaint, so they are not looked for.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use egui::{FontData, FontDefinitions};

/// The name the colour font goes by among egui's fonts.
pub const COLOUR_EMOJI: &str = "colour-emoji";

/// The monochrome emoji font egui bundles, which the colour one goes before.
const MONOCHROME_EMOJI: &str = "NotoEmoji-Regular";

/// Where systems keep a colour emoji font that epaint can draw, most common first.
const CANDIDATES: [&str; 6] = [
    // Debian, Ubuntu (fonts-noto-color-emoji)
    "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",
    // Arch (noto-fonts-emoji)
    "/usr/share/fonts/noto/NotoColorEmoji.ttf",
    // Fedora (google-noto-color-emoji-fonts)
    "/usr/share/fonts/google-noto-color-emoji-fonts/NotoColorEmoji.ttf",
    "/usr/share/fonts/google-noto-emoji/NotoColorEmoji.ttf",
    // Windows
    "C:\\Windows\\Fonts\\seguiemj.ttf",
    // macOS
    "/System/Library/Fonts/Apple Color Emoji.ttc",
];

/// The system's colour emoji font file, if it has one where systems keep it.
pub fn find_colour_font() -> Option<PathBuf> {
    CANDIDATES
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .map(Path::to_path_buf)
}

/// egui's fonts with the font at `path` for emoji, ahead of the monochrome one in every
/// family (text fonts still come first: a letter is never drawn by the emoji font). `None`
/// when the file cannot be read.
pub fn definitions_with(path: &Path) -> Option<FontDefinitions> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "colour emoji font unreadable");
            return None;
        }
    };
    let mut fonts = FontDefinitions::default();
    fonts.font_data.insert(
        COLOUR_EMOJI.to_owned(),
        Arc::new(FontData::from_owned(bytes)),
    );
    for family in fonts.families.values_mut() {
        let at = family
            .iter()
            .position(|name| name == MONOCHROME_EMOJI)
            .unwrap_or(family.len());
        family.insert(at, COLOUR_EMOJI.to_owned());
    }
    Some(fonts)
}

/// Uses the system's colour emoji font in `ctx`, if there is one; says which it used.
pub fn install(ctx: &egui::Context) -> Option<PathBuf> {
    let path = find_colour_font()?;
    let fonts = definitions_with(&path)?;
    ctx.set_fonts(fonts);
    tracing::debug!(path = %path.display(), "colour emoji");
    Some(path)
}
