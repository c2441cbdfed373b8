//! The connect screen: mistakes are explained next to the form, saved servers go to the
//! settings file and come back on the next start, and a refused connection says why.

mod common;

use anyhow::{Context as _, Result};
use charla_app::AppOptions;
use charla_app::config::ConfigStore;
use charla_client::TrustStore;
use common::{app, click, fill, runtime, shows, shows_part, step_until};
use egui_kittest::kittest::Queryable as _;

#[test]
fn mistakes_are_explained_and_saved_servers_persist() -> Result<()> {
    let rt = runtime()?;
    let dir = std::env::temp_dir().join(format!("charla-app-connect-{}", std::process::id()));
    let options = AppOptions {
        store: ConfigStore::at(dir.join("charla.toml")),
        trust: TrustStore::in_memory(),
        notifications: false,
        secrets: charla_app::secrets::Secrets::in_memory(),
    };

    let mut h = app(&rt, options.clone());
    click(&mut h, "Connect")?;
    assert!(shows(&h, "Choose a nick: the name others see you by."));
    fill(&mut h, "Nick", "Ñandú");
    fill(&mut h, "Port", "seis");
    click(&mut h, "Connect")?;
    assert!(shows_part(&h, "The port must be a number from 1 to 65535"));
    assert!(h.state().sessions().is_empty(), "nothing connected");

    fill(&mut h, "Port", "6697");
    fill(&mut h, "Name", "Casa 🎉");
    click(&mut h, "Save")?;
    // Desktop notifications off (the setting is saved too).
    click(&mut h, "Notifications")?;
    drop(h);

    // A new start finds the saved server and fills the form with it.
    let mut h = app(&rt, options);
    h.step();
    assert!(shows(&h, "Casa 🎉  ·  Ñandú"), "the saved server is listed");
    assert_eq!(
        h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Port")
            .value()
            .as_deref(),
        Some("6697")
    );
    let saved = std::fs::read_to_string(dir.join("charla.toml"))?;
    assert!(saved.contains("notifications = false"), "{saved}");
    // Deleting asks first: Cancel keeps the server, "Delete server" removes it.
    click(&mut h, "Casa 🎉  ·  Ñandú")?;
    click(&mut h, "Delete")?;
    step_until(&mut h, "the question", |h| {
        shows(h, "Delete this saved server?")
    })?;
    click(&mut h, "Cancel")?;
    h.step();
    assert!(shows(&h, "Casa 🎉  ·  Ñandú"), "cancel keeps it");
    click(&mut h, "Delete")?;
    step_until(&mut h, "the question", |h| {
        shows(h, "Delete this saved server?")
    })?;
    click(&mut h, "Delete server")?;
    step_until(&mut h, "the server gone", |h| {
        !shows(h, "Casa 🎉  ·  Ñandú")
    })?;
    assert!(
        !saved.contains("password"),
        "passwords are never written: {saved}"
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn a_refused_connection_says_why() -> Result<()> {
    let rt = runtime()?;
    // A port with nothing listening: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut h = app(&rt, AppOptions::ephemeral());
    fill(&mut h, "Port", &port.to_string());
    fill(&mut h, "Nick", "ana");
    click(&mut h, "Connect")?;
    // In plain words, with what to try and the technical details on hover.
    let words = format!("Nothing answers at 127.0.0.1, port {port}.");
    step_until(&mut h, "the failure in the status bar", |h| {
        shows_part(h, &words)
    })?;
    h.get_by_label_contains(&words).hover();
    step_until(&mut h, "the details on hover", |h| {
        shows_part(h, "Details: the server refused the connection")
            && shows_part(h, "Check the address and the port")
    })?;
    assert!(shows(&h, "Reconnect now"), "the user can retry at once");
    // Or give up: a right click on the server in the side list offers to close it.
    let label = h.state().sessions()[0].label.clone();
    h.get_by_label(&label).click_secondary();
    step_until(&mut h, "the server's menu", |h| {
        shows(h, "Disconnect and close")
    })?;
    click(&mut h, "Disconnect and close")?;
    step_until(&mut h, "the session closed", |h| {
        h.state().sessions().is_empty()
    })?;
    Ok(())
}

#[test]
fn ticking_tls_suggests_the_tls_port() -> Result<()> {
    let rt = runtime()?;
    let mut h = app(&rt, AppOptions::ephemeral());
    h.step();
    let port = |h: &egui_kittest::Harness<'static, charla_app::CharlaApp>| {
        h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Port")
            .value()
    };
    fill(&mut h, "Port", "6667");
    click(&mut h, "Use TLS (encrypted)")?;
    assert_eq!(port(&h).as_deref(), Some("6697"));
    click(&mut h, "Use TLS (encrypted)")?;
    assert_eq!(port(&h).as_deref(), Some("6667"));
    // A port of the user's own stays as it is.
    fill(&mut h, "Port", "7000");
    click(&mut h, "Use TLS (encrypted)")?;
    assert_eq!(port(&h).as_deref(), Some("7000"));
    Ok(())
}

#[test]
fn tls_to_a_plain_port_and_a_wrong_server_password_are_explained() -> Result<()> {
    let rt = runtime()?;
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse()?;
    let mut config = charla_server::Config::with_listener(addr);
    config.password = Some("contraseña".to_owned());
    let server = rt.block_on(charla_server::Server::start(config))?;
    let addr = *server.local_addrs().first().context("no listener")?;

    // TLS to a port that speaks plain IRC.
    let mut h = app(&rt, AppOptions::ephemeral());
    fill(&mut h, "Port", &addr.port().to_string());
    fill(&mut h, "Nick", "ana");
    click(&mut h, "Use TLS (encrypted)")?;
    fill(&mut h, "Port", &addr.port().to_string());
    click(&mut h, "Connect")?;
    let words = format!("The server at port {} does not speak TLS.", addr.port());
    step_until(&mut h, "the TLS problem in words", |h| {
        shows_part(h, &words)
    })?;
    drop(h);

    // Plain, without the server's password.
    let mut h = app(&rt, AppOptions::ephemeral());
    fill(&mut h, "Port", &addr.port().to_string());
    fill(&mut h, "Nick", "ana");
    click(&mut h, "Connect")?;
    step_until(&mut h, "the password problem in words", |h| {
        shows_part(h, "The server did not accept its password.")
    })?;
    Ok(())
}
