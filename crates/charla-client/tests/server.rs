//! The client core against a real in-process Charla server on 127.0.0.1:0: two people chat,
//! a private conversation, the nick list following joins, a taken nick, the client coming
//! back by itself after the server restarts on the same port, and trust on first use with a
//! TLS acceptor in front of the server.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use charla_client::{
    BufferId, ClientOptions, Command, ConnectionStatus, Event, LineKind, Notification,
    ServerConfig, TrustStore, TypingState,
};
use charla_server::{Config, Server, ServerHandle};
use common::App;
use tokio::net::TcpListener;
use tokio::time::timeout;

async fn start_server(addr: SocketAddr) -> Result<ServerHandle> {
    // A restarted server may find its port still held for a moment: retry, bounded.
    let mut last = None;
    for _ in 0..50 {
        match Server::start(Config::with_listener(addr)).await {
            Ok(h) => return Ok(h),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("server did not start: {last:?}")
}

fn options() -> ClientOptions {
    ClientOptions {
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_millis(800),
        ..ClientOptions::default()
    }
}

async fn join(app: &mut App, channel: &str) -> Result<()> {
    app.input(BufferId::Server, &format!("/join {channel}"));
    let want = channel.to_owned();
    app.until("own join", |e| matches!(e, Event::OpenBuffer { buffer: BufferId::Channel(c), focus: true } if *c == want))
        .await?;
    Ok(())
}

impl App {
    async fn registered(&mut self) -> Result<String> {
        let ev = self
            .until("registered", |e| matches!(e, Event::Registered { .. }))
            .await?;
        let Event::Registered { nick, .. } = ev else {
            unreachable!()
        };
        Ok(nick)
    }
}

fn chan(name: &str) -> BufferId {
    BufferId::Channel(name.to_owned())
}

#[tokio::test]
async fn two_people_chat_in_a_channel_and_privately() -> Result<()> {
    let server = start_server("127.0.0.1:0".parse()?).await?;
    let port = server.local_addrs()[0].port();
    let mut ana = App::start(ServerConfig::new("127.0.0.1", port, "Ñandú"), options());
    let mut bob = App::start(ServerConfig::new("127.0.0.1", port, "bob"), options());
    assert_eq!(ana.registered().await?, "Ñandú");
    assert_eq!(bob.registered().await?, "bob");

    join(&mut ana, "#charla").await?;
    join(&mut bob, "#charla").await?;
    // Ana's nick list follows Bob's join; the first in a channel is its operator.
    ana.until_state("bob in the list", |s| {
        s.buffer(&chan("#charla"))
            .is_some_and(|b| b.member("bob").is_some())
    })
    .await?;
    let b = ana.state.buffer(&chan("#charla")).context("buffer")?;
    assert_eq!(b.member("Ñandú").and_then(|m| m.prefix()), Some('@'));
    assert!(
        b.lines
            .iter()
            .any(|l| l.kind == LineKind::Join && l.text == "bob joined")
    );

    bob.input(chan("#charla"), "hola Ñandú 🎉");
    let ev = ana
        .until(
            "message",
            |e| matches!(e, Event::Irc(m) if m.command == "PRIVMSG"),
        )
        .await?;
    assert!(matches!(ev, Event::Irc(_)));
    let line = ana
        .state
        .buffer(&chan("#charla"))
        .and_then(|b| b.lines.back())
        .context("line")?;
    assert_eq!(
        (line.nick.as_deref(), line.text.as_str()),
        (Some("bob"), "hola Ñandú 🎉")
    );
    assert!(line.highlight, "her nick was in it");
    // Bob sees his own message too (echoed or shown locally).
    bob.until_state("own line", |s| {
        s.buffer(&chan("#charla"))
            .and_then(|b| b.lines.back())
            .is_some_and(|l| l.own && l.text == "hola Ñandú 🎉")
    })
    .await?;

    // A private conversation, started with /query.
    ana.input(chan("#charla"), "/query bob ¿tienes un minuto?");
    let note = bob.notified().await?;
    assert_eq!(
        note,
        Notification::Private {
            nick: "Ñandú".into(),
            text: "¿tienes un minuto?".into()
        }
    );
    let q = bob
        .state
        .buffer(&BufferId::Query("Ñandú".into()))
        .context("query")?;
    assert_eq!(
        q.lines.back().map(|l| l.text.as_str()),
        Some("¿tienes un minuto?")
    );
    assert_eq!((q.unread, q.mentions), (1, 1));
    ana.until_state("own query", |s| {
        s.buffer(&BufferId::Query("bob".into()))
            .and_then(|b| b.lines.back())
            .is_some_and(|l| l.own && l.text == "¿tienes un minuto?")
    })
    .await?;
    assert_eq!(
        ana.state.take_focus(),
        Some(BufferId::Query("bob".into())),
        "/query focuses"
    );

    // Bob leaves; ana's list follows.
    bob.input(chan("#charla"), "/part hasta luego");
    ana.until_state("bob gone", |s| {
        s.buffer(&chan("#charla"))
            .is_some_and(|b| b.member("bob").is_none())
    })
    .await?;
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_renamed_channel_keeps_its_buffer_with_its_lines_members_and_unread() -> Result<()> {
    let server = start_server("127.0.0.1:0".parse()?).await?;
    let port = server.local_addrs()[0].port();
    let mut ana = App::start(ServerConfig::new("127.0.0.1", port, "ana"), options());
    let mut bob = App::start(ServerConfig::new("127.0.0.1", port, "bob"), options());
    ana.registered().await?;
    bob.registered().await?;
    assert!(ana.state.has_cap("draft/channel-rename"), "asked for");
    join(&mut ana, "#viejo").await?;
    join(&mut bob, "#viejo").await?;
    bob.input(chan("#viejo"), "hola");
    ana.until_state("bob's line", |s| {
        s.buffer(&chan("#viejo"))
            .and_then(|b| b.lines.back())
            .is_some_and(|l| l.text == "hola")
    })
    .await?;
    let before = ana.state.buffer(&chan("#viejo")).context("buffer")?;
    let (lines, unread) = (before.lines.len(), before.unread);
    assert_eq!(unread, 1);

    // Ana, its operator, renames it from the input line.
    ana.input(chan("#viejo"), "/rename #nuevo mudanza");
    for app in [&mut ana, &mut bob] {
        app.until_state("renamed", |s| s.buffer(&chan("#nuevo")).is_some())
            .await?;
        assert!(app.state.buffer(&chan("#viejo")).is_none(), "in place");
        let b = app.state.buffer(&chan("#nuevo")).context("buffer")?;
        assert!(b.joined);
        assert!(b.member("ana").is_some() && b.member("bob").is_some());
        assert!(b.lines.iter().any(|l| l.text == "hola"), "lines kept");
        assert!(
            b.lines.back().is_some_and(
                |l| l.text == "ana renamed the channel from #viejo to #nuevo (mudanza)"
            ),
            "{:?}",
            b.lines.back()
        );
    }
    let after = ana.state.buffer(&chan("#nuevo")).context("buffer")?;
    assert_eq!((after.lines.len(), after.unread), (lines + 1, unread));
    assert_eq!(
        ana.state
            .buffers
            .iter()
            .filter(|b| b.id == chan("#nuevo"))
            .count(),
        1
    );

    // The conversation goes on under the new name.
    bob.input(chan("#nuevo"), "¿se oye?");
    ana.until_state("bob's line in #nuevo", |s| {
        s.buffer(&chan("#nuevo"))
            .and_then(|b| b.lines.back())
            .is_some_and(|l| l.text == "¿se oye?")
    })
    .await?;
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_taken_nick_gets_an_underscore_and_errors_read_as_words() -> Result<()> {
    let server = start_server("127.0.0.1:0".parse()?).await?;
    let port = server.local_addrs()[0].port();
    let mut first = App::start(ServerConfig::new("127.0.0.1", port, "ana"), options());
    assert_eq!(first.registered().await?, "ana");
    let mut second = App::start(ServerConfig::new("127.0.0.1", port, "ana"), options());
    assert_eq!(second.registered().await?, "ana_");
    assert!(
        second
            .state
            .server_buffer()
            .lines
            .iter()
            .any(|l| l.text == "The nick ana is already in use")
    );
    // Asking for a taken nick later: the answer is in the buffer the user typed in.
    join(&mut second, "#sala").await?;
    second.input(chan("#sala"), "/nick ana");
    second
        .until_state("words", |s| {
            s.buffer(&chan("#sala"))
                .and_then(|b| b.lines.back())
                .is_some_and(|l| {
                    l.kind == LineKind::Error && l.text == "The nick ana is already in use"
                })
        })
        .await?;
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_client_comes_back_by_itself_after_a_server_restart() -> Result<()> {
    let server = start_server("127.0.0.1:0".parse()?).await?;
    let addr = server.local_addrs()[0];
    let mut ana = App::start(
        ServerConfig::new("127.0.0.1", addr.port(), "ana"),
        options(),
    );
    ana.registered().await?;
    join(&mut ana, "#uno").await?;
    join(&mut ana, "#dos").await?;
    ana.handle.send(Command::OpenQuery { nick: "bob".into() })?;

    server.shutdown().await;
    let ev = ana
        .until("disconnected", |e| matches!(e, Event::Disconnected { .. }))
        .await?;
    let Event::Disconnected { retry_in, .. } = ev else {
        unreachable!()
    };
    assert!(retry_in.is_some(), "it retries by itself");
    assert!(matches!(
        ana.state.status,
        ConnectionStatus::Disconnected { .. }
    ));
    let said = ana
        .state
        .buffer(&chan("#uno"))
        .and_then(|b| b.lines.back())
        .context("line")?;
    assert!(
        said.text.starts_with("Disconnected: ") && said.text.contains("retrying in"),
        "{}",
        said.text
    );

    // A new server on the same port; nobody tells the client.
    let server = start_server(addr).await?;
    let ev = timeout(Duration::from_secs(10), async {
        loop {
            match ana.events.recv().await {
                Some(ev) => {
                    ana.state.apply(&ev);
                    if matches!(ev, Event::Registered { .. }) {
                        return Some(ev);
                    }
                }
                None => return None,
            }
        }
    })
    .await?
    .context("events closed")?;
    assert!(matches!(
        ev,
        Event::Registered {
            reconnected: true,
            ..
        }
    ));
    ana.until_state("back in both channels", |s| {
        ["#uno", "#dos"].iter().all(|c| {
            s.buffer(&chan(c))
                .is_some_and(|b| b.joined && b.member("ana").is_some())
        })
    })
    .await?;
    for id in [
        chan("#uno"),
        chan("#dos"),
        BufferId::Query("bob".into()),
        BufferId::Server,
    ] {
        let b = ana.state.buffer(&id).context("buffer kept")?;
        assert!(
            b.lines.iter().any(|l| l.text == "Reconnected"),
            "{id:?} says so"
        );
    }
    // Capabilities were negotiated again: our own lines show exactly once.
    assert!(ana.state.has_cap("echo-message"));
    ana.input(chan("#dos"), "de vuelta");
    ana.until_state("own line", |s| {
        s.buffer(&chan("#dos"))
            .and_then(|b| b.lines.back())
            .is_some_and(|l| l.own && l.text == "de vuelta")
    })
    .await?;
    // And it works: a message goes through.
    let mut bob = App::start(
        ServerConfig::new("127.0.0.1", addr.port(), "bob"),
        options(),
    );
    bob.registered().await?;
    join(&mut bob, "#uno").await?;
    bob.input(chan("#uno"), "¿estás?");
    ana.until_state("message after restart", |s| {
        s.buffer(&chan("#uno"))
            .and_then(|b| b.lines.back())
            .is_some_and(|l| l.text == "¿estás?")
    })
    .await?;
    let own = ana.state.buffer(&chan("#dos")).context("buffer")?;
    assert_eq!(
        own.lines.iter().filter(|l| l.text == "de vuelta").count(),
        1
    );
    server.shutdown().await;
    Ok(())
}

/// A TLS front for the server: accepts on its own port, does the handshake with a self-signed
/// certificate, and hands the stream to the server. Returns the port and the fingerprint.
async fn tls_front(
    server: &ServerHandle,
    listener: Arc<TcpListener>,
) -> Result<(tokio::task::JoinHandle<()>, String)> {
    let (acceptor, fingerprint) = common::acceptor()?;
    let server = server.clone();
    let task = tokio::spawn(async move {
        // Bounded: a test makes a handful of connections.
        for _ in 0..20 {
            let Ok((tcp, peer)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let server = server.clone();
            tokio::spawn(async move {
                if let Ok(Ok(tls)) = timeout(Duration::from_secs(5), acceptor.accept(tcp)).await {
                    let _ = server.connect_stream(tls, peer);
                }
            });
        }
    });
    Ok((task, fingerprint))
}

#[tokio::test]
async fn tls_trust_on_first_use_and_a_changed_certificate_is_refused() -> Result<()> {
    let server = start_server("127.0.0.1:0".parse()?).await?;
    let listener = Arc::new(TcpListener::bind("127.0.0.1:0").await?);
    let port = listener.local_addr()?.port();
    let (front, fingerprint) = tls_front(&server, listener.clone()).await?;
    let trust = TrustStore::in_memory();
    let mut config = ServerConfig::new("127.0.0.1", port, "ana");
    config.tls = true;
    let mut ana = App::start_with_trust(config.clone(), options(), trust.clone());

    let ev = ana
        .until("unknown", |e| matches!(e, Event::CertificateUnknown { .. }))
        .await?;
    assert_eq!(
        ev,
        Event::CertificateUnknown {
            host: "127.0.0.1".into(),
            port,
            fingerprint: fingerprint.clone()
        }
    );
    ana.handle.send(Command::TrustCertificate {
        fingerprint: fingerprint.clone(),
    })?;
    ana.registered().await?;
    join(&mut ana, "#seguro").await?;
    assert_eq!(trust.pinned("127.0.0.1", port), Some(fingerprint.clone()));

    // The front restarts with another certificate: refused, and said loudly.
    front.abort();
    ana.handle.send(Command::Reconnect)?;
    let (front2, other) = tls_front(&server, listener.clone()).await?;
    let ev = ana
        .until("changed", |e| matches!(e, Event::CertificateChanged { .. }))
        .await?;
    assert_eq!(
        ev,
        Event::CertificateChanged {
            host: "127.0.0.1".into(),
            port,
            expected: fingerprint,
            got: other
        }
    );
    assert_eq!(ana.state.status, ConnectionStatus::WaitingForTrust);
    // A second app with the same pins never gets through either.
    let mut bob = App::start_with_trust(
        ServerConfig {
            nick: "bob".into(),
            ..config
        },
        options(),
        trust,
    );
    bob.until("changed too", |e| {
        matches!(e, Event::CertificateChanged { .. })
    })
    .await?;
    assert!(!server.users().iter().any(|u| u.nick == "bob"));
    front2.abort();
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn topic_modes_typing_away_and_kick_between_two_people() -> Result<()> {
    let server = start_server("127.0.0.1:0".parse()?).await?;
    let port = server.local_addrs()[0].port();
    let mut ana = App::start(ServerConfig::new("127.0.0.1", port, "ana"), options());
    let mut bob = App::start(ServerConfig::new("127.0.0.1", port, "bob"), options());
    ana.registered().await?;
    bob.registered().await?;
    assert!(ana.state.has_cap("message-tags") && ana.state.has_cap("echo-message"));
    join(&mut ana, "#sala").await?;
    join(&mut bob, "#sala").await?;
    let sala = chan("#sala");

    // The channel's modes are learnt on join, without a line about it.
    ana.until_state("modes known", |s| {
        s.buffer(&chan("#sala")).is_some_and(|b| b.modes.is_some())
    })
    .await?;

    ana.input(sala.clone(), "/topic Bienvenidos a la sala ☀️");
    bob.until_state("topic", |s| {
        s.buffer(&chan("#sala")).and_then(|b| b.topic.as_deref())
            == Some("Bienvenidos a la sala ☀️")
    })
    .await?;

    // Typing: ana starts, bob sees it; ana stops, bob sees that too.
    ana.handle.send(Command::Typing {
        target: "#sala".into(),
        state: TypingState::Active,
    })?;
    bob.until_state("ana typing", |s| {
        s.buffer(&chan("#sala"))
            .is_some_and(|b| b.typing_now(std::time::Instant::now()) == ["ana"])
    })
    .await?;
    ana.handle.send(Command::Typing {
        target: "#sala".into(),
        state: TypingState::Done,
    })?;
    bob.until_state("ana stopped", |s| {
        s.buffer(&chan("#sala"))
            .is_some_and(|b| b.typing_now(std::time::Instant::now()).is_empty())
    })
    .await?;

    // Voice and away show in the nick list.
    ana.input(sala.clone(), "/voice bob");
    ana.until_state("bob voiced", |s| {
        s.buffer(&chan("#sala"))
            .and_then(|b| b.member("bob"))
            .and_then(|m| m.prefix())
            == Some('+')
    })
    .await?;
    bob.input(sala.clone(), "/away comiendo");
    ana.until_state("bob away", |s| {
        s.buffer(&chan("#sala"))
            .and_then(|b| b.member("bob"))
            .is_some_and(|m| m.away)
    })
    .await?;

    // Bob is not an operator: his kick fails, in words, where he typed it.
    bob.input(sala.clone(), "/kick ana");
    bob.until_state("refused in words", |s| {
        s.buffer(&chan("#sala"))
            .and_then(|b| b.lines.back())
            .is_some_and(|l| l.kind == LineKind::Error && l.text.contains("channel operator"))
    })
    .await?;
    ana.input(sala.clone(), "/kick bob basta");
    bob.until_state("kicked", |s| {
        s.buffer(&chan("#sala"))
            .is_some_and(|b| !b.joined && !b.rejoin)
    })
    .await?;
    let line = bob
        .state
        .buffer(&sala)
        .and_then(|b| b.lines.back())
        .context("line")?;
    assert_eq!(line.text, "You were kicked by ana (basta)");
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_operator_console_reaches_the_client_as_notifications() -> Result<()> {
    let server = start_server("127.0.0.1:0".parse()?).await?;
    let port = server.local_addrs()[0].port();
    let mut ana = App::start(ServerConfig::new("127.0.0.1", port, "Ñandú"), options());
    ana.registered().await?;
    assert!(server.users().iter().any(|u| u.nick == "Ñandú"));

    server.notice_all("El servidor se reinicia en 5 minutos 🔧")?;
    let note = ana.notified().await?;
    assert!(
        matches!(&note, Notification::Private { text, .. } if text == "El servidor se reinicia en 5 minutos 🔧"),
        "{note:?}"
    );
    server.message_user("Ñandú", "Hola, soy el operador")?;
    let note = ana.notified().await?;
    assert!(matches!(&note, Notification::Private { text, .. } if text == "Hola, soy el operador"));
    assert_eq!(ana.state.server_buffer().mentions, 2);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn killed_by_the_operator_the_client_does_not_come_straight_back() -> Result<()> {
    let server = start_server("127.0.0.1:0".parse()?).await?;
    let port = server.local_addrs()[0].port();
    let mut ana = App::start(ServerConfig::new("127.0.0.1", port, "ana"), options());
    ana.registered().await?;
    server.disconnect("ana", "basta")?;
    let ev = ana
        .until("disconnected", |e| matches!(e, Event::Disconnected { .. }))
        .await?;
    let Event::Disconnected { reason, retry_in } = ev else {
        unreachable!()
    };
    assert_eq!(retry_in, None, "{reason}");
    assert!(
        reason.contains("basta") && reason.contains("/reconnect"),
        "{reason}"
    );
    // Well past the back-off: still out.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!server.users().iter().any(|u| u.nick == "ana"));
    // The user decides to come back.
    ana.handle.send(Command::Reconnect)?;
    ana.registered().await?;
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_paste_goes_as_one_multiline_message() -> Result<()> {
    let server = start_server("127.0.0.1:0".parse()?).await?;
    let port = server.local_addrs()[0].port();
    let mut ana = App::start(ServerConfig::new("127.0.0.1", port, "ana"), options());
    let mut bob = App::start(ServerConfig::new("127.0.0.1", port, "bob"), options());
    ana.registered().await?;
    bob.registered().await?;
    join(&mut ana, "#pega").await?;
    join(&mut bob, "#pega").await?;
    ana.until_state("bob in the list", |s| {
        s.buffer(&chan("#pega"))
            .is_some_and(|b| b.member("bob").is_some())
    })
    .await?;
    // Three lines with a blank one, and a line too long for one IRC line.
    let long = "palabra ".repeat(90);
    let paste = format!(
        "fn main() {{\n\n    println!(\"hola\");\n}}\n{}",
        long.trim_end()
    );
    bob.handle.send(Command::Privmsg {
        target: "#pega".to_owned(),
        text: paste.clone(),
    })?;
    ana.until_state("the paste", |s| {
        s.buffer(&chan("#pega"))
            .is_some_and(|b| b.lines.iter().any(|l| l.text == paste))
    })
    .await?;
    // One message, not five lines.
    let from_bob = ana
        .state
        .buffer(&chan("#pega"))
        .context("buffer")?
        .lines
        .iter()
        .filter(|l| l.nick.as_deref() == Some("bob") && l.kind == LineKind::Message)
        .count();
    assert_eq!(from_bob, 1);
    // The sender sees it whole too (the server's echo).
    bob.until_state("own paste", |s| {
        s.buffer(&chan("#pega"))
            .is_some_and(|b| b.lines.iter().any(|l| l.own && l.text == paste))
    })
    .await?;
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_server_that_goes_away_sends_the_client_to_another_of_its_network() -> Result<()> {
    // Two servers standing for two nodes of one network; the client knows the second as one
    // of `also`, and the first answers first.
    let first = start_server("127.0.0.1:0".parse()?).await?;
    let second = start_server("127.0.0.1:0".parse()?).await?;
    let mut config = ServerConfig::new("127.0.0.1", first.local_addrs()[0].port(), "ana");
    config.also = vec![
        "  ".into(),
        format!("127.0.0.1:{}", second.local_addrs()[0].port()),
    ];
    let mut ana = App::start(config, options());
    ana.registered().await?;
    join(&mut ana, "#uno").await?;
    assert!(first.users().iter().any(|u| u.nick == "ana"));

    first.shutdown().await;
    ana.until("disconnected", |e| matches!(e, Event::Disconnected { .. }))
        .await?;
    // The first refuses now: the client goes to the second, and back into its channel.
    ana.registered().await?;
    for _ in 0..100 {
        if second
            .users()
            .iter()
            .any(|u| u.nick == "ana" && u.channels.iter().any(|c| c == "#uno"))
        {
            second.shutdown().await;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("ana did not come back on the second server, in #uno")
}

#[test]
fn other_servers_of_a_network_parse_with_or_without_a_port() {
    let mut config = ServerConfig::new("uno.example.org", 6697, "ana");
    config.also = vec![
        "dos.example.org".into(),
        "tres.example.org:7000".into(),
        "[::1]:6698".into(),
        "::1".into(),
        "uno.example.org:6697".into(),
        "".into(),
    ];
    assert_eq!(
        config.addresses(),
        vec![
            ("uno.example.org".to_owned(), 6697),
            ("dos.example.org".to_owned(), 6697),
            ("tres.example.org".to_owned(), 7000),
            ("::1".to_owned(), 6698),
            ("::1".to_owned(), 6697),
        ]
    );
}
