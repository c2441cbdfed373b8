//! Helpers for the UI tests: a runtime, a real server on 127.0.0.1:0, the real app in an
//! egui_kittest harness, a plain TCP IRC client, and bounded waits.

#![allow(dead_code)] // Each test binary uses a different subset.

pub mod files;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use charla_app::{AppOptions, CharlaApp};
use charla_server::{Config, Server, ServerHandle};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The longest any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(15);

/// A small multi-thread runtime, like the app's.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// A real Charla server on 127.0.0.1 and a free port.
pub fn server(rt: &tokio::runtime::Runtime) -> Result<(ServerHandle, SocketAddr)> {
    let addr: SocketAddr = "127.0.0.1:0".parse()?;
    let handle = rt.block_on(Server::start(Config::with_listener(addr)))?;
    let addr = *handle.local_addrs().first().context("no listener")?;
    Ok((handle, addr))
}

/// The real app in a harness, with nothing on disk and no desktop notifications.
pub fn app(rt: &tokio::runtime::Runtime, options: AppOptions) -> Harness<'static, CharlaApp> {
    app_sized(rt, options, egui::vec2(1200.0, 800.0))
}

/// The real app in a window of `size`.
pub fn app_sized(
    rt: &tokio::runtime::Runtime,
    options: AppOptions,
    size: egui::Vec2,
) -> Harness<'static, CharlaApp> {
    let handle = rt.handle().clone();
    Harness::builder()
        .with_size(size)
        .build_eframe(move |cc| CharlaApp::new(cc.egui_ctx.clone(), handle, options))
}

/// Steps the UI until `done` holds, at most [`WAIT`]; fails naming `what`.
pub fn step_until(
    h: &mut Harness<'static, CharlaApp>,
    what: &str,
    done: impl Fn(&Harness<'static, CharlaApp>) -> bool,
) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    loop {
        h.step();
        if done(h) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(15));
    }
}

/// Whether some widget has exactly this label.
pub fn shows(h: &Harness<'static, CharlaApp>, label: &str) -> bool {
    h.query_all_by_label(label).next().is_some()
}

/// Whether some widget's label contains this text.
pub fn shows_part(h: &Harness<'static, CharlaApp>, part: &str) -> bool {
    h.query_all_by_label_contains(part).next().is_some()
}

/// Replaces the text of the input labelled `label`.
pub fn fill(h: &mut Harness<'static, CharlaApp>, label: &str, text: &str) {
    h.get_by_role_and_label(Role::TextInput, label)
        .set_text_value_accesskit(text);
    h.step();
}

/// Clicks the (first) widget labelled `label`, scrolled into view first (as a person would
/// scroll to it in a small window).
pub fn click(h: &mut Harness<'static, CharlaApp>, label: &str) -> Result<()> {
    let node = h
        .query_all_by_label(label)
        .next()
        .with_context(|| format!("no widget labelled {label:?}"))?;
    if !h.ctx.content_rect().contains_rect(node.rect()) {
        node.scroll_to_me();
        // The scroll area moves over a few frames.
        for _ in 0..20 {
            h.step();
            let node = h.query_all_by_label(label).next();
            if node.is_some_and(|n| h.ctx.content_rect().contains_rect(n.rect())) {
                break;
            }
        }
    }
    h.query_all_by_label(label)
        .next()
        .with_context(|| format!("no widget labelled {label:?}"))?
        .click();
    h.step();
    h.step();
    Ok(())
}

/// Fills the connect form and presses Connect; waits until registered.
pub fn connect(h: &mut Harness<'static, CharlaApp>, addr: SocketAddr, nick: &str) -> Result<()> {
    fill(h, "Host", &addr.ip().to_string());
    fill(h, "Port", &addr.port().to_string());
    fill(h, "Nick", nick);
    click(h, "Connect")?;
    step_until(h, "registration", |h| {
        h.state()
            .sessions()
            .first()
            .is_some_and(|s| s.is_connected())
    })
}

/// Types a line into the chat input and presses Enter, as a person would.
pub fn say(h: &mut Harness<'static, CharlaApp>, text: &str) {
    h.get_by_role_and_label(Role::MultilineTextInput, "Message input")
        .focus();
    h.step();
    h.get_by_role_and_label(Role::MultilineTextInput, "Message input")
        .type_text(text);
    h.step();
    h.key_press(egui::Key::Enter);
    h.step();
    h.step();
}

/// Whether `line` is a `command` (e.g. `NOTICE`) to `target`: `:src NOTICE target :text`.
pub fn is(line: &str, command: &str, target: &str) -> bool {
    let mut words = line.split(' ');
    let first = words.next();
    let (cmd, tgt) = if first.is_some_and(|w| w.starts_with(':')) {
        (words.next(), words.next())
    } else {
        (first, words.next())
    };
    cmd == Some(command) && tgt == Some(target)
}

/// A plain IRC client over TCP, for the other side of the conversation.
pub struct TestClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// Lines received so far (after registration).
    pub seen: Vec<String>,
}

impl TestClient {
    /// Connects without registering (to negotiate capabilities and log in first).
    pub async fn connect(addr: SocketAddr) -> Result<Self> {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr)).await??;
        let (read, writer) = stream.into_split();
        Ok(Self {
            reader: BufReader::new(read),
            writer,
            seen: Vec::new(),
        })
    }

    /// Connects and registers as `nick`; waits for the welcome.
    pub async fn register(addr: SocketAddr, nick: &str) -> Result<Self> {
        let mut client = Self::connect(addr).await?;
        client
            .send(&format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}"))
            .await?;
        client
            .expect(|l| l.split(' ').nth(1) == Some("001"))
            .await?;
        Ok(client)
    }

    /// Sends one or more lines (CR LF added).
    pub async fn send(&mut self, lines: &str) -> Result<()> {
        for line in lines.split("\r\n") {
            self.writer
                .write_all(format!("{line}\r\n").as_bytes())
                .await?;
        }
        Ok(())
    }

    /// Reads lines until one satisfies `want` (answering PINGs), at most [`WAIT`].
    pub async fn expect(&mut self, want: impl Fn(&str) -> bool) -> Result<String> {
        self.expect_within(WAIT, want).await
    }

    /// [`expect`](Self::expect), waiting at most `wait`: for what a whole app has to do first
    /// (start under Xvfb, draw, connect).
    pub async fn expect_within(
        &mut self,
        wait: Duration,
        want: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout_at(deadline, self.reader.read_line(&mut line))
                .await
                .context("timed out waiting for a line")??;
            if n == 0 {
                bail!("connection closed; seen: {:?}", self.seen);
            }
            let line = line.trim_end().to_owned();
            if let Some(token) = line.strip_prefix("PING ") {
                self.send(&format!("PONG {token}")).await?;
                continue;
            }
            self.seen.push(line.clone());
            if want(&line) {
                return Ok(line);
            }
        }
    }

    /// Waits until the server closes the connection, at most [`WAIT`].
    pub async fn expect_closed(&mut self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let mut line = String::new();
            match tokio::time::timeout_at(deadline, self.reader.read_line(&mut line)).await {
                Err(_) => bail!("still connected"),
                Ok(Ok(0)) | Ok(Err(_)) => return Ok(()),
                Ok(Ok(_)) => self.seen.push(line.trim_end().to_owned()),
            }
        }
    }
}
