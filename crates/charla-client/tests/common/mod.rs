//! Helpers shared by the integration tests: the server's end of a connection, scripted line
//! by line, and the app's end (a handle, the events and the state built from them).
#![allow(dead_code)]

use std::time::Duration;

use anyhow::{Context, Result, bail};
use charla_client::{
    BufferId, Client, ClientHandle, ClientOptions, Command, Event, Notification, ServerConfig,
    State, TrustStore,
};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf, WriteHalf,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

/// A byte stream (TCP or TLS).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub const STEP: Duration = Duration::from_secs(5);

/// The server's end of one connection.
pub struct Peer {
    reader: BufReader<ReadHalf<Box<dyn Io>>>,
    writer: WriteHalf<Box<dyn Io>>,
}

impl Peer {
    pub async fn accept(listener: &TcpListener) -> Result<Peer> {
        let (stream, _) = timeout(STEP, listener.accept())
            .await
            .context("no connection")??;
        Ok(Peer::new(stream))
    }

    pub fn new(stream: impl Io + 'static) -> Peer {
        let (r, w) = tokio::io::split(Box::new(stream) as Box<dyn Io>);
        Peer {
            reader: BufReader::new(r),
            writer: w,
        }
    }

    pub async fn line(&mut self) -> Result<String> {
        let mut buf = String::new();
        let n = timeout(STEP, self.reader.read_line(&mut buf))
            .await
            .context("client silent")??;
        if n == 0 {
            bail!("client closed");
        }
        Ok(buf.trim_end_matches(['\r', '\n']).to_owned())
    }

    /// Reads lines until one equals `want` (skipping others, at most 50).
    pub async fn expect(&mut self, want: &str) -> Result<()> {
        let mut seen = Vec::new();
        for _ in 0..50 {
            let l = self
                .line()
                .await
                .with_context(|| format!("waiting for {want:?}, saw {seen:?}"))?;
            if l == want {
                return Ok(());
            }
            seen.push(l);
        }
        bail!("never got {want:?}; saw {seen:?}")
    }

    pub async fn send(&mut self, line: &str) -> Result<()> {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await?;
        Ok(())
    }
}

/// The app's end: a handle, the events, and the state built from them.
pub struct App {
    pub handle: ClientHandle,
    pub events: UnboundedReceiver<Event>,
    pub state: State,
}

impl App {
    pub fn start(config: ServerConfig, options: ClientOptions) -> App {
        App::start_with_trust(config, options, TrustStore::in_memory())
    }

    pub fn start_with_trust(
        config: ServerConfig,
        options: ClientOptions,
        trust: TrustStore,
    ) -> App {
        let state = State::new(&config.nick);
        let (handle, events) = Client::connect_with(config, trust, options);
        App {
            handle,
            events,
            state,
        }
    }

    /// Applies events until one matches, at most `STEP`.
    pub async fn until(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Result<Event> {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .with_context(|| format!("no event: {what}"))?
                .context("events closed")?;
            self.state.apply(&ev);
            if pred(&ev) {
                return Ok(ev);
            }
        }
    }

    /// Applies events until `check` holds on the state (bounded).
    pub async fn until_state(
        &mut self,
        what: &str,
        check: impl Fn(&charla_client::State) -> bool,
    ) -> Result<()> {
        if check(&self.state) {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .with_context(|| format!("never: {what}"))?
                .context("events closed")?;
            self.state.apply(&ev);
            if check(&self.state) {
                return Ok(());
            }
        }
    }

    /// Applies events until one brings a notification, at most `STEP`.
    pub async fn notified(&mut self) -> Result<Notification> {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .context("no notification")?
                .context("events closed")?;
            if let Some(n) = self.state.apply(&ev) {
                return Ok(n);
            }
        }
    }

    pub fn input(&self, buffer: BufferId, text: &str) {
        self.handle
            .send(Command::Input {
                buffer,
                text: text.into(),
            })
            .unwrap();
    }
}

pub fn fast() -> ClientOptions {
    ClientOptions {
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        ..ClientOptions::default()
    }
}

pub async fn listener() -> Result<(TcpListener, u16)> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let port = l.local_addr()?.port();
    Ok((l, port))
}

/// Registers a connection without CAP support (an old server ignores CAP LS).
pub async fn register_plain(s: &mut Peer, nick: &str) -> Result<()> {
    s.expect(&format!("NICK {nick}")).await?;
    s.line().await?; // USER
    s.send(&format!(":srv 001 {nick} :Welcome")).await?;
    Ok(())
}

/// A self-signed certificate for localhost and 127.0.0.1, and an acceptor that serves it.
pub fn acceptor() -> Result<(TlsAcceptor, String)> {
    let tls = charla_server::tls::Tls::self_signed(&["localhost", "127.0.0.1"])?;
    Ok((tls.acceptor().clone(), tls.fingerprint().to_owned()))
}
