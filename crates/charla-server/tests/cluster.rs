//! Several nodes as one network over a real `nats-server` (with JetStream) on loopback: users
//! on different nodes see each other, chat in one channel in one order and by private message,
//! and see each other's nick changes and quits; a nick taken on two nodes at once ends with one
//! holder.
//!
//! Each test starts its own `nats-server` on a free port with its own store directory. Without
//! `nats-server` on the PATH (or in /usr/sbin) the tests say they skipped, unless
//! `CHARLA_TEST_NATS_REQUIRED=1` (as in CI), when they fail.

mod common;

use std::process::Stdio;
use std::time::Duration;

use charla_proto::numeric::{ERR_NICKNAMEINUSE, RPL_WHOISUSER};
use charla_server::Config;
use common::{TestClient, TestServer};
use tokio::io::{AsyncBufReadExt, BufReader};

/// A `nats-server` of the test's own, stopped when dropped.
struct Nats {
    child: tokio::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The `nats-server` binary, if this machine has one.
fn nats_binary() -> Option<std::path::PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([std::path::PathBuf::from("/usr/sbin")])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
}

/// Starts `nats-server -js` on a free loopback port; `None` (the test skips) if there is none
/// and it is not required.
async fn nats() -> Option<Nats> {
    let Some(binary) = nats_binary() else {
        assert!(
            std::env::var("CHARLA_TEST_NATS_REQUIRED").as_deref() != Ok("1"),
            "nats-server is required (CHARLA_TEST_NATS_REQUIRED=1) but not installed"
        );
        eprintln!("skipped: no nats-server on this machine");
        return None;
    };
    Some(spawn_nats(&binary, tempfile::tempdir().expect("dir"), "-1").await)
}

/// `nats-server` on `port` (`-1`: a free one) with its store in `dir`.
async fn spawn_nats(binary: &std::path::Path, dir: tempfile::TempDir, port: &str) -> Nats {
    let mut child = tokio::process::Command::new(binary)
        .args(["-js", "-a", "127.0.0.1", "-p", port, "-sd"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("nats-server starts");
    // It logs "Listening for client connections on 127.0.0.1:<port>" and then "Server is ready".
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut url = None;
    let ready = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(at) = line.find("Listening for client connections on ") {
                let addr = &line[at + "Listening for client connections on ".len()..];
                url = Some(format!("nats://{}", addr.trim()));
            }
            if line.contains("Server is ready") {
                return true;
            }
        }
        false
    })
    .await;
    assert!(matches!(ready, Ok(true)), "nats-server did not start");
    // Keep reading its log so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Nats {
        child,
        url: url.expect("nats-server said where it listens"),
        _dir: dir,
    }
}

/// `nats` stopped and started again on its port, with its store.
async fn restart_nats(mut nats: Nats) -> Nats {
    nats.child.kill().await.expect("stop nats-server");
    let port = nats.url.rsplit(':').next().expect("port").to_owned();
    let dir = std::mem::replace(&mut nats._dir, tempfile::tempdir().expect("dir"));
    let binary = nats_binary().expect("nats-server");
    // The port may be held for a moment after the kill.
    for _ in 0..50 {
        if std::net::TcpListener::bind(format!("127.0.0.1:{port}")).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    spawn_nats(&binary, dir, &port).await
}

/// The tests on PostgreSQL, one at a time: one of them restarts the server.
static POSTGRES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The test config of node `node` on `nats`, in a network of its own (`net`).
fn node_config(nats: &Nats, net: &str, node: &str) -> Config {
    let mut config = TestServer::test_config();
    config.server_name = format!("{node}.irc.test");
    config.cluster.nats = vec![nats.url.clone()];
    config.cluster.node = Some(node.to_owned());
    config.cluster.subject = net.to_owned();
    config.cluster.heartbeat_ms = 200;
    config.cluster.dead_after_ms = 1000;
    config
}

/// A network name no other test uses.
fn network(test: &str) -> String {
    format!("t{}_{test}", std::process::id())
}

/// Three nodes on one NATS.
async fn three_nodes(nats: &Nats, net: &str) -> [TestServer; 3] {
    let mut servers = Vec::new();
    for node in ["a", "b", "c"] {
        servers.push(TestServer::start_with(node_config(nats, net, node)).await);
    }
    servers.try_into().map_err(|_| ()).expect("three")
}

/// Waits until `c`'s node knows `nick` (a WHOIS finds it); fails after 5 s.
async fn until_known(c: &mut TestClient, nick: &str) {
    for _ in 0..100 {
        c.send(&format!("WHOIS {nick}")).await;
        let lines = c.sync().await;
        if lines
            .iter()
            .any(|m| m.command == format!("{RPL_WHOISUSER:03}"))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{nick} never became known on {}'s node", c.nick);
}

/// The text of every PRIVMSG to `target` among `lines`, with its sender.
fn said(lines: &[charla_proto::OwnedMessage], target: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|m| m.command == "PRIVMSG" && m.param(0) == Some(target))
        .map(|m| {
            let nick = m
                .source
                .as_deref()
                .unwrap_or("")
                .split('!')
                .next()
                .unwrap_or("");
            format!("{nick}: {}", m.param(1).unwrap_or(""))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_on_three_nodes_chat_in_one_channel_in_one_order() {
    let Some(nats) = nats().await else { return };
    let net = network("order");
    let [a, b, c] = three_nodes(&nats, &net).await;
    let mut ana = a.connect().await;
    ana.register_with_caps("ana", "echo-message").await;
    let mut bea = b.connect().await;
    bea.register_with_caps("bea", "echo-message").await;
    let mut caro = c.connect().await;
    caro.register_with_caps("caro", "echo-message").await;
    until_known(&mut ana, "caro").await;
    until_known(&mut bea, "ana").await;
    until_known(&mut caro, "bea").await;

    ana.send("JOIN #sala").await;
    ana.expect_command("JOIN").await;
    bea.send("JOIN #sala").await;
    // bea's NAMES shows ana, who is on another node; ana sees bea come in.
    let names = bea.expect_numeric(353).await;
    assert!(
        names.param(3).is_some_and(|n| n.contains("@ana")),
        "{names:?}"
    );
    ana.expect(&"bea's JOIN", |m| {
        m.command == "JOIN" && m.source.as_deref().is_some_and(|p| p.starts_with("bea!"))
    })
    .await;
    caro.send("JOIN #sala").await;
    let names = caro.expect_numeric(353).await;
    let listed = names.param(3).unwrap_or("");
    assert!(
        listed.contains("@ana") && listed.contains("bea"),
        "{listed}"
    );
    for c in [&mut ana, &mut bea] {
        c.expect(&"caro's JOIN", |m| {
            m.command == "JOIN" && m.source.as_deref().is_some_and(|p| p.starts_with("caro!"))
        })
        .await;
    }

    // All three talk at once; with echo-message each sees all 60 lines, and all in one order.
    const EACH: usize = 20;
    for i in 0..EACH {
        ana.send(&format!("PRIVMSG #sala :ana {i} ¡hola!")).await;
        bea.send(&format!("PRIVMSG #sala :bea {i} ñandú")).await;
        caro.send(&format!("PRIVMSG #sala :caro {i} 🎉")).await;
    }
    let mut orders = Vec::new();
    for c in [&mut ana, &mut bea, &mut caro] {
        let mut got = Vec::new();
        while got.len() < 3 * EACH {
            let m = c.recv().await;
            got.extend(said(std::slice::from_ref(&m), "#sala"));
        }
        orders.push(got);
    }
    assert_eq!(orders[0], orders[1], "ana and bea saw different orders");
    assert_eq!(orders[0], orders[2], "ana and caro saw different orders");
    for who in ["ana", "bea", "caro"] {
        let theirs: Vec<&String> = orders[0].iter().filter(|l| l.starts_with(who)).collect();
        assert_eq!(theirs.len(), EACH, "{who}'s lines");
        for (i, line) in theirs.iter().enumerate() {
            assert!(
                line.contains(&format!(" {i} ")),
                "{who}'s lines out of order: {line}"
            );
        }
    }

    // A part and a quit reach the other nodes' members.
    caro.send("PART #sala :adiós").await;
    for c in [&mut ana, &mut bea] {
        c.expect(&"caro's PART", |m| {
            m.command == "PART" && m.source.as_deref().is_some_and(|p| p.starts_with("caro!"))
        })
        .await;
    }
    bea.send("QUIT :hasta luego").await;
    let quit = ana.expect_command("QUIT").await;
    assert!(
        quit.source
            .as_deref()
            .is_some_and(|p| p.starts_with("bea!"))
    );
    assert_eq!(quit.param(0), Some("Quit: hasta luego"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_messages_whois_and_nick_changes_cross_nodes() {
    let Some(nats) = nats().await else { return };
    let net = network("direct");
    let a = TestServer::start_with(node_config(&nats, &net, "a")).await;
    let b = TestServer::start_with(node_config(&nats, &net, "b")).await;
    let mut ana = a.client("ana").await;
    let mut bea = b.client("bea").await;
    until_known(&mut ana, "bea").await;

    // LUSERS counts the network: two users on two servers.
    ana.send("LUSERS").await;
    let client = ana.expect_numeric(251).await;
    assert!(
        client.param(1).is_some_and(|t| t.ends_with("on 2 servers")),
        "{client:?}"
    );
    let global = ana.expect_numeric(266).await;
    assert_eq!(global.param(1), Some("2"), "{global:?}");

    ana.send("PRIVMSG bea :¿qué tal, Beatriz?").await;
    let m = bea.expect_command("PRIVMSG").await;
    assert!(
        m.source.as_deref().is_some_and(|p| p.starts_with("ana!")),
        "{m:?}"
    );
    assert_eq!(m.param(0), Some("bea"));
    assert_eq!(m.param(1), Some("¿qué tal, Beatriz?"));
    bea.send("NOTICE ana :bien").await;
    let m = ana.expect_command("NOTICE").await;
    assert_eq!(m.param(1), Some("bien"));

    // The nick ana holds on a, b refuses; a new nick on b is ana's to message.
    let mut other = b.connect().await;
    other.send("NICK ana").await;
    other.send("USER x 0 * :x").await;
    let refused = other.expect_numeric(ERR_NICKNAMEINUSE).await;
    assert_eq!(refused.param(1), Some("ana"));
    bea.send("NICK Beatriz").await;
    bea.expect_command("NICK").await;
    until_known(&mut ana, "Beatriz").await;
    ana.send("PRIVMSG Beatriz :¡nuevo nombre!").await;
    let m = bea.expect_command("PRIVMSG").await;
    assert_eq!(m.param(0), Some("Beatriz"));

    // Sharing a channel, ana sees Beatriz's nick change and quit.
    ana.send("JOIN #patio").await;
    ana.expect_command("JOIN").await;
    bea.send("JOIN #patio").await;
    bea.expect_numeric(366).await;
    ana.expect(&"Beatriz's JOIN", |m| m.command == "JOIN").await;
    bea.send("NICK bea").await;
    let m = ana.expect_command("NICK").await;
    assert!(
        m.source
            .as_deref()
            .is_some_and(|p| p.starts_with("Beatriz!"))
    );
    assert_eq!(m.param(0), Some("bea"));

    // Her away message reaches a (WHOIS there shows it).
    bea.send("AWAY :comiendo").await;
    bea.expect_numeric(306).await;
    let mut away = None;
    for _ in 0..100 {
        ana.send("WHOIS bea").await;
        away = ana
            .sync()
            .await
            .into_iter()
            .find(|m| m.command == "301")
            .and_then(|m| m.param(2).map(str::to_owned));
        if away.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(away.as_deref(), Some("comiendo"));

    // An operator on a kills a user of b: b ends her session, and a sees her quit.
    ana.send(&format!(
        "OPER {} {}",
        common::OPER_NAME,
        common::OPER_PASSWORD
    ))
    .await;
    ana.expect_numeric(381).await;
    ana.send("KILL bea :basta").await;
    let gone = bea.expect_closed().await;
    assert!(
        gone.iter().any(|m| m.command == "ERROR"),
        "bea was told why: {gone:?}"
    );
    let quit = ana.expect_command("QUIT").await;
    assert!(
        quit.source
            .as_deref()
            .is_some_and(|p| p.starts_with("bea!"))
    );
    assert!(
        quit.param(0).is_some_and(|r| r.contains("basta")),
        "{quit:?}"
    );
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_takes_its_users_out_of_the_others_view() {
    let Some(nats) = nats().await else { return };
    let net = network("stop");
    let a = TestServer::start_with(node_config(&nats, &net, "a")).await;
    let b = TestServer::start_with(node_config(&nats, &net, "b")).await;
    let mut ana = a.client("ana").await;
    let mut bea = b.client("bea").await;
    until_known(&mut ana, "bea").await;
    ana.send("JOIN #sala").await;
    ana.expect_command("JOIN").await;
    bea.send("JOIN #sala").await;
    bea.expect_numeric(366).await;
    ana.expect(&"bea's JOIN", |m| m.command == "JOIN").await;
    b.handle.shutdown().await;
    let quit = ana.expect_command("QUIT").await;
    assert!(
        quit.source
            .as_deref()
            .is_some_and(|p| p.starts_with("bea!"))
    );
    // The nick is free again.
    ana.send("WHOIS bea").await;
    ana.expect_numeric(401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_modes_and_kicks_cross_nodes() {
    let Some(nats) = nats().await else { return };
    let net = network("modes");
    let a = TestServer::start_with(node_config(&nats, &net, "a")).await;
    let b = TestServer::start_with(node_config(&nats, &net, "b")).await;
    let mut ana = a.client("ana").await;
    let mut bea = b.client("bea").await;
    until_known(&mut ana, "bea").await;
    ana.send("JOIN #sala").await;
    ana.expect_command("JOIN").await;
    bea.send("JOIN #sala").await;
    bea.expect_numeric(366).await;
    ana.expect(&"bea's JOIN", |m| m.command == "JOIN").await;

    ana.send("TOPIC #sala :Bienvenidos a la sala").await;
    let m = bea.expect_command("TOPIC").await;
    assert_eq!(m.param(1), Some("Bienvenidos a la sala"));
    bea.send("TOPIC #sala").await;
    let m = bea.expect_numeric(332).await;
    assert_eq!(m.param(2), Some("Bienvenidos a la sala"));

    // Statuses and flags set on a hold on b: voiced, bea speaks in +m; devoiced, she cannot.
    ana.send("MODE #sala +mv bea").await;
    let m = bea.expect_command("MODE").await;
    assert_eq!(m.param(1), Some("+mv"));
    bea.send("PRIVMSG #sala :tengo voz").await;
    let m = ana.expect_command("PRIVMSG").await;
    assert_eq!(m.param(1), Some("tengo voz"));
    ana.send("MODE #sala -v bea").await;
    bea.expect_command("MODE").await;
    bea.send("PRIVMSG #sala :¿y ahora?").await;
    bea.expect_numeric(404).await;

    ana.send("KICK #sala bea :fuera").await;
    let m = bea.expect_command("KICK").await;
    assert_eq!(m.param(1), Some("bea"));
    assert_eq!(m.param(2), Some("fuera"));
    bea.send("NAMES #sala").await;
    let names = bea.expect_numeric(366).await;
    assert_eq!(names.param(1), Some("#sala"));
    ana.send("NAMES #sala").await;
    let names = ana.expect_numeric(353).await;
    assert_eq!(names.param(3), Some("@ana"));

    // Invite-only: b refuses bea (it learns the modes from a), then lets her in once ana, on
    // a, invites her.
    ana.send("MODE #sala +i").await;
    ana.expect_command("MODE").await;
    bea.send("JOIN #sala").await;
    bea.expect_numeric(473).await;
    ana.send("INVITE bea #sala").await;
    ana.expect_numeric(341).await;
    let invite = bea.expect_command("INVITE").await;
    assert_eq!(invite.param(1), Some("#sala"));
    bea.send("JOIN #sala").await;
    bea.expect_command("JOIN").await;
    bea.send("PART #sala").await;
    bea.expect_command("PART").await;
    ana.send("MODE #sala -i").await;
    ana.expect_command("MODE").await;

    // b has no member in #sala now, yet its LIST shows it, as a tells (once a has applied
    // bea's PART, which comes through the log).
    let mut listed = Vec::new();
    for _ in 0..100 {
        bea.send("LIST").await;
        listed = bea
            .sync()
            .await
            .into_iter()
            .filter(|m| m.command == "322")
            .collect();
        if listed.iter().any(|m| {
            m.param(1) == Some("#sala")
                && m.param(2) == Some("1")
                && m.param(3) == Some("Bienvenidos a la sala")
        }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        listed
            .iter()
            .any(|m| m.param(1) == Some("#sala") && m.param(2) == Some("1")),
        "{listed:?}"
    );

    // Its NAMES too, from a's answer.
    bea.send("NAMES #sala").await;
    let names = bea.expect_numeric(353).await;
    assert_eq!(names.param(2), Some("#sala"));
    assert_eq!(names.param(3), Some("@ana"));
    bea.expect_numeric(366).await;
    bea.send("WHO #sala").await;
    let who = bea.expect_numeric(352).await;
    assert_eq!(who.param(5), Some("ana"), "{who:?}");
    bea.expect_numeric(315).await;

    // A node that starts following a channel learns its modes: b checks a's key.
    ana.send("JOIN #clave").await;
    ana.expect_command("JOIN").await;
    ana.send("MODE #clave +k secreto").await;
    ana.expect_command("MODE").await;
    bea.send("JOIN #clave").await;
    bea.expect_numeric(475).await;
    bea.send("JOIN #clave secreto").await;
    bea.expect_command("JOIN").await;
}

/// Reads a `BATCH +id …` … `BATCH -id` and returns the lines inside.
async fn read_batch(c: &mut TestClient) -> Vec<charla_proto::OwnedMessage> {
    let open = c.expect_command("BATCH").await;
    let id = open
        .param(0)
        .and_then(|r| r.strip_prefix('+'))
        .expect("opening BATCH")
        .to_owned();
    let mut inside = Vec::new();
    loop {
        let m = c.recv().await;
        if m.command == "BATCH" && m.param(0) == Some(&format!("-{id}")) {
            return inside;
        }
        inside.push(m);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_sharing_postgresql_keep_one_history_in_the_order_members_saw() {
    use charla_server::account::password::Password;
    use charla_server::config::{StoreBackend, StoreConfig};
    let _alone = POSTGRES.lock().await;
    let Some(nats) = nats().await else { return };
    let Some(database) = charla_store::testing::TestDatabase::create() else {
        return;
    };
    let net = network("history");
    let on_postgres = |node: &str| {
        let mut config = node_config(&nats, &net, node);
        config.store = StoreConfig {
            backend: StoreBackend::Postgres,
            url: Some(Password::new(database.url())),
            ..StoreConfig::default()
        };
        config
    };
    let a = TestServer::start_with(on_postgres("a")).await;
    let b = TestServer::start_with(on_postgres("b")).await;
    const CAPS: &str = "batch server-time message-tags draft/chathistory echo-message";
    let mut ana = a.connect().await;
    ana.register_with_caps("ana", CAPS).await;
    let mut bea = b.connect().await;
    bea.register_with_caps("bea", CAPS).await;
    until_known(&mut ana, "bea").await;
    ana.send("JOIN #historia").await;
    ana.expect_command("JOIN").await;
    bea.send("JOIN #historia").await;
    bea.expect_numeric(366).await;
    ana.expect(&"bea's JOIN", |m| m.command == "JOIN").await;

    const EACH: usize = 15;
    for i in 0..EACH {
        ana.send(&format!("PRIVMSG #historia :ana {i}")).await;
        bea.send(&format!("PRIVMSG #historia :bea {i}")).await;
    }
    let mut live = Vec::new();
    for c in [&mut ana, &mut bea] {
        let mut got = Vec::new();
        while got.len() < 2 * EACH {
            let m = c.recv().await;
            if m.command == "PRIVMSG" {
                got.push((
                    m.tag("msgid").map(str::to_owned),
                    m.param(1).map(str::to_owned),
                ));
            }
        }
        live.push(got);
    }
    assert_eq!(live[0], live[1], "ana and bea saw one order");
    // Each message is in history once, in that order, whichever node is asked.
    for c in [&mut ana, &mut bea] {
        c.send("CHATHISTORY LATEST #historia * 100").await;
        let kept: Vec<_> = read_batch(c)
            .await
            .into_iter()
            .filter(|m| m.command == "PRIVMSG")
            .map(|m| {
                (
                    m.tag("msgid").map(str::to_owned),
                    m.param(1).map(str::to_owned),
                )
            })
            .collect();
        assert_eq!(
            kept, live[0],
            "{}'s node reads the history as it was seen",
            c.nick
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nick_taken_on_two_nodes_at_once_ends_with_one_holder() {
    let Some(nats) = nats().await else { return };
    let net = network("race");
    let a = TestServer::start_with(node_config(&nats, &net, "a")).await;
    let b = TestServer::start_with(node_config(&nats, &net, "b")).await;
    let mut watcher = a.client("watcher").await;
    let mut other = b.client("other").await;
    until_known(&mut watcher, "other").await;
    // Both ask for "pepe" at the same moment, each on its own node.
    let mut on_a = a.connect().await;
    let mut on_b = b.connect().await;
    on_a.send("NICK pepe").await;
    on_b.send("NICK pepe").await;
    on_a.send("USER x 0 * :de a").await;
    on_b.send("USER x 0 * :de b").await;
    // Each is welcomed, or refused because its node had heard of the other already.
    let outcome = |m: &charla_proto::OwnedMessage| m.command == "001" || m.command == "433";
    let first_a = on_a.expect(&"welcome or refusal", outcome).await.command;
    let first_b = on_b.expect(&"welcome or refusal", outcome).await.command;
    let holder = match (first_a.as_str(), first_b.as_str()) {
        // Both took it: the user of the node whose name sorts first keeps it, the other is
        // renamed by its node and told why.
        ("001", "001") => {
            let renamed = on_b
                .expect(&"a NICK away from pepe", |m| {
                    m.command == "NICK"
                        && m.source.as_deref().is_some_and(|p| p.starts_with("pepe!"))
                })
                .await;
            assert!(
                renamed.param(0).is_some_and(|n| n.starts_with("Guest")),
                "{renamed:?}"
            );
            "de a"
        }
        ("001", "433") => "de a",
        ("433", "001") => "de b",
        other => panic!("nobody got pepe: {other:?}"),
    };
    // Both nodes agree on who holds it.
    for c in [&mut watcher, &mut other] {
        let mut realname = None;
        for _ in 0..100 {
            c.send("WHOIS pepe").await;
            realname = c
                .sync()
                .await
                .into_iter()
                .find(|m| m.command == format!("{RPL_WHOISUSER:03}"))
                .and_then(|m| m.param(5).map(str::to_owned));
            if realname.as_deref() == Some(holder) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(realname.as_deref(), Some(holder), "{}'s node", c.nick);
    }
}

/// A node run as its own process (the `charla-server` binary), so that it can be killed with
/// SIGKILL; killed and reaped when dropped.
struct NodeProcess {
    child: std::process::Child,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts node `node` of network `net` as a process, and waits for its listener.
fn node_process(nats: &Nats, net: &str, node: &str) -> NodeProcess {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("charla.toml");
    std::fs::write(
        &config,
        format!(
            "server_name = \"{node}.irc.test\"\n\
             data_dir = {:?}\n\
             [[listeners]]\n\
             address = \"127.0.0.1:0\"\n\
             [http]\n\
             enabled = false\n\
             [files]\n\
             enabled = false\n\
             [store]\n\
             backend = \"memory\"\n\
             [flood]\n\
             enabled = false\n\
             [cluster]\n\
             nats = [\"{}\"]\n\
             node = \"{node}\"\n\
             subject = \"{net}\"\n\
             heartbeat_ms = 200\n\
             dead_after_ms = 1000\n",
            dir.path().join("data"),
            nats.url,
        ),
    )
    .expect("config");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_charla-server"))
        .arg("--config")
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn charla-server");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let addr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("the node says where it listens");
        if line.contains("charla-server listening")
            && let Some(rest) = line.split("addr=").nth(1)
        {
            break rest
                .split_whitespace()
                .next()
                .and_then(|a| a.parse().ok())
                .expect("an address");
        }
    };
    NodeProcess {
        child,
        addr,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_traffic_loses_no_message_anyone_received() {
    let Some(nats) = nats().await else { return };
    let net = network("kill");
    let a = TestServer::start_with(node_config(&nats, &net, "a")).await;
    let mut b = node_process(&nats, &net, "b");
    const CAPS: &str = "batch server-time message-tags draft/chathistory echo-message";
    let mut ana = a.connect().await;
    ana.register_with_caps("ana", CAPS).await;
    let mut bea = TestClient::connect(b.addr).await;
    bea.register_with_caps("bea", CAPS).await;
    until_known(&mut ana, "bea").await;
    ana.send("JOIN #sala").await;
    ana.expect_command("JOIN").await;
    bea.send("JOIN #sala").await;
    bea.expect_numeric(366).await;
    ana.expect(&"bea's JOIN", |m| m.command == "JOIN").await;

    // Both talk; b is killed once ana has seen some of bea's lines.
    let msgid = |m: &charla_proto::OwnedMessage| m.tag("msgid").map(str::to_owned);
    for i in 0..30 {
        ana.send(&format!("PRIVMSG #sala :ana {i}")).await;
        bea.send(&format!("PRIVMSG #sala :bea {i}")).await;
    }
    let mut ana_got = Vec::new();
    while ana_got.len() < 30 {
        let m = ana.recv().await;
        if m.command == "PRIVMSG" {
            ana_got.push(msgid(&m));
        }
    }
    let mut bea_got = Vec::new();
    while bea_got.len() < 20 {
        let m = bea.recv().await;
        if m.command == "PRIVMSG" {
            bea_got.push(msgid(&m));
        }
    }
    b.child.kill().expect("kill -9");
    let _ = b.child.wait();
    // What bea's node had sent her before it died, as far as her socket kept it (a reset may
    // drop what was not read yet).
    bea_got.extend(
        bea.expect_closed()
            .await
            .iter()
            .filter(|m| m.command == "PRIVMSG")
            .map(msgid),
    );
    // a drops b's users within a few seconds, with a net-split reason.
    let quit = ana.expect_command("QUIT").await;
    assert_eq!(quit.param(0), Some("a b"));
    // bea comes back on a, and every line either of them received is in history there, in
    // the order ana saw.
    let mut again = a.connect().await;
    again.register_with_caps("bea", CAPS).await;
    again.send("JOIN #sala").await;
    again.expect_numeric(366).await;
    // (ana asks: she was there all along, and may read all of it.)
    ana.send("CHATHISTORY LATEST #sala * 1000").await;
    let kept: Vec<_> = read_batch(&mut ana)
        .await
        .iter()
        .filter(|m| m.command == "PRIVMSG")
        .map(msgid)
        .collect();
    for id in ana_got.iter().chain(&bea_got) {
        assert!(
            kept.contains(id),
            "{id:?} was received but is not in history"
        );
    }
    let order: Vec<_> = kept.iter().filter(|id| ana_got.contains(id)).collect();
    assert_eq!(
        order,
        ana_got.iter().collect::<Vec<_>>(),
        "history keeps ana's order"
    );
}

/// The NAMES of `channel` as `c`'s node gives them, sorted.
async fn names_of(c: &mut TestClient, channel: &str) -> Vec<String> {
    c.send(&format!("NAMES {channel}")).await;
    let mut names: Vec<String> = c
        .sync()
        .await
        .into_iter()
        .filter(|m| m.command == "353")
        .flat_map(|m| {
            m.param(3)
                .unwrap_or("")
                .split(' ')
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_created_on_two_nodes_at_once_ends_with_one_operator() {
    let Some(nats) = nats().await else { return };
    let net = network("create");
    let a = TestServer::start_with(node_config(&nats, &net, "a")).await;
    let b = TestServer::start_with(node_config(&nats, &net, "b")).await;
    let mut ana = a.client("ana").await;
    let mut bea = b.client("bea").await;
    until_known(&mut ana, "bea").await;
    until_known(&mut bea, "ana").await;
    ana.send("JOIN #nuevo").await;
    bea.send("JOIN #nuevo").await;
    ana.expect_numeric(366).await;
    bea.expect_numeric(366).await;
    // Whatever the race gave, both nodes settle on one operator and show the same NAMES.
    let mut settled = None;
    for _ in 0..100 {
        let on_a = names_of(&mut ana, "#nuevo").await;
        let on_b = names_of(&mut bea, "#nuevo").await;
        let ops = on_a.iter().filter(|n| n.starts_with('@')).count();
        if on_a == on_b && on_a.len() == 2 && ops == 1 {
            settled = Some(on_a);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let names = settled.expect("both nodes show one operator and both members");
    assert!(
        names == ["@ana", "bea"] || names == ["@bea", "ana"],
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_node_sends_its_users_away_a_few_at_a_time_then_stops() {
    let Some(nats) = nats().await else { return };
    let net = network("drain");
    let a = TestServer::start_with(node_config(&nats, &net, "a")).await;
    let b = TestServer::start_with(node_config(&nats, &net, "b")).await;
    let mut ana = a.client("ana").await;
    let mut bea = b.client("bea").await;
    let mut caro = b.client("caro").await;
    until_known(&mut ana, "caro").await;
    for c in [&mut ana, &mut bea, &mut caro] {
        c.send("JOIN #sala").await;
        c.expect_numeric(366).await;
    }
    ana.sync().await;
    let drained = tokio::spawn(async move {
        b.handle.drain(10).await;
        b
    });
    for c in [&mut bea, &mut caro] {
        let gone = c.expect_closed().await;
        assert!(
            gone.iter()
                .any(|m| m.command == "ERROR"
                    && m.param(0).is_some_and(|t| t.contains("maintenance"))),
            "{}: {gone:?}",
            c.nick
        );
    }
    // ana sees both leave, told why, one after the other.
    for _ in 0..2 {
        let quit = ana.expect_command("QUIT").await;
        assert_eq!(quit.param(0), Some(charla_server::server::DRAIN_REASON));
    }
    let b = drained.await.expect("drained");
    assert!(b.handle.is_shut_down());
    // A new connection finds no listener, or one that says goodbye at once.
    if let Ok(stream) = tokio::net::TcpStream::connect(b.addr).await {
        let mut late = TestClient::from_stream(stream);
        late.send("NICK late").await;
        late.expect_closed().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_nats_refuses_messages_rather_than_diverging() {
    let Some(mut nats) = nats().await else { return };
    let net = network("cutoff");
    let slow_to_forget = |node: &str| {
        let mut config = node_config(&nats, &net, node);
        // Long enough for the checks below, while the other node's users are still known.
        config.cluster.dead_after_ms = 10_000;
        config
    };
    let a = TestServer::start_with(slow_to_forget("a")).await;
    let b = TestServer::start_with(slow_to_forget("b")).await;
    let mut ana = a.client("ana").await;
    let mut bea = b.client("bea").await;
    until_known(&mut ana, "bea").await;
    ana.send("JOIN #sala").await;
    ana.expect_numeric(366).await;
    bea.send("JOIN #sala").await;
    bea.expect_numeric(366).await;
    ana.expect(&"bea's JOIN", |m| m.command == "JOIN").await;

    nats.child.kill().await.expect("stop nats-server");
    // Until a notices, a message may still be tried; every one is refused with FAIL, none is
    // delivered to bea (who is on b, beyond the cut) nor echoed as sent.
    ana.send("PRIVMSG #sala :¿hay alguien?").await;
    let fail = ana.expect_command("FAIL").await;
    assert_eq!(fail.param(1), Some("MESSAGE_ERROR"), "{fail:?}");
    ana.send("PRIVMSG bea :¿me oyes?").await;
    let fail = ana.expect_command("FAIL").await;
    assert_eq!(fail.param(2), Some("bea"), "{fail:?}");
    bea.expect_nothing().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_store_fails_holds_the_log_s_messages_until_it_can_record_them() {
    use common::fillable::FillableDisk;
    use std::sync::Arc;
    let Some(nats) = nats().await else { return };
    let net = network("store");
    let a = TestServer::start_with(node_config(&nats, &net, "a")).await;
    let disk = Arc::new(FillableDisk::new(charla_store::MemoryStore::new()));
    let b_handle =
        charla_server::Server::start_with_store(node_config(&nats, &net, "b"), disk.clone())
            .await
            .expect("b starts");
    let b_addr = b_handle.local_addrs()[0];
    let mut ana = a.client("ana").await;
    let mut bea = TestClient::connect(b_addr).await;
    bea.register("bea").await;
    until_known(&mut ana, "bea").await;
    ana.send("JOIN #sala").await;
    ana.expect_numeric(366).await;
    bea.send("JOIN #sala").await;
    bea.expect_numeric(366).await;
    ana.expect(&"bea's JOIN", |m| m.command == "JOIN").await;

    // b's disk is full: ana's lines go out on a, and wait on b, in order, unrecorded nowhere.
    disk.set_full(true);
    for i in 0..3 {
        ana.send(&format!("PRIVMSG #sala :uno {i}")).await;
    }
    ana.sync().await;
    let held = bea.try_recv(Duration::from_millis(300)).await;
    assert!(held.is_none(), "delivered unrecorded: {held:?}");
    // Room again: bea gets all three, in order.
    disk.set_full(false);
    for i in 0..3 {
        let m = bea.expect_command("PRIVMSG").await;
        assert_eq!(m.param(1), Some(format!("uno {i}").as_str()));
    }
    b_handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_redacted_on_one_node_is_gone_on_the_others() {
    let Some(nats) = nats().await else { return };
    let net = network("redact");
    let a = TestServer::start_with(node_config(&nats, &net, "a")).await;
    let b = TestServer::start_with(node_config(&nats, &net, "b")).await;
    const CAPS: &str =
        "batch server-time message-tags draft/chathistory echo-message draft/message-redaction";
    let mut ana = a.connect().await;
    ana.register_with_caps("ana", CAPS).await;
    let mut bea = b.connect().await;
    bea.register_with_caps("bea", CAPS).await;
    until_known(&mut ana, "bea").await;
    ana.send("JOIN #sala").await;
    ana.expect_numeric(366).await;
    bea.send("JOIN #sala").await;
    bea.expect_numeric(366).await;
    ana.expect(&"bea's JOIN", |m| m.command == "JOIN").await;

    bea.send("PRIVMSG #sala :me equivoqué").await;
    let mine = bea.expect_command("PRIVMSG").await;
    let msgid = mine.tag("msgid").expect("msgid").to_owned();
    ana.expect_command("PRIVMSG").await;
    bea.send(&format!("REDACT #sala {msgid} :error")).await;
    let redact = ana.expect_command("REDACT").await;
    assert_eq!(redact.param(1), Some(msgid.as_str()));
    // a's own store no longer has it.
    ana.send("CHATHISTORY LATEST #sala * 10").await;
    let kept = read_batch(&mut ana).await;
    assert!(
        !kept
            .iter()
            .any(|m| m.command == "PRIVMSG" && m.tag("msgid") == Some(msgid.as_str())),
        "{kept:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_nats_comes_back_the_nodes_chat_again() {
    let Some(nats) = nats().await else { return };
    let net = network("back");
    let slow_to_forget = |node: &str| {
        let mut config = node_config(&nats, &net, node);
        config.cluster.dead_after_ms = 10_000;
        config
    };
    let a = TestServer::start_with(slow_to_forget("a")).await;
    let b = TestServer::start_with(slow_to_forget("b")).await;
    let mut ana = a.client("ana").await;
    let mut bea = b.client("bea").await;
    until_known(&mut ana, "bea").await;
    ana.send("JOIN #sala").await;
    ana.expect_numeric(366).await;
    bea.send("JOIN #sala").await;
    bea.expect_numeric(366).await;
    ana.expect(&"bea's JOIN", |m| m.command == "JOIN").await;

    let _nats = restart_nats(nats).await;
    // Lines sent while the nodes find NATS again are refused (FAIL) or wait for it; then bea
    // hears ana again.
    for i in 0..60 {
        ana.send(&format!("PRIVMSG #sala :¿vuelves? {i}")).await;
        while ana.try_recv(Duration::from_millis(1)).await.is_some() {}
        if let Some(m) = bea.try_recv(Duration::from_millis(200)).await
            && m.command == "PRIVMSG"
        {
            return;
        }
    }
    panic!("bea never heard ana again after NATS came back");
}

/// The config of node `node` keeping its store in the PostgreSQL database `url`.
fn on_postgres(nats: &Nats, net: &str, node: &str, url: &str) -> Config {
    use charla_server::account::password::Password;
    use charla_server::config::{StoreBackend, StoreConfig};
    let mut config = node_config(nats, net, node);
    config.store = StoreConfig {
        backend: StoreBackend::Postgres,
        url: Some(Password::new(url)),
        ..StoreConfig::default()
    };
    config
}

/// The PostgreSQL server is restarted (`CHARLA_TEST_POSTGRES_RESTART`, a command: CI gives
/// `pg_ctlcluster <version> main restart`) while users on two nodes talk: every line is
/// delivered to both, in one order, once the store takes it again, and history holds them all
/// in that order. Skips without the command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_loses_no_line_and_keeps_the_order() {
    let _alone = POSTGRES.lock().await;
    let Ok(restart) = std::env::var("CHARLA_TEST_POSTGRES_RESTART") else {
        eprintln!("skipped: no CHARLA_TEST_POSTGRES_RESTART command");
        return;
    };
    let Some(nats) = nats().await else { return };
    let Some(database) = charla_store::testing::TestDatabase::create() else {
        return;
    };
    let net = network("pgrestart");
    let a = TestServer::start_with(on_postgres(&nats, &net, "a", database.url())).await;
    let b = TestServer::start_with(on_postgres(&nats, &net, "b", database.url())).await;
    const CAPS: &str = "batch server-time message-tags draft/chathistory echo-message";
    let mut ana = a.connect().await;
    ana.register_with_caps("ana", CAPS).await;
    let mut bea = b.connect().await;
    bea.register_with_caps("bea", CAPS).await;
    until_known(&mut ana, "bea").await;
    ana.send("JOIN #reinicio").await;
    ana.expect_command("JOIN").await;
    bea.send("JOIN #reinicio").await;
    bea.expect_numeric(366).await;
    ana.expect(&"bea's JOIN", |m| m.command == "JOIN").await;

    const EACH: usize = 20;
    let restarting = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&restart)
        .status();
    let talking = async {
        for i in 0..EACH {
            ana.send(&format!("PRIVMSG #reinicio :ana {i}")).await;
            bea.send(&format!("PRIVMSG #reinicio :bea {i}")).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (status, ()) = tokio::join!(restarting, talking);
    assert!(
        status.expect("restart command runs").success(),
        "the restart failed"
    );
    let mut seen = Vec::new();
    for c in [&mut ana, &mut bea] {
        let mut got = Vec::new();
        while got.len() < 2 * EACH {
            // A PostgreSQL restart takes a few seconds: wait up to 30 for each line.
            let m = c
                .try_recv(Duration::from_secs(30))
                .await
                .unwrap_or_else(|| panic!("{}: lines stopped coming", c.nick));
            match m.command.as_str() {
                "PRIVMSG" => got.push(m.tag("msgid").map(str::to_owned)),
                // A line in the log waits for the store; none is refused.
                "FAIL" => panic!("{}: a line was refused: {m:?}", c.nick),
                _ => {}
            }
        }
        seen.push(got);
    }
    assert_eq!(seen[0], seen[1], "ana and bea saw one order");
    assert!(!seen[0].is_empty());
    ana.send("CHATHISTORY LATEST #reinicio * 100").await;
    let kept: Vec<_> = read_batch(&mut ana)
        .await
        .into_iter()
        .filter(|m| m.command == "PRIVMSG")
        .map(|m| m.tag("msgid").map(str::to_owned))
        .collect();
    assert_eq!(
        kept, seen[0],
        "history holds every line seen, in that order"
    );
}
