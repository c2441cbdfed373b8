//! How long one frame of the chat view takes with a full scroll-back: 5,000 lines in
//! #charla (links, emoji, mentions, joins), drawn in the egui_kittest harness without a GPU,
//! so this is egui's layout work plus ours.
//!
//! ```text
//! cargo run --release -p charla-app --example frame_time
//! ```

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use charla_app::{AppOptions, CharlaApp};
use charla_client::{BufferId, Event, ServerConfig};
use charla_proto::OwnedMessage;
use egui_kittest::Harness;

fn main() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let handle = rt.handle().clone();
    let mut h: Harness<'static, CharlaApp> = Harness::builder()
        .with_size(egui::vec2(1200.0, 800.0))
        .build_eframe(move |cc| {
            CharlaApp::new(cc.egui_ctx.clone(), handle, AppOptions::ephemeral())
        });
    // A connection to a closed port: it only retries, and the state is ours to fill.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    h.state_mut().open_session(
        "bench".into(),
        ServerConfig::new("127.0.0.1", port, "Ñandú"),
        None,
    );
    let session = h
        .state_mut()
        .sessions_mut()
        .first_mut()
        .context("session")?;
    let feed = |line: &str| -> Result<Event> { Ok(Event::Irc(OwnedMessage::parse(line)?)) };
    session.state.apply(&feed(":Ñandú!u@h JOIN #charla")?);
    for i in 0..5_000 {
        let line = match i % 10 {
            0 => format!(":user{i}!u@h JOIN #charla"),
            1 => format!(":bob!u@h PRIVMSG #charla :Ñandú, mirá https://example.org/{i} 🎉"),
            2 => format!(":carla!u@h PRIVMSG #charla :\u{1}ACTION saluda {i}\u{1}"),
            _ => format!(
                ":bob!u@h PRIVMSG #charla :línea {i}: ¿qué tal? ñ á ü 😀 texto largo para ocupar el ancho"
            ),
        };
        session.state.apply(&feed(&line)?);
    }
    session.select(BufferId::Channel("#charla".into()));

    for _ in 0..5 {
        h.step(); // warm up: fonts, galley caches
    }
    let frames = 100;
    let start = Instant::now();
    let mut worst = Duration::ZERO;
    for _ in 0..frames {
        let t = Instant::now();
        h.step();
        worst = worst.max(t.elapsed());
    }
    let mean = start.elapsed() / frames;
    println!("chat view, 5000 lines (300 drawn): mean {mean:?} per frame, worst {worst:?}");
    Ok(())
}
