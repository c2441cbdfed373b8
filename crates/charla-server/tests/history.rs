//! Message ids, batches, labeled responses, and history: what was said, kept and given back.

mod common;

use charla_proto::OwnedMessage;
use charla_proto::numeric::*;
use common::{TestClient, TestServer};

async fn with_caps(server: &TestServer, nick: &str, caps: &str) -> TestClient {
    let mut c = server.connect().await;
    c.register_with_caps(nick, caps).await;
    c
}

async fn join(c: &mut TestClient, channel: &str) {
    c.send(&format!("JOIN {channel}")).await;
    c.expect_numeric(RPL_ENDOFNAMES).await;
}

/// Reads a whole batch that starts with the next line: returns the opening line and the lines
/// inside it, and checks that it closes.
async fn read_batch(c: &mut TestClient) -> (OwnedMessage, Vec<OwnedMessage>) {
    let open = c.expect_command("BATCH").await;
    let reference = open.param(0).expect("batch reference").to_owned();
    let id = reference
        .strip_prefix('+')
        .expect("an opening BATCH")
        .to_owned();
    let mut inside = Vec::new();
    loop {
        let m = c.recv().await;
        if m.command == "BATCH" && m.param(0) == Some(&format!("-{id}")) {
            return (open, inside);
        }
        assert_eq!(
            m.tag("batch"),
            Some(id.as_str()),
            "line outside the batch: {m}"
        );
        inside.push(m);
    }
}

#[tokio::test]
async fn every_message_has_an_id_shared_by_all_its_recipients() {
    let server = TestServer::start().await;
    let mut a = with_caps(&server, "ana", "message-tags echo-message").await;
    let mut b = with_caps(&server, "beto", "message-tags").await;
    let mut plain = server.client("pepe").await;
    for c in [&mut a, &mut b, &mut plain] {
        join(c, "#ids").await;
    }
    a.send("PRIVMSG #ids :¿Qué tal?").await;
    let echo = a.expect_command("PRIVMSG").await;
    let got = b.expect_command("PRIVMSG").await;
    let id = got.tag("msgid").expect("msgid").to_owned();
    assert_eq!(id.len(), 26, "{id}");
    assert_eq!(
        echo.tag("msgid"),
        Some(id.as_str()),
        "the echo has the same id"
    );
    let p = plain.expect_command("PRIVMSG").await;
    assert!(p.tags.is_empty(), "no tags without message-tags: {p}");

    a.send("NOTICE #ids :aviso").await;
    let n = b.expect_command("NOTICE").await;
    let second = n.tag("msgid").expect("msgid on NOTICE");
    assert!(second > id.as_str(), "ids sort by time: {id} then {second}");
    a.send("@+typing=active TAGMSG #ids").await;
    let t = b.expect_command("TAGMSG").await;
    assert!(t.tag("msgid").is_some(), "msgid on TAGMSG: {t}");
    // Private messages too.
    a.send("PRIVMSG beto :hola").await;
    let d = b.expect_command("PRIVMSG").await;
    assert!(d.tag("msgid").is_some(), "{d}");
}

#[tokio::test]
async fn a_labeled_command_gets_its_label_back_in_every_form() {
    let server = TestServer::start().await;
    let mut a = with_caps(
        &server,
        "ana",
        "labeled-response batch message-tags echo-message",
    )
    .await;
    let mut b = server.client("beto").await;
    join(&mut a, "#l").await;
    join(&mut b, "#l").await;

    // One reply: the label on it.
    a.send("@label=uno PING hola").await;
    let pong = a.expect_command("PONG").await;
    assert_eq!(pong.tag("label"), Some("uno"));

    // The echo of a message is its reply.
    a.send("@label=dos PRIVMSG #l :buenas").await;
    let echo = a.expect_command("PRIVMSG").await;
    assert_eq!(echo.tag("label"), Some("dos"), "{echo}");
    assert!(echo.tag("msgid").is_some());
    let seen = b.expect_command("PRIVMSG").await;
    assert_eq!(seen.tag("label"), None, "others never see the label");

    // No reply: ACK.
    a.send("@label=tres AWAY").await;
    let first = a.recv().await;
    // AWAY without text answers 305: one line. A mode change to oneself, with nothing to
    // change, answers nothing.
    assert_eq!(first.tag("label"), Some("tres"), "{first}");
    a.send("@label=cuatro MODE ana -w").await;
    let ack = a.recv().await;
    assert_eq!(ack.command, "ACK", "{ack}");
    assert_eq!(ack.tag("label"), Some("cuatro"));

    // Several replies: one batch, labeled, holding all of them.
    a.send("@label=cinco WHOIS beto").await;
    let (open, inside) = read_batch(&mut a).await;
    assert_eq!(open.tag("label"), Some("cinco"));
    assert_eq!(open.param(1), Some("labeled-response"));
    assert!(inside.iter().any(|m| m.command == "311"), "{inside:?}");
    assert_eq!(inside.last().map(|m| m.command.as_str()), Some("318"));
    assert!(inside.iter().all(|m| m.tag("label").is_none()));

    // A label too long is ignored, and the reply comes unlabeled.
    let long = "x".repeat(65);
    a.send(&format!("@label={long} PING otra")).await;
    let pong = a.expect_command("PONG").await;
    assert_eq!(pong.tag("label"), None);
}

#[tokio::test]
async fn without_batch_only_one_line_carries_the_label() {
    let server = TestServer::start().await;
    let mut a = with_caps(&server, "ana", "labeled-response").await;
    let _b = server.client("beto").await;
    a.send("@label=x WHOIS beto").await;
    let lines = a.sync().await;
    let labeled: Vec<_> = lines.iter().filter(|m| m.tag("label").is_some()).collect();
    assert_eq!(labeled.len(), 1, "{lines:?}");
    assert!(lines.iter().all(|m| m.command != "BATCH"));
    assert!(lines.iter().any(|m| m.command == "318"));
}

#[tokio::test]
async fn labels_are_ignored_without_the_capability() {
    let server = TestServer::start().await;
    let mut a = server.client("ana").await;
    a.send("@label=x PING hola").await;
    let pong = a.expect_command("PONG").await;
    assert!(pong.tags.is_empty(), "{pong}");
}
