//! What others see: nothing after QUIT, a half-close still delivers, each change once per peer,
//! and targets relayed once and by their own names.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_after_quit_are_ignored_and_a_half_close_still_delivers() {
    bounded(async {
        let server = TestServer::start_with(no_flood_config()).await;
        let (mut alice, mut bob) = pair(&server, "alice", "bob", "#fin").await;
        let mut carol = member(&server, "carol", "#fin").await;
        alice
            .expect("carol's JOIN", |m| {
                m.command == "JOIN" && m.source_nick() == Some("carol")
            })
            .await;
        bob.expect("carol's JOIN", |m| {
            m.command == "JOIN" && m.source_nick() == Some("carol")
        })
        .await;
        // Everything after QUIT is ignored.
        carol
            .send("PRIVMSG #fin :antes\r\nQUIT :adiós\r\nPRIVMSG #fin :después")
            .await;
        let mut seen = Vec::new();
        loop {
            let m = bob.recv().await;
            if m.source_nick() == Some("carol") {
                seen.push(m.to_line());
                if m.command == "QUIT" {
                    break;
                }
            }
        }
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen[0].ends_with("PRIVMSG #fin antes"), "{seen:?}");
        assert!(seen[1].contains("adiós"), "{seen:?}");
        assert!(bob.sync("after-quit").await.is_empty());

        // A client that writes and half-closes: its last line is still delivered, then it
        // leaves (others see a QUIT) and the session is cleaned up.
        let stream = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        let mut dave = Raw::from_stream(stream);
        dave.register("dave", "").await;
        dave.send("JOIN #fin").await;
        dave.expect_numeric("366").await;
        alice
            .expect("dave's JOIN", |m| {
                m.command == "JOIN" && m.source_nick() == Some("dave")
            })
            .await;
        dave.send("PRIVMSG #fin :me despido").await;
        dave.shutdown_write().await;
        let m = alice
            .expect("dave's last line", |m| m.source_nick() == Some("dave"))
            .await;
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.param(1), Some("me despido"));
        let quit = alice
            .expect("dave's QUIT", |m| m.source_nick() == Some("dave"))
            .await;
        assert_eq!(quit.command, "QUIT");
        gone(&server, "dave").await;
        still_chatting(&mut alice, &mut bob, "#fin", "quedamos dos").await;
    })
    .await;
}

#[tokio::test]
async fn changes_reach_a_peer_in_many_shared_channels_once() {
    // A peer in several of our channels must get one line per change, not one per channel.
    bounded(async {
        let server = TestServer::start_with(no_flood_config()).await;
        let mut alice = Raw::registered(server.addr, "alice", "away-notify setname").await;
        let mut bob = Raw::registered(server.addr, "bob", "").await;
        for ch in ["#a", "#b", "#c", "#d"] {
            alice.send(&format!("JOIN {ch}")).await;
            alice.expect_numeric("366").await;
            bob.send(&format!("JOIN {ch}")).await;
            bob.expect_numeric("366").await;
        }
        alice.sync("joined").await;
        bob.send("NICK roberto").await;
        bob.send("AWAY :fuera").await;
        bob.send("SETNAME :Roberto G").await;
        bob.send("AWAY").await;
        bob.sync("done").await;
        let got: Vec<String> = alice
            .sync("seen")
            .await
            .iter()
            .map(|m| m.to_line())
            .collect();
        assert_eq!(
            got,
            [
                ":bob!~bob@127.0.0.1 NICK roberto",
                ":roberto!~bob@127.0.0.1 AWAY fuera",
                ":roberto!~bob@127.0.0.1 SETNAME :Roberto G",
                ":roberto!~bob@127.0.0.1 AWAY",
            ]
        );
        bob.send("QUIT :chao").await;
        let quit = alice.expect_command("QUIT").await;
        assert_eq!(quit.source_nick(), Some("roberto"));
        assert!(alice.sync("after").await.is_empty(), "a second QUIT");
    })
    .await;
}

#[tokio::test]
async fn a_repeated_target_is_delivered_once() {
    // "PRIVMSG #big,#big,#big,#big" would multiply one line by the channel's size times the
    // target limit; established servers deliver once per distinct target.
    bounded(async {
        let server = TestServer::start_with(no_flood_config()).await;
        let (mut alice, mut bob) = pair(&server, "alice", "bob", "#d").await;
        alice.send("PRIVMSG bob,BOB,bob,bob :x").await;
        alice.send("PRIVMSG #d,#D,#d,#d :y").await;
        assert!(alice.sync("sent").await.is_empty());
        let got: Vec<String> = bob.sync("dup").await.iter().map(|m| m.to_line()).collect();
        assert_eq!(got.len(), 2, "{got:#?}");
    })
    .await;
}

#[tokio::test]
async fn relayed_messages_name_the_target_as_the_server_knows_it() {
    // JOIN and PART carry the channel's own name; PRIVMSG must too, or a client that keys its
    // buffers by name opens a second window for "#Sala" next to "#sala".
    bounded(async {
        let server = TestServer::start_with(no_flood_config()).await;
        let (mut alice, mut bob) = pair(&server, "alice", "Bob", "#sala").await;
        alice.send("PRIVMSG #SALA :hola").await;
        let m = bob.expect_command("PRIVMSG").await;
        assert_eq!(m.param(0), Some("#sala"), "{m}");
        alice.send("PRIVMSG bob :privado").await;
        let m = bob.expect_command("PRIVMSG").await;
        assert_eq!(m.param(0), Some("Bob"), "{m}");
    })
    .await;
}
