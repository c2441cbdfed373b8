//! Bad input and abuse: over-long lines, invalid UTF-8, NUL bytes, malformed tags, floods,
//! too many connections from one IP, the server full, and a reader that does not keep up.
//! Each gets its numeric, error or clean disconnect; the server carries on.

mod common;

use std::time::Duration;

use charla_proto::numeric::*;
use common::{TestClient, TestServer};
use tokio::net::TcpSocket;

#[tokio::test]
async fn over_long_lines_get_inputtoolong_and_the_connection_lives_on() {
    let server = TestServer::start().await;
    let mut c = server.client("alice").await;
    // Longer than 512 bytes, within the read cap.
    c.send(&format!("PRIVMSG bob :{}", "x".repeat(600))).await;
    c.expect_numeric(ERR_INPUTTOOLONG).await;
    // Longer than the read cap itself (tags + body), arriving in pieces.
    let huge = format!("PRIVMSG bob :{}", "y".repeat(20_000));
    c.send(&huge).await;
    c.expect_numeric(ERR_INPUTTOOLONG).await;
    c.send("PING still-alive").await;
    assert_eq!(c.expect_command("PONG").await.param(1), Some("still-alive"));
    let rest = c.sync().await;
    assert!(rest.is_empty(), "one 417 per long line: {rest:?}");
}

#[tokio::test]
async fn invalid_utf8_is_answered_and_dropped() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    alice.send_raw(b"PRIVMSG bob :caf\xe9\r\n").await;
    let fail = alice.expect_command("FAIL").await;
    assert_eq!(fail.param(0), Some("PRIVMSG"));
    assert_eq!(fail.param(1), Some("INVALID_UTF8"));
    alice.send("PRIVMSG bob :café").await;
    assert_eq!(bob.expect_command("PRIVMSG").await.param(1), Some("café"));
}

#[tokio::test]
async fn nul_bytes_are_rejected() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    alice.send_raw(b"PRIVMSG bob :a\0b\r\n").await;
    alice.expect_numeric(ERR_UNKNOWNERROR).await;
    bob.expect_nothing().await;
    alice.send("PING ok").await;
    alice.expect_command("PONG").await;
}

#[tokio::test]
async fn malformed_tags_are_answered_and_dropped() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    alice.send("@=nokey;+ok PRIVMSG alice :x").await;
    let fail = alice.expect_command("FAIL").await;
    assert_eq!(fail.param(1), Some("INVALID_TAGS"));
    alice
        .send(&format!("@+big={} PING x", "v".repeat(5000)))
        .await;
    alice.expect_numeric(ERR_INPUTTOOLONG).await;
    alice.send("PING ok").await;
    alice.expect_command("PONG").await;
}

#[tokio::test]
async fn empty_lines_and_bare_lf_are_fine() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.send_raw(b"\r\n\n   \r\nNICK lf\nUSER lf 0 * :LF\n").await;
    c.expect_numeric(RPL_WELCOME).await;
}

fn flood_config(burst: u32, rate: f64, recvq_bytes: usize) -> charla_server::Config {
    let mut config = TestServer::test_config();
    config.flood.burst = burst;
    config.flood.lines_per_sec = rate;
    config.flood.recvq_bytes = recvq_bytes;
    config
}

/// The smallest receive queue: one whole line.
const ONE_LINE: usize = charla_proto::limits::MAX_INBOUND;

#[tokio::test]
async fn a_flood_is_delayed_then_disconnected() {
    let server = TestServer::start_with(flood_config(10, 2.0, ONE_LINE)).await;
    let mut flooder = server.client("flooder").await;
    let mut bystander = server.client("bystander").await;
    // About 70 bytes a waiting line: 300 of them pass the receive queue.
    let mut burst = String::new();
    for i in 0..300 {
        burst.push_str(&format!("PRIVMSG bystander :{i}\r\n"));
    }
    flooder.send_raw(burst.as_bytes()).await;
    flooder.expect_error("Excess Flood").await;
    flooder.expect_closed().await;
    // The first lines (the burst) were delivered; the server is fine.
    assert_eq!(
        bystander.expect_command("PRIVMSG").await.param(1),
        Some("0")
    );
    bystander.send("PING fine").await;
    bystander.expect_command("PONG").await;
}

#[tokio::test]
async fn sixty_joins_at_once_wait_their_turn_instead_of_flooding_out() {
    // What a client with many autojoined channels sends right after connecting: one JOIN line
    // each. The default bucket and receive queue, with a quicker refill so the test is short:
    // most lines wait (far more than a count of lines would allow), none is refused.
    let mut config = TestServer::test_config();
    config.flood = charla_server::FloodConfig::default();
    config.flood.lines_per_sec = 50.0;
    config.limits.max_channels_per_user = 100;
    let server = TestServer::start_with(config).await;
    let mut c = server.client("autojoin").await;
    let mut joins = String::new();
    for i in 0..60 {
        joins.push_str(&format!("JOIN #canal{i}\r\n"));
    }
    c.send_raw(joins.as_bytes()).await;
    for i in 0..60 {
        let name = format!("#canal{i}");
        c.expect(&name.clone(), move |m| {
            m.command == "JOIN" && m.param(0) == Some(name.as_str())
        })
        .await;
    }
    assert_eq!(server.handle.users()[0].channels.len(), 60);
}

#[tokio::test]
async fn a_message_to_several_targets_costs_one_token_per_target() {
    // Burst 6, refilled slowly: registration takes 3 (NICK weighs 2), leaving 3.
    let server = TestServer::start_with(flood_config(6, 0.2, 1 << 16)).await;
    let mut targets = Vec::new();
    for nick in ["a1", "a2", "a3", "a4"] {
        targets.push(server.client(nick).await);
    }
    // One target: one token, the next line runs at once.
    let mut single = server.client("single").await;
    single.send("PRIVMSG a1 :hola").await;
    single.send("PING after").await;
    single.expect_command("PONG").await;
    // Four targets (the test server's most): four tokens, one more than it had; the next line
    // waits for the refill.
    let mut many = server.client("many").await;
    many.send("PRIVMSG a1,a2,a3,a4 :hola").await;
    many.send("PING after").await;
    let got = many.try_recv(Duration::from_millis(500)).await;
    assert!(got.is_none(), "{got:?}");
    for target in &mut targets {
        target.expect_command("PRIVMSG").await;
    }
}

#[tokio::test]
async fn lines_over_the_rate_are_delayed_not_refused() {
    let server = TestServer::start_with(flood_config(3, 20.0, ONE_LINE)).await;
    let mut c = server.connect().await;
    c.send("NICK patient").await;
    c.send("USER p 0 * :P").await;
    c.expect_numeric(RPL_WELCOME).await;
    let mut lines = String::new();
    for i in 0..12 {
        lines.push_str(&format!("PING n{i}\r\n"));
    }
    c.send_raw(lines.as_bytes()).await;
    c.expect(&"PONG n11", |m| {
        m.command == "PONG" && m.param(1) == Some("n11")
    })
    .await;
}

#[tokio::test]
async fn too_many_connections_from_one_ip() {
    let mut config = TestServer::test_config();
    config.limits.exempt_loopback = false;
    config.limits.max_clients_per_ip = 2;
    let server = TestServer::start_with(config).await;
    let _a = server.client("a").await;
    let _b = server.client("b").await;
    let mut c = server.connect().await;
    c.expect_error("Too many connections from your IP").await;
    c.expect_closed().await;
}

#[tokio::test]
async fn loopback_is_exempt_by_default() {
    let mut config = TestServer::test_config();
    config.limits.max_clients_per_ip = 1;
    config.limits.connects_per_window = 1;
    let server = TestServer::start_with(config).await;
    let _a = server.client("a").await;
    let _b = server.client("b").await;
    let _c = server.client("c").await;
}

#[tokio::test]
async fn connection_rate_is_throttled() {
    let mut config = TestServer::test_config();
    config.limits.exempt_loopback = false;
    config.limits.connects_per_window = 2;
    let server = TestServer::start_with(config).await;
    for _ in 0..2 {
        let mut c = server.connect().await;
        c.send("QUIT").await;
        c.expect_closed().await;
    }
    let mut third = server.connect().await;
    third
        .expect_error("Too many connections from your IP")
        .await;
}

#[tokio::test]
async fn a_full_server_says_so_and_accepts_again_when_a_slot_frees() {
    let mut config = TestServer::test_config();
    config.limits.max_clients = 1;
    let server = TestServer::start_with(config).await;
    let mut first = server.client("first").await;
    // Over the limit: told at once, not left waiting in the kernel's backlog.
    let mut second = server.connect().await;
    second.expect_error("Server is full").await;
    second.expect_closed().await;
    first.send("QUIT").await;
    first.expect_closed().await;
    // The slot frees as the first connection's task ends, a moment after its socket closes.
    for attempt in 0.. {
        let mut third = server.connect().await;
        third.send("NICK third").await;
        third.send("USER t 0 * :T").await;
        let m = third.recv().await;
        if m.command == "001" {
            break;
        }
        assert!(m.command == "ERROR" && attempt < 50, "{m}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_reader_that_does_not_keep_up_is_dropped_for_sendq() {
    let mut config = TestServer::test_config();
    config.limits.sendq_bytes = 16 * 1024;
    config.limits.socket_send_buffer = 16 * 1024;
    config.flood.enabled = false;
    let server = TestServer::start_with(config).await;
    let mut talker = server.client("talker").await;
    let mut listener = server.client("listener").await;

    // A client with a tiny receive window that never reads after registering.
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let stream = socket.connect(server.addr).await.expect("connect");
    let mut slow = TestClient::from_stream(stream);
    slow.register("slow").await;
    for c in [&mut talker, &mut listener, &mut slow] {
        c.send("JOIN #busy").await;
        c.expect_numeric(RPL_ENDOFNAMES).await;
    }
    let mut events = server.handle.subscribe();
    let text = "z".repeat(400);
    let mut dropped = false;
    // The QUIT may come among the talker's lines.
    let mut quit = None;
    for round in 0..1000 {
        let mut batch = String::new();
        for _ in 0..20 {
            batch.push_str(&format!("PRIVMSG #busy :{text}\r\n"));
        }
        talker.send_raw(batch.as_bytes()).await;
        // The listener keeps up.
        let mut got = 0;
        while got < 20 {
            let m = listener
                .expect(&"PRIVMSG or QUIT", |m| {
                    m.command == "PRIVMSG" || m.command == "QUIT"
                })
                .await;
            if m.command == "QUIT" {
                quit = Some(m);
            } else {
                got += 1;
            }
        }
        if !server.handle.users().iter().any(|u| u.nick == "slow") {
            dropped = true;
            break;
        }
        assert!(round < 999, "slow reader never dropped");
    }
    assert!(dropped);
    // Once it reads again, what the kernel held is followed by the ERROR line (the rest of
    // its backlog was dropped).
    slow.expect_error("SendQ exceeded").await;
    let quit = match quit {
        Some(quit) => quit,
        None => listener.expect_command("QUIT").await,
    };
    assert_eq!(quit.source_nick(), Some("slow"));
    assert_eq!(quit.param(0), Some("SendQ exceeded"));
    let gone = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(charla_server::ServerEvent::Disconnected { nick, reason, .. }) =
                events.recv().await
                && nick.as_deref() == Some("slow")
            {
                return reason;
            }
        }
    })
    .await
    .expect("disconnect event");
    assert_eq!(gone, "SendQ exceeded");
    // The others carry on.
    talker.send("PRIVMSG #busy :¿seguimos?").await;
    assert_eq!(
        listener.expect_command("PRIVMSG").await.param(1),
        Some("¿seguimos?")
    );
}

#[tokio::test]
async fn random_garbage_never_breaks_the_server() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let server = TestServer::start().await;
    let mut rng = StdRng::seed_from_u64(0x00c4_a71a);
    let pieces: [&[u8]; 14] = [
        b"@",
        b":",
        b" ",
        b";",
        b"=",
        b"\\",
        b"PRIVMSG",
        b"JOIN",
        b"MODE",
        b"#c",
        b"\xff",
        b"\0",
        "ñ🎉".as_bytes(),
        b"\r\n",
    ];
    for round in 0..20 {
        let mut c = server.connect().await;
        if round % 2 == 0 {
            c.register(&format!("g{round}")).await;
        }
        let mut junk = Vec::new();
        for _ in 0..300 {
            if rng.random_bool(0.5) {
                junk.extend_from_slice(pieces[rng.random_range(0..pieces.len())]);
            } else {
                junk.push(rng.random());
            }
        }
        junk.extend_from_slice(b"\r\n");
        c.send_raw(&junk).await;
    }
    // Still serving.
    let mut alice = server.client("alice").await;
    alice.send("PING alive").await;
    assert_eq!(alice.expect_command("PONG").await.param(1), Some("alive"));
    // Every garbage session ended cleanly (a panicked task would leave its user behind).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let nicks: Vec<String> = server.handle.users().into_iter().map(|u| u.nick).collect();
        if nicks == ["alice"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "left behind: {nicks:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_command_with_too_few_parameters_is_answered_not_fatal() {
    let server = TestServer::start().await;
    let mut c = server.client("alice").await;
    c.send("JOIN #x").await;
    c.expect_numeric(RPL_ENDOFNAMES).await;
    let commands = [
        "PASS", "NICK", "USER", "CAP", "PING", "PONG", "JOIN", "PART", "PRIVMSG", "NOTICE",
        "TAGMSG", "NAMES", "TOPIC", "LIST", "INVITE", "KICK", "MODE", "WHO", "WHOIS", "WHOWAS",
        "AWAY", "ISON", "USERHOST", "VERSION", "TIME", "MOTD", "LUSERS", "OPER", "KILL", "WALLOPS",
        "GLOBAL", "SETNAME",
    ];
    for cmd in commands {
        for params in ["", " #x", " #x alice", " #x alice :x"] {
            c.send(&format!("{cmd}{params}")).await;
        }
        // Still connected and answering after each command.
        c.sync().await;
    }
    assert_eq!(server.handle.users().len(), 1);
}

#[tokio::test]
async fn expensive_commands_weigh_more() {
    // Burst 10: registration takes 3 (NICK weighs 2), leaving 7 — enough for four PINGs, not
    // for a LIST (5) and four PINGs: with a slow refill the last two wait.
    let server = TestServer::start_with(flood_config(10, 0.2, ONE_LINE)).await;
    let mut cheap = server.client("cheap").await;
    cheap
        .send_raw(b"PING a\r\nPING b\r\nPING c\r\nPING d\r\n")
        .await;
    cheap
        .expect(&"PONG d", |m| {
            m.command == "PONG" && m.param(1) == Some("d")
        })
        .await;
    let mut costly = server.client("costly").await;
    costly
        .send_raw(b"LIST\r\nPING a\r\nPING b\r\nPING c\r\nPING d\r\n")
        .await;
    costly
        .expect(&"PONG b", |m| {
            m.command == "PONG" && m.param(1) == Some("b")
        })
        .await;
    assert!(costly.try_recv(Duration::from_millis(500)).await.is_none());
}
