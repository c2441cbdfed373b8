//! `charla-server`: the headless Charla IRC server.
//!
//! Runs the server from a TOML config (or defaults), logs the live events with `tracing`, and
//! shuts down gracefully on SIGINT/SIGTERM (clients get `ERROR :Server shutting down`).
//! `charla-server hash-password` prints an Argon2 hash for an `[[opers]]` entry.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context;
use charla_server::{Config, Server, ServerEvent};
use clap::{Parser, Subcommand};
use tokio::sync::broadcast::error::RecvError;
use tracing::{info, warn};

/// mimalloc gives memory freed after a peak back to the system within milliseconds (glibc's
/// allocator kept it: docs/PROFILE.md, "Memory after a peak").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The Charla IRC server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The TOML configuration file (see the README, "Configuration"); without it, defaults are used
    /// (listen on 0.0.0.0:6667, and with TLS on 0.0.0.0:6697 with a self-signed certificate
    /// generated into ./data).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Reads a password from standard input and prints its Argon2id hash, for `[[opers]]`.
    HashPassword,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::HashPassword) = cli.command {
        return hash_password();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = match &cli.config {
        Some(path) => {
            let (config, warnings) = Config::load(path)?;
            for w in warnings {
                warn!("{w}");
            }
            config
        }
        None => Config::default(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(run(config))
}

async fn run(config: Config) -> anyhow::Result<()> {
    let handle = Server::start(config).await?;
    for (addr, tls) in handle.listeners() {
        info!(%addr, tls, server = %handle.server_name(), "charla-server listening");
    }
    let mut events = handle.subscribe();
    let log = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => log_event(&event),
                Err(RecvError::Lagged(n)) => warn!(skipped = n, "event log fell behind"),
                Err(RecvError::Closed) => break,
            }
        }
    });
    wait_for_signal().await?;
    info!("shutting down");
    handle.shutdown().await;
    log.abort();
    info!("bye");
    Ok(())
}

fn log_event(event: &ServerEvent) {
    match event {
        ServerEvent::Connected { id, addr } => info!(conn_id = %id, %addr, "connected"),
        ServerEvent::Registered {
            id,
            nick,
            user,
            addr,
        } => {
            info!(conn_id = %id, %nick, %user, %addr, "registered");
        }
        ServerEvent::Disconnected {
            id,
            nick,
            addr,
            reason,
        } => {
            info!(conn_id = %id, nick = nick.as_deref().unwrap_or("*"), %addr, %reason, "disconnected")
        }
        ServerEvent::Joined { nick, channel } => info!(%nick, %channel, "join"),
        ServerEvent::Parted {
            nick,
            channel,
            reason,
        } => info!(%nick, %channel, reason = reason.as_deref().unwrap_or(""), "part"),
        ServerEvent::Kicked {
            channel,
            nick,
            by,
            reason,
        } => info!(%channel, %nick, %by, %reason, "kick"),
        ServerEvent::NickChanged { old, new } => info!(%old, %new, "nick"),
        ServerEvent::Message {
            from,
            target,
            text,
            kind,
        } => info!(%from, %target, ?kind, %text, "message"),
        ServerEvent::TopicChanged { channel, by, topic } => info!(%channel, %by, %topic, "topic"),
        ServerEvent::Opered { nick, name } => info!(%nick, oper = %name, "oper"),
        other => info!(?other, "event"),
    }
}

#[cfg(unix)]
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot listen for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")
}

fn hash_password() -> anyhow::Result<()> {
    eprintln!("Password (one line on standard input):");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password")?;
    let password = line.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(!password.is_empty(), "empty password");
    let hash = charla_server::command::oper::hash_password(password)
        .map_err(|e| anyhow::anyhow!("cannot hash: {e}"))?;
    println!("{hash}");
    Ok(())
}
