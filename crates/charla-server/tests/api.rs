//! The operator API (`ServerHandle`): users, events, notices, kick, in-process streams, shutdown.

mod common;

use std::time::Duration;

use charla_proto::numeric::*;
use charla_server::{MessageKind, ServerEvent};
use common::TestServer;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

async fn next_event(
    rx: &mut tokio::sync::broadcast::Receiver<ServerEvent>,
    pred: impl Fn(&ServerEvent) -> bool,
) -> ServerEvent {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let e = rx.recv().await.expect("event stream open");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("event within 5 s")
}

#[tokio::test]
async fn users_and_events_follow_the_conversation() {
    let server = TestServer::start().await;
    let mut events = server.handle.subscribe();
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    alice.send("JOIN #sala").await;
    alice.expect_numeric(RPL_ENDOFNAMES).await;
    bob.send("JOIN #sala").await;
    bob.expect_numeric(RPL_ENDOFNAMES).await;
    bob.send("PRIVMSG #sala :hola").await;
    bob.sync().await;

    let users = server.handle.users();
    let nicks: Vec<&str> = users.iter().map(|u| u.nick.as_str()).collect();
    assert_eq!(nicks, ["alice", "bob"]);
    assert_eq!(users[0].channels, ["#sala"]);
    assert_eq!(users[1].channels, ["#sala"]);
    assert!(users[0].addr.ip().is_loopback());

    next_event(
        &mut events,
        |e| matches!(e, ServerEvent::Registered { nick, .. } if nick == "alice"),
    )
    .await;
    next_event(&mut events, |e| matches!(e, ServerEvent::Joined { nick, channel } if nick == "alice" && channel == "#sala")).await;
    let msg = next_event(&mut events, |e| matches!(e, ServerEvent::Message { .. })).await;
    assert_eq!(
        msg,
        ServerEvent::Message {
            from: "bob".into(),
            target: "#sala".into(),
            text: "hola".into(),
            kind: MessageKind::Privmsg
        }
    );
    bob.send("QUIT :bye").await;
    let gone = next_event(&mut events, |e| {
        matches!(e, ServerEvent::Disconnected { .. })
    })
    .await;
    match gone {
        ServerEvent::Disconnected { nick, reason, .. } => {
            assert_eq!(nick.as_deref(), Some("bob"));
            assert_eq!(reason, "Quit: bye");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn operator_notices_messages_and_kicks() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    alice.send("JOIN #x").await;
    alice.expect_numeric(RPL_ENDOFNAMES).await;
    bob.send("JOIN #x").await;
    bob.expect_numeric(RPL_ENDOFNAMES).await;
    alice.sync().await;

    server
        .handle
        .notice_all("Mantenimiento a las 22:00")
        .expect("notice");
    for c in [&mut alice, &mut bob] {
        let n = c.expect_command("NOTICE").await;
        assert_eq!(n.source.as_deref(), Some("irc.test"));
        assert_eq!(n.param(1), Some("Mantenimiento a las 22:00"));
    }
    server
        .handle
        .message_user("BOB", "solo para ti")
        .expect("message");
    let n = bob.expect_command("NOTICE").await;
    assert_eq!(n.params, vec!["bob", "solo para ti"]);
    alice.expect_nothing().await;
    assert!(server.handle.message_user("nobody", "x").is_err());

    server.handle.disconnect("bob", "spam").expect("kill");
    bob.expect_error("Killed (irc.test (spam))").await;
    bob.expect_closed().await;
    let quit = alice.expect_command("QUIT").await;
    assert_eq!(quit.param(0), Some("Killed (irc.test (spam))"));
    assert!(server.handle.disconnect("bob", "again").is_err());
}

#[tokio::test]
async fn shutdown_says_goodbye_to_everyone() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    tokio::time::timeout(Duration::from_secs(10), server.handle.shutdown())
        .await
        .expect("shutdown finishes");
    for c in [&mut alice, &mut bob] {
        let m = c.expect_command("ERROR").await;
        assert_eq!(m.param(0), Some("Server shutting down"));
        c.expect_closed().await;
    }
    // The listener is closed.
    assert!(tokio::net::TcpStream::connect(server.addr).await.is_err());
}

#[tokio::test]
async fn a_session_over_an_in_process_stream() {
    let server = TestServer::start().await;
    let (client_side, server_side) = tokio::io::duplex(64 * 1024);
    server
        .handle
        .connect_stream(server_side, "127.0.0.1:5555".parse().expect("addr"))
        .expect("accepted");
    let (rd, mut wr) = tokio::io::split(client_side);
    wr.write_all(b"NICK duplex\r\nUSER d 0 * :D\r\n")
        .await
        .expect("write");
    let mut lines = BufReader::new(rd).lines();
    let first = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
        .await
        .expect("in time")
        .expect("read")
        .expect("a line");
    assert!(first.starts_with(":irc.test 001 duplex "), "{first}");
    assert_eq!(server.handle.users()[0].nick, "duplex");
}

#[tokio::test]
async fn operator_kicks_from_a_channel() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    for c in [&mut alice, &mut bob] {
        c.send("JOIN #sala").await;
        c.expect_numeric(RPL_ENDOFNAMES).await;
    }
    alice.sync().await;
    let mut events = server.handle.subscribe();
    server
        .handle
        .kick("#SALA", "BOB", "fuera de tema")
        .expect("kick");
    for c in [&mut alice, &mut bob] {
        let k = c.expect_command("KICK").await;
        assert_eq!(k.source.as_deref(), Some("irc.test"));
        assert_eq!(k.params, vec!["#sala", "bob", "fuera de tema"]);
    }
    let e = next_event(&mut events, |e| matches!(e, ServerEvent::Kicked { .. })).await;
    assert!(
        matches!(e, ServerEvent::Kicked { ref nick, .. } if nick == "bob"),
        "{e:?}"
    );
    assert!(server.handle.users()[1].channels.is_empty());
    assert!(server.handle.kick("#sala", "bob", "again").is_err());
    assert!(server.handle.kick("#none", "alice", "x").is_err());
}

#[test]
fn the_handle_is_clone_send_sync() {
    fn check<T: Clone + Send + Sync + 'static>() {}
    check::<charla_server::ServerHandle>();
}

#[tokio::test]
async fn start_reports_bind_errors_and_empty_listener_lists() {
    let server = TestServer::start().await;
    let mut taken = TestServer::test_config();
    taken.listeners = vec![charla_server::ListenerConfig::tcp(server.addr)];
    assert!(matches!(
        charla_server::Server::start(taken).await,
        Err(charla_server::StartError::Bind { .. })
    ));
    let mut none = TestServer::test_config();
    none.listeners.clear();
    assert!(matches!(
        charla_server::Server::start(none).await,
        Err(charla_server::StartError::NoListeners)
    ));
}

#[tokio::test]
async fn no_in_process_sessions_after_shutdown() {
    let server = TestServer::start().await;
    server.handle.shutdown().await;
    let (_client, server_side) = tokio::io::duplex(1024);
    assert!(
        server
            .handle
            .connect_stream(server_side, "127.0.0.1:1".parse().expect("addr"))
            .is_err()
    );
}
