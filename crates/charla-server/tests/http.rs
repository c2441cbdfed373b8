//! The HTTP listener: `/healthz`, `/readyz` (and what it says when the store cannot write),
//! `/metrics` read with a Prometheus text parser while traffic moves its counters, who may
//! read it, HTTPS on the IRC certificate, and the listener's configuration.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use charla_server::tls::{GENERATED_CERT_FILE, fingerprint};
use charla_server::{Config, Server, ServerHandle};
use common::fillable::FillableDisk;
use common::web::{Reply, get, http_config, request};
use common::{TestClient, TestServer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A server with the HTTP listener on; returns its handle and the HTTP address.
async fn start(config: Config) -> (ServerHandle, SocketAddr) {
    let handle = Server::start(config).await.expect("server starts");
    let http = handle.http_addr().expect("HTTP listener on");
    (handle, http)
}

/// `/metrics` parsed by a Prometheus text parser.
async fn scrape(http: SocketAddr) -> prometheus_parse::Scrape {
    let reply = get(http, "/metrics").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{:?}",
        reply.headers
    );
    let text = reply.text();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("parses as Prometheus text")
}

/// The value of `metric` (with `labels`, if any) in `scrape`; fails if it is not there.
fn value(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("{metric} {labels:?} not in /metrics"));
    match &sample.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => *v,
        other => panic!("{metric} is not a number: {other:?}"),
    }
}

/// The count of observations of histogram `metric`.
fn histogram_count(scrape: &prometheus_parse::Scrape, metric: &str) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == metric)
        .unwrap_or_else(|| panic!("{metric} not in /metrics"));
    match &sample.value {
        prometheus_parse::Value::Histogram(buckets) => buckets
            .iter()
            .find(|b| b.less_than.is_infinite())
            .map_or(0.0, |b| b.count),
        other => panic!("{metric} is not a histogram: {other:?}"),
    }
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let (handle, http) = start(http_config()).await;
    let health = get(http, "/healthz").await;
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    let ready = get(http, "/readyz").await;
    assert_eq!((ready.status, ready.text().as_str()), (200, "ready\n"));
    assert_eq!(get(http, "/nothing-here").await.status, 404);
    // Garbage instead of a request: an error answer or a close, and the listener goes on.
    let garbage = TcpStream::connect(http).await.expect("connect");
    let reply = tokio::time::timeout(common::TIMEOUT, async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut garbage = garbage;
        garbage
            .write_all(b"\x16\x03\x01 not http\r\n\r\n")
            .await
            .ok();
        let mut out = Vec::new();
        garbage.read_to_end(&mut out).await.ok();
        out
    })
    .await
    .expect("garbage answered or closed");
    assert!(
        reply.is_empty() || reply.starts_with(b"HTTP/1.1 400"),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    assert_eq!(get(http, "/healthz").await.status, 200);
    handle.shutdown().await;
}

#[tokio::test]
async fn readiness_fails_while_the_store_cannot_write() {
    let disk = Arc::new(FillableDisk::new(charla_store::MemoryStore::new()));
    let handle = Server::start_with_store(http_config(), disk.clone())
        .await
        .expect("server starts");
    let http = handle.http_addr().expect("HTTP on");
    assert_eq!(get(http, "/readyz").await.status, 200);
    disk.set_full(true);
    // The answer is kept for a second: wait for a fresh one.
    let deadline = tokio::time::Instant::now() + common::TIMEOUT;
    let failing = loop {
        let reply = get(http, "/readyz").await;
        if reply.status != 200 || tokio::time::Instant::now() > deadline {
            break reply;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(failing.status, 503, "{}", failing.text());
    assert_eq!(failing.text(), "store not writable\n");
    // Alive all the same.
    assert_eq!(get(http, "/healthz").await.status, 200);
    handle.shutdown().await;
}

#[tokio::test]
async fn metrics_parse_and_move_with_traffic() {
    let (handle, http) = start(http_config()).await;
    let irc = handle.local_addrs()[0];
    let before = scrape(http).await;
    for metric in [
        "charla_registrations_total",
        "charla_lines_received_total",
        "charla_lines_sent_total",
        "charla_messages_total",
        "charla_logins_total",
        "charla_login_failures_total",
        "charla_store_errors_total",
        "charla_uploads_total",
        "charla_upload_bytes_total",
    ] {
        assert_eq!(value(&before, metric, &[]), 0.0, "{metric}");
    }
    assert_eq!(
        value(&before, "charla_connections", &[("transport", "plain")]),
        0.0
    );

    let mut alice = TestClient::connect(irc).await;
    alice.register("alice").await;
    let mut bob = TestClient::connect(irc).await;
    bob.register("bob").await;
    alice.send("REGISTER * * hunter2hunter2").await;
    alice.expect_command("REGISTER").await;
    for c in [&mut alice, &mut bob] {
        c.send("JOIN #metrics").await;
        c.expect_numeric(charla_proto::numeric::RPL_ENDOFNAMES)
            .await;
    }
    alice.send("PRIVMSG #metrics :¿me ves?").await;
    assert_eq!(
        bob.expect_command("PRIVMSG").await.param(1),
        Some("¿me ves?")
    );
    // A wrong password from a third connection.
    let mut eve = TestClient::connect(irc).await;
    eve.register("eve").await;
    eve.send("PRIVMSG NickServ :IDENTIFY alice wrong-password")
        .await;
    eve.expect(&"NickServ's answer", |m| m.command == "NOTICE")
        .await;

    let after = scrape(http).await;
    assert_eq!(value(&after, "charla_registrations_total", &[]), 3.0);
    assert_eq!(
        value(&after, "charla_connections", &[("transport", "plain")]),
        3.0
    );
    assert_eq!(
        value(
            &after,
            "charla_connections_opened_total",
            &[("transport", "plain")]
        ),
        3.0
    );
    assert_eq!(value(&after, "charla_messages_total", &[]), 1.0);
    assert_eq!(value(&after, "charla_logins_total", &[]), 1.0);
    assert_eq!(value(&after, "charla_login_failures_total", &[]), 1.0);
    assert!(value(&after, "charla_lines_received_total", &[]) >= 11.0);
    assert!(value(&after, "charla_lines_sent_total", &[]) > 20.0);
    // The account and the message were committed: each commit is timed.
    assert!(histogram_count(&after, "charla_history_commit_seconds") >= 2.0);
    assert_eq!(value(&after, "charla_store_errors_total", &[]), 0.0);

    drop(eve);
    // The gauge follows the clients as they leave.
    let deadline = tokio::time::Instant::now() + common::TIMEOUT;
    loop {
        let now = scrape(http).await;
        if value(&now, "charla_connections", &[("transport", "plain")]) == 2.0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "eve still counted");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    handle.shutdown().await;
}

#[tokio::test]
async fn metrics_are_only_for_the_addresses_allowed() {
    let mut config = http_config();
    config.http.metrics_allow = vec!["192.0.2.0/24".parse().expect("range")];
    let (handle, http) = start(config).await;
    let reply = get(http, "/metrics").await;
    assert_eq!(reply.status, 404);
    assert!(!reply.text().contains("charla_"));
    handle.shutdown().await;
}

/// `GET path` over HTTPS, trusting exactly the certificate in `cert_pem`; returns the reply
/// and the fingerprint of the certificate the server presented.
async fn get_tls(addr: SocketAddr, path: &str, cert_pem: &Path) -> (Reply, String) {
    let cert = CertificateDer::from_pem_file(cert_pem).expect("cert");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let stream = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake");
    let presented = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| fingerprint(c))
        .expect("a certificate");
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    (request(stream, req.as_bytes()).await, presented)
}

#[tokio::test]
async fn https_uses_the_irc_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = http_config();
    config.http.tls = true;
    config.data_dir = dir.path().to_owned();
    let (handle, http) = start(config).await;
    let (reply, presented) = get_tls(http, "/healthz", &dir.path().join(GENERATED_CERT_FILE)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(Some(presented), handle.tls_fingerprint());
    // Plain HTTP on the HTTPS port gets nowhere.
    let plain = tokio::time::timeout(common::TIMEOUT, get_plain_bytes(http))
        .await
        .expect("closed in time");
    assert!(!plain.starts_with(b"HTTP/1.1 200"));
    handle.shutdown().await;
}

async fn get_plain_bytes(addr: SocketAddr) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .ok();
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await.ok();
    out
}

#[tokio::test]
async fn the_http_section_is_configured_and_checked() {
    let (config, warnings) = Config::from_toml(
        "[http]\nenabled = true\naddress = \"127.0.0.1:8080\"\ntls = false\n\
         max_connections = 10\nheader_timeout_secs = 3\nwebsocket = true\n\
         websocket_origins = [\"https://chat.example.org\", \"*\"]\n\
         metrics_allow = [\"10.0.0.0/8\"]\n",
    )
    .expect("parses");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.http.address.port(), 8080);
    assert!(!config.http.tls);
    // On, with TLS, by default; off in the tests' configuration (it would take a fixed port).
    let defaults = Config::default();
    assert!(defaults.http.enabled && defaults.http.tls);
    assert!(!TestServer::test_config().http.enabled);
    for bad in [
        "[http]\nmax_connections = 0\n",
        "[http]\nheader_timeout_secs = 0\n",
        "[http]\nwebsocket_origins = [\"chat.example.org\"]\n",
        "[http]\nmetrics_allow = [\"10.0.0.0/33\"]\n",
        "[http]\nport = 80\n",
    ] {
        assert!(Config::from_toml(bad).is_err(), "{bad}");
    }
    // A server without it has no HTTP address.
    let server = TestServer::start().await;
    assert_eq!(server.handle.http_addr(), None);
    server.handle.shutdown().await;
}

#[tokio::test]
async fn a_silent_or_idle_connection_is_closed_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = http_config();
    config.http.header_timeout_secs = 1;
    let (handle, http) = start(config).await;
    // Silent from the start.
    let mut silent = TcpStream::connect(http).await.expect("connect");
    // Idle after one request on a kept-alive connection.
    let mut idle = TcpStream::connect(http).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("send");
    let started = tokio::time::Instant::now();
    for conn in [&mut silent, &mut idle] {
        let mut out = Vec::new();
        tokio::time::timeout(common::TIMEOUT, conn.read_to_end(&mut out))
            .await
            .expect("closed by the server in time")
            .ok();
    }
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    handle.shutdown().await;
}
