//! History against a real in-process Charla server on 127.0.0.1:0: what was said before we
//! joined shows up in order, scrolling back loads older lines without duplicates, a read marker
//! set on one client is seen by another of the same account, and private conversations come
//! back after a restart (CHATHISTORY TARGETS). Every wait is bounded (`common::STEP`).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use charla_client::{
    BufferId, ClientOptions, Command, Event, LineKind, SaslConfig, SaslMechanism, ServerConfig,
    State,
};
use charla_server::config::BeforeJoin;
use charla_server::{Config, Server, ServerHandle};
use common::App;

const PASSWORD: &str = "contraseña-segura";

/// A server that shows a channel's history to newcomers, with room for fast senders.
async fn server(max_request: usize) -> Result<(ServerHandle, u16)> {
    let mut config = Config::with_listener("127.0.0.1:0".parse::<SocketAddr>()?);
    config.history.before_join = BeforeJoin::Always;
    config.history.max_request = max_request;
    config.flood.burst = 500;
    config.flood.lines_per_sec = 500.0;
    config.flood.recvq_bytes = 1 << 20;
    let handle = Server::start(config).await?;
    let port = handle.local_addrs()[0].port();
    Ok((handle, port))
}

/// Client options that send as fast as the server takes.
fn quick() -> ClientOptions {
    ClientOptions {
        send_burst: 500,
        send_rate: 500.0,
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        ..ClientOptions::default()
    }
}

async fn connect(port: u16, nick: &str, sasl: Option<&str>) -> Result<App> {
    let mut config = ServerConfig::new("127.0.0.1", port, nick);
    if let Some(account) = sasl {
        let mut login = SaslConfig::password(account, PASSWORD);
        login.mechanism = SaslMechanism::Plain;
        config.sasl = Some(login);
    }
    let mut app = App::start(config, quick());
    app.until("registered", |e| matches!(e, Event::Registered { .. }))
        .await?;
    Ok(app)
}

fn chan(name: &str) -> BufferId {
    BufferId::Channel(name.to_owned())
}

/// The chat lines (messages, actions, notices) of a buffer, oldest first.
fn said(state: &State, id: &BufferId) -> Vec<String> {
    state.buffer(id).map_or_else(Vec::new, |b| {
        b.lines
            .iter()
            .filter(|l| l.kind.is_chat())
            .map(|l| l.text.clone())
            .collect()
    })
}

async fn join(app: &mut App, channel: &str) -> Result<()> {
    app.input(BufferId::Server, &format!("/join {channel}"));
    let id = chan(channel);
    app.until_state("joined", |s| s.buffer(&id).is_some_and(|b| b.joined))
        .await
}

/// Says `texts` in `target` and waits for the server to echo the last.
async fn say(app: &mut App, target: &str, texts: &[String]) -> Result<()> {
    for text in texts {
        app.handle.send(Command::Privmsg {
            target: target.to_owned(),
            text: text.clone(),
        })?;
    }
    let last = texts.last().cloned().unwrap_or_default();
    let id = app.state.target_buffer(target);
    app.until_state("own echo", |s| said(s, &id).last() == Some(&last))
        .await
}

/// Waits for the history answer about `target`; returns its lines' count and `more`.
async fn history(app: &mut App, target: &str) -> Result<(usize, bool)> {
    let want = target.to_owned();
    let ev = app
        .until("history", |e| matches!(e, Event::HistoryLoaded { target, .. } if target.eq_ignore_ascii_case(&want)))
        .await?;
    let Event::HistoryLoaded { lines, more, .. } = ev else {
        unreachable!()
    };
    Ok((lines.len(), more))
}

fn numbered(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix} {i}")).collect()
}

#[tokio::test]
async fn what_was_said_before_joining_shows_up_in_order_above_the_join() -> Result<()> {
    let (_server, port) = server(100).await?;
    let mut bob = connect(port, "bob", None).await?;
    join(&mut bob, "#charla").await?;
    say(&mut bob, "#charla", &numbered("¿Qué tal, ñandú?", 0..3)).await?;

    let mut ana = connect(port, "Ñandú", None).await?;
    assert!(ana.state.has_cap("draft/chathistory") && ana.state.has_cap("batch"));
    join(&mut ana, "#charla").await?;
    // ISUPPORT follows the welcome, before the JOIN's answer.
    assert_eq!(ana.state.isupport.chathistory, Some(100));
    let (count, more) = history(&mut ana, "#charla").await?;
    // Bob's join (event playback), his three lines, and our own join if the server has kept it
    // by then (it keeps events without making anyone wait): all the channel has.
    assert!(matches!((count, more), (4 | 5, false)), "{count} {more}");
    let b = ana.state.buffer(&chan("#charla")).context("buffer")?;
    let lines: Vec<(&str, bool)> = b
        .lines
        .iter()
        .map(|l| (l.text.as_str(), l.from_history))
        .collect();
    let joined_at = lines
        .iter()
        .position(|(t, _)| *t == "You joined #charla")
        .context("our join")?;
    assert_eq!(
        &lines[..joined_at],
        [
            ("bob joined", true),
            ("¿Qué tal, ñandú? 0", true),
            ("¿Qué tal, ñandú? 1", true),
            ("¿Qué tal, ñandú? 2", true),
        ],
        "{lines:?}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|(t, _)| t.starts_with("You joined"))
            .count(),
        1,
        "our own join, live and played back, shows once: {lines:?}"
    );
    assert_eq!(b.unread, 0, "history is not news");
    assert!(b.lines.iter().all(|l| l.kind != LineKind::Error));

    // Live lines follow, once each.
    say(&mut bob, "#charla", &["en vivo 🎉".to_owned()]).await?;
    ana.until_state("the live line", |s| {
        said(s, &chan("#charla")).last().map(String::as_str) == Some("en vivo 🎉")
    })
    .await?;
    let mut want = numbered("¿Qué tal, ñandú?", 0..3);
    want.push("en vivo 🎉".to_owned());
    assert_eq!(said(&ana.state, &chan("#charla")), want);
    Ok(())
}

#[tokio::test]
async fn scrolling_back_loads_older_lines_in_order_without_duplicates() -> Result<()> {
    // The server gives at most 20 lines per request (ISUPPORT CHATHISTORY=20).
    let (_server, port) = server(20).await?;
    let mut bob = connect(port, "bob", None).await?;
    join(&mut bob, "#largo").await?;
    say(&mut bob, "#largo", &numbered("línea", 0..45)).await?;

    let mut ana = connect(port, "ana", None).await?;
    join(&mut ana, "#largo").await?;
    assert_eq!(ana.state.isupport.history_page(), 20);
    // The newest 20 entries: 19 lines and our own join (event playback), or 20 lines if the
    // server has not kept our join yet.
    assert_eq!(history(&mut ana, "#largo").await?, (20, true));
    let first = 45 - said(&ana.state, &chan("#largo")).len();
    assert!(first == 25 || first == 26, "{first}");
    assert_eq!(
        said(&ana.state, &chan("#largo")),
        numbered("línea", first..45)
    );

    ana.handle.send(Command::LoadOlder {
        target: "#largo".into(),
    })?;
    // Asking again while the first is out does nothing.
    ana.handle.send(Command::LoadOlder {
        target: "#largo".into(),
    })?;
    assert_eq!(history(&mut ana, "#largo").await?, (20, true));
    assert_eq!(
        said(&ana.state, &chan("#largo")),
        numbered("línea", first - 20..45)
    );

    ana.handle.send(Command::LoadOlder {
        target: "#largo".into(),
    })?;
    // The first lines and bob's join: the beginning.
    assert_eq!(history(&mut ana, "#largo").await?, (first - 20 + 1, false));
    let b = ana.state.buffer(&chan("#largo")).context("buffer")?;
    assert!(!b.history.more && !b.history.loading);
    assert_eq!(b.lines.front().map(|l| l.text.as_str()), Some("bob joined"));
    assert_eq!(said(&ana.state, &chan("#largo")), numbered("línea", 0..45));
    // No second answer came for the repeated request.
    let extra = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            match ana.events.recv().await {
                Some(Event::HistoryLoaded { .. }) | None => return,
                Some(_) => {}
            }
        }
    })
    .await;
    assert!(extra.is_err(), "one answer per request");
    Ok(())
}

/// Connects as `nick`, creates the account `nick` (REGISTER), and waits to be logged in.
async fn with_new_account(port: u16, nick: &str) -> Result<App> {
    let mut app = connect(port, nick, None).await?;
    app.handle.send(Command::RegisterAccount {
        account: None,
        email: None,
        password: PASSWORD.to_owned(),
    })?;
    app.until_state("logged in", |s| s.account.is_some())
        .await?;
    Ok(app)
}

#[tokio::test]
async fn a_read_marker_set_on_one_client_is_seen_by_another_of_the_same_account() -> Result<()> {
    let (_server, port) = server(100).await?;
    let mut laptop = with_new_account(port, "ana").await?;
    join(&mut laptop, "#c").await?;
    let mut phone = connect(port, "ana_movil", Some("ana")).await?;
    assert_eq!(phone.state.account.as_deref(), Some("ana"));
    assert!(phone.state.has_cap("draft/read-marker"));
    join(&mut phone, "#c").await?;

    let mut bob = connect(port, "bob", None).await?;
    join(&mut bob, "#c").await?;
    say(&mut bob, "#c", &["uno".to_owned(), "ana: ¿dos?".to_owned()]).await?;
    for device in [&mut laptop, &mut phone] {
        device
            .until_state("two unread", |s| {
                s.buffer(&chan("#c")).is_some_and(|b| b.unread == 2)
            })
            .await?;
    }
    let newest = laptop
        .state
        .buffer(&chan("#c"))
        .and_then(|b| b.newest_server_time())
        .context("a line with the server's time")?;
    laptop.handle.send(Command::MarkRead {
        target: "#c".into(),
        time: newest,
    })?;
    // The phone hears of it at once: read up to there, nothing unread.
    phone
        .until_state("the marker from the laptop", |s| {
            s.buffer(&chan("#c"))
                .is_some_and(|b| b.read_marker == Some(newest))
        })
        .await?;
    let b = phone.state.buffer(&chan("#c")).context("buffer")?;
    assert_eq!((b.unread, b.mentions), (0, 0));
    laptop
        .until_state("our own marker back", |s| {
            s.buffer(&chan("#c"))
                .is_some_and(|b| b.read_marker == Some(newest) && b.unread == 0)
        })
        .await?;

    // A third client of the account learns it on joining, and counts what came after it.
    say(&mut bob, "#c", &["tres".to_owned()]).await?;
    let mut tablet = connect(port, "ana_tableta", Some("ana")).await?;
    join(&mut tablet, "#c").await?;
    tablet
        .until_state("marker and history", |s| {
            s.buffer(&chan("#c")).is_some_and(|b| {
                b.read_marker == Some(newest) && b.history.answers > 0 && !b.history.loading
            })
        })
        .await?;
    let b = tablet.state.buffer(&chan("#c")).context("buffer")?;
    assert_eq!(
        said(&tablet.state, &chan("#c")),
        ["uno", "ana: ¿dos?", "tres"]
    );
    assert_eq!(b.unread, 1, "only what came after the marker is unread");
    Ok(())
}

#[tokio::test]
async fn private_conversations_come_back_on_a_new_connection() -> Result<()> {
    let (_server, port) = server(100).await?;
    let mut ana = with_new_account(port, "ana").await?;
    let mut beto = connect(port, "beto", None).await?;
    say(&mut beto, "ana", &["hola ana 👋".to_owned()]).await?;
    ana.until_state("beto's message", |s| {
        said(s, &BufferId::Query("beto".into())) == ["hola ana 👋"]
    })
    .await?;
    say(&mut ana, "beto", &["¿qué tal, beto?".to_owned()]).await?;
    ana.handle.send(Command::Quit { reason: None })?;
    ana.until("stopped", |e| matches!(e, Event::Stopped))
        .await?;

    // The app starts again (another nick, the same account): the conversation is back.
    let mut again = connect(port, "ana_de_nuevo", Some("ana")).await?;
    let query = BufferId::Query("beto".into());
    again
        .until_state("the conversation with its lines", |s| {
            said(s, &query).len() == 2
        })
        .await?;
    let q = again.state.buffer(&query).context("buffer")?;
    let lines: Vec<(&str, bool, bool)> = q
        .lines
        .iter()
        .map(|l| (l.text.as_str(), l.own, l.from_history))
        .collect();
    assert_eq!(
        lines,
        [
            ("hola ana 👋", false, true),
            ("¿qué tal, beto?", true, true),
        ],
        "in order, ours known by the account"
    );
    assert_eq!(q.unread, 0);
    assert!(
        again.state.take_focus().is_none(),
        "it comes back without taking the front"
    );

    // Closed by the user, it stays closed when the connection comes back...
    again.handle.send(Command::CloseBuffer {
        buffer: query.clone(),
    })?;
    again
        .until_state("closed", |s| s.buffer(&query).is_none())
        .await?;
    again.handle.send(Command::Reconnect)?;
    again
        .until("registered again", |e| {
            matches!(
                e,
                Event::Registered {
                    reconnected: true,
                    ..
                }
            )
        })
        .await?;
    let reopened = again.until_state("reopened", |s| s.buffer(&query).is_some());
    assert!(
        tokio::time::timeout(Duration::from_secs(3), reopened)
            .await
            .is_err(),
        "a closed conversation is not brought back by TARGETS"
    );
    // ... until someone writes there again.
    say(&mut beto, "ana_de_nuevo", &["¿sigues ahí?".to_owned()]).await?;
    again
        .until_state("reopened by a new line", |s| {
            said(s, &query).last().map(String::as_str) == Some("¿sigues ahí?")
        })
        .await?;

    // Without an account there is nothing to come back to, and no error.
    let mut anon = connect(port, "sin_cuenta", None).await?;
    anon.handle.send(Command::LoadLatest {
        target: "beto".into(),
    })?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let Ok(ev) = anon.events.try_recv() {
        anon.state.apply(&ev);
    }
    assert_eq!(anon.state.buffers.len(), 1);
    assert!(
        anon.state
            .server_buffer()
            .lines
            .iter()
            .all(|l| l.kind != LineKind::Error)
    );
    Ok(())
}
