//! Operators: OPER, KILL, WALLOPS, server-wide notices (`GLOBAL`, `NOTICE $*`), and the
//! ERR_NOPRIVILEGES path of each.

mod common;

use charla_proto::numeric::*;
use std::time::Duration;

use common::{OPER_NAME, OPER_PASSWORD, TestClient, TestServer};

async fn oper(server: &TestServer, nick: &str) -> TestClient {
    let mut c = server.client(nick).await;
    c.send(&format!("OPER {OPER_NAME} {OPER_PASSWORD}")).await;
    c.expect_numeric(RPL_YOUREOPER).await;
    let m = c.expect_command("MODE").await;
    assert_eq!(m.param(1), Some("+o"));
    c
}

#[tokio::test]
async fn oper_with_wrong_password_or_name_fails() {
    let server = TestServer::start().await;
    let mut c = server.client("alice").await;
    c.send("OPER admin nope").await;
    c.expect_numeric(ERR_PASSWDMISMATCH).await;
    c.send("OPER nobody secret").await;
    c.expect_numeric(ERR_PASSWDMISMATCH).await;
    c.send("OPER admin").await;
    c.expect_numeric(ERR_NEEDMOREPARAMS).await;
}

#[tokio::test]
async fn password_guessing_is_braked_per_connection_and_per_address() {
    let server = TestServer::start().await;
    let mut guesser = server.client("guesser").await;
    for _ in 0..3 {
        guesser.send(&format!("OPER {OPER_NAME} guess")).await;
        guesser.expect_numeric(ERR_PASSWDMISMATCH).await;
    }
    // Three wrong passwords end the connection.
    guesser
        .expect_error("Too many failed password attempts")
        .await;
    guesser.expect_closed().await;

    // A new connection from the same address does not start afresh: its next attempt waits
    // its turn (a second after three failures), even with the right password.
    let mut again = server.client("again").await;
    again
        .send(&format!("OPER {OPER_NAME} {OPER_PASSWORD}"))
        .await;
    assert!(
        again.try_recv(Duration::from_millis(300)).await.is_none(),
        "answered at once after three failures"
    );
    again.expect_numeric(RPL_YOUREOPER).await;
}

#[tokio::test]
async fn opers_show_in_whois_and_lusers() {
    let server = TestServer::start().await;
    let mut admin = oper(&server, "admin").await;
    admin.send("WHOIS admin").await;
    admin.expect_numeric(RPL_WHOISOPERATOR).await;
    admin.send("LUSERS").await;
    assert_eq!(admin.expect_numeric(RPL_LUSEROP).await.param(1), Some("1"));
    assert!(server.handle.users()[0].oper);
}

#[tokio::test]
async fn kill_disconnects_with_reason() {
    let server = TestServer::start().await;
    let mut admin = oper(&server, "admin").await;
    let mut bob = server.client("bob").await;
    let mut carol = server.client("carol").await;
    bob.send("JOIN #x").await;
    bob.expect_numeric(RPL_ENDOFNAMES).await;
    carol.send("JOIN #x").await;
    carol.expect_numeric(RPL_ENDOFNAMES).await;
    admin.send("KILL bob :portate bien").await;
    let done = admin.expect_command("NOTICE").await;
    assert_eq!(done.param(1), Some("Killed bob (portate bien)"), "{done}");
    let kill = bob.expect_command("KILL").await;
    assert_eq!(kill.params, vec!["bob", "portate bien"]);
    bob.expect_error("Killed (admin (portate bien))").await;
    bob.expect_closed().await;
    let quit = carol.expect_command("QUIT").await;
    assert_eq!(quit.param(0), Some("Killed (admin (portate bien))"));
    admin.send("KILL nobody :x").await;
    admin.expect_numeric(ERR_NOSUCHNICK).await;
}

#[tokio::test]
async fn non_opers_get_noprivileges() {
    let server = TestServer::start().await;
    let mut c = server.client("alice").await;
    let _bob = server.client("bob").await;
    for cmd in [
        "KILL bob :x",
        "WALLOPS :hi",
        "GLOBAL :hi",
        "NOTICE $* :hi",
        "PRIVMSG $* :hi",
    ] {
        c.send(cmd).await;
        c.expect_numeric(ERR_NOPRIVILEGES).await;
    }
}

#[tokio::test]
async fn wallops_reach_plus_w_users_only() {
    let server = TestServer::start().await;
    let mut admin = oper(&server, "admin").await;
    let mut listener = server.client("listener").await;
    listener.send("MODE listener +w").await;
    listener.expect_command("MODE").await;
    let mut quiet = server.client("quiet").await;
    admin.send("WALLOPS :reinicio en 5 minutos").await;
    let w = listener.expect_command("WALLOPS").await;
    assert_eq!(w.source_nick(), Some("admin"));
    assert_eq!(w.param(0), Some("reinicio en 5 minutos"));
    quiet.expect_nothing().await;
}

#[tokio::test]
async fn global_and_dollar_notices_reach_everyone() {
    let server = TestServer::start().await;
    let mut admin = oper(&server, "admin").await;
    let mut a = server.client("a").await;
    let mut b = server.client("b").await;
    admin.send("GLOBAL :¡Hola a todos!").await;
    for c in [&mut a, &mut b] {
        let n = c.expect_command("NOTICE").await;
        assert_eq!(n.params, vec!["$*", "¡Hola a todos!"]);
        assert_eq!(n.source_nick(), Some("admin"));
    }
    admin.send("NOTICE $irc.* :otra vez").await;
    for c in [&mut a, &mut b] {
        assert_eq!(c.expect_command("NOTICE").await.param(1), Some("otra vez"));
    }
    admin.send("PRIVMSG $other.server :x").await;
    admin.expect_numeric(ERR_NOSUCHNICK).await;
}

#[tokio::test]
async fn opers_are_exempt_from_flood_control() {
    let mut config = TestServer::test_config();
    config.flood.burst = 5;
    config.flood.lines_per_sec = 1.0;
    config.flood.recvq_bytes = charla_proto::limits::MAX_INBOUND;
    let server = TestServer::start_with(config).await;
    let mut c = server.connect().await;
    c.send("NICK admin").await;
    c.send("USER admin 0 * :Admin").await;
    c.send(&format!("OPER {OPER_NAME} {OPER_PASSWORD}")).await;
    c.expect_numeric(RPL_YOUREOPER).await;
    let mut burst = String::new();
    // Far more than the receive queue holds (about 56 bytes a line).
    for i in 0..400 {
        burst.push_str(&format!("PING n{i}\r\n"));
    }
    c.send_raw(burst.as_bytes()).await;
    let last = c
        .expect(&"PONG n399", |m| {
            m.command == "PONG" && m.param(1) == Some("n399")
        })
        .await;
    assert_eq!(last.param(1), Some("n399"));
}
