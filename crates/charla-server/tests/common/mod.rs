//! A small IRC test client and an in-process test server, shared by the integration tests.
//!
//! Every wait has a timeout (5 s) and fails the test with the lines seen so far, so a bug
//! fails instead of hanging. Helpers panic with context: they are for tests only.
//!
//! Stable API (other test files rely on it; add to it, do not change signatures):
//! `TestServer::{start, start_with, test_config, addr, connect, client}`,
//! `TestClient::{connect, from_stream, register, register_with_caps, send, send_raw, recv, try_recv,
//! expect, expect_numeric, expect_command, expect_error, expect_closed, read_batch, sync, nick}`.
#![allow(dead_code)]

pub mod fillable;
pub mod web;

use std::net::SocketAddr;
use std::time::Duration;

use charla_proto::OwnedMessage;
use charla_proto::numeric;
use charla_server::{Config, OperConfig, Server, ServerHandle};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// How long any wait lasts before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The operator account of the test config: `OPER admin secret`.
pub const OPER_NAME: &str = "admin";
/// Its password.
pub const OPER_PASSWORD: &str = "secret";
/// Argon2id hash of "secret" (made with `charla-server hash-password`).
pub const OPER_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$BGJ9sBKA/Glk47/va93wtw$mMutp9av7IIEhv+z0rez+DVeePti+Zch70XAURjMQQw";

/// A server running in this process on 127.0.0.1 with a free port.
pub struct TestServer {
    /// The operator handle.
    pub handle: ServerHandle,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl TestServer {
    /// The test configuration: 127.0.0.1:0, server name `irc.test`, one oper (`admin`/`secret`),
    /// flood control on but generous enough that tests do not trip it by accident.
    pub fn test_config() -> Config {
        let mut c = Config::with_listener(SocketAddr::from(([127, 0, 0, 1], 0)));
        c.server_name = "irc.test".to_owned();
        c.network = "CharlaTest".to_owned();
        c.motd = Some("Hola 👋\nSecond line".to_owned());
        c.flood.burst = 500;
        c.flood.lines_per_sec = 500.0;
        c.flood.recvq_bytes = 1 << 20;
        c.opers = vec![OperConfig {
            name: OPER_NAME.to_owned(),
            password_hash: Some(OPER_HASH.to_owned()),
            account: None,
        }];
        c
    }

    /// Starts a server with [`test_config`](Self::test_config).
    pub async fn start() -> TestServer {
        Self::start_with(Self::test_config()).await
    }

    /// Starts a server with `config`.
    pub async fn start_with(config: Config) -> TestServer {
        let handle = Server::start(config).await.expect("server starts");
        let addr = handle.local_addrs()[0];
        TestServer { handle, addr }
    }

    /// Starts a server with [`test_config`](Self::test_config) over `store` (a store the test
    /// keeps a handle on, to fill or stall its disk).
    pub async fn start_with_store(store: std::sync::Arc<dyn charla_store::Store>) -> TestServer {
        let handle = Server::start_with_store(Self::test_config(), store)
            .await
            .expect("server starts");
        let addr = handle.local_addrs()[0];
        TestServer { handle, addr }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A connected, unregistered client.
    pub async fn connect(&self) -> TestClient {
        TestClient::connect(self.addr).await
    }

    /// A connected client registered as `nick` (welcome burst drained).
    pub async fn client(&self, nick: &str) -> TestClient {
        let mut c = self.connect().await;
        c.register(nick).await;
        c
    }
}

/// A line-oriented IRC client for tests.
pub struct TestClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// The nick given to `register`.
    pub nick: String,
    /// Every line received, for failure messages.
    pub seen: Vec<String>,
    sync_counter: u32,
}

impl TestClient {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> TestClient {
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        Self::from_stream(stream)
    }

    /// A client over an already connected stream (e.g. one with a small receive buffer).
    pub fn from_stream(stream: TcpStream) -> TestClient {
        let (r, w) = stream.into_split();
        TestClient {
            reader: BufReader::new(r),
            writer: w,
            nick: String::new(),
            seen: Vec::new(),
            sync_counter: 0,
        }
    }

    /// Sends NICK and USER, waits for 001 and drains the burst up to the end of the MOTD.
    pub async fn register(&mut self, nick: &str) {
        self.nick = nick.to_owned();
        self.send(&format!("NICK {nick}")).await;
        self.send(&format!("USER {nick} 0 * :Test {nick}")).await;
        self.expect_numeric(numeric::RPL_WELCOME).await;
        self.expect(&"end of MOTD", |m| m.command == "376" || m.command == "422")
            .await;
    }

    /// Asks for `nick`, logs into `account` with SASL PLAIN and `password` (with `caps` too),
    /// and finishes registering: returns the welcome (001), whose first parameter is the nick
    /// the server gave (a device of an account whose user is present gets that user's).
    pub async fn log_in_with_sasl(
        &mut self,
        nick: &str,
        account: &str,
        password: &str,
        caps: &str,
    ) -> OwnedMessage {
        use charla_proto::sasl::{encode_chunks, plain_encode};
        self.nick = nick.to_owned();
        self.cap_ls_302().await;
        self.send(format!("CAP REQ :sasl {caps}").trim_end()).await;
        let ack = self.expect_command("CAP").await;
        assert_eq!(ack.param(1), Some("ACK"), "{ack}");
        self.send(&format!("NICK {nick}")).await;
        self.send(&format!("USER {nick} 0 * :{nick}")).await;
        self.send("AUTHENTICATE PLAIN").await;
        self.expect_command("AUTHENTICATE").await;
        for chunk in encode_chunks(&plain_encode("", account, password)) {
            self.send(&format!("AUTHENTICATE {chunk}")).await;
        }
        self.expect_numeric(numeric::RPL_SASLSUCCESS).await;
        self.send("CAP END").await;
        self.expect_numeric(numeric::RPL_WELCOME).await
    }

    /// Sends `CAP LS 302` and reads every line of the answer (all but the last say `*`
    /// first); returns the capabilities offered, values included.
    pub async fn cap_ls_302(&mut self) -> Vec<String> {
        self.send("CAP LS 302").await;
        let mut offered = Vec::new();
        loop {
            let ls = self
                .expect(&"CAP LS", |m| {
                    m.command == "CAP" && m.param(1) == Some("LS")
                })
                .await;
            let list = ls.params.last().cloned().unwrap_or_default();
            offered.extend(list.split(' ').filter(|t| !t.is_empty()).map(str::to_owned));
            if ls.params.len() < 4 || ls.param(2) != Some("*") {
                return offered;
            }
        }
    }

    /// Registers with `CAP LS 302`, `CAP REQ :<caps>` and `CAP END`; asserts the ACK.
    pub async fn register_with_caps(&mut self, nick: &str, caps: &str) {
        self.cap_ls_302().await;
        self.send(&format!("CAP REQ :{caps}")).await;
        let ack = self
            .expect(&"CAP ACK/NAK", |m| {
                m.command == "CAP" && matches!(m.param(1), Some("ACK") | Some("NAK"))
            })
            .await;
        assert_eq!(ack.param(1), Some("ACK"), "caps {caps} refused: {ack}");
        self.send("CAP END").await;
        self.register(nick).await;
    }

    /// Sends one line (CR LF added).
    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    /// Sends raw bytes as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        tokio::time::timeout(TIMEOUT, self.writer.write_all(bytes))
            .await
            .expect("send timed out")
            .expect("send");
    }

    /// The next line, or `None` at end of stream or after `wait`.
    pub async fn try_recv(&mut self, wait: Duration) -> Option<OwnedMessage> {
        let mut buf = Vec::new();
        match tokio::time::timeout(wait, self.reader.read_until(b'\n', &mut buf)).await {
            Ok(Ok(0)) | Err(_) => None,
            Ok(Ok(_)) => {
                let line = String::from_utf8(buf).expect("server sent invalid UTF-8");
                assert!(line.ends_with("\r\n"), "line without CR LF: {line:?}");
                let line = line.trim_end_matches(['\r', '\n']).to_owned();
                assert!(
                    line.len() <= 512 + 8191,
                    "line too long ({} bytes)",
                    line.len()
                );
                self.seen.push(line.clone());
                Some(OwnedMessage::parse(&line).expect("server sent an unparsable line"))
            }
            Ok(Err(e)) => panic!("read error: {e}"),
        }
    }

    /// The next line; fails the test on timeout or end of stream.
    pub async fn recv(&mut self) -> OwnedMessage {
        match self.try_recv(TIMEOUT).await {
            Some(m) => m,
            None => panic!(
                "{}: no line (timeout or closed); seen:\n{}",
                self.nick,
                self.seen_tail()
            ),
        }
    }

    fn seen_tail(&self) -> String {
        let start = self.seen.len().saturating_sub(30);
        self.seen[start..].join("\n")
    }

    /// Skips lines until one matches `pred`; fails after the timeout with the lines seen.
    pub async fn expect(
        &mut self,
        what: &(dyn std::fmt::Debug + Sync),
        pred: impl Fn(&OwnedMessage) -> bool,
    ) -> OwnedMessage {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.try_recv(left).await {
                Some(m) if pred(&m) => return m,
                Some(_) => {}
                None => panic!(
                    "{}: expected {what:?}, not seen; last lines:\n{}",
                    self.nick,
                    self.seen_tail()
                ),
            }
        }
    }

    /// Skips lines until numeric `n`.
    pub async fn expect_numeric(&mut self, n: u16) -> OwnedMessage {
        let code = format!("{n:03}");
        let name = numeric::name(n).unwrap_or("numeric");
        self.expect(&format!("{code} {name}"), |m| m.command == code)
            .await
    }

    /// Skips lines until command `cmd`.
    pub async fn expect_command(&mut self, cmd: &str) -> OwnedMessage {
        self.expect(&cmd, |m| m.command.eq_ignore_ascii_case(cmd))
            .await
    }

    /// Skips lines until an `ERROR` whose text contains `text`.
    pub async fn expect_error(&mut self, text: &str) -> OwnedMessage {
        let m = self.expect_command("ERROR").await;
        let got = m.param(0).unwrap_or("");
        assert!(
            got.contains(text),
            "ERROR {got:?} does not contain {text:?}"
        );
        m
    }

    /// Reads the batch that the next `BATCH +id` line opens, up to its `BATCH -id`; returns
    /// the lines inside.
    pub async fn read_batch(&mut self) -> Vec<OwnedMessage> {
        let open = self.expect_command("BATCH").await;
        let id = open
            .param(0)
            .and_then(|r| r.strip_prefix('+'))
            .expect("an opening BATCH")
            .to_owned();
        let end = format!("-{id}");
        let mut inside = Vec::new();
        loop {
            let m = self.recv().await;
            if m.command == "BATCH" && m.param(0) == Some(end.as_str()) {
                return inside;
            }
            inside.push(m);
        }
    }

    /// Reads until the server closes the connection; returns the lines read. Fails on timeout.
    pub async fn expect_closed(&mut self) -> Vec<OwnedMessage> {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                panic!(
                    "{}: connection not closed; seen:\n{}",
                    self.nick,
                    self.seen_tail()
                );
            }
            let mut buf = Vec::new();
            match tokio::time::timeout(left, self.reader.read_until(b'\n', &mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return lines,
                Ok(Ok(_)) => {
                    let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                    self.seen.push(line.clone());
                    if let Ok(m) = OwnedMessage::parse(&line) {
                        lines.push(m);
                    }
                }
                Err(_) => {}
            }
        }
    }

    /// Sends a PING and returns every line that came before its PONG: everything the server
    /// sent in answer to earlier commands.
    pub async fn sync(&mut self) -> Vec<OwnedMessage> {
        self.sync_counter += 1;
        let token = format!("sync-{}", self.sync_counter);
        self.send(&format!("PING {token}")).await;
        let mut before = Vec::new();
        loop {
            let m = self.recv().await;
            if m.command == "PONG" && m.params.last().map(String::as_str) == Some(token.as_str()) {
                return before;
            }
            before.push(m);
        }
    }

    /// Asserts that nothing but what `sync` drains arrives: returns the lines before the PONG,
    /// failing if any is present.
    pub async fn expect_nothing(&mut self) {
        let lines = self.sync().await;
        assert!(
            lines.is_empty(),
            "{}: expected nothing, got:\n{}",
            self.nick,
            lines
                .iter()
                .map(|m| m.to_line())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
