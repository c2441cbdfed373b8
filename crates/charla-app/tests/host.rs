//! "Host a server": one click starts the embedded server, the host's chat connects by itself,
//! the console lists a plain TCP client with its address, and "send to everyone", "send to
//! this user" and kick reach that client.

mod common;

use anyhow::{Context as _, Result};
use charla_app::{AppOptions, Tab};
use common::{TestClient, app, click, fill, runtime, shows, shows_part, step_until};

#[test]
fn host_console_starts_lists_users_and_reaches_them() -> Result<()> {
    let rt = runtime()?;
    let mut h = app(&rt, AppOptions::ephemeral());

    click(&mut h, "Host a server")?;
    assert_eq!(h.state().tab(), Tab::Host);
    fill(&mut h, "Server port", "0");
    fill(&mut h, "Host nick", "anfitrión");
    // "Let other computers connect" is off by default: the server stays on loopback.
    click(&mut h, "▶ Start server")?;
    step_until(&mut h, "the server running", |h| {
        h.state().host().is_running()
    })?;
    let addr = h.state().host().address().context("no address")?;
    assert!(addr.ip().is_loopback(), "bound to {addr}");
    // The log says so, instead of inviting others to connect.
    assert!(shows_part(&h, "Only this computer can connect"));
    assert!(!shows_part(&h, "Others connect to this computer"));

    // The host's own chat window connected to it by itself.
    step_until(&mut h, "the host's chat connected", |h| {
        h.state()
            .sessions()
            .first()
            .is_some_and(|s| s.hosted && s.is_connected())
    })?;
    step_until(&mut h, "the host in the user list", |h| {
        shows(h, "anfitrión")
    })?;

    // Someone connects with a plain IRC client: listed with their address.
    let mut bob = rt.block_on(TestClient::register(addr, "bob"))?;
    step_until(&mut h, "bob in the user list", |h| shows(h, "bob"))?;
    step_until(&mut h, "bob's connection in the live log", |h| {
        shows_part(h, "bob connected from 127.0.0.1:")
    })?;
    let bob_addr = h
        .state()
        .host()
        .users()
        .iter()
        .find(|u| u.nick == "bob")
        .map(|u| u.addr.to_string())
        .context("bob not listed")?;
    assert!(shows(&h, &bob_addr), "the address {bob_addr} is shown");

    // Closing the window while bob is here asks first; "Keep running" keeps it.
    h.input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    h.step();
    h.step();
    assert!(
        shows(&h, "Stop your server and quit?"),
        "asked before closing"
    );
    click(&mut h, "Keep running")?;
    assert!(!shows(&h, "Stop your server and quit?"));
    assert!(h.state().host().is_running());

    // Send to everyone.
    fill(&mut h, "Message to everyone", "¡Hola a todos! 🎉");
    click(&mut h, "Send to all")?;
    let line =
        rt.block_on(bob.expect(|l| common::is(l, "NOTICE", "bob") || l.contains(" NOTICE $")))?;
    assert!(line.ends_with(":¡Hola a todos! 🎉"), "got {line}");

    // Send to this user.
    click(&mut h, "bob")?;
    fill(&mut h, "Message to this user", "solo para vos");
    click(&mut h, "Send to this user")?;
    let line = rt.block_on(bob.expect(|l| common::is(l, "NOTICE", "bob")))?;
    assert!(line.ends_with(":solo para vos"), "got {line}");

    // Their message shows in the live log.
    rt.block_on(bob.send("JOIN #charla\r\nPRIVMSG #charla :gracias"))?;
    step_until(&mut h, "bob's message in the live log", |h| {
        shows_part(h, "bob to #charla: gracias")
    })?;

    // Kick (bob is still the selected user).
    click(&mut h, "Kick")?;
    rt.block_on(bob.expect_closed())?;
    step_until(&mut h, "bob gone from the user list", |h| {
        !h.state().host().users().iter().any(|u| u.nick == "bob")
    })?;

    // Stop: the console says so.
    click(&mut h, "■ Stop server")?;
    step_until(&mut h, "the server stopped", |h| {
        shows(h, "Server stopped.")
    })?;
    // The host's own chat says why it is disconnected: its server stopped.
    step_until(&mut h, "the host's chat told why", |h| {
        h.state()
            .sessions()
            .first()
            .is_some_and(|s| s.hosted && s.status_text().contains("your server stopped"))
    })?;
    Ok(())
}

#[test]
fn a_tls_server_is_trusted_by_its_own_host_without_asking() -> Result<()> {
    let rt = runtime()?;
    // Settings on disk this time: the server's certificate goes beside them.
    let dir = std::env::temp_dir().join(format!("charla-app-host-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let trust = charla_client::TrustStore::in_memory();
    let options = AppOptions {
        store: charla_app::config::ConfigStore::at(dir.join("charla.toml")),
        trust: trust.clone(),
        notifications: false,
        secrets: charla_app::secrets::Secrets::in_memory(),
    };
    let mut h = app(&rt, options);

    click(&mut h, "Host a server")?;
    fill(&mut h, "Server port", "0");
    fill(&mut h, "Host nick", "anfitrión");
    click(&mut h, "TLS")?;
    click(&mut h, "▶ Start server")?;
    step_until(&mut h, "the server running", |h| {
        h.state().host().is_running()
    })?;
    let addr = h.state().host().address().context("no address")?;
    let fingerprint = h
        .state()
        .host()
        .tls_fingerprint()
        .context("no TLS fingerprint")?
        .to_owned();
    assert!(
        shows(&h, &fingerprint),
        "the console shows the fingerprint to pass on"
    );

    // The host's chat connects over TLS, pinned to the server's own certificate, no prompt.
    step_until(&mut h, "the host's chat connected over TLS", |h| {
        h.state()
            .sessions()
            .first()
            .is_some_and(|s| s.hosted && s.config.tls && s.is_connected())
    })?;
    assert!(!shows(&h, "Trust this server's certificate?"));
    assert_eq!(trust.pinned("127.0.0.1", addr.port()), Some(fingerprint));
    step_until(&mut h, "the host in the user list", |h| {
        shows(h, "anfitrión")
    })?;

    // The port speaks TLS only: a plain-text client does not get in.
    assert!(
        rt.block_on(TestClient::register(addr, "bob")).is_err(),
        "plain text on a TLS port"
    );
    assert!(
        !h.state().host().users().iter().any(|u| u.nick == "bob"),
        "never registered"
    );
    assert!(
        std::fs::read_dir(dir.join("server"))?.next().is_some(),
        "the certificate is kept beside the settings"
    );
    drop(h);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
