//! A lean raw IRC client for the scale and abuse tests.
//!
//! Unlike `common::TestClient` its futures are `Send`, so hundreds of them run as tasks on a
//! multi-threaded runtime, and it keeps no log of every line (memory stays flat with many
//! clients). Every wait has a deadline and fails the test with the last lines seen.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use charla_proto::OwnedMessage;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::Instant;

/// How long a single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// How many recent lines to keep for failure messages.
const TAIL: usize = 20;

/// What one read gave.
#[derive(Debug)]
pub enum Read {
    /// A complete line, parsed.
    Line(OwnedMessage),
    /// The server closed the connection (or reset it).
    Closed,
    /// Nothing before the deadline.
    TimedOut,
}

/// A connected client: a buffered reader, a writer and the tail of what it read.
pub struct Raw {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// A name for failure messages (the nick once registered).
    pub name: String,
    tail: VecDeque<String>,
    /// Bytes of a line not complete yet: kept across a timed-out read, so that a short wait
    /// never loses half a line (`read_until` appends to it).
    partial: Vec<u8>,
}

impl Raw {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> Raw {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        Self::from_stream(stream)
    }

    /// Wraps a connected stream.
    pub fn from_stream(stream: TcpStream) -> Raw {
        let (r, w) = stream.into_split();
        Raw {
            reader: BufReader::new(r),
            writer: w,
            name: "?".to_owned(),
            tail: VecDeque::new(),
            partial: Vec::new(),
        }
    }

    /// Connects and registers as `nick` with the capabilities `caps` (space-separated, may be
    /// empty); returns after the end of the MOTD.
    pub async fn registered(addr: SocketAddr, nick: &str, caps: &str) -> Raw {
        let mut c = Self::connect(addr).await;
        c.register(nick, caps).await;
        c
    }

    /// Registers as `nick`, requesting `caps` first when not empty.
    pub async fn register(&mut self, nick: &str, caps: &str) {
        self.name = nick.to_owned();
        if caps.is_empty() {
            self.send(&format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}"))
                .await;
        } else {
            self.send(&format!(
                "CAP LS 302\r\nCAP REQ :{caps}\r\nNICK {nick}\r\nUSER {nick} 0 * :{nick}"
            ))
            .await;
            let ack = self
                .expect("CAP ACK/NAK", |m| {
                    m.command == "CAP" && matches!(m.param(1), Some("ACK" | "NAK"))
                })
                .await;
            assert_eq!(ack.param(1), Some("ACK"), "caps {caps} refused");
            self.send("CAP END").await;
        }
        self.expect("001", |m| m.command == "001").await;
        self.expect("end of MOTD", |m| m.command == "376" || m.command == "422")
            .await;
    }

    /// Sends `line` and CR LF.
    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    /// Sends bytes as they are; fails the test if they cannot be written in time.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        tokio::time::timeout(WAIT, self.writer.write_all(bytes))
            .await
            .unwrap_or_else(|_| panic!("{}: send timed out", self.name))
            .unwrap_or_else(|e| panic!("{}: send failed: {e}", self.name));
    }

    /// Sends bytes; returns whether they were written (the server may have closed already).
    pub async fn try_send_raw(&mut self, bytes: &[u8]) -> bool {
        matches!(
            tokio::time::timeout(WAIT, self.writer.write_all(bytes)).await,
            Ok(Ok(()))
        )
    }

    /// Closes the writing half (TCP FIN): the server reads to the end, then sees end of stream.
    pub async fn shutdown_write(&mut self) {
        let _ = tokio::time::timeout(WAIT, self.writer.shutdown()).await;
    }

    /// Reads one line before `deadline`.
    pub async fn read_until(&mut self, deadline: Instant) -> Read {
        let read = self.reader.read_until(b'\n', &mut self.partial);
        match tokio::time::timeout_at(deadline, read).await {
            Err(_) => Read::TimedOut,
            Ok(Err(_)) | Ok(Ok(0)) => Read::Closed,
            Ok(Ok(_)) => {
                let buf = std::mem::take(&mut self.partial);
                let line = match String::from_utf8(buf) {
                    Ok(line) => line,
                    Err(e) => panic!("{}: server sent invalid UTF-8: {e}", self.name),
                };
                assert!(
                    line.ends_with("\r\n"),
                    "{}: line without CR LF: {line:?}",
                    self.name
                );
                let line = line.trim_end_matches(['\r', '\n']);
                if self.tail.len() == TAIL {
                    self.tail.pop_front();
                }
                self.tail.push_back(line.to_owned());
                match OwnedMessage::parse(line) {
                    Ok(m) => Read::Line(m),
                    Err(e) => panic!("{}: unparsable line {line:?}: {e:?}", self.name),
                }
            }
        }
    }

    /// The next line; fails on timeout or end of stream.
    pub async fn recv(&mut self) -> OwnedMessage {
        match self.read_until(Instant::now() + WAIT).await {
            Read::Line(m) => m,
            other => panic!("{}: no line ({other:?}); last:\n{}", self.name, self.tail()),
        }
    }

    /// The next line within `wait`, or `None`.
    pub async fn try_recv(&mut self, wait: Duration) -> Option<OwnedMessage> {
        match self.read_until(Instant::now() + wait).await {
            Read::Line(m) => Some(m),
            Read::Closed | Read::TimedOut => None,
        }
    }

    /// Skips lines until one matches `pred`.
    pub async fn expect(
        &mut self,
        what: &str,
        pred: impl Fn(&OwnedMessage) -> bool,
    ) -> OwnedMessage {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.read_until(deadline).await {
                Read::Line(m) if pred(&m) => return m,
                Read::Line(_) => {}
                other => panic!(
                    "{}: expected {what}, got {other:?}; last:\n{}",
                    self.name,
                    self.tail()
                ),
            }
        }
    }

    /// Skips lines until the numeric `code` (e.g. `"366"`).
    pub async fn expect_numeric(&mut self, code: &str) -> OwnedMessage {
        self.expect(code, |m| m.command == code).await
    }

    /// Skips lines until command `cmd`.
    pub async fn expect_command(&mut self, cmd: &str) -> OwnedMessage {
        self.expect(cmd, |m| m.command.eq_ignore_ascii_case(cmd))
            .await
    }

    /// Reads until the server closes the connection within `wait`; returns the `ERROR` text if
    /// one came. Fails if the connection stays open.
    pub async fn expect_closed_within(&mut self, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        let mut error = None;
        loop {
            match self.read_until_lossy(deadline).await {
                Some(Some(line)) => {
                    if let Ok(m) = OwnedMessage::parse(&line)
                        && m.command == "ERROR"
                    {
                        error = m.param(0).map(str::to_owned);
                    }
                }
                Some(None) => return error,
                None => panic!(
                    "{}: still open after {wait:?}; last:\n{}",
                    self.name,
                    self.tail()
                ),
            }
        }
    }

    /// Like [`read_until`](Self::read_until) but tolerant of anything (for connections that
    /// sent garbage): `Some(Some(line))`, `Some(None)` when closed, `None` on timeout.
    async fn read_until_lossy(&mut self, deadline: Instant) -> Option<Option<String>> {
        let read = self.reader.read_until(b'\n', &mut self.partial);
        match tokio::time::timeout_at(deadline, read).await {
            Err(_) => None,
            Ok(Err(_)) | Ok(Ok(0)) => Some(None),
            Ok(Ok(_)) => {
                let buf = std::mem::take(&mut self.partial);
                let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                if self.tail.len() == TAIL {
                    self.tail.pop_front();
                }
                self.tail.push_back(line.clone());
                Some(Some(line))
            }
        }
    }

    /// Sends a PING with `token` and returns the lines before its PONG.
    pub async fn sync(&mut self, token: &str) -> Vec<OwnedMessage> {
        self.send(&format!("PING {token}")).await;
        let mut before = Vec::new();
        loop {
            let m = self.recv().await;
            if m.command == "PONG" && m.params.last().map(String::as_str) == Some(token) {
                return before;
            }
            before.push(m);
        }
    }

    /// The last line read, as it came (without CR LF).
    pub fn last_line(&self) -> Option<&str> {
        self.tail.back().map(String::as_str)
    }

    /// The last lines read, for failure messages.
    pub fn tail(&self) -> String {
        self.tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}
