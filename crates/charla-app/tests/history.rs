//! History in the window against a real in-process server: what was said before joining shows
//! above the join, scrolling to the top loads older lines with the top line staying where it
//! was, and read markers travel between the window and another client of the same account (a
//! plain TCP client logged in with SASL PLAIN): the separator follows the other device's
//! marker, and reading sends the window's.

mod common;

use std::net::SocketAddr;

use anyhow::{Context as _, Result};
use charla_app::chat::NEW_SINCE;
use charla_app::{AppOptions, CharlaApp};
use charla_client::BufferId;
use charla_server::config::BeforeJoin;
use charla_server::{Config, Server, ServerHandle};
use common::{TestClient, app, click, connect, fill, runtime, say, shows, shows_part, step_until};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;

const PASSWORD: &str = "contraseña de Ñandú 🎉";

/// A server that shows channels' history to newcomers, `max_request` lines per request, and
/// lets a test client send fast.
fn server(rt: &tokio::runtime::Runtime, max_request: usize) -> Result<(ServerHandle, SocketAddr)> {
    let mut config = Config::with_listener("127.0.0.1:0".parse()?);
    config.history.before_join = BeforeJoin::Always;
    config.history.max_request = max_request;
    config.flood.burst = 500;
    config.flood.lines_per_sec = 500.0;
    config.flood.recvq_bytes = 1 << 20;
    let handle = rt.block_on(Server::start(config))?;
    let addr = *handle.local_addrs().first().context("no listener")?;
    Ok((handle, addr))
}

fn chan(name: &str) -> BufferId {
    BufferId::Channel(name.to_owned())
}

/// The chat lines of a buffer in the app, oldest first.
fn said(h: &Harness<'static, CharlaApp>, id: &BufferId) -> Vec<String> {
    h.state()
        .sessions()
        .first()
        .and_then(|s| s.state.buffer(id))
        .map_or_else(Vec::new, |b| {
            b.lines
                .iter()
                .filter(|l| l.kind.is_chat())
                .map(|l| l.text.clone())
                .collect()
        })
}

/// Whether older lines were asked for in this buffer's view and have not come yet, or are
/// being kept in place.
fn settling(h: &Harness<'static, CharlaApp>, id: &BufferId) -> bool {
    h.state().sessions().first().is_some_and(|s| {
        s.state.buffer(id).is_some_and(|b| b.history.loading)
            || s.views
                .get(id)
                .is_some_and(|v| v.older_asked.is_some() || v.anchor.is_some())
    })
}

/// The top of the widget labelled `label`, on screen.
fn top_of(h: &Harness<'static, CharlaApp>, label: &str) -> f32 {
    h.get_by_label(label).rect().min.y
}

#[test]
fn history_shows_above_the_join_and_scrolling_up_loads_older_lines_in_place() -> Result<()> {
    let rt = runtime()?;
    let (_server, addr) = server(&rt, 20)?;
    let mut bob = rt.block_on(TestClient::register(addr, "bob"))?;
    let lines: Vec<String> = (0..80).map(|i| format!("línea {i} ñandú")).collect();
    rt.block_on(async {
        bob.send("JOIN #charla").await?;
        for line in &lines {
            bob.send(&format!("PRIVMSG #charla :{line}")).await?;
        }
        // Lines are kept before the next is read: once PONG comes, all are in the history.
        bob.send("PING hecho").await?;
        bob.expect(|l| l.contains("PONG")).await
    })?;

    let mut h = app(&rt, AppOptions::ephemeral());
    connect(&mut h, addr, "ana")?;
    say(&mut h, "/join #charla");
    let id = chan("#charla");
    // The latest lines come, and while they do not fill the window, older ones follow.
    // Two answers of 20 (the first holds our own join) fill it.
    step_until(&mut h, "the history filling the window", |h| {
        said(h, &id).len() >= 39 && !settling(h, &id)
    })?;
    assert!(shows(&h, "línea 79 ñandú"), "the newest line is on screen");
    let shown = said(&h, &id);
    let from = 80 - shown.len();
    assert_eq!(shown, lines[from..], "in order, once each");
    assert!(from > 0, "not all of it yet: the window is full");
    let b = h.state().sessions()[0]
        .state
        .buffer(&id)
        .context("buffer")?;
    let joined_at = b.lines.iter().position(|l| l.text == "You joined #charla");
    let last_history = b.lines.iter().rposition(|l| l.from_history);
    assert!(joined_at > last_history, "history above the join");

    // Scroll up to the top: older lines load above, and the line that was at the top stays
    // where it was on screen.
    for round in 0.. {
        let top = said(&h, &id).first().cloned().context("a line")?;
        let mut at_top = None;
        for _ in 0..200 {
            h.get_by_label(&top).scroll_up();
            h.step();
            if settling(&h, &id) {
                at_top = Some(top_of(&h, &top));
                break;
            }
        }
        let Some(before) = at_top else {
            assert!(round > 0, "older lines were loaded at least once");
            break; // The beginning: nothing more to load.
        };
        step_until(&mut h, "older lines in place", |h| !settling(h, &id))?;
        h.step();
        let after = top_of(&h, &top);
        assert!(
            (after - before).abs() <= 2.0,
            "{top:?} moved from {before} to {after}"
        );
        if said(&h, &id).len() == lines.len() || round > 10 {
            break;
        }
    }
    assert_eq!(said(&h, &id), lines, "all of it, in order, once each");
    // Up at the top once more: the server has nothing older, and says so.
    for _ in 0..50 {
        h.get_by_label("línea 0 ñandú").scroll_up();
        h.step();
    }
    assert!(!settling(&h, &id));
    assert!(shows_part(&h, "the beginning of the history"));
    Ok(())
}

/// A second client of `account`: plain TCP, SASL PLAIN, with `draft/read-marker`.
async fn phone(addr: SocketAddr, nick: &str, account: &str) -> Result<TestClient> {
    use charla_proto::sasl::{encode_chunks, plain_encode};
    let mut c = TestClient::connect(addr).await?;
    c.send("CAP LS 302").await?;
    c.expect(|l| l.contains(" LS ")).await?;
    c.send("CAP REQ :sasl server-time message-tags draft/read-marker")
        .await?;
    c.expect(|l| l.contains(" ACK ")).await?;
    c.send(&format!(
        "NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nAUTHENTICATE PLAIN"
    ))
    .await?;
    c.expect(|l| l == "AUTHENTICATE +").await?;
    for chunk in encode_chunks(&plain_encode("", account, PASSWORD)) {
        c.send(&format!("AUTHENTICATE {chunk}")).await?;
    }
    c.expect(|l| l.split(' ').nth(1) == Some("903")).await?;
    c.send("CAP END").await?;
    c.expect(|l| l.split(' ').nth(1) == Some("001")).await?;
    Ok(c)
}

/// The `time` tag of a line.
fn time_of(line: &str) -> Option<String> {
    let tags = line.strip_prefix('@')?.split(' ').next()?;
    tags.split(';')
        .find_map(|t| t.strip_prefix("time="))
        .map(str::to_owned)
}

#[test]
fn read_markers_move_the_separator_and_reading_tells_the_other_device() -> Result<()> {
    let rt = runtime()?;
    let (_server, addr) = server(&rt, 100)?;
    let mut h = app(&rt, AppOptions::ephemeral());
    fill(&mut h, "Account", "ana");
    h.get_by_role_and_label(Role::PasswordInput, "Password")
        .set_text_value_accesskit(PASSWORD);
    h.step();
    click(&mut h, "Create this account after connecting")?;
    connect(&mut h, addr, "ana")?;
    step_until(&mut h, "logged in", |h| {
        h.state().sessions()[0].state.account.as_deref() == Some("ana")
    })?;
    say(&mut h, "/join #c");
    let id = chan("#c");
    // Joined, and its history's answer in: the client's events of the JOIN (the buffer put in
    // front among them, perhaps a frame after the JOIN itself) have all come by then.
    step_until(&mut h, "in #c", |h| {
        h.state().sessions()[0]
            .state
            .buffer(&id)
            .is_some_and(|b| b.joined && b.history.answers > 0)
    })?;
    // The window looks at the server messages while #c fills.
    h.state_mut().sessions_mut()[0].select(BufferId::Server);
    h.step();

    let mut phone = rt.block_on(phone(addr, "ana_movil", "ana"))?;
    let mut bob = rt.block_on(TestClient::register(addr, "bob"))?;
    let times = rt.block_on(async {
        phone.send("JOIN #c").await?;
        phone.expect(|l| l.contains(" MARKREAD #c")).await?;
        bob.send("JOIN #c\r\nPRIVMSG #c :uno\r\nPRIVMSG #c :dos")
            .await?;
        let mut times = Vec::new();
        for _ in 0..2 {
            let line = phone.expect(|l| l.contains(" PRIVMSG #c :")).await?;
            times.push(time_of(&line).context("server-time")?);
        }
        // Read markers are times: "tres" must come at a later millisecond than "dos", or a
        // marker at "dos" would cover it too.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        bob.send("PRIVMSG #c :tres").await?;
        let line = phone.expect(|l| l.contains(" PRIVMSG #c :")).await?;
        times.push(time_of(&line).context("server-time")?);
        anyhow::ensure!(times[1] < times[2], "dos and tres at one time: {times:?}");
        anyhow::Ok(times)
    })?;
    let unread = |h: &Harness<'static, CharlaApp>| {
        h.state().sessions()[0].state.buffer(&id).map(|b| b.unread)
    };
    step_until(&mut h, "three unread", |h| unread(h) == Some(3))?;

    // The phone read up to "dos": the window counts one unread.
    rt.block_on(phone.send(&format!("MARKREAD #c timestamp={}", times[1])))?;
    step_until(&mut h, "one unread", |h| unread(h) == Some(1))?;

    // Coming to #c: the separator is above "tres", below "dos".
    click(&mut h, "#c")?;
    step_until(&mut h, "the separator", |h| shows(h, NEW_SINCE))?;
    let separator = top_of(&h, NEW_SINCE);
    assert!(top_of(&h, "dos") < separator && separator < top_of(&h, "tres"));

    // Reading #c (on screen, focused, at the bottom) tells the other device, once.
    let marker = format!("MARKREAD #c timestamp={}", times[2]);
    rt.block_on(phone.expect(|l| l.ends_with(&marker)))?;
    for _ in 0..20 {
        h.step();
    }
    assert!(
        shows(&h, NEW_SINCE),
        "the separator stays while the user is here"
    );
    rt.block_on(async {
        phone.send("PING fin").await?;
        phone.expect(|l| l.contains("PONG")).await
    })?;
    let echoes = phone
        .seen
        .iter()
        .filter(|l| l.contains(" MARKREAD #c timestamp="))
        .count();
    assert_eq!(
        echoes, 2,
        "ours and the window's, no more: {:?}",
        phone.seen
    );
    Ok(())
}
