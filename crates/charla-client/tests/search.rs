//! Search (`soju.im/search`) against a real in-process Charla server on 127.0.0.1:0: what was
//! said is found by its words, without case or accents, everywhere or in one channel, and the
//! results stay out of the buffers. Every wait is bounded (`common::STEP`).

mod common;

use std::net::SocketAddr;

use anyhow::Result;
use charla_client::{
    BufferId, ClientOptions, Command, Event, LineKind, SearchLine, SearchQuery, ServerConfig, State,
};
use charla_server::config::BeforeJoin;
use charla_server::{Config, Server, ServerHandle};
use common::App;

async fn server() -> Result<(ServerHandle, u16)> {
    let mut config = Config::with_listener("127.0.0.1:0".parse::<SocketAddr>()?);
    config.history.before_join = BeforeJoin::Always;
    // Room for fast senders.
    config.flood.burst = 500;
    config.flood.lines_per_sec = 500.0;
    config.flood.recvq_bytes = 1 << 20;
    let handle = Server::start(config).await?;
    let port = handle.local_addrs()[0].port();
    Ok((handle, port))
}

async fn connect(port: u16, nick: &str) -> Result<App> {
    let options = ClientOptions {
        send_burst: 500,
        send_rate: 500.0,
        ..common::fast()
    };
    let mut app = App::start(ServerConfig::new("127.0.0.1", port, nick), options);
    app.until("registered", |e| matches!(e, Event::Registered { .. }))
        .await?;
    Ok(app)
}

async fn join(app: &mut App, channel: &str) -> Result<()> {
    app.input(BufferId::Server, &format!("/join {channel}"));
    let id = BufferId::Channel(channel.to_owned());
    app.until_state("joined", |s| s.buffer(&id).is_some_and(|b| b.joined))
        .await
}

/// Says `text` in `target` and waits for the server's echo.
async fn say(app: &mut App, target: &str, text: &str) -> Result<()> {
    app.handle.send(Command::Privmsg {
        target: target.to_owned(),
        text: text.to_owned(),
    })?;
    let id = BufferId::Channel(target.to_owned());
    app.until_state("own echo", |s| {
        s.buffer(&id)
            .is_some_and(|b| b.lines.iter().any(|l| l.own && l.text == text))
    })
    .await
}

/// Searches and waits for the answer.
async fn search(
    app: &mut App,
    text: &str,
    target: Option<&str>,
) -> Result<(SearchQuery, Vec<SearchLine>, Option<String>)> {
    app.handle.send(Command::Search {
        text: text.to_owned(),
        target: target.map(str::to_owned),
    })?;
    let ev = app
        .until("search results", |e| {
            matches!(e, Event::SearchResults { .. })
        })
        .await?;
    let Event::SearchResults {
        query,
        lines,
        error,
    } = ev
    else {
        unreachable!()
    };
    Ok((query, lines, error))
}

fn found(lines: &[SearchLine]) -> Vec<(&str, &str, &str)> {
    lines
        .iter()
        .map(|l| (l.target.as_str(), l.sender.as_str(), l.text.as_str()))
        .collect()
}

#[tokio::test]
async fn search_finds_words_without_accents_everywhere_or_in_one_channel() -> Result<()> {
    let (_server, port) = server().await?;
    let mut bob = connect(port, "bob").await?;
    join(&mut bob, "#a").await?;
    join(&mut bob, "#b").await?;
    join(&mut bob, "#secreto").await?;
    say(&mut bob, "#a", "¿Qué tal, Ñandú?").await?;
    say(&mut bob, "#a", "nada que ver; sí").await?;
    say(&mut bob, "#b", "QUE SÍ").await?;
    say(&mut bob, "#b", "adiós").await?;
    say(&mut bob, "#secreto", "que no lo sepa ana").await?;

    let mut ana = connect(port, "ana").await?;
    assert!(ana.state.has_cap("soju.im/search"));
    join(&mut ana, "#a").await?;
    join(&mut ana, "#b").await?;
    let lines_in_a = |s: &State| {
        s.buffer(&BufferId::Channel("#a".into()))
            .map_or(0, |b| b.lines.len())
    };
    // Let the history of both channels arrive first, so the buffers stand still.
    ana.until_state("history of #b", |s| {
        s.buffer(&BufferId::Channel("#b".into()))
            .is_some_and(|b| b.history.answers > 0)
            && s.buffer(&BufferId::Channel("#a".into()))
                .is_some_and(|b| b.history.answers > 0)
    })
    .await?;
    let before = lines_in_a(&ana.state);

    // Everywhere ana may read (not #secreto), oldest first; "que" finds "¿Qué…".
    let (query, lines, error) = search(&mut ana, "que", None).await?;
    assert_eq!(error, None);
    assert_eq!(query.text, "que");
    assert_eq!(
        found(&lines),
        [
            ("#a", "bob", "¿Qué tal, Ñandú?"),
            ("#a", "bob", "nada que ver; sí"),
            ("#b", "bob", "QUE SÍ"),
        ]
    );
    assert!(lines.iter().all(|l| l.msgid.is_some()));
    assert!(lines.windows(2).all(|w| w[0].time <= w[1].time));
    assert!(lines.iter().all(|l| l.kind == LineKind::Message));

    // One channel only; several words, with a space and a `;` to escape.
    let (query, lines, error) = search(&mut ana, "que", Some("#b")).await?;
    assert_eq!((query.target.as_deref(), error), (Some("#b"), None));
    assert_eq!(found(&lines), [("#b", "bob", "QUE SÍ")]);
    let (_, lines, _) = search(&mut ana, "NANDU qué", Some("#a")).await?;
    assert_eq!(found(&lines), [("#a", "bob", "¿Qué tal, Ñandú?")]);
    let (_, lines, error) = search(&mut ana, "ver; si", None).await?;
    assert_eq!(error, None);
    assert_eq!(found(&lines), [("#a", "bob", "nada que ver; sí")]);
    let (_, lines, error) = search(&mut ana, "nandu", Some("#b")).await?;
    assert_eq!((lines.len(), error), (0, None));

    // Refusals come back as empty results with the server's words.
    let (_, lines, error) = search(&mut ana, "que", Some("#secreto")).await?;
    assert!(lines.is_empty());
    assert!(error.is_some_and(|e| !e.is_empty()));
    let (_, lines, error) = search(&mut ana, "  ", None).await?;
    assert!(lines.is_empty() && error.is_some());

    // Results are not history: the buffers are as they were.
    assert_eq!(lines_in_a(&ana.state), before);
    Ok(())
}
