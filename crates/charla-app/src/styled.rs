//! IRC formatting drawn with egui: the runs [`charla_proto::formatting::parse`] reads out of a
//! message become the sections of a [`LayoutJob`] (bold, italics, underline, strikethrough,
//! monospace, reverse, colours), so a message shows styled text instead of boxes and digits.
//!
//! egui's bundled font has one weight: bold is drawn in the strong text colour (as egui's own
//! `RichText::strong` does), and with a heavier weight where the font is a variable one.
//! Colours a sender chose are kept, except that a colour too close to the background it is
//! drawn on is pulled towards the text colour: black on the dark theme would be invisible.

use std::ops::Range;

use charla_proto::formatting::{Colour, Formatted, Style};
use egui::text::{LayoutJob, TextFormat};
use egui::{Color32, FontId, Stroke, TextStyle, Ui};

/// The fonts and colours formatted text is drawn with, taken from the `Ui`'s style.
#[derive(Debug, Clone)]
pub struct Look {
    body: FontId,
    mono: FontId,
    text: Color32,
    strong: Color32,
    background: Color32,
    /// Every run in italics (a `/me` action).
    italics: bool,
}

impl Look {
    /// The look of body text in `ui`; `italics` for lines drawn in italics throughout.
    pub fn new(ui: &Ui, italics: bool) -> Self {
        let style = ui.style();
        let visuals = &style.visuals;
        Self {
            body: TextStyle::Body.resolve(style),
            mono: TextStyle::Monospace.resolve(style),
            text: visuals.text_color(),
            strong: visuals.strong_text_color(),
            background: visuals.panel_fill,
            italics,
        }
    }

    /// How one run in `style` is drawn.
    pub fn format(&self, style: &Style) -> TextFormat {
        let default_fg = if style.bold { self.strong } else { self.text };
        let fg = style.foreground.map(colour32);
        let bg = style.background.map(colour32);
        // Reverse swaps the two, defaults included (text colour becomes the background).
        let (color, background) = if style.reverse {
            (
                bg.unwrap_or(self.background),
                Some(fg.unwrap_or(default_fg)),
            )
        } else {
            (fg.unwrap_or(default_fg), bg)
        };
        let color = readable(color, background.unwrap_or(self.background), self.text);
        let line = Stroke::new(1.0, color);
        let mut format = TextFormat {
            font_id: if style.monospace {
                self.mono.clone()
            } else {
                self.body.clone()
            },
            color,
            background: background.unwrap_or(Color32::TRANSPARENT),
            italics: style.italics || self.italics,
            underline: if style.underline { line } else { Stroke::NONE },
            strikethrough: if style.strikethrough {
                line
            } else {
                Stroke::NONE
            },
            ..TextFormat::default()
        };
        if style.bold {
            // Only variable fonts have a weight axis; others ignore it.
            format.coords.push("wght", 700.0);
        }
        format
    }

    /// The part `range` of `formatted` (byte offsets of its text) as one layout job.
    pub fn job(&self, formatted: &Formatted, range: Range<usize>) -> LayoutJob {
        let mut job = LayoutJob::default();
        for (run, style) in formatted.runs_in(range) {
            job.append(&formatted.text[run], 0.0, self.format(&style));
        }
        job
    }
}

/// A colour of the IRC palette (or given in hex) as egui's.
pub fn colour32(colour: Colour) -> Color32 {
    let [r, g, b] = colour.rgb();
    Color32::from_rgb(r, g, b)
}

/// `color`, or when it would hardly show on `background`, `color` pulled towards `text`.
fn readable(color: Color32, background: Color32, text: Color32) -> Color32 {
    if (luminance(color) - luminance(background)).abs() >= 0.2 {
        color
    } else {
        color.lerp_to_gamma(text, 0.6)
    }
}

/// Relative luminance (0 black, 1 white), as WCAG weighs the channels.
fn luminance(c: Color32) -> f32 {
    let rgba = egui::Rgba::from(c);
    0.2126 * rgba.r() + 0.7152 * rgba.g() + 0.0722 * rgba.b()
}

#[cfg(test)]
mod tests {
    use super::*;
    use charla_proto::formatting::parse;

    fn look(dark: bool) -> Look {
        let visuals = if dark {
            egui::Visuals::dark()
        } else {
            egui::Visuals::light()
        };
        Look {
            body: FontId::proportional(14.0),
            mono: FontId::monospace(14.0),
            text: visuals.text_color(),
            strong: visuals.strong_text_color(),
            background: visuals.panel_fill,
            italics: false,
        }
    }

    #[test]
    fn styles_become_text_formats() {
        let look = look(false);
        let f = parse("\x02b\x02\x1Di\x1D\x1Fu\x1F\x1Es\x1E\x11m\x11\x0304r\x03");
        let job = look.job(&f, 0..f.text.len());
        assert_eq!(job.text, "biusmr");
        let formats: Vec<&TextFormat> = job.sections.iter().map(|s| &s.format).collect();
        assert_eq!(formats[0].color, look.strong, "bold in the strong colour");
        assert!(formats[1].italics);
        assert!(formats[2].underline.width > 0.0);
        assert!(formats[3].strikethrough.width > 0.0);
        assert_eq!(formats[4].font_id, look.mono);
        assert_eq!(formats[5].color, Color32::from_rgb(0xff, 0, 0));
    }

    #[test]
    fn reverse_swaps_default_colours() {
        let look = look(true);
        let f = parse("\x16al revés");
        let format = &look.job(&f, 0..f.text.len()).sections[0].format;
        assert_eq!(format.background, look.text);
        assert_eq!(format.color, look.background);
    }

    #[test]
    fn black_on_the_dark_theme_stays_readable() {
        let look = look(true);
        let f = parse("\x0301negro");
        let format = &look.job(&f, 0..f.text.len()).sections[0].format;
        assert_ne!(format.color, Color32::BLACK);
        // On a background of its own, the colour is as sent.
        let f = parse("\x0301,00negro sobre blanco");
        let format = &look.job(&f, 0..f.text.len()).sections[0].format;
        assert_eq!(format.color, Color32::BLACK);
    }

    #[test]
    fn a_job_covers_only_its_range() {
        let f = parse("ver \x02https://ejemplo.org\x02 ¡ya!");
        let look = look(false);
        let job = look.job(&f, 0..4);
        assert_eq!(job.text, "ver ");
        let tail = f.text.find(" ¡").unwrap_or_default();
        assert_eq!(look.job(&f, tail..f.text.len()).text, " ¡ya!");
    }
}
