//! Devices across nodes: a client that logs into an account whose user is on another node is
//! relayed there and becomes one more device of that user (multiclient across the network).

use super::*;
use charla_proto::numeric::{RPL_ENDOFNAMES, RPL_LOGGEDIN};

const PASSWORD: &str = "contraseña-segura";

/// Makes the account `account` in `server`'s store (each node has a store of its own here) from
/// a throwaway connection `nick`, which then leaves.
async fn make_account(server: &TestServer, account: &str, nick: &str) {
    let mut c = server.client(nick).await;
    c.send(&format!("REGISTER {account} * :{PASSWORD}")).await;
    c.expect_numeric(RPL_LOGGEDIN).await;
    c.send("QUIT").await;
    c.expect_closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_on_another_node_is_one_more_device_of_its_user() {
    let Some(nats) = nats().await else { return };
    let net = network("devices");
    let a = TestServer::start_with(node_config(&nats, &net, "a")).await;
    let b = TestServer::start_with(node_config(&nats, &net, "b")).await;
    make_account(&a, "begoña", "tmp_a").await;
    make_account(&b, "begoña", "tmp_b").await;

    // The laptop on a: Begoña, in #sala, with bob (on b) there too.
    let mut laptop = a.connect().await;
    laptop
        .log_in_with_sasl("Begoña", "begoña", PASSWORD, "echo-message")
        .await;
    laptop.send("JOIN #sala").await;
    laptop.expect_numeric(RPL_ENDOFNAMES).await;
    let mut bob = b.client("bob").await;
    until_known(&mut bob, "Begoña").await;
    bob.send("JOIN #sala").await;
    bob.expect_numeric(RPL_ENDOFNAMES).await;
    laptop.expect_command("JOIN").await;

    // The phone on b, asking for the nick the laptop holds: relayed to a, it is Begoña there,
    // in her channel, with no 433 and no second user.
    let mut phone = b.connect().await;
    let welcome = phone
        .log_in_with_sasl("Begoña", "begoña", PASSWORD, "echo-message server-time")
        .await;
    phone.nick = "Begoña (phone)".to_owned();
    assert_eq!(welcome.param(0), Some("Begoña"), "{welcome}");
    assert!(
        welcome
            .source
            .as_deref()
            .is_some_and(|s| s.starts_with("a."))
    );
    let joined = phone.expect_command("JOIN").await;
    assert_eq!(joined.param(0), Some("#sala"));
    let names = phone.expect_numeric(353).await;
    assert!(
        names
            .param(3)
            .is_some_and(|n| n.contains("bob") && n.contains("Begoña")),
        "{names:?}"
    );
    bob.send("LUSERS").await;
    let users = bob.expect_numeric(266).await;
    assert_eq!(users.param(1), Some("2"), "two users, not three: {users:?}");

    // What the phone says is Begoña's: bob sees it, the laptop too (multiclient).
    phone.send("PRIVMSG #sala :desde el móvil").await;
    let m = bob.expect_command("PRIVMSG").await;
    assert_eq!(
        m.source.as_deref().and_then(|s| s.split('!').next()),
        Some("Begoña")
    );
    assert_eq!(m.param(1), Some("desde el móvil"));
    let m = laptop.expect_command("PRIVMSG").await;
    assert_eq!(m.param(1), Some("desde el móvil"));
    let echo = phone.expect_command("PRIVMSG").await;
    assert!(
        echo.tag("time").is_some(),
        "server-time went through: {echo}"
    );
    // What is said to her reaches both devices.
    bob.send("PRIVMSG Begoña :¿estás?").await;
    for device in [&mut laptop, &mut phone] {
        let m = device.expect_command("PRIVMSG").await;
        assert_eq!(m.param(1), Some("¿estás?"));
    }

    // The phone leaves: Begoña stays, on the laptop.
    phone.send("QUIT :me voy").await;
    let closing = phone.expect_closed().await;
    let errors = closing.iter().filter(|m| m.command == "ERROR").count();
    assert_eq!(errors, 1, "one ERROR, from a: {closing:?}");
    bob.send("PRIVMSG Begoña :¿sigues?").await;
    let m = laptop.expect_command("PRIVMSG").await;
    assert_eq!(m.param(1), Some("¿sigues?"));

    // A relayed device is closed with the others when its own node shuts down, at once.
    let c = TestServer::start_with(node_config(&nats, &net, "c")).await;
    make_account(&c, "begoña", "tmp_c").await;
    let mut dani = c.client("dani").await;
    until_known(&mut dani, "Begoña").await;
    let mut watch = c.connect().await;
    let welcome = watch
        .log_in_with_sasl("Begoña", "begoña", PASSWORD, "")
        .await;
    watch.nick = "Begoña (watch)".to_owned();
    assert!(
        welcome
            .source
            .as_deref()
            .is_some_and(|s| s.starts_with("a."))
    );
    let started = std::time::Instant::now();
    c.handle.shutdown().await;
    let last = watch.expect_closed().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(last.iter().any(|m| m.command == "ERROR"), "{last:?}");
    bob.send("PRIVMSG Begoña :¿y ahora?").await;
    let m = laptop.expect_command("PRIVMSG").await;
    assert_eq!(m.param(1), Some("¿y ahora?"));

    // A relayed device whose user's node goes away is closed (its client reconnects).
    let mut tablet = b.connect().await;
    tablet
        .log_in_with_sasl("Begoña", "begoña", PASSWORD, "")
        .await;
    tablet.nick = "Begoña (tablet)".to_owned();
    a.handle.shutdown().await;
    tablet.expect_closed().await;
}

/// An always-on user is kept while its node runs, seen from the other nodes; a node that
/// restarts does not bring its always-on users back (in a shared store they may be on another
/// node by then, and two copies would race for the nick): the next device brings the user back,
/// in the channels it was kept in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_on_users_come_back_with_their_next_device_not_with_their_node() {
    let Some(nats) = nats().await else { return };
    let net = network("alwayson");
    let dir = tempfile::tempdir().expect("dir");
    let on_disk = || {
        let mut config = node_config(&nats, &net, "a");
        config.store = charla_server::config::StoreConfig::default();
        config.data_dir = dir.path().to_owned();
        config
    };
    let a = TestServer::start_with(on_disk()).await;
    let b = TestServer::start_with(node_config(&nats, &net, "b")).await;
    make_account(&a, "begoña", "tmp_a").await;
    let mut laptop = a.connect().await;
    laptop
        .log_in_with_sasl("Begoña", "begoña", PASSWORD, "")
        .await;
    laptop.send("PRIVMSG NickServ :SET ALWAYS-ON ON").await;
    laptop.expect_command("NOTICE").await;
    laptop.send("JOIN #sala").await;
    laptop.expect_numeric(RPL_ENDOFNAMES).await;
    laptop.send("QUIT").await;
    laptop.expect_closed().await;
    // Kept, and seen as away from b.
    let mut bob = b.client("bob").await;
    until_known(&mut bob, "Begoña").await;
    // Its going away comes to b after its registration: asked until it has.
    let mut whois = Vec::new();
    for _ in 0..100 {
        bob.send("WHOIS Begoña").await;
        whois = bob.sync().await;
        if whois.iter().any(|m| m.command == "301") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(whois.iter().any(|m| m.command == "301"), "{whois:?}");

    a.handle.shutdown().await;
    let a = TestServer::start_with(on_disk()).await;
    // Gone with its node, and not back with it: not on a, not seen from b.
    let mut caro = a.client("caro").await;
    caro.send("WHOIS Begoña").await;
    let whois = caro.sync().await;
    assert!(whois.iter().any(|m| m.command == "401"), "{whois:?}");
    let mut gone = false;
    for _ in 0..100 {
        bob.send("WHOIS Begoña").await;
        if bob.sync().await.iter().any(|m| m.command == "401") {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "Begoña stayed after her node stopped");
    // Her next device is Begoña again, back in the channel she was kept in (read from the
    // store: a's own here; with a shared store, on any node), and b sees her come back.
    bob.send("JOIN #sala").await;
    bob.expect_numeric(366).await;
    let mut phone = a.connect().await;
    let welcome = phone
        .log_in_with_sasl("Begoña", "begoña", PASSWORD, "")
        .await;
    assert_eq!(welcome.param(0), Some("Begoña"), "{welcome}");
    let joined = phone.expect_command("JOIN").await;
    assert_eq!(joined.param(0), Some("#sala"));
    let join = bob.expect_command("JOIN").await;
    assert_eq!(nick_of(&join), "Begoña");
}
