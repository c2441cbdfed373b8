//! Following channels' logs: events come as plain NATS messages the stream republishes, and
//! what NATS drops is noticed by the stream's sequences and read back, in order.

use super::*;

/// Waits for `n` PRIVMSGs to `target` and returns them as `said` shows them.
async fn hear(c: &mut TestClient, target: &str, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        let m = c.recv().await;
        got.extend(said(std::slice::from_ref(&m), target));
    }
    got
}

/// Nodes a and b of network `net`, with ana on a and bea and caro on b (each with its
/// capabilities), all three in #sala.
async fn three_in_sala(
    nats: &Nats,
    net: &str,
    caps: [&str; 3],
) -> (TestServer, TestServer, [TestClient; 3]) {
    let a = TestServer::start_with(node_config(nats, net, "a")).await;
    let b = TestServer::start_with(node_config(nats, net, "b")).await;
    let mut ana = a.connect().await;
    ana.register_with_caps("ana", caps[0]).await;
    let mut bea = b.connect().await;
    bea.register_with_caps("bea", caps[1]).await;
    let mut caro = b.connect().await;
    caro.register_with_caps("caro", caps[2]).await;
    until_known(&mut ana, "caro").await;
    both_in(&mut ana, &mut bea, "#sala").await;
    caro.send("JOIN #sala").await;
    caro.expect_numeric(366).await;
    ana.expect_command("JOIN").await;
    (a, b, [ana, bea, caro])
}

/// Two channels' events interleave in the stream; each channel's events come with the place of
/// the one before them in that channel, so nothing looks missed and nothing is read back.
#[tokio::test]
async fn interleaved_channels_are_followed_without_reading_back() {
    let Some(nats) = nats().await else { return };
    let net = network("interleaved");
    let (a, b, mut ana, mut bea) = ana_and_bea(&nats, &net, |_| {}).await;
    both_in(&mut ana, &mut bea, "#uno").await;
    both_in(&mut ana, &mut bea, "#dos").await;
    for i in 0..10 {
        ana.send(&format!("PRIVMSG #uno :uno {i}")).await;
        ana.send(&format!("PRIVMSG #dos :dos {i}")).await;
    }
    let mut uno = Vec::new();
    let mut dos = Vec::new();
    while uno.len() + dos.len() < 20 {
        let m = bea.recv().await;
        uno.extend(said(std::slice::from_ref(&m), "#uno"));
        dos.extend(said(std::slice::from_ref(&m), "#dos"));
    }
    let expected = |ch: &str| {
        (0..10)
            .map(|i| format!("ana: {ch} {i}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(uno, expected("uno"));
    assert_eq!(dos, expected("dos"));
    assert_eq!(a.handle.cluster_catch_ups(), Some(0));
    assert_eq!(b.handle.cluster_catch_ups(), Some(0));
}

/// Events NATS drops on their way to a node are read back from the stream when the next one
/// shows the gap, before it, so the node's members see every message in the log's order.
#[tokio::test]
async fn events_nats_drops_are_read_back_in_order() {
    let Some(nats) = nats().await else { return };
    let net = network("dropped");
    let (_a, b, mut ana, mut bea) = ana_and_bea(&nats, &net, |_| {}).await;
    both_in(&mut ana, &mut bea, "#sala").await;
    b.handle.cluster_drop_live(3);
    for i in 0..5 {
        ana.send(&format!("PRIVMSG #sala :línea {i}")).await;
    }
    let expected: Vec<String> = (0..5).map(|i| format!("ana: línea {i}")).collect();
    assert_eq!(hear(&mut bea, "#sala", 5).await, expected);
    assert_eq!(b.handle.cluster_catch_ups(), Some(1));
}

/// A JOIN read back after its node left (NATS dropped it on its way here, and the gap showed
/// only with a later event) does not bring back a user of a node that is gone.
#[tokio::test]
async fn a_join_read_back_after_its_node_left_brings_no_one_back() {
    let Some(nats) = nats().await else { return };
    let net = network("leftnode");
    let a = TestServer::start_with(node_config(&nats, &net, "a")).await;
    let b = TestServer::start_with(node_config(&nats, &net, "b")).await;
    let mut ana = a.connect().await;
    ana.register_with_caps("ana", "echo-message").await;
    ana.send("JOIN #sala").await;
    ana.expect_numeric(366).await;
    let mut caro = b.client("caro").await;
    until_known(&mut ana, "caro").await;
    // The two events of #sala that b logs, caro's JOIN and its QUIT, never reach a.
    a.handle.cluster_drop_live(2);
    caro.send("JOIN #sala").await;
    caro.expect_numeric(366).await;
    b.handle.shutdown().await;
    // a has heard that b left (its LUSERS counts one server), and nothing of caro in #sala.
    for _ in 0..100 {
        ana.send("LUSERS").await;
        let lines = ana.sync().await;
        if lines
            .iter()
            .any(|m| m.command == "251" && m.param(1).is_some_and(|t| t.ends_with(" 1 servers")))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ana.send("PRIVMSG #sala :¿quién queda?").await;
    assert_eq!(hear(&mut ana, "#sala", 1).await, ["ana: ¿quién queda?"]);
    assert_eq!(a.handle.cluster_catch_ups(), Some(1));
    assert_eq!(names_of(&mut ana, "#sala").await, ["@ana"]);
    ana.send("WHOIS caro").await;
    ana.expect_numeric(401).await;
}

/// An event of the node's own that NATS drops on its way back (a message its sender waits
/// for) is read back once the stream has stored it, with no later event needed to show the
/// gap: the sender gets its echo and the other node's member the message.
#[tokio::test]
async fn a_node_s_own_dropped_event_is_read_back_without_a_later_one() {
    let Some(nats) = nats().await else { return };
    let net = network("own");
    let (_a, b, mut ana, mut bea) = ana_and_bea(&nats, &net, |_| {}).await;
    bea.send("CAP REQ :echo-message").await;
    bea.expect_command("CAP").await;
    both_in(&mut ana, &mut bea, "#sala").await;
    b.handle.cluster_drop_live(1);
    bea.send("PRIVMSG #sala :¿me oyes?").await;
    assert_eq!(hear(&mut bea, "#sala", 1).await, ["bea: ¿me oyes?"]);
    assert_eq!(hear(&mut ana, "#sala", 1).await, ["bea: ¿me oyes?"]);
    assert_eq!(b.handle.cluster_catch_ups(), Some(1));
}

/// JOIN, TOPIC, KICK, PART, NICK and QUIT go into history through the channel's log: each node
/// (each with its own store here) keeps every node's events, in the log's order among the
/// messages, so `draft/event-playback` replays the same story on both.
#[tokio::test]
async fn channel_events_are_kept_by_every_node_in_the_log_s_order() {
    let Some(nats) = nats().await else { return };
    let net = network("events");
    const CAPS: &str = "batch server-time message-tags draft/chathistory draft/event-playback";
    let (_a, _b, [mut ana, mut bea, mut caro]) =
        three_in_sala(&nats, &net, [CAPS, CAPS, CAPS]).await;
    bea.send("PRIVMSG #sala :hola").await;
    ana.expect_command("PRIVMSG").await;
    ana.send("TOPIC #sala :Año nuevo").await;
    bea.expect_command("TOPIC").await;
    ana.send("KICK #sala caro :adiós").await;
    bea.expect_command("KICK").await;
    caro.send("JOIN #sala").await;
    caro.expect_numeric(366).await;
    ana.expect_command("JOIN").await;
    caro.send("PART #sala :me voy").await;
    ana.expect_command("PART").await;
    caro.send("JOIN #sala").await;
    caro.expect_numeric(366).await;
    ana.expect_command("JOIN").await;
    bea.send("NICK beatriz").await;
    ana.expect_command("NICK").await;
    caro.send("QUIT :adiós").await;
    ana.expect_command("QUIT").await;
    ana.send("PRIVMSG #sala :sola").await;

    let story = |lines: &[charla_proto::OwnedMessage]| -> Vec<String> {
        lines
            .iter()
            .map(|m| {
                let last = m.params.last().map_or("", |p| p.as_str());
                format!("{} {} {last}", nick_of(m), m.command)
            })
            .collect()
    };
    let expected = [
        "ana JOIN #sala",
        "bea JOIN #sala",
        "caro JOIN #sala",
        "bea PRIVMSG hola",
        "ana TOPIC Año nuevo",
        "ana KICK adiós",
        "caro JOIN #sala",
        "caro PART me voy",
        "caro JOIN #sala",
        "bea NICK beatriz",
        "caro QUIT Quit: adiós",
        "ana PRIVMSG sola",
    ];
    // ana's last line is in a's store once she could send the next one; b keeps it when the
    // log brings it, a moment later. b's own store begins where b began following the channel
    // (bea's JOIN): what came before is in a's (a shared store holds both).
    for (c, expected) in [(&mut ana, &expected[..]), (&mut bea, &expected[1..])] {
        let mut seen = Vec::new();
        for _ in 0..50 {
            c.send("CHATHISTORY LATEST #sala * 20").await;
            seen = story(&c.read_batch().await);
            if seen.len() >= expected.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(seen, expected, "{}'s node", c.nick);
    }
}

/// RENAME on one node: the other nodes' members see it (RENAME, or PART and JOIN without the
/// capability), the channel's log goes on under the new name in one order, history moves with
/// it on every node, and a name another node's channel holds is refused.
#[tokio::test]
async fn a_channel_renamed_on_one_node_is_renamed_on_every_node() {
    let Some(nats) = nats().await else { return };
    let net = network("rename");
    const CAPS: &str = "batch server-time message-tags draft/chathistory echo-message";
    let with_rename = format!("{CAPS} draft/channel-rename");
    let (_a, _b, [mut ana, mut bea, mut caro]) =
        three_in_sala(&nats, &net, [CAPS, &with_rename, CAPS]).await;
    bea.send("PRIVMSG #sala :antes").await;
    ana.expect_command("PRIVMSG").await;
    caro.expect_command("PRIVMSG").await;

    // A name a channel of b's holds (no member on a) is taken.
    caro.send("JOIN #ocupada").await;
    caro.expect_numeric(366).await;
    ana.send("RENAME #sala #ocupada :no").await;
    let fail = ana.expect_command("FAIL").await;
    assert_eq!(fail.param(1), Some("CHANNEL_NAME_IN_USE"), "{fail:?}");

    ana.send("RENAME #sala #Plaza :mudanza").await;
    let m = bea.expect_command("RENAME").await;
    assert_eq!(
        (m.param(0), m.param(1), m.param(2)),
        (Some("#sala"), Some("#Plaza"), Some("mudanza"))
    );
    let part = caro.expect_command("PART").await;
    assert_eq!(part.param(0), Some("#sala"));
    let join = caro.expect_command("JOIN").await;
    assert_eq!(join.param(0), Some("#Plaza"));

    // The channel goes on under its new name, on both nodes, in one order.
    for i in 0..5 {
        ana.send(&format!("PRIVMSG #plaza :ana {i}")).await;
        bea.send(&format!("PRIVMSG #Plaza :bea {i}")).await;
    }
    let mut orders = Vec::new();
    for c in [&mut ana, &mut bea, &mut caro] {
        let mut got = Vec::new();
        while got.len() < 10 {
            let m = c.recv().await;
            got.extend(said(std::slice::from_ref(&m), "#Plaza"));
        }
        orders.push(got);
    }
    assert_eq!(orders[0], orders[1]);
    assert_eq!(orders[0], orders[2]);

    // History moved with it on both nodes (each with a store of its own here).
    for c in [&mut ana, &mut bea] {
        c.send("CHATHISTORY LATEST #plaza * 20").await;
        let said = said(&c.read_batch().await, "#Plaza");
        assert_eq!(
            said.first().map(String::as_str),
            Some("bea: antes"),
            "{said:?}"
        );
        assert_eq!(said.len(), 11, "{said:?}");
    }
    // The old name is free: a JOIN makes a new, empty channel.
    caro.send("JOIN #sala").await;
    let names = caro.expect_numeric(353).await;
    assert_eq!(names.param(3), Some("@caro"));
}
