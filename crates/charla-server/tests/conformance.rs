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
