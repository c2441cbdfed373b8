//! Trust on first use against a TLS acceptor with self-signed certificates: unknown → the
//! fingerprint is shown and nothing is sent; trusted → pinned (in a file) and connected; a
//! different certificate later → refused, loudly, and no retry on its own.

mod common;

use std::time::Duration;

use anyhow::{Context, Result};
use charla_client::{ClientOptions, Command, ConnectionStatus, Event, ServerConfig, TrustStore};
use common::{App, Peer, STEP, acceptor, fast, register_plain};
use tokio::net::TcpListener;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

/// Accepts one TCP connection and tries the TLS handshake; `None` if the client refused it.
async fn accept_tls(listener: &TcpListener, acceptor: &TlsAcceptor) -> Result<Option<Peer>> {
    let (tcp, _) = timeout(STEP, listener.accept())
        .await
        .context("no connection")??;
    match timeout(STEP, acceptor.accept(tcp)).await? {
        Ok(tls) => Ok(Some(Peer::new(tls))),
        Err(_) => Ok(None),
    }
}

#[tokio::test]
async fn unknown_then_trusted_then_changed_is_refused() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("charla-client-tls-{}", std::process::id()));
    let pins = dir.join("pins.toml");
    let _ = std::fs::remove_dir_all(&dir);
    let trust = TrustStore::load(&pins)?;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (first, first_fp) = acceptor()?;
    let mut config = ServerConfig::new("127.0.0.1", port, "ana");
    config.tls = true;
    let mut app = App::start_with_trust(config, fast(), trust.clone());

    // 1. Unknown certificate: the handshake is refused and the fingerprint shown.
    assert!(
        accept_tls(&listener, &first).await?.is_none(),
        "client must refuse"
    );
    let ev = app
        .until("unknown", |e| matches!(e, Event::CertificateUnknown { .. }))
        .await?;
    let Event::CertificateUnknown { fingerprint, .. } = ev else {
        unreachable!()
    };
    assert_eq!(fingerprint, first_fp);
    assert_eq!(app.state.status, ConnectionStatus::WaitingForTrust);
    // It does not retry by itself.
    assert!(
        timeout(Duration::from_millis(400), listener.accept())
            .await
            .is_err()
    );

    // A fingerprint other than the one shown is not trusted.
    app.handle.send(Command::TrustCertificate {
        fingerprint: "00:11".into(),
    })?;
    app.until(
        "refused trust",
        |e| matches!(e, Event::Local { text, .. } if text.contains("not the one")),
    )
    .await?;

    // 2. Trusted: pinned to the file, reconnects, registers.
    app.handle.send(Command::TrustCertificate {
        fingerprint: fingerprint.to_lowercase(),
    })?;
    let mut s = accept_tls(&listener, &first)
        .await?
        .context("trusted handshake")?;
    register_plain(&mut s, "ana").await?;
    app.until("registered", |e| matches!(e, Event::Registered { .. }))
        .await?;
    assert!(app.state.certificate.is_none());
    assert_eq!(
        TrustStore::load(&pins)?.pinned("127.0.0.1", port),
        Some(first_fp.clone())
    );

    // 3. The server comes back with another certificate: refused, loudly.
    drop(s);
    let (second, second_fp) = acceptor()?;
    assert!(
        accept_tls(&listener, &second).await?.is_none(),
        "client must refuse the new cert"
    );
    let ev = app
        .until("changed", |e| matches!(e, Event::CertificateChanged { .. }))
        .await?;
    assert_eq!(
        ev,
        Event::CertificateChanged {
            host: "127.0.0.1".into(),
            port,
            expected: first_fp.clone(),
            got: second_fp.clone()
        }
    );
    assert!(
        app.state
            .server_buffer()
            .lines
            .iter()
            .any(|l| l.text.contains("CHANGED"))
    );
    assert!(
        timeout(Duration::from_millis(400), listener.accept())
            .await
            .is_err(),
        "no retry"
    );
    // The old pin stays until the user says otherwise.
    assert_eq!(trust.pinned("127.0.0.1", port), Some(first_fp));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test]
async fn disconnecting_instead_of_trusting_leaves_the_client_disconnected() -> Result<()> {
    let trust = TrustStore::in_memory();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (acceptor, fingerprint) = acceptor()?;
    let mut config = ServerConfig::new("127.0.0.1", port, "ana");
    config.tls = true;
    let mut app = App::start_with_trust(config, fast(), trust.clone());
    assert!(accept_tls(&listener, &acceptor).await?.is_none());
    app.until("unknown", |e| matches!(e, Event::CertificateUnknown { .. }))
        .await?;
    assert_eq!(app.state.status, ConnectionStatus::WaitingForTrust);

    // The user says no (the app's Cancel): disconnected, the question gone, nothing pinned.
    app.handle.send(Command::Disconnect { reason: None })?;
    app.until("disconnected", |e| {
        matches!(e, Event::Disconnected { retry_in: None, .. })
    })
    .await?;
    assert!(
        matches!(
            &app.state.status,
            ConnectionStatus::Disconnected { reason, retry_at: None }
                if reason.contains("not trusted")
        ),
        "{:?}",
        app.state.status
    );
    assert_eq!(app.state.certificate, None);
    assert_eq!(trust.pinned("127.0.0.1", port), None);
    assert!(
        timeout(Duration::from_millis(400), listener.accept())
            .await
            .is_err(),
        "no retry on its own"
    );

    // Reconnecting asks again, with the same fingerprint.
    app.handle.send(Command::Reconnect)?;
    assert!(accept_tls(&listener, &acceptor).await?.is_none());
    let ev = app
        .until("asked again", |e| {
            matches!(e, Event::CertificateUnknown { .. })
        })
        .await?;
    assert!(matches!(ev, Event::CertificateUnknown { fingerprint: f, .. } if f == fingerprint));
    assert_eq!(app.state.status, ConnectionStatus::WaitingForTrust);
    Ok(())
}

#[tokio::test]
async fn plain_text_options_are_unaffected_by_pins() -> Result<()> {
    // Pins are per host:port and only consulted for TLS.
    let trust = TrustStore::in_memory();
    trust.pin("127.0.0.1", 1, "AA")?;
    let (listener, port) = common::listener().await?;
    let mut app = App::start_with_trust(
        ServerConfig::new("127.0.0.1", port, "ana"),
        ClientOptions::default(),
        trust,
    );
    let mut s = Peer::accept(&listener).await?;
    register_plain(&mut s, "ana").await?;
    app.until("registered", |e| matches!(e, Event::Registered { .. }))
        .await?;
    Ok(())
}
