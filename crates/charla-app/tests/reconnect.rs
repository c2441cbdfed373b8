//! The server restarts: the window shows the connection lost, comes back by itself, in the
//! same channel, and says "Reconnected" there.

mod common;

use anyhow::{Context as _, Result};
use charla_app::AppOptions;
use charla_client::ConnectionStatus;
use charla_server::{Config, Server};
use common::{app, connect, runtime, say, server, shows, step_until};

#[test]
fn comes_back_by_itself_after_a_server_restart() -> Result<()> {
    let rt = runtime()?;
    let (first, addr) = server(&rt)?;
    let mut h = app(&rt, AppOptions::ephemeral());
    connect(&mut h, addr, "Ñandú")?;
    say(&mut h, "/join #charla");
    step_until(&mut h, "the channel", |h| shows(h, "@Ñandú"))?;

    rt.block_on(first.shutdown());
    drop(first);
    step_until(&mut h, "the loss of the connection", |h| {
        h.state()
            .sessions()
            .first()
            .is_some_and(|s| matches!(s.state.status, ConnectionStatus::Disconnected { .. }))
    })?;
    assert!(
        common::shows_part(&h, "disconnected"),
        "the status bar says so"
    );

    // The same port again (the client reconnects to where it was).
    let second = rt.block_on(Server::start(Config::with_listener(addr)))?;
    step_until(&mut h, "reconnected and back in #charla", |h| {
        h.state()
            .sessions()
            .first()
            .is_some_and(|s| s.is_connected())
            && shows(h, "@Ñandú")
    })?;
    let session = h.state().sessions().first().context("no session")?;
    let channel = session
        .state
        .buffer(&charla_client::BufferId::Channel("#charla".into()))
        .context("no #charla")?;
    assert!(channel.joined, "rejoined");
    assert!(
        channel.lines.iter().any(|l| l.text == "Reconnected"),
        "the channel says it reconnected"
    );
    assert!(shows(&h, "Reconnected"), "and it is on screen");
    assert!(second.users().iter().any(|u| u.nick == "Ñandú"));
    Ok(())
}
