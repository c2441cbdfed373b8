//! Readers that do not keep up: dropped for SendQ while the others talk, and never in the way of
//! the others' goodbye.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_readers_are_dropped_for_sendq_while_the_channel_keeps_talking() {
    const STUCK: usize = 10;
    bounded(async {
        let mut config = no_flood_config();
        // Room for a batch of the talker's lines (about 5 KB) with some to spare, so that the
        // reading member is never at risk.
        config.limits.sendq_bytes = 16 * 1024;
        // The loop below goes in lock step (send a batch, wait until the listener has it), so
        // a coalescing window would add itself to each of its hundreds of rounds.
        config.limits.write_coalesce_ms = 0;
        let server = TestServer::start_with(config).await;
        let mut talker = member(&server, "talker", "#llena").await;
        let mut listener = member(&server, "listener", "#llena").await;
        // Clients with a small receive window that stop reading once in the channel.
        let mut stuck = Vec::new();
        for i in 0..STUCK {
            let socket = TcpSocket::new_v4().expect("socket");
            socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
            let stream = socket.connect(server.addr).await.expect("connect");
            let mut c = Raw::from_stream(stream);
            c.register(&format!("dormido{i}"), "").await;
            c.send("JOIN #llena").await;
            c.expect_numeric("366").await;
            stuck.push(c);
        }

        let text = "ñ".repeat(100);
        let mut sent = 0usize;
        let mut received = 0usize;
        let mut quits = Vec::new();
        for round in 0..=1000 {
            assert!(round < 1000, "non-readers never dropped: {quits:?}");
            let mut batch = String::new();
            for _ in 0..20 {
                batch.push_str(&format!("PRIVMSG #llena :{text}\r\n"));
            }
            talker.send_raw(batch.as_bytes()).await;
            sent += 20;
            // The listener keeps up and misses nothing; it also sees the QUITs as they happen.
            while received < sent {
                let m = listener.recv().await;
                match m.command.as_str() {
                    "PRIVMSG" => received += 1,
                    "QUIT" => quits.push((
                        m.source_nick().map(str::to_owned),
                        m.param(0).map(str::to_owned),
                    )),
                    _ => {}
                }
            }
            if quits.len() == STUCK {
                break;
            }
        }
        for (nick, reason) in &quits {
            assert!(
                nick.as_deref().is_some_and(|n| n.starts_with("dormido")),
                "{nick:?}"
            );
            assert_eq!(reason.as_deref(), Some("SendQ exceeded"));
        }
        assert_eq!(received, sent, "the reading member lost lines");
        // The conversation goes on, and only the two readers are left.
        still_chatting(&mut talker, &mut listener, "#llena", "¿seguimos? 🙂").await;
        still_chatting(&mut listener, &mut talker, "#llena", "sí").await;
        let mut nicks: Vec<String> = server.handle.users().into_iter().map(|u| u.nick).collect();
        nicks.sort();
        assert_eq!(nicks, ["listener", "talker"]);
        // What a dropped client finds when it reads at last: its backlog cut short, then the
        // ERROR, then the end of the stream.
        let error = stuck[0].expect_closed_within(support::WAIT).await;
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("SendQ exceeded")),
            "{error:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_reader_does_not_delay_the_others_goodbye_at_shutdown() {
    bounded(async {
        let mut config = no_flood_config();
        config.limits.sendq_bytes = 4 * 1024 * 1024;
        let server = TestServer::start_with(config).await;
        let (mut talker, mut reader) = pair(&server, "talker", "reader", "#cierre").await;
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let stream = socket.connect(server.addr).await.expect("connect");
        let mut stuck = Raw::from_stream(stream);
        stuck.register("atascado", "").await;
        stuck.send("JOIN #cierre").await;
        stuck.expect_numeric("366").await;
        // Fill the stuck client's socket buffers and part of its send queue.
        let text = "x".repeat(400);
        for _ in 0..50 {
            let batch = format!("PRIVMSG #cierre :{text}\r\n").repeat(20);
            talker.send_raw(batch.as_bytes()).await;
            for _ in 0..20 {
                reader.expect_command("PRIVMSG").await;
            }
        }
        assert!(server.handle.users().iter().any(|u| u.nick == "atascado"));
        let handle = server.handle.clone();
        let started = Instant::now();
        let shutdown = tokio::spawn(async move { handle.shutdown().await });
        // The reading clients get their ERROR at once, whatever the stuck one does.
        for c in [&mut talker, &mut reader] {
            let error = c.expect_closed_within(Duration::from_secs(3)).await;
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains("shutting down")),
                "{}: {error:?}",
                c.name
            );
        }
        let goodbye = started.elapsed();
        shutdown.await.expect("shutdown task");
        let total = started.elapsed();
        assert!(goodbye < Duration::from_secs(2), "{goodbye:?}");
        // The stuck one may hold shutdown up to its flush limit, not forever.
        assert!(total < Duration::from_secs(11), "shutdown took {total:?}");
        drop(stuck);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_reader_is_dropped_within_half_a_megabyte() {
    // What a stuck reader may cost is SendQ plus the socket's send buffer (128 KiB by default,
    // `socket_send_buffer`): with a 16 KiB SendQ it must be gone well before 512 KiB have been
    // sent to it.
    bounded(async {
        let mut config = no_flood_config();
        config.limits.sendq_bytes = 16 * 1024;
        let server = TestServer::start_with(config).await;
        let (mut talker, mut listener) = pair(&server, "talker", "listener", "#cap").await;
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let stream = socket.connect(server.addr).await.expect("connect");
        let mut stuck = Raw::from_stream(stream);
        stuck.register("stuck", "").await;
        stuck.send("JOIN #cap").await;
        stuck.expect_numeric("366").await;
        let line = format!("PRIVMSG #cap :{}\r\n", "x".repeat(380));
        let mut sent = 0;
        while server.handle.users().iter().any(|u| u.nick == "stuck") {
            assert!(sent < 512 * 1024, "still connected after {sent} bytes");
            talker.send_raw(line.repeat(10).as_bytes()).await;
            for _ in 0..10 {
                listener.expect_command("PRIVMSG").await;
            }
            sent += 10 * line.len();
        }
    })
    .await;
}
