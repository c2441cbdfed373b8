//! draft/message-redaction: REDACT deletes a message for real (history, search, after a
//! restart), tells those who understand it, and refuses everyone else with the spec's FAILs.

mod common;

use std::time::Duration;

use charla_proto::OwnedMessage;
use charla_proto::numeric::*;
use common::{OPER_NAME, OPER_PASSWORD, TestClient, TestServer};

/// What a client that deletes messages asks for.
const REDACT_CAPS: &str = "message-tags echo-message draft/message-redaction";
/// And one that reads history with its events.
const HISTORY_CAPS: &str =
    "batch server-time message-tags draft/chathistory draft/event-playback draft/message-redaction";

async fn with_caps(server: &TestServer, nick: &str, caps: &str) -> TestClient {
    let mut c = server.connect().await;
    c.register_with_caps(nick, caps).await;
    c
}

async fn join(c: &mut TestClient, channel: &str) {
    c.send(&format!("JOIN {channel}")).await;
    c.expect_numeric(RPL_ENDOFNAMES).await;
}

/// Sends `text` to `target` and returns the id of the echo (`c` has echo-message).
async fn say(c: &mut TestClient, target: &str, text: &str) -> String {
    c.send(&format!("PRIVMSG {target} :{text}")).await;
    let echo = c
        .expect(&"the echo", |m| {
            m.command == "PRIVMSG" && m.param(1) == Some(text)
        })
        .await;
    echo.tag("msgid").expect("msgid").to_owned()
}

/// Expects `FAIL REDACT <code>` with these parameters after the code.
async fn expect_fail(c: &mut TestClient, code: &str, params: &[&str]) {
    let fail = c.expect_command("FAIL").await;
    assert_eq!(fail.param(0), Some("REDACT"), "{fail}");
    assert_eq!(fail.param(1), Some(code), "{fail}");
    for (i, p) in params.iter().enumerate() {
        assert_eq!(fail.param(2 + i), Some(*p), "{fail}");
    }
}

async fn history(c: &mut TestClient, target: &str) -> Vec<OwnedMessage> {
    c.send(&format!("CHATHISTORY LATEST {target} * 50")).await;
    c.read_batch().await
}

/// `(command, second param)` of each line: what a history answer says.
fn said(lines: &[OwnedMessage]) -> Vec<(String, String)> {
    lines
        .iter()
        .map(|m| (m.command.clone(), m.param(1).unwrap_or("").to_owned()))
        .collect()
}

fn pair(command: &str, param: &str) -> (String, String) {
    (command.to_owned(), param.to_owned())
}

#[tokio::test]
async fn the_sender_deletes_a_message_and_members_with_the_capability_are_told() {
    let server = TestServer::start().await;
    let mut ana = with_caps(&server, "ana", REDACT_CAPS).await;
    let mut beto = with_caps(&server, "beto", "message-tags draft/message-redaction").await;
    let mut pepe = server.client("pepe").await;
    for c in [&mut ana, &mut beto, &mut pepe] {
        join(c, "#c").await;
    }
    let id = say(&mut ana, "#c", "ups, mi contraseña").await;
    beto.expect_command("PRIVMSG").await;
    pepe.expect_command("PRIVMSG").await;

    ana.send(&format!("REDACT #c {id} :me equivoqué")).await;
    let echo = ana.expect_command("REDACT").await;
    let got = beto.expect_command("REDACT").await;
    for m in [&echo, &got] {
        assert!(m.source.as_deref().unwrap_or("").starts_with("ana!"), "{m}");
        assert_eq!(m.param(0), Some("#c"), "{m}");
        assert_eq!(m.param(1), Some(id.as_str()), "{m}");
        assert_eq!(m.param(2), Some("me equivoqué"), "{m}");
    }
    let redaction_id = got.tag("msgid").expect("the REDACT has its own id");
    assert_ne!(redaction_id, id);
    assert_eq!(echo.tag("msgid"), Some(redaction_id));
    // Without the capability, nothing at all.
    pepe.expect_nothing().await;

    // Without a reason, no trailing parameter.
    let id = say(&mut ana, "#c", "otra").await;
    ana.send(&format!("REDACT #c {id}")).await;
    let got = beto
        .expect(&"REDACT", |m| {
            m.command == "REDACT" && m.param(1) == Some(id.as_str())
        })
        .await;
    assert_eq!(got.params.len(), 2, "{got}");
}

#[tokio::test]
async fn the_capability_is_offered_only_with_history() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    let offered = c.cap_ls_302().await;
    assert!(
        offered.iter().any(|c| c == "draft/message-redaction"),
        "{offered:?}"
    );

    let mut config = TestServer::test_config();
    config.history.enabled = false;
    let server = TestServer::start_with(config).await;
    let mut c = server.connect().await;
    let offered = c.cap_ls_302().await;
    assert!(
        !offered
            .iter()
            .any(|c| c.contains("draft/message-redaction")),
        "{offered:?}"
    );
    c.send("CAP END").await;
    c.register("ana").await;
    join(&mut c, "#c").await;
    c.send("REDACT #c 01J0000000000000000000000A").await;
    expect_fail(&mut c, "INVALID_TARGET", &["#c"]).await;
}

#[tokio::test]
async fn a_channel_operator_deletes_anyone_s_message_at_any_time() {
    let mut config = TestServer::test_config();
    config.history.redact_window_secs = 1;
    let server = TestServer::start_with(config).await;
    let mut op = with_caps(&server, "op", REDACT_CAPS).await;
    join(&mut op, "#c").await;
    let mut beto = with_caps(&server, "beto", REDACT_CAPS).await;
    join(&mut beto, "#c").await;
    let id = say(&mut beto, "#c", "spam spam").await;
    op.expect_command("PRIVMSG").await;
    // Past the sender's window: an operator is not bound by it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    op.send(&format!("REDACT #c {id} :spam")).await;
    let echo = op.expect_command("REDACT").await;
    assert_eq!(echo.param(1), Some(id.as_str()));
    let got = beto.expect_command("REDACT").await;
    assert!(
        got.source.as_deref().unwrap_or("").starts_with("op!"),
        "{got}"
    );
}

#[tokio::test]
async fn an_irc_operator_deletes_in_a_channel_they_are_not_in() {
    let server = TestServer::start().await;
    let mut ana = with_caps(&server, "ana", REDACT_CAPS).await;
    join(&mut ana, "#c").await;
    let mut beto = with_caps(&server, "beto", REDACT_CAPS).await;
    join(&mut beto, "#c").await;
    let id = say(&mut beto, "#c", "algo feo").await;
    let mut admin = with_caps(&server, "admin", REDACT_CAPS).await;
    // Not a member, not an operator: the channel is not theirs to touch.
    admin.send(&format!("REDACT #c {id}")).await;
    expect_fail(&mut admin, "INVALID_TARGET", &["#c"]).await;
    admin
        .send(&format!("OPER {OPER_NAME} {OPER_PASSWORD}"))
        .await;
    admin.expect_numeric(RPL_YOUREOPER).await;
    admin.send(&format!("REDACT #c {id} :fuera")).await;
    let echo = admin.expect_command("REDACT").await;
    assert_eq!(echo.param(1), Some(id.as_str()));
    for c in [&mut ana, &mut beto] {
        let got = c.expect_command("REDACT").await;
        assert_eq!(got.param(1), Some(id.as_str()), "{got}");
    }
}

#[tokio::test]
async fn someone_else_s_message_is_forbidden() {
    let server = TestServer::start().await;
    let mut op = with_caps(&server, "op", REDACT_CAPS).await;
    join(&mut op, "#c").await;
    let mut ana = with_caps(&server, "ana", REDACT_CAPS).await;
    join(&mut ana, "#c").await;
    let mut beto = with_caps(&server, "beto", REDACT_CAPS).await;
    join(&mut beto, "#c").await;
    let id = say(&mut ana, "#c", "mío").await;
    beto.send(&format!("REDACT #c {id}")).await;
    expect_fail(&mut beto, "REDACT_FORBIDDEN", &["#c", &id]).await;
    // Nobody was told, and the message is still there to delete by its sender.
    ana.expect_nothing().await;
    ana.send(&format!("REDACT #c {id}")).await;
    ana.expect_command("REDACT").await;

    // A private message: only its sender deletes it, not its recipient.
    let id = say(&mut ana, "beto", "privado").await;
    beto.send(&format!("REDACT ana {id}")).await;
    expect_fail(&mut beto, "REDACT_FORBIDDEN", &["ana", &id]).await;
}

#[tokio::test]
async fn the_sender_s_window_expires() {
    let mut config = TestServer::test_config();
    config.history.redact_window_secs = 1;
    let server = TestServer::start_with(config).await;
    let mut ana = with_caps(&server, "ana", REDACT_CAPS).await;
    join(&mut ana, "#c").await;
    let mut beto = with_caps(&server, "beto", REDACT_CAPS).await;
    join(&mut beto, "#c").await;
    let id = say(&mut beto, "#c", "rápido").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    beto.send(&format!("REDACT #c {id}")).await;
    expect_fail(&mut beto, "REDACT_WINDOW_EXPIRED", &["#c", &id, "1"]).await;
    ana.expect_command("PRIVMSG").await;
    ana.expect_nothing().await;
}

#[tokio::test]
async fn unknown_msgids_and_wrong_targets_are_refused() {
    let mut config = TestServer::test_config();
    // The JOIN below is read back from history: from before the join itself.
    config.history.before_join = charla_server::config::BeforeJoin::Always;
    let server = TestServer::start_with(config).await;
    let mut ana = with_caps(&server, "ana", REDACT_CAPS).await;
    join(&mut ana, "#c").await;
    join(&mut ana, "#otro").await;
    let mut beto = with_caps(&server, "beto", REDACT_CAPS).await;
    join(&mut beto, "#solo").await;
    let id = say(&mut ana, "#c", "hola").await;
    let elsewhere = say(&mut ana, "#otro", "en otro canal").await;

    // Not a msgid, no such message, a message of another channel.
    for bad in ["nada", "01J0000000000000000000000A", elsewhere.as_str()] {
        ana.send(&format!("REDACT #c {bad}")).await;
        expect_fail(&mut ana, "UNKNOWN_MSGID", &["#c", bad]).await;
    }
    // Deleted already.
    ana.send(&format!("REDACT #c {id}")).await;
    ana.expect_command("REDACT").await;
    ana.send(&format!("REDACT #c {id}")).await;
    expect_fail(&mut ana, "UNKNOWN_MSGID", &["#c", &id]).await;
    // No such channel; a channel one is not in.
    ana.send(&format!("REDACT #nadie {id}")).await;
    expect_fail(&mut ana, "INVALID_TARGET", &["#nadie"]).await;
    beto.send(&format!("REDACT #c {elsewhere}")).await;
    expect_fail(&mut beto, "INVALID_TARGET", &["#c"]).await;
    // A JOIN (an event) is not a message.
    ana.send("JOIN #e").await;
    ana.expect_numeric(RPL_ENDOFNAMES).await;
    ana.send("CAP REQ :batch draft/chathistory draft/event-playback")
        .await;
    ana.expect_command("CAP").await;
    // A message commits the events queued before it.
    say(&mut ana, "#e", "después").await;
    let events = history(&mut ana, "#e").await;
    let join_id = events[0].tag("msgid").expect("msgid").to_owned();
    assert_eq!(events[0].command, "JOIN");
    ana.send(&format!("REDACT #e {join_id}")).await;
    expect_fail(&mut ana, "UNKNOWN_MSGID", &["#e", &join_id]).await;
}

#[tokio::test]
async fn a_private_message_is_deleted_for_both_parties() {
    let server = TestServer::start().await;
    let mut ana = with_caps(&server, "ana", REDACT_CAPS).await;
    let mut beto = with_caps(&server, "beto", "message-tags draft/message-redaction").await;
    let mut carla = with_caps(&server, "carla", REDACT_CAPS).await;
    let id = say(&mut ana, "beto", "solo para ti").await;
    beto.expect_command("PRIVMSG").await;
    // A third party has no conversation with ana holding that message.
    carla.send(&format!("REDACT ana {id}")).await;
    expect_fail(&mut carla, "UNKNOWN_MSGID", &["ana", &id]).await;

    ana.send(&format!("REDACT beto {id}")).await;
    let echo = ana.expect_command("REDACT").await;
    assert_eq!(echo.param(0), Some("beto"));
    let got = beto.expect_command("REDACT").await;
    assert_eq!(got.param(0), Some("beto"), "{got}");
    assert_eq!(got.param(1), Some(id.as_str()), "{got}");
    carla.expect_nothing().await;
}

#[tokio::test]
async fn history_replays_the_redaction_and_never_the_message() {
    let server = TestServer::start().await;
    let mut ana = with_caps(&server, "ana", &format!("{HISTORY_CAPS} echo-message")).await;
    join(&mut ana, "#h").await;
    say(&mut ana, "#h", "uno").await;
    let id = say(&mut ana, "#h", "secreto").await;
    say(&mut ana, "#h", "tres").await;
    ana.send(&format!("REDACT #h {id} :borrado")).await;
    ana.expect_command("REDACT").await;

    // With event-playback and the capability: the REDACT where it happened, not the text.
    let got = history(&mut ana, "#h").await;
    assert_eq!(
        said(&got),
        [
            pair("JOIN", ""),
            pair("PRIVMSG", "uno"),
            pair("PRIVMSG", "tres"),
            pair("REDACT", &id),
        ]
    );
    assert_eq!(got[3].param(2), Some("borrado"));
    assert!(got.iter().all(|m| m.param(1) != Some("secreto")));
    // Without event-playback: the messages only; without the capability: no REDACT either.
    ana.send("CAP REQ :-draft/event-playback").await;
    ana.expect_command("CAP").await;
    let got = history(&mut ana, "#h").await;
    assert_eq!(
        said(&got),
        [pair("PRIVMSG", "uno"), pair("PRIVMSG", "tres")]
    );
    ana.send("CAP REQ :draft/event-playback -draft/message-redaction")
        .await;
    ana.expect_command("CAP").await;
    let got = history(&mut ana, "#h").await;
    assert!(got.iter().all(|m| m.command != "REDACT"), "{got:?}");
    assert!(got.iter().all(|m| m.param(1) != Some("secreto")), "{got:?}");
}

#[tokio::test]
async fn search_no_longer_finds_a_deleted_message() {
    let server = TestServer::start().await;
    let mut ana = with_caps(
        &server,
        "ana",
        &format!("{REDACT_CAPS} batch soju.im/search"),
    )
    .await;
    join(&mut ana, "#s").await;
    let id = say(&mut ana, "#s", "mi clave es zanahoria").await;
    say(&mut ana, "#s", "la zanahoria es naranja").await;
    let find = async |c: &mut TestClient| {
        c.send("SEARCH text=zanahoria").await;
        c.read_batch()
            .await
            .iter()
            .map(|m| m.param(1).unwrap_or("").to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(find(&mut ana).await.len(), 2);
    ana.send(&format!("REDACT #s {id}")).await;
    ana.expect_command("REDACT").await;
    assert_eq!(find(&mut ana).await, ["la zanahoria es naranja"]);
    ana.send("SEARCH text=clave").await;
    assert!(ana.read_batch().await.is_empty());
}

#[tokio::test]
async fn a_deleted_message_stays_deleted_after_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let on_disk = || {
        let mut config = TestServer::test_config();
        config.store = charla_server::config::StoreConfig::default();
        config.data_dir = dir.path().to_owned();
        config.history.before_join = charla_server::config::BeforeJoin::Always;
        config
    };
    let server = TestServer::start_with(on_disk()).await;
    let mut ana = with_caps(&server, "ana", REDACT_CAPS).await;
    join(&mut ana, "#r").await;
    say(&mut ana, "#r", "queda").await;
    let id = say(&mut ana, "#r", "se va").await;
    ana.send(&format!("REDACT #r {id}")).await;
    ana.expect_command("REDACT").await;
    server.handle.shutdown().await;

    let server = TestServer::start_with(on_disk()).await;
    let mut beto = with_caps(&server, "beto", HISTORY_CAPS).await;
    join(&mut beto, "#r").await;
    let got = history(&mut beto, "#r").await;
    let got: Vec<_> = said(&got)
        .into_iter()
        .filter(|(command, _)| command == "PRIVMSG" || command == "REDACT")
        .collect();
    assert_eq!(got, [pair("PRIVMSG", "queda"), pair("REDACT", &id)]);
    drop(beto);
    server.handle.shutdown().await;
    // Nor is its text anywhere in the database file.
    for file in ["charla.db", "charla.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(5).any(|w| w == b"se va"),
            "the deleted text is still in {file}"
        );
    }
}

#[tokio::test]
async fn the_same_account_deletes_from_another_connection_and_a_nick_alone_does_not() {
    let server = TestServer::start().await;
    let mut ana = with_caps(&server, "ana", REDACT_CAPS).await;
    ana.send("REGISTER * * :contraseña-segura").await;
    let ok = ana.expect_command("REGISTER").await;
    assert_eq!(ok.param(0), Some("SUCCESS"), "{ok}");
    ana.expect_numeric(RPL_LOGGEDIN).await;
    join(&mut ana, "#c").await;
    let id = say(&mut ana, "#c", "desde el portátil").await;

    // Another connection, logged into the same account: the message is its own.
    let mut phone = with_caps(&server, "ana_movil", REDACT_CAPS).await;
    phone.send("NS IDENTIFY ana contraseña-segura").await;
    phone.expect_numeric(RPL_LOGGEDIN).await;
    join(&mut phone, "#c").await;
    phone.send(&format!("REDACT #c {id}")).await;
    phone.expect_command("REDACT").await;
    ana.expect_command("REDACT").await;

    // Without an account, a message is recognised by the nick!user@host it came from: under
    // another nick it is not ours, back under the same one it is.
    let mut pepe = with_caps(&server, "pepe", REDACT_CAPS).await;
    join(&mut pepe, "#c").await;
    let id = say(&mut pepe, "#c", "sin cuenta").await;
    pepe.send("NICK pepa").await;
    pepe.expect_command("NICK").await;
    pepe.send(&format!("REDACT #c {id}")).await;
    expect_fail(&mut pepe, "REDACT_FORBIDDEN", &["#c", &id]).await;
    pepe.send("NICK pepe").await;
    pepe.expect_command("NICK").await;
    pepe.send(&format!("REDACT #c {id}")).await;
    pepe.expect_command("REDACT").await;
    // An account's message is never a nick's: logged out, ana's phone may not.
    let id = say(&mut ana, "#c", "con cuenta").await;
    phone.send("NS LOGOUT").await;
    phone.expect_numeric(RPL_LOGGEDOUT).await;
    phone.send(&format!("REDACT #c {id}")).await;
    expect_fail(&mut phone, "REDACT_FORBIDDEN", &["#c", &id]).await;
}

#[tokio::test]
async fn a_labeled_redact_is_answered_with_its_echo_or_an_ack() {
    let server = TestServer::start().await;
    let mut ana = with_caps(
        &server,
        "ana",
        &format!("{REDACT_CAPS} labeled-response batch"),
    )
    .await;
    join(&mut ana, "#c").await;
    let id = say(&mut ana, "#c", "uno").await;
    ana.send(&format!("@label=r1 REDACT #c {id}")).await;
    let echo = ana.expect_command("REDACT").await;
    assert_eq!(echo.tag("label"), Some("r1"), "{echo}");

    let mut beto = with_caps(
        &server,
        "beto",
        "message-tags draft/message-redaction labeled-response",
    )
    .await;
    join(&mut beto, "#c").await;
    beto.send("PRIVMSG #c :dos").await;
    let got = ana.expect_command("PRIVMSG").await;
    let id = got.tag("msgid").expect("msgid").to_owned();
    beto.send(&format!("@label=r2 REDACT #c {id}")).await;
    let ack = beto
        .expect(&"ACK", |m| m.command == "ACK" || m.command == "REDACT")
        .await;
    assert_eq!(ack.command, "ACK", "no echo without echo-message: {ack}");
    assert_eq!(ack.tag("label"), Some("r2"));
    ana.expect_command("REDACT").await;
}

#[tokio::test]
async fn a_private_message_to_an_account_gone_offline_is_still_deleted() {
    let server = TestServer::start().await;
    let mut ana = with_caps(&server, "ana", REDACT_CAPS).await;
    let mut beto = with_caps(&server, "beto", REDACT_CAPS).await;
    beto.send("REGISTER * * :contraseña-segura").await;
    beto.expect_numeric(RPL_LOGGEDIN).await;
    let id = say(&mut ana, "beto", "para tu cuenta").await;
    beto.expect_command("PRIVMSG").await;
    beto.send("QUIT").await;
    beto.expect_command("ERROR").await;
    // The conversation is found by beto's account.
    ana.send(&format!("REDACT beto {id}")).await;
    let echo = ana.expect_command("REDACT").await;
    assert_eq!(echo.param(1), Some(id.as_str()), "{echo}");
}
