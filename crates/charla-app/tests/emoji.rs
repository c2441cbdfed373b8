//! Emoji in colour: with the system's colour emoji font (Noto Color Emoji; `.ci/run` installs
//! `fonts-noto-color-emoji`), an emoji's pixels in egui's font atlas have colours, not the
//! one-colour coverage of a monochrome glyph; without it, emoji still draw (monochrome), never
//! as missing glyphs. The app installs the font by itself.

mod common;

use anyhow::Result;
use charla_app::AppOptions;
use charla_app::emoji::{self, COLOUR_EMOJI};
use egui_kittest::Harness;

/// How many pixels of the font atlas have a colour (channels apart), not grey coverage.
fn coloured_pixels(ctx: &egui::Context) -> usize {
    let image = ctx.fonts(|f| f.image());
    image
        .pixels
        .iter()
        .filter(|p| {
            let [r, g, b, a] = p.to_array();
            let (hi, lo) = (r.max(g).max(b), r.min(g).min(b));
            a > 0 && hi - lo > 40
        })
        .count()
}

/// Draws a line with emoji at a large size, with `fonts` if given.
fn draw(fonts: Option<egui::FontDefinitions>) -> Harness<'static> {
    let mut h = Harness::builder()
        .with_size(egui::vec2(400.0, 120.0))
        .build_ui(|ui| {
            ui.label(egui::RichText::new("¡Olé! 👍 🎉 ❤️ 😂").size(32.0));
        });
    if let Some(fonts) = fonts {
        h.ctx.set_fonts(fonts);
    }
    h.run();
    h
}

#[test]
fn emoji_draw_in_colour_with_the_systems_colour_font() -> Result<()> {
    let Some(path) = emoji::find_colour_font() else {
        eprintln!(
            "skipped: no colour emoji font on this machine (apt-get install fonts-noto-color-emoji)"
        );
        return Ok(());
    };
    let fonts = emoji::definitions_with(&path).expect("the font reads");
    let h = draw(Some(fonts));
    let coloured = coloured_pixels(&h.ctx);
    assert!(
        coloured > 200,
        "emoji in colour: {coloured} coloured pixels"
    );

    // The app puts it in by itself.
    let rt = common::runtime()?;
    let app = common::app(&rt, AppOptions::ephemeral());
    assert!(
        app.ctx
            .fonts(|f| f.definitions().font_data.contains_key(COLOUR_EMOJI)),
        "the app uses {}",
        path.display()
    );
    Ok(())
}

#[test]
fn without_a_colour_font_emoji_still_draw() {
    // The bundled monochrome font has them: no missing glyph (the harness fails on one).
    let h = draw(None);
    assert_eq!(coloured_pixels(&h.ctx), 0, "one colour only");
}
