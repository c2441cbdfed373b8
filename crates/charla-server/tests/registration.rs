//! Connection registration: NICK/USER, CAP negotiation, PASS, the welcome burst, and the
//! errors around them.

mod common;

use charla_proto::numeric::*;
use charla_server::Config;
use common::{TestClient, TestServer};

#[tokio::test]
async fn nick_and_user_get_the_welcome_burst() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.send("NICK alice").await;
    c.send("USER alice 0 * :Alice Liddell").await;
    let welcome = c.expect_numeric(RPL_WELCOME).await;
    assert_eq!(welcome.source.as_deref(), Some("irc.test"));
    assert_eq!(welcome.param(0), Some("alice"));
    assert!(
        welcome
            .param(1)
            .unwrap_or("")
            .contains("alice!~alice@127.0.0.1")
    );
    c.expect_numeric(RPL_YOURHOST).await;
    c.expect_numeric(RPL_CREATED).await;
    let myinfo = c.expect_numeric(RPL_MYINFO).await;
    assert_eq!(myinfo.param(1), Some("irc.test"));
    let isupport = c.expect_numeric(RPL_ISUPPORT).await;
    let mut tokens: Vec<String> = isupport.params[1..isupport.params.len() - 1].to_vec();
    let after = loop {
        let m = c.recv().await;
        if m.command != "005" {
            break m;
        }
        tokens.extend_from_slice(&m.params[1..m.params.len() - 1]);
    };
    for want in [
        "CASEMAPPING=ascii",
        "CHANTYPES=#",
        "CHANMODES=beI,k,l,Cimnst",
        "EXTBAN=~,m",
        "PREFIX=(ov)@+",
        "NICKLEN=30",
        "NETWORK=CharlaTest",
        "UTF8ONLY",
    ] {
        assert!(
            tokens.iter().any(|t| t == want),
            "{want} missing from {tokens:?}"
        );
    }
    assert_eq!(after.command, "251", "LUSERS follows 005");
    c.expect_numeric(RPL_MOTDSTART).await;
    let motd = c.expect_numeric(RPL_MOTD).await;
    assert_eq!(motd.param(1), Some("- Hola 👋"));
    c.expect_numeric(RPL_ENDOFMOTD).await;
}

#[tokio::test]
async fn user_before_nick_works_too_and_utf8_nicks_are_fine() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.send("USER u 0 * :Ñandú").await;
    c.send("NICK Ñandú").await;
    let m = c.expect_numeric(RPL_WELCOME).await;
    assert_eq!(m.param(0), Some("Ñandú"));
}

#[tokio::test]
async fn ping_gets_pong() {
    let server = TestServer::start().await;
    let mut c = server.client("alice").await;
    c.send("PING :hola mundo").await;
    let pong = c.expect_command("PONG").await;
    assert_eq!(pong.params, vec!["irc.test", "hola mundo"]);
}

#[tokio::test]
async fn ping_works_before_registration() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.send("PING x").await;
    assert_eq!(c.expect_command("PONG").await.param(1), Some("x"));
}

#[tokio::test]
async fn cap_negotiation_holds_registration_until_cap_end() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.send("CAP LS 302").await;
    // A long list comes in several lines, each but the last marked with `*`, each within 512.
    let mut offered = Vec::new();
    loop {
        let ls = c.expect_command("CAP").await;
        assert_eq!(ls.param(0), Some("*"));
        assert_eq!(ls.param(1), Some("LS"));
        assert!(ls.to_string().len() <= 510, "{ls}");
        offered.push(ls.params.last().cloned().unwrap_or_default());
        if ls.param(2) != Some("*") {
            break;
        }
    }
    let offered = offered.join(" ");
    for cap in [
        "multi-prefix",
        "server-time",
        "message-tags",
        "echo-message",
    ] {
        assert!(
            offered.split(' ').any(|c| c == cap),
            "{cap} not in {offered}"
        );
    }
    assert!(
        offered
            .split(' ')
            .any(|c| c == "sasl=SCRAM-SHA-256,PLAIN,EXTERNAL"),
        "SASL and its mechanisms in {offered}"
    );
    c.send("NICK bob").await;
    c.send("USER bob 0 * :Bob").await;
    c.send("CAP REQ :multi-prefix server-time").await;
    let ack = c.expect_command("CAP").await;
    assert_eq!(ack.param(1), Some("ACK"));
    assert_eq!(ack.param(2), Some("multi-prefix server-time"));
    // Not registered yet: nothing but the CAP answer so far.
    let before = c.sync().await;
    assert!(
        before.iter().all(|m| m.command != "001"),
        "registered before CAP END"
    );
    c.send("CAP LIST").await;
    let list = c.expect_command("CAP").await;
    assert_eq!(list.param(1), Some("LIST"));
    assert!(list.param(2).unwrap_or("").contains("server-time"));
    c.send("CAP END").await;
    c.expect_numeric(RPL_WELCOME).await;
}

#[tokio::test]
async fn cap_req_of_an_unknown_cap_is_refused_whole() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.send("CAP REQ :multi-prefix draft/no-such-cap").await;
    let nak = c.expect_command("CAP").await;
    assert_eq!(nak.param(1), Some("NAK"));
    assert_eq!(nak.param(2), Some("multi-prefix draft/no-such-cap"));
    c.send("CAP LIST").await;
    let list = c.expect_command("CAP").await;
    assert_eq!(list.param(2), Some(""));
}

#[tokio::test]
async fn bad_cap_subcommand_gets_invalidcapcmd() {
    let server = TestServer::start().await;
    let mut c = server.client("alice").await;
    c.send("CAP FROB").await;
    let m = c.expect_numeric(ERR_INVALIDCAPCMD).await;
    assert_eq!(m.param(1), Some("FROB"));
}

#[tokio::test]
async fn nick_errors() {
    let server = TestServer::start().await;
    let _alice = server.client("alice").await;
    let mut c = server.connect().await;
    c.send("NICK").await;
    c.expect_numeric(ERR_NONICKNAMEGIVEN).await;
    c.send("NICK 1abc").await;
    assert_eq!(
        c.expect_numeric(ERR_ERRONEUSNICKNAME).await.param(1),
        Some("1abc")
    );
    c.send("NICK a,b").await;
    c.expect_numeric(ERR_ERRONEUSNICKNAME).await;
    // Collisions ignore case.
    c.send("NICK ALICE").await;
    assert_eq!(
        c.expect_numeric(ERR_NICKNAMEINUSE).await.param(1),
        Some("ALICE")
    );
    c.send("NICK alice2").await;
    c.send("USER a 0 * :A").await;
    c.expect_numeric(RPL_WELCOME).await;
}

#[tokio::test]
async fn commands_before_registration_get_notregistered() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.send("JOIN #a").await;
    c.expect_numeric(ERR_NOTREGISTERED).await;
    c.send("PRIVMSG bob :hi").await;
    c.expect_numeric(ERR_NOTREGISTERED).await;
}

#[tokio::test]
async fn user_twice_gets_alreadyregistered() {
    let server = TestServer::start().await;
    let mut c = server.client("alice").await;
    c.send("USER again 0 * :Again").await;
    c.expect_numeric(ERR_ALREADYREGISTERED).await;
    c.send("PASS x").await;
    c.expect_numeric(ERR_ALREADYREGISTERED).await;
}

#[tokio::test]
async fn user_with_too_few_params_gets_needmoreparams() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.send("USER onlyone").await;
    assert_eq!(
        c.expect_numeric(ERR_NEEDMOREPARAMS).await.param(1),
        Some("USER")
    );
    // An empty real name is missing too, and does not register.
    c.send("NICK vacio").await;
    c.send("USER name * * :").await;
    assert_eq!(
        c.expect_numeric(ERR_NEEDMOREPARAMS).await.param(1),
        Some("USER")
    );
    c.send("USER name * * :Nombre").await;
    c.expect_numeric(RPL_WELCOME).await;
}

#[tokio::test]
async fn server_password_is_checked() {
    let mut config = TestServer::test_config();
    config.password = Some("letmein".to_owned());
    let server = TestServer::start_with(config).await;

    let mut ok = server.connect().await;
    ok.send("PASS letmein").await;
    ok.register("alice").await;

    let mut bad = server.connect().await;
    bad.send("PASS wrong").await;
    bad.send("NICK bob").await;
    bad.send("USER bob 0 * :Bob").await;
    bad.expect_numeric(ERR_PASSWDMISMATCH).await;
    bad.expect_error("Bad password").await;
    bad.expect_closed().await;
}

#[tokio::test]
async fn quit_closes_with_error() {
    let server = TestServer::start().await;
    let mut c = server.client("alice").await;
    c.send("QUIT :adiós").await;
    c.expect_error("Quit: adiós").await;
    c.expect_closed().await;
}

#[tokio::test]
async fn registration_timeout_closes_the_connection() {
    let mut config = TestServer::test_config();
    config.limits.registration_timeout_secs = 1;
    let server = TestServer::start_with(config).await;
    let mut c = server.connect().await;
    c.send("NICK slow").await;
    c.expect_error("Registration timed out").await;
    c.expect_closed().await;
}

#[tokio::test]
async fn idle_clients_are_pinged_and_dropped_without_pong() {
    let mut config = TestServer::test_config();
    config.limits.ping_interval_secs = 1;
    config.limits.ping_timeout_secs = 1;
    let server = TestServer::start_with(config).await;
    let mut c = server.client("sleepy").await;
    let ping = c.expect_command("PING").await;
    assert_eq!(ping.param(0), Some("irc.test"));
    // No PONG: the server gives up.
    c.expect_error("Ping timeout").await;
    c.expect_closed().await;
}

#[tokio::test]
async fn answering_pings_keeps_the_connection() {
    let mut config = TestServer::test_config();
    config.limits.ping_interval_secs = 1;
    config.limits.ping_timeout_secs = 1;
    let server = TestServer::start_with(config).await;
    let mut c = server.client("awake").await;
    for _ in 0..2 {
        let ping = c.expect_command("PING").await;
        c.send(&format!("PONG :{}", ping.param(0).unwrap_or("")))
            .await;
    }
    c.send("PING still-here").await;
    c.expect_command("PONG").await;
}

#[tokio::test]
async fn default_config_listens_on_6667() {
    let c = Config::default();
    assert_eq!(c.listeners[0].address.port(), 6667);
    let _ = TestClient::connect; // the helper exists for other files
}
