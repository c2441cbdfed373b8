//! Users on several nodes: one channel in one order, private messages, WHOIS, nick and away
//! changes, topics, modes, kicks and invitations, one history on a shared PostgreSQL, and the
//! races (one nick, one channel, taken on two nodes at once), REDACT.

use super::*;

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
    let (a, b, mut ana, mut bea) = ana_and_bea(&nats, &net, |_| {}).await;

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
    both_in(&mut ana, &mut bea, "#patio").await;
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

    // MONITOR on a follows bea on b; a's operator console lists her.
    ana.send("MONITOR + bea").await;
    let online = ana.expect_numeric(730).await;
    assert!(
        online.param(1).is_some_and(|t| t.starts_with("bea!")),
        "{online:?}"
    );
    assert!(a.handle.users().iter().any(|u| u.nick == "bea"));

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
    let offline = ana.expect_numeric(731).await;
    assert_eq!(offline.param(1), Some("bea"));
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_modes_and_kicks_cross_nodes() {
    let Some(nats) = nats().await else { return };
    let net = network("modes");
    let (_a, _b, mut ana, mut bea) = ana_and_bea(&nats, &net, |_| {}).await;
    both_in(&mut ana, &mut bea, "#sala").await;

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
    let (mut ana, mut bea) = pair_in(a.addr, b.addr, CAPS, "#historia").await;

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
        let kept: Vec<_> = c
            .read_batch()
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
    // Each is welcomed, or refused because its node had heard of the other already; when both
    // took it, the user of the node whose name sorts first keeps it and the other is renamed by
    // its node and told why (before or after its welcome: the rename may come mid-registration).
    let outcome = |m: &charla_proto::OwnedMessage| m.command == "001" || m.command == "433";
    let first_a = on_a.expect(&"welcome or refusal", outcome).await.command;
    let holder = if first_a == "433" {
        on_b.expect_numeric(1).await;
        "de b"
    } else {
        let (mut welcomed, mut renamed) = (false, false);
        loop {
            let m = on_b.recv().await;
            match m.command.as_str() {
                "433" if !welcomed => break,
                "001" => welcomed = true,
                "NICK" if m.source.as_deref().is_some_and(|p| p.starts_with("pepe!")) => {
                    assert!(m.param(0).is_some_and(|n| n.starts_with("Guest")), "{m:?}");
                    renamed = true;
                }
                _ => {}
            }
            if welcomed && renamed {
                break;
            }
        }
        "de a"
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_created_on_two_nodes_at_once_ends_with_one_operator() {
    let Some(nats) = nats().await else { return };
    let net = network("create");
    let (_a, _b, mut ana, mut bea) = ana_and_bea(&nats, &net, |_| {}).await;
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
async fn a_message_redacted_on_one_node_is_gone_on_the_others() {
    let Some(nats) = nats().await else { return };
    let net = network("redact");
    let a = TestServer::start_with(node_config(&nats, &net, "a")).await;
    let b = TestServer::start_with(node_config(&nats, &net, "b")).await;
    const CAPS: &str =
        "batch server-time message-tags draft/chathistory echo-message draft/message-redaction";
    let (mut ana, mut bea) = pair_in(a.addr, b.addr, CAPS, "#sala").await;

    bea.send("PRIVMSG #sala :me equivoqué").await;
    let mine = bea.expect_command("PRIVMSG").await;
    let msgid = mine.tag("msgid").expect("msgid").to_owned();
    ana.expect_command("PRIVMSG").await;
    bea.send(&format!("REDACT #sala {msgid} :error")).await;
    let redact = ana.expect_command("REDACT").await;
    assert_eq!(redact.param(1), Some(msgid.as_str()));
    // a's own store no longer has it.
    ana.send("CHATHISTORY LATEST #sala * 10").await;
    let kept = ana.read_batch().await;
    assert!(
        !kept
            .iter()
            .any(|m| m.command == "PRIVMSG" && m.tag("msgid") == Some(msgid.as_str())),
        "{kept:?}"
    );
}

/// The topic of `channel` as `c`'s node has it.
async fn topic_of(c: &mut TestClient, channel: &str) -> Option<String> {
    c.send(&format!("TOPIC {channel}")).await;
    c.sync()
        .await
        .into_iter()
        .find(|m| m.command == "332")
        .and_then(|m| m.param(2).map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_topics_set_on_two_nodes_at_once_end_the_same_everywhere() {
    let Some(nats) = nats().await else { return };
    let net = network("topics");
    let (_a, _b, mut ana, mut bea) = ana_and_bea(&nats, &net, |_| {}).await;
    ana.send("JOIN #sala").await;
    ana.expect_numeric(366).await;
    ana.send("MODE #sala -t").await;
    ana.expect_command("MODE").await;
    bea.send("JOIN #sala").await;
    bea.expect_numeric(366).await;
    ana.expect(&"bea's JOIN", |m| m.command == "JOIN").await;
    ana.send("TOPIC #sala :de ana").await;
    bea.send("TOPIC #sala :de bea").await;
    let mut last = (None, None);
    for _ in 0..100 {
        last = (
            topic_of(&mut ana, "#sala").await,
            topic_of(&mut bea, "#sala").await,
        );
        if last.0.is_some() && last.0 == last.1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the two nodes kept two topics: {last:?}");
}

/// Two operators on two nodes giving and taking one member's voice at the same moments: every
/// node ends with the status the log's order gives, and the member was told it last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_changed_on_two_nodes_at_once_end_the_same_everywhere() {
    let Some(nats) = nats().await else { return };
    let net = network("statuses");
    // No flood control: the lines of both run as they come, so the two nodes race.
    let (_a, b, mut ana, mut bea) = ana_and_bea(&nats, &net, |c| c.flood.enabled = false).await;
    both_in(&mut ana, &mut bea, "#sala").await;
    ana.send("MODE #sala +o bea").await;
    bea.expect_command("MODE").await;
    let mut caro = b.client("caro").await;
    caro.send("JOIN #sala").await;
    caro.expect_numeric(366).await;
    ana.expect_command("JOIN").await;
    for round in 0..40 {
        // Each sends its line without waiting for the other's to come back.
        let (give, take) = if round % 2 == 0 {
            ("+v", "-v")
        } else {
            ("-v", "+v")
        };
        ana.send(&format!("MODE #sala {give} caro")).await;
        bea.send(&format!("MODE #sala {take} caro")).await;
    }
    let mut last = (Vec::new(), Vec::new());
    for _ in 0..100 {
        last = (
            names_of(&mut ana, "#sala").await,
            names_of(&mut bea, "#sala").await,
        );
        if last.0 == last.1 {
            // Settled (every change has come through the log by now, the last one long
            // applied): what caro's client was told last is what its node says.
            tokio::time::sleep(Duration::from_millis(300)).await;
            caro.send("NAMES #sala").await;
            let seen = caro.sync().await;
            let told = seen
                .iter()
                .rfind(|m| m.command == "MODE" && m.param(2) == Some("caro"))
                .and_then(|m| m.param(1).map(str::to_owned));
            let names: Vec<&str> = seen
                .iter()
                .filter(|m| m.command == "353")
                .flat_map(|m| m.param(3).unwrap_or("").split(' '))
                .collect();
            let voiced = names.contains(&"+caro");
            if let Some(told) = told {
                assert_eq!(
                    told == "+v",
                    voiced,
                    "caro was told {told}, names {names:?}"
                );
            }
            assert_eq!(
                names_of(&mut ana, "#sala").await,
                names_of(&mut bea, "#sala").await
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the two nodes kept two views: {last:?}");
}

/// A message from outside to a channel with no member on the sender's node: the node looks the
/// channel up on the others, checks it against its modes there (`-n` lets it in, `+n` and a
/// ban keep it out), and logs it; the members elsewhere get it and history keeps it. A channel
/// no node has is 401, as on one server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_from_outside_reaches_a_channel_whose_members_are_elsewhere() {
    let Some(nats) = nats().await else { return };
    let net = network("outside");
    let (_a, _b, mut ana, mut bea) = ana_and_bea(&nats, &net, |_| {}).await;
    ana.send("JOIN #sala").await;
    ana.expect_numeric(366).await;
    // +n (the default): kept out, with the channel's own name.
    bea.send("PRIVMSG #SALA :¿se puede?").await;
    let refused = bea.expect_numeric(404).await;
    assert_eq!(refused.param(1), Some("#sala"), "{refused:?}");

    ana.send("MODE #sala -n").await;
    ana.expect_command("MODE").await;
    bea.send("CAP REQ :echo-message").await;
    bea.expect_command("CAP").await;
    bea.send("PRIVMSG #sala,#nadie :hola desde fuera, año nuevo")
        .await;
    let m = ana.expect_command("PRIVMSG").await;
    assert_eq!(
        m.source.as_deref().map(|s| s.split('!').next()),
        Some(Some("bea"))
    );
    assert_eq!(m.param(1), Some("hola desde fuera, año nuevo"));
    // bea: 401 for the channel no node has, and her echo for the other.
    let (mut nobody, mut echo) = (None, None);
    while nobody.is_none() || echo.is_none() {
        let m = bea.recv().await;
        match m.command.as_str() {
            "401" => nobody = m.param(1).map(str::to_owned),
            "PRIVMSG" => echo = m.param(0).map(str::to_owned),
            _ => {}
        }
    }
    assert_eq!(nobody.as_deref(), Some("#nadie"));
    assert_eq!(echo.as_deref(), Some("#sala"));

    // A ban keeps an outsider out too.
    ana.send("MODE #sala +b bea!*@*").await;
    ana.expect_command("MODE").await;
    bea.send("NOTICE #sala :nada").await;
    bea.send("PRIVMSG #sala :¿y ahora?").await;
    bea.expect_numeric(404).await;

    // What got in is in history, on ana's node, before her own line.
    ana.send("CAP REQ :batch draft/chathistory").await;
    ana.expect_command("CAP").await;
    ana.send("PRIVMSG #sala :fin").await;
    ana.send("CHATHISTORY LATEST #sala * 10").await;
    let lines = ana.read_batch().await;
    let said = said(&lines, "#sala");
    assert_eq!(said, ["bea: hola desde fuera, año nuevo", "ana: fin"]);
}

/// `draft/metadata-2` across nodes: a user's keys (an avatar) and a channel's reach the other
/// nodes, their subscribers hear of changes, GET answers there, a node that starts following
/// the channel later learns its keys, and another node's user's keys are not changed here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_of_users_and_channels_crosses_nodes() {
    let Some(nats) = nats().await else { return };
    let net = network("metadata");
    let [a, b, c] = three_nodes(&nats, &net).await;
    let mut ana = a.connect().await;
    ana.register_with_caps("ana", "draft/metadata-2 batch")
        .await;
    let mut bea = b.connect().await;
    bea.register_with_caps("bea", "draft/metadata-2 batch")
        .await;
    until_known(&mut bea, "ana").await;
    bea.send("METADATA * SUB avatar url").await;
    bea.expect_numeric(770).await;
    both_in(&mut ana, &mut bea, "#sala").await;

    ana.send("METADATA * SET avatar :https://ejemplo.org/ana-ñ.png")
        .await;
    ana.expect_numeric(761).await;
    let m = bea.expect_command("METADATA").await;
    assert_eq!(
        (m.param(0), m.param(1), m.param(3)),
        (
            Some("ana"),
            Some("avatar"),
            Some("https://ejemplo.org/ana-ñ.png")
        )
    );
    bea.send("METADATA ana GET avatar").await;
    let kv = bea.expect_numeric(761).await;
    assert_eq!(kv.param(4), Some("https://ejemplo.org/ana-ñ.png"), "{kv:?}");
    // Not bea's to change, not even for an operator of b.
    bea.send("METADATA ana SET avatar :x").await;
    let fail = bea.expect_command("FAIL").await;
    assert_eq!(fail.param(1), Some("KEY_NO_PERMISSION"), "{fail:?}");

    ana.send("METADATA #sala SET url :https://ejemplo.org/sala")
        .await;
    ana.expect_numeric(761).await;
    let m = bea.expect_command("METADATA").await;
    assert_eq!(
        (m.param(0), m.param(1), m.param(3)),
        (Some("#sala"), Some("url"), Some("https://ejemplo.org/sala"))
    );
    // c follows the channel from its first member's JOIN: it learns the key then.
    let mut caro = c.connect().await;
    caro.register_with_caps("caro", "draft/metadata-2 batch")
        .await;
    caro.send("JOIN #sala").await;
    caro.expect_numeric(366).await;
    caro.send("METADATA #sala GET url").await;
    let kv = caro.expect_numeric(761).await;
    assert_eq!(kv.param(4), Some("https://ejemplo.org/sala"), "{kv:?}");
    // And a key removed on a is gone on c.
    ana.send("METADATA #sala SET url").await;
    ana.expect_numeric(761).await;
    for _ in 0..50 {
        caro.send("METADATA #sala GET url").await;
        let lines = caro.sync().await;
        if lines.iter().any(|m| m.command == "766") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the key removed on a stayed on c");
}

/// Typing notifications (`+typing` on TAGMSG, message-tags) cross nodes, to a channel and to one
/// user, to those who take message-tags; they are of the moment: not kept in history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_notifications_cross_nodes() {
    let Some(nats) = nats().await else { return };
    let net = network("typing");
    let a = TestServer::start_with(node_config(&nats, &net, "a")).await;
    let b = TestServer::start_with(node_config(&nats, &net, "b")).await;
    const CAPS: &str = "message-tags batch server-time draft/chathistory";
    let (mut ana, mut bea) = pair_in(a.addr, b.addr, CAPS, "#sala").await;

    ana.send("@+typing=active TAGMSG #sala").await;
    let m = bea.expect_command("TAGMSG").await;
    assert_eq!(m.param(0), Some("#sala"));
    assert_eq!(m.tag("+typing"), Some("active"), "{m}");
    ana.send("@+typing=paused TAGMSG bea").await;
    let m = bea.expect_command("TAGMSG").await;
    assert_eq!(m.param(0), Some("bea"));
    assert_eq!(m.tag("+typing"), Some("paused"), "{m}");
    ana.send("PRIVMSG #sala :listo").await;
    bea.expect_command("PRIVMSG").await;
    bea.send("CHATHISTORY LATEST #sala * 10").await;
    let kept = bea.read_batch().await;
    assert!(kept.iter().all(|m| m.command != "TAGMSG"), "{kept:?}");
    assert_eq!(said(&kept, "#sala"), ["ana: listo"]);
}
