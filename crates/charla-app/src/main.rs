//! `charla`: the desktop app. Creates the tokio runtime that the connections and the embedded
//! server run on, then hands the window to eframe.

use anyhow::Context as _;
use charla_app::cli::{Args, server_config};
use charla_app::{AppOptions, CharlaApp};
use clap::Parser as _;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let nick = args.nick.clone().unwrap_or_else(default_nick);
    let connect = match &args.server {
        Some(target) => Some(
            server_config(target, &nick)
                .map_err(|e| anyhow::anyhow!("cannot connect to {target}: {e}"))?,
        ),
        None => None,
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    // Two workers suffice for a handful of connections and a small embedded server; the UI
    // thread stays eframe's.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("charla-net")
        .enable_all()
        .build()
        .context("cannot start the network runtime")?;
    let handle = runtime.handle().clone();
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Charla")
            .with_app_id("charla")
            .with_inner_size([1100.0, 720.0])
            .with_min_inner_size([640.0, 420.0]),
        // glow: OpenGL, which Mesa renders in software where there is no GPU.
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    let result = eframe::run_native(
        "Charla",
        options,
        Box::new(move |cc| {
            let mut app = CharlaApp::new(cc.egui_ctx.clone(), handle, AppOptions::user());
            if let Some(config) = connect {
                let label = format!("{}:{}", config.host, config.port);
                app.open_session(label, config, None);
            }
            if let Some(port) = args.host {
                app.host_now(port, &nick, args.tls);
            }
            Ok(Box::new(app))
        }),
    );
    // Let QUIT lines and the server's goodbyes go out, but never hang on exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result.map_err(|e| anyhow::anyhow!("the window failed: {e}"))
}

/// The user's login name as a nick when none is given (ASCII letters and digits only, as
/// servers expect of a first guess), or "charla".
fn default_nick() -> String {
    let user = std::env::var("USER").unwrap_or_default();
    let nick: String = user
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect();
    if nick.is_empty() || nick.starts_with(|c: char| c.is_ascii_digit()) {
        "charla".to_owned()
    } else {
        nick
    }
}
