//! Several clients per account (multiclient) and always-on: two devices logged into one
//! account share one nick and one presence; a message sent from one is seen on the other; a
//! private message reaches both; the user leaves with its last device, or, always-on, stays.

mod common;

use charla_proto::OwnedMessage;
use charla_proto::numeric::{
    ERR_NICKNAMEINUSE, RPL_AWAY, RPL_ENDOFNAMES, RPL_LOGGEDIN, RPL_NAMREPLY, RPL_UNAWAY,
    RPL_WELCOME,
};
use charla_proto::sasl::{encode_chunks, plain_encode};
use common::{TestClient, TestServer};

const PASSWORD: &str = "contraseña-segura";

/// A registered client that made the account `nick` with REGISTER (`caps` requested first).
async fn first_device(server: &TestServer, nick: &str, caps: &str) -> TestClient {
    let mut c = server.connect().await;
    if !caps.is_empty() {
        c.send(&format!("CAP REQ :{caps}")).await;
        let ack = c.expect_command("CAP").await;
        assert_eq!(ack.param(1), Some("ACK"), "{ack}");
        c.send("CAP END").await;
    }
    c.register(nick).await;
    c.send(&format!("REGISTER * * :{PASSWORD}")).await;
    c.expect_numeric(RPL_LOGGEDIN).await;
    c
}

/// A client that asks for `nick`, logs into `account` with SASL PLAIN (with `caps` too) and
/// finishes registering; returns it with its welcome.
async fn device(
    server: &TestServer,
    nick: &str,
    account: &str,
    caps: &str,
) -> (TestClient, OwnedMessage) {
    let mut c = server.connect().await;
    let welcome = c.log_in_with_sasl(nick, account, PASSWORD, caps).await;
    c.nick = format!("{nick} (device)");
    (c, welcome)
}

fn texts(lines: &[OwnedMessage], command: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|m| m.command == command)
        .map(|m| m.params.last().cloned().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn two_devices_share_one_nick_and_see_what_each_other_does() {
    let server = TestServer::start().await;
    // The laptop asked for no echo; the phone did.
    let mut laptop = first_device(&server, "Begoña", "").await;
    laptop.send("JOIN #sala").await;
    laptop.expect_numeric(RPL_ENDOFNAMES).await;
    laptop.send("TOPIC #sala :¿Qué tal?").await;
    laptop.expect_command("TOPIC").await;
    let mut bob = server.client("bob").await;
    bob.send("JOIN #sala").await;
    bob.expect_numeric(RPL_ENDOFNAMES).await;
    laptop.expect_command("JOIN").await;

    // The phone asks for the nick the laptop holds: it is its own user's, so no 433.
    let (mut phone, welcome) = device(&server, "Begoña", "begoña", "echo-message").await;
    assert_eq!(welcome.param(0), Some("Begoña"), "{welcome}");
    let burst = phone.sync().await;
    assert!(
        !burst
            .iter()
            .any(|m| m.command == ERR_NICKNAMEINUSE.to_string()),
        "{burst:?}"
    );
    // It is shown the channel the user is in, with its topic and names.
    let join = burst
        .iter()
        .position(|m| m.command == "JOIN" && m.param(0) == Some("#sala"))
        .expect("the JOIN of #sala");
    assert!(
        burst[join]
            .source
            .as_deref()
            .unwrap_or("")
            .starts_with("Begoña!")
    );
    assert!(
        burst
            .iter()
            .any(|m| m.command == "332" && m.param(2) == Some("¿Qué tal?"))
    );
    let names = burst
        .iter()
        .find(|m| m.command == RPL_NAMREPLY.to_string())
        .expect("NAMES");
    assert!(names.param(3).is_some_and(|n| n.contains("bob")), "{names}");
    // Others see nothing: no second user, no JOIN.
    bob.expect_nothing().await;
    bob.send("NAMES #sala").await;
    let seen = bob.sync().await;
    let list = texts(&seen, &RPL_NAMREPLY.to_string()).join(" ");
    assert_eq!(list.matches("Begoña").count(), 1, "{list}");
    laptop.expect_nothing().await;

    // A channel message from the phone: bob gets it, the laptop too, the phone its echo.
    phone.send("PRIVMSG #sala :hola desde el móvil").await;
    assert_eq!(
        bob.expect_command("PRIVMSG").await.param(1),
        Some("hola desde el móvil")
    );
    let on_laptop = laptop.expect_command("PRIVMSG").await;
    assert_eq!(on_laptop.param(1), Some("hola desde el móvil"));
    assert!(
        on_laptop
            .source
            .as_deref()
            .unwrap_or("")
            .starts_with("Begoña!")
    );
    assert_eq!(
        phone.expect_command("PRIVMSG").await.param(1),
        Some("hola desde el móvil")
    );
    // From the laptop (no echo-message): the phone sees it, the laptop does not.
    laptop.send("PRIVMSG #sala :y desde el portátil").await;
    bob.expect_command("PRIVMSG").await;
    assert_eq!(
        phone.expect_command("PRIVMSG").await.param(1),
        Some("y desde el portátil")
    );
    laptop.expect_nothing().await;

    // A private message reaches both devices; one sent from a device shows on the other.
    bob.send("PRIVMSG Begoña :¿estás?").await;
    assert_eq!(
        laptop.expect_command("PRIVMSG").await.param(1),
        Some("¿estás?")
    );
    assert_eq!(
        phone.expect_command("PRIVMSG").await.param(1),
        Some("¿estás?")
    );
    phone.send("PRIVMSG bob :sí").await;
    assert_eq!(bob.expect_command("PRIVMSG").await.param(1), Some("sí"));
    let copy = laptop.expect_command("PRIVMSG").await;
    assert_eq!((copy.param(0), copy.param(1)), (Some("bob"), Some("sí")));
    phone.expect_command("PRIVMSG").await;

    // A JOIN on one device: the other is shown the channel as joined, names and all.
    phone.send("JOIN #otra").await;
    phone.expect_numeric(RPL_ENDOFNAMES).await;
    let joined = laptop.expect_command("JOIN").await;
    assert_eq!(joined.param(0), Some("#otra"));
    let end = laptop.expect_numeric(RPL_ENDOFNAMES).await;
    assert_eq!(end.param(1), Some("#otra"));
    // A nick change from one device is the user's.
    laptop.send("NICK Bego").await;
    assert_eq!(laptop.expect_command("NICK").await.param(0), Some("Bego"));
    assert_eq!(phone.expect_command("NICK").await.param(0), Some("Bego"));
    assert_eq!(bob.expect_command("NICK").await.param(0), Some("Bego"));

    // The laptop leaves: the user stays, on the phone.
    laptop.send("QUIT :cierro el portátil").await;
    laptop.expect_closed().await;
    bob.expect_nothing().await;
    bob.send("PRIVMSG Bego :¿sigues?").await;
    assert_eq!(
        phone.expect_command("PRIVMSG").await.param(1),
        Some("¿sigues?")
    );
    phone.send("PRIVMSG #sala :sigo aquí").await;
    assert_eq!(
        bob.expect_command("PRIVMSG").await.param(1),
        Some("sigo aquí")
    );
    // With the last device, the user leaves.
    phone.send("QUIT :adiós").await;
    let quit = bob.expect_command("QUIT").await;
    assert!(quit.source.as_deref().unwrap_or("").starts_with("Bego!"));
    assert_eq!(quit.param(0), Some("Quit: adiós"));
    bob.send("PRIVMSG Bego :¿hola?").await;
    bob.expect_numeric(charla_proto::numeric::ERR_NOSUCHNICK)
        .await;
}

#[tokio::test]
async fn the_nick_of_another_account_is_still_refused_at_the_end_of_registration() {
    let server = TestServer::start().await;
    let _ana = first_device(&server, "ana", "").await;
    let mut eva = first_device(&server, "eva", "").await;
    eva.send("QUIT").await;
    eva.expect_closed().await;
    // eva asks for ana's nick while negotiating, then logs into her own account.
    let mut c = server.connect().await;
    c.cap_ls_302().await;
    c.send("CAP REQ :sasl").await;
    c.expect_command("CAP").await;
    c.send("NICK ana").await;
    c.send("USER eva 0 * :eva").await;
    c.send("AUTHENTICATE PLAIN").await;
    c.expect_command("AUTHENTICATE").await;
    for chunk in encode_chunks(&plain_encode("", "eva", PASSWORD)) {
        c.send(&format!("AUTHENTICATE {chunk}")).await;
    }
    c.expect_numeric(charla_proto::numeric::RPL_SASLSUCCESS)
        .await;
    c.send("CAP END").await;
    let refused = c.expect_numeric(ERR_NICKNAMEINUSE).await;
    assert_eq!(refused.param(1), Some("ana"));
    c.send("NICK eva").await;
    let welcome = c.expect_numeric(RPL_WELCOME).await;
    assert_eq!(welcome.param(0), Some("eva"));
}

#[tokio::test]
async fn without_multiclient_a_second_log_in_is_a_user_of_its_own() {
    let mut config = TestServer::test_config();
    config.accounts.multiclient = false;
    let server = TestServer::start_with(config).await;
    let _ana = first_device(&server, "ana", "").await;
    let mut c = server.connect().await;
    c.cap_ls_302().await;
    c.send("CAP REQ :sasl").await;
    c.expect_command("CAP").await;
    c.send("NICK ana").await;
    let refused = c.expect_numeric(ERR_NICKNAMEINUSE).await;
    assert_eq!(refused.param(1), Some("ana"));
}

#[tokio::test]
async fn always_on_keeps_the_user_present_and_its_messages_until_a_device_returns() {
    let mut config = TestServer::test_config();
    config.accounts.always_on = true;
    let server = TestServer::start_with(config).await;
    let caps = "away-notify";
    let mut ana = first_device(&server, "ana", caps).await;
    ana.send("JOIN #sala").await;
    ana.expect_numeric(RPL_ENDOFNAMES).await;
    let mut bob = server.connect().await;
    bob.send(&format!("CAP REQ :{caps}")).await;
    bob.expect_command("CAP").await;
    bob.send("CAP END").await;
    bob.register("bob").await;
    bob.send("JOIN #sala").await;
    bob.expect_numeric(RPL_ENDOFNAMES).await;

    ana.send("QUIT :me voy").await;
    ana.expect_closed().await;
    // No QUIT: ana is kept, marked away.
    let away = bob.expect_command("AWAY").await;
    assert!(away.source.as_deref().unwrap_or("").starts_with("ana!"));
    assert!(away.param(0).is_some_and(|t| !t.is_empty()));
    bob.send("PRIVMSG ana :te dejo un mensaje").await;
    bob.expect_numeric(RPL_AWAY).await;
    bob.send("PRIVMSG #sala :y otro en el canal").await;
    let names = {
        bob.send("NAMES #sala").await;
        texts(&bob.sync().await, &RPL_NAMREPLY.to_string()).join(" ")
    };
    assert!(names.contains("ana"), "{names}");

    // A device comes back: it is ana, in #sala, no longer away; the messages are in history.
    let (mut back, welcome) = device(
        &server,
        "ana",
        "ana",
        "batch server-time message-tags draft/chathistory",
    )
    .await;
    assert_eq!(welcome.param(0), Some("ana"));
    let burst = back.sync().await;
    assert!(
        burst.iter().any(|m| m.command == RPL_UNAWAY.to_string()),
        "{burst:?}"
    );
    assert!(
        burst
            .iter()
            .any(|m| m.command == "JOIN" && m.param(0) == Some("#sala"))
    );
    let back_notice = bob.expect_command("AWAY").await;
    assert_eq!(back_notice.param(0), None, "{back_notice}");
    back.send("CHATHISTORY LATEST bob * 10").await;
    let history = back.sync().await;
    assert!(
        texts(&history, "PRIVMSG").contains(&"te dejo un mensaje".to_owned()),
        "{history:?}"
    );
    back.send("CHATHISTORY LATEST #sala * 10").await;
    let history = back.sync().await;
    assert!(texts(&history, "PRIVMSG").contains(&"y otro en el canal".to_owned()));

    // Kept again, then killed from the console: nothing keeps it then.
    back.send("QUIT").await;
    back.expect_closed().await;
    bob.expect_command("AWAY").await;
    server
        .handle
        .disconnect("ana", "limpieza")
        .expect("ana is there");
    let quit = bob.expect_command("QUIT").await;
    assert!(quit.source.as_deref().unwrap_or("").starts_with("ana!"));
    bob.send("PRIVMSG ana :¿hola?").await;
    bob.expect_numeric(charla_proto::numeric::ERR_NOSUCHNICK)
        .await;
}

#[tokio::test]
async fn an_account_chooses_always_on_with_nickserv() {
    let server = TestServer::start().await;
    let mut ana = first_device(&server, "ana", "").await;
    ana.send("JOIN #sala").await;
    ana.expect_numeric(RPL_ENDOFNAMES).await;
    let mut bob = server.client("bob").await;
    bob.send("JOIN #sala").await;
    bob.expect_numeric(RPL_ENDOFNAMES).await;
    ana.send("PRIVMSG NickServ :SET ALWAYS-ON maybe").await;
    let syntax = ana.expect_command("NOTICE").await;
    assert!(
        syntax.param(1).is_some_and(|t| t.contains("Syntax")),
        "{syntax}"
    );
    ana.send("PRIVMSG NickServ :SET ALWAYS-ON ON").await;
    let said = ana.expect_command("NOTICE").await;
    assert!(said.param(1).is_some_and(|t| t.contains("on")), "{said}");
    ana.send("QUIT").await;
    ana.expect_closed().await;
    // The server's default is off, but ana chose: she stays.
    bob.send("WHOIS ana").await;
    let whois = bob.sync().await;
    assert!(
        whois.iter().any(|m| m.command == RPL_AWAY.to_string()),
        "{whois:?}"
    );
    // Back on another device (the choice is read from the store), she turns it off and goes.
    let (mut back, _) = device(&server, "ana", "ana", "").await;
    back.sync().await;
    back.send("PRIVMSG NickServ :SET ALWAYS-ON OFF").await;
    back.expect_command("NOTICE").await;
    back.send("QUIT :ahora sí").await;
    let quit = bob.expect_command("QUIT").await;
    assert!(quit.source.as_deref().unwrap_or("").starts_with("ana!"));
}

#[tokio::test]
async fn always_on_users_come_back_after_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let on_disk = || {
        let mut config = TestServer::test_config();
        config.store = charla_server::config::StoreConfig::default();
        config.data_dir = dir.path().to_owned();
        config.accounts.always_on = true;
        config
    };
    let server = TestServer::start_with(on_disk()).await;
    let mut bob = server.client("bob").await;
    bob.send("JOIN #cocina").await;
    bob.expect_numeric(RPL_ENDOFNAMES).await;
    let mut ana = first_device(&server, "Ana", "").await;
    ana.send("JOIN #sala,#cocina").await;
    ana.expect_numeric(RPL_ENDOFNAMES).await;
    ana.expect_numeric(RPL_ENDOFNAMES).await;
    ana.send("QUIT").await;
    ana.expect_closed().await;
    // Kicked while kept: the restart does not bring her back there.
    bob.send("KICK #cocina Ana :fuera").await;
    bob.expect_command("KICK").await;
    server.handle.shutdown().await;

    let server = TestServer::start_with(on_disk()).await;
    let mut bob = server.client("bob").await;
    bob.send("WHOIS Ana").await;
    let whois = bob.sync().await;
    assert!(
        whois.iter().any(|m| m.command == RPL_AWAY.to_string()),
        "{whois:?}"
    );
    bob.send("JOIN #sala,#cocina").await;
    let names = texts(&bob.sync().await, &RPL_NAMREPLY.to_string());
    assert!(names[0].contains("Ana"), "{names:?}");
    assert!(!names[1].contains("Ana"), "{names:?}");
    bob.send("PRIVMSG Ana :¿sigues ahí?").await;
    bob.expect_numeric(RPL_AWAY).await;

    // Her device finds her where she was, with what was said meanwhile.
    let (mut back, welcome) = device(
        &server,
        "Ana",
        "ana",
        "batch server-time message-tags draft/chathistory",
    )
    .await;
    assert_eq!(welcome.param(0), Some("Ana"));
    let burst = back.sync().await;
    let joined: Vec<_> = burst
        .iter()
        .filter(|m| m.command == "JOIN")
        .filter_map(|m| m.param(0))
        .collect();
    assert_eq!(joined, ["#sala"], "{burst:?}");
    back.send("CHATHISTORY LATEST bob * 10").await;
    assert!(texts(&back.sync().await, "PRIVMSG").contains(&"¿sigues ahí?".to_owned()));
}
