//! IRC over WebSocket (`/socket`, <https://ircv3.net/specs/extensions/websocket>): WebSocket
//! and TCP clients in one conversation under each subprotocol, the origin check, the per-IP
//! limits, the line limit, a client that stops reading dropped for SendQ, and WSS counted as
//! secure.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use charla_proto::numeric::{ERR_INPUTTOOLONG, RPL_ENDOFNAMES, RPL_WHOISSECURE};
use charla_server::tls::GENERATED_CERT_FILE;
use charla_server::{Config, Server, ServerHandle};
use common::web::{WsClient, http_config};
use common::{TIMEOUT, TestClient};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;

async fn start(config: Config) -> (ServerHandle, SocketAddr, SocketAddr) {
    let handle = Server::start(config).await.expect("server starts");
    let http = handle.http_addr().expect("HTTP on");
    let irc = handle.local_addrs()[0];
    (handle, irc, http)
}

/// A WebSocket client and a TCP client chat in a channel, both ways.
async fn chat(protocols: &[&str], expected: Option<&str>) {
    let (handle, irc, http) = start(http_config()).await;
    let mut web = WsClient::connect(http, protocols).await;
    assert_eq!(web.protocol.as_deref(), expected);
    web.register("web").await;
    let mut tcp = TestClient::connect(irc).await;
    tcp.register("tcp").await;
    web.send("JOIN #mixto").await;
    web.expect(|m| m.command == format!("{RPL_ENDOFNAMES}"))
        .await;
    tcp.send("JOIN #mixto").await;
    tcp.expect_numeric(RPL_ENDOFNAMES).await;
    web.expect_command("JOIN").await;

    web.send("PRIVMSG #mixto :hola desde el navegador 🌐").await;
    let m = tcp.expect_command("PRIVMSG").await;
    assert_eq!(m.source_nick(), Some("web"));
    assert_eq!(m.param(1), Some("hola desde el navegador 🌐"));
    tcp.send("PRIVMSG #mixto :y yo desde TCP").await;
    let m = web.expect_command("PRIVMSG").await;
    assert_eq!(m.source_nick(), Some("tcp"));
    assert_eq!(m.param(1), Some("y yo desde TCP"));
    // Private messages too.
    tcp.send("PRIVMSG web :¿privado?").await;
    assert_eq!(
        web.expect_command("PRIVMSG").await.param(1),
        Some("¿privado?")
    );

    let users = handle.users();
    assert_eq!(users.len(), 2);
    web.send("QUIT :adiós").await;
    let quit = tcp.expect_command("QUIT").await;
    assert_eq!(quit.param(0), Some("Quit: adiós"));
    handle.shutdown().await;
}

#[tokio::test]
async fn a_binary_websocket_client_chats_with_a_tcp_client() {
    // Offered both: binary is preferred.
    chat(
        &["text.ircv3.net", "binary.ircv3.net"],
        Some("binary.ircv3.net"),
    )
    .await;
}

#[tokio::test]
async fn a_text_websocket_client_chats_with_a_tcp_client() {
    chat(&["text.ircv3.net"], Some("text.ircv3.net")).await;
}

#[tokio::test]
async fn a_client_offering_no_subprotocol_gets_text() {
    chat(&[], None).await;
}

#[tokio::test]
async fn pages_of_other_sites_are_refused_unless_listed() {
    let mut config = http_config();
    config.http.websocket_origins = vec!["https://web.example".to_owned()];
    let (handle, _, http) = start(config).await;
    let url = format!("ws://{http}/socket");
    let open = |origin: &'static str| {
        let url = url.clone();
        async move {
            let tcp = TcpStream::connect(http).await.expect("connect");
            WsClient::open(Box::new(tcp), &url, &["text.ircv3.net"], Some(origin)).await
        }
    };
    assert_eq!(open("https://evil.example").await.err(), Some(403));
    assert_eq!(open("null").await.err(), Some(403));
    assert!(open("https://web.example").await.is_ok());
    // The page the socket itself would serve: the same scheme, host and port.
    let same = format!("http://{http}");
    let tcp = TcpStream::connect(http).await.expect("connect");
    assert!(
        WsClient::open(Box::new(tcp), &url, &[], Some(&same))
            .await
            .is_ok()
    );
    // A plain GET of /socket is not an upgrade.
    assert_eq!(common::web::get(http, "/socket").await.status / 100, 4);
    handle.shutdown().await;
}

#[tokio::test]
async fn websocket_clients_count_under_the_per_ip_limit() {
    let mut config = http_config();
    config.limits.exempt_loopback = false;
    config.limits.max_clients_per_ip = 2;
    let (handle, irc, http) = start(config).await;
    let mut first = WsClient::connect(http, &["text.ircv3.net"]).await;
    first.register("uno").await;
    let mut second = TestClient::connect(irc).await;
    second.register("dos").await;
    let tcp = TcpStream::connect(http).await.expect("connect");
    let third = WsClient::open(
        Box::new(tcp),
        &format!("ws://{http}/socket"),
        &["text.ircv3.net"],
        None,
    )
    .await;
    assert_eq!(third.err(), Some(429));
    handle.shutdown().await;
}

#[tokio::test]
async fn an_over_long_line_gets_the_same_numeric_as_over_tcp() {
    let (handle, _, http) = start(http_config()).await;
    let mut web = WsClient::connect(http, &["binary.ircv3.net"]).await;
    web.register("largo").await;
    web.send(&format!("PRIVMSG #x :{}", "a".repeat(9000))).await;
    web.expect(|m| m.command == format!("{ERR_INPUTTOOLONG}"))
        .await;
    // Still connected.
    web.send("PING vivo").await;
    assert_eq!(web.expect_command("PONG").await.param(1), Some("vivo"));
    handle.shutdown().await;
}

#[tokio::test]
async fn a_websocket_client_that_stops_reading_is_dropped_for_sendq() {
    let mut config = http_config();
    config.limits.sendq_bytes = 16 * 1024;
    config.limits.socket_send_buffer = 16 * 1024;
    config.flood.enabled = false;
    let (handle, irc, http) = start(config).await;
    let mut talker = TestClient::connect(irc).await;
    talker.register("talker").await;
    let mut listener = TestClient::connect(irc).await;
    listener.register("listener").await;
    // A WebSocket client with a tiny receive window that never reads after joining.
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let tcp = socket.connect(http).await.expect("connect");
    let mut slow = WsClient::open(
        Box::new(tcp),
        &format!("ws://{http}/socket"),
        &["binary.ircv3.net"],
        None,
    )
    .await
    .expect("upgrade");
    slow.register("slow").await;
    slow.send("JOIN #busy").await;
    slow.expect(|m| m.command == format!("{RPL_ENDOFNAMES}"))
        .await;
    for c in [&mut talker, &mut listener] {
        c.send("JOIN #busy").await;
        c.expect_numeric(RPL_ENDOFNAMES).await;
    }
    let text = "z".repeat(400);
    let mut quit = None;
    for round in 0..1000 {
        let mut batch = String::new();
        for _ in 0..20 {
            batch.push_str(&format!("PRIVMSG #busy :{text}\r\n"));
        }
        talker.send_raw(batch.as_bytes()).await;
        // The listener keeps up (and sees the QUIT when it comes).
        let mut got = 0;
        while got < 20 {
            let m = listener
                .expect(&"PRIVMSG or QUIT", |m| {
                    m.command == "PRIVMSG" || m.command == "QUIT"
                })
                .await;
            if m.command == "QUIT" {
                quit = Some(m);
            } else {
                got += 1;
            }
        }
        if !handle.users().iter().any(|u| u.nick == "slow") {
            break;
        }
        assert!(round < 999, "slow WebSocket reader never dropped");
    }
    let quit = match quit {
        Some(quit) => quit,
        None => listener.expect_command("QUIT").await,
    };
    assert_eq!(quit.source_nick(), Some("slow"));
    assert_eq!(quit.param(0), Some("SendQ exceeded"));
    // Once it reads again: what the kernel held, then the ERROR line, then the close.
    let last = slow.expect_closed().await;
    assert!(
        last.iter()
            .any(|l| l.starts_with("ERROR") && l.contains("SendQ exceeded")),
        "{:?}",
        last.iter().rev().take(3).collect::<Vec<_>>()
    );
    // Counted as a SendQ disconnect of a WebSocket client.
    let metrics = common::web::get(http, "/metrics").await.text();
    assert!(
        metrics.contains("charla_disconnects_total{reason=\"sendq\"} 1"),
        "{metrics}"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn websocket_over_https_is_secure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = http_config();
    config.http.tls = true;
    config.data_dir = dir.path().to_owned();
    let (handle, _, http) = start(config).await;
    let cert = CertificateDer::from_pem_file(dir.path().join(GENERATED_CERT_FILE)).expect("cert");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(http).await.expect("connect");
    let stream = tokio::time::timeout(
        TIMEOUT,
        TlsConnector::from(Arc::new(tls))
            .connect(ServerName::try_from("localhost").expect("name"), tcp),
    )
    .await
    .expect("handshake in time")
    .expect("handshake");
    let mut web = WsClient::open(
        Box::new(stream),
        &format!("wss://localhost:{}/socket", http.port()),
        &["text.ircv3.net"],
        None,
    )
    .await
    .expect("upgrade");
    web.register("seguro").await;
    web.send("WHOIS seguro").await;
    web.expect(|m| m.command == format!("{RPL_WHOISSECURE}"))
        .await;
    handle.shutdown().await;
}
