//! TLS listeners: a generated certificate that a pinned client trusts, TLS and plain clients
//! in one conversation, handshakes that never come or are garbage, the certificate kept across
//! restarts, and a configured certificate.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use charla_proto::OwnedMessage;
use charla_proto::numeric::{RPL_WELCOME, RPL_WHOISCERTFP, RPL_WHOISSECURE};
use charla_server::tls::{GENERATED_CERT_FILE, GENERATED_KEY_FILE, certfp, fingerprint};
use charla_server::{Config, ListenerConfig, Server, ServerHandle, StartError};
use common::{TIMEOUT, TestClient, TestServer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The test config with a plain listener and a TLS listener, keeping files in `data_dir`.
fn tls_config(data_dir: &Path) -> Config {
    let mut c = TestServer::test_config();
    c.listeners
        .push(ListenerConfig::tls(SocketAddr::from(([127, 0, 0, 1], 0))));
    c.data_dir = data_dir.to_owned();
    c
}

/// The plain and the TLS address of a server started with [`tls_config`].
fn addrs(handle: &ServerHandle) -> (SocketAddr, SocketAddr) {
    let listeners = handle.listeners();
    let plain = listeners.iter().find(|(_, tls)| !tls).expect("plain").0;
    let tls = listeners.iter().find(|(_, tls)| *tls).expect("tls").0;
    (plain, tls)
}

/// A line client over TLS that trusts exactly the certificate in `cert_pem`.
struct TlsClient {
    reader: BufReader<ReadHalf<TlsStream<TcpStream>>>,
    writer: WriteHalf<TlsStream<TcpStream>>,
    /// The SHA-256 fingerprint of the certificate the server presented.
    presented: String,
    /// Whether the handshake resumed a session of the same client configuration.
    resumed: bool,
}

/// A client configuration that trusts exactly the certificate in `cert_pem`, speaks
/// `versions` and offers `identity` as its certificate. It keeps its sessions (rustls's
/// default store), so a second connection made with it offers to resume the first's.
fn client_config(
    cert_pem: &Path,
    versions: &[&'static rustls::SupportedProtocolVersion],
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let cert = CertificateDer::from_pem_file(cert_pem)?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_root_certificates(roots);
    let config = match identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

impl TlsClient {
    async fn connect(addr: SocketAddr, cert_pem: &Path) -> anyhow::Result<TlsClient> {
        Self::connect_as(addr, cert_pem, None).await
    }

    /// Connects offering `identity` (a certificate chain and its key) as a client certificate.
    async fn connect_as(
        addr: SocketAddr,
        cert_pem: &Path,
        identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> anyhow::Result<TlsClient> {
        let config = client_config(cert_pem, rustls::DEFAULT_VERSIONS, identity)?;
        Self::connect_with(addr, config).await
    }

    async fn connect_with(
        addr: SocketAddr,
        config: Arc<rustls::ClientConfig>,
    ) -> anyhow::Result<TlsClient> {
        let connector = TlsConnector::from(config);
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from("localhost")?;
        let stream = tokio::time::timeout(TIMEOUT, connector.connect(name, tcp)).await??;
        let tls = stream.get_ref().1;
        let presented = tls
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| fingerprint(c))
            .unwrap_or_default();
        let resumed = tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        let (r, w) = tokio::io::split(stream);
        Ok(TlsClient {
            reader: BufReader::new(r),
            writer: w,
            presented,
            resumed,
        })
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

    /// Skips lines until one matches `pred`; fails after the timeout.
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

    /// Skips to WHOIS's certificate line (276) and checks that it gives `expected`.
    async fn expect_certfp(&mut self, expected: &str) {
        let fp = self
            .expect("276", |m| m.command == RPL_WHOISCERTFP.to_string())
            .await;
        assert!(fp.param(2).is_some_and(|t| t.ends_with(expected)), "{fp:?}");
    }

    async fn register(&mut self, nick: &str) {
        self.send(&format!("NICK {nick}")).await;
        self.send(&format!("USER {nick} 0 * :Test {nick}")).await;
        let code = format!("{RPL_WELCOME:03}");
        self.expect("RPL_WELCOME", |m| m.command == code).await;
        self.expect("end of MOTD", |m| m.command == "376" || m.command == "422")
            .await;
    }
}

/// Reads from a raw socket until the server closes it; returns the bytes it sent. Fails if the
/// connection is still open after `within`.
async fn read_until_closed(tcp: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let mut buf = [0u8; 4096];
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("connection still open after {within:?}"),
        }
    }
}

#[tokio::test]
async fn whois_says_who_is_secure_and_shows_their_own_certificate_fingerprint() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let handle = Server::start(tls_config(dir.path())).await?;
    let (plain_addr, tls_addr) = addrs(&handle);
    let mine = rcgen::generate_simple_self_signed(vec!["nandu.example".to_owned()])?;
    let chain = vec![mine.cert.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(mine.signing_key.serialize_der()));
    let expected = certfp(mine.cert.der());
    let cert_pem = dir.path().join(GENERATED_CERT_FILE);
    let mut secure = TlsClient::connect_as(tls_addr, &cert_pem, Some((chain, key))).await?;
    secure.register("Ñandú").await;
    let mut plain = TestClient::connect(plain_addr).await;
    plain.register("alice").await;

    // Their own WHOIS: the secure connection and the certificate's fingerprint.
    secure.send("WHOIS Ñandú").await;
    secure
        .expect("671", |m| m.command == RPL_WHOISSECURE.to_string())
        .await;
    secure.expect_certfp(&expected).await;
    // Someone else sees the secure connection, not the fingerprint.
    plain.send("WHOIS Ñandú").await;
    let lines = plain.sync().await;
    assert!(lines.iter().any(|m| m.command == "671"), "{lines:?}");
    assert!(!lines.iter().any(|m| m.command == "276"), "{lines:?}");
    // A plain connection is not secure.
    secure.send("WHOIS alice").await;
    let end = secure
        .expect("318", |m| m.command == "318" || m.command == "671")
        .await;
    assert_eq!(end.command, "318", "alice is on plain text");
    handle.shutdown().await;
    Ok(())
}

/// A certificate chain and key for a client, and its fingerprint as CERT and EXTERNAL take it.
fn client_identity(name: &str) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, String) {
    let made = rcgen::generate_simple_self_signed(vec![name.to_owned()]).expect("certificate");
    let fp = certfp(made.cert.der());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    (vec![made.cert.der().clone()], key, fp)
}

/// A client that comes back resumes its TLS session, over TLS 1.3 and TLS 1.2, however many
/// clients came in between (the server's tickets are sealed with a key of its own; rustls's
/// default was a table of 256 sessions, which these 300 clients turn over), and is still
/// known by its certificate.
#[tokio::test]
async fn a_client_that_comes_back_resumes_its_session_after_hundreds_of_others()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let handle = Server::start(tls_config(dir.path())).await?;
    let (_, tls_addr) = addrs(&handle);
    let cert_pem = dir.path().join(GENERATED_CERT_FILE);
    let versions = [&rustls::version::TLS13, &rustls::version::TLS12];
    for (n, version) in versions.into_iter().enumerate() {
        let (chain, key, expected) = client_identity("vuelvo.example");
        let returning = client_config(&cert_pem, &[version], Some((chain, key)))?;
        let mut first = TlsClient::connect_with(tls_addr, returning.clone()).await?;
        assert!(!first.resumed);
        // A TLS 1.3 server's tickets come after the handshake: registering reads past them.
        first.register(&format!("Vuelvo{n}")).await;
        first.send("QUIT").await;
        // 300 others, 10 at a time.
        for batch in 0..30 {
            let mut others = tokio::task::JoinSet::new();
            for i in 0..10 {
                let config = client_config(&cert_pem, &[version], None)?;
                others.spawn(async move {
                    let mut other = TlsClient::connect_with(tls_addr, config).await?;
                    other.register(&format!("otro{n}_{batch}_{i}")).await;
                    anyhow::Ok(other.resumed)
                });
            }
            while let Some(resumed) = others.join_next().await {
                assert!(!resumed??);
            }
        }
        let mut again = TlsClient::connect_with(tls_addr, returning).await?;
        assert!(again.resumed, "{version:?}: a full handshake, not resumed");
        again.register(&format!("Vuelta{n}")).await;
        again.send(&format!("WHOIS Vuelta{n}")).await;
        again.expect_certfp(&expected).await;
    }
    handle.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn sasl_external_logs_in_by_client_certificate() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let handle = Server::start(tls_config(dir.path())).await?;
    let (_, tls_addr) = addrs(&handle);
    let cert_pem = dir.path().join(GENERATED_CERT_FILE);
    let (chain, key, fp) = client_identity("oscar.example");

    // Make an account and tie the certificate to it.
    let mut first =
        TlsClient::connect_as(tls_addr, &cert_pem, Some((chain.clone(), key.clone_key()))).await?;
    first.register("oscar").await;
    first.send("REGISTER * * :una-contraseña").await;
    first.expect("900", |m| m.command == "900").await;
    first.send("NS CERT ADD").await;
    let added = first.expect("NickServ", |m| m.command == "NOTICE").await;
    assert!(added.param(1).is_some_and(|t| t.contains(&fp)), "{added:?}");
    first.send("QUIT").await;

    // The same certificate logs in with EXTERNAL, no password.
    let mut again = TlsClient::connect_as(tls_addr, &cert_pem, Some((chain, key))).await?;
    again.send("CAP REQ :sasl").await;
    again.send("NICK oscar2").await;
    again.send("USER oscar 0 * :Oscar").await;
    again.send("AUTHENTICATE EXTERNAL").await;
    again
        .expect("AUTHENTICATE +", |m| m.command == "AUTHENTICATE")
        .await;
    again.send("AUTHENTICATE +").await;
    let logged = again.expect("900", |m| m.command == "900").await;
    assert_eq!(logged.param(2), Some("oscar"));
    again.expect("903", |m| m.command == "903").await;

    // Another certificate belongs to no account.
    let (chain, key, _) = client_identity("mallory.example");
    let mut other = TlsClient::connect_as(tls_addr, &cert_pem, Some((chain, key))).await?;
    other.send("CAP REQ :sasl").await;
    other.send("AUTHENTICATE EXTERNAL").await;
    other
        .expect("AUTHENTICATE +", |m| m.command == "AUTHENTICATE")
        .await;
    other.send("AUTHENTICATE +").await;
    let fail = other.expect("904", |m| m.command == "904").await;
    assert!(
        fail.param(1).is_some_and(|t| t.contains("no account")),
        "{fail:?}"
    );
    handle.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn tls_and_plain_clients_talk_in_one_channel() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let handle = Server::start(tls_config(dir.path())).await?;
    let (plain_addr, tls_addr) = addrs(&handle);
    let server_fingerprint = handle.tls_fingerprint().expect("a TLS fingerprint");
    assert_eq!(handle.local_addrs().len(), 2);

    let mut secure = TlsClient::connect(tls_addr, &dir.path().join(GENERATED_CERT_FILE)).await?;
    assert_eq!(secure.presented, server_fingerprint);
    secure.register("Ñandú").await;
    let mut plain = TestClient::connect(plain_addr).await;
    plain.register("alice").await;

    secure.send("JOIN #café").await;
    secure.expect("own JOIN", |m| m.command == "JOIN").await;
    plain.send("JOIN #café").await;
    plain.expect_command("JOIN").await;
    secure
        .expect("alice's JOIN", |m| {
            m.command == "JOIN" && m.source_nick() == Some("alice")
        })
        .await;

    secure.send("PRIVMSG #café :¡Hola! 🔒 cifrado").await;
    let m = plain.expect_command("PRIVMSG").await;
    assert_eq!(m.source_nick(), Some("Ñandú"));
    assert_eq!(m.param(1), Some("¡Hola! 🔒 cifrado"));

    plain.send("PRIVMSG #café :y yo en claro").await;
    let m = secure
        .expect("alice's PRIVMSG", |m| m.command == "PRIVMSG")
        .await;
    assert_eq!(m.source_nick(), Some("alice"));
    assert_eq!(m.param(1), Some("y yo en claro"));

    secure.send("QUIT :adiós").await;
    let m = plain.expect_command("QUIT").await;
    assert_eq!(m.source_nick(), Some("Ñandú"));
    handle.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_client_that_never_says_hello_is_closed_by_the_handshake_timeout() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = tls_config(dir.path());
    config.tls.handshake_timeout_secs = 1;
    let handle = Server::start(config).await?;
    let (_, tls_addr) = addrs(&handle);

    let started = tokio::time::Instant::now();
    let mut silent = TcpStream::connect(tls_addr).await?;
    let got = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(
        got.is_empty(),
        "the server sent {got:?} before a ClientHello"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed too early"
    );

    // The silent client did not hold up anyone else.
    let mut ok = TlsClient::connect(tls_addr, &dir.path().join(GENERATED_CERT_FILE)).await?;
    ok.register("bob").await;
    handle.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn plain_irc_on_the_tls_port_is_a_clean_close() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let handle = Server::start(tls_config(dir.path())).await?;
    let (_, tls_addr) = addrs(&handle);

    for garbage in [
        &b"NICK mallory\r\nUSER m 0 * :m\r\n"[..],
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0][..],
        &[0u8; 2048][..],
    ] {
        let mut tcp = TcpStream::connect(tls_addr).await?;
        tcp.write_all(garbage).await?;
        let got = read_until_closed(&mut tcp, TIMEOUT).await;
        // At most a TLS alert record (content type 21), never IRC text.
        assert!(
            got.is_empty() || got[0] == 21,
            "unexpected answer to garbage: {got:?}"
        );
    }
    assert!(handle.users().is_empty());

    let mut ok = TlsClient::connect(tls_addr, &dir.path().join(GENERATED_CERT_FILE)).await?;
    ok.register("carol").await;
    handle.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_generated_certificate_is_kept_across_restarts() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("nested").join("data");

    let first = Server::start(tls_config(&data)).await?;
    let fingerprint = first.tls_fingerprint().expect("fingerprint");
    assert_eq!(fingerprint.len(), 32 * 3 - 1, "{fingerprint}");
    first.shutdown().await;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join(GENERATED_KEY_FILE))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "key mode {mode:o}");
        let mode = std::fs::metadata(&data)?.permissions().mode();
        assert_eq!(mode & 0o077, 0, "data dir mode {mode:o}");
    }

    let second = Server::start(tls_config(&data)).await?;
    assert_eq!(second.tls_fingerprint(), Some(fingerprint.clone()));
    let (_, tls_addr) = addrs(&second);
    let client = TlsClient::connect(tls_addr, &data.join(GENERATED_CERT_FILE)).await?;
    assert_eq!(client.presented, fingerprint);
    second.shutdown().await;

    // Another data directory means another certificate.
    let other = tempfile::tempdir()?;
    let third = Server::start(tls_config(other.path())).await?;
    assert_ne!(third.tls_fingerprint(), Some(fingerprint));
    third.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_configured_certificate_is_used_as_given() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let cert_path = dir.path().join("mine.crt");
    let key_path = dir.path().join("mine.key");
    std::fs::write(&cert_path, ck.cert.pem())?;
    std::fs::write(&key_path, ck.signing_key.serialize_pem())?;
    let data = dir.path().join("data");

    let mut config = tls_config(&data);
    config.tls.cert = Some(cert_path.clone());
    config.tls.key = Some(key_path.clone());
    let handle = Server::start(config.clone()).await?;
    assert_eq!(handle.tls_fingerprint(), Some(fingerprint(ck.cert.der())));
    assert!(
        !data.exists(),
        "nothing generated when a certificate is configured"
    );
    let (_, tls_addr) = addrs(&handle);
    let mut c = TlsClient::connect(tls_addr, &cert_path).await?;
    c.register("dave").await;
    handle.shutdown().await;

    // A key that is not PEM stops the start with a TLS error.
    std::fs::write(&key_path, "not a key")?;
    match Server::start(config.clone()).await {
        Err(StartError::Tls(_)) => {}
        other => panic!("expected a TLS error, got {other:?}"),
    }
    // A key file cut short says so in words, with the marker as text (not a list of bytes).
    let pem = ck.signing_key.serialize_pem();
    std::fs::write(&key_path, &pem[..pem.len() / 2])?;
    match Server::start(config).await {
        Err(StartError::Tls(e)) => {
            let text = e.to_string();
            assert!(
                text.contains("-----END PRIVATE KEY-----") && text.contains("cut short"),
                "{text}"
            );
            assert!(!text.contains("[45, 45"), "{text}");
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn without_tls_listeners_nothing_is_generated() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let mut config = TestServer::test_config();
    config.data_dir = data.clone();
    let handle = Server::start(config).await?;
    assert_eq!(handle.tls_fingerprint(), None);
    assert!(handle.listeners().iter().all(|(_, tls)| !tls));
    assert!(!data.exists());
    handle.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_pending_handshake() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = tls_config(dir.path());
    config.tls.handshake_timeout_secs = 60;
    let handle = Server::start(config).await?;
    let (_, tls_addr) = addrs(&handle);
    let mut silent = TcpStream::connect(tls_addr).await?;
    // Let the server accept it and start waiting for the ClientHello.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = tokio::time::Instant::now();
    tokio::time::timeout(TIMEOUT, handle.shutdown())
        .await
        .expect("shutdown finished");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        started.elapsed()
    );
    read_until_closed(&mut silent, TIMEOUT).await;
    Ok(())
}

/// The binary logs the fingerprint and which listener is TLS (what an operator compares with
/// the app's trust prompt).
#[test]
fn the_binary_logs_the_fingerprint_of_its_generated_certificate() -> anyhow::Result<()> {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir()?;
    let config_path = dir.path().join("charla.toml");
    std::fs::write(
        &config_path,
        "server_name = \"tls.test\"\ndata_dir = \"datos\"\n\
         [[listeners]]\naddress = \"127.0.0.1:0\"\ntls = true\n\
         [http]\naddress = \"127.0.0.1:0\"\n",
    )?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_charla-server"))
        .arg("--config")
        .arg(&config_path)
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut fingerprint_line = None;
    let mut listening_line = None;
    while fingerprint_line.is_none() || listening_line.is_none() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            break;
        };
        if line.contains("TLS certificate") {
            fingerprint_line = Some(line);
        } else if line.contains("charla-server listening") {
            listening_line = Some(line);
        }
    }
    let _ = child.kill();
    let _ = child.wait();

    let cert = CertificateDer::from_pem_file(dir.path().join("datos").join(GENERATED_CERT_FILE))?;
    let expected = fingerprint(&cert);
    let fingerprint_line = fingerprint_line.expect("a fingerprint log line");
    assert!(
        fingerprint_line.contains(&expected),
        "{fingerprint_line} lacks {expected}"
    );
    let listening_line = listening_line.expect("a listening log line");
    assert!(listening_line.contains("tls=true"), "{listening_line}");
    Ok(())
}

/// Reads `s_client`'s output into `seen` until a line holds `what`.
async fn s_client_until(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    seen: &mut Vec<String>,
    what: &str,
) -> anyhow::Result<()> {
    let found = tokio::time::timeout(TIMEOUT, async {
        while let Some(line) = lines.next_line().await? {
            seen.push(line);
            if seen.last().is_some_and(|line| line.contains(what)) {
                return Ok(true);
            }
        }
        Ok::<_, anyhow::Error>(false)
    })
    .await;
    match found {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => anyhow::bail!("s_client ended before {what:?}: {seen:#?}"),
        Ok(Err(e)) => Err(e),
        Err(_) => anyhow::bail!("no {what:?} from s_client in time: {seen:#?}"),
    }
}

/// OpenSSL's `s_client` (the `openssl` that Debian ships; CI installs it) as the TLS client,
/// with each TLS 1.3 suite, lines both ways across key updates that it starts (`k`) and that
/// ask the server for its own (`K`), and with each TLS 1.2 AEAD suite of the server's ECDSA
/// certificate: the server's own records after the handshake (`tls/records.rs`).
#[tokio::test]
async fn openssl_s_client_chats_with_every_suite_and_across_tls13_key_updates() -> anyhow::Result<()>
{
    use tokio::process::Command;

    let dir = tempfile::tempdir()?;
    let handle = Server::start(tls_config(dir.path())).await?;
    let (_, tls_addr) = addrs(&handle);
    for (version, choose, suite) in [
        ("-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"),
        ("-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"),
        ("-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"),
        ("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"),
        ("-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"),
        ("-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"),
    ] {
        // stderr too: s_client says KEYUPDATE there.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "exec openssl s_client -connect {tls_addr} {version} {choose} {suite} -crlf 2>&1"
            ))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let mut stdin = child.stdin.take().expect("stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut seen = Vec::new();
        let until = s_client_until;

        stdin
            .write_all("NICK Ñandú\nUSER ñ 0 * :Ñandú\n".as_bytes())
            .await?;
        until(&mut lines, &mut seen, " 001 Ñandú ").await?;
        let cipher = format!("Cipher is {suite}");
        assert!(
            seen.iter().any(|line| line.contains(&cipher)),
            "{suite} was not negotiated (is openssl installed?): {seen:#?}"
        );
        for (command, word) in [("k", "después"), ("K", "pedida"), ("K", "otra")] {
            // TLS 1.2 has no key updates: lines only.
            if version == "-tls1_3" {
                stdin.write_all(format!("{command}\n").as_bytes()).await?;
                until(&mut lines, &mut seen, "KEYUPDATE").await?;
            }
            stdin
                .write_all(format!("PING :{word}\n").as_bytes())
                .await?;
            let pong = format!("PONG irc.test :{word}");
            until(&mut lines, &mut seen, &pong).await?;
        }
        // (A line that starts with `Q` is s_client's own command to quit.)
        stdin.write_all("quit :adiós\n".as_bytes()).await?;
        until(&mut lines, &mut seen, "ERROR").await?;
        drop(stdin);
        tokio::time::timeout(TIMEOUT, child.wait()).await??;
    }
    handle.shutdown().await;
    Ok(())
}
