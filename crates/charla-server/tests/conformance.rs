//! Conformance with modern.ircdocs.horse and ircv3.net for the less common commands and modes:
//! HELP/HELPOP, LINKS, NAMES of several channels, INVITE lists and what an invitation
//! overrides, LIST's ELIST conditions, the no-CTCP mode +C and mutes (`+b ~m:<mask>`). One test
//! per behaviour, refusals included.

mod common;

use charla_proto::OwnedMessage;
use charla_proto::numeric::*;
use common::{TestClient, TestServer};

/// Sends `line` and returns every line up to (not including) the PONG of a sync.
async fn ask(c: &mut TestClient, line: &str) -> Vec<OwnedMessage> {
    c.send(line).await;
    c.sync().await
}

/// The numerics (as three-digit strings) of `lines`.
fn codes(lines: &[OwnedMessage]) -> Vec<&str> {
    lines.iter().map(|m| m.command.as_str()).collect()
}

/// A registered client that joined `channel` (and read its NAMES).
async fn joined(server: &TestServer, nick: &str, channel: &str) -> TestClient {
    let mut c = server.client(nick).await;
    c.send(&format!("JOIN {channel}")).await;
    c.expect_numeric(RPL_ENDOFNAMES).await;
    c
}

#[tokio::test]
async fn help_alone_gives_the_index_naming_every_topic() {
    let server = TestServer::start().await;
    let mut c = server.client("ana").await;
    let lines = ask(&mut c, "HELP").await;
    assert_eq!(lines.first().map(|m| m.command.as_str()), Some("704"));
    assert_eq!(lines.last().map(|m| m.command.as_str()), Some("706"));
    assert!(lines.iter().all(|m| m.param(1) == Some("*")), "{lines:?}");
    let text: Vec<&str> = lines
        .iter()
        .filter_map(|m| m.params.last().map(String::as_str))
        .collect();
    let all = text.join(" ");
    for topic in ["JOIN", "PRIVMSG", "HELP", "LINKS", "CMODES", "WHOWAS"] {
        assert!(all.split(' ').any(|w| w == topic), "{topic} missing: {all}");
    }
}

#[tokio::test]
async fn help_on_a_command_starts_goes_on_and_ends() {
    let server = TestServer::start().await;
    let mut c = server.client("ana").await;
    let lines = ask(&mut c, "HELP join").await;
    let numerics = codes(&lines);
    assert_eq!(numerics.first(), Some(&"704"));
    assert_eq!(numerics.last(), Some(&"706"));
    assert!(numerics[1..numerics.len() - 1].iter().all(|n| *n == "705"));
    assert!(lines.iter().all(|m| m.param(1) == Some("JOIN")));
    assert!(
        lines[0]
            .param(2)
            .is_some_and(|t| t.starts_with("JOIN <#channel>"))
    );
}

#[tokio::test]
async fn helpop_is_help() {
    let server = TestServer::start().await;
    let mut c = server.client("ana").await;
    let help = ask(&mut c, "HELP PRIVMSG").await;
    let helpop = ask(&mut c, "HELPOP privmsg").await;
    assert_eq!(
        help.iter().map(|m| &m.params).collect::<Vec<_>>(),
        helpop.iter().map(|m| &m.params).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn help_on_an_unknown_topic_is_help_not_found() {
    let server = TestServer::start().await;
    let mut c = server.client("ana").await;
    let lines = ask(&mut c, "HELP frobnicate").await;
    assert_eq!(codes(&lines), ["524"]);
    assert_eq!(lines[0].param(1), Some("frobnicate"));
    // A subject too long to echo is shown as `*`.
    let lines = ask(&mut c, &format!("HELP {}", "x".repeat(200))).await;
    assert_eq!(codes(&lines), ["524"]);
    assert_eq!(lines[0].param(1), Some("*"));
}

#[tokio::test]
async fn links_lists_this_server_only() {
    let server = TestServer::start().await;
    let mut c = server.client("ana").await;
    let lines = ask(&mut c, "LINKS").await;
    assert_eq!(codes(&lines), ["364", "365"]);
    assert_eq!(lines[0].param(2), Some("irc.test"));
    assert!(lines[0].param(3).is_some_and(|t| t.starts_with("0 ")));
    let lines = ask(&mut c, "LINKS *.test").await;
    assert_eq!(codes(&lines), ["364", "365"]);
}

#[tokio::test]
async fn links_with_a_mask_matching_nothing_or_an_unknown_server() {
    let server = TestServer::start().await;
    let mut c = server.client("ana").await;
    let lines = ask(&mut c, "LINKS *.elsewhere").await;
    assert_eq!(codes(&lines), ["365"]);
    assert_eq!(lines[0].param(1), Some("*.elsewhere"));
    let lines = ask(&mut c, "LINKS other.server *").await;
    assert_eq!(codes(&lines), ["402"]);
}

#[tokio::test]
async fn names_of_several_channels_answers_each_in_order() {
    let server = TestServer::start().await;
    let _ana = joined(&server, "ana", "#uno").await;
    let _bea = joined(&server, "bea", "#dos").await;
    let mut c = server.client("carla").await;
    let lines = ask(&mut c, "NAMES #uno,#nada,#dos").await;
    let shown: Vec<(&str, &str)> = lines
        .iter()
        .map(|m| {
            (
                m.command.as_str(),
                m.params.last().map_or("", String::as_str),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("353", "@ana"),
            ("366", "End of /NAMES list"),
            ("366", "End of /NAMES list"),
            ("353", "@bea"),
            ("366", "End of /NAMES list"),
        ]
    );
    let ends: Vec<&str> = lines
        .iter()
        .filter(|m| m.command == "366")
        .filter_map(|m| m.param(1))
        .collect();
    assert_eq!(ends, ["#uno", "#nada", "#dos"]);
}

#[tokio::test]
async fn names_of_a_secret_channel_from_outside_is_only_its_end() {
    let server = TestServer::start().await;
    let mut ana = joined(&server, "ana", "#oculto").await;
    ask(&mut ana, "MODE #oculto +s").await;
    let _bea = joined(&server, "bea", "#visible").await;
    let mut c = server.client("carla").await;
    let lines = ask(&mut c, "NAMES #oculto,#visible").await;
    assert_eq!(codes(&lines), ["366", "353", "366"]);
    assert_eq!(lines[0].param(1), Some("#oculto"));
}

#[tokio::test]
async fn names_past_its_target_limit_is_too_many_targets() {
    let server = TestServer::start().await;
    let mut c = server.client("ana").await;
    let isupport = ask(&mut c, "VERSION").await;
    assert!(
        isupport
            .iter()
            .flat_map(|m| m.params.iter())
            .any(|t| t.starts_with("TARGMAX=") && t.contains(",NAMES:10,")),
        "TARGMAX NAMES:10 not advertised"
    );
    let many: Vec<String> = (0..12).map(|i| format!("#c{i}")).collect();
    let lines = ask(&mut c, &format!("NAMES {}", many.join(","))).await;
    assert_eq!(lines.iter().filter(|m| m.command == "366").count(), 10);
    let last = lines.last().expect("a reply");
    assert_eq!(last.command, format!("{ERR_TOOMANYTARGETS}"));
    assert_eq!(last.param(1), Some("#c10"));
}

#[tokio::test]
async fn no_ctcp_mode_refuses_ctcp_but_lets_action_through() {
    let server = TestServer::start().await;
    let mut op = joined(&server, "op", "#quiet").await;
    let mut bob = joined(&server, "bob", "#quiet").await;
    op.send("MODE #quiet +C").await;
    assert_eq!(op.expect_command("MODE").await.param(1), Some("+C"));
    bob.expect_command("MODE").await;
    let lines = ask(&mut op, "MODE #quiet").await;
    assert_eq!(lines[0].param(2), Some("+Cnt"));

    let refused = ask(&mut bob, "PRIVMSG #quiet :\u{1}VERSION\u{1}").await;
    assert_eq!(
        codes(&refused),
        [format!("{ERR_CANNOTSENDTOCHAN}").as_str()]
    );
    assert!(refused[0].param(2).is_some_and(|t| t.contains("+C")));
    // A CTCP reply by NOTICE is dropped without an answer; an operator is refused too.
    bob.send("NOTICE #quiet :\u{1}PING 1\u{1}").await;
    bob.expect_nothing().await;
    let refused = ask(&mut op, "PRIVMSG #quiet :\u{1}CLIENTINFO\u{1}").await;
    assert_eq!(
        codes(&refused),
        [format!("{ERR_CANNOTSENDTOCHAN}").as_str()]
    );

    bob.send("PRIVMSG #quiet :\u{1}ACTION waves\u{1}").await;
    let seen = op.expect_command("PRIVMSG").await;
    assert_eq!(seen.param(1), Some("\u{1}ACTION waves\u{1}"));
    bob.send("PRIVMSG #quiet :plain words").await;
    assert_eq!(
        op.expect_command("PRIVMSG").await.param(1),
        Some("plain words")
    );
    op.expect_nothing().await;
}

#[tokio::test]
async fn a_muted_user_joins_and_stays_but_cannot_speak() {
    let server = TestServer::start().await;
    let mut op = joined(&server, "op", "#mute").await;
    op.send("MODE #mute +b ~m:bob").await;
    let mode = op.expect_command("MODE").await;
    assert_eq!(mode.params, ["#mute", "+b", "~m:bob!*@*"]);

    let mut bob = server.client("bob").await;
    bob.send("JOIN #mute").await;
    bob.expect_numeric(RPL_ENDOFNAMES).await;
    op.expect_command("JOIN").await;
    let refused = ask(&mut bob, "PRIVMSG #mute :hola").await;
    assert_eq!(
        codes(&refused),
        [format!("{ERR_CANNOTSENDTOCHAN}").as_str()]
    );
    assert!(refused[0].param(2).is_some_and(|t| t.contains("muted")));
    op.expect_nothing().await;

    // Listed and removed like a ban.
    let list = ask(&mut op, "MODE #mute +b").await;
    assert_eq!(codes(&list), ["367", "368"]);
    assert_eq!(list[0].param(2), Some("~m:bob!*@*"));
    op.send("MODE #mute -b ~m:bob!*@*").await;
    assert_eq!(op.expect_command("MODE").await.param(2), Some("~m:bob!*@*"));
    bob.expect_command("MODE").await;
    bob.send("PRIVMSG #mute :por fin").await;
    assert_eq!(op.expect_command("PRIVMSG").await.param(1), Some("por fin"));
}

#[tokio::test]
async fn voice_or_an_exception_lifts_a_mute() {
    let server = TestServer::start().await;
    let mut op = joined(&server, "op", "#mute").await;
    let mut bob = joined(&server, "bob", "#mute").await;
    let mut eva = joined(&server, "eva", "#mute").await;
    ask(&mut op, "MODE #mute +bbe ~m:*!*@* ~m:bob ~m:eva").await;
    // `+e` takes plain masks only.
    let refused = ask(&mut op, "MODE #mute +e ~m:eva").await;
    assert_eq!(
        codes(&refused),
        [format!("{ERR_INVALIDMODEPARAM}").as_str()]
    );
    ask(&mut op, "MODE #mute +e eva").await;
    ask(&mut op, "MODE #mute +v bob").await;
    bob.sync().await;
    eva.sync().await;
    bob.send("PRIVMSG #mute :voiced").await;
    assert_eq!(op.expect_command("PRIVMSG").await.param(1), Some("voiced"));
    eva.send("PRIVMSG #mute :excepted").await;
    assert_eq!(
        op.expect_command("PRIVMSG").await.param(1),
        Some("excepted")
    );
    ask(&mut op, "MODE #mute -v bob").await;
    bob.expect(&"MODE -v", |m| {
        m.command == "MODE" && m.param(1) == Some("-v")
    })
    .await;
    let refused = ask(&mut bob, "PRIVMSG #mute :now?").await;
    assert_eq!(
        codes(&refused),
        [format!("{ERR_CANNOTSENDTOCHAN}").as_str()]
    );
}

#[tokio::test]
async fn an_unknown_extended_ban_is_an_invalid_mode_parameter() {
    let server = TestServer::start().await;
    let mut op = joined(&server, "op", "#x").await;
    let refused = ask(&mut op, "MODE #x +b ~q:bob").await;
    assert_eq!(
        codes(&refused),
        [format!("{ERR_INVALIDMODEPARAM}").as_str()]
    );
    assert_eq!(refused[0].param(3), Some("~q:bob"));
    let list = ask(&mut op, "MODE #x +b").await;
    assert_eq!(codes(&list), ["368"]);
}

#[tokio::test]
async fn isupport_advertises_the_no_ctcp_mode_and_mutes() {
    let server = TestServer::start().await;
    let mut c = server.client("ana").await;
    let lines = ask(&mut c, "VERSION").await;
    let tokens: Vec<&str> = lines
        .iter()
        .filter(|m| m.command == "005")
        .flat_map(|m| m.params.iter().map(String::as_str))
        .collect();
    assert!(tokens.contains(&"CHANMODES=beI,k,l,Cimnst"), "{tokens:?}");
    assert!(tokens.contains(&"EXTBAN=~,m"), "{tokens:?}");
}

#[tokio::test]
async fn invite_alone_lists_the_pending_invitations() {
    let server = TestServer::start().await;
    let mut op = server.client("op").await;
    op.send("JOIN #a,#b").await;
    op.expect_numeric(RPL_ENDOFNAMES).await;
    op.expect_numeric(RPL_ENDOFNAMES).await;
    let mut bob = server.client("bob").await;
    let none = ask(&mut bob, "INVITE").await;
    assert_eq!(codes(&none), ["337"]);

    ask(&mut op, "INVITE bob #a").await;
    ask(&mut op, "INVITE bob #b").await;
    bob.sync().await;
    let lines = ask(&mut bob, "INVITE").await;
    assert_eq!(codes(&lines), ["336", "336", "337"]);
    assert_eq!(lines[0].params, ["bob", "#a"]);
    assert_eq!(lines[1].params, ["bob", "#b"]);

    // Joining uses the invitation up.
    bob.send("JOIN #a").await;
    bob.expect_numeric(RPL_ENDOFNAMES).await;
    let lines = ask(&mut bob, "INVITE").await;
    assert_eq!(codes(&lines), ["336", "337"]);
    assert_eq!(lines[0].param(1), Some("#b"));
}

#[tokio::test]
async fn invite_with_only_a_nick_needs_more_parameters() {
    let server = TestServer::start().await;
    let mut c = server.client("ana").await;
    let lines = ask(&mut c, "INVITE bob").await;
    assert_eq!(codes(&lines), ["461"]);
}

/// `op` creates `channel` with `modes`; bob is refused with `refusal`, then joins once op
/// invites him.
async fn refused_then_let_in_by_invitation(modes: &str, refusal: u16) {
    let server = TestServer::start().await;
    let mut op = joined(&server, "op", "#sala").await;
    ask(&mut op, &format!("MODE #sala {modes}")).await;
    let mut bob = server.client("bob").await;
    let lines = ask(&mut bob, "JOIN #sala").await;
    assert_eq!(codes(&lines), [format!("{refusal}").as_str()], "{modes}");
    ask(&mut op, "INVITE bob #sala").await;
    bob.expect_command("INVITE").await;
    bob.send("JOIN #sala").await;
    assert_eq!(bob.expect_command("JOIN").await.param(0), Some("#sala"));
    bob.expect_numeric(RPL_ENDOFNAMES).await;
}

#[tokio::test]
async fn an_operators_invitation_lets_in_past_invite_only() {
    refused_then_let_in_by_invitation("+i", ERR_INVITEONLYCHAN).await;
}

#[tokio::test]
async fn an_operators_invitation_lets_in_past_the_limit() {
    refused_then_let_in_by_invitation("+l 1", ERR_CHANNELISFULL).await;
}

#[tokio::test]
async fn an_operators_invitation_lets_in_past_the_key() {
    refused_then_let_in_by_invitation("+k sesamo", ERR_BADCHANNELKEY).await;
}

#[tokio::test]
async fn an_operators_invitation_lets_in_past_a_ban() {
    refused_then_let_in_by_invitation("+b bob", ERR_BANNEDFROMCHAN).await;
}

#[tokio::test]
async fn an_invitation_from_a_plain_member_lets_in_past_nothing() {
    let server = TestServer::start().await;
    let mut op = joined(&server, "op", "#sala").await;
    let mut eva = joined(&server, "eva", "#sala").await;
    ask(&mut op, "MODE #sala +kb sesamo carl").await;
    let mut bob = server.client("bob").await;
    let mut carl = server.client("carl").await;
    eva.sync().await;
    // On a -i channel any member may invite: the target is told, and that is all.
    let lines = ask(&mut eva, "INVITE bob #sala").await;
    assert_eq!(codes(&lines), ["341"]);
    ask(&mut eva, "INVITE carl #sala").await;
    bob.expect_command("INVITE").await;
    carl.expect_command("INVITE").await;
    let lines = ask(&mut bob, "JOIN #sala").await;
    assert_eq!(codes(&lines), [format!("{ERR_BADCHANNELKEY}").as_str()]);
    let lines = ask(&mut carl, "JOIN #sala sesamo").await;
    assert_eq!(codes(&lines), [format!("{ERR_BANNEDFROMCHAN}").as_str()]);
    // It is still listed as pending.
    let lines = ask(&mut bob, "INVITE").await;
    assert_eq!(codes(&lines), ["336", "337"]);
}

/// The channels a LIST answers, in order (and checks its start and end). Lines before its
/// start (others' JOINs) are skipped.
async fn listed(c: &mut TestClient, line: &str) -> Vec<String> {
    let mut lines = ask(c, line).await;
    let start = lines.iter().position(|m| m.command == "321");
    lines.drain(..start.expect("321 RPL_LISTSTART"));
    assert_eq!(lines.last().map(|m| m.command.as_str()), Some("323"));
    lines
        .iter()
        .filter(|m| m.command == "322")
        .filter_map(|m| m.param(1).map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn list_by_member_count() {
    let server = TestServer::start().await;
    let mut a = server.client("a").await;
    a.send("JOIN #uno,#dos,#tres").await;
    for _ in 0..3 {
        a.expect_numeric(RPL_ENDOFNAMES).await;
    }
    let mut b = server.client("b").await;
    b.send("JOIN #dos,#tres").await;
    let _c = joined(&server, "c", "#tres").await;
    b.sync().await;
    assert_eq!(listed(&mut a, "LIST >1").await, ["#dos", "#tres"]);
    assert_eq!(listed(&mut a, "LIST <2").await, ["#uno"]);
    assert_eq!(listed(&mut a, "LIST >1,<3").await, ["#dos"]);
    // A count that is not a number is ignored.
    assert_eq!(listed(&mut a, "LIST >x").await, ["#dos", "#tres", "#uno"]);
}

#[tokio::test]
async fn list_by_name_mask_and_not_mask() {
    let server = TestServer::start().await;
    let mut a = server.client("a").await;
    a.send("JOIN #rust,#Rustaceans,#go").await;
    for _ in 0..3 {
        a.expect_numeric(RPL_ENDOFNAMES).await;
    }
    assert_eq!(
        listed(&mut a, "LIST *rust*").await,
        ["#Rustaceans", "#rust"]
    );
    assert_eq!(listed(&mut a, "LIST !*rust*").await, ["#go"]);
    assert_eq!(listed(&mut a, "LIST *rust*,!*ACE*").await, ["#rust"]);
    assert_eq!(listed(&mut a, "LIST #go,#r?st").await, ["#go", "#rust"]);
}

#[tokio::test]
async fn list_by_creation_time() {
    let server = TestServer::start().await;
    let mut a = server.client("a").await;
    a.send("JOIN #nuevo,#reciente").await;
    a.expect_numeric(RPL_ENDOFNAMES).await;
    a.expect_numeric(RPL_ENDOFNAMES).await;
    assert_eq!(listed(&mut a, "LIST C<10").await, ["#nuevo", "#reciente"]);
    assert!(listed(&mut a, "LIST C>10").await.is_empty());
}

#[tokio::test]
async fn list_by_topic_time_leaves_out_channels_without_a_topic() {
    let server = TestServer::start().await;
    let mut a = server.client("a").await;
    a.send("JOIN #con,#sin").await;
    a.expect_numeric(RPL_ENDOFNAMES).await;
    a.expect_numeric(RPL_ENDOFNAMES).await;
    ask(&mut a, "TOPIC #con :hay tema").await;
    assert_eq!(listed(&mut a, "LIST T<10").await, ["#con"]);
    assert!(listed(&mut a, "LIST T>10").await.is_empty());
}

#[tokio::test]
async fn list_names_with_conditions_in_the_second_parameter() {
    let server = TestServer::start().await;
    let mut a = server.client("a").await;
    a.send("JOIN #uno,#dos").await;
    a.expect_numeric(RPL_ENDOFNAMES).await;
    a.expect_numeric(RPL_ENDOFNAMES).await;
    let _b = joined(&server, "b", "#dos").await;
    assert_eq!(listed(&mut a, "LIST #uno,#dos >1").await, ["#dos"]);
    assert_eq!(listed(&mut a, "LIST #uno,#dos").await, ["#uno", "#dos"]);
}

#[tokio::test]
async fn list_conditions_never_show_a_secret_channel_to_outsiders() {
    let server = TestServer::start().await;
    let mut a = joined(&server, "a", "#oculto").await;
    ask(&mut a, "MODE #oculto +s").await;
    let mut b = server.client("b").await;
    assert!(listed(&mut b, "LIST *oculto*").await.is_empty());
    assert!(listed(&mut b, "LIST >0").await.is_empty());
    assert_eq!(listed(&mut a, "LIST *oculto*").await, ["#oculto"]);
}

#[tokio::test]
async fn isupport_advertises_the_list_conditions() {
    let server = TestServer::start().await;
    let mut c = server.client("ana").await;
    let lines = ask(&mut c, "VERSION").await;
    assert!(
        lines
            .iter()
            .flat_map(|m| m.params.iter())
            .any(|t| t == "ELIST=CMNTU")
    );
}
