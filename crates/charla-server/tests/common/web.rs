//! Clients for the HTTP listener's tests: a plain HTTP/1.1 request over any stream, and an IRC
//! client over WebSocket (tokio-tungstenite) with the same helpers as `TestClient`.
//!
//! Every wait has the common timeout.

use std::net::SocketAddr;

use charla_proto::OwnedMessage;
use charla_proto::numeric;
use charla_server::Config;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::{TIMEOUT, TestServer};

/// The test configuration with the HTTP listener on, plain, on 127.0.0.1 with a free port.
pub fn http_config() -> Config {
    let mut c = TestServer::test_config();
    c.http.enabled = true;
    c.http.tls = false;
    c.http.address = SocketAddr::from(([127, 0, 0, 1], 0));
    c
}

/// A byte stream of either kind (TCP, TLS).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body (chunked transfer decoded).
    pub body: Vec<u8>,
}

impl Reply {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `request` (whole, with `Connection: close`) on `stream` and reads the response to
/// the end of the stream.
pub async fn request(mut stream: impl Io, request: &[u8]) -> Reply {
    let mut raw = Vec::new();
    tokio::time::timeout(TIMEOUT, async {
        stream.write_all(request).await.expect("send request");
        stream.read_to_end(&mut raw).await.expect("read response");
    })
    .await
    .expect("HTTP response timed out");
    parse(&raw)
}

/// `GET path` over plain TCP.
pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    request(stream, req.as_bytes()).await
}

fn parse(raw: &[u8]) -> Reply {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..end]).expect("headers are text");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size = usize::from_str_radix(
            std::str::from_utf8(&data[..eol])
                .expect("chunk size")
                .split(';')
                .next()
                .unwrap_or(""),
            16,
        )
        .expect("chunk size");
        data = &data[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// An IRC client over WebSocket.
pub struct WsClient {
    ws: WebSocketStream<Box<dyn Io>>,
    /// The subprotocol the server chose, if any.
    pub protocol: Option<String>,
    /// The nick given to `register`.
    pub nick: String,
    /// Every line received, for failure messages.
    pub seen: Vec<String>,
}

impl WsClient {
    /// Opens `/socket` over `stream` (to `host`), offering `protocols` and sending `origin`.
    /// `Err` carries the HTTP status of a refused upgrade.
    pub async fn open(
        stream: Box<dyn Io>,
        url: &str,
        protocols: &[&str],
        origin: Option<&str>,
    ) -> Result<WsClient, u16> {
        let mut req = url.into_client_request().expect("request");
        if !protocols.is_empty() {
            req.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_str(&protocols.join(", ")).expect("header"),
            );
        }
        if let Some(origin) = origin {
            req.headers_mut()
                .insert("origin", HeaderValue::from_str(origin).expect("header"));
        }
        let opened = tokio::time::timeout(TIMEOUT, tokio_tungstenite::client_async(req, stream))
            .await
            .expect("WebSocket handshake timed out");
        match opened {
            Ok((ws, response)) => Ok(WsClient {
                ws,
                protocol: response
                    .headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                nick: String::new(),
                seen: Vec::new(),
            }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(e) => panic!("WebSocket handshake failed: {e}"),
        }
    }

    /// Opens `ws://addr/socket` offering `protocols`.
    pub async fn connect(addr: SocketAddr, protocols: &[&str]) -> WsClient {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        Self::open(
            Box::new(tcp),
            &format!("ws://{addr}/socket"),
            protocols,
            None,
        )
        .await
        .expect("upgrade refused")
    }

    /// Sends one line as one message (text, or binary with `binary.ircv3.net`).
    pub async fn send(&mut self, line: &str) {
        let message = if self.protocol.as_deref() == Some("binary.ircv3.net") {
            Message::Binary(line.as_bytes().to_vec().into())
        } else {
            Message::Text(line.into())
        };
        tokio::time::timeout(TIMEOUT, self.ws.send(message))
            .await
            .expect("send timed out")
            .expect("send");
    }

    /// The next line; panics on timeout or close. Checks one line per message, without CR LF,
    /// in the frame kind of the subprotocol.
    pub async fn recv(&mut self) -> OwnedMessage {
        loop {
            let next = tokio::time::timeout(TIMEOUT, self.ws.next()).await;
            let message = match next {
                Ok(Some(Ok(m))) => m,
                other => panic!(
                    "{}: no line ({other:?}); seen:\n{}",
                    self.nick,
                    self.seen.join("\n")
                ),
            };
            let binary = self.protocol.as_deref() == Some("binary.ircv3.net");
            let line = match message {
                Message::Text(t) => {
                    assert!(!binary, "a text message under binary.ircv3.net");
                    t.as_str().to_owned()
                }
                Message::Binary(b) => {
                    assert!(binary, "a binary message under text");
                    String::from_utf8(b.to_vec()).expect("UTF-8")
                }
                _ => continue,
            };
            assert!(
                !line.contains(['\r', '\n']),
                "a message with a line break: {line:?}"
            );
            self.seen.push(line.clone());
            return OwnedMessage::parse(&line).expect("parsable line");
        }
    }

    /// Skips lines until one matches `pred`.
    pub async fn expect(&mut self, pred: impl Fn(&OwnedMessage) -> bool) -> OwnedMessage {
        loop {
            let m = self.recv().await;
            if pred(&m) {
                return m;
            }
        }
    }

    /// Skips lines until command `cmd`.
    pub async fn expect_command(&mut self, cmd: &str) -> OwnedMessage {
        self.expect(|m| m.command.eq_ignore_ascii_case(cmd)).await
    }

    /// Sends NICK and USER and waits for the end of the MOTD.
    pub async fn register(&mut self, nick: &str) {
        self.nick = nick.to_owned();
        self.send(&format!("NICK {nick}")).await;
        self.send(&format!("USER {nick} 0 * :Test {nick}")).await;
        self.expect(|m| m.command == format!("{:03}", numeric::RPL_WELCOME))
            .await;
        self.expect(|m| m.command == "376" || m.command == "422")
            .await;
    }

    /// Reads until the server closes; returns the lines read.
    pub async fn expect_closed(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            match tokio::time::timeout(TIMEOUT, self.ws.next()).await {
                Err(_) => panic!("{}: not closed; seen:\n{}", self.nick, self.seen.join("\n")),
                Ok(None | Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return lines,
                Ok(Some(Ok(Message::Text(t)))) => lines.push(t.as_str().to_owned()),
                Ok(Some(Ok(Message::Binary(b)))) => {
                    lines.push(String::from_utf8_lossy(&b).into_owned())
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}
