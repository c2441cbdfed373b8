//! A server with its file host on, an account on it, and the app logged in and in a channel:
//! for the tests of sending files and of link previews.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use charla_app::{AppOptions, CharlaApp};
use charla_client::{BufferId, SaslConfig, ServerConfig};
use charla_server::{Config, Server, ServerHandle};
use egui_kittest::Harness;

use super::{TestClient, app, step_until};

/// The accounts' password.
pub const PASSWORD: &str = "contraseña de la playa";
/// The file host's size limit.
pub const MAX_BYTES: u64 = 64 * 1024;
/// The channel the app joins.
pub const CHANNEL: &str = "#charla";

/// A directory of this test's own, emptied first.
pub fn scratch(name: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("charla-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A server with HTTP (plain, on 127.0.0.1) and the file host on, files kept in `dir`;
/// `public_url` replaces the host's origin in FILEHOST (to point the app elsewhere).
pub fn file_server(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    public_url: Option<String>,
) -> Result<(ServerHandle, SocketAddr)> {
    let mut config = Config::with_listener("127.0.0.1:0".parse()?);
    // The file links are made of the server's name: one the test can reach.
    config.server_name = "127.0.0.1".to_owned();
    config.http.enabled = true;
    config.http.tls = false;
    config.http.address = "127.0.0.1:0".parse()?;
    config.http.public_url = public_url;
    config.store = charla_server::config::StoreConfig::default();
    config.data_dir = dir.to_owned();
    config.files.enabled = true;
    config.files.max_bytes = MAX_BYTES;
    let handle = rt.block_on(Server::start(config))?;
    let addr = *handle.local_addrs().first().context("no listener")?;
    Ok((handle, addr))
}

/// Registers `account` (password [`PASSWORD`]) over IRC.
pub fn make_account(rt: &tokio::runtime::Runtime, addr: SocketAddr, account: &str) -> Result<()> {
    rt.block_on(async {
        let mut c = TestClient::register(addr, account).await?;
        c.send(&format!("REGISTER * * :{PASSWORD}")).await?;
        c.expect(|l| l.contains("REGISTER SUCCESS")).await?;
        c.send("QUIT").await
    })
}

/// The app logged in as `account` (or not, if `None`), in [`CHANNEL`], the file host known.
pub fn app_in_channel(
    rt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    nick: &str,
    account: Option<&str>,
) -> Result<Harness<'static, CharlaApp>> {
    let mut h = app(rt, AppOptions::ephemeral());
    let mut config = ServerConfig::new(&addr.ip().to_string(), addr.port(), nick);
    config.sasl = account.map(|a| SaslConfig::password(a, PASSWORD));
    config.autojoin = vec![CHANNEL.to_owned()];
    h.state_mut().open_session("test".to_owned(), config, None);
    step_until(&mut h, "joined, knowing the file host", |h| {
        h.state().sessions().first().is_some_and(|s| {
            s.state.isupport.filehost.is_some()
                && s.state.account.is_some() == account.is_some()
                && s.active == BufferId::Channel(CHANNEL.into())
        })
    })?;
    // The channel's view settles (its first frames lay out the panels).
    for _ in 0..5 {
        h.step();
    }
    Ok(h)
}
