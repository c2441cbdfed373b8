//! Channels: JOIN (several, keys, 0), PART, NAMES, QUIT as seen by others, TOPIC.

mod common;

use charla_proto::numeric::*;
use common::TestServer;

#[tokio::test]
async fn join_names_and_first_joiner_is_op() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    alice.send("JOIN #charla").await;
    let join = alice.expect_command("JOIN").await;
    assert_eq!(join.source.as_deref(), Some("alice!~alice@127.0.0.1"));
    assert_eq!(join.param(0), Some("#charla"));
    let names = alice.expect_numeric(RPL_NAMREPLY).await;
    assert_eq!(names.params, vec!["alice", "=", "#charla", "@alice"]);
    alice.expect_numeric(RPL_ENDOFNAMES).await;

    let mut bob = server.client("bob").await;
    bob.send("JOIN #Charla").await;
    // Case-insensitive: bob joins alice's channel, named as she named it.
    assert_eq!(bob.expect_command("JOIN").await.param(0), Some("#charla"));
    let names = bob.expect_numeric(RPL_NAMREPLY).await;
    assert_eq!(names.param(3), Some("@alice bob"));
    let seen = alice.expect_command("JOIN").await;
    assert_eq!(seen.source_nick(), Some("bob"));
}

#[tokio::test]
async fn join_several_with_keys_and_join_zero() {
    let server = TestServer::start().await;
    let mut op = server.client("op").await;
    op.send("JOIN #locked").await;
    op.expect_numeric(RPL_ENDOFNAMES).await;
    op.send("MODE #locked +k sesame").await;
    op.sync().await;

    let mut c = server.client("carol").await;
    c.send("JOIN #a,#locked,#b nokey,sesame").await;
    let mut joined = Vec::new();
    for _ in 0..3 {
        joined.push(
            c.expect_command("JOIN")
                .await
                .param(0)
                .unwrap_or("")
                .to_owned(),
        );
    }
    assert_eq!(joined, ["#a", "#locked", "#b"]);
    c.send("JOIN 0").await;
    let mut parted = Vec::new();
    for _ in 0..3 {
        parted.push(
            c.expect_command("PART")
                .await
                .param(0)
                .unwrap_or("")
                .to_owned(),
        );
    }
    parted.sort();
    assert_eq!(parted, ["#a", "#b", "#locked"]);
}

#[tokio::test]
async fn part_with_reason_is_seen_by_others() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    alice.send("JOIN #x").await;
    alice.expect_numeric(RPL_ENDOFNAMES).await;
    bob.send("JOIN #x").await;
    bob.expect_numeric(RPL_ENDOFNAMES).await;
    bob.send("PART #x :me voy").await;
    let part = alice.expect_command("PART").await;
    assert_eq!(part.source_nick(), Some("bob"));
    assert_eq!(part.params, vec!["#x", "me voy"]);
    assert_eq!(bob.expect_command("PART").await.param(1), Some("me voy"));
}

#[tokio::test]
async fn quit_reason_is_seen_by_channel_peers_once() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    for ch in ["#one", "#two"] {
        alice.send(&format!("JOIN {ch}")).await;
        alice.expect_numeric(RPL_ENDOFNAMES).await;
        bob.send(&format!("JOIN {ch}")).await;
        bob.expect_numeric(RPL_ENDOFNAMES).await;
    }
    alice.sync().await;
    bob.send("QUIT :hasta luego").await;
    let quit = alice.expect_command("QUIT").await;
    assert_eq!(quit.source_nick(), Some("bob"));
    assert_eq!(quit.param(0), Some("Quit: hasta luego"));
    // Two shared channels, one QUIT.
    let rest = alice.sync().await;
    assert!(rest.iter().all(|m| m.command != "QUIT"), "{rest:?}");
}

#[tokio::test]
async fn part_errors() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    alice.send("PART #nowhere").await;
    alice.expect_numeric(ERR_NOSUCHCHANNEL).await;
    bob.send("JOIN #here").await;
    bob.expect_numeric(RPL_ENDOFNAMES).await;
    alice.send("PART #here").await;
    alice.expect_numeric(ERR_NOTONCHANNEL).await;
    alice.send("PART").await;
    alice.expect_numeric(ERR_NEEDMOREPARAMS).await;
}

#[tokio::test]
async fn join_errors() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    alice.send("JOIN").await;
    alice.expect_numeric(ERR_NEEDMOREPARAMS).await;
    alice.send("JOIN nochan").await;
    alice.expect_numeric(ERR_NOSUCHCHANNEL).await;
}

#[tokio::test]
async fn too_many_channels() {
    let mut config = TestServer::test_config();
    config.limits.max_channels_per_user = 2;
    let server = TestServer::start_with(config).await;
    let mut alice = server.client("alice").await;
    alice.send("JOIN #1,#2,#3").await;
    let m = alice.expect_numeric(ERR_TOOMANYCHANNELS).await;
    assert_eq!(m.param(1), Some("#3"));
}

#[tokio::test]
async fn names_of_unknown_channel_and_without_args() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    alice.send("NAMES #none").await;
    assert_eq!(
        alice.expect_numeric(RPL_ENDOFNAMES).await.param(1),
        Some("#none")
    );
    alice.send("NAMES").await;
    assert_eq!(
        alice.expect_numeric(RPL_ENDOFNAMES).await.param(1),
        Some("*")
    );
}

#[tokio::test]
async fn utf8_channel_names() {
    let server = TestServer::start().await;
    let mut alice = server.client("Ñandú").await;
    alice.send("JOIN #canal-español").await;
    assert_eq!(
        alice.expect_command("JOIN").await.param(0),
        Some("#canal-español")
    );
    let mut bob = server.client("bob").await;
    bob.send("JOIN #CANAL-ESPAÑOL").await;
    let names = bob.expect_numeric(RPL_NAMREPLY).await;
    assert_eq!(names.param(3), Some("@Ñandú bob"));
}
