//! IRC formatting in the chat window: bold, italics, colours and the rest arrive as styled
//! text (never as boxes or stray digits), links inside formatted text stay clickable, the
//! topic is formatted too, and Ctrl+B / Ctrl+Shift+K in the input line write the codes.

mod common;

use anyhow::{Context as _, Result};
use charla_app::{AppOptions, CharlaApp};
use common::{TestClient, app, connect, runtime, say, server, shows, step_until};
use egui::accesskit::Role;
use egui::epaint::{Shape, TextShape};
use egui::{Color32, Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;

/// Every piece of text drawn in the last frame.
fn texts(h: &Harness<'static, CharlaApp>) -> Vec<TextShape> {
    fn walk(shape: &Shape, out: &mut Vec<TextShape>) {
        match shape {
            Shape::Text(text) => out.push(text.clone()),
            Shape::Vec(shapes) => shapes.iter().for_each(|s| walk(s, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for clipped in &h.output().shapes {
        walk(&clipped.shape, &mut out);
    }
    out
}

/// The format of `part` in the drawn text that holds `context` (which holds `part`).
fn format_of(
    h: &Harness<'static, CharlaApp>,
    context: &str,
    part: &str,
) -> Option<egui::TextFormat> {
    texts(h).into_iter().find_map(|shape| {
        let job = &shape.galley.job;
        let at = job.text.find(context)? + context.find(part)?;
        job.sections
            .iter()
            .find(|s| s.byte_range.start.0 <= at && at < s.byte_range.end.0)
            .map(|s| s.format.clone())
    })
}

#[test]
fn formatted_messages_and_topics_show_as_styled_text() -> Result<()> {
    let rt = runtime()?;
    let (_server, addr) = server(&rt)?;
    let mut h = app(&rt, AppOptions::ephemeral());
    connect(&mut h, addr, "Ñandú")?;
    say(&mut h, "/join #charla");
    step_until(&mut h, "ourselves in the channel", |h| shows(h, "@Ñandú"))?;
    let mut bob = rt.block_on(TestClient::register(addr, "bob"))?;
    rt.block_on(bob.send("JOIN #charla"))?;
    step_until(&mut h, "bob in the nick list", |h| shows(h, "bob"))?;

    rt.block_on(bob.send(
        "PRIVMSG #charla :\x02negrita\x02 y \x0304rojo\x03 \x1Dcursiva\x1D mirá \
         https://ejemplo.org/ñandú \x1Ftachá\x1F\x0399,",
    ))?;
    step_until(&mut h, "the formatted line, without its codes", |h| {
        shows(h, "negrita y rojo cursiva mirá ")
    })?;
    assert!(
        shows(&h, " tachá,"),
        "the text after the link, the stray comma kept"
    );
    h.get_by_role_and_label(Role::Link, "https://ejemplo.org/ñandú");

    // Nothing unprintable reaches the screen.
    for shape in texts(&h) {
        assert!(
            !shape
                .galley
                .job
                .text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t'),
            "a control character drawn: {:?}",
            shape.galley.job.text
        );
    }
    let strong = h.ctx.global_style().visuals.strong_text_color();
    let bold = format_of(&h, "negrita y", "negrita").context("negrita drawn")?;
    assert_eq!(bold.color, strong, "bold in the strong colour");
    let red = format_of(&h, "y rojo", "rojo").context("rojo drawn")?;
    assert_eq!(red.color, Color32::from_rgb(0xff, 0, 0));
    let italic = format_of(&h, "cursiva mirá", "cursiva").context("cursiva drawn")?;
    assert!(italic.italics);
    let underlined = format_of(&h, " tachá", "tachá").context("tachá drawn")?;
    assert!(underlined.underline.width > 0.0);

    // The topic too (bob may set it once he is an operator).
    say(&mut h, "/op bob");
    rt.block_on(bob.expect(|l| l.contains(" MODE #charla +o bob")))?;
    rt.block_on(bob.send("TOPIC #charla :\x02Bienvenidos\x02 a \x0303,01Charla"))?;
    step_until(&mut h, "the formatted topic", |h| {
        shows(h, "Bienvenidos a Charla")
    })?;
    let green = format_of(&h, "a Charla", "Charla").context("topic drawn")?;
    assert_eq!(green.background, Color32::from_rgb(0, 0, 0));

    // Writing: Ctrl+B around a word, Ctrl+Shift+K and a colour number.
    let input = || (Role::MultilineTextInput, "Message input");
    h.get_by_role_and_label(input().0, input().1).focus();
    h.step();
    for step in [Some("hola "), None, Some("mundo"), None, Some(" ")] {
        match step {
            Some(text) => h
                .get_by_role_and_label(input().0, input().1)
                .type_text(text),
            None => h.key_press_modifiers(Modifiers::COMMAND, Key::B),
        }
        h.step();
    }
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::K);
    h.step();
    h.get_by_role_and_label(input().0, input().1)
        .type_text("04¡rojo! ñ");
    h.step();
    h.key_press(Key::Enter);
    h.step();
    let line = rt.block_on(bob.expect(|l| common::is(l, "PRIVMSG", "#charla")))?;
    assert!(
        line.ends_with(":hola \x02mundo\x02 \x0304¡rojo! ñ"),
        "got {line:?}"
    );
    step_until(&mut h, "our own formatted line", |h| {
        shows(h, "hola mundo ¡rojo! ñ")
    })?;
    Ok(())
}
