//! Accepting connections: each is accepted, then takes a slot under `max_clients` (a full
//! server says `ERROR :Server is full` and closes at once, instead of leaving new clients
//! waiting silently in the kernel's backlog), then the per-IP limits are checked, then the
//! connection gets its own task. Refusals are written by at most [`MAX_REFUSING`] small tasks at
//! once; past that a refused socket just gets its line if the kernel takes it at once, and is
//! closed. Accept errors (e.g. out of file descriptors) back off instead of spinning.
//!
//! A listener with `proxy = true` takes connections from `[proxy] trusted` addresses only,
//! and reads each one's PROXY header in the connection's task before anything else
//! ([`crate::proxy`]); the per-IP limits then count the address the header gives.
//!
//! Per-IP limits: at most `max_clients_per_ip` connections at once and `connects_per_window`
//! new connections per window. Loopback addresses are exempt when `exempt_loopback` is set.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::client::Transport;
use crate::config::Limits;
use crate::connection::{self, Guards};
use crate::proxy;
use crate::state::State;
use crate::tls::{self, Tls};
use crate::tracker::Tracker;

/// Why a connection was refused before its session started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The IP address has too many connections open.
    #[error("Too many connections from your IP")]
    TooManyFromIp,
    /// The IP address connected too often recently.
    #[error("Too many connections from your IP (throttled)")]
    Throttled,
    /// The server is full.
    #[error("Server is full")]
    Full,
    /// The server is shutting down.
    #[error("Server shutting down")]
    ShuttingDown,
}

#[derive(Debug)]
struct IpEntry {
    open: usize,
    window_start: Instant,
    window_count: u32,
}

/// Per-IP connection counts and connect rates.
#[derive(Debug)]
pub struct IpLimiter {
    map: Mutex<HashMap<IpAddr, IpEntry>>,
    max_open: usize,
    max_per_window: u32,
    window: Duration,
    exempt_loopback: bool,
}

/// Holds one open connection of an IP address; dropping it gives the slot back.
#[derive(Debug)]
pub struct IpGuard {
    limiter: Arc<IpLimiter>,
    ip: IpAddr,
}

impl Drop for IpGuard {
    fn drop(&mut self) {
        let mut map = self.limiter.map.lock();
        if let Some(e) = map.get_mut(&self.ip) {
            e.open = e.open.saturating_sub(1);
            if e.open == 0 && e.window_start.elapsed() >= self.limiter.window {
                map.remove(&self.ip);
            }
        }
    }
}

impl IpLimiter {
    /// A limiter for `limits`.
    pub fn new(limits: &Limits) -> Self {
        IpLimiter {
            map: Mutex::default(),
            max_open: limits.max_clients_per_ip,
            max_per_window: limits.connects_per_window,
            window: Duration::from_secs(limits.connect_window_secs),
            exempt_loopback: limits.exempt_loopback,
        }
    }

    /// Admits one connection from `ip`, or says why not. `None` means exempt (loopback).
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Option<IpGuard>, Refusal> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        if self.exempt_loopback && ip.is_loopback() {
            return Ok(None);
        }
        let now = Instant::now();
        let mut map = self.map.lock();
        if map.len() > 65_536 {
            // Forget idle addresses so that the map cannot grow without bound.
            let window = self.window;
            map.retain(|_, e| e.open > 0 || now.duration_since(e.window_start) < window);
        }
        let e = map.entry(ip).or_insert(IpEntry {
            open: 0,
            window_start: now,
            window_count: 0,
        });
        if now.duration_since(e.window_start) >= self.window {
            e.window_start = now;
            e.window_count = 0;
        }
        if e.open >= self.max_open {
            return Err(Refusal::TooManyFromIp);
        }
        if e.window_count >= self.max_per_window {
            return Err(Refusal::Throttled);
        }
        e.open += 1;
        e.window_count += 1;
        Ok(Some(IpGuard {
            limiter: self.clone(),
            ip,
        }))
    }
}

/// What every listener shares.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub state: Arc<State>,
    pub slots: Arc<Semaphore>,
    /// Room for refusals being written ([`MAX_REFUSING`]).
    pub refusing: Arc<Semaphore>,
    pub tasks: Arc<Tracker>,
}

/// How one listener's connections start.
#[derive(Debug, Clone)]
pub(crate) struct Kind {
    /// Clients speak TLS.
    pub tls: Option<Arc<Tls>>,
    /// Each connection starts with a PROXY protocol header.
    pub proxy: bool,
}

/// Accepts connections on `listener` until shutdown. With TLS, each connection does its
/// TLS handshake in its own task; behind a proxy, it reads the PROXY header first.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Shared,
    kind: Kind,
    mut shutdown: watch::Receiver<bool>,
) {
    let local = listener.local_addr().ok();
    let tls = kind.tls.as_ref();
    info!(addr = ?local, tls = tls.is_some(), proxy = kind.proxy, "listening");
    loop {
        let (socket, peer) = tokio::select! {
            r = accept(&listener) => r,
            _ = shutdown.changed() => break,
        };
        let _ = socket.set_nodelay(true);
        if kind.proxy && !shared.state.config.proxy.trusts(peer.ip()) {
            // Not our proxy: its header could claim any address. Nothing is said (it may not
            // even speak IRC, and on a TLS listener could not read it).
            debug!(%peer, "connection refused: not a trusted PROXY sender");
            continue;
        }
        match shared.slots.clone().try_acquire_owned() {
            Ok(permit) if kind.proxy => {
                let guards = Guards {
                    permit: Some(permit),
                    ip: None,
                    task: shared.tasks.enter(),
                };
                tokio::spawn(serve_proxied(
                    shared.clone(),
                    socket,
                    peer,
                    guards,
                    kind.tls.clone(),
                    shutdown.clone(),
                ));
            }
            Ok(permit) => start(&shared, socket, peer, permit, tls, &shutdown),
            Err(TryAcquireError::NoPermits) => {
                debug!(%peer, "connection refused: server full");
                // Behind a proxy the line would not be plain IRC to anyone until the header.
                if !kind.proxy {
                    refuse_soon(&shared, socket, Refusal::Full, tls.is_some());
                }
            }
            Err(TryAcquireError::Closed) => break,
        }
    }
    info!(addr = ?local, "listener stopped");
}

/// Starts a session for an accepted socket, or refuses it with an `ERROR` line.
fn start(
    shared: &Shared,
    socket: TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    tls: Option<&Arc<Tls>>,
    shutdown: &watch::Receiver<bool>,
) {
    // A WEBIRC gateway speaks for many users: they are counted by the addresses it gives.
    let admitted = if is_webirc_gateway(&shared.state, peer.ip()) {
        Ok(None)
    } else {
        shared.state.ips.admit(peer.ip())
    };
    match admitted {
        Ok(ip) => {
            let guards = Guards {
                permit: Some(permit),
                ip,
                task: shared.tasks.enter(),
            };
            match tls {
                Some(tls) => tokio::spawn(tls::serve(
                    tls.clone(),
                    shared.state.clone(),
                    socket,
                    peer,
                    guards,
                    shutdown.clone(),
                )),
                None => tokio::spawn(connection::serve(
                    shared.state.clone(),
                    socket,
                    peer,
                    Transport::Plain,
                    guards,
                )),
            };
        }
        Err(refusal) => {
            warn!(%peer, %refusal, "connection refused");
            refuse_soon(shared, socket, refusal, tls.is_some());
        }
    }
}

/// Whether `ip` is the address of a configured WEBIRC gateway.
pub(crate) fn is_webirc_gateway(state: &State, ip: IpAddr) -> bool {
    state.config.webirc.iter().any(|g| g.allows(ip))
}

/// Runs a connection of a listener behind a proxy: its PROXY header first (bounded in size and
/// time, abandoned at shutdown), then the per-IP limits for the address it gives, then TLS or
/// the session as on any listener.
async fn serve_proxied(
    shared: Shared,
    mut socket: TcpStream,
    peer: SocketAddr,
    mut guards: Guards,
    tls: Option<Arc<Tls>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let timeout = shared.state.config.proxy.header_timeout();
    let header = {
        // A dropped sender is not a shutdown: then only the time limit ends the wait.
        let shutting_down = async {
            if shutdown.wait_for(|down| *down).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            r = proxy::read_header(&mut socket, timeout) => r,
            () = shutting_down => return,
        }
    };
    let addr = match header {
        Ok(header) => header.source_or(peer),
        Err(e) => {
            // From a trusted proxy: worth the operator's eye (a proxy that does not send the
            // header, or sends a kind we refuse).
            warn!(%peer, error = %e, "connection refused: no valid PROXY header");
            return;
        }
    };
    let admitted = if is_webirc_gateway(&shared.state, addr.ip()) {
        Ok(None)
    } else {
        shared.state.ips.admit(addr.ip())
    };
    match admitted {
        Ok(ip) => guards.ip = ip,
        Err(refusal) => {
            warn!(%peer, client = %addr, %refusal, "connection refused");
            if tls.is_none() {
                refuse(socket, refusal).await;
            }
            return;
        }
    }
    debug!(%peer, client = %addr, "PROXY header read");
    match tls {
        Some(tls) => tls::serve(tls, shared.state, socket, addr, guards, shutdown).await,
        None => connection::serve(shared.state, socket, addr, Transport::Plain, guards).await,
    }
}

/// Most refusals being written at once.
pub const MAX_REFUSING: usize = 64;

/// How long a refused client has to read its `ERROR` line.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);

/// Tells a refused client why and closes its socket, in a small task while there is room for
/// one, else at once. A TLS client cannot read a plain-text `ERROR` line: it just sees the close.
fn refuse_soon(shared: &Shared, socket: TcpStream, refusal: Refusal, tls: bool) {
    if tls {
        return;
    }
    match shared.refusing.clone().try_acquire_owned() {
        Ok(permit) => {
            tokio::spawn(async move {
                refuse(socket, refusal).await;
                drop(permit);
            });
        }
        Err(_) => {
            // A fresh socket's send buffer is empty: a line this short is taken whole or not at
            // all, without waiting.
            let _ = socket.try_write(format!("ERROR :{refusal}\r\n").as_bytes());
        }
    }
}

/// Writes `ERROR :<why>`, closes its side, and reads what the client still sends until it
/// closes too (closing with unread input would reset the connection and could lose the line),
/// all within [`REFUSAL_TIMEOUT`].
pub(crate) async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(mut socket: S, refusal: Refusal) {
    let line = format!("ERROR :{refusal}\r\n");
    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, async {
        socket.write_all(line.as_bytes()).await?;
        socket.shutdown().await?;
        let mut sink = [0u8; 512];
        while socket.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    })
    .await;
}

/// Accepts one connection, backing off on errors (e.g. EMFILE) instead of spinning.
pub(crate) async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    let mut backoff = Duration::from_millis(10);
    loop {
        match listener.accept().await {
            Ok(conn) => return conn,
            Err(e) => {
                warn!(error = %e, ?backoff, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_ip: usize, per_window: u32, exempt: bool) -> Limits {
        Limits {
            max_clients_per_ip: per_ip,
            connects_per_window: per_window,
            exempt_loopback: exempt,
            ..Limits::default()
        }
    }

    #[tokio::test]
    async fn limits_open_connections_per_ip() {
        let l = Arc::new(IpLimiter::new(&limits(2, 100, true)));
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        let a = l.admit(ip).expect("first");
        let _b = l.admit(ip).expect("second");
        assert_eq!(l.admit(ip).err(), Some(Refusal::TooManyFromIp));
        drop(a);
        assert!(l.admit(ip).is_ok());
        // Another address is not affected; loopback is exempt.
        assert!(l.admit("10.0.0.2".parse().expect("ip")).is_ok());
        for _ in 0..10 {
            assert!(matches!(
                l.admit("127.0.0.1".parse().expect("ip")),
                Ok(None)
            ));
        }
    }

    #[tokio::test]
    async fn throttles_connect_rate_and_loopback_can_be_limited() {
        let l = Arc::new(IpLimiter::new(&limits(100, 2, false)));
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let _a = l.admit(ip).expect("1");
        let _b = l.admit(ip).expect("2");
        assert_eq!(l.admit(ip).err(), Some(Refusal::Throttled));
    }
}
