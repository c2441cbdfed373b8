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
