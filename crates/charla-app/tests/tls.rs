//! Trust on first use in the window: a TLS acceptor (a self-signed certificate) in front
//! of the real server. The first connection shows the fingerprint with Trust/Cancel; Cancel
//! pins nothing and stays disconnected; after "Trust" the app connects. When the server later presents another certificate, the app
//! refuses with a red warning and does not connect.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result};
use charla_app::AppOptions;
use charla_app::config::ConfigStore;
use charla_client::{ConnectionStatus, TrustStore};
use charla_server::ServerHandle;
use common::{app, click, fill, runtime, server, shows, shows_part, step_until};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A fresh self-signed certificate for 127.0.0.1, its acceptor and its fingerprint.
fn acceptor() -> Result<(TlsAcceptor, String)> {
    let tls = charla_server::tls::Tls::self_signed(&["127.0.0.1", "localhost"])?;
    Ok((tls.acceptor().clone(), tls.fingerprint().to_owned()))
}

/// Listens on 127.0.0.1:0, does the TLS handshake with whichever acceptor `current` holds,
/// and hands the decrypted stream to the server.
async fn tls_front(server: ServerHandle, current: Arc<Mutex<TlsAcceptor>>) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, peer)) = listener.accept().await {
            let acceptor = match current.lock() {
                Ok(guard) => guard.clone(),
                Err(_) => return,
            };
            let server = server.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to serve.
                if let Ok(Ok(tls)) = tokio::time::timeout(common::WAIT, acceptor.accept(tcp)).await
                {
                    let _ = server.connect_stream(tls, peer);
                }
            });
        }
    });
    Ok(addr)
}

fn options(trust: &TrustStore) -> AppOptions {
    AppOptions {
        store: ConfigStore::in_memory(),
        trust: trust.clone(),
        notifications: false,
        secrets: charla_app::secrets::Secrets::in_memory(),
    }
}

fn connect_tls(
    h: &mut egui_kittest::Harness<'static, charla_app::CharlaApp>,
    addr: SocketAddr,
    nick: &str,
) -> Result<()> {
    fill(h, "Host", "127.0.0.1");
    fill(h, "Port", &addr.port().to_string());
    fill(h, "Nick", nick);
    click(h, "Use TLS (encrypted)")?;
    click(h, "Connect")
}

#[test]
fn first_use_asks_then_a_changed_certificate_is_refused() -> Result<()> {
    let rt = runtime()?;
    let (server, _) = server(&rt)?;
    let (first, first_fp) = acceptor()?;
    let current = Arc::new(Mutex::new(first));
    let addr = rt.block_on(tls_front(server.clone(), current.clone()))?;
    let trust = TrustStore::in_memory();

    // First use: the prompt shows the fingerprint; nothing is sent before the user decides.
    let mut h = app(&rt, options(&trust));
    connect_tls(&mut h, addr, "ana")?;
    step_until(&mut h, "the trust prompt", |h| {
        shows(h, "Trust this server's certificate?")
    })?;
    assert!(
        shows(&h, &first_fp),
        "the prompt shows the fingerprint {first_fp}"
    );
    assert!(
        server.users().is_empty(),
        "not registered before the user trusts"
    );

    // Cancel first: nothing is pinned, the prompt goes, the app stays disconnected.
    click(&mut h, "Cancel")?;
    step_until(&mut h, "the prompt gone after Cancel", |h| {
        !shows(h, "Trust this server's certificate?")
    })?;
    assert_eq!(trust.pinned("127.0.0.1", addr.port()), None);
    step_until(&mut h, "the reconnect button", |h| {
        shows(h, "Reconnect now")
    })?;
    let session = h.state().sessions().first().context("no session")?;
    assert!(
        matches!(session.state.status, ConnectionStatus::Disconnected { .. }),
        "Cancel disconnects, it does not leave the session waiting: {:?}",
        session.state.status
    );
    assert!(
        shows_part(&h, "disconnected: the server's certificate was not trusted"),
        "the status says why"
    );

    // Trying again asks again; this time the user trusts it.
    click(&mut h, "Reconnect now")?;
    step_until(&mut h, "the trust prompt again", |h| {
        shows(h, "Trust this server's certificate?")
    })?;
    click(&mut h, "Trust")?;
    step_until(&mut h, "the connection after trusting", |h| {
        h.state()
            .sessions()
            .first()
            .is_some_and(|s| s.is_connected())
    })?;
    assert_eq!(
        trust.pinned("127.0.0.1", addr.port()),
        Some(first_fp.clone())
    );
    assert!(
        !shows(&h, "Trust this server's certificate?"),
        "the prompt closed"
    );
    drop(h);

    // The server now presents another certificate: refused, loudly, and no registration.
    let (second, second_fp) = acceptor()?;
    *current.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = second;
    let mut h = app(&rt, options(&trust));
    connect_tls(&mut h, addr, "ana2")?;
    step_until(&mut h, "the red refusal", |h| {
        shows_part(h, "the certificate has CHANGED")
    })?;
    assert!(shows(&h, &second_fp), "the presented fingerprint is shown");
    assert!(shows(&h, &first_fp), "next to the trusted one");
    let session = h.state().sessions().first().context("no session")?;
    assert!(!session.is_connected());
    assert!(
        !server.users().iter().any(|u| u.nick == "ana2"),
        "never registered with the changed certificate"
    );
    assert_eq!(
        trust.pinned("127.0.0.1", addr.port()),
        Some(first_fp),
        "the pin is kept"
    );

    click(&mut h, "Close")?;
    assert!(!shows_part(&h, "the certificate has CHANGED"), "dismissed");
    step_until(&mut h, "the status after Close", |h| {
        shows_part(h, "disconnected: the server's certificate has changed")
    })?;
    assert!(shows(&h, "Reconnect now"), "the user may try again");
    Ok(())
}
