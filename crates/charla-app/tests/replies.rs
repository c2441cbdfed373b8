//! Replies and reactions (`+draft/reply`, `+draft/react`) in the chat window, against a real
//! server: Reply from a message's menu quotes it above the input and sends the answer tagged;
//! the answer shows a quote that scrolls to the message; React picks an emoji, chips count
//! reactions and a click on ours takes it back; someone who joins later sees both from
//! history.

mod common;

use std::net::SocketAddr;

use anyhow::{Context as _, Result};
use charla_app::{AppOptions, CharlaApp};
use charla_client::BufferId;
use charla_server::config::BeforeJoin;
use charla_server::{Config, Server, ServerHandle};
use common::{
    TestClient, app, app_sized, click, connect, runtime, say, shows, shows_part, step_until,
};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;

/// A server without flood control (bob sends a page of lines at once) that shows a channel's
/// history from before one joined.
fn server(rt: &tokio::runtime::Runtime) -> Result<(ServerHandle, SocketAddr)> {
    let mut config = Config::with_listener("127.0.0.1:0".parse()?);
    config.flood.enabled = false;
    config.history.before_join = BeforeJoin::Always;
    let handle = rt.block_on(Server::start(config))?;
    let addr = *handle.local_addrs().first().context("no listener")?;
    Ok((handle, addr))
}

/// bob, with `message-tags` (client tags reach him) and `server-time`.
async fn bob(addr: SocketAddr) -> Result<TestClient> {
    let mut bob = TestClient::connect(addr).await?;
    bob.send("CAP REQ :message-tags server-time\r\nNICK bob\r\nUSER bob 0 * :Bob\r\nCAP END")
        .await?;
    bob.expect(|l| l.split(' ').nth(1) == Some("001")).await?;
    Ok(bob)
}

/// The msgid of the first line of `#charla` that says `text`.
fn msgid_of(h: &Harness<'static, CharlaApp>, text: &str) -> Option<String> {
    let state = &h.state().sessions().first()?.state;
    let buffer = state.buffer(&BufferId::Channel("#charla".into()))?;
    buffer
        .lines
        .iter()
        .find(|l| l.text == text)
        .and_then(|l| l.msgid.clone())
}

/// Right-clicks the line that says `text`, opening its menu.
fn menu_of(h: &mut Harness<'static, CharlaApp>, text: &str) {
    h.get_by_label(text).click_secondary();
    h.step();
    h.step();
}

#[test]
fn reply_and_react_to_a_message_and_see_both_from_history() -> Result<()> {
    let rt = runtime()?;
    let (_server, addr) = server(&rt)?;
    let mut h = app(&rt, AppOptions::ephemeral());
    connect(&mut h, addr, "Ñandú")?;
    say(&mut h, "/join #charla");
    step_until(&mut h, "ourselves in the channel", |h| shows(h, "@Ñandú"))?;
    let mut bob = rt.block_on(bob(addr))?;
    rt.block_on(bob.send("JOIN #charla"))?;
    step_until(&mut h, "bob in the nick list", |h| shows(h, "bob"))?;
    rt.block_on(bob.send("PRIVMSG #charla :¿Quién viene al asado?"))?;
    step_until(&mut h, "bob's question", |h| {
        shows(h, "¿Quién viene al asado?")
    })?;
    let question = msgid_of(&h, "¿Quién viene al asado?").context("the question's msgid")?;

    // Reply: the question is quoted above the input, the answer goes out tagged.
    menu_of(&mut h, "¿Quién viene al asado?");
    click(&mut h, "Reply")?;
    step_until(&mut h, "the reply bar", |h| {
        shows_part(h, "Replying to bob: ¿Quién viene al asado?")
    })?;
    say(&mut h, "Yo, con mi ñandú");
    let line = rt.block_on(bob.expect(|l| l.contains("PRIVMSG #charla :Yo, con mi ñandú")))?;
    assert!(
        line.contains(&format!("+draft/reply={question}")),
        "the answer names the question: {line}"
    );
    step_until(&mut h, "the answer, shown as a reply", |h| {
        shows(h, "↪ bob: ¿Quién viene al asado?") && !shows_part(h, "Replying to")
    })?;

    // React from the menu: bob sees the TAGMSG, a chip counts it.
    menu_of(&mut h, "¿Quién viene al asado?");
    click(&mut h, "React")?;
    click(&mut h, "React with 👍")?;
    let tagmsg = rt.block_on(bob.expect(|l| l.contains("TAGMSG #charla")))?;
    assert!(
        tagmsg.contains("+draft/react=👍") && tagmsg.contains(&format!("+draft/reply={question}")),
        "{tagmsg}"
    );
    step_until(&mut h, "our reaction counted", |h| shows(h, "👍 1"))?;
    rt.block_on(bob.send(&format!(
        "@+draft/reply={question};+draft/react=👍 TAGMSG #charla"
    )))?;
    rt.block_on(bob.send(&format!(
        "@+draft/reply={question};+draft/react=🎉 TAGMSG #charla"
    )))?;
    step_until(&mut h, "bob's reactions counted", |h| {
        shows(h, "👍 2") && shows(h, "🎉 1")
    })?;

    // Our chip again: our reaction is taken back.
    click(&mut h, "👍 2")?;
    let unreact = rt.block_on(bob.expect(|l| l.contains("+draft/unreact=👍")))?;
    assert!(
        unreact.contains(&format!("+draft/reply={question}")),
        "{unreact}"
    );
    step_until(&mut h, "our reaction gone", |h| shows(h, "👍 1"))?;

    // Someone who comes later: the reply and the reactions come with the history.
    let mut later = app(&rt, AppOptions::ephemeral());
    connect(&mut later, addr, "carla")?;
    say(&mut later, "/join #charla");
    step_until(&mut later, "the history, reply and reactions", |h| {
        shows(h, "↪ bob: ¿Quién viene al asado?") && shows(h, "👍 1") && shows(h, "🎉 1")
    })?;
    Ok(())
}

#[test]
fn a_replys_quote_scrolls_to_the_message() -> Result<()> {
    let rt = runtime()?;
    let (_server, addr) = server(&rt)?;
    let mut h = app_sized(&rt, AppOptions::ephemeral(), egui::vec2(900.0, 500.0));
    connect(&mut h, addr, "ana")?;
    say(&mut h, "/join #charla");
    step_until(&mut h, "ourselves in the channel", |h| shows(h, "@ana"))?;
    let mut bob = rt.block_on(bob(addr))?;
    rt.block_on(bob.send("JOIN #charla\r\nPRIVMSG #charla :Primera pregunta, ¿mañana?"))?;
    step_until(&mut h, "the first question", |h| {
        shows(h, "Primera pregunta, ¿mañana?")
    })?;
    let first = msgid_of(&h, "Primera pregunta, ¿mañana?").context("msgid")?;
    let filler: Vec<String> = (1..=40)
        .map(|i| format!("PRIVMSG #charla :línea {i}"))
        .collect();
    rt.block_on(bob.send(&filler.join("\r\n")))?;
    rt.block_on(bob.send(&format!(
        "@+draft/reply={first} PRIVMSG #charla :Sí, mañana"
    )))?;
    let quote = "↪ bob: Primera pregunta, ¿mañana?";
    step_until(&mut h, "the reply at the bottom", |h| shows(h, quote))?;
    let visible = |h: &Harness<'static, CharlaApp>, label: &str| {
        h.query_by_label(label)
            .is_some_and(|n| h.ctx.content_rect().contains_rect(n.rect()))
    };
    // The reply at the bottom in view (whether or not the list stuck to its end while the
    // lines came), the question far above it.
    for _ in 0..20 {
        if let Some(node) = h.query_all_by_label(quote).next() {
            node.scroll_to_me();
        }
        h.step();
        if visible(&h, quote) && !visible(&h, "Primera pregunta, ¿mañana?") {
            break;
        }
    }
    assert!(
        !visible(&h, "Primera pregunta, ¿mañana?"),
        "the question is scrolled away"
    );
    // Let the list settle at the bottom first (on a loaded machine the last lines may still
    // be laid out), then click; a click that came while it moved is tried again.
    for _ in 0..10 {
        h.step();
    }
    for attempt in 1..=3 {
        click(&mut h, quote)?;
        for _ in 0..200 {
            h.step();
            if visible(&h, "Primera pregunta, ¿mañana?") {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(15));
        }
        eprintln!("the quote's click did not scroll (attempt {attempt})");
    }
    anyhow::bail!("clicking the quote never brought the question on screen")
}
