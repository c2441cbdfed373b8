//! Message ids, batches, labeled responses, and history: what was said, kept and given back.

mod common;

use charla_proto::OwnedMessage;
use charla_proto::numeric::*;
use common::fillable::FillableDisk;
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

const HISTORY_CAPS: &str = "batch server-time message-tags draft/chathistory";

/// Sends `n` messages `<prefix> 0` … to `target` from `c`, then syncs.
async fn say(c: &mut TestClient, target: &str, prefix: &str, n: usize) {
    for i in 0..n {
        c.send(&format!("PRIVMSG {target} :{prefix} {i}")).await;
    }
    c.sync().await;
}

/// Sends a CHATHISTORY request and returns the texts in its batch, checking its form.
async fn history(c: &mut TestClient, request: &str) -> Vec<OwnedMessage> {
    c.send(&format!("CHATHISTORY {request}")).await;
    let (open, inside) = read_batch(c).await;
    assert_eq!(open.param(1), Some("chathistory"), "{open}");
    for m in &inside {
        assert!(m.tag("time").is_some(), "{m}");
        assert!(m.tag("msgid").is_some(), "{m}");
    }
    inside
}

fn texts(lines: &[OwnedMessage]) -> Vec<String> {
    lines
        .iter()
        .map(|m| m.param(1).unwrap_or("").to_owned())
        .collect()
}

fn numbered(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix} {i}")).collect()
}

#[tokio::test]
async fn chathistory_answers_every_subcommand_by_msgid_and_by_time() {
    let server = TestServer::start().await;
    let mut ana = server.client("ana").await;
    let mut beto = with_caps(&server, "beto", HISTORY_CAPS).await;
    join(&mut ana, "#h").await;
    join(&mut beto, "#h").await;
    say(&mut ana, "#h", "¿Qué tal, ñandú?", 10).await;
    for _ in 0..10 {
        beto.expect_command("PRIVMSG").await;
    }
    let all = history(&mut beto, "LATEST #h * 100").await;
    assert_eq!(texts(&all), numbered("¿Qué tal, ñandú?", 0..10));
    assert_eq!(all[0].source_nick(), Some("ana"));
    let id = |i: usize| all[i].tag("msgid").expect("msgid").to_owned();
    let p = "¿Qué tal, ñandú?";

    let latest = history(&mut beto, "LATEST #h * 3").await;
    assert_eq!(texts(&latest), numbered(p, 7..10));
    let after_anchor = history(&mut beto, &format!("LATEST #h msgid={} 100", id(7))).await;
    assert_eq!(texts(&after_anchor), numbered(p, 8..10));
    let before = history(&mut beto, &format!("BEFORE #h msgid={} 3", id(6))).await;
    assert_eq!(texts(&before), numbered(p, 3..6));
    let after = history(&mut beto, &format!("AFTER #h msgid={} 2", id(3))).await;
    assert_eq!(texts(&after), numbered(p, 4..6));
    let around = history(&mut beto, &format!("AROUND #h msgid={} 4", id(5))).await;
    assert_eq!(texts(&around), numbered(p, 3..7));
    let between = history(
        &mut beto,
        &format!("BETWEEN #h msgid={} msgid={} 100", id(1), id(6)),
    )
    .await;
    assert_eq!(texts(&between), numbered(p, 2..6));
    let backwards = history(
        &mut beto,
        &format!("BETWEEN #h msgid={} msgid={} 2", id(6), id(1)),
    )
    .await;
    assert_eq!(texts(&backwards), numbered(p, 4..6));
    // By time: the whole range, from either end.
    let early = "timestamp=2000-01-01T00:00:00.000Z";
    let late = "timestamp=2999-01-01T00:00:00.000Z";
    let first = history(&mut beto, &format!("AFTER #h {early} 2")).await;
    assert_eq!(texts(&first), numbered(p, 0..2));
    let last = history(&mut beto, &format!("BEFORE #h {late} 2")).await;
    assert_eq!(texts(&last), numbered(p, 8..10));
    let span = history(&mut beto, &format!("BETWEEN #h {early} {late} 100")).await;
    assert_eq!(span.len(), 10);
    // The target as the asker wrote it, in any case.
    beto.send("CHATHISTORY LATEST #H * 1").await;
    let (open, inside) = read_batch(&mut beto).await;
    assert_eq!(open.param(2), Some("#H"));
    assert_eq!(texts(&inside), numbered(p, 9..10));
    // A message id that is not in this channel: nothing.
    let none = history(&mut beto, "LATEST #h msgid=00000000000000000000000000 5").await;
    assert_eq!(none.len(), 0);
}

#[tokio::test]
async fn chathistory_says_what_is_wrong_with_a_request() {
    let server = TestServer::start().await;
    let mut ana = with_caps(&server, "ana", HISTORY_CAPS).await;
    let mut beto = server.client("beto").await;
    join(&mut ana, "#h").await;
    join(&mut beto, "#secreto").await;
    let cases = [
        ("LATEST #h * 0", "INVALID_PARAMS"),
        ("LATEST #h * muchos", "INVALID_PARAMS"),
        ("LATEST #h msgid=hola 5", "INVALID_PARAMS"),
        ("BEFORE #h timestamp=ayer 5", "INVALID_PARAMS"),
        ("BEFORE #h * 5", "INVALID_PARAMS"),
        ("BETWEEN #h * * 5", "INVALID_PARAMS"),
        ("OLVIDAR #h * 5", "INVALID_PARAMS"),
        ("TARGETS * * 5", "INVALID_PARAMS"),
        // Not a member: no history, and no sign of whether the channel exists.
        ("LATEST #secreto * 5", "INVALID_TARGET"),
        ("LATEST #nada * 5", "INVALID_TARGET"),
        // A private conversation needs an account.
        ("LATEST beto * 5", "INVALID_TARGET"),
    ];
    for (request, code) in cases {
        ana.send(&format!("CHATHISTORY {request}")).await;
        let fail = ana.expect_command("FAIL").await;
        assert_eq!(fail.param(0), Some("CHATHISTORY"), "{request}: {fail}");
        assert_eq!(fail.param(1), Some(code), "{request}: {fail}");
    }
    // The limit is advertised and a bigger request gets at most that many. The tokens may be
    // on any of the 005 lines.
    ana.send("VERSION").await;
    let tokens: Vec<String> = ana
        .sync()
        .await
        .into_iter()
        .filter(|m| m.command == "005")
        .flat_map(|m| m.params)
        .collect();
    assert!(tokens.iter().any(|p| p == "MSGREFTYPES=msgid,timestamp"));
    let max: usize = tokens
        .iter()
        .find_map(|p| p.strip_prefix("CHATHISTORY="))
        .and_then(|n| n.parse().ok())
        .expect("a number");
    say(&mut ana, "#h", "línea", max + 5).await;
    let got = history(&mut ana, "LATEST #h * 100000").await;
    assert_eq!(got.len(), max);
}

#[tokio::test]
async fn a_newcomer_reads_an_unregistered_channel_from_when_they_joined() {
    let server = TestServer::start().await;
    let mut ana = server.client("ana").await;
    join(&mut ana, "#c").await;
    say(&mut ana, "#c", "antes", 3).await;
    // Members' times are in milliseconds: make sure the join comes later than the last line.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut beto = with_caps(&server, "beto", HISTORY_CAPS).await;
    join(&mut beto, "#c").await;
    say(&mut ana, "#c", "después", 2).await;
    beto.expect_command("PRIVMSG").await;
    beto.expect_command("PRIVMSG").await;
    let got = history(&mut beto, "LATEST #c * 50").await;
    assert_eq!(texts(&got), numbered("después", 0..2));

    let mut config = TestServer::test_config();
    config.history.before_join = charla_server::config::BeforeJoin::Always;
    let open = TestServer::start_with(config).await;
    let mut ana = open.client("ana").await;
    join(&mut ana, "#c").await;
    say(&mut ana, "#c", "antes", 3).await;
    let mut beto = with_caps(&open, "beto", HISTORY_CAPS).await;
    join(&mut beto, "#c").await;
    let got = history(&mut beto, "LATEST #c * 50").await;
    assert_eq!(texts(&got), numbered("antes", 0..3));
}

#[tokio::test]
async fn messages_without_history_are_relayed_as_before() {
    let mut config = TestServer::test_config();
    config.history.enabled = false;
    let server = TestServer::start_with(config).await;
    let mut ana = with_caps(&server, "ana", "batch").await;
    let mut beto = server.client("beto").await;
    join(&mut ana, "#c").await;
    join(&mut beto, "#c").await;
    ana.send("CAP REQ draft/chathistory").await;
    let nak = ana.expect_command("CAP").await;
    assert_eq!(nak.param(1), Some("NAK"), "not offered: {nak}");
    say(&mut ana, "#c", "hola", 3).await;
    for _ in 0..3 {
        beto.expect_command("PRIVMSG").await;
    }
    ana.send("CHATHISTORY LATEST #c * 5").await;
    let fail = ana.expect_command("FAIL").await;
    assert_eq!(fail.param(1), Some("MESSAGE_ERROR"));
}

#[tokio::test]
async fn a_store_that_falls_behind_slows_its_senders_down_instead_of_refusing_their_messages() {
    use std::sync::Arc;
    // More senders than the store's queue can hold the messages in flight of (64 each): 300
    // connections × 64 messages is 19,200 writes against a queue of 16,384.
    const SENDERS: usize = 300;
    const EACH: usize = 64;
    let disk = Arc::new(FillableDisk::new(charla_store::MemoryStore::new()));
    let server = TestServer::start_with_store(disk.clone()).await;
    let mut senders = Vec::new();
    for i in 0..SENDERS {
        senders.push(server.client(&format!("s{i}")).await);
    }
    disk.set_stalled(true);
    for (i, c) in senders.iter_mut().enumerate() {
        let lines: String = (0..EACH)
            .map(|n| format!("PRIVMSG s{i} :m{n}\r\n"))
            .collect();
        c.send_raw(lines.as_bytes()).await;
    }
    // Time for the server to read what it will while the disk stands still: before senders
    // were held back, the queue overflowed here and the rest were refused with FAIL.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    disk.set_stalled(false);
    for (i, c) in senders.iter_mut().enumerate() {
        for n in 0..EACH {
            let m = c.recv().await;
            assert_eq!(m.command, "PRIVMSG", "s{i}, message {n}: {m}");
            assert_eq!(m.param(1), Some(format!("m{n}").as_str()), "s{i}: {m}");
        }
    }
}

#[tokio::test]
async fn a_store_that_cannot_write_refuses_messages_instead_of_losing_them() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().expect("dir");
    let disk = Arc::new(FillableDisk::new(
        charla_store::SqliteStore::open(&dir.path().join("charla.db")).expect("open"),
    ));
    let server = TestServer::start_with_store(disk.clone()).await;
    let mut ana = with_caps(&server, "ana", HISTORY_CAPS).await;
    let mut beto = server.client("beto").await;
    join(&mut ana, "#c").await;
    join(&mut beto, "#c").await;
    ana.send("PRIVMSG #c :uno").await;
    beto.expect_command("PRIVMSG").await;

    disk.set_full(true);
    ana.send("PRIVMSG #c :dos").await;
    let fail = ana.expect_command("FAIL").await;
    assert_eq!(fail.param(0), Some("PRIVMSG"), "{fail}");
    assert_eq!(fail.param(1), Some("MESSAGE_ERROR"));
    assert_eq!(fail.param(2), Some("#c"));
    ana.send("PRIVMSG beto :¿me oyes?").await;
    let fail = ana.expect_command("FAIL").await;
    assert_eq!(fail.param(2), Some("beto"), "{fail}");
    beto.expect_nothing().await;

    disk.set_full(false);
    ana.send("PRIVMSG #c :tres").await;
    let got = beto.expect_command("PRIVMSG").await;
    assert_eq!(got.param(1), Some("tres"));
    let kept = history(&mut ana, "LATEST #c * 10").await;
    assert_eq!(texts(&kept), ["uno", "tres"]);
}

const PASSWORD: &str = "contraseña-segura";

/// A client with the history caps that registered the account `nick` (and is logged in).
async fn with_account(server: &TestServer, nick: &str) -> TestClient {
    let mut c = with_caps(server, nick, HISTORY_CAPS).await;
    c.send(&format!("REGISTER * * :{PASSWORD}")).await;
    let ok = c.expect_command("REGISTER").await;
    assert_eq!(ok.param(0), Some("SUCCESS"), "{ok}");
    c.expect_numeric(RPL_LOGGEDIN).await;
    c
}

#[tokio::test]
async fn a_private_conversation_is_kept_for_both_accounts_and_no_one_else() {
    let server = TestServer::start().await;
    let mut ana = with_account(&server, "ana").await;
    let mut beto = with_account(&server, "beto").await;
    let mut carla = with_account(&server, "carla").await;
    let mut dave = with_caps(&server, "dave", HISTORY_CAPS).await;
    join(&mut ana, "#c").await;
    say(&mut ana, "#c", "en el canal", 1).await;
    say(&mut ana, "beto", "hola beto", 2).await;
    say(&mut beto, "ana", "hola ana", 1).await;
    say(&mut dave, "ana", "soy dave", 1).await;

    let mine = history(&mut ana, "LATEST beto * 10").await;
    assert_eq!(texts(&mine), ["hola beto 0", "hola beto 1", "hola ana 0"]);
    let theirs = history(&mut beto, "LATEST ANA * 10").await;
    assert_eq!(
        theirs.iter().map(|m| m.tag("msgid")).collect::<Vec<_>>(),
        mine.iter().map(|m| m.tag("msgid")).collect::<Vec<_>>(),
        "both parties read the same conversation"
    );
    // Someone else asking about ana reads their own conversation with her: empty.
    assert!(history(&mut carla, "LATEST ana * 10").await.is_empty());
    // Without an account, nothing comes back; the account holder reads it.
    dave.send("CHATHISTORY LATEST ana * 10").await;
    let fail = dave.expect_command("FAIL").await;
    assert_eq!(fail.param(1), Some("INVALID_TARGET"));
    let with_dave = history(&mut ana, "LATEST dave * 10").await;
    assert_eq!(texts(&with_dave), ["soy dave 0"]);

    // TARGETS: the channel and both conversations, oldest activity first.
    ana.send("CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2999-01-01T00:00:00.000Z 10")
        .await;
    let (open, inside) = read_batch(&mut ana).await;
    assert_eq!(open.param(1), Some("draft/chathistory-targets"));
    let names: Vec<_> = inside.iter().map(|m| m.param(1).unwrap_or("")).collect();
    assert_eq!(names, ["#c", "beto", "dave"], "{inside:?}");
    assert!(
        inside
            .iter()
            .all(|m| m.command == "CHATHISTORY" && m.param(0) == Some("TARGETS"))
    );
}

/// A second client logged into `account` with SASL PLAIN, as `nick`, with `caps` too.
async fn second_device(server: &TestServer, nick: &str, account: &str, caps: &str) -> TestClient {
    let mut c = server.connect().await;
    c.log_in_with_sasl(nick, account, PASSWORD, caps).await;
    c
}

#[tokio::test]
async fn read_markers_follow_an_account_across_its_clients() {
    let server = TestServer::start().await;
    let caps = "batch server-time message-tags draft/chathistory draft/read-marker";
    let mut ana = with_caps(&server, "ana", caps).await;
    ana.send(&format!("REGISTER * * :{PASSWORD}")).await;
    ana.expect_numeric(RPL_LOGGEDIN).await;
    ana.send("JOIN #c").await;
    let first = ana.expect_command("MARKREAD").await;
    assert_eq!(first.params, ["#c", "*"], "no marker yet");
    // The second device becomes ana (multiclient): it is shown #c, marker before 366.
    let mut phone = second_device(&server, "ana_movil", "ana", caps).await;
    let burst = phone.sync().await;
    let marker = burst
        .iter()
        .position(|m| m.command == "MARKREAD")
        .expect("the marker of #c");
    assert_eq!(burst[marker].params, ["#c", "*"]);
    let end = burst
        .iter()
        .position(|m| m.command == RPL_ENDOFNAMES.to_string())
        .expect("366");
    assert!(marker < end);

    let when = "timestamp=2026-11-30T10:00:00.000Z";
    ana.send(&format!("MARKREAD #c {when}")).await;
    let mine = ana.expect_command("MARKREAD").await;
    assert_eq!(mine.params, ["#c", when]);
    let synced = phone.expect_command("MARKREAD").await;
    assert_eq!(
        synced.params,
        ["#c", when],
        "the other device learns it at once"
    );
    // Never backwards: an older time is answered with the marker kept.
    ana.send("MARKREAD #c timestamp=2020-01-01T00:00:00.000Z")
        .await;
    let kept = ana.expect_command("MARKREAD").await;
    assert_eq!(kept.params, ["#c", when]);
    // Asking, and joining, give it too.
    phone.send("MARKREAD #C").await;
    assert_eq!(phone.expect_command("MARKREAD").await.params, ["#C", when]);
    // The marker comes after the JOIN and before the end of its NAMES, as the spec asks.
    phone.send("PART #c").await;
    phone.expect_command("PART").await;
    phone.send("JOIN #c").await;
    phone.expect_command("JOIN").await;
    let mut seen = Vec::new();
    loop {
        let m = phone.recv().await;
        let end = m.command == RPL_ENDOFNAMES.to_string();
        seen.push(m);
        if end {
            break;
        }
    }
    let marker = seen
        .iter()
        .position(|m| m.command == "MARKREAD")
        .expect("a MARKREAD before 366");
    assert_eq!(seen[marker].params, ["#c", when]);
    assert!(seen.iter().any(|m| m.command == RPL_NAMREPLY.to_string()));

    ana.send("MARKREAD #c timestamp=ayer").await;
    let bad = ana.expect_command("FAIL").await;
    assert_eq!(bad.param(1), Some("INVALID_PARAMS"), "{bad}");
    let mut dave = with_caps(&server, "dave", caps).await;
    dave.send("MARKREAD #c").await;
    let fail = dave.expect_command("FAIL").await;
    assert_eq!(fail.param(0), Some("MARKREAD"));
    assert_eq!(fail.param(1), Some("ACCOUNT_REQUIRED"));
}

#[tokio::test]
async fn event_playback_gives_joins_parts_kicks_nicks_topics_and_quits() {
    let mut config = TestServer::test_config();
    config.history.before_join = charla_server::config::BeforeJoin::Always;
    let server = TestServer::start_with(config).await;
    let mut ana = server.client("ana").await;
    join(&mut ana, "#e").await;
    // Each step is seen by ana before the next, so that the order is known.
    let mut beto = server.client("beto").await;
    join(&mut beto, "#e").await;
    ana.expect_command("JOIN").await;
    ana.send("PRIVMSG #e :hola").await;
    beto.expect_command("PRIVMSG").await;
    beto.send("NICK roberto").await;
    ana.expect_command("NICK").await;
    ana.send("TOPIC #e :Tema nuevo").await;
    ana.expect_command("TOPIC").await;
    ana.send("KICK #e roberto :fuera").await;
    ana.expect_command("KICK").await;
    let mut carla = server.client("carla").await;
    join(&mut carla, "#e").await;
    carla.send("PART #e :adiós").await;
    ana.expect_command("PART").await;
    let mut dani = server.client("dani").await;
    join(&mut dani, "#e").await;
    dani.send("QUIT :me voy").await;
    ana.expect_command("QUIT").await;
    // Events are kept without anyone waiting for them; a message commits after them.
    say(&mut ana, "#e", "fin", 1).await;

    let mut reader = with_caps(
        &server,
        "lector",
        &format!("{HISTORY_CAPS} draft/event-playback"),
    )
    .await;
    reader.send("JOIN #e").await;
    reader.expect_numeric(RPL_ENDOFNAMES).await;
    // The reader's own JOIN is the last event; read everything before it.
    let got = history(
        &mut reader,
        "BEFORE #e timestamp=2999-01-01T00:00:00.000Z 100",
    )
    .await;
    // The reader's own JOIN is kept without anyone waiting for it: it may not be there yet.
    let seen: Vec<String> = got
        .iter()
        .map(|m| {
            format!(
                "{} {} {}",
                m.source_nick().unwrap_or("?"),
                m.command,
                m.params.join(" ")
            )
        })
        .filter(|line| line != "lector JOIN #e")
        .collect();
    assert_eq!(
        seen,
        [
            "ana JOIN #e",
            "beto JOIN #e",
            "ana PRIVMSG #e hola",
            "beto NICK roberto",
            "ana TOPIC #e Tema nuevo",
            "ana KICK #e roberto fuera",
            "carla JOIN #e",
            "carla PART #e adiós",
            "dani JOIN #e",
            "dani QUIT Quit: me voy",
            "ana PRIVMSG #e fin 0",
        ],
    );
    // Without event-playback: messages only, and the limit counts them alone.
    let mut plain = with_caps(&server, "llano", HISTORY_CAPS).await;
    join(&mut plain, "#e").await;
    let got = history(&mut plain, "LATEST #e * 2").await;
    assert_eq!(texts(&got), ["hola", "fin 0"]);
}

#[tokio::test]
async fn history_survives_a_restart_and_retention_trims_it() {
    let dir = tempfile::tempdir().expect("dir");
    let on_disk = |count: u64| {
        let mut config = TestServer::test_config();
        config.store = charla_server::config::StoreConfig::default();
        config.data_dir = dir.path().to_owned();
        config.history.before_join = charla_server::config::BeforeJoin::Always;
        config.history.retention_count = count;
        // #Archivo keeps everything, whatever the server's rule.
        config.history.retention.insert(
            "#Archivo".to_owned(),
            charla_server::config::Retention::default(),
        );
        config
    };
    let server = TestServer::start_with(on_disk(0)).await;
    let mut ana = server.client("ana").await;
    join(&mut ana, "#r").await;
    say(&mut ana, "#r", "guardado", 5).await;
    join(&mut ana, "#archivo").await;
    say(&mut ana, "#archivo", "para siempre", 5).await;
    server.handle.shutdown().await;

    // Kept across the restart.
    let server = TestServer::start_with(on_disk(0)).await;
    let mut beto = with_caps(&server, "beto", HISTORY_CAPS).await;
    join(&mut beto, "#r").await;
    let got = history(&mut beto, "LATEST #r * 50").await;
    assert_eq!(texts(&got), numbered("guardado", 0..5));
    server.handle.shutdown().await;

    // Retention keeps the newest lines of each conversation.
    let server = TestServer::start_with(on_disk(2)).await;
    let mut beto = with_caps(&server, "beto", HISTORY_CAPS).await;
    join(&mut beto, "#r").await;
    let got = history(&mut beto, "LATEST #r * 50").await;
    assert_eq!(texts(&got), numbered("guardado", 3..5));
    join(&mut beto, "#archivo").await;
    let got = history(&mut beto, "LATEST #archivo * 50").await;
    assert_eq!(texts(&got), numbered("para siempre", 0..5));
}

#[tokio::test]
async fn search_finds_words_in_what_the_asker_can_read() {
    let mut config = TestServer::test_config();
    config.history.before_join = charla_server::config::BeforeJoin::Always;
    let server = TestServer::start_with(config).await;
    let mut ana = with_account(&server, "ana").await;
    ana.send("CAP REQ soju.im/search").await;
    ana.expect_command("CAP").await;
    let mut beto = with_account(&server, "beto").await;
    join(&mut ana, "#a").await;
    join(&mut beto, "#a").await;
    join(&mut beto, "#secreto").await;
    say(&mut beto, "#a", "¿Qué tal, Ñandú?", 1).await;
    say(&mut beto, "#a", "nada que ver", 1).await;
    say(&mut beto, "#secreto", "que no lo sepa ana", 1).await;
    say(&mut beto, "ana", "que te vaya bien", 1).await;
    ana.sync().await;

    let find = async |c: &mut TestClient, attrs: &str| -> Vec<OwnedMessage> {
        c.send(&format!("SEARCH {attrs}")).await;
        let (open, inside) = read_batch(c).await;
        assert_eq!(open.param(1), Some("soju.im/search"), "{open}");
        inside
    };
    // Every conversation ana can read: her channel and her private conversation, not #secreto.
    let all = find(&mut ana, "text=QUE").await;
    assert_eq!(
        texts(&all),
        ["¿Qué tal, Ñandú? 0", "nada que ver 0", "que te vaya bien 0"]
    );
    assert!(
        all.iter()
            .all(|m| m.tag("msgid").is_some() && m.tag("time").is_some())
    );
    let in_channel = find(&mut ana, "in=#a;text=nandu").await;
    assert_eq!(texts(&in_channel), ["¿Qué tal, Ñandú? 0"]);
    let newest = find(&mut ana, "text=que;limit=1").await;
    assert_eq!(texts(&newest), ["que te vaya bien 0"]);
    let late = find(&mut ana, "text=que;after=2999-01-01T00:00:00.000Z").await;
    assert!(late.is_empty());
    // Bad requests say why.
    for attrs in [
        "in=#a",
        "text=que;limit=0",
        "text=que;after=ayer",
        "text=que;color=azul",
        "text=que;in=#secreto",
    ] {
        ana.send(&format!("SEARCH {attrs}")).await;
        let fail = ana.expect_command("FAIL").await;
        assert_eq!(fail.param(0), Some("SEARCH"), "{attrs}: {fail}");
        assert_eq!(fail.param(1), Some("INVALID_PARAMS"), "{attrs}: {fail}");
    }
}

#[tokio::test]
async fn a_labeled_chathistory_nests_its_batch_in_the_labeled_response() {
    let server = TestServer::start().await;
    let mut ana = with_caps(&server, "ana", &format!("{HISTORY_CAPS} labeled-response")).await;
    join(&mut ana, "#n").await;
    say(&mut ana, "#n", "hola", 2).await;
    ana.send("@label=h1 CHATHISTORY LATEST #n * 10").await;
    let outer = ana.expect_command("BATCH").await;
    assert_eq!(outer.tag("label"), Some("h1"), "{outer}");
    assert_eq!(outer.param(1), Some("labeled-response"));
    let outer_id = outer
        .param(0)
        .and_then(|r| r.strip_prefix('+'))
        .expect("ref")
        .to_owned();
    let inner = ana.recv().await;
    assert_eq!(inner.command, "BATCH", "{inner}");
    assert_eq!(inner.param(1), Some("chathistory"));
    assert_eq!(
        inner.tag("batch"),
        Some(outer_id.as_str()),
        "nested in the labeled batch"
    );
    let inner_id = inner
        .param(0)
        .and_then(|r| r.strip_prefix('+'))
        .expect("ref")
        .to_owned();
    for _ in 0..2 {
        let m = ana.recv().await;
        assert_eq!(m.command, "PRIVMSG", "{m}");
        assert_eq!(m.tag("batch"), Some(inner_id.as_str()));
    }
    let end_inner = ana.recv().await;
    assert_eq!(end_inner.params, [format!("-{inner_id}")]);
    assert_eq!(end_inner.tag("batch"), Some(outer_id.as_str()));
    let end_outer = ana.recv().await;
    assert_eq!(end_outer.params, [format!("-{outer_id}")]);
}

#[tokio::test]
async fn replies_and_reactions_are_kept_and_typing_is_not() {
    let server = TestServer::start().await;
    let caps = "batch server-time message-tags draft/chathistory";
    let mut ana = with_caps(&server, "ana", caps).await;
    let mut beto = with_caps(&server, "beto", caps).await;
    join(&mut ana, "#r").await;
    join(&mut beto, "#r").await;
    ana.send("PRIVMSG #r :¿vamos?").await;
    let asked = beto.expect_command("PRIVMSG").await;
    let id = asked.tag("msgid").expect("msgid").to_owned();
    beto.send(&format!("@+draft/reply={id} PRIVMSG #r :sí"))
        .await;
    beto.send(&format!("@+draft/react=👍;+draft/reply={id} TAGMSG #r"))
        .await;
    beto.send("@+typing=active TAGMSG #r").await;
    for _ in 0..3 {
        ana.recv().await;
    }
    // The reply and the reaction are part of the conversation; typing was of the moment.
    let kept = history(&mut ana, "LATEST #r * 10").await;
    let shape: Vec<(String, Option<String>, Option<String>)> = kept
        .iter()
        .map(|m| {
            (
                m.command.clone(),
                m.tag("+draft/reply").map(str::to_owned),
                m.tag("+draft/react").map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("PRIVMSG".to_owned(), None, None),
            ("PRIVMSG".to_owned(), Some(id.clone()), None),
            ("TAGMSG".to_owned(), Some(id.clone()), Some("👍".to_owned())),
        ]
    );
}

/// Reads lines until `n` have come that `keep` selects, and returns them as
/// `COMMAND param…` strings.
async fn collect(
    c: &mut TestClient,
    n: usize,
    keep: impl Fn(&OwnedMessage) -> bool,
) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        let m = c.recv().await;
        if keep(&m) {
            got.push(format!("{} {}", m.command, m.params.join(" ")));
        }
    }
    got
}

#[tokio::test]
async fn a_sender_s_messages_and_what_it_does_next_arrive_in_the_order_it_sent_them() {
    // A sender does not wait for each message's commit before its next line is read: its
    // messages are committed many at a time. Whatever it does next (a TOPIC, a PART, a
    // private message, a QUIT or just leaving) still comes after them, for everyone, and
    // history keeps them in the same order.
    let mut config = TestServer::test_config();
    config.history.max_request = 500;
    let server = TestServer::start_with(config).await;
    let mut ana = with_caps(&server, "ana", HISTORY_CAPS).await;
    let mut beto = with_caps(&server, "beto", HISTORY_CAPS).await;
    join(&mut ana, "#c").await;
    join(&mut beto, "#c").await;
    ana.send("MODE #c -t").await;
    ana.sync().await;
    beto.sync().await;
    let mut burst = String::new();
    let mut expected = Vec::new();
    for i in 0..100 {
        burst.push_str(&format!("PRIVMSG #c :uno {i}\r\n"));
        expected.push(format!("PRIVMSG #c uno {i}"));
    }
    burst.push_str("TOPIC #c :mitad\r\nPRIVMSG beto :¿sigues ahí?\r\n");
    expected.push("TOPIC #c mitad".to_owned());
    expected.push("PRIVMSG beto ¿sigues ahí?".to_owned());
    for i in 0..70 {
        burst.push_str(&format!("PRIVMSG #c :dos {i}\r\n"));
        expected.push(format!("PRIVMSG #c dos {i}"));
    }
    burst.push_str("PART #c :me voy\r\n");
    expected.push("PART #c me voy".to_owned());
    ana.send_raw(burst.as_bytes()).await;
    let relevant = |m: &OwnedMessage| ["PRIVMSG", "TOPIC", "PART"].contains(&m.command.as_str());
    let got = collect(&mut beto, expected.len(), relevant).await;
    assert_eq!(got, expected);
    let kept = history(&mut beto, "LATEST #c * 500").await;
    let said: Vec<String> = kept
        .iter()
        .filter(|m| m.command == "PRIVMSG")
        .map(|m| m.param(1).unwrap_or("").to_owned())
        .collect();
    let sent: Vec<String> = expected
        .iter()
        .filter(|e| e.starts_with("PRIVMSG #c "))
        .map(|e| e["PRIVMSG #c ".len()..].to_owned())
        .collect();
    assert_eq!(said, sent);

    // Messages, then the connection closes without a word: they come before its QUIT.
    let mut carla = with_caps(&server, "carla", HISTORY_CAPS).await;
    join(&mut carla, "#c").await;
    beto.sync().await;
    let mut last = String::new();
    let mut expected = Vec::new();
    for i in 0..80 {
        last.push_str(&format!("PRIVMSG #c :adiós {i}\r\n"));
        expected.push(format!("PRIVMSG #c adiós {i}"));
    }
    carla.send_raw(last.as_bytes()).await;
    drop(carla);
    let relevant = |m: &OwnedMessage| ["PRIVMSG", "QUIT"].contains(&m.command.as_str());
    let got = collect(&mut beto, expected.len() + 1, relevant).await;
    assert_eq!(&got[..expected.len()], &expected[..]);
    assert!(got[expected.len()].starts_with("QUIT"), "{got:?}");
}
