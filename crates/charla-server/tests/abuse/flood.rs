//! Floods: slowed to the configured rate (fakelag), disconnected past the queue, before
//! registration too; the others talk at full speed.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooder_is_slowed_to_its_rate_while_others_talk_at_full_speed() {
    const LINES: usize = 45;
    const BURST: u32 = 5;
    const RATE: f64 = 20.0;
    bounded(async {
        let mut config = TestServer::test_config();
        config.flood.burst = BURST;
        config.flood.lines_per_sec = RATE;
        config.flood.recvq_bytes = 1 << 16;
        let server = TestServer::start_with(config).await;
        let mut alice = member(&server, "alice", "#sala").await;
        let mut bob = member(&server, "bob", "#sala").await;
        let mut flooder = member(&server, "flooder", "#sala").await;

        let start = Instant::now();
        let mut flood = String::new();
        for n in 0..LINES {
            flood.push_str(&format!("PRIVMSG #sala :flood {n}\r\n"));
        }
        flooder.send_raw(flood.as_bytes()).await;
        // While the flooder's lines trickle out, alice and bob talk without delay.
        alice.send("PRIVMSG bob :¿me oyes?").await;
        // Bob reads both: alice's message at once, every flood line in order, paced.
        let mut quick = None;
        let mut last_at = start;
        let mut next = 0;
        while next < LINES || quick.is_none() {
            let m = bob
                .expect("alice's message or a flood line", |m| {
                    m.command == "PRIVMSG"
                })
                .await;
            match m.source_nick() {
                Some("alice") => {
                    assert_eq!(m.param(1), Some("¿me oyes?"));
                    quick = Some(start.elapsed());
                }
                Some("flooder") => {
                    assert_eq!(m.param(1), Some(format!("flood {next}").as_str()));
                    last_at = Instant::now();
                    next += 1;
                }
                other => panic!("PRIVMSG from {other:?}"),
            }
        }
        let quick = quick.unwrap_or_default();
        let paced = last_at - start;
        // The bucket lets BURST lines through at once and RATE per second after that, so the
        // last line cannot come before (LINES - BURST) / RATE seconds (with a margin for timers).
        let floor = Duration::from_secs_f64((LINES as f64 - f64::from(BURST)) / RATE * 0.8);
        assert!(paced >= floor, "flood not slowed: all lines in {paced:?}");
        assert!(
            quick < paced / 2,
            "alice waited behind the flooder: {quick:?} vs {paced:?}"
        );
        // The flooder was slowed, not dropped.
        assert!(
            flooder
                .sync("still-here")
                .await
                .iter()
                .all(|m| m.command != "ERROR")
        );
        still_chatting(&mut bob, &mut alice, "#sala", "ya pasó").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooder_past_its_queue_is_disconnected_and_the_channel_is_told() {
    bounded(async {
        let mut config = TestServer::test_config();
        config.flood.burst = 5;
        config.flood.lines_per_sec = 2.0;
        config.flood.recvq_bytes = charla_proto::limits::MAX_INBOUND;
        let server = TestServer::start_with(config).await;
        let mut alice = member(&server, "alice", "#sala").await;
        let mut bob = member(&server, "bob", "#sala").await;
        let mut flooder = member(&server, "flooder", "#sala").await;
        let mut flood = String::new();
        for n in 0..200 {
            flood.push_str(&format!("PRIVMSG #sala :flood {n}\r\n"));
        }
        // The server may close while we still write: that is the point.
        flooder.try_send_raw(flood.as_bytes()).await;
        let error = flooder.expect_closed_within(support::WAIT).await;
        assert!(
            error.as_deref().is_some_and(|e| e.contains("Excess Flood")),
            "{error:?}"
        );
        for peer in [&mut alice, &mut bob] {
            let quit = peer
                .expect("the flooder's QUIT", |m| m.command == "QUIT")
                .await;
            assert_eq!(quit.source_nick(), Some("flooder"));
            assert_eq!(quit.param(0), Some("Excess Flood"));
        }
        gone(&server, "flooder").await;
        still_chatting(&mut alice, &mut bob, "#sala", "qué pesado").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_before_registration_is_controlled_too() {
    bounded(async {
        let mut config = TestServer::test_config();
        config.flood.burst = 5;
        config.flood.lines_per_sec = 2.0;
        config.flood.recvq_bytes = charla_proto::limits::MAX_INBOUND;
        let server = TestServer::start_with(config).await;
        let mut alice = Raw::registered(server.addr, "alice", "").await;
        let mut c = Raw::connect(server.addr).await;
        let flood = "PING x\r\n".repeat(400);
        c.try_send_raw(flood.as_bytes()).await;
        let error = c.expect_closed_within(support::WAIT).await;
        assert!(
            error.as_deref().is_some_and(|e| e.contains("Excess Flood")),
            "{error:?}"
        );
        assert!(alice.sync("ok").await.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_that_posts_and_closes_at_once_loses_nothing() {
    bounded(async {
        let mut config = TestServer::test_config();
        // The default bucket: 20 tokens at once, then 5 a second. The last lines wait for
        // tokens after the socket has closed.
        config.flood = charla_server::FloodConfig::default();
        let server = TestServer::start_with(config).await;
        let mut reader = member(&server, "lector", "#avisos").await;
        let mut bot = member(&server, "bot", "#avisos").await;
        reader
            .expect("the bot's JOIN", |m| {
                m.command == "JOIN" && m.source_nick() == Some("bot")
            })
            .await;
        let mut lines = String::new();
        for n in 0..30 {
            lines.push_str(&format!("PRIVMSG #avisos :aviso {n}\r\n"));
        }
        lines.push_str("QUIT :hecho\r\n");
        bot.send_raw(lines.as_bytes()).await;
        drop(bot);
        for n in 0..30 {
            let m = reader.expect_command("PRIVMSG").await;
            assert_eq!(m.param(1), Some(format!("aviso {n}").as_str()));
        }
        let quit = reader.expect_command("QUIT").await;
        assert_eq!(quit.param(0), Some("Quit: hecho"));
    })
    .await;
}
