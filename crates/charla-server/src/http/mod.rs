//! The HTTP side of the server: one HTTP(S) listener beside the IRC ones, with the same TLS
//! certificate, serving
//!
//! - `/healthz` (the process is up) and `/readyz` (the listeners are bound, the store takes a
//!   write, the server is not shutting down), for load balancers and orchestrators;
//! - `/metrics` ([`metrics`]): the server's figures in the Prometheus text format, to the
//!   addresses of `[http] metrics_allow` only;
//! - `/socket` ([`websocket`]): IRC over WebSocket (<https://ircv3.net/specs/extensions/websocket>)
//!   for browser clients, through the same session code as TCP;
//! - `/upload` and `/files/...` ([`files`]): the file host (soju's FILEHOST), when `[files]`
//!   is on.
//!
//! A connection's life mirrors an IRC one ([`crate::listener`]): a slot under
//! `[http] max_connections` is taken *before* accepting (a full HTTP side stops accepting
//! instead of piling up tasks), the TLS handshake runs in the connection's own task under the
//! `[tls]` time limit, then hyper serves HTTP/1.1 with a time limit on request headers. axum's
//! [`Router`] maps paths to handlers; the peer's address reaches them as
//! [`ConnectInfo`]. At shutdown, connections finish the request they are serving and close.

pub mod files;
pub mod metrics;
pub mod websocket;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, State as AxumState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use charla_store::Write;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tracing::{debug, info};

use crate::cidr::Cidr;
use crate::listener::Shared;
use crate::tls::{Tls, TlsStream};

/// The `[http]` section of the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Whether the HTTP listener runs.
    pub enabled: bool,
    /// The address and port, e.g. `"0.0.0.0:8443"`. Port 0 picks a free port.
    pub address: SocketAddr,
    /// Whether it speaks HTTPS, with the certificate of `[tls]` (the IRC listeners' one).
    pub tls: bool,
    /// Most HTTP connections at once (WebSocket sessions count under `limits.max_clients`
    /// once upgraded); past it the listener stops accepting until one closes.
    pub max_connections: usize,
    /// Seconds a client may take to send a request's headers.
    pub header_timeout_secs: u64,
    /// Whether `/socket` takes WebSocket clients.
    pub websocket: bool,
    /// The web pages allowed to open `/socket` from a browser, as origins
    /// (`"https://chat.example.org"`), or `"*"` for any. Empty: only clients that send no
    /// `Origin` (not a browser) and pages served from the same host and port as `/socket`.
    pub websocket_origins: Vec<String>,
    /// The addresses (single addresses or CIDR ranges) that may read `/metrics`; others get
    /// 404. Empty: nobody.
    pub metrics_allow: Vec<Cidr>,
    /// The origin clients reach this listener at, e.g. `"https://chat.example.org"` (behind a
    /// reverse proxy, or when the server name is not the host name): the start of the file
    /// host's URLs. Unset: `https://<server_name>:<port>` (`http://` without TLS).
    pub public_url: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            address: SocketAddr::from(([0, 0, 0, 0], 8443)),
            tls: true,
            max_connections: 1024,
            header_timeout_secs: 10,
            websocket: true,
            websocket_origins: Vec::new(),
            metrics_allow: ["127.0.0.0/8", "::1"]
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
            public_url: None,
        }
    }
}

impl HttpConfig {
    /// Checks values that parse but make no sense.
    pub fn check(&self) -> Result<(), String> {
        if self.max_connections == 0 {
            return Err("http.max_connections must be at least 1".to_owned());
        }
        if self.header_timeout_secs == 0 {
            return Err("http.header_timeout_secs must be at least 1".to_owned());
        }
        for origin in &self.websocket_origins {
            if origin != "*" && websocket::parse_origin(origin).is_none() {
                return Err(format!(
                    "http.websocket_origins: {origin:?} is not an origin such as \"https://chat.example.org\""
                ));
            }
        }
        if let Some(url) = &self.public_url {
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            let bad = |c: char| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '"');
            if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) || url.contains(bad) {
                return Err(format!(
                    "http.public_url: {url:?} is not an origin such as \"https://chat.example.org\""
                ));
            }
        }
        Ok(())
    }

    /// The request-header time limit as a [`Duration`].
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }
}

/// What every handler sees.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    pub shared: Shared,
    /// The listener speaks HTTPS.
    pub secure: bool,
    /// The file host, when it is on.
    pub files: Option<Arc<files::Files>>,
    ready: Arc<Mutex<Option<(Instant, bool)>>>,
}

/// How long a `/readyz` answer is reused: the check writes to the store, and a probe every
/// few milliseconds must not turn into as many commits.
const READY_CACHE: Duration = Duration::from_secs(1);

/// How long the store check of `/readyz` may take before the server counts as not ready.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// How long connections have to finish their request at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The routes.
fn router(http: Http) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/socket", get(websocket::upgrade));
    if http.files.is_some() {
        router = router
            .route(
                "/upload",
                post(files::upload::upload).options(files::upload::preflight),
            )
            .route(
                "/files/{id}",
                get(files::serve::get).delete(files::serve::delete),
            )
            .route(
                "/files/{id}/{name}",
                get(files::serve::get_named).delete(files::serve::delete_named),
            );
    }
    router.with_state(http)
}

/// Accepts HTTP connections on `listener` until shutdown: a slot first, then the connection,
/// then its own task (TLS handshake, HTTP).
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Shared,
    tls: Option<Arc<Tls>>,
    files: Option<Arc<files::Files>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let local = listener.local_addr().ok();
    info!(addr = ?local, tls = tls.is_some(), "HTTP listening");
    let config = &shared.state.config.http;
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let header_timeout = config.header_timeout();
    let app = router(Http {
        secure: tls.is_some(),
        files,
        shared: shared.clone(),
        ready: Arc::default(),
    });
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        let (socket, peer) = tokio::select! {
            r = crate::listener::accept(&listener) => r,
            _ = shutdown.changed() => break,
        };
        let _ = socket.set_nodelay(true);
        let conn = Connection {
            app: app.clone(),
            peer,
            header_timeout,
            _permit: permit,
            _task: shared.tasks.enter(),
        };
        tokio::spawn(conn.run(socket, tls.clone(), shutdown.clone()));
    }
    info!(addr = ?local, "HTTP listener stopped");
}

/// One HTTP connection until it closes.
struct Connection {
    app: Router,
    peer: SocketAddr,
    header_timeout: Duration,
    /// Its slot under `max_connections`.
    _permit: OwnedSemaphorePermit,
    /// Shutdown waits for it.
    _task: crate::tracker::TaskGuard,
}

impl Connection {
    async fn run(
        self,
        socket: tokio::net::TcpStream,
        tls: Option<Arc<Tls>>,
        shutdown: watch::Receiver<bool>,
    ) {
        match tls {
            Some(tls) => {
                let handshake = TlsStream::accept(tls.server_config(), socket);
                match tokio::time::timeout(tls.handshake_timeout(), handshake).await {
                    Ok(Ok((stream, _certificate))) => self.serve(stream, shutdown).await,
                    Ok(Err(e)) => debug!(peer = %self.peer, error = %e, "HTTPS handshake failed"),
                    Err(_) => debug!(peer = %self.peer, "HTTPS handshake timed out"),
                }
            }
            None => self.serve(socket, shutdown).await,
        }
    }

    async fn serve<S>(self, stream: S, mut shutdown: watch::Receiver<bool>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let app = self.app.clone();
        let service = hyper::service::service_fn(move |mut request| {
            // The handlers learn the peer's address the way axum's own server tells it.
            request.extensions_mut().insert(ConnectInfo(peer));
            tower::Service::call(&mut app.clone(), request)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout);
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut conn = std::pin::pin!(conn);
        let result = tokio::select! {
            r = conn.as_mut() => r,
            () = until_shutdown(&mut shutdown) => {
                conn.as_mut().graceful_shutdown();
                tokio::time::timeout(SHUTDOWN_GRACE, conn.as_mut())
                    .await
                    .unwrap_or(Ok(()))
            }
        };
        if let Err(e) = result {
            debug!(%peer, error = %e, "HTTP connection ended with an error");
        }
    }
}

/// Returns once the server shuts down. Every [`ServerHandle`](crate::ServerHandle) gone is not
/// a shutdown (the server runs on): then it never returns.
async fn until_shutdown(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|down| *down).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// `/healthz`: the process is up and answers.
async fn healthz() -> &'static str {
    "ok\n"
}

/// `/readyz`: 200 when the server takes clients (its listeners are bound before this one
/// serves, it is not shutting down) and its store takes a write; 503 otherwise.
async fn readyz(AxumState(http): AxumState<Http>) -> Response {
    let state = &http.shared.state;
    if state.is_shutting_down() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    let cached = *http.ready.lock();
    let ok = match cached {
        Some((at, ok)) if at.elapsed() < READY_CACHE => ok,
        _ => {
            let ok = store_writable(&state.store).await;
            *http.ready.lock() = Some((Instant::now(), ok));
            ok
        }
    };
    if ok {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "store not writable\n").into_response()
    }
}

/// Whether the store commits a write and answers a read, within [`READY_TIMEOUT`]. The write
/// removes a metadata key that no target has: it goes through the writer thread and a real
/// transaction (a read-only or full database refuses it) and changes nothing.
async fn store_writable(store: &charla_store::StoreHandle) -> bool {
    let check = async {
        let write = store
            .write(Write::SetMetadata {
                target: "-:readyz".to_owned(),
                key: "readyz".to_owned(),
                value: None,
            })
            .await;
        matches!(write, Ok(Ok(()))) && store.account_count().await.is_ok()
    };
    tokio::time::timeout(READY_TIMEOUT, check)
        .await
        .unwrap_or(false)
}

/// `/metrics`, to the addresses of `metrics_allow`; 404 to others (as if there were none).
async fn metrics(
    AxumState(http): AxumState<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    let state = &http.shared.state;
    if !may_read_metrics(&state.config.http.metrics_allow, peer.ip()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.encode(&state.all_clients()),
    )
        .into_response()
}

fn may_read_metrics(allow: &[Cidr], ip: IpAddr) -> bool {
    crate::cidr::any_contains(allow, ip)
}
