//! [`Server::start`] and the [`ServerHandle`]: the operator API the app's "Host a server" mode
//! and the headless binary use.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Semaphore, broadcast, watch};
use tracing::{info, warn};

use charla_store::{MemoryStore, PostgresStore, SqliteStore, Store, StoreError, StoreHandle};

use crate::client::Transport;
use crate::config::{Config, ConfigError, StoreBackend};
use crate::connection::{self, Guards};
use crate::deliver::Payload;
use crate::event::{MessageKind, ServerEvent, UserInfo};
use crate::http::files::Files;
use crate::listener::{self, Refusal, Shared};
use crate::outbound::Outgoing;
use crate::state::State;
use crate::tls::{Tls, TlsError};
use crate::tracker::Tracker;

/// How long [`ServerHandle::shutdown`] waits for sessions to say goodbye.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid (or the MOTD file is unreadable).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// No listener is configured.
    #[error("no listeners configured")]
    NoListeners,
    /// A TLS listener is configured but its certificate could not be loaded or generated.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// The store (accounts, channel registrations) could not be opened or read: damaged,
    /// read-only, of a newer version, or its directory cannot be created.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The cluster link could not start (NATS, JetStream).
    #[error("cluster: {0}")]
    Cluster(#[from] crate::cluster::ClusterError),
}

/// Opens the configured store on a blocking thread (it reads and may migrate a file).
async fn open_store(config: &Config) -> Result<StoreHandle, StartError> {
    let store: Arc<dyn Store> = match config.store.backend {
        StoreBackend::Memory => Arc::new(MemoryStore::new()),
        StoreBackend::Sqlite => {
            // The data directory is private (as for the generated TLS key): accounts live here.
            let mut dir = std::fs::DirBuilder::new();
            dir.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
            dir.create(&config.data_dir).map_err(|e| StoreError::Io {
                action: "cannot create the data directory",
                path: config.data_dir.clone(),
                source: Arc::new(e),
            })?;
            let path = config.store.sqlite_path(&config.data_dir);
            let synchronous = match config.store.synchronous {
                crate::config::Synchronous::Full => charla_store::Synchronous::Full,
                crate::config::Synchronous::Normal => charla_store::Synchronous::Normal,
            };
            let opened =
                tokio::task::spawn_blocking(move || SqliteStore::open_with(&path, synchronous))
                    .await
                    .map_err(|e| StoreError::Spawn(Arc::new(std::io::Error::other(e))))?;
            Arc::new(opened?)
        }
        StoreBackend::Postgres => {
            let url = config.store.url.clone().ok_or_else(|| {
                ConfigError::Invalid("store.url is needed with backend = \"postgres\"".to_owned())
            })?;
            // Connecting and migrating block: on a blocking thread, like SQLite's open.
            let opened = tokio::task::spawn_blocking(move || PostgresStore::open(url.expose()))
                .await
                .map_err(|e| StoreError::Spawn(Arc::new(std::io::Error::other(e))))?;
            Arc::new(opened?)
        }
    };
    Ok(StoreHandle::new(store)?)
}

/// Why an operator action failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandleError {
    /// No registered user has that nick.
    #[error("no such nick: {0}")]
    NoSuchNick(String),
    /// No channel has that name.
    #[error("no such channel: {0}")]
    NoSuchChannel(String),
    /// The nick is not on that channel.
    #[error("not on that channel: {0}")]
    NotOnChannel(String),
    /// The message text is empty.
    #[error("empty message")]
    EmptyMessage,
    /// The server refused an in-process connection.
    #[error("connection refused: {0}")]
    Refused(Refusal),
}

/// The server. Start it with [`Server::start`].
#[derive(Debug)]
pub struct Server;

#[derive(Debug)]
struct Inner {
    state: Arc<State>,
    addrs: Vec<SocketAddr>,
    /// Each listener's bound address and whether it speaks TLS.
    listeners: Vec<(SocketAddr, bool)>,
    /// The HTTP listener's bound address, when it runs.
    http: Option<SocketAddr>,
    tls: Option<Arc<Tls>>,
    shared: Shared,
    shutdown_tx: watch::Sender<bool>,
}

/// A cheap, cloneable handle to a running server.
///
/// The server runs until [`shutdown`](ServerHandle::shutdown) is called: dropping every handle
/// does not stop it (the listeners keep their own reference to the state).
#[derive(Debug, Clone)]
pub struct ServerHandle {
    inner: Arc<Inner>,
}

impl Server {
    /// Binds the listeners and starts accepting on the current tokio runtime.
    pub async fn start(config: Config) -> Result<ServerHandle, StartError> {
        config.validate()?;
        if config.listeners.is_empty() {
            return Err(StartError::NoListeners);
        }
        let store = open_store(&config).await?;
        Self::start_on(config, store).await
    }

    /// Like [`start`](Self::start), keeping accounts, channels and history in `store` instead
    /// of the one `[store]` configures: for an application with a store of its own.
    pub async fn start_with_store(
        config: Config,
        store: Arc<dyn Store>,
    ) -> Result<ServerHandle, StartError> {
        config.validate()?;
        if config.listeners.is_empty() {
            return Err(StartError::NoListeners);
        }
        Self::start_on(config, StoreHandle::new(store)?).await
    }

    async fn start_on(config: Config, store: StoreHandle) -> Result<ServerHandle, StartError> {
        let motd = config.motd_lines()?;
        let mut registered = Vec::new();
        for record in store.channels().await? {
            // A registered channel keeps its draft/metadata-2 values.
            let metadata = store.metadata(format!("c:{}", record.key)).await?;
            registered.push((record, metadata));
        }
        // The certificate only matters (and is only generated) when a listener uses TLS.
        let http_tls = config.http.enabled && config.http.tls;
        let tls = if http_tls || config.listeners.iter().any(|l| l.tls) {
            let tls = Tls::load(&config.tls, &config.data_dir, &config.server_name)?;
            tls.log();
            Some(Arc::new(tls))
        } else {
            None
        };
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for l in &config.listeners {
            let tcp = bind(l.address, config.limits.socket_send_buffer).map_err(|source| {
                StartError::Bind {
                    addr: l.address,
                    source,
                }
            })?;
            addrs.push(tcp.local_addr().map_err(|source| StartError::Bind {
                addr: l.address,
                source,
            })?);
            listeners.push((tcp, l.tls, l.proxy));
        }
        let http = match config.http.enabled {
            true => {
                let addr = config.http.address;
                let bind_error = |source| StartError::Bind { addr, source };
                let tcp = bind(addr, config.limits.socket_send_buffer).map_err(bind_error)?;
                let bound = tcp.local_addr().map_err(bind_error)?;
                Some((tcp, bound))
            }
            false => None,
        };
        let http_addr = http.as_ref().map(|(_, addr)| *addr);
        let listener_addrs: Vec<(SocketAddr, bool)> = addrs
            .iter()
            .zip(&listeners)
            .map(|(addr, (_, tls, _))| (*addr, *tls))
            .collect();
        // STS sends plain clients to a TLS port they reach directly, not one behind a proxy.
        let tls_ports: Vec<u16> = addrs
            .iter()
            .zip(&listeners)
            .filter(|(_, (_, tls, proxy))| *tls && !*proxy)
            .map(|(addr, _)| addr.port())
            .collect();
        let sts = crate::sts::resolve(&config.sts, &tls_ports, tls.as_ref().map(|t| t.source()))
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Some(policy) = &sts {
            info!(
                port = policy.port,
                duration_secs = policy.duration_secs,
                preload = policy.preload,
                "STS policy on"
            );
        }
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let files = match http_addr {
            Some(bound) if config.files.enabled => {
                let base = crate::http::files::base_url(&config.http, &config.server_name, bound);
                let files = Files::open(config.files.clone(), &config.data_dir, base).map_err(
                    |source| StoreError::Io {
                        action: "cannot prepare the file host's directory",
                        path: config.data_dir.join("files"),
                        source: Arc::new(source),
                    },
                )?;
                Some(Arc::new(files))
            }
            _ => None,
        };
        let mut state = State::new(config, motd, store);
        state.sts = sts;
        if let Some(files) = &files {
            state.isupport.set("soju.im/FILEHOST", files.upload_url());
        }
        let shared = Shared {
            slots: Arc::new(Semaphore::new(state.config.limits.max_clients)),
            refusing: Arc::new(Semaphore::new(crate::listener::MAX_REFUSING)),
            state: Arc::new(state),
            tasks: Arc::new(Tracker::default()),
        };
        shared.state.load_registered_channels(registered);
        if shared.state.config.cluster.enabled() {
            let cluster =
                crate::cluster::Cluster::start(&shared.state, shared.tasks.clone()).await?;
            shared.state.set_cluster(cluster);
        }
        // Always-on users come back at start on one server. In a cluster the presences may be
        // in a store every node shares, and the users on another node by now: a node does not
        // bring them back (docs/CLUSTER.md).
        if shared.state.cluster().is_none() {
            crate::devices::restore(&shared.state).await;
        }
        if let Some(prune) = crate::history::retention(&shared.state.config) {
            // Before anyone can read it.
            crate::history::prune(&shared.state, &prune).await;
            tokio::spawn(crate::history::keep_pruning(
                shared.state.clone(),
                prune,
                shutdown_rx.clone(),
            ));
        }
        if let Some(files) = &files {
            crate::http::files::prune(&shared.state, files).await;
            tokio::spawn(crate::http::files::keep_pruning(
                shared.state.clone(),
                files.clone(),
                shutdown_rx.clone(),
            ));
        }
        for (tcp, uses_tls, proxy) in listeners {
            let kind = listener::Kind {
                tls: tls.clone().filter(|_| uses_tls),
                proxy,
            };
            tokio::spawn(listener::accept_loop(
                tcp,
                shared.clone(),
                kind,
                shutdown_rx.clone(),
            ));
        }
        if let Some((tcp, _)) = http {
            tokio::spawn(crate::http::accept_loop(
                tcp,
                shared.clone(),
                tls.clone().filter(|_| http_tls),
                files,
                shutdown_rx.clone(),
            ));
        }
        Ok(ServerHandle {
            inner: Arc::new(Inner {
                state: shared.state.clone(),
                addrs,
                listeners: listener_addrs,
                http: http_addr,
                tls,
                shared,
                shutdown_tx,
            }),
        })
    }
}

/// What a drained server's users are told ([`ServerHandle::drain`]).
pub const DRAIN_REASON: &str =
    "Server going down for maintenance: reconnect to another server of the network";

/// Pending connections the kernel may hold for us. `TcpListener::bind` asks for 128, which a
/// burst of connecting clients overflows (their SYNs are then retried a second later).
const LISTEN_BACKLOG: u32 = 1024;

/// Binds a listening socket with SO_REUSEADDR (a restart need not wait for TIME_WAIT) and a
/// backlog of [`LISTEN_BACKLOG`]. A non-zero `send_buffer` sets SO_SNDBUF, which accepted
/// sockets inherit from the listener.
fn bind(addr: SocketAddr, send_buffer: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if send_buffer > 0 {
        socket.set_send_buffer_size(send_buffer)?;
    }
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

impl ServerHandle {
    /// The addresses the listeners are bound to (with the real port when 0 was asked).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.inner.addrs.clone()
    }

    /// Each listener's bound address and whether it speaks TLS, in configuration order.
    pub fn listeners(&self) -> Vec<(SocketAddr, bool)> {
        self.inner.listeners.clone()
    }

    /// The HTTP listener's bound address (with the real port when 0 was asked), or `None`
    /// when `[http]` is off.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.inner.http
    }

    /// The SHA-256 fingerprint of the TLS certificate (`"3A:7F:…"`, as the Charla app shows
    /// it), or `None` when no listener uses TLS.
    pub fn tls_fingerprint(&self) -> Option<String> {
        self.inner.tls.as_ref().map(|t| t.fingerprint().to_owned())
    }

    /// The server name.
    pub fn server_name(&self) -> String {
        self.inner.state.name().to_owned()
    }

    /// The registered users, in connection order.
    pub fn users(&self) -> Vec<UserInfo> {
        self.inner.state.users()
    }

    /// A live stream of events. A receiver that falls behind gets `Lagged`.
    pub fn subscribe(&self) -> broadcast::Receiver<ServerEvent> {
        self.inner.state.subscribe()
    }

    /// Sends `NOTICE $<network> :<text>` from the server to every registered user.
    pub fn notice_all(&self, text: &str) -> Result<(), HandleError> {
        if text.is_empty() {
            return Err(HandleError::EmptyMessage);
        }
        let state = &self.inner.state;
        crate::command::oper::server_notice_all(state, state.name(), text);
        Ok(())
    }

    /// Sends a NOTICE from the server to one user.
    pub fn message_user(&self, nick: &str, text: &str) -> Result<(), HandleError> {
        if text.is_empty() {
            return Err(HandleError::EmptyMessage);
        }
        let state = &self.inner.state;
        let target = state
            .find_nick(nick)
            .filter(|c| c.info.read().registered)
            .ok_or_else(|| HandleError::NoSuchNick(nick.to_owned()))?;
        let target_nick = target.nick();
        let mut line = state.server_line("NOTICE");
        line.param(&target_nick).trailing(text);
        crate::deliver::to_client(&target, &Payload::new(Outgoing::new(line)), None);
        state.emit(ServerEvent::Message {
            from: state.name().to_owned(),
            target: target_nick,
            text: text.to_owned(),
            kind: MessageKind::Notice,
        });
        Ok(())
    }

    /// Disconnects a user; others see it quit with `Killed (<server> (<reason>))`.
    pub fn disconnect(&self, nick: &str, reason: &str) -> Result<(), HandleError> {
        let state = &self.inner.state;
        let target = state
            .find_nick(nick)
            .ok_or_else(|| HandleError::NoSuchNick(nick.to_owned()))?;
        crate::devices::kill(
            state,
            &target,
            format!("Killed ({} ({}))", state.name(), reason),
        );
        Ok(())
    }

    /// Kicks `nick` from `channel`; its members see `KICK <channel> <nick> :<reason>` from the
    /// server.
    pub fn kick(&self, channel: &str, nick: &str, reason: &str) -> Result<(), HandleError> {
        use crate::command::kick::{KickError, kick_by_server};
        kick_by_server(&self.inner.state, channel, nick, reason).map_err(|e| match e {
            KickError::NoSuchChannel => HandleError::NoSuchChannel(channel.to_owned()),
            KickError::NotOnChannel => HandleError::NotOnChannel(nick.to_owned()),
        })
    }

    /// Runs a whole session over any byte stream (an in-process `tokio::io::duplex`, a fuzz
    /// target, a future TLS or WebSocket listener). `peer` is the address to show and to apply
    /// per-IP limits to.
    pub fn connect_stream<S>(&self, stream: S, peer: SocketAddr) -> Result<(), HandleError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let shared = &self.inner.shared;
        if shared.state.is_shutting_down() {
            return Err(HandleError::Refused(Refusal::ShuttingDown));
        }
        let permit = shared
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| HandleError::Refused(Refusal::Full))?;
        let ip = shared
            .state
            .ips
            .admit(peer.ip())
            .map_err(HandleError::Refused)?;
        let guards = Guards {
            permit: Some(permit),
            ip,
            task: shared.tasks.enter(),
        };
        tokio::spawn(connection::serve(
            shared.state.clone(),
            stream,
            peer,
            Transport::Plain,
            guards,
        ));
        Ok(())
    }

    /// Drains the server before it stops (a cluster node's maintenance): it takes no new
    /// connection, then ends its users' sessions, `per_second` a second (0: all at once), each
    /// told why in its `ERROR` and its QUIT (a client that knows the network's other servers
    /// reconnects there, and the other nodes take the users in without a storm), then shuts
    /// down.
    pub async fn drain(&self, per_second: u32) {
        let _ = self.inner.shutdown_tx.send(true);
        let state = &self.inner.state;
        let users: Vec<_> = state
            .all_clients()
            .into_iter()
            .filter(|c| c.remote.is_none() && c.info.read().registered)
            .collect();
        info!(users = users.len(), per_second, "draining");
        // In tenths of a second, so that the leaving is even.
        let per_tick = match per_second {
            0 => users.len().max(1),
            n => (n as usize).div_ceil(10),
        };
        for (i, batch) in users.chunks(per_tick).enumerate() {
            if i > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            for user in batch {
                crate::devices::kill(state, user, DRAIN_REASON.to_owned());
            }
        }
        self.shutdown().await;
    }

    /// Stops accepting, sends every client `ERROR :Server shutting down`, and waits (at most
    /// 10 s) until every session has flushed and closed. Calling it again is harmless.
    pub async fn shutdown(&self) {
        let _ = self.inner.shutdown_tx.send(true);
        self.inner.state.begin_shutdown();
        if tokio::time::timeout(SHUTDOWN_TIMEOUT, self.inner.shared.tasks.wait_idle())
            .await
            .is_err()
        {
            warn!("some sessions did not end within the shutdown timeout");
        }
        // What the sessions wrote last (a topic, a mode) is on disk before the process ends.
        self.inner.state.store.flush().await;
        if let Some(cluster) = self.inner.state.cluster() {
            cluster.stop().await;
        }
    }

    /// In a cluster, whether this node reaches NATS now (`None`: not in a cluster).
    pub fn cluster_connected(&self) -> Option<bool> {
        self.inner.state.cluster().map(|c| c.connected())
    }

    /// In a cluster, how many times this node read events it had missed back from the
    /// channels' log (`None`: not in a cluster).
    pub fn cluster_catch_ups(&self) -> Option<u64> {
        self.inner.state.cluster().map(|c| c.catch_ups())
    }

    /// In a cluster, makes this node pass over the next `n` channel events that NATS brings,
    /// as if NATS had dropped them: fault injection, for tests of what follows a loss.
    #[doc(hidden)]
    pub fn cluster_drop_live(&self, n: u64) {
        if let Some(c) = self.inner.state.cluster() {
            c.drop_live(n);
        }
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.inner.state.is_shutting_down()
    }
}
