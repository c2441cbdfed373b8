//! One benchmark client: connect (plain or TLS), a line reader with a hard line cap, and the
//! standard registration (NICK/USER, answer PING, wait for 001) and JOIN.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use charla_proto::Message;
use charla_proto::numeric::{ERR_NICKNAMEINUSE, RPL_ENDOFNAMES, RPL_WELCOME};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

/// Largest read buffer per connection; a line longer than this is dropped, so the generator
/// keeps its own memory bounded whatever the server sends.
const READ_BUF: usize = 32 * 1024;
/// First read buffer per connection. It doubles (up to `READ_BUF`) when a read fills it: a busy
/// reader soon reads big batches, and a client that only registers never zeroes 32 KiB (that
/// was a tenth of the generator's CPU in `connect`).
const FIRST_READ_BUF: usize = 2 * 1024;

/// The read half of a connection.
pub type ReadHalf = Box<dyn AsyncRead + Unpin + Send>;
/// The write half of a connection.
pub type WriteHalf = Box<dyn AsyncWrite + Unpin + Send>;

/// Why a client could not register or join.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// Connecting or reading/writing failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The server closed the connection without a word.
    #[error("closed by the server")]
    Closed,
    /// The server sent `ERROR` (its text) or refused with an error numeric.
    #[error("server said: {0}")]
    Refused(String),
    /// No answer in time.
    #[error("timed out")]
    Timeout,
}

/// How to open connections.
#[derive(Clone)]
pub struct Connector {
    /// The server.
    pub addr: SocketAddr,
    /// TLS, when asked for.
    pub tls: Option<TlsConnector>,
    /// The local address to bind (e.g. 127.0.0.2 to come from another IP), if any.
    pub local_ip: Option<std::net::IpAddr>,
    /// A small receive buffer (bytes), for clients that are meant not to read.
    pub recv_buffer: Option<u32>,
    /// The real name sent with USER (`charla bench` when `None`).
    pub realname: Option<Arc<str>>,
    /// When non-zero, each connection comes from the next of this many loopback addresses
    /// (127.0.1.1, 127.0.1.2, ...), so that a server's per-IP limits do not hide the behaviour
    /// a scenario looks at.
    pub spread: u32,
    next_ip: Arc<std::sync::atomic::AtomicU32>,
    /// Other nodes of the same network: connections go to `addr` and these in turn.
    pub others: Vec<SocketAddr>,
    next_addr: Arc<std::sync::atomic::AtomicU32>,
    /// Returning clients (see [`Connector::returning`]): a TLS connector each, with its own
    /// sessions, taken in turn.
    returning: Option<Arc<[TlsConnector]>>,
    next_returning: Arc<AtomicUsize>,
    /// TLS handshakes that resumed a session.
    pub resumed: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .field("local_ip", &self.local_ip)
            .finish()
    }
}

impl Connector {
    /// Plain TCP or TLS to `addr`.
    pub fn new(addr: SocketAddr, tls: bool) -> Self {
        Self {
            addr,
            tls: tls.then(insecure_tls_connector),
            local_ip: None,
            recv_buffer: None,
            realname: None,
            spread: 0,
            next_ip: Arc::default(),
            others: Vec::new(),
            next_addr: Arc::default(),
            returning: None,
            next_returning: Arc::default(),
            resumed: Arc::default(),
        }
    }

    /// The same connector for `n` clients that come back: over TLS, each keeps the sessions
    /// its server gave it (rustls's store, one server name) and offers to resume them. The
    /// k-th connection is the (k mod n)-th client's, so a second round of `n` connections
    /// resumes the first round's.
    pub fn returning(mut self, n: usize) -> Self {
        if let Some(tls) = &self.tls {
            let clients = (0..n.max(1))
                .map(|_| {
                    let mut config = rustls::ClientConfig::clone(tls.config());
                    config.resumption = rustls::client::Resumption::store(Arc::new(
                        rustls::client::ClientSessionMemoryCache::new(1),
                    ));
                    TlsConnector::from(Arc::new(config))
                })
                .collect();
            self.returning = Some(clients);
        }
        self
    }

    /// The same connector speaking TLS 1.2 only (if it speaks TLS).
    pub fn tls12_only(mut self) -> Self {
        if self.tls.is_some() {
            self.tls = Some(insecure_tls_connector_for(&[&rustls::version::TLS12]));
        }
        self
    }

    /// The node the next connection goes to: `addr`, then each of `others`, in turn.
    fn next_addr(&self) -> SocketAddr {
        if self.others.is_empty() {
            return self.addr;
        }
        let n = self.others.len() + 1;
        let k = self
            .next_addr
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed) as usize
            % n;
        if k == 0 {
            self.addr
        } else {
            self.others[k - 1]
        }
    }

    /// The local address the next connection binds, if any.
    fn local_ip(&self) -> Option<std::net::IpAddr> {
        if self.spread == 0 || !self.addr.is_ipv4() {
            return self.local_ip;
        }
        let k = self
            .next_ip
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % self.spread;
        Some(spread_ip(k).into())
    }

    /// The same, from another local address.
    pub fn with_local_ip(&self, ip: std::net::IpAddr) -> Self {
        Self {
            local_ip: Some(ip),
            spread: 0,
            ..self.clone()
        }
    }

    /// Opens a connection (the TLS handshake included).
    pub async fn open(&self) -> io::Result<(ReadHalf, WriteHalf)> {
        let socket = if self.addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(bytes) = self.recv_buffer {
            socket.set_recv_buffer_size(bytes)?;
        }
        if let Some(ip) = self.local_ip() {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let stream: TcpStream = socket.connect(self.next_addr()).await?;
        stream.set_nodelay(true)?;
        match &self.tls {
            None => {
                let (r, w) = stream.into_split();
                Ok((Box::new(r), Box::new(w)))
            }
            Some(tls) => {
                let name = ServerName::try_from("localhost")
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let tls = match &self.returning {
                    Some(clients) => {
                        &clients
                            [self.next_returning.fetch_add(1, Ordering::Relaxed) % clients.len()]
                    }
                    None => tls,
                };
                let stream = tls.connect(name, stream).await?;
                if stream.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                    self.resumed.fetch_add(1, Ordering::Relaxed);
                }
                let (r, w) = tokio::io::split(stream);
                Ok((Box::new(r), Box::new(w)))
            }
        }
    }
}

/// The `k`-th spread source address: 127.0.(1 + k / 250).(1 + k % 250), never 127.0.0.x.
pub fn spread_ip(k: u32) -> std::net::Ipv4Addr {
    let k = k % (250 * 250);
    std::net::Ipv4Addr::new(127, 0, (1 + k / 250) as u8, (1 + k % 250) as u8)
}

/// A TLS connector that accepts any certificate: the generator only talks to servers on this
/// machine, which use self-signed certificates.
fn insecure_tls_connector() -> TlsConnector {
    insecure_tls_connector_for(rustls::DEFAULT_VERSIONS)
}

/// The same, speaking only `versions`.
fn insecure_tls_connector_for(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map(|b| {
            let mut config = b
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth();
            // Every client a new one, as the users of a registration storm are: no session
            // resumed from the tickets or session IDs of the clients before it (rustls's
            // default keeps 256 and resumes them, which skips the server's signature, and
            // in TLS 1.2 its key exchange too).
            config.resumption = rustls::client::Resumption::disabled();
            config
        });
    match config {
        Ok(config) => TlsConnector::from(Arc::new(config)),
        // The ring provider supports the default versions; this branch is unreachable in
        // practice and falls back to a config that will fail at handshake time.
        Err(_) => TlsConnector::from(Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        )),
    }
}

/// Accepts every server certificate, but still checks handshake signatures.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Splits a byte stream into lines, keeping at most `READ_BUF` bytes of a partial line.
pub struct LineReader {
    inner: ReadHalf,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes read so far.
    pub bytes: u64,
    /// Over-long lines dropped.
    pub dropped: u64,
}

impl LineReader {
    /// Wraps a read half.
    pub fn new(inner: ReadHalf) -> Self {
        Self {
            inner,
            buf: vec![0; FIRST_READ_BUF],
            start: 0,
            end: 0,
            bytes: 0,
            dropped: 0,
        }
    }

    /// The next complete line already buffered, without CR LF.
    pub fn next_buffered(&mut self) -> Option<&[u8]> {
        let pending = &self.buf[self.start..self.end];
        let i = memchr::memchr(b'\n', pending)?;
        let line_start = self.start;
        self.start += i + 1;
        let mut line = &self.buf[line_start..line_start + i];
        if let [head @ .., b'\r'] = line {
            line = head;
        }
        Some(line)
    }

    /// Reads more bytes from the socket; `Ok(0)` at end of stream.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start == 0 && self.buf.len() < READ_BUF {
                self.grow();
            } else if self.start == 0 {
                // A partial line fills the whole buffer: drop it rather than grow.
                self.dropped += 1;
                self.end = 0;
            } else {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
        }
        let n = self.inner.read(&mut self.buf[self.end..]).await?;
        if self.end + n == self.buf.len() && self.buf.len() < READ_BUF {
            // The read took all the room there was: more was probably waiting.
            self.grow();
        }
        self.end += n;
        self.bytes += n as u64;
        Ok(n)
    }

    fn grow(&mut self) {
        let len = (self.buf.len() * 2).min(READ_BUF);
        self.buf.resize(len, 0);
    }

    /// The next line as text (lossy UTF-8), reading as needed; `None` at end of stream.
    pub async fn next_line(&mut self) -> io::Result<Option<String>> {
        loop {
            if let Some(line) = self.next_buffered() {
                return Ok(Some(String::from_utf8_lossy(line).into_owned()));
            }
            if self.fill().await? == 0 {
                return Ok(None);
            }
        }
    }
}

/// A registered client.
pub struct Client {
    /// Its nick.
    pub nick: String,
    /// Incoming lines.
    pub reader: LineReader,
    /// Outgoing bytes.
    pub writer: WriteHalf,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("nick", &self.nick).finish()
    }
}

/// What a line means to a client that is waiting for something.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// `PING`: answer with this `PONG` line.
    Ping(String),
    /// `ERROR`: the server is closing the link.
    Error(String),
    /// A numeric reply, its code and its parameters after the target.
    Numeric(u16, Vec<String>),
    /// Anything else.
    Other,
}

/// Classifies a line received.
pub fn classify(line: &str) -> Reply {
    let Ok(msg) = Message::parse(line) else {
        return Reply::Other;
    };
    if msg.command.eq_ignore_ascii_case("PING") {
        let token = msg.param(0).unwrap_or("");
        return Reply::Ping(format!("PONG :{token}\r\n"));
    }
    if msg.command.eq_ignore_ascii_case("ERROR") {
        return Reply::Error(msg.param(0).unwrap_or("").to_owned());
    }
    if msg.command.len() == 3
        && let Ok(code) = msg.command.parse::<u16>()
    {
        let params = msg.params.iter().skip(1).map(|p| (*p).to_owned()).collect();
        return Reply::Numeric(code, params);
    }
    Reply::Other
}

/// Whether a numeric is an error that ends registration (other than a nick in use).
fn fatal_registration_error(code: u16) -> bool {
    matches!(code, 432 | 436 | 451 | 461 | 462 | 463 | 464 | 465 | 468)
}

/// Connects and registers as `nick`, answering PINGs, until `001` (or `deadline`).
pub async fn register(
    connector: &Connector,
    nick: &str,
    deadline: Duration,
) -> Result<Client, ConnError> {
    match timeout(deadline, register_inner(connector, nick)).await {
        Ok(result) => result,
        Err(_) => Err(ConnError::Timeout),
    }
}

async fn register_inner(connector: &Connector, nick: &str) -> Result<Client, ConnError> {
    let (r, mut writer) = connector.open().await?;
    let mut reader = LineReader::new(r);
    let mut nick = nick.to_owned();
    writer
        .write_all(
            format!(
                "NICK {nick}\r\nUSER {nick} 0 * :{}\r\n",
                connector.realname.as_deref().unwrap_or("charla bench")
            )
            .as_bytes(),
        )
        .await?;
    let mut retries = 0;
    loop {
        let Some(line) = reader.next_line().await? else {
            return Err(ConnError::Closed);
        };
        match classify(&line) {
            Reply::Ping(pong) => writer.write_all(pong.as_bytes()).await?,
            Reply::Error(text) => return Err(ConnError::Refused(text)),
            Reply::Numeric(RPL_WELCOME, _) => {
                return Ok(Client {
                    nick,
                    reader,
                    writer,
                });
            }
            Reply::Numeric(ERR_NICKNAMEINUSE, _) if retries < 3 => {
                retries += 1;
                nick.push('_');
                writer
                    .write_all(format!("NICK {nick}\r\n").as_bytes())
                    .await?;
            }
            Reply::Numeric(code, params)
                if code == ERR_NICKNAMEINUSE || fatal_registration_error(code) =>
            {
                return Err(ConnError::Refused(format!("{code} {}", params.join(" "))));
            }
            _ => {}
        }
    }
}

/// Joins `channel` and waits for the end of its NAMES list (or `deadline`).
pub async fn join(client: &mut Client, channel: &str, deadline: Duration) -> Result<(), ConnError> {
    let work = async {
        client
            .writer
            .write_all(format!("JOIN {channel}\r\n").as_bytes())
            .await?;
        loop {
            let Some(line) = client.reader.next_line().await? else {
                return Err(ConnError::Closed);
            };
            match classify(&line) {
                Reply::Ping(pong) => client.writer.write_all(pong.as_bytes()).await?,
                Reply::Error(text) => return Err(ConnError::Refused(text)),
                Reply::Numeric(RPL_ENDOFNAMES, _) => return Ok(()),
                // 403, 405, 471..=477: the join was refused.
                Reply::Numeric(code @ (403 | 405 | 471..=477), params) => {
                    return Err(ConnError::Refused(format!("{code} {}", params.join(" "))));
                }
                _ => {}
            }
        }
    };
    match timeout(deadline, work).await {
        Ok(result) => result,
        Err(_) => Err(ConnError::Timeout),
    }
}

/// How long a client waits for an answer before it checks the server's lag with a PING, as
/// IRC clients do. Besides, a server may leave a client's commands unread while it has more
/// than a few KB queued for it, until the client sends more (InspIRCd's `softsendq`, 8 KB in
/// Debian's sample): a client that sent a PART or QUIT in a storm of others would wait for
/// ever.
const LAG_CHECK: Duration = Duration::from_secs(1);

/// The next line from `client`, sending a lag-check PING whenever none came for [`LAG_CHECK`].
async fn next_line_or_lag_check(client: &mut Client) -> Result<Option<String>, ConnError> {
    loop {
        tokio::select! {
            line = client.reader.next_line() => return Ok(line?),
            () = tokio::time::sleep(LAG_CHECK) => {
                client.writer.write_all(b"PING :lag\r\n").await?;
            }
        }
    }
}

/// Leaves `channel`: sends PART and reads (answering PINGs) until the server echoes it back
/// to `client`, or `deadline`.
pub async fn part(client: &mut Client, channel: &str, deadline: Duration) -> Result<(), ConnError> {
    // 403, 442: the part was refused.
    let refused = |code| matches!(code, 403 | 442);
    until_own(
        client,
        &format!("PART {channel}\r\n"),
        "PART",
        refused,
        deadline,
    )
    .await
}

/// Changes `client`'s nick to `new`: sends NICK and reads (answering PINGs) until the server
/// echoes it back, or `deadline`.
pub async fn nick(client: &mut Client, new: &str, deadline: Duration) -> Result<(), ConnError> {
    // 431-436: the nick was refused.
    let refused = |code| (431..=436).contains(&code);
    until_own(
        client,
        &format!("NICK {new}\r\n"),
        "NICK",
        refused,
        deadline,
    )
    .await?;
    client.nick = new.to_owned();
    Ok(())
}

/// Sends `line` and reads (answering PINGs, checking the lag) until the server echoes a
/// `command` from `client`, or answers with a numeric `refused` says is a refusal, or
/// `deadline`.
async fn until_own(
    client: &mut Client,
    line: &str,
    command: &str,
    refused: impl Fn(u16) -> bool,
    deadline: Duration,
) -> Result<(), ConnError> {
    let work = async {
        client.writer.write_all(line.as_bytes()).await?;
        loop {
            let Some(line) = next_line_or_lag_check(client).await? else {
                return Err(ConnError::Closed);
            };
            if is_own(&line, &client.nick, command) {
                return Ok(());
            }
            match classify(&line) {
                Reply::Ping(pong) => client.writer.write_all(pong.as_bytes()).await?,
                Reply::Error(text) => return Err(ConnError::Refused(text)),
                Reply::Numeric(code, params) if refused(code) => {
                    return Err(ConnError::Refused(format!("{code} {}", params.join(" "))));
                }
                _ => {}
            }
        }
    };
    match timeout(deadline, work).await {
        Ok(result) => result,
        Err(_) => Err(ConnError::Timeout),
    }
}

/// Quits: sends QUIT and reads until the server closes the connection, or `deadline`.
pub async fn quit(mut client: Client, deadline: Duration) -> Result<(), ConnError> {
    let work = async {
        client.writer.write_all(b"QUIT :hasta luego\r\n").await?;
        while next_line_or_lag_check(&mut client).await?.is_some() {}
        Ok(())
    };
    match timeout(deadline, work).await {
        Ok(result) => result,
        Err(_) => Err(ConnError::Timeout),
    }
}

/// Whether `line` is a `command` whose source is `nick`.
fn is_own(line: &str, nick: &str, command: &str) -> bool {
    let Ok(msg) = Message::parse(line) else {
        return false;
    };
    msg.command.eq_ignore_ascii_case(command)
        && msg
            .source
            .is_some_and(|source| source.split('!').next() == Some(nick))
}

/// Reads and drops what the server sends `client` (answering PINGs) until `stop` turns true:
/// a member kept reading while others join, as a real client would. Unread, each early member
/// of a big channel would get every later JOIN into its send queue (15,000 members: about a
/// megabyte each) and be disconnected before the load starts.
pub async fn drain_until(
    client: &mut Client,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<(), ConnError> {
    loop {
        while let Some(line) = client.reader.next_buffered() {
            if line.starts_with(b"PING") {
                let line = String::from_utf8_lossy(line).into_owned();
                if let Reply::Ping(pong) = classify(&line) {
                    client.writer.write_all(pong.as_bytes()).await?;
                }
            } else if line.starts_with(b"ERROR") {
                return Err(ConnError::Refused(
                    String::from_utf8_lossy(line).into_owned(),
                ));
            }
        }
        tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => return Ok(()),
            read = client.reader.fill() => {
                if read? == 0 {
                    return Err(ConnError::Closed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader_over(bytes: &'static [u8]) -> LineReader {
        LineReader::new(Box::new(bytes))
    }

    /// A reader over `len` bytes of `fill`, then `rest`.
    fn reader_over_long(fill: u8, len: usize, rest: &[u8]) -> LineReader {
        let mut text = vec![fill; len];
        text.extend_from_slice(rest);
        reader_over(Box::leak(text.into_boxed_slice()))
    }

    #[test]
    fn a_part_is_the_client_s_own_only_with_its_nick_as_source() {
        let is_own_part = |line, nick| is_own(line, nick, "PART");
        assert!(is_own(":jb7!u@h NICK jb7_", "jb7", "NICK"));
        assert!(!is_own(":jb7!u@h NICK jb7_", "jb7_", "NICK"));
        assert!(is_own_part(":jb7!u@h PART #c", "jb7"));
        assert!(is_own_part("@time=x :jb7!u@h PART #c :bye", "jb7"));
        assert!(!is_own_part(":jb71!u@h PART #c", "jb7"));
        assert!(!is_own_part(":jb!u@h PART #c", "jb7"));
        assert!(!is_own_part(":jb7!u@h PRIVMSG #c :PART", "jb7"));
        assert!(!is_own_part(
            ":srv 442 jb7 #c :You're not on that channel",
            "jb7"
        ));
    }

    #[tokio::test]
    async fn lines_are_split_on_lf_and_crlf() {
        let mut r = reader_over(b"PING :a\r\nb\nc");
        assert_eq!(r.next_line().await.unwrap().as_deref(), Some("PING :a"));
        assert_eq!(r.next_line().await.unwrap().as_deref(), Some("b"));
        // "c" has no newline: the stream ends first.
        assert_eq!(r.next_line().await.unwrap(), None);
    }

    #[tokio::test]
    async fn the_buffer_grows_for_a_long_line_up_to_its_cap() {
        let mut r = reader_over_long(b'y', FIRST_READ_BUF * 5, b"\r\n");
        let line = r.next_line().await.unwrap().expect("a line");
        assert_eq!(line.len(), FIRST_READ_BUF * 5);
        assert_eq!(r.dropped, 0);
        assert!(r.buf.len() <= READ_BUF);
    }

    #[tokio::test]
    async fn an_endless_line_is_dropped_not_buffered() {
        let mut r = reader_over_long(b'x', READ_BUF * 3, b"\r\nok\r\n");
        let mut lines = Vec::new();
        while let Some(line) = r.next_line().await.unwrap() {
            lines.push(line);
        }
        assert_eq!(lines.last().map(String::as_str), Some("ok"));
        assert!(r.dropped >= 1);
        assert!(lines.iter().all(|l| l.len() <= READ_BUF));
        assert_eq!(r.buf.len(), READ_BUF);
    }

    #[test]
    fn spread_addresses_stay_in_loopback() {
        assert_eq!(spread_ip(0), std::net::Ipv4Addr::new(127, 0, 1, 1));
        assert_eq!(spread_ip(251), std::net::Ipv4Addr::new(127, 0, 2, 2));
        for k in [0, 249, 250, 62_499, 62_500, u32::MAX] {
            let ip = spread_ip(k);
            assert!(ip.is_loopback() && ip.octets()[2] >= 1 && ip.octets()[3] >= 1);
        }
    }

    #[test]
    fn replies_are_classified() {
        assert_eq!(
            classify("PING :irc.example"),
            Reply::Ping("PONG :irc.example\r\n".into())
        );
        assert_eq!(
            classify(":srv ERROR :Closing link (SendQ exceeded)"),
            Reply::Error("Closing link (SendQ exceeded)".into())
        );
        assert_eq!(
            classify(":srv 001 Ñandú :Welcome 🦜"),
            Reply::Numeric(1, vec!["Welcome 🦜".into()])
        );
        assert_eq!(classify(":a!b@c PRIVMSG #x :hi"), Reply::Other);
        assert_eq!(classify(""), Reply::Other);
    }
}
