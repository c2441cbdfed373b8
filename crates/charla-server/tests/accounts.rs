//! Accounts: REGISTER, SASL (PLAIN, SCRAM-SHA-256, and their failures), NickServ, protected
//! nicks, the caps that carry accounts, operators by account, and passwords refused over plain
//! text from another machine. EXTERNAL (a client certificate) is in `tls.rs`; a restart on the
//! same SQLite file is in `store.rs`.

mod common;

use std::net::SocketAddr;

use charla_proto::OwnedMessage;
use charla_proto::numeric::{
    ERR_SASLABORTED, ERR_SASLALREADY, ERR_SASLFAIL, ERR_SASLTOOLONG, RPL_LOGGEDIN, RPL_SASLSUCCESS,
    RPL_WELCOME, RPL_WHOISACCOUNT, RPL_YOUREOPER,
};
use charla_proto::sasl::{ScramClient, encode_chunks, plain_encode};
use charla_server::OperConfig;
use charla_server::config::Registration;
use common::{TestClient, TestServer};
use tokio::net::{TcpListener, TcpStream};

const PASSWORD: &str = "contraseña-segura";

/// Decodes the payload of one `AUTHENTICATE` line from the server.
fn payload(m: &OwnedMessage) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(m.param(0).unwrap_or(""))
        .expect("base64 from the server")
}

/// Starts CAP negotiation with `sasl` acknowledged, and sends NICK/USER.
async fn negotiate(c: &mut TestClient, nick: &str) {
    c.cap_ls_302().await;
    c.send("CAP REQ :sasl").await;
    let ack = c.expect_command("CAP").await;
    assert_eq!(ack.param(1), Some("ACK"));
    c.send(&format!("NICK {nick}")).await;
    c.send(&format!("USER {nick} 0 * :{nick}")).await;
}

/// `AUTHENTICATE <mechanism>`, waiting for the server's `AUTHENTICATE +`.
async fn start_mechanism(c: &mut TestClient, mechanism: &str) {
    c.send(&format!("AUTHENTICATE {mechanism}")).await;
    let go = c.expect_command("AUTHENTICATE").await;
    assert_eq!(go.param(0), Some("+"));
}

/// Sends `payload` in AUTHENTICATE chunks.
async fn send_payload(c: &mut TestClient, payload: &[u8]) {
    for chunk in encode_chunks(payload) {
        c.send(&format!("AUTHENTICATE {chunk}")).await;
    }
}

/// SASL PLAIN as `account`: returns the numeric that ended the exchange (903 or an error).
async fn plain(c: &mut TestClient, account: &str, password: &str) -> OwnedMessage {
    start_mechanism(c, "PLAIN").await;
    send_payload(c, &plain_encode("", account, password)).await;
    c.expect(&"the end of SASL", |m| {
        matches!(m.command.as_str(), "903" | "904" | "905" | "906" | "907")
    })
    .await
}

/// A registered client that made the account `nick` with REGISTER.
async fn registered_account(server: &TestServer, nick: &str) -> TestClient {
    let mut c = server.client(nick).await;
    c.send(&format!("REGISTER * * :{PASSWORD}")).await;
    let ok = c.expect_command("REGISTER").await;
    assert_eq!(ok.param(0), Some("SUCCESS"), "{ok}");
    assert_eq!(ok.param(1), Some(nick));
    c.expect_numeric(RPL_LOGGEDIN).await;
    c
}

#[tokio::test]
async fn register_then_log_in_with_sasl_plain_before_registration() {
    let server = TestServer::start().await;
    let mut ana = registered_account(&server, "Ñandú").await;
    ana.send("QUIT").await;

    let mut again = server.connect().await;
    negotiate(&mut again, "Ñandú").await;
    let end = plain(&mut again, "ñandú", PASSWORD).await;
    assert_eq!(end.command, RPL_SASLSUCCESS.to_string(), "{end}");
    again.send("CAP END").await;
    let welcome = again.expect_numeric(RPL_WELCOME).await;
    // The account vouches for the user name: no `~`.
    assert!(
        welcome
            .param(1)
            .is_some_and(|t| t.ends_with("Ñandú!Ñandú@127.0.0.1")),
        "{welcome}"
    );
    let mut bob = server.client("bob").await;
    bob.send("WHOIS Ñandú").await;
    let account = bob.expect_numeric(RPL_WHOISACCOUNT).await;
    assert_eq!(account.param(2), Some("Ñandú"));
}

#[tokio::test]
async fn wrong_passwords_fail_and_three_close_the_connection() {
    let server = TestServer::start().await;
    registered_account(&server, "carla").await;
    let mut guesser = server.connect().await;
    negotiate(&mut guesser, "guesser").await;
    for _ in 0..2 {
        let end = plain(&mut guesser, "carla", "no es").await;
        assert_eq!(end.command, ERR_SASLFAIL.to_string(), "{end}");
    }
    // A name that does not exist gets the same answer as a wrong password.
    let end = plain(&mut guesser, "nadie", "no es").await;
    assert_eq!(end.command, ERR_SASLFAIL.to_string(), "{end}");
    guesser
        .expect_error("Too many failed password attempts")
        .await;
}

#[tokio::test]
async fn an_exchange_can_be_aborted_and_bad_input_is_answered() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    negotiate(&mut c, "dora").await;
    start_mechanism(&mut c, "PLAIN").await;
    c.send("AUTHENTICATE *").await;
    c.expect_numeric(ERR_SASLABORTED).await;
    // Unknown mechanism: 908 with the list, then 904.
    c.send("AUTHENTICATE DIGEST-MD5").await;
    let mechs = c.expect_numeric(908).await;
    assert_eq!(mechs.param(1), Some("SCRAM-SHA-256,PLAIN,EXTERNAL"));
    c.expect_numeric(ERR_SASLFAIL).await;
    // A payload bigger than the server takes.
    start_mechanism(&mut c, "PLAIN").await;
    for _ in 0..8 {
        c.send(&format!("AUTHENTICATE {}", "A".repeat(400))).await;
    }
    c.expect_numeric(ERR_SASLTOOLONG).await;
    // Not base64.
    start_mechanism(&mut c, "PLAIN").await;
    c.send("AUTHENTICATE ¡¡no!!").await;
    c.expect_numeric(ERR_SASLFAIL).await;
    // EXTERNAL needs a client certificate.
    c.send("AUTHENTICATE EXTERNAL").await;
    let fail = c.expect_numeric(ERR_SASLFAIL).await;
    assert!(
        fail.param(1).is_some_and(|t| t.contains("certificate")),
        "{fail}"
    );
    c.send("CAP END").await;
    c.expect_numeric(RPL_WELCOME).await;
}

#[tokio::test]
async fn scram_sha_256_logs_in_and_a_wrong_password_does_not() {
    let server = TestServer::start().await;
    registered_account(&server, "elena").await;

    for (password, ok) in [("mal", false), (PASSWORD, true)] {
        let mut c = server.connect().await;
        negotiate(&mut c, "elena_").await;
        start_mechanism(&mut c, "SCRAM-SHA-256").await;
        let client =
            ScramClient::new("elena", password, "fyko+d2lbbFgONRv9qkxdawL").expect("client");
        send_payload(&mut c, &client.client_first()).await;
        let first = c.expect_command("AUTHENTICATE").await;
        let (client, last) = client.server_first(&payload(&first)).expect("server-first");
        send_payload(&mut c, &last).await;
        if ok {
            let signature = c.expect_command("AUTHENTICATE").await;
            client
                .server_final(&payload(&signature))
                .expect("the server proves it knows the password");
            c.send("AUTHENTICATE +").await;
            c.expect_numeric(RPL_LOGGEDIN).await;
            c.expect_numeric(RPL_SASLSUCCESS).await;
            // Once in, a second exchange is refused.
            c.send("AUTHENTICATE PLAIN").await;
            c.expect_numeric(ERR_SASLALREADY).await;
        } else {
            c.expect_numeric(ERR_SASLFAIL).await;
        }
    }
}

/// A client connected through `server`'s test hook as if from `peer` (a real socket on
/// 127.0.0.1 whose peer address the server is told is `peer`).
async fn connect_from(server: &TestServer, peer: SocketAddr) -> TestClient {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let ours = TcpStream::connect(listener.local_addr().expect("addr"))
        .await
        .expect("connect");
    let (theirs, _) = listener.accept().await.expect("accept");
    server
        .handle
        .connect_stream(theirs, peer)
        .expect("the server takes the stream");
    TestClient::from_stream(ours)
}

#[tokio::test]
async fn passwords_are_refused_over_plain_text_from_another_machine() {
    let server = TestServer::start().await;
    registered_account(&server, "fede").await;
    let mut far = connect_from(&server, "203.0.113.7:40000".parse().expect("addr")).await;
    negotiate(&mut far, "fede").await;
    far.send("AUTHENTICATE PLAIN").await;
    let fail = far.expect_numeric(ERR_SASLFAIL).await;
    assert!(fail.param(1).is_some_and(|t| t.contains("TLS")), "{fail}");
    far.send("AUTHENTICATE SCRAM-SHA-256").await;
    far.expect_numeric(ERR_SASLFAIL).await;
    far.send("CAP END").await;
    far.expect_numeric(RPL_WELCOME).await;
    far.send(&format!("REGISTER otra * :{PASSWORD}")).await;
    let refused = far.expect_command("FAIL").await;
    assert_eq!(refused.param(1), Some("UNACCEPTABLE_PASSWORD"), "{refused}");
    far.send(&format!("PRIVMSG NickServ :IDENTIFY {PASSWORD}"))
        .await;
    // NickServ's warning about the protected nick may come first: look for the answer.
    let notice = far
        .expect(&"NickServ's answer about TLS", |m| {
            m.command == "NOTICE" && m.param(1).is_some_and(|t| t.contains("TLS"))
        })
        .await;
    assert_eq!(notice.source_nick(), Some("NickServ"));
}

#[tokio::test]
async fn register_says_why_it_refuses() {
    let mut config = TestServer::test_config();
    config.accounts.min_password_len = 8;
    let server = TestServer::start_with(config).await;
    registered_account(&server, "gabi").await;
    let mut c = server.client("gabi_").await;
    for (line, code) in [
        (format!("REGISTER gabi * :{PASSWORD}"), "ACCOUNT_EXISTS"),
        ("REGISTER * * :corta".to_owned(), "WEAK_PASSWORD"),
        (
            format!("REGISTER NickServ * :{PASSWORD}"),
            "BAD_ACCOUNTNAME",
        ),
        (format!("REGISTER * nada :{PASSWORD}"), "INVALID_EMAIL"),
    ] {
        c.send(&line).await;
        let fail = c.expect_command("FAIL").await;
        assert_eq!(fail.param(0), Some("REGISTER"));
        assert_eq!(fail.param(1), Some(code), "{line}: {fail}");
    }
    c.send("VERIFY gabi_ 123").await;
    let fail = c.expect_command("FAIL").await;
    assert_eq!(fail.param(1), Some("INVALID_CODE"));

    // Closed registration.
    let mut config = TestServer::test_config();
    config.accounts.registration = Registration::Closed;
    let closed = TestServer::start_with(config).await;
    let mut c = closed.connect().await;
    let offered = c.cap_ls_302().await;
    assert!(!offered.iter().any(|c| c.contains("account-registration")));
    c.send("CAP END").await;
    c.register("hugo").await;
    c.send(&format!("REGISTER * * :{PASSWORD}")).await;
    let fail = c.expect_command("FAIL").await;
    assert_eq!(fail.param(1), Some("TEMPORARILY_UNAVAILABLE"));
}

#[tokio::test]
async fn nickserv_identify_ghost_set_password_and_drop() {
    let server = TestServer::start().await;
    let mut old = registered_account(&server, "ines").await;
    // Another connection takes the account's nick back with GHOST after identifying.
    let mut new = server.client("ines_").await;
    new.send(&format!("NS IDENTIFY ines {PASSWORD}")).await;
    new.expect_numeric(RPL_LOGGEDIN).await;
    new.send("PRIVMSG NickServ :GHOST ines").await;
    old.expect_error("GHOST command used by ines_").await;
    new.expect_command("NOTICE").await;
    new.send("NICK ines").await;
    new.expect_command("NICK").await;

    new.send("NICKSERV SET PASSWORD otra-contraseña").await;
    let n = new.expect_command("NOTICE").await;
    assert!(n.param(1).is_some_and(|t| t.contains("changed")), "{n}");
    new.send("NS INFO").await;
    let n = new.expect_command("NOTICE").await;
    assert_eq!(n.param(1), Some("Account: ines"));

    // The new password works, the old one not.
    let mut c = server.connect().await;
    negotiate(&mut c, "x1").await;
    assert_eq!(plain(&mut c, "ines", PASSWORD).await.command, "904");
    assert_eq!(
        plain(&mut c, "ines", "otra-contraseña").await.command,
        "903"
    );

    new.send("NS DROP otra-contraseña").await;
    new.expect_numeric(901).await;
    let mut d = server.connect().await;
    negotiate(&mut d, "x2").await;
    assert_eq!(
        plain(&mut d, "ines", "otra-contraseña").await.command,
        "904"
    );
}

#[tokio::test]
async fn the_caps_that_carry_accounts() {
    let server = TestServer::start().await;
    registered_account(&server, "julia")
        .await
        .send("QUIT")
        .await;
    let mut watcher = server.connect().await;
    watcher
        .register_with_caps(
            "watcher",
            "account-notify account-tag extended-join chghost message-tags",
        )
        .await;
    watcher.send("JOIN #sala").await;
    watcher.expect_command("JOIN").await;
    let mut julia = server.client("julia").await;
    julia.send("JOIN #sala").await;
    let join = watcher.expect_command("JOIN").await;
    assert_eq!(join.param(1), Some("*"), "not logged in yet: {join}");
    julia.send(&format!("NS IDENTIFY {PASSWORD}")).await;
    julia.expect_numeric(RPL_LOGGEDIN).await;
    let chghost = watcher.expect_command("CHGHOST").await;
    assert_eq!(chghost.source_nick(), Some("julia"));
    assert_eq!(chghost.param(0), Some("julia"));
    let account = watcher.expect_command("ACCOUNT").await;
    assert_eq!(account.param(0), Some("julia"));
    julia.send("PRIVMSG #sala :hola").await;
    let m = watcher.expect_command("PRIVMSG").await;
    assert_eq!(m.tag("account"), Some("julia"), "{m}");
    julia.send("PART #sala").await;
    watcher.expect_command("PART").await;
    julia.send("JOIN #sala").await;
    let join = watcher.expect_command("JOIN").await;
    assert_eq!(join.param(1), Some("julia"), "{join}");
    // WHOX with the account field.
    watcher.send("WHO #sala %tna,42").await;
    let rows: Vec<_> = watcher
        .sync()
        .await
        .into_iter()
        .filter(|m| m.command == "354")
        .collect();
    assert!(
        rows.iter()
            .any(|m| m.params[1..] == ["42", "julia", "julia"]),
        "{rows:?}"
    );
    assert!(
        rows.iter().any(|m| m.params[1..] == ["42", "watcher", "0"]),
        "{rows:?}"
    );
    julia.send("NS LOGOUT").await;
    let account = watcher.expect_command("ACCOUNT").await;
    assert_eq!(account.param(0), Some("*"));
}

#[tokio::test]
async fn a_registered_nick_is_protected_after_its_grace_period() {
    let mut config = TestServer::test_config();
    config.accounts.nick_grace_secs = 1;
    let server = TestServer::start_with(config).await;
    registered_account(&server, "karen")
        .await
        .send("QUIT")
        .await;
    // Someone else takes the nick and does not log in: told, then renamed.
    let mut squatter = server.client("karen").await;
    let warning = squatter.expect_command("NOTICE").await;
    assert_eq!(warning.source_nick(), Some("NickServ"));
    assert!(
        warning.param(1).is_some_and(|t| t.contains("registered")),
        "{warning}"
    );
    let rename = squatter.expect_command("NICK").await;
    assert!(
        rename.param(0).is_some_and(|n| n.starts_with("Guest")),
        "{rename}"
    );
    // The owner logs in in time and keeps it.
    let mut owner = server.client("karen").await;
    owner.expect_command("NOTICE").await;
    owner.send(&format!("NS IDENTIFY {PASSWORD}")).await;
    owner.expect_numeric(RPL_LOGGEDIN).await;
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    owner.send("WHOIS karen").await;
    owner.expect_numeric(RPL_WHOISACCOUNT).await;
    // Service nicks cannot be taken.
    owner.send("NICK NickServ").await;
    owner.expect_numeric(432).await;
}

#[tokio::test]
async fn an_operator_block_can_name_an_account() {
    let mut config = TestServer::test_config();
    config.opers.push(OperConfig {
        name: "lucia".to_owned(),
        password_hash: None,
        account: Some("Lucía".to_owned()),
    });
    let server = TestServer::start_with(config).await;
    let mut lucia = registered_account(&server, "Lucía").await;
    lucia.send("OPER lucia").await;
    lucia.expect_numeric(RPL_YOUREOPER).await;
    let mut other = server.client("otro").await;
    other.send("OPER lucia").await;
    other.expect_numeric(461).await;
    other.send("OPER lucia whatever").await;
    other.expect_numeric(464).await;
}

#[tokio::test]
async fn chanserv_keeps_a_channel_and_gives_status_by_account() {
    let server = TestServer::start().await;
    let mut founder = registered_account(&server, "mar").await;
    let mut friend = registered_account(&server, "nico").await;
    founder.send("JOIN #casa").await;
    founder.expect_command("JOIN").await;
    founder.send("CS REGISTER #casa").await;
    let n = founder.expect_command("NOTICE").await;
    assert!(
        n.param(1).is_some_and(|t| t.contains("registered to mar")),
        "{n}"
    );
    founder.send("CS ACCESS #casa ADD nico VOICE").await;
    founder.expect_command("NOTICE").await;
    founder.send("TOPIC #casa :nuestra casa").await;
    founder.expect_command("TOPIC").await;
    friend.send("JOIN #casa").await;
    let voice = friend
        .expect(&"ChanServ's MODE", |m| m.command == "MODE")
        .await;
    assert_eq!(voice.source_nick(), Some("ChanServ"));
    assert_eq!(voice.params[1..], ["+v", "nico"]);
    // Everyone leaves: the channel stays, with its topic.
    founder.send("PART #casa").await;
    friend.send("PART #casa").await;
    friend.expect_command("PART").await;
    let mut stranger = server.client("otra").await;
    stranger.send("JOIN #casa").await;
    let topic = stranger.expect_numeric(332).await;
    assert_eq!(topic.param(2), Some("nuestra casa"));
    // A stranger in an emptied registered channel is not made operator.
    stranger.send("MODE #casa +m").await;
    stranger.expect_numeric(482).await;
    founder.send("JOIN #casa").await;
    let op = founder
        .expect(&"ChanServ's +o", |m| {
            m.command == "MODE" && m.param(1) == Some("+o")
        })
        .await;
    assert_eq!(op.source_nick(), Some("ChanServ"));
    assert_eq!(op.params[1..], ["+o", "mar"]);
    // Only the founder manages it.
    stranger.send("CS DROP #casa").await;
    let n = stranger.expect_command("NOTICE").await;
    assert!(n.param(1).is_some_and(|t| t.contains("founder")), "{n}");
    founder.send("CS DROP #casa").await;
    let n = founder.expect_command("NOTICE").await;
    assert!(n.param(1).is_some_and(|t| t.contains("no longer")), "{n}");
}
