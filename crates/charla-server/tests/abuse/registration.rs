//! Sessions that never get going or go quiet: registration timeouts (whatever the client keeps
//! sending), hang-ups halfway, and ping timeouts.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_finish_registration_are_timed_out() {
    bounded(async {
        let mut config = no_flood_config();
        config.limits.registration_timeout_secs = 1;
        let server = TestServer::start_with(config).await;
        let mut alice = Raw::registered(server.addr, "alice", "").await;
        let started = Instant::now();
        // (what it sends at once, whether it keeps sending PINGs, whether it trickles bytes)
        let cases: [(&str, &str); 6] = [
            ("silent", ""),
            ("nick only", "NICK solo_nick\r\n"),
            ("user only", "USER u 0 * :U\r\n"),
            (
                "cap held",
                "CAP LS 302\r\nNICK capnick\r\nUSER c 0 * :C\r\n",
            ),
            ("pinging", "NICK pinger\r\n"),
            ("half a line", "NICK medio\r\nUSER m 0 * :M"),
        ];
        let mut set = tokio::task::JoinSet::new();
        for (name, opening) in cases {
            let addr = server.addr;
            set.spawn(async move {
                let mut c = Raw::connect(addr).await;
                c.name = name.to_owned();
                c.send_raw(opening.as_bytes()).await;
                if name == "pinging" {
                    // Activity that is not registration does not extend the deadline.
                    for n in 0..10 {
                        if !c.try_send_raw(format!("PING p{n}\r\n").as_bytes()).await {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                (name, c.expect_closed_within(Duration::from_secs(5)).await)
            });
        }
        while let Some(done) = set.join_next().await {
            let (name, error) = done.expect("case task");
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains("Registration timed out")),
                "{name}: {error:?}"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
        // The nicks they held are free again.
        for nick in ["solo_nick", "capnick", "pinger", "medio"] {
            let mut again = Raw::registered(server.addr, nick, "").await;
            again.send("QUIT").await;
        }
        assert!(alice.sync("alive").await.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_streaming_lines_without_registering_still_times_out() {
    // With flood control off nothing slows the input down: the registration deadline must
    // still fire while lines keep arriving.
    bounded(async {
        let mut config = no_flood_config();
        config.limits.registration_timeout_secs = 1;
        let server = TestServer::start_with(config).await;
        let stream = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        let (mut rd, mut wr) = stream.into_split();
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            // Empty lines: read and handled one by one, but they need no reply (so the send
            // queue stays empty and only the deadline can end the session).
            let chunk = "\r\n".repeat(4000);
            let deadline = Instant::now() + Duration::from_secs(8);
            while Instant::now() < deadline {
                if wr.write_all(chunk.as_bytes()).await.is_err() {
                    return true;
                }
            }
            false
        });
        // Read until the ERROR and the end.
        let started = Instant::now();
        let mut buf = Vec::new();
        let mut tail = Vec::new();
        loop {
            use tokio::io::AsyncReadExt;
            let mut chunk = [0u8; 16 * 1024];
            match tokio::time::timeout(Duration::from_secs(10), rd.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(pos) = buf.iter().rposition(|&b| b == b'\n') {
                        tail = buf[..=pos].to_vec();
                        buf.drain(..=pos);
                    }
                }
                Err(_) => panic!("no end after 10 s"),
            }
        }
        let closed_after = started.elapsed();
        let stopped = writer.await.expect("writer task");
        let tail = String::from_utf8_lossy(&tail);
        assert!(
            tail.contains("Registration timed out"),
            "last lines: {}",
            &tail[tail.len().saturating_sub(300)..]
        );
        assert!(stopped, "the server never closed the connection");
        assert!(closed_after < Duration::from_secs(4), "{closed_after:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_hang_up_mid_registration_leave_nothing_behind() {
    bounded(async {
        let server = TestServer::start_with(no_flood_config()).await;
        let mut events = server.handle.subscribe();
        let openings: [&[u8]; 8] = [
            b"",
            b"NI",
            b"NICK corte1\r\n",
            b"NICK corte2\r\nUSER c 0 *",
            b"CAP LS 302\r\nNICK corte3\r\n",
            b"CAP LS 302\r\nCAP REQ :echo-message\r\nNICK corte4\r\nUSER c 0 * :C\r\n",
            b"PASS x\r\nNICK corte5\r\n",
            b"CAP LS 302\r\nUSER c 0 * :C\r\nNICK corte6\r\nCAP",
        ];
        for (i, opening) in openings.iter().enumerate() {
            let mut c = Raw::connect(server.addr).await;
            c.send_raw(opening).await;
            if i % 2 == 0 {
                // Let the server read it before the hang-up.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            drop(c);
        }
        // Every one of them is accounted for: as many disconnects as connects.
        let mut connected = 0;
        let mut disconnected = 0;
        let deadline = Instant::now() + support::WAIT;
        while disconnected < openings.len() {
            let e = tokio::time::timeout_at(deadline, events.recv())
                .await
                .expect("disconnect events")
                .expect("event stream");
            match e {
                ServerEvent::Connected { .. } => connected += 1,
                ServerEvent::Disconnected { .. } => disconnected += 1,
                ServerEvent::Registered { nick, .. } => panic!("{nick} registered"),
                _ => {}
            }
        }
        assert_eq!(connected, openings.len());
        assert!(server.handle.users().is_empty());
        // And their nicks are free.
        for n in 1..=6 {
            let mut c = Raw::registered(server.addr, &format!("corte{n}"), "").await;
            c.send("QUIT").await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_trickling_clients_are_dropped_for_ping_timeout() {
    bounded(async {
        let mut config = no_flood_config();
        config.limits.ping_interval_secs = 1;
        config.limits.ping_timeout_secs = 1;
        let server = TestServer::start_with(config).await;
        let mut awake = member(&server, "despierto", "#noche").await;
        let mut sleepy = member(&server, "dormilon", "#noche").await;
        let mut trickler = member(&server, "goteo", "#noche").await;

        // The trickler sends bytes of a line that never ends: that is not an answer.
        let trickle = tokio::spawn(async move {
            for b in b"PRIVMSG #noche :nunca termino".iter().cycle().take(20) {
                if !trickler.try_send_raw(&[*b]).await {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            trickler.expect_closed_within(support::WAIT).await
        });
        let ping = sleepy.expect_command("PING").await;
        assert_eq!(ping.param(0), Some("irc.test"));
        // The awake client answers every PING while it watches the others go.
        let mut quits = Vec::new();
        let deadline = Instant::now() + support::WAIT;
        while quits.len() < 2 {
            match awake.read_until(deadline).await {
                Read::Line(m) if m.command == "PING" => {
                    awake
                        .send(&format!("PONG :{}", m.param(0).unwrap_or("")))
                        .await;
                }
                Read::Line(m) if m.command == "QUIT" => {
                    quits.push((
                        m.source_nick().unwrap_or("").to_owned(),
                        m.param(0).unwrap_or("").to_owned(),
                    ));
                }
                Read::Line(_) => {}
                other => panic!("awake: {other:?}, quits so far {quits:?}"),
            }
        }
        quits.sort();
        assert_eq!(quits[0].0, "dormilon");
        assert_eq!(quits[1].0, "goteo");
        for (_, reason) in &quits {
            assert!(reason.starts_with("Ping timeout"), "{reason}");
        }
        let error = sleepy.expect_closed_within(support::WAIT).await;
        assert!(
            error.as_deref().is_some_and(|e| e.contains("Ping timeout")),
            "{error:?}"
        );
        let error = trickle.await.expect("trickle task");
        assert!(
            error.as_deref().is_some_and(|e| e.contains("Ping timeout")),
            "{error:?}"
        );
        // The one who answered is still here.
        assert_eq!(
            server
                .handle
                .users()
                .iter()
                .map(|u| u.nick.as_str())
                .collect::<Vec<_>>(),
            ["despierto"]
        );
    })
    .await;
}
