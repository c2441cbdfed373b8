//! Deleting a message (draft/message-redaction) against a real in-process Charla server: the
//! client asks for the capability, `Command::Redact` deletes our own message, and every
//! client that saw it shows the line as deleted, without its text; someone else's message
//! is refused in words. Every wait is bounded (`common::STEP`).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use charla_client::{BufferId, ClientOptions, Command, Event, LineKind, ServerConfig, State};
use charla_server::{Config, Server, ServerHandle};
use common::App;

async fn server() -> Result<(ServerHandle, u16)> {
    let mut config = Config::with_listener("127.0.0.1:0".parse::<SocketAddr>()?);
    config.flood.burst = 500;
    config.flood.lines_per_sec = 500.0;
    let handle = Server::start(config).await?;
    let port = handle.local_addrs()[0].port();
    Ok((handle, port))
}

async fn connect(port: u16, nick: &str) -> Result<App> {
    let options = ClientOptions {
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        ..ClientOptions::default()
    };
    let mut app = App::start(ServerConfig::new("127.0.0.1", port, nick), options);
    app.until("capabilities", |e| {
        matches!(e, Event::Capabilities { enabled } if enabled.iter().any(|c| c == "draft/message-redaction"))
    })
    .await?;
    app.until("registered", |e| matches!(e, Event::Registered { .. }))
        .await?;
    Ok(app)
}

fn chan() -> BufferId {
    BufferId::Channel("#borra".to_owned())
}

/// The line of `#borra` that `pred` picks.
fn line_with(
    state: &State,
    pred: impl Fn(&charla_client::Line) -> bool,
) -> Option<&charla_client::Line> {
    state.buffer(&chan())?.lines.iter().find(|l| pred(l))
}

#[tokio::test]
async fn our_message_is_deleted_everywhere_and_another_s_is_refused() -> Result<()> {
    let (_server, port) = server().await?;
    let mut ana = connect(port, "ana").await?;
    let mut bob = connect(port, "bob").await?;
    for app in [&mut ana, &mut bob] {
        app.input(BufferId::Server, "/join #borra");
        app.until_state("joined", |s| s.buffer(&chan()).is_some_and(|b| b.joined))
            .await?;
    }
    ana.handle.send(Command::Privmsg {
        target: "#borra".into(),
        text: "mi clave es zanahoria".into(),
    })?;
    let secret = |l: &charla_client::Line| l.text == "mi clave es zanahoria";
    ana.until_state("own echo with its id", |s| {
        line_with(s, secret).is_some_and(|l| l.msgid.is_some())
    })
    .await?;
    bob.until_state("bob sees it", |s| line_with(s, secret).is_some())
        .await?;
    let msgid = line_with(&ana.state, secret)
        .and_then(|l| l.msgid.clone())
        .context("msgid")?;

    // bob may not delete ana's message: an error line, the message stays.
    bob.handle.send(Command::Redact {
        target: "#borra".into(),
        msgid: msgid.clone(),
        reason: None,
    })?;
    bob.until_state("the refusal in words", |s| {
        s.buffers.iter().any(|b| {
            b.lines
                .iter()
                .any(|l| l.kind == LineKind::Error && l.text.contains("not authorised"))
        })
    })
    .await?;
    assert!(line_with(&bob.state, secret).is_some());

    // ana deletes it: both show "message deleted", by ana, at its time; the text is gone.
    let sent_at = line_with(&ana.state, secret)
        .map(|l| l.time)
        .context("time")?;
    ana.handle.send(Command::Redact {
        target: "#borra".into(),
        msgid: msgid.clone(),
        reason: Some("ups".into()),
    })?;
    for app in [&mut ana, &mut bob] {
        let id = msgid.clone();
        app.until_state("the line deleted", move |s| {
            line_with(s, |l| l.msgid.as_deref() == Some(&id))
                .is_some_and(|l| l.kind == LineKind::Deleted)
        })
        .await?;
        let line =
            line_with(&app.state, |l| l.msgid.as_deref() == Some(&msgid)).context("the line")?;
        assert_eq!(line.text, "message deleted (ups)");
        assert_eq!(line.nick.as_deref(), Some("ana"));
        assert_eq!(line.time, sent_at);
        assert!(line_with(&app.state, |l| l.text.contains("zanahoria")).is_none());
    }
    Ok(())
}
