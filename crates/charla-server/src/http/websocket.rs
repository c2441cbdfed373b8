//! IRC over WebSocket (<https://ircv3.net/specs/extensions/websocket>) at `/socket`.
//!
//! The upgrade is checked and admitted like a TCP connection: the `Origin` against
//! `[http] websocket_origins` (a page of another site must not open a session with its
//! visitor's address), then a slot under `limits.max_clients` and the per-IP limits
//! ([`crate::listener::IpLimiter`]). The socket then becomes a byte stream ([`WsStream`]: each
//! message in is one line, given its `\r\n`; the bytes out are cut at each `\r\n` into one
//! message per line, without it) and runs through [`connection::serve`] like any other
//! transport: line limits, flood control, the send queue and its "SendQ exceeded", timeouts and
//! the cleanup are those of TCP, unchanged.
//!
//! Subprotocols: `binary.ircv3.net` (lines as binary messages) is preferred when offered, then
//! `text.ircv3.net`; a client that offers neither gets text messages. In text messages the
//! server sends UTF-8 only (a line that is not is sent with U+FFFD in place of what is not).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Buf, Bytes};
use futures::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tracing::{debug, warn};

use super::Http;
use crate::client::Transport;
use crate::connection::{self, Guards};
use crate::listener::Refusal;

/// The subprotocol of lines as binary messages.
pub const BINARY: &str = "binary.ircv3.net";
/// The subprotocol of lines as text messages.
pub const TEXT: &str = "text.ircv3.net";

/// The longest message taken from a client. Longer than a line may be
/// ([`MAX_INBOUND`](charla_proto::limits::MAX_INBOUND)), so that a line a little too long gets
/// the same `ERR_INPUTTOOLONG` as over TCP; past this the connection is closed (the
/// WebSocket layer would otherwise hold the whole message in memory).
const MAX_MESSAGE: usize = 16 * 1024;

/// Bytes of outgoing messages gathered before they are written to the socket (and flushed
/// with each write of the session anyway). Small: the session's own queue is what holds a
/// backlog, where SendQ counts it.
const WRITE_BUFFER: usize = 16 * 1024;

/// The longest piece of a line held while waiting for its `\r\n`: the session writes whole
/// lines, so this only bounds a bug.
const MAX_PARTIAL: usize = 64 * 1024;

/// `GET /socket`: checks the origin, admits the client, and upgrades.
pub(crate) async fn upgrade(
    AxumState(http): AxumState<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let shared = &http.shared;
    let config = &shared.state.config.http;
    if !config.websocket {
        return StatusCode::NOT_FOUND.into_response();
    }
    if !origin_allowed(&config.websocket_origins, &headers, http.secure) {
        debug!(%peer, "WebSocket refused: origin not allowed");
        return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
    }
    if shared.state.is_shutting_down() {
        return refused(Refusal::ShuttingDown);
    }
    let Ok(permit) = shared.slots.clone().try_acquire_owned() else {
        debug!(%peer, "WebSocket refused: server full");
        return refused(Refusal::Full);
    };
    let ip = match shared.state.ips.admit(peer.ip()) {
        Ok(ip) => ip,
        Err(refusal) => {
            warn!(%peer, %refusal, "WebSocket refused");
            return refused(refusal);
        }
    };
    let guards = Guards {
        permit: Some(permit),
        ip,
        task: shared.tasks.enter(),
    };
    let state = shared.state.clone();
    let transport = Transport::WebSocket {
        secure: http.secure,
    };
    ws.protocols([BINARY, TEXT])
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| {
            let binary = socket.protocol().is_some_and(|p| p == BINARY);
            connection::serve(
                state,
                WsStream::new(socket, binary),
                peer,
                transport,
                guards,
            )
        })
}

/// The answer to a client that is not admitted: the same words as the `ERROR` of TCP.
fn refused(refusal: Refusal) -> Response {
    let status = match refusal {
        Refusal::TooManyFromIp | Refusal::Throttled => StatusCode::TOO_MANY_REQUESTS,
        Refusal::Full | Refusal::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, format!("{refusal}\n")).into_response()
}

/// An origin: scheme, host (lower case) and port.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

/// Parses `scheme://host[:port]` (an `Origin` header, RFC 6454), `http` or `https` only.
pub(crate) fn parse_origin(text: &str) -> Option<Origin> {
    let (scheme, rest) = text.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let (host, port) = split_host(rest, default_port)?;
    Some(Origin { scheme, host, port })
}

/// Splits `host[:port]` (`[v6]:port` for IPv6); `None` if malformed.
fn split_host(text: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{v6}]"), port)
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (text.to_owned(), None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':');
    (!host.is_empty() && host.chars().all(valid)).then(|| (host.to_ascii_lowercase(), port))
}

/// Whether a browser page of this `Origin` may open the socket: any client that sends none
/// (not a browser), a listed origin (or `*`), or a page of the same scheme, host and port as
/// the socket (its `Host`).
fn origin_allowed(allowed: &[String], headers: &HeaderMap, secure: bool) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    if allowed.iter().any(|a| a == "*") {
        return true;
    }
    // An origin that is not one (`null`, from a sandboxed page or a file) matches nothing.
    let Some(origin) = origin.to_str().ok().and_then(parse_origin) else {
        return false;
    };
    if allowed
        .iter()
        .filter_map(|a| parse_origin(a))
        .any(|a| a == origin)
    {
        return true;
    }
    let (scheme, default_port) = if secure { ("https", 443) } else { ("http", 80) };
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| split_host(h, default_port))
        .is_some_and(|(host, port)| {
            origin
                == Origin {
                    scheme: scheme.to_owned(),
                    host,
                    port,
                }
        })
}

/// A WebSocket as the byte stream of IRC lines that [`connection::serve`] reads and writes.
pub(crate) struct WsStream {
    socket: WebSocket,
    /// Lines go out as binary messages (else text).
    binary: bool,
    /// The rest of the message being read.
    incoming: Bytes,
    /// How much of the `\r\n` after it is still to be read.
    eol: usize,
    /// The client closed (or the socket failed): reads return end of file.
    read_closed: bool,
    /// The start of a line whose `\r\n` has not been written yet.
    partial: Vec<u8>,
}

impl WsStream {
    fn new(socket: WebSocket, binary: bool) -> Self {
        WsStream {
            socket,
            binary,
            incoming: Bytes::new(),
            eol: 0,
            read_closed: false,
            partial: Vec::new(),
        }
    }

    /// One line (without its line end) as a message.
    fn message(&self, line: &[u8]) -> Message {
        if self.binary {
            Message::Binary(Bytes::copy_from_slice(line))
        } else {
            Message::Text(String::from_utf8_lossy(line).into_owned().into())
        }
    }
}

/// A WebSocket error as an I/O error (the session logs it and ends).
fn io_error(e: axum::Error) -> io::Error {
    io::Error::other(e)
}

impl AsyncRead for WsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.incoming.is_empty() {
                let n = this.incoming.len().min(buf.remaining());
                buf.put_slice(&this.incoming[..n]);
                this.incoming.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.eol > 0 {
                let end = &b"\r\n"[2 - this.eol..];
                let n = end.len().min(buf.remaining());
                buf.put_slice(&end[..n]);
                this.eol -= n;
                return Poll::Ready(Ok(()));
            }
            if this.read_closed {
                return Poll::Ready(Ok(()));
            }
            let data = match ready!(Pin::new(&mut this.socket).poll_next(cx)) {
                None => {
                    this.read_closed = true;
                    continue;
                }
                Some(Err(e)) => {
                    this.read_closed = true;
                    return Poll::Ready(Err(io_error(e)));
                }
                Some(Ok(Message::Text(text))) => Bytes::from(text),
                Some(Ok(Message::Binary(data))) => data,
                // Pings are answered by the WebSocket layer; a close ends the stream next.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_))) => continue,
            };
            // One line per message, without its line end; a client that adds one anyway is
            // taken as it meant. A line break inside splits it into lines, as over TCP.
            let mut data = data;
            while data.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                data.truncate(data.len() - 1);
            }
            this.incoming = data;
            this.eol = 2;
        }
    }
}

impl AsyncWrite for WsStream {
    /// Sends each whole line of `buf` as one message, as long as the WebSocket takes them;
    /// returns how much of `buf` was taken (`Pending` when it took nothing, the socket being
    /// full: that is what fills the session's send queue).
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut taken = 0;
        while taken < buf.len() {
            let rest = &buf[taken..];
            let Some(end) = memchr::memchr(b'\n', rest) else {
                if this.partial.len() + rest.len() > MAX_PARTIAL {
                    return Poll::Ready(Err(io::Error::other("line too long for a message")));
                }
                this.partial.extend_from_slice(rest);
                taken = buf.len();
                break;
            };
            match Pin::new(&mut this.socket).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(io_error(e))),
                Poll::Pending if taken > 0 => break,
                Poll::Pending => return Poll::Pending,
            }
            let mut line = &rest[..end];
            if let Some(stripped) = line.strip_suffix(b"\r") {
                line = stripped;
            }
            let message = if this.partial.is_empty() {
                this.message(line)
            } else {
                let mut whole = std::mem::take(&mut this.partial);
                whole.extend_from_slice(line);
                if whole.last() == Some(&b'\r') {
                    whole.pop();
                }
                this.message(&whole)
            };
            Pin::new(&mut this.socket)
                .start_send(message)
                .map_err(io_error)?;
            taken += end + 1;
        }
        Poll::Ready(Ok(taken))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket)
            .poll_flush(cx)
            .map_err(io_error)
    }

    /// Sends a close message and flushes.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket)
            .poll_close(cx)
            .map_err(io_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).expect("origin"));
        }
        h.insert(header::HOST, HeaderValue::from_str(host).expect("host"));
        h
    }

    #[test]
    fn origins_parse_with_their_default_ports() {
        let o = parse_origin("HTTPS://Chat.Example.org").expect("origin");
        assert_eq!(
            o,
            parse_origin("https://chat.example.org:443").expect("same")
        );
        assert_eq!(
            parse_origin("http://[::1]:8080"),
            Some(Origin {
                scheme: "http".into(),
                host: "[::1]".into(),
                port: 8080
            })
        );
        for bad in [
            "null",
            "chat.example.org",
            "ftp://x",
            "https://",
            "https://a b",
            "https://x:99999",
            "https://x/path",
        ] {
            assert_eq!(parse_origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn browsers_of_other_sites_are_refused_by_default() {
        let none: Vec<String> = Vec::new();
        // Not a browser.
        assert!(origin_allowed(
            &none,
            &headers(None, "irc.example:8443"),
            true
        ));
        // The same site.
        assert!(origin_allowed(
            &none,
            &headers(Some("https://irc.example:8443"), "irc.example:8443"),
            true
        ));
        assert!(origin_allowed(
            &none,
            &headers(Some("https://irc.example"), "IRC.example"),
            true
        ));
        // Another site, another port, another scheme, a sandboxed page.
        for origin in [
            "https://evil.example",
            "https://irc.example:9999",
            "http://irc.example:8443",
            "null",
        ] {
            assert!(
                !origin_allowed(&none, &headers(Some(origin), "irc.example:8443"), true),
                "{origin}"
            );
        }
        let listed = vec!["https://web.example".to_owned()];
        assert!(origin_allowed(
            &listed,
            &headers(Some("https://web.example"), "irc.example:8443"),
            true
        ));
        let any = vec!["*".to_owned()];
        assert!(origin_allowed(
            &any,
            &headers(Some("https://evil.example"), "irc.example"),
            true
        ));
    }
}
