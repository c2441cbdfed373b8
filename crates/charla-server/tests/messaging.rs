//! PRIVMSG and NOTICE between users and to channels.

mod common;

use charla_proto::numeric::*;
use common::TestServer;

#[tokio::test]
async fn private_message_between_users() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    alice.send("PRIVMSG bob :¡Hola, Bob! 🎉").await;
    let m = bob.expect_command("PRIVMSG").await;
    assert_eq!(m.source.as_deref(), Some("alice!~alice@127.0.0.1"));
    assert_eq!(m.params, vec!["bob", "¡Hola, Bob! 🎉"]);
    // The target is named as the server knows it (the recipient's own nick), as established
    // servers do, not as the sender spelled it.
    bob.send("NOTICE ALICE :ok").await;
    let n = alice.expect_command("NOTICE").await;
    assert_eq!(n.params, vec!["alice", "ok"]);
}

#[tokio::test]
async fn channel_message_reaches_members_but_not_the_sender() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    let mut carol = server.client("carol").await;
    for c in [&mut alice, &mut bob, &mut carol] {
        c.send("JOIN #sala").await;
        c.expect_numeric(RPL_ENDOFNAMES).await;
    }
    alice.sync().await;
    alice.send("PRIVMSG #sala :buenos días").await;
    for c in [&mut bob, &mut carol] {
        let m = c.expect_command("PRIVMSG").await;
        assert_eq!(m.params, vec!["#sala", "buenos días"]);
    }
    alice.expect_nothing().await;
}

#[tokio::test]
async fn several_targets_at_once() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    let mut carol = server.client("carol").await;
    carol.send("JOIN #c").await;
    carol.expect_numeric(RPL_ENDOFNAMES).await;
    alice.send("JOIN #c").await;
    alice.expect_numeric(RPL_ENDOFNAMES).await;
    alice.send("PRIVMSG bob,#c :to both").await;
    assert_eq!(
        bob.expect_command("PRIVMSG").await.param(1),
        Some("to both")
    );
    assert_eq!(carol.expect_command("PRIVMSG").await.param(0), Some("#c"));
}

#[tokio::test]
async fn message_errors() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    alice.send("PRIVMSG").await;
    alice.expect_numeric(ERR_NORECIPIENT).await;
    alice.send("PRIVMSG bob").await;
    alice.expect_numeric(ERR_NOTEXTTOSEND).await;
    alice.send("PRIVMSG nobody :hi").await;
    assert_eq!(
        alice.expect_numeric(ERR_NOSUCHNICK).await.param(1),
        Some("nobody")
    );
    alice.send("PRIVMSG #nochan :hi").await;
    alice.expect_numeric(ERR_NOSUCHNICK).await;
    alice.send("PRIVMSG a,b,c,d,e :hi").await;
    assert_eq!(
        alice.expect_numeric(ERR_TOOMANYTARGETS).await.param(1),
        Some("e")
    );
    // NOTICE never gets error replies.
    alice.send("NOTICE nobody :hi").await;
    alice.expect_nothing().await;
}

#[tokio::test]
async fn no_external_messages_by_default() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    alice.send("JOIN #closed").await;
    alice.expect_numeric(RPL_ENDOFNAMES).await;
    bob.send("PRIVMSG #closed :let me in").await;
    assert_eq!(
        bob.expect_numeric(ERR_CANNOTSENDTOCHAN).await.param(1),
        Some("#closed")
    );
}

#[tokio::test]
async fn unknown_command() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    alice.send("FROBNICATE x").await;
    assert_eq!(
        alice.expect_numeric(ERR_UNKNOWNCOMMAND).await.param(1),
        Some("FROBNICATE")
    );
}

#[tokio::test]
async fn every_member_sees_the_same_order() {
    const MEMBERS: usize = 30;
    const SENDERS: usize = 3;
    const EACH: usize = 30;
    let server = TestServer::start().await;
    let mut members = Vec::new();
    for i in 0..MEMBERS {
        let mut c = server.client(&format!("m{i}")).await;
        c.send("JOIN #orden").await;
        c.expect_numeric(RPL_ENDOFNAMES).await;
        members.push(c);
    }
    for c in &mut members {
        c.sync().await;
    }
    // Three senders (members too) talk at the same time.
    let mut senders: Vec<_> = members.drain(..SENDERS).collect();
    let tasks: Vec<_> = senders
        .drain(..)
        .enumerate()
        .map(|(s, mut c)| {
            tokio::spawn(async move {
                let mut batch = String::new();
                for i in 0..EACH {
                    batch.push_str(&format!("PRIVMSG #orden :s{s}-{i}\r\n"));
                }
                c.send_raw(batch.as_bytes()).await;
                c
            })
        })
        .collect();
    let mut orders = Vec::new();
    for c in &mut members {
        let mut got = Vec::new();
        while got.len() < SENDERS * EACH {
            let m = c.expect_command("PRIVMSG").await;
            got.push(m.param(1).unwrap_or("").to_owned());
        }
        orders.push(got);
    }
    for t in tasks {
        t.await.expect("sender");
    }
    for (i, o) in orders.iter().enumerate() {
        assert_eq!(o, &orders[0], "member {i} saw another order");
    }
    // Each sender's own lines stay in the order sent.
    for s in 0..SENDERS {
        let mine: Vec<&String> = orders[0]
            .iter()
            .filter(|t| t.starts_with(&format!("s{s}-")))
            .collect();
        let want: Vec<String> = (0..EACH).map(|i| format!("s{s}-{i}")).collect();
        assert_eq!(mine, want.iter().collect::<Vec<_>>());
    }
}
