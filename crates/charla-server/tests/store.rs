//! The store on disk: accounts and a registered channel survive a restart on the same SQLite
//! file, and an account on the same PostgreSQL database; a damaged file stops the server at
//! start and is left as it was; failed log-ins are braked per account, not only per address.

mod common;

use std::time::{Duration, Instant};

use charla_proto::numeric::{RPL_CHANNELMODEIS, RPL_LOGGEDIN, RPL_SASLSUCCESS, RPL_WELCOME};
use charla_proto::sasl::{encode_chunks, plain_encode};
use charla_server::account::password::Password;
use charla_server::config::{StoreBackend, StoreConfig};
use charla_server::{Config, Server, StartError};
use charla_store::testing::TestDatabase;
use common::{TestClient, TestServer};

const PASSWORD: &str = "contraseña-segura";

/// The test config keeping its store in `dir`.
fn on_disk(dir: &std::path::Path) -> Config {
    let mut config = TestServer::test_config();
    config.store = StoreConfig::default();
    config.data_dir = dir.to_owned();
    config
}

/// Logs in with SASL PLAIN before registering as `nick`; returns the numeric that ended it.
async fn sasl_plain(c: &mut TestClient, nick: &str, account: &str, password: &str) -> String {
    c.cap_ls_302().await;
    c.send("CAP REQ :sasl").await;
    c.expect_command("CAP").await;
    c.send(&format!("NICK {nick}")).await;
    c.send(&format!("USER {nick} 0 * :{nick}")).await;
    c.send("AUTHENTICATE PLAIN").await;
    c.expect_command("AUTHENTICATE").await;
    for chunk in encode_chunks(&plain_encode("", account, password)) {
        c.send(&format!("AUTHENTICATE {chunk}")).await;
    }
    let end = c
        .expect(&"the end of SASL", |m| {
            matches!(m.command.as_str(), "903" | "904" | "906")
        })
        .await;
    end.command
}

#[tokio::test]
async fn accounts_and_a_registered_channel_survive_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let server = TestServer::start_with(on_disk(dir.path())).await;
    let mut founder = server.client("Ñandú").await;
    founder.send(&format!("REGISTER * * :{PASSWORD}")).await;
    founder.expect_numeric(RPL_LOGGEDIN).await;
    let mut friend = server.client("bea").await;
    friend.send(&format!("REGISTER * * :{PASSWORD}")).await;
    friend.expect_numeric(RPL_LOGGEDIN).await;
    founder.send("JOIN #canción").await;
    founder.expect_command("JOIN").await;
    founder.send("CS REGISTER #canción").await;
    founder.expect_command("NOTICE").await;
    founder.send("TOPIC #canción :¡la letra!").await;
    founder.expect_command("TOPIC").await;
    founder.send("MODE #canción +mk-t clave").await;
    founder.expect_command("MODE").await;
    founder.send("MODE #canción +b malo!*@*").await;
    founder.expect_command("MODE").await;
    founder.send("CS ACCESS #canción ADD bea OP").await;
    founder.expect_command("NOTICE").await;
    founder.sync().await;
    server.handle.shutdown().await;

    let server = TestServer::start_with(on_disk(dir.path())).await;
    let mut again = server.connect().await;
    assert_eq!(
        sasl_plain(&mut again, "Ñandú", "ñandú", PASSWORD).await,
        "903"
    );
    again.send("CAP END").await;
    again.expect_numeric(RPL_WELCOME).await;
    again.send("JOIN #canción").await;
    let refused = again.expect_numeric(475).await;
    assert_eq!(refused.param(1), Some("#canción"), "the key is kept");
    again.send("JOIN #canción clave").await;
    // ChanServ's MODE comes right after the JOIN, before the topic and names.
    let op = again
        .expect(&"ChanServ's +o", |m| m.command == "MODE")
        .await;
    assert_eq!(op.params[1..], ["+o", "Ñandú"]);
    let topic = again.expect_numeric(332).await;
    assert_eq!(topic.param(2), Some("¡la letra!"));
    again.send("MODE #canción").await;
    let modes = again.expect_numeric(RPL_CHANNELMODEIS).await;
    assert_eq!(modes.params[2..], ["+mnk", "clave"], "{modes}");
    again.send("MODE #canción +b").await;
    let ban = again.expect_numeric(367).await;
    assert_eq!(ban.param(2), Some("malo!*@*"));
    // The access list too.
    let mut bea = server.connect().await;
    assert_eq!(sasl_plain(&mut bea, "bea", "bea", PASSWORD).await, "903");
    bea.send("CAP END").await;
    bea.expect_numeric(RPL_WELCOME).await;
    bea.send("JOIN #canción clave").await;
    let op = bea
        .expect(&"ChanServ's +o", |m| {
            m.command == "MODE" && m.param(2) == Some("bea")
        })
        .await;
    assert_eq!(op.param(1), Some("+o"));
    server.handle.shutdown().await;
}

/// The test config keeping its store in the PostgreSQL database at `url`.
fn on_postgres(url: &str, dir: &std::path::Path) -> Config {
    let mut config = TestServer::test_config();
    config.store = StoreConfig {
        backend: StoreBackend::Postgres,
        url: Some(Password::new(url)),
        ..StoreConfig::default()
    };
    config.data_dir = dir.to_owned();
    config
}

/// Skips (saying so) without `CHARLA_TEST_POSTGRES`, unless `CHARLA_TEST_POSTGRES_REQUIRED=1`.
#[tokio::test]
async fn an_account_survives_a_restart_on_postgres() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let server = TestServer::start_with(on_postgres(database.url(), dir.path())).await;
    let mut alice = server.client("Ñandú").await;
    alice.send(&format!("REGISTER * * :{PASSWORD}")).await;
    alice.expect_numeric(RPL_LOGGEDIN).await;
    alice.sync().await;
    server.handle.shutdown().await;

    let server = TestServer::start_with(on_postgres(database.url(), dir.path())).await;
    let mut again = server.connect().await;
    assert_eq!(
        sasl_plain(&mut again, "Ñandú", "ñandú", PASSWORD).await,
        "903"
    );
    again.send("CAP END").await;
    again.expect_numeric(RPL_WELCOME).await;
    // A wrong password is still refused: the account came back whole.
    let mut stranger = server.connect().await;
    assert_eq!(
        sasl_plain(&mut stranger, "stranger", "ñandú", "not-the-password").await,
        "904"
    );
    server.handle.shutdown().await;
}

#[tokio::test]
async fn a_damaged_store_stops_the_server_and_is_left_alone() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("charla.db");
    let garbage = b"esto no es una base de datos, sino un poema".repeat(200);
    std::fs::write(&file, &garbage).expect("write");
    let Err(err) = Server::start(on_disk(dir.path())).await else {
        panic!("the server started on a damaged store");
    };
    assert!(matches!(err, StartError::Store(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("charla.db"), "names the file: {text}");
    assert_eq!(
        std::fs::read(&file).expect("read"),
        garbage,
        "left as it was"
    );
}

#[tokio::test]
async fn failed_log_ins_are_braked_per_account_as_well_as_per_address() {
    let server = TestServer::start().await;
    for name in ["ximena", "yago"] {
        let mut c = server.client(name).await;
        c.send(&format!("REGISTER * * :{PASSWORD}")).await;
        c.expect_numeric(RPL_LOGGEDIN).await;
    }
    // Three wrong passwords for ximena from 127.0.0.1: the connection is closed, and this
    // address and the account have failures on record.
    let mut guesser = server.connect().await;
    for _ in 0..3 {
        assert_eq!(sasl_plain_again(&mut guesser, "ximena", "mal").await, "904");
    }
    guesser
        .expect_error("Too many failed password attempts")
        .await;
    // From another address (loopback too, so passwords are allowed), yago logs in at once...
    let started = Instant::now();
    let mut yago = connect_from(&server, "127.0.0.3:40000").await;
    assert_eq!(
        sasl_plain(&mut yago, "yago2", "yago", PASSWORD).await,
        "903"
    );
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    // ...but ximena's right password waits for the account's turn.
    let started = Instant::now();
    let mut ximena = connect_from(&server, "127.0.0.2:40000").await;
    assert_eq!(
        sasl_plain(&mut ximena, "ximena2", "ximena", PASSWORD).await,
        RPL_SASLSUCCESS.to_string()
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "no wait for the account: {:?}",
        started.elapsed()
    );
}

/// A client on a real socket that the server is told comes from `peer`.
async fn connect_from(server: &TestServer, peer: &str) -> TestClient {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let ours = tokio::net::TcpStream::connect(listener.local_addr().expect("addr"))
        .await
        .expect("connect");
    let (theirs, _) = listener.accept().await.expect("accept");
    server
        .handle
        .connect_stream(theirs, peer.parse().expect("addr"))
        .expect("taken");
    TestClient::from_stream(ours)
}

/// One PLAIN attempt on a connection that may already have negotiated.
async fn sasl_plain_again(c: &mut TestClient, account: &str, password: &str) -> String {
    c.send("AUTHENTICATE PLAIN").await;
    c.expect_command("AUTHENTICATE").await;
    for chunk in encode_chunks(&plain_encode("", account, password)) {
        c.send(&format!("AUTHENTICATE {chunk}")).await;
    }
    c.expect(&"the end of SASL", |m| {
        matches!(m.command.as_str(), "903" | "904" | "906")
    })
    .await
    .command
}
