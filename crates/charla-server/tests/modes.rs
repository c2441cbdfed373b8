//! MODE for users and channels: flags, key, limit, lists with masks, op/voice, and their
//! errors.

mod common;

use charla_proto::numeric::*;
use common::{TestClient, TestServer};

/// `op` creates `channel` (and is its operator); each of `others` joins it.
async fn channel_with(
    server: &TestServer,
    channel: &str,
    others: &[&str],
) -> (TestClient, Vec<TestClient>) {
    let mut op = server.client("op").await;
    op.send(&format!("JOIN {channel}")).await;
    op.expect_numeric(RPL_ENDOFNAMES).await;
    let mut joined = Vec::new();
    for nick in others {
        let mut c = server.client(nick).await;
        c.send(&format!("JOIN {channel}")).await;
        c.expect_numeric(RPL_ENDOFNAMES).await;
        joined.push(c);
    }
    op.sync().await;
    (op, joined)
}

#[tokio::test]
async fn user_modes() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    alice.send("MODE alice").await;
    assert_eq!(alice.expect_numeric(RPL_UMODEIS).await.param(1), Some("+"));
    alice.send("MODE alice +iw").await;
    let m = alice.expect_command("MODE").await;
    assert_eq!(m.params, vec!["alice", "+iw"]);
    // +o cannot be set by MODE.
    alice.send("MODE alice +o").await;
    alice.send("MODE alice").await;
    assert_eq!(
        alice.expect_numeric(RPL_UMODEIS).await.param(1),
        Some("+iw")
    );
    alice.send("MODE alice -w+x").await;
    alice.expect_numeric(ERR_UMODEUNKNOWNFLAG).await;
    let _bob = server.client("bob").await;
    alice.send("MODE bob +i").await;
    alice.expect_numeric(ERR_USERSDONTMATCH).await;
    alice.send("MODE nobody +i").await;
    alice.expect_numeric(ERR_NOSUCHNICK).await;
}

#[tokio::test]
async fn channel_mode_query_and_defaults() {
    let server = TestServer::start().await;
    let (mut op, _) = channel_with(&server, "#m", &[]).await;
    op.send("MODE #m").await;
    let m = op.expect_numeric(RPL_CHANNELMODEIS).await;
    assert_eq!(m.params, vec!["op", "#m", "+nt"]);
    op.expect_numeric(RPL_CREATIONTIME).await;
    op.send("MODE #nope").await;
    op.expect_numeric(ERR_NOSUCHCHANNEL).await;
}

#[tokio::test]
async fn flags_are_announced_to_members_and_need_op() {
    let server = TestServer::start().await;
    let (mut op, mut others) = channel_with(&server, "#f", &["bob"]).await;
    let bob = &mut others[0];
    op.send("MODE #f +ims-t").await;
    let m = bob.expect_command("MODE").await;
    assert_eq!(m.source.as_deref(), Some("op!~op@127.0.0.1"));
    assert_eq!(m.params, vec!["#f", "+ims-t"]);
    bob.send("MODE #f -m").await;
    bob.expect_numeric(ERR_CHANOPRIVSNEEDED).await;
    op.send("MODE #f +z").await;
    assert_eq!(op.expect_numeric(ERR_UNKNOWNMODE).await.param(1), Some("z"));
}

#[tokio::test]
async fn key_and_limit() {
    let server = TestServer::start().await;
    let (mut op, _) = channel_with(&server, "#k", &[]).await;
    op.send("MODE #k +kl clave 2").await;
    let m = op.expect_command("MODE").await;
    assert_eq!(m.params, vec!["#k", "+kl", "clave", "2"]);

    let mut bob = server.client("bob").await;
    bob.send("JOIN #k").await;
    assert_eq!(
        bob.expect_numeric(ERR_BADCHANNELKEY).await.param(1),
        Some("#k")
    );
    bob.send("JOIN #k wrong").await;
    bob.expect_numeric(ERR_BADCHANNELKEY).await;
    bob.send("JOIN #k clave").await;
    bob.expect_command("JOIN").await;

    let mut carol = server.client("carol").await;
    carol.send("JOIN #k clave").await;
    carol.expect_numeric(ERR_CHANNELISFULL).await;

    // Outsiders do not see the key.
    carol.send("MODE #k").await;
    let m = carol.expect_numeric(RPL_CHANNELMODEIS).await;
    assert_eq!(m.params, vec!["carol", "#k", "+ntkl", "*", "2"]);

    op.send("MODE #k -kl *").await;
    let m = op.expect_command("MODE").await;
    assert_eq!(m.params, vec!["#k", "-kl", "*"]);
    carol.send("JOIN #k").await;
    carol.expect_command("JOIN").await;
    op.send("MODE #k +l notanumber").await;
    op.expect_numeric(ERR_INVALIDMODEPARAM).await;
    // An empty limit: the reply still ends with its description.
    op.send("MODE #k +l :").await;
    let m = op.expect_numeric(ERR_INVALIDMODEPARAM).await;
    assert_eq!(m.params[1..], ["#k", "l", "*", "Invalid mode parameter"]);
}

#[tokio::test]
async fn invite_only_with_invite_and_invex() {
    let server = TestServer::start().await;
    let (mut op, _) = channel_with(&server, "#i", &[]).await;
    op.send("MODE #i +i").await;
    op.expect_command("MODE").await;
    let mut bob = server.client("bob").await;
    bob.send("JOIN #i").await;
    bob.expect_numeric(ERR_INVITEONLYCHAN).await;

    op.send("INVITE bob #i").await;
    let inviting = op.expect_numeric(RPL_INVITING).await;
    assert_eq!(inviting.params, vec!["op", "bob", "#i"]);
    let inv = bob.expect_command("INVITE").await;
    assert_eq!(inv.params, vec!["bob", "#i"]);
    bob.send("JOIN #i").await;
    bob.expect_command("JOIN").await;

    op.send("MODE #i +I carol!*@*").await;
    op.expect_command("MODE").await;
    let mut carol = server.client("carol").await;
    carol.send("JOIN #i").await;
    carol.expect_command("JOIN").await;
    op.send("MODE #i I").await;
    let entry = op.expect_numeric(RPL_INVEXLIST).await;
    assert_eq!(entry.param(2), Some("carol!*@*"));
    op.expect_numeric(RPL_ENDOFINVEXLIST).await;
}

#[tokio::test]
async fn bans_and_exceptions_with_wildcards() {
    let server = TestServer::start().await;
    let (mut op, _) = channel_with(&server, "#b", &[]).await;
    op.send("MODE #b +b *!*@127.0.0.*").await;
    let m = op.expect_command("MODE").await;
    assert_eq!(m.params, vec!["#b", "+b", "*!*@127.0.0.*"]);
    op.send("MODE #b +b bob").await;
    // A partial mask is completed.
    assert_eq!(op.expect_command("MODE").await.param(2), Some("bob!*@*"));

    let mut bob = server.client("bob").await;
    bob.send("JOIN #b").await;
    bob.expect_numeric(ERR_BANNEDFROMCHAN).await;

    op.send("MODE #b +e BOB!*@*").await;
    op.expect_command("MODE").await;
    bob.send("JOIN #b").await;
    bob.expect_command("JOIN").await;

    op.send("MODE #b +b").await;
    let first = op.expect_numeric(RPL_BANLIST).await;
    assert_eq!(first.param(2), Some("*!*@127.0.0.*"));
    assert_eq!(first.param(3), Some("op"));
    op.expect_numeric(RPL_BANLIST).await;
    op.expect_numeric(RPL_ENDOFBANLIST).await;
    op.send("MODE #b e").await;
    op.expect_numeric(RPL_EXCEPTLIST).await;
    op.expect_numeric(RPL_ENDOFEXCEPTLIST).await;

    // A banned member (no exception) cannot speak.
    op.send("MODE #b -e bob!*@*").await;
    op.expect_command("MODE").await;
    bob.send("PRIVMSG #b :hola").await;
    bob.expect_numeric(ERR_CANNOTSENDTOCHAN).await;
}

#[tokio::test]
async fn a_ban_is_not_dodged_by_a_nick_change() {
    let server = TestServer::start().await;
    let (mut op, mut others) = channel_with(&server, "#c", &["bad", "fine"]).await;
    op.send("MODE #c +b bad!*@*").await;
    op.expect_command("MODE").await;
    let bad = &mut others[0];
    bad.expect_command("MODE").await;
    bad.send("NICK good").await;
    let refused = bad.expect_numeric(ERR_BANNICKCHANGE).await;
    assert_eq!(refused.param(1), Some("#c"));
    bad.send("PRIVMSG #c :still me").await;
    bad.expect_numeric(ERR_CANNOTSENDTOCHAN).await;

    // Nor may a member take a nick that is banned where they are.
    let fine = &mut others[1];
    fine.sync().await;
    fine.send("NICK bad2").await;
    fine.sync().await;
    op.send("MODE #c +b evil*!*@*").await;
    op.expect_command("MODE").await;
    fine.send("NICK evil").await;
    fine.expect_numeric(ERR_BANNICKCHANGE).await;

    // Voiced members speak whatever their nick, so they may change it.
    op.send("MODE #c +v bad").await;
    op.expect_command("MODE").await;
    let bad = &mut others[0];
    bad.sync().await;
    bad.send("NICK good").await;
    assert_eq!(bad.expect_command("NICK").await.param(0), Some("good"));
}

#[tokio::test]
async fn an_over_long_ban_mask_is_refused_with_its_numeric() {
    let server = TestServer::start().await;
    let (mut op, _) = channel_with(&server, "#long", &[]).await;
    let mask = format!("*{}b!*@*", "a".repeat(200));
    op.send(&format!("MODE #long +b {mask}")).await;
    let m = op.expect_numeric(ERR_INVALIDMODEPARAM).await;
    assert_eq!(m.param(2), Some("b"));
    op.send("MODE #long +b").await;
    op.expect_numeric(RPL_ENDOFBANLIST).await;
}

#[tokio::test]
async fn ban_list_is_bounded() {
    let mut config = TestServer::test_config();
    config.limits.max_list_entries = 2;
    let server = TestServer::start_with(config).await;
    let (mut op, _) = channel_with(&server, "#full", &[]).await;
    op.send("MODE #full +bbb a b c").await;
    op.expect_numeric(ERR_BANLISTFULL).await;
}

#[tokio::test]
async fn op_and_voice_and_moderation() {
    let server = TestServer::start().await;
    let (mut op, mut others) = channel_with(&server, "#mod", &["bob", "carol"]).await;
    let mut carol = others.pop().expect("carol");
    let mut bob = others.pop().expect("bob");
    op.send("MODE #mod +m").await;
    op.expect_command("MODE").await;
    bob.sync().await;
    bob.send("PRIVMSG #mod :¿me oyen?").await;
    bob.expect_numeric(ERR_CANNOTSENDTOCHAN).await;

    op.send("MODE #mod +v bob").await;
    let m = carol
        .expect(&"MODE +v", |m| {
            m.command == "MODE" && m.param(1) == Some("+v")
        })
        .await;
    assert_eq!(m.params, vec!["#mod", "+v", "bob"]);
    bob.send("PRIVMSG #mod :ahora sí").await;
    assert_eq!(
        carol.expect_command("PRIVMSG").await.param(1),
        Some("ahora sí")
    );

    op.send("MODE #mod +o carol").await;
    carol
        .expect(&"MODE +o", |m| {
            m.command == "MODE" && m.param(1) == Some("+o")
        })
        .await;
    carol.send("NAMES #mod").await;
    let names = carol.expect_numeric(RPL_NAMREPLY).await;
    assert_eq!(names.param(3), Some("@op +bob @carol"));

    op.send("MODE #mod +o nobody").await;
    op.expect_numeric(ERR_NOSUCHNICK).await;
    let _dave = server.client("dave").await;
    op.send("MODE #mod +v dave").await;
    op.expect_numeric(ERR_USERNOTINCHANNEL).await;
}

#[tokio::test]
async fn multi_prefix_shows_every_prefix() {
    let server = TestServer::start().await;
    let (mut op, _) = channel_with(&server, "#mp", &[]).await;
    op.send("MODE #mp +v op").await;
    op.expect_command("MODE").await;
    let mut bob = server.connect().await;
    bob.register_with_caps("bob", "multi-prefix").await;
    bob.send("NAMES #mp").await;
    assert_eq!(
        bob.expect_numeric(RPL_NAMREPLY).await.param(3),
        Some("@+op")
    );
    op.send("NAMES #mp").await;
    assert_eq!(op.expect_numeric(RPL_NAMREPLY).await.param(3), Some("@op"));
}

#[tokio::test]
async fn no_external_can_be_turned_off() {
    let server = TestServer::start().await;
    let (mut op, _) = channel_with(&server, "#open", &[]).await;
    op.send("MODE #open -n").await;
    op.expect_command("MODE").await;
    let mut bob = server.client("bob").await;
    bob.send("PRIVMSG #open :desde fuera").await;
    assert_eq!(
        op.expect_command("PRIVMSG").await.param(1),
        Some("desde fuera")
    );
    // With echo-message, a sender from outside gets its copy too (it is no member, where
    // echoes go out), with history on and off.
    for history in [true, false] {
        let mut config = TestServer::test_config();
        config.history.enabled = history;
        let server = TestServer::start_with(config).await;
        let (mut op, _) = channel_with(&server, "#open", &[]).await;
        op.send("MODE #open -n").await;
        op.expect_command("MODE").await;
        let mut eco = server.connect().await;
        eco.register_with_caps("eco", "echo-message").await;
        eco.send("PRIVMSG #open :¿me devuelves la copia?").await;
        let echo = eco.expect_command("PRIVMSG").await;
        assert_eq!(echo.param(0), Some("#open"));
        assert_eq!(echo.param(1), Some("¿me devuelves la copia?"));
    }
}

#[tokio::test]
async fn secret_channels_are_hidden_from_outsiders() {
    let server = TestServer::start().await;
    let (mut op, _) = channel_with(&server, "#secreto", &[]).await;
    op.send("MODE #secreto +s").await;
    op.expect_command("MODE").await;
    let mut bob = server.client("bob").await;
    bob.send("LIST").await;
    bob.expect_numeric(RPL_LISTSTART).await;
    let rest = bob.sync().await;
    assert!(rest.iter().all(|m| m.command != "322"), "{rest:?}");
    bob.send("NAMES #secreto").await;
    let rest = bob.sync().await;
    assert!(rest.iter().all(|m| m.command != "353"), "{rest:?}");
    op.send("LIST").await;
    let row = op.expect_numeric(RPL_LIST).await;
    assert_eq!(row.param(1), Some("#secreto"));
}

#[tokio::test]
async fn repeated_list_queries_and_unknown_letters_are_answered_once() {
    let server = TestServer::start().await;
    let (mut op, _) = channel_with(&server, "#rep", &[]).await;
    op.send(&format!("MODE #rep {}", "b".repeat(200))).await;
    op.send(&format!("MODE #rep +{}", "z".repeat(200))).await;
    let lines = op.sync().await;
    let ends = lines.iter().filter(|m| m.command == "368").count();
    let unknown = lines.iter().filter(|m| m.command == "472").count();
    assert_eq!((ends, unknown), (1, 1), "{lines:?}");
}
