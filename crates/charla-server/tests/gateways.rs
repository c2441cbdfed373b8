//! What stands between a client and the server: STS (the `sts` capability sends plain clients
//! to TLS), WEBIRC (a trusted web gateway says who its users are), and the PROXY protocol (a
//! load balancer in front gives each connection's real address) — with their refusals.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use charla_proto::OwnedMessage;
use charla_proto::numeric::{
    ERR_ALREADYREGISTERED, ERR_BANNEDFROMCHAN, RPL_WELCOME, RPL_WHOISHOST, RPL_WHOISSECURE,
    RPL_WHOISSPECIAL,
};
use charla_server::cidr::Cidr;
use charla_server::proxy::V2_SIGNATURE;
use charla_server::{Config, ListenerConfig, Server, ServerHandle, WebircConfig};
use common::{OPER_HASH, TIMEOUT, TestClient, TestServer};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf, WriteHalf,
};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const LOCAL: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A line client over any stream (TCP, TLS, a socket after a PROXY header).
struct Lines<S> {
    reader: BufReader<ReadHalf<S>>,
    writer: WriteHalf<S>,
}

impl<S: AsyncRead + AsyncWrite> Lines<S> {
    fn new(stream: S) -> Self {
        let (r, w) = tokio::io::split(stream);
        Lines {
            reader: BufReader::new(r),
            writer: w,
        }
    }

    async fn send(&mut self, line: &str) {
        let bytes = format!("{line}\r\n");
        tokio::time::timeout(TIMEOUT, async {
            self.writer.write_all(bytes.as_bytes()).await?;
            self.writer.flush().await
        })
        .await
        .expect("send timed out")
        .expect("send");
    }

    /// Skips lines until one matches `pred`; fails on timeout or end of stream.
    async fn expect(&mut self, what: &str, pred: impl Fn(&OwnedMessage) -> bool) -> OwnedMessage {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let mut line = String::new();
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.reader.read_line(&mut line)).await {
                Ok(Ok(n)) if n > 0 => {
                    let m = OwnedMessage::parse(line.trim_end()).expect("parsable line");
                    if pred(&m) {
                        return m;
                    }
                }
                other => panic!("expected {what}, got {other:?}"),
            }
        }
    }

    /// `CAP LS 302` and its reply's capability list (the lines of a long one joined).
    async fn cap_ls(&mut self, version: &str) -> String {
        if version.is_empty() {
            self.send("CAP LS").await;
        } else {
            self.send(&format!("CAP LS {version}")).await;
        }
        let mut caps = Vec::new();
        loop {
            let ls = self
                .expect("CAP LS", |m| m.command == "CAP" && m.param(1) == Some("LS"))
                .await;
            caps.push(ls.params.last().cloned().unwrap_or_default());
            if ls.param(2) != Some("*") {
                return caps.join(" ");
            }
        }
    }

    /// Registers as `nick`; returns the text of RPL_WELCOME.
    async fn register(&mut self, nick: &str) -> String {
        self.send(&format!("NICK {nick}")).await;
        self.send(&format!("USER {nick} 0 * :Test {nick}")).await;
        let code = format!("{RPL_WELCOME:03}");
        let welcome = self.expect("RPL_WELCOME", |m| m.command == code).await;
        self.expect("end of MOTD", |m| m.command == "376" || m.command == "422")
            .await;
        welcome.params.last().cloned().unwrap_or_default()
    }

    /// The WHOIS replies about `nick` up to 318.
    async fn whois(&mut self, nick: &str) -> Vec<OwnedMessage> {
        self.send(&format!("WHOIS {nick}")).await;
        let mut lines = Vec::new();
        loop {
            let m = self.expect("WHOIS reply", |_| true).await;
            if m.command == "318" {
                return lines;
            }
            lines.push(m);
        }
    }
}

/// The text of the numeric `code` among `lines`, if there.
fn numeric_text(lines: &[OwnedMessage], code: u16) -> Option<String> {
    let code = format!("{code:03}");
    lines
        .iter()
        .find(|m| m.command == code)
        .map(|m| m.params[1..].join(" "))
}

/// A certificate for `localhost` written to `dir` (a "real" one, as far as the server knows:
/// configured, not generated); returns its DER for a client to trust.
fn configured_certificate(config: &mut Config, dir: &Path) -> CertificateDer<'static> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let cert = dir.join("irc.crt");
    let key = dir.join("irc.key");
    std::fs::write(&cert, ck.cert.pem()).expect("write cert");
    std::fs::write(&key, ck.signing_key.serialize_pem()).expect("write key");
    config.tls.cert = Some(cert);
    config.tls.key = Some(key);
    ck.cert.der().clone()
}

/// A TLS connection over `tcp` that trusts exactly `cert`.
async fn tls_over(
    tcp: TcpStream,
    cert: &CertificateDer<'static>,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").expect("name");
    tokio::time::timeout(
        TIMEOUT,
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("handshake timed out")
    .expect("handshake")
}

/// The test config with a plain and a TLS listener, files in `data`.
fn plain_and_tls(data: &Path) -> Config {
    let mut c = TestServer::test_config();
    c.listeners.push(ListenerConfig::tls(LOCAL));
    c.data_dir = data.to_owned();
    c
}

/// The first bound address of a plain and of a TLS listener.
fn addrs(handle: &ServerHandle) -> (SocketAddr, SocketAddr) {
    let listeners = handle.listeners();
    let plain = listeners.iter().find(|(_, tls)| !tls).expect("plain").0;
    let tls = listeners.iter().find(|(_, tls)| *tls).expect("tls").0;
    (plain, tls)
}

async fn tcp(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect")
}

/// The `sts` entry of a capability list, if any.
fn sts_of(caps: &str) -> Option<&str> {
    caps.split(' ')
        .find(|c| *c == "sts" || c.starts_with("sts="))
}

// ---------------------------------------------------------------------------------------------
// STS
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn sts_sends_plain_clients_to_the_tls_port_and_tls_clients_get_the_duration() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = plain_and_tls(&dir.path().join("data"));
    let cert = configured_certificate(&mut config, dir.path());
    let handle = Server::start(config).await.expect("starts");
    let (plain, tls) = addrs(&handle);

    let mut p = Lines::new(tcp(plain).await);
    let caps = p.cap_ls("302").await;
    let expected = format!("sts=port={}", tls.port());
    assert_eq!(sts_of(&caps), Some(expected.as_str()), "{caps}");

    let mut t = Lines::new(tls_over(tcp(tls).await, &cert).await);
    let caps = t.cap_ls("302").await;
    assert_eq!(sts_of(&caps), Some("sts=duration=300"), "{caps}");

    // Without 302 a client gets no values, and STS means nothing without one.
    let mut old = Lines::new(tcp(plain).await);
    let caps = old.cap_ls("").await;
    assert_eq!(sts_of(&caps), None, "{caps}");
    handle.shutdown().await;
}

#[tokio::test]
async fn sts_is_absent_with_the_generated_certificate() {
    let dir = tempfile::tempdir().expect("dir");
    let handle = Server::start(plain_and_tls(dir.path()))
        .await
        .expect("starts");
    let (plain, _) = addrs(&handle);
    let mut p = Lines::new(tcp(plain).await);
    let caps = p.cap_ls("302").await;
    assert_eq!(sts_of(&caps), None, "{caps}");
    p.send("CAP REQ sts").await;
    p.expect("CAP NAK", |m| {
        m.command == "CAP" && m.param(1) == Some("NAK")
    })
    .await;
    handle.shutdown().await;
}

#[tokio::test]
async fn sts_configured_by_hand_with_its_port_duration_and_preload() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = plain_and_tls(&dir.path().join("data"));
    let cert = configured_certificate(&mut config, dir.path());
    config.sts.port = Some(443);
    config.sts.duration_secs = 15_552_000;
    config.sts.preload = true;
    let handle = Server::start(config.clone()).await.expect("starts");
    let (plain, tls) = addrs(&handle);
    let mut p = Lines::new(tcp(plain).await);
    let caps = p.cap_ls("302").await;
    assert_eq!(sts_of(&caps), Some("sts=port=443"), "{caps}");
    // A client that requests it anyway gets an ACK that changes nothing (as ergo does).
    p.send("CAP REQ sts").await;
    p.expect("CAP ACK", |m| {
        m.command == "CAP" && m.param(1) == Some("ACK")
    })
    .await;
    p.send("CAP END").await;
    p.register("plainuser").await;
    let mut t = Lines::new(tls_over(tcp(tls).await, &cert).await);
    let caps = t.cap_ls("302").await;
    assert_eq!(
        sts_of(&caps),
        Some("sts=duration=15552000,preload"),
        "{caps}"
    );
    handle.shutdown().await;

    // Turned off, even with the configured certificate.
    config.sts.enabled = Some(false);
    let handle = Server::start(config).await.expect("starts");
    let (plain, _) = addrs(&handle);
    let caps = Lines::new(tcp(plain).await).cap_ls("302").await;
    assert_eq!(sts_of(&caps), None, "{caps}");
    handle.shutdown().await;
}

#[tokio::test]
async fn sts_forced_on_without_a_tls_port_does_not_start() {
    let mut config = TestServer::test_config();
    config.sts.enabled = Some(true);
    assert!(Server::start(config).await.is_err());
}

// ---------------------------------------------------------------------------------------------
// WEBIRC
// ---------------------------------------------------------------------------------------------

const GATEWAY_PASSWORD: &str = "hunter2";

fn gateway(hosts: &[&str]) -> WebircConfig {
    WebircConfig {
        name: "kiwi".to_owned(),
        password_hash: None,
        password: Some(charla_server::account::password::Password::new(
            GATEWAY_PASSWORD,
        )),
        hosts: hosts
            .iter()
            .map(|h| h.parse::<Cidr>().expect("cidr"))
            .collect(),
    }
}

/// The test server with the gateway `kiwi` (password `hunter2`) trusted from `hosts`.
async fn webirc_server(hosts: &[&str]) -> TestServer {
    let mut config = TestServer::test_config();
    config.webirc = vec![gateway(hosts)];
    TestServer::start_with(config).await
}

/// A connection through the gateway for a user at `ip`, known as `host`.
async fn through_gateway(server: &TestServer, host: &str, ip: &str, options: &str) -> TestClient {
    let mut c = server.connect().await;
    c.send(&format!(
        "WEBIRC {GATEWAY_PASSWORD} kiwi {host} {ip} :{options}"
    ))
    .await;
    c
}

#[tokio::test]
async fn webirc_gives_the_user_its_own_address_and_host() {
    let server = webirc_server(&["127.0.0.1"]).await;
    let mut user = through_gateway(
        &server,
        "user.example.org",
        "203.0.113.9",
        "secure remote-port=4242",
    )
    .await;
    user.register("webby").await;
    let welcome = user.seen.iter().find(|l| l.contains(" 001 ")).cloned();
    assert!(
        welcome
            .as_deref()
            .is_some_and(|w| w.contains("webby!~webby@user.example.org")),
        "{welcome:?}"
    );
    // Others see the host the gateway gave.
    let mut other = server.client("other").await;
    other.send("JOIN #web").await;
    other.expect_command("JOIN").await;
    user.send("JOIN #web").await;
    let join = other.expect(&"webby's JOIN", |m| m.command == "JOIN").await;
    assert_eq!(
        join.source.as_deref(),
        Some("webby!~webby@user.example.org")
    );
    // WHOIS of itself: the IP, and secure (the gateway is on this machine and said `secure`).
    user.sync().await;
    user.send("WHOIS webby").await;
    let whois = user.sync().await;
    let host = numeric_text(&whois, RPL_WHOISHOST).unwrap_or_default();
    assert!(host.ends_with("user.example.org 203.0.113.9"), "{host}");
    assert!(numeric_text(&whois, RPL_WHOISSECURE).is_some(), "{whois:?}");
    // An operator also sees the gateway.
    other
        .send(&format!(
            "OPER {} {}",
            common::OPER_NAME,
            common::OPER_PASSWORD
        ))
        .await;
    other.expect_numeric(381).await;
    other.send("WHOIS webby").await;
    let special = other.expect_numeric(RPL_WHOISSPECIAL).await;
    assert!(
        special
            .params
            .last()
            .is_some_and(|t| t.contains("kiwi") && t.contains("127.0.0.1")),
        "{special:?}"
    );
}

#[tokio::test]
async fn webirc_with_a_hashed_password_and_no_secure_option() {
    let mut config = TestServer::test_config();
    let mut g = gateway(&["127.0.0.0/8", "::1"]);
    g.password = None;
    g.password_hash = Some(OPER_HASH.to_owned());
    config.webirc = vec![g];
    let server = TestServer::start_with(config).await;
    let mut user = server.connect().await;
    // An IPv6 address starting with a colon comes with a leading zero (the spec).
    user.send("WEBIRC secret kiwi 0::5 0::5").await;
    user.register("sixer").await;
    user.send("WHOIS sixer").await;
    let lines = user.sync().await;
    let host = lines
        .iter()
        .find(|m| m.command == format!("{RPL_WHOISHOST}"))
        .expect("378");
    assert!(
        host.params.last().is_some_and(|t| t.ends_with("0::5 ::5")),
        "{host:?}"
    );
    assert!(
        !lines
            .iter()
            .any(|m| m.command == format!("{RPL_WHOISSECURE}")),
        "secure without the option"
    );
}

#[tokio::test]
async fn webirc_with_a_wrong_password_is_refused_and_closed() {
    let server = webirc_server(&["127.0.0.1"]).await;
    let mut c = server.connect().await;
    c.send("WEBIRC wrong kiwi h.example 203.0.113.9").await;
    c.expect_error("Invalid WebIRC password").await;
    c.expect_closed().await;
}

#[tokio::test]
async fn webirc_from_an_address_that_is_no_gateway_is_refused() {
    let server = webirc_server(&["10.0.0.0/8"]).await;
    let mut c = through_gateway(&server, "h.example", "203.0.113.9", "").await;
    c.expect_error("not allowed from your address").await;
    c.expect_closed().await;
    // With no gateway configured at all, the same.
    let plain = TestServer::start().await;
    let mut c = through_gateway(&plain, "h.example", "203.0.113.9", "").await;
    c.expect_error("not allowed from your address").await;
}

#[tokio::test]
async fn webirc_after_registration_changes_nothing() {
    let server = webirc_server(&["127.0.0.1"]).await;
    let mut c = server.client("early").await;
    c.send(&format!(
        "WEBIRC {GATEWAY_PASSWORD} kiwi h.example 203.0.113.9"
    ))
    .await;
    c.expect_numeric(ERR_ALREADYREGISTERED).await;
    c.send("WHOIS early").await;
    let host = c.expect_numeric(RPL_WHOISHOST).await;
    assert!(
        host.params
            .last()
            .is_some_and(|t| t.ends_with("127.0.0.1 127.0.0.1")),
        "{host:?}"
    );
}

#[tokio::test]
async fn webirc_only_first_and_only_once() {
    let server = webirc_server(&["127.0.0.1"]).await;
    let mut twice = through_gateway(&server, "a.example", "203.0.113.1", "").await;
    twice
        .send(&format!(
            "WEBIRC {GATEWAY_PASSWORD} kiwi b.example 203.0.113.2"
        ))
        .await;
    twice.expect_error("first command").await;
    twice.expect_closed().await;

    let mut late = server.connect().await;
    late.send("NICK late").await;
    late.send(&format!(
        "WEBIRC {GATEWAY_PASSWORD} kiwi b.example 203.0.113.2"
    ))
    .await;
    late.expect_error("first command").await;

    // Capability negotiation comes after WEBIRC, not before (the spec).
    let mut after_cap = server.connect().await;
    after_cap.send("CAP LS 302").await;
    after_cap
        .send(&format!(
            "WEBIRC {GATEWAY_PASSWORD} kiwi b.example 203.0.113.2"
        ))
        .await;
    after_cap.expect_error("first command").await;

    let mut bad_ip = server.connect().await;
    bad_ip
        .send(&format!(
            "WEBIRC {GATEWAY_PASSWORD} kiwi b.example 203.0.113"
        ))
        .await;
    bad_ip.expect_error("Invalid WebIRC IP address").await;
}

#[tokio::test]
async fn webirc_users_are_limited_and_banned_by_their_own_address() {
    let mut config = TestServer::test_config();
    config.webirc = vec![gateway(&["127.0.0.1"])];
    config.limits.max_clients_per_ip = 1;
    config.limits.exempt_loopback = false;
    let server = TestServer::start_with(config).await;
    // The gateway's own address (loopback, not exempt here) is not what counts.
    let mut first = through_gateway(&server, "one.example.org", "198.51.100.1", "").await;
    first.register("first").await;
    let mut second = through_gateway(&server, "two.example.org", "198.51.100.2", "").await;
    second.register("second").await;
    let mut again = through_gateway(&server, "one.example.org", "198.51.100.1", "").await;
    again
        .expect_error("Too many connections from your IP")
        .await;

    // A ban on the host the gateway gave keeps that user out.
    second.send("JOIN #guarded").await;
    second.expect_command("JOIN").await;
    second.send("MODE #guarded +b *!*@one.example.org").await;
    second.expect_command("MODE").await;
    first.send("JOIN #guarded").await;
    first.expect_numeric(ERR_BANNEDFROMCHAN).await;
}

// ---------------------------------------------------------------------------------------------
// PROXY protocol
// ---------------------------------------------------------------------------------------------

/// A v2 PROXY header for a TCP connection from `source`.
fn proxy_v2(source: SocketAddr) -> Vec<u8> {
    let mut h = V2_SIGNATURE.to_vec();
    h.push(0x21);
    let (fam, addrs): (u8, Vec<u8>) = match source {
        SocketAddr::V4(v4) => (0x11, [v4.ip().octets(), [10, 0, 0, 1]].concat()),
        SocketAddr::V6(v6) => (
            0x21,
            [v6.ip().octets(), std::net::Ipv6Addr::LOCALHOST.octets()].concat(),
        ),
    };
    h.push(fam);
    let len = u16::try_from(addrs.len() + 4).expect("short");
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&addrs);
    h.extend_from_slice(&source.port().to_be_bytes());
    h.extend_from_slice(&6667u16.to_be_bytes());
    h
}

/// The test config with one plain listener behind a proxy trusted from `trusted`.
fn proxied(trusted: &[&str]) -> Config {
    let mut c = TestServer::test_config();
    c.listeners = vec![ListenerConfig::tcp(LOCAL).behind_proxy()];
    c.proxy.trusted = trusted
        .iter()
        .map(|t| t.parse::<Cidr>().expect("cidr"))
        .collect();
    c
}

/// A plain connection that starts with `header`.
async fn with_header(addr: SocketAddr, header: &[u8]) -> TestClient {
    let mut stream = tcp(addr).await;
    stream.write_all(header).await.expect("header");
    TestClient::from_stream(stream)
}

fn welcome_of(c: &TestClient) -> String {
    c.seen
        .iter()
        .find(|l| l.contains(" 001 "))
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn proxy_v2_gives_the_clients_real_address() {
    let server = TestServer::start_with(proxied(&["127.0.0.1"])).await;
    let mut c = with_header(
        server.addr(),
        &proxy_v2("203.0.113.7:51000".parse().expect("a")),
    )
    .await;
    c.register("proxied").await;
    assert!(
        welcome_of(&c).contains("proxied!~proxied@203.0.113.7"),
        "{}",
        welcome_of(&c)
    );
    let mut six = with_header(
        server.addr(),
        &proxy_v2("[2001:db8::7]:4242".parse().expect("a")),
    )
    .await;
    six.register("sixproxy").await;
    assert!(
        welcome_of(&six).contains("@2001:db8::7"),
        "{}",
        welcome_of(&six)
    );
    // The header and the first lines in one write: nothing of the lines is lost.
    let mut stream = tcp(server.addr()).await;
    let mut bytes = proxy_v2("198.51.100.3:1".parse().expect("a"));
    bytes.extend_from_slice(b"NICK eager\r\nUSER eager 0 * :E\r\n");
    stream.write_all(&bytes).await.expect("write");
    let mut eager = TestClient::from_stream(stream);
    let welcome = eager.expect_numeric(RPL_WELCOME).await;
    assert!(
        welcome
            .params
            .last()
            .is_some_and(|t| t.contains("@198.51.100.3")),
        "{welcome:?}"
    );
}

#[tokio::test]
async fn proxy_v1_and_local_headers() {
    let server = TestServer::start_with(proxied(&["127.0.0.0/8"])).await;
    let mut v1 = with_header(
        server.addr(),
        b"PROXY TCP4 198.51.100.22 203.0.113.7 35646 6667\r\n",
    )
    .await;
    v1.register("textual").await;
    assert!(
        welcome_of(&v1).contains("@198.51.100.22"),
        "{}",
        welcome_of(&v1)
    );
    // LOCAL (a health check of the proxy itself): the socket's own address stands.
    let mut local = V2_SIGNATURE.to_vec();
    local.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
    let mut own = with_header(server.addr(), &local).await;
    own.register("checker").await;
    assert!(
        welcome_of(&own).contains("@127.0.0.1"),
        "{}",
        welcome_of(&own)
    );
    let mut unknown = with_header(server.addr(), b"PROXY UNKNOWN\r\n").await;
    unknown.register("unknown").await;
    assert!(welcome_of(&unknown).contains("@127.0.0.1"));
}

#[tokio::test]
async fn a_proxy_listener_refuses_connections_without_a_valid_header() {
    let server = TestServer::start_with(proxied(&["127.0.0.1"])).await;
    // Plain IRC straight away.
    let mut bare = server.connect().await;
    bare.send("NICK sneaky").await;
    let said = bare.expect_closed().await;
    assert!(said.is_empty(), "{said:?}");
    // A garbled v2 header (version 1), and a garbled v1 line.
    let mut bad = proxy_v2("203.0.113.7:1".parse().expect("a"));
    bad[12] = 0x11;
    let mut garbled = with_header(server.addr(), &bad).await;
    assert!(garbled.expect_closed().await.is_empty());
    let mut v1 = with_header(server.addr(), b"PROXY TCP4 1.2.3.4 nonsense 1 2\r\n").await;
    assert!(v1.expect_closed().await.is_empty());
    // A header longer than the server reads.
    let mut long = V2_SIGNATURE.to_vec();
    long.extend_from_slice(&[0x21, 0x11, 0xFF, 0xFF]);
    let mut huge = with_header(server.addr(), &long).await;
    assert!(huge.expect_closed().await.is_empty());
}

#[tokio::test]
async fn a_proxy_listener_refuses_untrusted_senders() {
    let server = TestServer::start_with(proxied(&["10.0.0.0/8"])).await;
    let mut c = with_header(
        server.addr(),
        &proxy_v2("203.0.113.7:1".parse().expect("a")),
    )
    .await;
    assert!(c.expect_closed().await.is_empty());
}

#[tokio::test]
async fn half_a_proxy_header_is_dropped_after_the_header_timeout() {
    let mut config = proxied(&["127.0.0.1"]);
    config.proxy.header_timeout_secs = 1;
    let server = TestServer::start_with(config).await;
    let header = proxy_v2("203.0.113.7:1".parse().expect("a"));
    let started = tokio::time::Instant::now();
    let mut slow = with_header(server.addr(), &header[..10]).await;
    assert!(slow.expect_closed().await.is_empty());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

#[tokio::test]
async fn proxied_clients_are_limited_by_their_real_address() {
    let mut config = proxied(&["127.0.0.1"]);
    config.limits.max_clients_per_ip = 1;
    let server = TestServer::start_with(config).await;
    let mut a = with_header(
        server.addr(),
        &proxy_v2("198.51.100.9:1".parse().expect("a")),
    )
    .await;
    a.register("first").await;
    let mut b = with_header(
        server.addr(),
        &proxy_v2("198.51.100.9:2".parse().expect("a")),
    )
    .await;
    b.expect_error("Too many connections from your IP").await;
    let mut c = with_header(
        server.addr(),
        &proxy_v2("198.51.100.10:1".parse().expect("a")),
    )
    .await;
    c.register("other").await;
}

#[tokio::test]
async fn proxy_header_comes_before_tls() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = TestServer::test_config();
    let cert = configured_certificate(&mut config, dir.path());
    config.data_dir = dir.path().join("data");
    config.listeners = vec![ListenerConfig::tls(LOCAL).behind_proxy()];
    config.proxy.trusted = vec!["127.0.0.1".parse().expect("cidr")];
    let handle = Server::start(config).await.expect("starts");
    let addr = handle.local_addrs()[0];
    let mut stream = tcp(addr).await;
    stream
        .write_all(&proxy_v2("203.0.113.44:5000".parse().expect("a")))
        .await
        .expect("header");
    let mut c = Lines::new(tls_over(stream, &cert).await);
    // The only TLS listener is behind the proxy, whose public port the server does not know:
    // no STS policy, for all the configured certificate.
    let caps = c.cap_ls("302").await;
    assert_eq!(sts_of(&caps), None, "{caps}");
    c.send("CAP END").await;
    let welcome = c.register("secret").await;
    assert!(welcome.contains("@203.0.113.44"), "{welcome}");
    let whois = c.whois("secret").await;
    assert!(numeric_text(&whois, RPL_WHOISSECURE).is_some(), "{whois:?}");
    handle.shutdown().await;
}

#[tokio::test]
async fn webirc_secure_needs_a_secure_hop_from_the_gateway() {
    // The gateway is behind the proxy too: its address is 198.51.100.50 (not this machine),
    // and its connection is plain, so `secure` is not believed.
    let mut config = proxied(&["127.0.0.1"]);
    config.webirc = vec![gateway(&["198.51.100.50"])];
    let server = TestServer::start_with(config).await;
    let mut c = with_header(
        server.addr(),
        &proxy_v2("198.51.100.50:1".parse().expect("a")),
    )
    .await;
    c.send(&format!(
        "WEBIRC {GATEWAY_PASSWORD} kiwi far.example.org 203.0.113.80 secure"
    ))
    .await;
    c.register("faraway").await;
    assert!(welcome_of(&c).contains("@far.example.org"));
    c.send("WHOIS faraway").await;
    let lines = c.sync().await;
    assert!(
        !lines
            .iter()
            .any(|m| m.command == format!("{RPL_WHOISSECURE}")),
        "{lines:?}"
    );
}
