//! Logging in and creating accounts against scripted servers on real loopback sockets: the
//! server's side of SASL is played with charla-proto's own pieces (`ScramServer`,
//! `ChunkReader`, `plain_decode`), so the client's exact lines are checked, and the client's
//! account bookkeeping is fed the lines a server would send.

mod common;

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use charla_client::{
    BufferId, ClientCertificate, Command, Event, LoginError, RegistrationReply, SaslConfig,
    SaslMechanism, ServerConfig, TrustStore,
};
use charla_proto::sasl::{ChunkReader, ScramCredentials, ScramServer, encode_chunks, plain_decode};
use common::{App, Peer, STEP, fast, listener};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

/// Plays the server from `CAP LS` to the client's `AUTHENTICATE <mechanism>`.
async fn offer(s: &mut Peer, caps: &str, want_req: &str, mechanism: &str) -> Result<()> {
    s.expect("CAP LS 302").await?;
    s.send(&format!(":srv CAP * LS :{caps}")).await?;
    s.expect(&format!("CAP REQ {want_req}")).await?;
    s.send(&format!(":srv CAP * ACK :{want_req}")).await?;
    s.expect(&format!("AUTHENTICATE {mechanism}")).await
}

/// Reads one SASL payload from the client's `AUTHENTICATE` lines, however many chunks.
async fn payload(s: &mut Peer) -> Result<Vec<u8>> {
    let mut reader = ChunkReader::new(64 * 1024);
    loop {
        let line = s.line().await?;
        let Some(param) = line.strip_prefix("AUTHENTICATE ") else {
            bail!("expected AUTHENTICATE, got {line:?}");
        };
        assert!(param.len() <= 400, "a chunk of {} bytes", param.len());
        if let Some(payload) = reader.push(param)? {
            return Ok(payload);
        }
    }
}

/// Sends a SASL payload as `AUTHENTICATE` chunks.
async fn send_payload(s: &mut Peer, payload: &[u8]) -> Result<()> {
    for chunk in encode_chunks(payload) {
        s.send(&format!("AUTHENTICATE {chunk}")).await?;
    }
    Ok(())
}

/// Ends a successful login and registration.
async fn logged_in(s: &mut Peer, app: &mut App, account: &str) -> Result<()> {
    s.send(&format!(
        ":srv 900 ana ana!a@h {account} :You are now logged in as {account}"
    ))
    .await?;
    s.send(":srv 903 ana :SASL authentication successful")
        .await?;
    s.expect("CAP END").await?;
    s.send(":srv 001 ana :Welcome").await?;
    app.until("registered", |e| matches!(e, Event::Registered { .. }))
        .await?;
    assert_eq!(app.state.account.as_deref(), Some(account));
    Ok(())
}

fn with_password(port: u16, password: &str) -> ServerConfig {
    let mut config = ServerConfig::new("127.0.0.1", port, "ana");
    config.sasl = Some(SaslConfig::password("ana", password));
    config
}

#[tokio::test]
async fn scram_sha_256_logs_in_and_checks_the_servers_signature() -> Result<()> {
    let (listener, port) = listener().await?;
    let mut app = App::start(with_password(port, "contraseña segura"), fast());
    let mut s = Peer::accept(&listener).await?;
    offer(
        &mut s,
        "sasl=PLAIN,SCRAM-SHA-256,EXTERNAL",
        "sasl",
        "SCRAM-SHA-256",
    )
    .await?;
    s.send("AUTHENTICATE +").await?;
    let server = ScramServer::new(&payload(&mut s).await?)?;
    assert_eq!(server.username(), "ana");
    let credentials = ScramCredentials::derive("contraseña segura", b"sal de mar", 4096);
    let (awaiting, server_first) = server.server_first(Some(credentials), "servidor-nonce-123")?;
    send_payload(&mut s, &server_first).await?;
    let server_final = awaiting.client_final(&payload(&mut s).await?)?;
    send_payload(&mut s, &server_final).await?;
    // The client checked `v=` and lets the server finish with an empty response.
    s.expect("AUTHENTICATE +").await?;
    logged_in(&mut s, &mut app, "ana").await?;
    assert_eq!(app.state.login_error, None);
    Ok(())
}

#[tokio::test]
async fn a_server_that_cannot_prove_it_knows_the_account_is_left() -> Result<()> {
    let (listener, port) = listener().await?;
    let mut app = App::start(with_password(port, "contraseña"), fast());
    let mut s = Peer::accept(&listener).await?;
    offer(&mut s, "sasl=SCRAM-SHA-256", "sasl", "SCRAM-SHA-256").await?;
    s.send("AUTHENTICATE +").await?;
    let server = ScramServer::new(&payload(&mut s).await?)?;
    // An impostor: it does not know the keys, and answers whatever proof with its own guess.
    let (_, server_first) = server.server_first(None, "impostor-nonce")?;
    send_payload(&mut s, &server_first).await?;
    let _proof = payload(&mut s).await?;
    send_payload(&mut s, format!("v={}", BASE64.encode([7u8; 32])).as_bytes()).await?;
    s.expect("AUTHENTICATE *").await?;
    s.expect("QUIT :Could not log in").await?;
    let ev = app
        .until("login failed", |e| matches!(e, Event::LoginFailed { .. }))
        .await?;
    assert_eq!(
        ev,
        Event::LoginFailed {
            error: LoginError::ServerSignature,
            continuing: false
        }
    );
    drop(s);
    let ev = app
        .until("disconnected", |e| matches!(e, Event::Disconnected { .. }))
        .await?;
    assert!(
        matches!(&ev, Event::Disconnected { retry_in: None, reason } if reason.contains("impostor")),
        "{ev:?}"
    );
    assert!(
        timeout(std::time::Duration::from_millis(300), listener.accept())
            .await
            .is_err(),
        "no retry against an impostor"
    );
    Ok(())
}

#[tokio::test]
async fn plain_sends_a_long_password_in_400_byte_chunks() -> Result<()> {
    // "ana\0ana\0" and 592 bytes of password: 600 bytes, exactly 800 of base64, so two full
    // chunks and a `+` that says the payload ended.
    let password = "ñ".repeat(296);
    let (listener, port) = listener().await?;
    let mut app = App::start(with_password(port, &password), fast());
    let mut s = Peer::accept(&listener).await?;
    offer(&mut s, "sasl=PLAIN,EXTERNAL", "sasl", "PLAIN").await?;
    s.send("AUTHENTICATE +").await?;
    let mut lines = Vec::new();
    for _ in 0..3 {
        lines.push(s.line().await?);
    }
    let lengths: Vec<usize> = lines.iter().map(String::len).collect();
    assert_eq!(lengths, [13 + 400, 13 + 400, 13 + 1], "{lines:?}");
    assert_eq!(lines[2], "AUTHENTICATE +");
    let mut reader = ChunkReader::new(4096);
    let mut got = None;
    for line in &lines {
        got = reader.push(line.trim_start_matches("AUTHENTICATE "))?;
    }
    let got = got.context("no payload")?;
    let plain = plain_decode(&got)?;
    assert_eq!((plain.authcid, plain.password), ("ana", password.as_str()));
    logged_in(&mut s, &mut app, "ana").await?;
    Ok(())
}

#[tokio::test]
async fn a_wrong_password_says_so_and_registration_carries_on() -> Result<()> {
    let (listener, port) = listener().await?;
    let mut app = App::start(with_password(port, "mala"), fast());
    let mut s = Peer::accept(&listener).await?;
    offer(&mut s, "sasl=PLAIN", "sasl", "PLAIN").await?;
    s.send("AUTHENTICATE +").await?;
    let _ = payload(&mut s).await?;
    s.send(":srv 904 ana :SASL authentication failed").await?;
    s.expect("CAP END").await?;
    s.send(":srv 001 ana :Welcome").await?;
    let ev = app
        .until("login failed", |e| matches!(e, Event::LoginFailed { .. }))
        .await?;
    assert_eq!(
        ev,
        Event::LoginFailed {
            error: LoginError::WrongCredentials,
            continuing: true
        }
    );
    app.until("registered", |e| matches!(e, Event::Registered { .. }))
        .await?;
    assert_eq!(app.state.account, None);
    let lines: Vec<&str> = app
        .state
        .server_buffer()
        .lines
        .iter()
        .map(|l| l.text.as_str())
        .collect();
    assert!(
        lines.contains(
            &"Could not log in: wrong account name or password. Carrying on without an account."
        ),
        "{lines:?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("SASL authentication failed")),
        "said once, in words: {lines:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_required_account_that_fails_ends_the_connection() -> Result<()> {
    let (listener, port) = listener().await?;
    let mut config = with_password(port, "mala");
    if let Some(sasl) = &mut config.sasl {
        sasl.required = true;
    }
    let mut app = App::start(config, fast());
    let mut s = Peer::accept(&listener).await?;
    offer(&mut s, "sasl=PLAIN", "sasl", "PLAIN").await?;
    s.send("AUTHENTICATE +").await?;
    let _ = payload(&mut s).await?;
    s.send(":srv 904 ana :SASL authentication failed").await?;
    s.expect("QUIT :Could not log in").await?;
    drop(s);
    let ev = app
        .until("disconnected", |e| matches!(e, Event::Disconnected { .. }))
        .await?;
    assert!(
        matches!(&ev, Event::Disconnected { retry_in: None, reason }
            if reason.starts_with("could not log in: wrong account name or password")),
        "{ev:?}"
    );
    Ok(())
}

#[tokio::test]
async fn without_a_list_the_client_follows_908_to_a_mechanism_the_server_has() -> Result<()> {
    let (listener, port) = listener().await?;
    let mut app = App::start(with_password(port, "contraseña"), fast());
    let mut s = Peer::accept(&listener).await?;
    // `sasl` with no value (SASL 3.1): the client tries its best first.
    offer(&mut s, "sasl", "sasl", "SCRAM-SHA-256").await?;
    s.send(":srv 908 ana PLAIN :are available SASL mechanisms")
        .await?;
    s.send(":srv 904 ana :SASL authentication failed").await?;
    s.expect("AUTHENTICATE PLAIN").await?;
    s.send("AUTHENTICATE +").await?;
    let plain = payload(&mut s).await?;
    assert_eq!(plain_decode(&plain)?.password, "contraseña");
    logged_in(&mut s, &mut app, "ana").await?;
    Ok(())
}

/// Accepts any client certificate, as IRC servers do (they identify it by fingerprint), and
/// requires one.
#[derive(Debug)]
struct AnyClientCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ClientCertVerifier for AnyClientCertificate {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS acceptor with a self-signed server certificate that asks for a client certificate;
/// returns it and the server certificate's fingerprint (to pin).
fn acceptor_wanting_client_certificates() -> Result<(TlsAcceptor, String)> {
    let server = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(Arc::new(AnyClientCertificate(provider)))
        .with_single_cert(vec![server.cert.der().clone()], key)?;
    let fingerprint = charla_client::Fingerprint::of(server.cert.der()).to_string();
    Ok((TlsAcceptor::from(Arc::new(config)), fingerprint))
}

#[tokio::test]
async fn external_logs_in_with_the_client_certificate() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("charla-client-external-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mine = rcgen::generate_simple_self_signed(vec!["ana".to_owned()])?;
    let files = ClientCertificate {
        certificate: dir.join("ana.pem"),
        key: dir.join("ana.key"),
    };
    std::fs::write(&files.certificate, mine.cert.pem())?;
    std::fs::write(&files.key, mine.signing_key.serialize_pem())?;

    let (listener, port) = listener().await?;
    let (acceptor, server_fingerprint) = acceptor_wanting_client_certificates()?;
    let trust = TrustStore::in_memory();
    trust.pin("127.0.0.1", port, &server_fingerprint)?;
    let mut config = ServerConfig::new("127.0.0.1", port, "ana");
    config.tls = true;
    config.client_certificate = Some(files);
    // No password: the certificate is the credential.
    config.sasl = Some(SaslConfig {
        account: "ana".into(),
        ..SaslConfig::default()
    });
    let mut app = App::start_with_trust(config, fast(), trust);

    let (tcp, _) = timeout(STEP, listener.accept()).await??;
    let tls = timeout(STEP, acceptor.accept(tcp)).await??;
    let presented = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .context("no client certificate")?
        .clone();
    assert_eq!(presented.as_ref(), mine.cert.der().as_ref());
    let mut s = Peer::new(tls);
    offer(&mut s, "sasl=PLAIN,EXTERNAL", "sasl", "EXTERNAL").await?;
    s.send("AUTHENTICATE +").await?;
    s.expect("AUTHENTICATE +").await?;
    logged_in(&mut s, &mut app, "ana").await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[tokio::test]
async fn a_missing_client_certificate_file_is_said_and_not_retried() -> Result<()> {
    let (listener, port) = listener().await?;
    let mut config = ServerConfig::new("127.0.0.1", port, "ana");
    config.tls = true;
    config.client_certificate = Some(ClientCertificate {
        certificate: "/nonexistent/charla/ana.pem".into(),
        key: "/nonexistent/charla/ana.key".into(),
    });
    let mut app = App::start(config, fast());
    let ev = app
        .until("disconnected", |e| matches!(e, Event::Disconnected { .. }))
        .await?;
    assert!(
        matches!(&ev, Event::Disconnected { retry_in: None, reason }
            if reason.contains("cannot use the client certificate") && reason.contains("ana.pem")),
        "{ev:?}"
    );
    drop(listener);
    Ok(())
}

/// Registers through CAP with `caps` offered and requested, and 005 with `isupport`.
async fn register_with(s: &mut Peer, caps: &str, isupport: &str) -> Result<()> {
    s.expect("CAP LS 302").await?;
    s.send(&format!(":srv CAP * LS :{caps}")).await?;
    // NICK and USER come meanwhile; a REQ only when something worth asking for is offered
    // (`draft/account-registration` needs no request).
    loop {
        let line = s.line().await?;
        if line == "CAP END" {
            break;
        }
        if let Some(wanted) = line.strip_prefix("CAP REQ ") {
            let wanted = wanted.trim_start_matches(':').to_owned();
            s.send(&format!(":srv CAP * ACK :{wanted}")).await?;
        }
    }
    s.send(":srv 001 ana :Welcome").await?;
    s.send(&format!(":srv 005 ana {isupport} :are supported"))
        .await?;
    Ok(())
}

#[tokio::test]
async fn register_success_and_failure_come_back_as_events_in_words() -> Result<()> {
    let (listener, port) = listener().await?;
    let mut app = App::start(ServerConfig::new("127.0.0.1", port, "ana"), fast());
    let mut s = Peer::accept(&listener).await?;
    register_with(
        &mut s,
        "draft/account-registration=before-connect,custom-accountname",
        "NETWORK=Charla",
    )
    .await?;
    app.until("registered", |e| matches!(e, Event::Registered { .. }))
        .await?;
    app.handle.send(Command::RegisterAccount {
        account: Some("ñandú".into()),
        email: None,
        password: "contraseña".into(),
    })?;
    s.expect("REGISTER ñandú * contraseña").await?;
    s.send(":srv REGISTER SUCCESS ñandú :Account created")
        .await?;
    let ev = app
        .until("registered account", |e| {
            matches!(e, Event::AccountRegistration(_))
        })
        .await?;
    let Event::AccountRegistration(reply) = ev else {
        unreachable!()
    };
    assert_eq!(
        reply,
        RegistrationReply::Registered {
            account: "ñandú".into(),
            message: "Account created".into()
        }
    );
    // Again, as typed: the current nick, and the server refuses.
    app.input(BufferId::Server, "/register contraseña ana@example.org");
    s.expect("REGISTER * ana@example.org contraseña").await?;
    s.send(":srv FAIL REGISTER ACCOUNT_EXISTS ana :Account already exists")
        .await?;
    let ev = app
        .until("refused", |e| matches!(e, Event::AccountRegistration(_)))
        .await?;
    let Event::AccountRegistration(reply) = ev else {
        unreachable!()
    };
    assert!(!reply.succeeded());
    assert_eq!(
        reply.describe(),
        "Account registration failed: that account already exists (Account already exists)"
    );
    assert_eq!(app.state.registration, Some(reply));
    // Verification.
    app.input(BufferId::Server, "/verify ana 123456");
    s.expect("VERIFY ana 123456").await?;
    s.send(":srv VERIFY SUCCESS ana :Account verified").await?;
    app.until("verified", |e| {
        matches!(
            e,
            Event::AccountRegistration(RegistrationReply::Verified { .. })
        )
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn register_is_checked_against_what_the_server_needs_before_sending() -> Result<()> {
    let (listener, port) = listener().await?;
    let mut app = App::start(ServerConfig::new("127.0.0.1", port, "ana"), fast());
    let mut s = Peer::accept(&listener).await?;
    register_with(
        &mut s,
        "draft/account-registration=email-required",
        "NETWORK=Charla",
    )
    .await?;
    app.until("registered", |e| matches!(e, Event::Registered { .. }))
        .await?;
    app.input(BufferId::Server, "/register contraseña");
    app.until(
        "needs e-mail",
        |e| matches!(e, Event::Local { text, .. } if text.contains("needs an e-mail address")),
    )
    .await?;
    app.handle.send(Command::RegisterAccount {
        account: Some("otro".into()),
        email: Some("a@b.example".into()),
        password: "contraseña".into(),
    })?;
    app.until(
        "named after the nick",
        |e| matches!(e, Event::Local { text, .. } if text.contains("change your nick to otro")),
    )
    .await?;
    // Nothing was sent for either: the next line the server sees is this one.
    app.handle.send(Command::Raw {
        line: "MARK".into(),
    })?;
    assert_eq!(s.line().await?, "MARK");
    Ok(())
}

#[tokio::test]
async fn accounts_are_tracked_from_extended_join_account_notify_tags_and_whox() -> Result<()> {
    let (listener, port) = listener().await?;
    let mut app = App::start(ServerConfig::new("127.0.0.1", port, "ana"), fast());
    let mut s = Peer::accept(&listener).await?;
    s.expect("CAP LS 302").await?;
    s.send(":srv CAP * LS :extended-join account-notify account-tag sasl=PLAIN")
        .await?;
    // No account configured: no `sasl` asked for.
    s.expect("CAP REQ :extended-join account-notify account-tag")
        .await?;
    s.send(":srv CAP * ACK :extended-join account-notify account-tag")
        .await?;
    s.expect("CAP END").await?;
    s.send(":srv 001 ana :Welcome").await?;
    s.send(":srv 005 ana WHOX :are supported").await?;
    s.send(":ana!a@h JOIN #charla * :Ana").await?;
    s.expect("MODE #charla").await?;
    s.expect("WHO #charla %tna,152").await?;
    s.send(":srv 353 ana = #charla :ana bob carla").await?;
    s.send(":srv 366 ana #charla :End of /NAMES list.").await?;
    s.send(":srv 354 ana 152 bob bobby").await?;
    s.send(":srv 354 ana 152 carla 0").await?;
    s.send(":srv 315 ana #charla :End of WHO list.").await?;
    s.send("@account=dora :dora!d@h JOIN #charla dora :Dora")
        .await?;
    s.send("@account=carla :carla!c@h ACCOUNT carla").await?;
    s.send("@account=bobby :bob!b@h PRIVMSG #charla :hola")
        .await?;
    app.until(
        "message",
        |e| matches!(e, Event::Irc(m) if m.command == "PRIVMSG"),
    )
    .await?;
    assert_eq!(app.state.account_of("bob"), Some("bobby"));
    assert_eq!(app.state.account_of("carla"), Some("carla"));
    assert_eq!(app.state.account_of("dora"), Some("dora"));
    assert_eq!(app.state.account_of("ana"), None);
    let server_lines: Vec<&str> = app
        .state
        .server_buffer()
        .lines
        .iter()
        .map(|l| l.text.as_str())
        .collect();
    assert!(
        !server_lines.iter().any(|l| l.contains("WHO")),
        "our own WHO is silent: {server_lines:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_password_without_an_account_mechanism_is_said_not_sent() -> Result<()> {
    let (listener, port) = listener().await?;
    let mut config = with_password(port, "contraseña");
    if let Some(sasl) = &mut config.sasl {
        sasl.mechanism = SaslMechanism::ScramSha256;
    }
    let mut app = App::start(config, fast());
    let mut s = Peer::accept(&listener).await?;
    s.expect("CAP LS 302").await?;
    s.send(":srv CAP * LS :sasl=PLAIN,EXTERNAL").await?;
    s.expect("CAP END").await?;
    let ev = app
        .until("login failed", |e| matches!(e, Event::LoginFailed { .. }))
        .await?;
    assert!(
        matches!(&ev, Event::LoginFailed { error: LoginError::NoMechanism { offered }, continuing: true }
            if offered == &["PLAIN", "EXTERNAL"]),
        "{ev:?}"
    );
    Ok(())
}
