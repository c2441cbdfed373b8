//! Bad bytes: the 512-byte limit, UTF-8 split or invalid, NUL, bare CR, malformed tags, and a
//! megabyte of noise. Each is refused with a reply or ends cleanly; nothing bad is relayed.

use super::*;

#[tokio::test]
async fn line_length_is_counted_in_bytes_at_the_boundary() {
    bounded(async {
        let server = TestServer::start_with(no_flood_config()).await;
        let mut alice = Raw::registered(server.addr, "alice", "").await;
        let mut bob = Raw::registered(server.addr, "bob", "").await;
        // 512 bytes with CR LF, ending in multi-byte characters: accepted (the relayed copy
        // gains a source prefix, so it may be cut to fit, but only at a character boundary).
        let prefix = "PRIVMSG bob :";
        let fill = 510 - prefix.len() - "ñú".len();
        let text = format!("{}ñú", "a".repeat(fill));
        let line = format!("{prefix}{text}");
        assert_eq!(line.len() + 2, 512);
        alice.send(&line).await;
        let m = bob.expect_command("PRIVMSG").await;
        let got = m.param(1).unwrap_or("");
        assert!(
            got.len() > 400 && text.starts_with(got),
            "relayed text is not a prefix of the sent one: {got:?}"
        );
        // One byte more (the first character is two bytes where it was one): 417, not relayed.
        let longer = format!("{prefix}ñ{}ñú", "a".repeat(fill - 1));
        assert_eq!(longer.len() + 2, 513);
        alice.send(&longer).await;
        alice.expect_numeric("417").await;
        assert!(
            bob.sync("nothing").await.is_empty(),
            "a too-long line was relayed"
        );
        // Before registration too, and registration still works after it.
        let mut c = Raw::connect(server.addr).await;
        c.send(&format!("NICK {}", "n".repeat(600))).await;
        c.expect_numeric("417").await;
        c.register("despues", "").await;
    })
    .await;
}

#[tokio::test]
async fn relayed_lines_fit_in_512_bytes() {
    // A client may send 510 bytes of body; the server adds a source to relay it, so it must
    // cut the text (at a character boundary) to stay within 512 bytes with CR LF.
    bounded(async {
        let server = TestServer::start_with(no_flood_config()).await;
        let (mut alice, mut bob) = pair(&server, "alice_larga", "bob", "#limite").await;
        let prefix = "PRIVMSG #limite :";
        let text = "ñ".repeat((510 - prefix.len()) / 2);
        alice.send(&format!("{prefix}{text}")).await;
        bob.expect_command("PRIVMSG").await;
        let relayed = bob.last_line().unwrap_or_default().to_owned();
        assert!(
            relayed.len() + 2 <= 512,
            "{} bytes: {relayed}",
            relayed.len() + 2
        );
    })
    .await;
}

#[tokio::test]
async fn utf8_split_across_writes_is_reassembled_and_bad_utf8_is_refused_everywhere() {
    bounded(async {
        let server = TestServer::start_with(no_flood_config()).await;
        let (mut alice, mut bob) = pair(&server, "alice", "bob", "#café").await;
        // "Ñandú 🎉" cut inside the Ñ and inside the emoji, in three writes.
        let line = "PRIVMSG #café :Ñandú 🎉\r\n".as_bytes();
        let cut1 = "PRIVMSG #café :".len() + 1;
        let cut2 = line.len() - 4;
        for part in [&line[..cut1], &line[cut1..cut2], &line[cut2..]] {
            alice.send_raw(part).await;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        assert_eq!(
            bob.expect_command("PRIVMSG").await.param(1),
            Some("Ñandú 🎉")
        );
        // Invalid sequences: a lone continuation byte, an overlong '/', a UTF-16 surrogate,
        // a truncated 4-byte sequence, Latin-1.
        let bad: [&[u8]; 5] = [
            b"PRIVMSG #caf\xc3\xa9 :\x80\r\n",
            b"PRIVMSG #caf\xc3\xa9 :\xc0\xaf\r\n",
            b"PRIVMSG #caf\xc3\xa9 :\xed\xa0\x80\r\n",
            b"PRIVMSG #caf\xc3\xa9 :\xf0\x9f\x8e\r\n",
            b"PRIVMSG #caf\xc3\xa9 :ma\xf1ana\r\n",
        ];
        for line in bad {
            alice.send_raw(line).await;
            let fail = alice.expect_command("FAIL").await;
            assert_eq!(fail.param(1), Some("INVALID_UTF8"), "{line:?}");
        }
        assert!(
            bob.sync("clean").await.is_empty(),
            "invalid UTF-8 was relayed"
        );
        // Before registration: the NICK is refused, the connection registers afterwards.
        let mut c = Raw::connect(server.addr).await;
        c.send_raw(b"NICK \xd1andu\r\n").await;
        let fail = c.expect_command("FAIL").await;
        assert_eq!(fail.param(1), Some("INVALID_UTF8"));
        c.register("Ñandú", "").await;
        still_chatting(&mut alice, &mut bob, "#café", "todo bien").await;
    })
    .await;
}

#[tokio::test]
async fn nul_bytes_anywhere_are_refused_and_never_relayed() {
    bounded(async {
        let server = TestServer::start_with(no_flood_config()).await;
        let (mut alice, mut bob) = pair(&server, "alice", "bob", "#c").await;
        let lines: [&[u8]; 5] = [
            b"PRIVMSG #c :a\0b\r\n",
            b"PRIV\0MSG #c :x\r\n",
            b"@+k=v\0 PRIVMSG #c :x\r\n",
            b"\0\r\n",
            b"PRIVMSG #c :trailing\0\r\n",
        ];
        for line in lines {
            alice.send_raw(line).await;
            let reply = alice.recv().await;
            assert_eq!(reply.command, "400", "{line:?}: {reply}");
        }
        assert!(
            bob.sync("no-nul").await.is_empty(),
            "a NUL line was relayed"
        );
        let mut c = Raw::connect(server.addr).await;
        c.send_raw(b"NICK a\0b\r\n").await;
        assert_eq!(c.recv().await.command, "400");
        c.register("sin_nul", "").await;
        still_chatting(&mut alice, &mut bob, "#c", "limpio").await;
    })
    .await;
}

#[tokio::test]
async fn a_bare_cr_inside_a_line_never_reaches_another_client() {
    // Some clients end lines at a bare CR: relaying one would let a sender inject a line.
    bounded(async {
        let server = TestServer::start_with(no_flood_config()).await;
        let (mut alice, mut bob) = pair(&server, "alice", "bob", "#cr").await;
        let lines: [&[u8]; 7] = [
            b"PRIVMSG bob :a\rQUIT :fake\r\n",
            b"PRIVMSG #cr :b\r:evil!e@h PRIVMSG bob :c\r\n",
            b"NOTICE bob :d\re\r\n",
            b"TOPIC #cr :f\rg\r\n",
            b"AWAY :h\ri\r\n",
            b"PART #cr :j\rk\r\n",
            b"QUIT :l\rm\r\n",
        ];
        // Each is refused whole (neither cut at the CR nor split in two), with a reply.
        for line in lines {
            alice.send_raw(line).await;
            let replies = alice.sync("cr").await;
            assert_eq!(replies.len(), 1, "{line:?}: {replies:?}");
            assert_eq!(replies[0].command, "400", "{line:?}: {}", replies[0]);
        }
        let relayed: Vec<String> = bob
            .sync("nothing")
            .await
            .iter()
            .map(|m| m.to_line())
            .collect();
        assert!(relayed.is_empty(), "relayed: {relayed:#?}");
        // Alice is untouched: still in the channel, not away, and can leave properly.
        bob.send("WHOIS alice").await;
        let channels = bob.expect_numeric("319").await;
        assert!(
            channels.param(2).is_some_and(|c| c.contains("#cr")),
            "{channels}"
        );
        let end = bob.sync("whois").await;
        assert!(
            end.iter().all(|m| m.command != "301"),
            "alice is away: {end:?}"
        );
        alice.send("QUIT :hasta luego").await;
        let quit = bob.expect_command("QUIT").await;
        assert!(
            quit.param(0).is_some_and(|r| r.contains("hasta luego")),
            "{quit}"
        );
    })
    .await;
}

#[tokio::test]
async fn malformed_tags_never_break_the_connection() {
    bounded(async {
        let server = TestServer::start_with(no_flood_config()).await;
        let (mut alice, mut bob) = pair(&server, "alice", "bob", "#t").await;
        let long_value = format!("@+k={} PRIVMSG #t :x", "v".repeat(5000));
        let cases: Vec<&str> = vec![
            "@",
            "@ ",
            "@;",
            "@;;; PRIVMSG #t :x",
            "@=v PRIVMSG #t :x",
            "@+=v PRIVMSG #t :x",
            "@+k PRIVMSG",
            "@+k=v",
            "@+k=v ",
            "@  PRIVMSG #t :x",
            "@+a b=c PRIVMSG #t :x",
            long_value.as_str(),
        ];
        for (i, case) in cases.iter().enumerate() {
            alice.send(case).await;
            // Whatever the reply (FAIL, 417, 421, 461 or nothing), the connection answers.
            let replies = alice.sync(&format!("t{i}")).await;
            for r in &replies {
                assert!(
                    r.command == "FAIL" || r.command.chars().all(|c| c.is_ascii_digit()),
                    "{case:?} got {r}"
                );
            }
        }
        // None of it reached the channel as a message.
        let relayed: Vec<String> = bob
            .sync("watch")
            .await
            .iter()
            .map(|m| m.to_line())
            .collect();
        assert!(
            relayed.iter().all(|l| !l.contains("PRIVMSG")),
            "relayed: {relayed:?}"
        );
        still_chatting(&mut alice, &mut bob, "#t", "etiquetas").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_of_random_bytes_ends_cleanly_and_others_keep_chatting() {
    bounded(async {
        // Default flood settings: the noise holds thousands of "lines".
        let mut config = TestServer::test_config();
        config.flood = charla_server::FloodConfig::default();
        let server = TestServer::start_with(config).await;
        let mut alice = member(&server, "alice", "#ruido").await;
        let mut bob = member(&server, "bob", "#ruido").await;
        let mut events = server.handle.subscribe();

        // One noisy client registered in the channel, one that never registered.
        let mut noisy = Vec::new();
        let registered = member(&server, "ruidoso", "#ruido").await;
        noisy.push(registered);
        noisy.push(Raw::connect(server.addr).await);
        let mut writers = tokio::task::JoinSet::new();
        for (i, mut c) in noisy.into_iter().enumerate() {
            let bytes = noise(0xC4A2_0000 + i as u64, true);
            writers.spawn(async move {
                // The server answers a few lines, then closes (Excess Flood): its replies fit in
                // the socket buffers, so writing without reading cannot block it. It may close
                // before we finish writing.
                for chunk in bytes.chunks(64 * 1024) {
                    if !c.try_send_raw(chunk).await {
                        break;
                    }
                }
                c.expect_closed_within(support::WAIT).await
            });
        }
        // Meanwhile the conversation goes on.
        for n in 0..5 {
            still_chatting(
                &mut alice,
                &mut bob,
                "#ruido",
                &format!("mientras tanto {n}"),
            )
            .await;
        }
        while let Some(done) = writers.join_next().await {
            let error = done.expect("noise task");
            // A clean end: an ERROR line (Excess Flood, Closing Link) before the close.
            assert!(error.is_some(), "closed without an ERROR");
        }
        // Both sessions ended and were cleaned up; the registered one left the channel.
        gone(&server, "ruidoso").await;
        let quit = alice
            .expect("ruidoso's QUIT", |m| m.command == "QUIT")
            .await;
        assert_eq!(quit.source_nick(), Some("ruidoso"));
        let mut disconnects = 0;
        while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(500), events.recv()).await
        {
            if matches!(e, ServerEvent::Disconnected { .. }) {
                disconnects += 1;
            }
        }
        assert_eq!(disconnects, 2);
        still_chatting(&mut bob, &mut alice, "#ruido", "ya se fue 🎉").await;
    })
    .await;
}

#[tokio::test]
async fn a_megabyte_without_a_newline_is_one_inputtoolong() {
    bounded(async {
        let server = TestServer::start().await;
        let mut alice = Raw::registered(server.addr, "alice", "").await;
        let mut bob = Raw::registered(server.addr, "bob", "").await;
        let bytes = noise(7, false);
        alice.send_raw(&bytes).await;
        alice.send_raw(b"\r\n").await;
        let sent = alice.sync("after-noise").await;
        let too_long = sent.iter().filter(|m| m.command == "417").count();
        assert_eq!(too_long, 1, "{sent:?}");
        still_chatting(&mut alice, &mut bob, "bob", "sigo aquí").await;
    })
    .await;
}
