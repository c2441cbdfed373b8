//! Queries and channel management: TOPIC, LIST, INVITE, KICK, WHO, WHOIS, WHOWAS, AWAY, ISON,
//! USERHOST, VERSION, TIME, MOTD, LUSERS.

mod common;

use charla_proto::numeric::*;
use common::TestServer;

#[tokio::test]
async fn topic_set_query_and_lock() {
    let server = TestServer::start().await;
    let mut op = server.client("op").await;
    let mut bob = server.client("bob").await;
    op.send("JOIN #t").await;
    op.expect_numeric(RPL_ENDOFNAMES).await;
    op.send("TOPIC #t").await;
    op.expect_numeric(RPL_NOTOPIC).await;
    op.send("TOPIC #t :Charla en español 🎉").await;
    let t = op.expect_command("TOPIC").await;
    assert_eq!(t.params, vec!["#t", "Charla en español 🎉"]);

    bob.send("JOIN #t").await;
    assert_eq!(
        bob.expect_numeric(RPL_TOPIC).await.param(2),
        Some("Charla en español 🎉")
    );
    let who = bob.expect_numeric(RPL_TOPICWHOTIME).await;
    assert_eq!(who.param(2), Some("op"));
    bob.send("TOPIC #t :mine").await;
    bob.expect_numeric(ERR_CHANOPRIVSNEEDED).await;
    let mut carol = server.client("carol").await;
    carol.send("TOPIC #t :outsider").await;
    carol.expect_numeric(ERR_NOTONCHANNEL).await;
    carol.send("TOPIC #none").await;
    carol.expect_numeric(ERR_NOSUCHCHANNEL).await;
    op.send("TOPIC #t :").await;
    assert_eq!(bob.expect_command("TOPIC").await.param(1), Some(""));
}

#[tokio::test]
async fn list_shows_channels_with_counts_and_topics() {
    let server = TestServer::start().await;
    let mut a = server.client("a").await;
    a.send("JOIN #uno,#dos").await;
    a.expect_numeric(RPL_ENDOFNAMES).await;
    a.expect_numeric(RPL_ENDOFNAMES).await;
    a.send("TOPIC #uno :primero").await;
    a.send("LIST").await;
    a.expect_numeric(RPL_LISTSTART).await;
    let first = a.expect_numeric(RPL_LIST).await;
    assert_eq!(first.params, vec!["a", "#dos", "1", ""]);
    let second = a.expect_numeric(RPL_LIST).await;
    assert_eq!(second.params, vec!["a", "#uno", "1", "primero"]);
    a.expect_numeric(RPL_LISTEND).await;
    a.send("LIST #uno").await;
    a.expect_numeric(RPL_LISTSTART).await;
    assert_eq!(a.expect_numeric(RPL_LIST).await.param(1), Some("#uno"));
}

#[tokio::test]
async fn invite_errors() {
    let server = TestServer::start().await;
    let mut op = server.client("op").await;
    let mut bob = server.client("bob").await;
    op.send("JOIN #inv").await;
    op.expect_numeric(RPL_ENDOFNAMES).await;
    op.send("INVITE nobody #inv").await;
    op.expect_numeric(ERR_NOSUCHNICK).await;
    op.send("INVITE bob #none").await;
    op.expect_numeric(ERR_NOSUCHCHANNEL).await;
    op.send("INVITE op #inv").await;
    op.expect_numeric(ERR_USERONCHANNEL).await;
    bob.send("INVITE op #inv").await;
    bob.expect_numeric(ERR_NOTONCHANNEL).await;
    op.send("INVITE bob").await;
    op.expect_numeric(ERR_NEEDMOREPARAMS).await;
}

#[tokio::test]
async fn kick_removes_and_tells_everyone() {
    let server = TestServer::start().await;
    let mut op = server.client("op").await;
    let mut bob = server.client("bob").await;
    let mut carol = server.client("carol").await;
    for c in [&mut op, &mut bob, &mut carol] {
        c.send("JOIN #k").await;
        c.expect_numeric(RPL_ENDOFNAMES).await;
    }
    carol.sync().await;
    op.send("KICK #k bob :fuera").await;
    for c in [&mut bob, &mut carol] {
        let k = c.expect_command("KICK").await;
        assert_eq!(k.params, vec!["#k", "bob", "fuera"]);
    }
    bob.send("PRIVMSG #k :still here?").await;
    bob.expect_numeric(ERR_CANNOTSENDTOCHAN).await;
    carol.send("KICK #k op").await;
    carol.expect_numeric(ERR_CHANOPRIVSNEEDED).await;
    bob.send("KICK #k carol").await;
    bob.expect_numeric(ERR_NOTONCHANNEL).await;
    op.send("KICK #k bob").await;
    op.expect_numeric(ERR_USERNOTINCHANNEL).await;
    op.send("KICK #k nobody").await;
    op.expect_numeric(ERR_NOSUCHNICK).await;
    op.send("KICK #none bob").await;
    op.expect_numeric(ERR_NOSUCHCHANNEL).await;
    // The default reason is the kicker's nick.
    op.send("KICK #k carol").await;
    assert_eq!(carol.expect_command("KICK").await.param(2), Some("op"));
}

#[tokio::test]
async fn kick_pairs_channels_with_nicks() {
    let server = TestServer::start().await;
    let mut op = server.client("op").await;
    let mut bob = server.client("bob").await;
    let mut carol = server.client("carol").await;
    for ch in ["#a", "#b"] {
        for c in [&mut op, &mut bob, &mut carol] {
            c.send(&format!("JOIN {ch}")).await;
            c.expect_numeric(RPL_ENDOFNAMES).await;
        }
    }
    op.sync().await;
    bob.sync().await;
    // RFC 2812: as many channels as nicks, paired in order.
    op.send("KICK #a,#b bob,carol :reason").await;
    let k = bob.expect_command("KICK").await;
    assert_eq!(k.params, vec!["#a", "bob", "reason"]);
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(op.expect_command("KICK").await.params);
    }
    assert_eq!(
        seen,
        vec![vec!["#a", "bob", "reason"], vec!["#b", "carol", "reason"]]
    );
    // Neither one channel nor one per nick.
    op.send("KICK #a,#b bob").await;
    op.expect_numeric(ERR_NEEDMOREPARAMS).await;
}

#[tokio::test]
async fn who_channel_and_mask() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    alice.send("JOIN #w").await;
    alice.expect_numeric(RPL_ENDOFNAMES).await;
    bob.send("JOIN #w").await;
    bob.expect_numeric(RPL_ENDOFNAMES).await;
    bob.send("AWAY :comiendo").await;
    bob.expect_numeric(RPL_NOWAWAY).await;
    alice.send("WHO #w").await;
    let a = alice.expect_numeric(RPL_WHOREPLY).await;
    assert_eq!(
        a.params,
        vec![
            "alice",
            "#w",
            "~alice",
            "127.0.0.1",
            "irc.test",
            "alice",
            "H@",
            "0 Test alice"
        ]
    );
    let b = alice.expect_numeric(RPL_WHOREPLY).await;
    assert_eq!(b.param(6), Some("G"));
    assert_eq!(
        alice.expect_numeric(RPL_ENDOFWHO).await.param(1),
        Some("#w")
    );

    alice.send("WHO b*").await;
    let b = alice.expect_numeric(RPL_WHOREPLY).await;
    assert_eq!(b.param(1), Some("*"));
    assert_eq!(b.param(5), Some("bob"));
    alice.expect_numeric(RPL_ENDOFWHO).await;
}

#[tokio::test]
async fn who_masks_with_many_stars_match_right_and_over_long_ones_match_no_one() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut long = server.connect().await;
    long.nick = "largo".to_owned();
    let realname = format!("{}b", "a".repeat(300));
    long.send("NICK largo").await;
    long.send(&format!("USER largo 0 * :{realname}")).await;
    long.expect_numeric(RPL_WELCOME).await;
    // The worst glob a user may write (127 characters) against a 301-character real name.
    let worst = format!("*{}b", "a".repeat(126));
    alice.send(&format!("WHO {worst}")).await;
    assert_eq!(
        alice.expect_numeric(RPL_WHOREPLY).await.param(5),
        Some("largo")
    );
    alice.expect_numeric(RPL_ENDOFWHO).await;
    let miss = format!("*{}c", "a".repeat(126));
    alice.send(&format!("WHO {miss}")).await;
    alice.expect_numeric(RPL_ENDOFWHO).await;
    // Longer than masks may be: no one, at once.
    alice.send(&format!("WHO *{}", "a".repeat(200))).await;
    alice.expect_numeric(RPL_ENDOFWHO).await;
    alice.send("WHO *a*a*a*a*a*a*a*a*a*a*a*a*a*b").await;
    assert_eq!(
        alice.expect_numeric(RPL_WHOREPLY).await.param(5),
        Some("largo")
    );
    alice.expect_numeric(RPL_ENDOFWHO).await;
}

#[tokio::test]
async fn invisible_users_are_hidden_from_strangers() {
    let server = TestServer::start().await;
    let mut ghost = server.client("ghost").await;
    ghost.send("MODE ghost +i").await;
    ghost.expect_command("MODE").await;
    let mut other = server.client("other").await;
    other.send("WHO gh*").await;
    let lines = other.sync().await;
    assert!(lines.iter().all(|m| m.command != "352"), "{lines:?}");
    // +i hides from masks, not from someone who knows the exact nick.
    other.send("WHO GHOST").await;
    assert_eq!(
        other.expect_numeric(RPL_WHOREPLY).await.param(5),
        Some("ghost")
    );
    other.expect_numeric(RPL_ENDOFWHO).await;
}

#[tokio::test]
async fn whois_tells_the_story() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    bob.send("JOIN #w").await;
    bob.expect_numeric(RPL_ENDOFNAMES).await;
    bob.send("AWAY :fuera").await;
    bob.expect_numeric(RPL_NOWAWAY).await;
    alice.send("WHOIS BOB").await;
    let u = alice.expect_numeric(RPL_WHOISUSER).await;
    assert_eq!(
        u.params,
        vec!["alice", "bob", "~bob", "127.0.0.1", "*", "Test bob"]
    );
    assert_eq!(
        alice.expect_numeric(RPL_WHOISCHANNELS).await.param(2),
        Some("@#w")
    );
    assert_eq!(
        alice.expect_numeric(RPL_WHOISSERVER).await.param(2),
        Some("irc.test")
    );
    assert_eq!(alice.expect_numeric(RPL_AWAY).await.param(2), Some("fuera"));
    alice.expect_numeric(RPL_WHOISIDLE).await;
    alice.expect_numeric(RPL_ENDOFWHOIS).await;

    alice.send("WHOIS nobody").await;
    alice.expect_numeric(ERR_NOSUCHNICK).await;
    alice.expect_numeric(RPL_ENDOFWHOIS).await;
    alice.send("WHOIS").await;
    alice.expect_numeric(ERR_NONICKNAMEGIVEN).await;
}

#[tokio::test]
async fn whowas_remembers_who_left() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    bob.send("QUIT").await;
    bob.expect_closed().await;
    alice.send("WHOWAS bob").await;
    let w = alice.expect_numeric(RPL_WHOWASUSER).await;
    assert_eq!(
        w.params,
        vec!["alice", "bob", "~bob", "127.0.0.1", "*", "Test bob"]
    );
    alice.expect_numeric(RPL_ENDOFWHOWAS).await;
    // A nick change is remembered too.
    alice.send("NICK alicia").await;
    alice.expect_command("NICK").await;
    alice.send("WHOWAS alice").await;
    assert_eq!(
        alice.expect_numeric(RPL_WHOWASUSER).await.param(1),
        Some("alice")
    );
    alice.expect_numeric(RPL_ENDOFWHOWAS).await;
    alice.send("WHOWAS never").await;
    alice.expect_numeric(ERR_WASNOSUCHNICK).await;
    alice.expect_numeric(RPL_ENDOFWHOWAS).await;
}

#[tokio::test]
async fn away_and_private_messages() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    bob.send("AWAY :de vacaciones").await;
    bob.expect_numeric(RPL_NOWAWAY).await;
    alice.send("PRIVMSG bob :¿estás?").await;
    let away = alice.expect_numeric(RPL_AWAY).await;
    assert_eq!(away.params, vec!["alice", "bob", "de vacaciones"]);
    bob.expect_command("PRIVMSG").await;
    bob.send("AWAY").await;
    bob.expect_numeric(RPL_UNAWAY).await;
}

#[tokio::test]
async fn ison_and_userhost() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let _bob = server.client("bob").await;
    alice.send("ISON bob carol ALICE").await;
    assert_eq!(
        alice.expect_numeric(RPL_ISON).await.param(1),
        Some("bob alice")
    );
    alice.send("USERHOST bob nobody").await;
    assert_eq!(
        alice.expect_numeric(RPL_USERHOST).await.param(1),
        Some("bob=+~bob@127.0.0.1")
    );
    alice.send("ISON").await;
    alice.expect_numeric(ERR_NEEDMOREPARAMS).await;
}

#[tokio::test]
async fn server_information() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    alice.send("VERSION").await;
    let v = alice.expect_numeric(RPL_VERSION).await;
    assert!(v.param(1).unwrap_or("").starts_with("charla-"));
    alice.expect_numeric(RPL_ISUPPORT).await;
    alice.send("TIME").await;
    assert_eq!(
        alice.expect_numeric(RPL_TIME).await.param(1),
        Some("irc.test")
    );
    alice.send("INFO").await;
    let first = alice.expect_numeric(RPL_INFO).await;
    assert!(first.param(1).unwrap_or("").starts_with("charla-"));
    alice.expect_numeric(RPL_ENDOFINFO).await;
    alice.send("MOTD").await;
    alice.expect_numeric(RPL_MOTDSTART).await;
    alice.expect_numeric(RPL_ENDOFMOTD).await;
    let _bob = server.client("bob").await;
    alice.send("LUSERS").await;
    let l = alice.expect_numeric(RPL_LUSERCLIENT).await;
    assert_eq!(
        l.param(1),
        Some("There are 2 users and 0 invisible on 1 servers")
    );
    alice.expect_numeric(RPL_LUSERME).await;
}

#[tokio::test]
async fn no_motd_gets_nomotd() {
    let mut config = TestServer::test_config();
    config.motd = None;
    let server = TestServer::start_with(config).await;
    let mut c = server.connect().await;
    c.send("NICK alice").await;
    c.send("USER a 0 * :A").await;
    c.expect_numeric(ERR_NOMOTD).await;
}

#[tokio::test]
async fn nick_change_is_seen_by_peers_and_case_changes_are_allowed() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut bob = server.client("bob").await;
    alice.send("JOIN #n").await;
    alice.expect_numeric(RPL_ENDOFNAMES).await;
    bob.send("JOIN #n").await;
    bob.expect_numeric(RPL_ENDOFNAMES).await;
    alice.send("NICK Alicia").await;
    let n = bob.expect_command("NICK").await;
    assert_eq!(n.source_nick(), Some("alice"));
    assert_eq!(n.param(0), Some("Alicia"));
    alice.expect_command("NICK").await;
    alice.send("NICK ALICIA").await;
    assert_eq!(bob.expect_command("NICK").await.param(0), Some("ALICIA"));
    bob.send("NICK alicia").await;
    bob.expect_numeric(ERR_NICKNAMEINUSE).await;
    // The old nick is free again.
    let mut other = server.client("alice").await;
    other.send("PRIVMSG ALICIA :hola").await;
    assert_eq!(
        alice.expect_command("PRIVMSG").await.source_nick(),
        Some("alice")
    );
}

#[tokio::test]
async fn lusers_counts_follow_modes_and_quits() {
    let server = TestServer::start().await;
    let mut alice = server.client("alice").await;
    let mut ghost = server.client("ghost").await;
    ghost.send("MODE ghost +i").await;
    ghost.expect_command("MODE").await;
    let _unregistered = server.connect().await;
    alice.sync().await;
    alice.send("LUSERS").await;
    let l = alice.expect_numeric(RPL_LUSERCLIENT).await;
    assert_eq!(
        l.param(1),
        Some("There are 1 users and 1 invisible on 1 servers")
    );
    assert_eq!(alice.expect_numeric(RPL_LUSEROP).await.param(1), Some("0"));
    assert_eq!(
        alice.expect_numeric(RPL_LUSERUNKNOWN).await.param(1),
        Some("1")
    );
    ghost.send("QUIT").await;
    ghost.expect_closed().await;
    alice.send("LUSERS").await;
    let l = alice.expect_numeric(RPL_LUSERCLIENT).await;
    assert_eq!(
        l.param(1),
        Some("There are 1 users and 0 invisible on 1 servers")
    );
    // The maximum is the most since the start: two, though one is left.
    let local = alice.expect_numeric(RPL_LOCALUSERS).await;
    assert_eq!(
        local.params[1..],
        ["1", "2", "Current local users 1, max 2"]
    );
    let global = alice.expect_numeric(RPL_GLOBALUSERS).await;
    assert_eq!(
        global.params[1..],
        ["1", "2", "Current global users 1, max 2"]
    );
}
