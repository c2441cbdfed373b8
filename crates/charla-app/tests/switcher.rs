//! The quick switcher: Ctrl+K lists every buffer, a few letters in order find one, Enter goes
//! there, Esc closes; Ctrl+K no longer writes a colour code (that is Ctrl+Shift+K now).

mod common;

use anyhow::Result;
use charla_app::AppOptions;
use charla_client::BufferId;
use common::{TestClient, app, connect, fill, runtime, say, server, shows, step_until};
use egui::accesskit::Role;
use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable as _;

#[test]
fn ctrl_k_finds_a_buffer_by_a_few_letters() -> Result<()> {
    let rt = runtime()?;
    let (_server, addr) = server(&rt)?;
    let mut h = app(&rt, AppOptions::ephemeral());
    connect(&mut h, addr, "ana")?;
    let _bob = rt.block_on(TestClient::register(addr, "bob"))?;
    say(&mut h, "/join #charla");
    step_until(&mut h, "#charla", |h| shows(h, "@ana"))?;
    say(&mut h, "/join #ñandúes-del-sur");
    say(&mut h, "/query bob");
    let active = |h: &egui_kittest::Harness<'static, charla_app::CharlaApp>| {
        h.state().sessions()[0].active.clone()
    };
    step_until(&mut h, "the conversation with bob", |h| {
        active(h) == BufferId::Query("bob".into())
    })?;

    // Ctrl+K, a few letters of a name in order, Enter.
    h.key_press_modifiers(Modifiers::COMMAND, Key::K);
    step_until(&mut h, "the switcher", |h| {
        h.query_by_role_and_label(Role::TextInput, "Switch to")
            .is_some()
    })?;
    fill(&mut h, "Switch to", "ÑDS");
    step_until(&mut h, "the channel listed", |h| {
        shows(h, "#ñandúes-del-sur")
    })?;
    let found = charla_app::switcher::matches("ÑDS", h.state().sessions());
    let names: Vec<&str> = found.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["#ñandúes-del-sur"], "only it matches");
    h.key_press(Key::Enter);
    step_until(&mut h, "#ñandúes-del-sur on screen", |h| {
        active(h) == BufferId::Channel("#ñandúes-del-sur".into())
    })?;
    assert!(
        h.query_by_role_and_label(Role::TextInput, "Switch to")
            .is_none(),
        "closed after switching"
    );

    // Up/Down choose among the matches; Esc closes without switching.
    h.key_press_modifiers(Modifiers::COMMAND, Key::K);
    h.step();
    fill(&mut h, "Switch to", "b");
    h.key_press(Key::Escape);
    step_until(&mut h, "the switcher closed", |h| {
        h.query_by_role_and_label(Role::TextInput, "Switch to")
            .is_none()
    })?;
    assert_eq!(active(&h), BufferId::Channel("#ñandúes-del-sur".into()));
    h.key_press_modifiers(Modifiers::COMMAND, Key::K);
    h.step();
    fill(&mut h, "Switch to", "");
    h.key_press(Key::ArrowDown);
    h.step();
    h.key_press(Key::Enter);
    step_until(&mut h, "the second buffer in the list", |h| {
        active(h) == BufferId::Channel("#charla".into())
    })?;

    // In the input line, Ctrl+K opens the switcher and writes nothing.
    let draft = || (Role::MultilineTextInput, "Message input");
    h.get_by_role_and_label(draft().0, draft().1).focus();
    h.step();
    h.key_press_modifiers(Modifiers::COMMAND, Key::K);
    h.step();
    h.key_press(Key::Escape);
    h.step();
    let view = &h.state().sessions()[0].views[&BufferId::Channel("#charla".into())];
    assert_eq!(view.draft, "", "no colour code written");
    Ok(())
}
