//! The connection task against a tiny scripted server: each test plays the server's side of
//! the conversation line by line, so the client's exact lines are checked.

mod common;

use std::time::Duration;

use anyhow::{Context, Result, bail};
use charla_client::{BufferId, ClientOptions, Command, Event, SaslConfig, ServerConfig};
use common::{App, Peer, STEP, fast, listener, register_plain};
use tokio::net::TcpListener;
use tokio::time::timeout;

#[tokio::test]
async fn cap_sasl_nick_fallback_ping_and_join() -> Result<()> {
    let (listener, port) = listener().await?;
    let mut config = ServerConfig::new("127.0.0.1", port, "ana");
    config.sasl = Some(SaslConfig::password("ana", "contraseña"));
    let mut app = App::start(config, fast());
    let mut s = Peer::accept(&listener).await?;
    s.expect("CAP LS 302").await?;
    s.expect("NICK ana").await?;
    s.expect("USER ana 0 * ana").await?;
    s.send(":srv CAP * LS * :multi-prefix sasl=PLAIN,EXTERNAL")
        .await?;
    s.send(":srv CAP * LS :server-time message-tags echo-message draft/account-registration")
        .await?;
    s.expect("CAP REQ :server-time message-tags echo-message multi-prefix sasl")
        .await?;
    s.send(":srv CAP * ACK :server-time message-tags echo-message multi-prefix sasl")
        .await?;
    s.expect("AUTHENTICATE PLAIN").await?;
    s.send("AUTHENTICATE +").await?;
    // base64("ana\0ana\0contraseña")
    s.expect("AUTHENTICATE YW5hAGFuYQBjb250cmFzZcOxYQ==")
        .await?;
    s.send(":srv 900 ana ana!a@h ana :You are now logged in as ana")
        .await?;
    s.send(":srv 903 ana :SASL authentication successful")
        .await?;
    s.expect("CAP END").await?;
    s.send(":srv 433 * ana :Nickname is already in use").await?;
    s.expect("NICK ana_").await?;
    s.send(":srv 001 ana_ :Welcome to Charla").await?;
    app.until(
        "registered",
        |e| matches!(e, Event::Registered { nick, reconnected: false } if nick == "ana_"),
    )
    .await?;
    assert_eq!(app.state.account.as_deref(), Some("ana"));
    assert!(app.state.has_cap("echo-message"));
    s.send("PING :tok en").await?;
    s.expect("PONG :tok en").await?;
    app.input(BufferId::Server, "/join charla");
    s.expect("JOIN #charla").await?;
    s.send(":ana_!a@h JOIN #charla").await?;
    app.until("focus", |e| {
        matches!(e, Event::OpenBuffer { focus: true, .. })
    })
    .await?;
    assert_eq!(
        app.state.take_focus(),
        Some(BufferId::Channel("#charla".into()))
    );
    // With echo-message our message is shown when the server echoes it, not before.
    app.input(BufferId::Channel("#charla".into()), "hola 🎉");
    s.expect("PRIVMSG #charla :hola 🎉").await?;
    app.input(BufferId::Server, "/register s3creta");
    s.expect("REGISTER * * s3creta").await?;
    app.handle.send(Command::Quit {
        reason: Some("adiós".into()),
    })?;
    s.expect("QUIT adiós").await?;
    drop(s);
    app.until("stopped", |e| matches!(e, Event::Stopped))
        .await?;
    Ok(())
}

#[tokio::test]
async fn without_echo_message_our_lines_are_shown_at_once_and_long_ones_split() -> Result<()> {
    let (listener, port) = listener().await?;
    let mut app = App::start(ServerConfig::new("127.0.0.1", port, "ana"), fast());
    let mut s = Peer::accept(&listener).await?;
    register_plain(&mut s, "ana").await?;
    app.until("registered", |e| matches!(e, Event::Registered { .. }))
        .await?;
    app.handle.send(Command::Privmsg {
        target: "Ñandú".into(),
        text: "¿qué tal?".into(),
    })?;
    s.expect("PRIVMSG Ñandú :¿qué tal?").await?;
    app.until("echo", |e| matches!(e, Event::Echo(_))).await?;
    let q = app
        .state
        .buffer(&BufferId::Query("Ñandú".into()))
        .context("query")?;
    assert!(
        q.lines
            .back()
            .is_some_and(|l| l.own && l.text == "¿qué tal?")
    );
    // Typing needs message-tags, which this server lacks: nothing is sent for it.
    app.handle.send(Command::Typing {
        target: "Ñandú".into(),
        state: charla_client::TypingState::Active,
    })?;
    let long = "ñ".repeat(400);
    app.handle.send(Command::Privmsg {
        target: "#c".into(),
        text: long.clone(),
    })?;
    let mut got = String::new();
    for _ in 0..3 {
        let l = s.line().await?;
        let m = charla_proto::OwnedMessage::parse(&l)?;
        assert_eq!((m.command.as_str(), m.param(0)), ("PRIVMSG", Some("#c")));
        assert!(l.len() <= 512 - 2);
        got.push_str(m.param(1).unwrap_or(""));
        if got.len() >= long.len() {
            break;
        }
    }
    assert_eq!(got, long);
    Ok(())
}

#[tokio::test]
async fn typing_is_sent_and_throttled_with_message_tags() -> Result<()> {
    let (listener, port) = listener().await?;
    let mut app = App::start(ServerConfig::new("127.0.0.1", port, "ana"), fast());
    let mut s = Peer::accept(&listener).await?;
    s.expect("CAP LS 302").await?;
    s.send(":srv CAP * LS :message-tags").await?;
    s.expect("CAP REQ message-tags").await?;
    s.send(":srv CAP * ACK :message-tags").await?;
    s.expect("CAP END").await?;
    s.send(":srv 001 ana :Welcome").await?;
    app.until("registered", |e| matches!(e, Event::Registered { .. }))
        .await?;
    use charla_client::TypingState::{Active, Done};
    for state in [Active, Active, Active, Done] {
        app.handle.send(Command::Typing {
            target: "#c".into(),
            state,
        })?;
    }
    app.handle.send(Command::Raw {
        line: "MARK".into(),
    })?;
    assert_eq!(s.line().await?, "@+typing=active TAGMSG #c");
    assert_eq!(s.line().await?, "@+typing=done TAGMSG #c");
    assert_eq!(s.line().await?, "MARK");
    Ok(())
}

#[tokio::test]
async fn a_silent_server_is_detected_and_the_client_comes_back_to_its_channels() -> Result<()> {
    let (listener, port) = listener().await?;
    let options = ClientOptions {
        ping_interval: Duration::from_millis(200),
        ping_timeout: Duration::from_millis(300),
        ..fast()
    };
    let mut app = App::start(ServerConfig::new("127.0.0.1", port, "ana"), options);
    let mut s = Peer::accept(&listener).await?;
    register_plain(&mut s, "ana").await?;
    s.send(":ana!a@h JOIN #uno").await?;
    s.send(":ana!a@h JOIN #dos").await?;
    app.handle.send(Command::OpenQuery { nick: "bob".into() })?;
    app.until(
        "joined",
        |e| matches!(e, Event::Irc(m) if m.param(0) == Some("#dos")),
    )
    .await?;
    // Say nothing more: the client pings, gets no answer and gives up on this connection.
    s.expect("PING charla-1").await?;
    let ev = app
        .until("disconnected", |e| matches!(e, Event::Disconnected { .. }))
        .await?;
    let Event::Disconnected { reason, retry_in } = ev else {
        unreachable!()
    };
    assert!(reason.starts_with("no answer from the server"), "{reason}");
    assert!(retry_in.is_some());
    let mut s2 = Peer::accept(&listener).await?;
    register_plain(&mut s2, "ana").await?;
    s2.expect("JOIN #uno,#dos").await?;
    app.until("reconnected", |e| {
        matches!(
            e,
            Event::Registered {
                reconnected: true,
                ..
            }
        )
    })
    .await?;
    for id in [
        BufferId::Channel("#uno".into()),
        BufferId::Query("bob".into()),
        BufferId::Server,
    ] {
        let b = app.state.buffer(&id).context("buffer kept")?;
        assert_eq!(
            b.lines.back().map(|l| l.text.as_str()),
            Some("Reconnected"),
            "{id:?}"
        );
    }
    drop(s);
    Ok(())
}

#[tokio::test]
async fn refused_connections_back_off_and_reconnect_now_skips_the_wait() -> Result<()> {
    // A port with nothing listening: bind, learn the port, close.
    let (l, port) = listener().await?;
    drop(l);
    let options = ClientOptions {
        backoff_min: Duration::from_secs(30),
        backoff_max: Duration::from_secs(60),
        ..ClientOptions::default()
    };
    let mut app = App::start(ServerConfig::new("127.0.0.1", port, "ana"), options);
    let ev = app
        .until("refused", |e| matches!(e, Event::Disconnected { .. }))
        .await?;
    let Event::Disconnected {
        retry_in: Some(wait),
        reason,
    } = ev
    else {
        bail!("no retry: {ev:?}")
    };
    assert!(
        wait >= Duration::from_secs(15) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
    assert_eq!(reason, "the server refused the connection");
    // Typing while disconnected is answered in words.
    app.input(BufferId::Server, "/join #x");
    app.input(BufferId::Channel("#x".into()), "hola");
    app.until(
        "not sent",
        |e| matches!(e, Event::Local { text, .. } if text.starts_with("Not connected")),
    )
    .await?;
    // Now the server is up; the user says reconnect and does not wait 30 s.
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    app.handle.send(Command::Reconnect)?;
    let mut s = Peer::accept(&listener).await?;
    register_plain(&mut s, "ana").await?;
    s.expect("JOIN #x").await?;
    Ok(())
}

#[tokio::test]
async fn dropping_every_handle_ends_the_task() -> Result<()> {
    let (listener, port) = listener().await?;
    let App {
        handle, mut events, ..
    } = App::start(ServerConfig::new("127.0.0.1", port, "ana"), fast());
    let mut s = Peer::accept(&listener).await?;
    register_plain(&mut s, "ana").await?;
    drop(handle);
    s.expect("QUIT Charla").await?;
    let end = timeout(STEP, async {
        while let Some(ev) = events.recv().await {
            if ev == Event::Stopped {
                return true;
            }
        }
        false
    })
    .await?;
    assert!(end);
    Ok(())
}

#[tokio::test]
async fn a_pasted_page_is_paced_and_arrives_whole_and_in_order() -> Result<()> {
    let (listener, port) = listener().await?;
    let options = ClientOptions {
        send_burst: 3,
        send_rate: 20.0,
        ..fast()
    };
    let mut app = App::start(ServerConfig::new("127.0.0.1", port, "ana"), options);
    let mut s = Peer::accept(&listener).await?;
    register_plain(&mut s, "ana").await?;
    app.until("registered", |e| matches!(e, Event::Registered { .. }))
        .await?;
    let page: Vec<String> = (1..=20).map(|i| format!("línea {i}")).collect();
    let started = tokio::time::Instant::now();
    app.input(BufferId::Channel("#c".into()), &page.join("\n"));
    for want in &page {
        s.expect(&format!("PRIVMSG #c :{want}")).await?;
    }
    // 3 at once, then 17 at 20 per second: never faster than that.
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn quitting_while_the_handshake_hangs_does_not_wait_for_the_timeout() -> Result<()> {
    let (listener, port) = listener().await?;
    let mut config = ServerConfig::new("127.0.0.1", port, "ana");
    config.tls = true;
    // The default connect timeout is 15 s; the quit must not wait for it.
    let mut app = App::start(config, ClientOptions::default());
    let (_silent, _) = timeout(STEP, listener.accept()).await??;
    app.until("connecting", |e| matches!(e, Event::Connecting { .. }))
        .await?;
    app.handle.send(Command::Quit { reason: None })?;
    app.until("stopped", |e| matches!(e, Event::Stopped))
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_wrong_server_password_is_not_retried_forever() -> Result<()> {
    let (listener, port) = listener().await?;
    let mut config = ServerConfig::new("127.0.0.1", port, "ana");
    config.password = Some("mala".into());
    let mut app = App::start(config, fast());
    let mut s = Peer::accept(&listener).await?;
    s.expect("PASS mala").await?;
    s.send(":srv 464 * :Password incorrect").await?;
    s.send("ERROR :Closing link: (Bad password)").await?;
    drop(s);
    let ev = app
        .until("disconnected", |e| matches!(e, Event::Disconnected { .. }))
        .await?;
    assert!(
        matches!(ev, Event::Disconnected { retry_in: None, .. }),
        "{ev:?}"
    );
    assert!(
        app.state
            .server_buffer()
            .lines
            .iter()
            .any(|l| l.text == "The server password is wrong")
    );
    assert!(
        timeout(Duration::from_millis(400), listener.accept())
            .await
            .is_err(),
        "no retry"
    );
    Ok(())
}
