//! Find in a buffer: Ctrl+F's box finds, as one types and without the server, the loaded lines
//! of the conversation on screen that hold the words (without case or accents); clicking one
//! scrolls the chat to it and marks it until the box closes.

mod common;

use std::net::SocketAddr;

use anyhow::{Context as _, Result};
use charla_app::{AppOptions, CharlaApp};
use charla_client::BufferId;
use charla_server::{Config, Server, ServerHandle};
use common::{TestClient, app_sized, click, connect, runtime, say, shows, shows_part, step_until};
use egui::accesskit::Role;
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;

/// A server without flood control (bob sends a page of lines at once).
fn server(rt: &tokio::runtime::Runtime) -> Result<(ServerHandle, SocketAddr)> {
    let mut config = Config::with_listener("127.0.0.1:0".parse()?);
    config.flood.enabled = false;
    let handle = rt.block_on(Server::start(config))?;
    let addr = *handle.local_addrs().first().context("no listener")?;
    Ok((handle, addr))
}

#[test]
fn ctrl_f_finds_loaded_lines_and_shows_them() -> Result<()> {
    let rt = runtime()?;
    let (_server, addr) = server(&rt)?;
    let mut h = app_sized(&rt, AppOptions::ephemeral(), egui::vec2(900.0, 500.0));
    connect(&mut h, addr, "ana")?;
    say(&mut h, "/join #charla");
    step_until(&mut h, "in #charla", |h| shows(h, "@ana"))?;
    let mut bob = rt.block_on(TestClient::register(addr, "bob"))?;
    let mut lines = vec!["JOIN #charla".to_owned()];
    lines.push("PRIVMSG #charla :Mañana traigo el Ñandú de peluche".to_owned());
    lines.extend((1..=40).map(|i| format!("PRIVMSG #charla :relleno {i}")));
    rt.block_on(bob.send(&lines.join("\r\n")))?;
    step_until(&mut h, "the last line", |h| shows(h, "relleno 40"))?;
    let wanted = "Mañana traigo el Ñandú de peluche";
    // The chat's line (the search result says "bob: …").
    let on_screen = |h: &Harness<'static, CharlaApp>| {
        h.query_all_by_label(wanted)
            .any(|n| h.ctx.content_rect().contains_rect(n.rect()))
    };
    // The last line in view (whether or not the list stuck to its end while the lines came,
    // which a loaded machine may not do), the wanted one far above it.
    for _ in 0..20 {
        if !on_screen(&h) {
            break;
        }
        if let Some(node) = h.query_all_by_label("relleno 40").next() {
            node.scroll_to_me();
        }
        h.step();
    }
    assert!(!on_screen(&h), "scrolled away");

    h.key_press_modifiers(Modifiers::COMMAND, Key::F);
    h.step();
    h.get_by_role_and_label(Role::TextInput, "Words to find")
        .type_text("ñandu MAÑANA");
    step_until(&mut h, "the loaded line found", |h| {
        shows(h, "In the lines loaded here: 1")
    })?;
    click(&mut h, &format!("bob: {wanted}"))?;
    step_until(&mut h, "the line on screen", |h| on_screen(h))?;
    let session = &h.state().sessions()[0];
    let id = BufferId::Channel("#charla".into());
    let seq = session
        .state
        .buffer(&id)
        .and_then(|b| b.lines.iter().find(|l| l.text == wanted))
        .map(|l| l.seq);
    assert_eq!(session.views[&id].found, seq, "the line is marked");
    assert!(shows_part(&h, "relleno"), "the chat is still there");
    Ok(())
}
