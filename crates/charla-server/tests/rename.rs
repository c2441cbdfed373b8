//! RENAME (draft/channel-rename): members with the capability see RENAME, the others a PART
//! and a JOIN of the new name; the refusals; history, read markers and a registration follow
//! the channel across a restart; JOINs racing a rename leave one consistent state.

mod common;

use std::collections::BTreeSet;

use charla_proto::OwnedMessage;
use charla_proto::numeric::*;
use charla_server::{Config, ServerEvent};
use common::fillable::FillableDisk;
use common::{OPER_NAME, OPER_PASSWORD, TestClient, TestServer};

const RENAME_CAP: &str = "draft/channel-rename";
const PASSWORD: &str = "contraseña-segura";

async fn with_caps(server: &TestServer, nick: &str, caps: &str) -> TestClient {
    let mut c = server.connect().await;
    c.register_with_caps(nick, caps).await;
    c
}

async fn join(c: &mut TestClient, channel: &str) {
    c.send(&format!("JOIN {channel}")).await;
    c.expect_numeric(RPL_ENDOFNAMES).await;
}

/// The nicks of a channel as NAMES gives them to `c` (prefixes kept), sorted.
async fn names(c: &mut TestClient, channel: &str) -> Vec<String> {
    c.send(&format!("NAMES {channel}")).await;
    let mut nicks = Vec::new();
    loop {
        let m = c.recv().await;
        match m.command.as_str() {
            "353" => nicks.extend(m.param(3).unwrap_or("").split(' ').map(str::to_owned)),
            "366" => break,
            _ => {}
        }
    }
    nicks.retain(|n| !n.is_empty());
    nicks.sort();
    nicks
}

#[tokio::test]
async fn members_with_the_cap_see_rename_and_the_others_part_and_join_the_new_name() {
    let server = TestServer::start().await;
    let mut ana = with_caps(&server, "ana", RENAME_CAP).await;
    let mut beto = with_caps(&server, "beto", RENAME_CAP).await;
    let mut carla = server.client("carla").await;
    join(&mut ana, "#viejo").await;
    join(&mut beto, "#viejo").await;
    join(&mut carla, "#viejo").await;
    ana.send("TOPIC #viejo :¡hola!").await;
    ana.sync().await;
    beto.sync().await;
    carla.sync().await;

    ana.send("RENAME #viejo #Nuevo :mejor nombre").await;
    for c in [&mut ana, &mut beto] {
        let rename = c.expect_command("RENAME").await;
        assert_eq!(rename.source_nick(), Some("ana"));
        assert_eq!(rename.params, ["#viejo", "#Nuevo", "mejor nombre"]);
    }
    // Without the capability: carla's own PART and JOIN, then what a JOIN brings.
    let part = carla.expect_command("PART").await;
    assert_eq!(part.source_nick(), Some("carla"));
    assert_eq!(part.params, ["#viejo", "mejor nombre"]);
    let joined = carla.expect_command("JOIN").await;
    assert_eq!(joined.source_nick(), Some("carla"));
    assert_eq!(joined.params, ["#Nuevo"]);
    let topic = carla.expect_numeric(RPL_TOPIC).await;
    assert_eq!(topic.params, ["carla", "#Nuevo", "¡hola!"]);
    carla.expect_numeric(RPL_TOPICWHOTIME).await;
    let list = carla.expect_numeric(RPL_NAMREPLY).await;
    assert_eq!(list.params, ["carla", "=", "#Nuevo", "@ana beto carla"]);
    carla.expect_numeric(RPL_ENDOFNAMES).await;

    // The channel lives on under its new name, for everyone.
    beto.send("PRIVMSG #nuevo :¿se oye?").await;
    for c in [&mut ana, &mut carla] {
        let m = c.expect_command("PRIVMSG").await;
        assert_eq!(m.params, ["#Nuevo", "¿se oye?"]);
    }
    assert_eq!(names(&mut ana, "#nuevo").await, ["@ana", "beto", "carla"]);
    ana.send("TOPIC #NUEVO").await;
    assert_eq!(ana.expect_numeric(RPL_TOPIC).await.param(1), Some("#Nuevo"));
    // The old name is free: joining it makes a new, empty channel.
    let mut dani = server.client("dani").await;
    dani.send("JOIN #viejo").await;
    let list = dani.expect_numeric(RPL_NAMREPLY).await;
    assert_eq!(list.param(3), Some("@dani"));
    // And leaving the new name works for the member who learnt it by the fallback.
    carla.send("PART #nuevo").await;
    assert_eq!(carla.expect_command("PART").await.param(0), Some("#Nuevo"));
    assert_eq!(
        ana.expect_command("PART").await.source_nick(),
        Some("carla")
    );
}

#[tokio::test]
async fn a_change_of_case_is_allowed_and_told_only_to_members_with_the_cap() {
    let server = TestServer::start().await;
    let mut ana = with_caps(&server, "ana", RENAME_CAP).await;
    let mut beto = server.client("beto").await;
    join(&mut ana, "#casa").await;
    join(&mut beto, "#casa").await;
    ana.sync().await;
    let mut events = server.handle.subscribe();
    ana.send("RENAME #casa #CASA").await;
    let rename = ana.expect_command("RENAME").await;
    // The operator console's log hears of it.
    let logged = loop {
        match tokio::time::timeout(common::TIMEOUT, events.recv()).await {
            Ok(Ok(ServerEvent::Renamed { old, new, by })) => break (old, new, by),
            Ok(Ok(_)) => {}
            other => panic!("no Renamed event: {other:?}"),
        }
    };
    assert_eq!(logged, ("#casa".into(), "#CASA".into(), "ana".into()));
    assert_eq!(
        rename.params,
        ["#casa", "#CASA", ""],
        "the reason is always there"
    );
    // The spec: no fallback for a change of case.
    beto.expect_nothing().await;
    beto.send("NAMES #casa").await;
    assert_eq!(
        beto.expect_numeric(RPL_NAMREPLY).await.param(2),
        Some("#CASA")
    );
}

#[tokio::test]
async fn refusals_name_what_is_wrong() {
    let server = TestServer::start().await;
    let mut ana = with_caps(&server, "ana", RENAME_CAP).await;
    let mut beto = with_caps(&server, "beto", RENAME_CAP).await;
    join(&mut ana, "#a").await;
    join(&mut ana, "#ocupado").await;
    join(&mut beto, "#a").await;
    join(&mut beto, "#b").await;
    ana.sync().await;

    ana.send("RENAME #nada #algo").await;
    let no = ana.expect_numeric(ERR_NOSUCHCHANNEL).await;
    assert_eq!(no.param(1), Some("#nada"));
    ana.send("RENAME #a").await;
    ana.expect_numeric(ERR_NEEDMOREPARAMS).await;
    // Not a member, not an operator.
    ana.send("RENAME #b #c").await;
    assert_eq!(
        ana.expect_numeric(ERR_NOTONCHANNEL).await.param(1),
        Some("#b")
    );
    beto.send("RENAME #a #c").await;
    assert_eq!(
        beto.expect_numeric(ERR_CHANOPRIVSNEEDED).await.param(1),
        Some("#a")
    );
    // A name in use (up to case), or one that looks like it.
    for taken in ["#OCUPADO", "#b", "#ocupad\u{43e}"] {
        ana.send(&format!("RENAME #a {taken}")).await;
        let fail = ana.expect_command("FAIL").await;
        assert_eq!(
            fail.params[..4],
            ["RENAME", "CHANNEL_NAME_IN_USE", "#a", taken],
            "{fail}"
        );
    }
    // Not a channel name.
    for bad in ["sinprefijo", "#con\u{200b}invisible"] {
        ana.send(&format!("RENAME #a {bad}")).await;
        assert_eq!(
            ana.expect_numeric(ERR_BADCHANNAME).await.param(1),
            Some(bad)
        );
    }
    ana.send("RENAME #a #a").await;
    let fail = ana.expect_command("FAIL").await;
    assert_eq!(fail.params[..2], ["RENAME", "CANNOT_RENAME"]);
    // Nothing changed for anyone.
    beto.expect_nothing().await;
    assert_eq!(names(&mut beto, "#a").await, ["@ana", "beto"]);

    // An IRC operator may rename a channel it is not in.
    let mut oper = server.client("oper").await;
    oper.send(&format!("OPER {OPER_NAME} {OPER_PASSWORD}"))
        .await;
    oper.expect_numeric(RPL_YOUREOPER).await;
    oper.send("RENAME #b #be").await;
    assert_eq!(
        beto.expect_command("RENAME").await.params,
        ["#b", "#be", ""]
    );
    let answers = oper.sync().await;
    assert!(
        answers.iter().all(|m| m.command == "MODE"),
        "no refusal: {answers:?}"
    );
}

/// The test config keeping its store (SQLite) in `dir`, history readable before joining.
fn on_disk(dir: &std::path::Path) -> Config {
    let mut config = TestServer::test_config();
    config.store = charla_server::config::StoreConfig::default();
    config.data_dir = dir.to_owned();
    config.history.before_join = charla_server::config::BeforeJoin::Always;
    config
}

/// A client logged in to `account` with SASL PLAIN, with `caps` besides.
async fn logged_in(server: &TestServer, nick: &str, account: &str, caps: &str) -> TestClient {
    let mut c = server.connect().await;
    c.log_in_with_sasl(nick, account, PASSWORD, caps).await;
    c.sync().await;
    c
}

const HISTORY_CAPS: &str =
    "batch server-time message-tags draft/chathistory draft/read-marker draft/channel-rename";

/// The texts of `CHATHISTORY LATEST <channel> * 50`.
async fn history_texts(c: &mut TestClient, channel: &str) -> Vec<String> {
    c.send(&format!("CHATHISTORY LATEST {channel} * 50")).await;
    let open = c.expect_command("BATCH").await;
    let id = open
        .param(0)
        .unwrap_or("")
        .trim_start_matches('+')
        .to_owned();
    let mut texts = Vec::new();
    loop {
        let m = c.recv().await;
        if m.command == "BATCH" && m.param(0) == Some(&format!("-{id}")) {
            return texts;
        }
        if m.command == "PRIVMSG" {
            assert_eq!(m.param(0), Some(channel), "{m}");
            texts.push(m.param(1).unwrap_or("").to_owned());
        }
    }
}

#[tokio::test]
async fn history_read_markers_and_registration_follow_the_channel_across_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let server = TestServer::start_with(on_disk(dir.path())).await;
    let mut ana = with_caps(&server, "ana", HISTORY_CAPS).await;
    ana.send(&format!("REGISTER * * :{PASSWORD}")).await;
    ana.expect_numeric(RPL_LOGGEDIN).await;
    let mut bea = server.client("bea").await;
    bea.send(&format!("REGISTER * * :{PASSWORD}")).await;
    bea.expect_numeric(RPL_LOGGEDIN).await;
    join(&mut ana, "#viejo").await;
    ana.send("CS REGISTER #viejo").await;
    ana.expect_command("NOTICE").await;
    ana.send("TOPIC #viejo :la letra").await;
    ana.send("MODE #viejo +b malo!*@*").await;
    ana.send("CS ACCESS #viejo ADD bea OP").await;
    ana.send("PRIVMSG #viejo :antes").await;
    let when = "timestamp=2026-11-30T10:00:00.000Z";
    ana.send(&format!("MARKREAD #viejo {when}")).await;
    ana.sync().await;

    ana.send("RENAME #viejo #nuevo :mudanza").await;
    assert_eq!(ana.expect_command("RENAME").await.param(1), Some("#nuevo"));
    ana.send("PRIVMSG #nuevo :después").await;
    ana.sync().await;
    // Readable under the new name at once, the old lines naming the channel as it is now.
    assert_eq!(
        history_texts(&mut ana, "#nuevo").await,
        ["antes", "después"]
    );
    ana.send("CHATHISTORY LATEST #viejo * 50").await;
    let fail = ana.expect_command("FAIL").await;
    assert_eq!(fail.params[..2], ["CHATHISTORY", "INVALID_TARGET"]);
    server.handle.shutdown().await;

    let server = TestServer::start_with(on_disk(dir.path())).await;
    let mut ana = logged_in(&server, "ana", "ana", HISTORY_CAPS).await;
    ana.send("JOIN #nuevo").await;
    ana.expect_command("JOIN").await;
    let op = ana.expect(&"ChanServ's +o", |m| m.command == "MODE").await;
    assert_eq!(op.params, ["#nuevo", "+o", "ana"], "still registered");
    assert_eq!(
        ana.expect_numeric(RPL_TOPIC).await.param(2),
        Some("la letra")
    );
    assert_eq!(
        ana.expect_command("MARKREAD").await.params,
        ["#nuevo", when]
    );
    ana.send("MODE #nuevo +b").await;
    assert_eq!(
        ana.expect_numeric(RPL_BANLIST).await.param(2),
        Some("malo!*@*")
    );
    assert_eq!(
        history_texts(&mut ana, "#nuevo").await,
        ["antes", "después"]
    );
    // The access list followed.
    let mut bea = logged_in(&server, "bea", "bea", "").await;
    bea.send("JOIN #nuevo").await;
    let op = bea
        .expect(&"ChanServ's +o", |m| {
            m.command == "MODE" && m.param(2) == Some("bea")
        })
        .await;
    assert_eq!(op.param(1), Some("+o"));
    // The old name is an ordinary new channel, with no registration and no history.
    let mut otro = with_caps(&server, "otro", HISTORY_CAPS).await;
    otro.send("JOIN #viejo").await;
    let list = otro.expect_numeric(RPL_NAMREPLY).await;
    assert_eq!(list.param(3), Some("@otro"));
    otro.sync().await;
    assert!(history_texts(&mut otro, "#viejo").await.is_empty());
    server.handle.shutdown().await;
}

/// What a client believes it is in, from the JOIN, PART and RENAME lines it got.
fn track(me: &str, seen: &mut BTreeSet<String>, lines: &[OwnedMessage]) {
    let fold = |s: &str| s.to_lowercase();
    for m in lines {
        match m.command.as_str() {
            "JOIN" if m.source_nick() == Some(me) => {
                seen.insert(fold(m.param(0).unwrap_or("")));
            }
            "PART" if m.source_nick() == Some(me) => {
                seen.remove(&fold(m.param(0).unwrap_or("")));
            }
            "RENAME" if seen.remove(&fold(m.param(0).unwrap_or(""))) => {
                seen.insert(fold(m.param(1).unwrap_or("")));
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn joins_racing_a_rename_leave_every_client_and_channel_consistent() {
    let server = TestServer::start().await;
    for round in 0..5 {
        let (old, new) = (format!("#carrera{round}"), format!("#meta{round}"));
        let mut op = with_caps(&server, &format!("op{round}"), RENAME_CAP).await;
        join(&mut op, &old).await;
        let mut racers = Vec::new();
        for i in 0..8 {
            let nick = format!("r{round}x{i}");
            let c = if i % 2 == 0 {
                with_caps(&server, &nick, RENAME_CAP).await
            } else {
                server.client(&nick).await
            };
            racers.push(c);
        }
        // Every racer asks for both names while the rename is under way.
        for (i, c) in racers.iter_mut().enumerate() {
            let first = if i % 2 == 0 { &old } else { &new };
            c.send(&format!(
                "JOIN {first},{}",
                if i % 2 == 0 { &new } else { &old }
            ))
            .await;
        }
        op.send(&format!("RENAME {old} {new}")).await;
        let op_lines = op.sync().await;
        let mut views = Vec::new();
        for c in &mut racers {
            let mut view = BTreeSet::new();
            let nick = c.nick.clone();
            let lines = c.sync().await;
            track(&nick, &mut view, &lines);
            views.push((nick, view));
        }
        let renamed = op_lines.iter().any(|m| m.command == "RENAME");
        let failed = op_lines.iter().any(|m| m.command == "FAIL");
        assert!(renamed != failed, "renamed or refused: {op_lines:?}");
        // The server's view agrees with every client's own.
        let mut observer = server.client(&format!("obs{round}")).await;
        let in_old = names(&mut observer, &old).await;
        let in_new = names(&mut observer, &new).await;
        for (nick, view) in &views {
            let member = |list: &[String]| {
                list.iter()
                    .any(|n| n.trim_start_matches(['@', '+']) == nick)
            };
            assert_eq!(
                view.contains(&old),
                member(&in_old),
                "{nick} in {old}: {view:?} {in_old:?}"
            );
            assert_eq!(
                view.contains(&new),
                member(&in_new),
                "{nick} in {new}: {view:?} {in_new:?}"
            );
            assert!(!view.is_empty(), "{nick} joined something");
        }
        if renamed {
            assert!(in_new.contains(&format!("@op{round}")), "{in_new:?}");
        }
    }
}

#[tokio::test]
async fn a_rename_the_store_cannot_record_is_refused_and_changes_nothing() {
    use std::sync::Arc;
    let store = Arc::new(FillableDisk::new(charla_store::MemoryStore::new()));
    let server = TestServer::start_with_store(store.clone()).await;
    let mut ana = with_caps(&server, "ana", RENAME_CAP).await;
    let mut beto = server.client("beto").await;
    join(&mut ana, "#queda").await;
    join(&mut beto, "#queda").await;
    ana.sync().await;

    store.set_full(true);
    ana.send("RENAME #queda #va").await;
    let fail = ana.expect_command("FAIL").await;
    assert_eq!(
        fail.params[..4],
        ["RENAME", "CANNOT_RENAME", "#queda", "#va"],
        "{fail}"
    );
    beto.expect_nothing().await;
    assert_eq!(names(&mut beto, "#queda").await, ["@ana", "beto"]);
    // The new name was not kept reserved: it can be created, and the rename tried again.
    store.set_full(false);
    ana.send("RENAME #queda #va").await;
    assert_eq!(
        ana.expect_command("RENAME").await.params,
        ["#queda", "#va", ""]
    );
    assert_eq!(beto.expect_command("PART").await.param(0), Some("#queda"));
}
