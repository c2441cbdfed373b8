//! `charla-server`: the headless Charla IRC server.
//!
//! Runs the server from a TOML config (or defaults), logs the live events with `tracing`, and
//! shuts down gracefully on SIGINT/SIGTERM (clients get `ERROR :Server shutting down`).
//! `charla-server hash-password` prints an Argon2 hash for an `[[opers]]` entry.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use anyhow::Context;
use charla_server::logtext::Escaped;
use charla_server::{Config, Server, ServerEvent};
use clap::{Parser, Subcommand};
use tokio::sync::broadcast::error::RecvError;
use tracing::{debug, info, warn};

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
    /// Copies the store (accounts, channel registrations) into a new SQLite file, consistently,
    /// while the server runs (SQLite's online backup). Uses the store of `--config`.
    Backup {
        /// The new file; it must not exist.
        file: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::HashPassword) => return hash_password(),
        Some(Command::Backup { file }) => return backup(cli.config.as_deref(), file),
        None => {}
    }
    tracing_subscriber::fmt()
        // Colour only on a terminal: a log file or a journal gets no escape sequences.
        .with_ansi(std::io::stdout().is_terminal())
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
    let signal = shutdown_signal()?;
    let message_text = config.log.message_text;
    // A cluster node drains at a stop: its users go to the other nodes a few at a time.
    let drain = config
        .cluster
        .enabled()
        .then_some(config.cluster.drain_per_sec);
    let handle = Server::start(config).await?;
    // Subscribed before "listening" is said: whoever connects on reading that line (a test, a
    // supervisor) must find its events in the log.
    let mut events = handle.subscribe();
    for (addr, tls) in handle.listeners() {
        info!(%addr, tls, server = %handle.server_name(), "charla-server listening");
    }
    let log = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => log_event(&event, message_text),
                Err(RecvError::Lagged(n)) => warn!(skipped = n, "event log fell behind"),
                Err(RecvError::Closed) => break,
            }
        }
    });
    signal.await;
    info!("shutting down");
    match drain {
        Some(per_second) => handle.drain(per_second).await,
        None => handle.shutdown().await,
    }
    log.abort();
    info!("bye");
    Ok(())
}

/// One line of the live log per event. Every user-supplied string is escaped ([`Escaped`]);
/// message text only with `[log] message_text = true`.
fn log_event(event: &ServerEvent, message_text: bool) {
    use Escaped as E;
    match event {
        ServerEvent::Connected { id, addr } => info!(conn_id = %id, %addr, "connected"),
        ServerEvent::Registered {
            id,
            nick,
            user,
            addr,
        } => {
            info!(conn_id = %id, nick = %E(nick), user = %E(user), %addr, "registered");
        }
        ServerEvent::Disconnected {
            id,
            nick,
            addr,
            reason,
            stays,
        } => {
            let nick = nick.as_deref().unwrap_or("*");
            info!(conn_id = %id, nick = %E(nick), %addr, reason = %E(reason), user_stays = stays,
                "disconnected")
        }
        ServerEvent::Joined { nick, channel } => {
            info!(nick = %E(nick), channel = %E(channel), "join")
        }
        ServerEvent::Parted {
            nick,
            channel,
            reason,
        } => {
            let reason = reason.as_deref().unwrap_or("");
            info!(nick = %E(nick), channel = %E(channel), reason = %E(reason), "part")
        }
        ServerEvent::Kicked {
            channel,
            nick,
            by,
            reason,
        } => {
            info!(channel = %E(channel), nick = %E(nick), by = %E(by), reason = %E(reason), "kick")
        }
        ServerEvent::NickChanged { old, new } => info!(old = %E(old), new = %E(new), "nick"),
        ServerEvent::Message {
            from,
            target,
            text,
            kind,
        } => {
            if message_text {
                info!(from = %E(from), target = %E(target), ?kind, text = %E(text), "message")
            } else {
                debug!(from = %E(from), target = %E(target), ?kind, "message")
            }
        }
        ServerEvent::TopicChanged { channel, by, topic } => {
            info!(channel = %E(channel), by = %E(by), topic = %E(topic), "topic")
        }
        ServerEvent::Renamed { old, new, by } => {
            info!(old = %E(old), new = %E(new), by = %E(by), "rename")
        }
        ServerEvent::Opered { nick, name } => info!(nick = %E(nick), oper = %E(name), "oper"),
        other => info!(event = %E(&format!("{other:?}")), "event"),
    }
}

/// Installs the SIGTERM and SIGINT handlers now (so that a signal sent as soon as the server
/// says it listens is not the default, fatal one), and gives the future that waits for either.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

fn backup(config: Option<&std::path::Path>, dest: &std::path::Path) -> anyhow::Result<()> {
    use charla_server::config::StoreBackend;
    use charla_store::Store;
    let config = match config {
        Some(path) => Config::load(path)?.0,
        None => Config::default(),
    };
    let (store, source): (Box<dyn Store>, String) = match config.store.backend {
        StoreBackend::Memory => {
            anyhow::bail!("the configured store is in memory: there is nothing on disk to back up")
        }
        StoreBackend::Sqlite => {
            let path = config.store.sqlite_path(&config.data_dir);
            anyhow::ensure!(
                path.exists(),
                "no store at {} (has the server run with this configuration?)",
                path.display()
            );
            let store = charla_store::SqliteStore::open(&path)?;
            (Box::new(store), path.display().to_string())
        }
        // An SQLite copy of the PostgreSQL database, from one snapshot (pg_dump works too).
        StoreBackend::Postgres => {
            let url = config
                .store
                .url
                .as_ref()
                .context("store.url is needed with backend = \"postgres\"")?;
            let store = charla_store::PostgresStore::open(url.expose())?;
            let source = store.database().to_owned();
            (Box::new(store), source)
        }
    };
    store.backup(dest)?;
    eprintln!("backed up {source} to {}", dest.display());
    Ok(())
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
    let hash = charla_server::account::password::hash_password(password)
        .map_err(|e| anyhow::anyhow!("cannot hash: {e}"))?;
    println!("{hash}");
    Ok(())
}
