//! The server side of a TLS connection that holds no buffer while it is idle.
//!
//! rustls's buffered connection (what tokio-rustls drives) keeps a 4 KiB read buffer and the
//! capacity of its send queue for the connection's whole life: most of what an idle TLS
//! client cost the server (`benches/tls_memory.rs`). Here rustls's unbuffered connection does
//! the protocol, and this stream owns the three buffers around it: ciphertext read but not
//! yet processed, plaintext not yet taken by the reader, ciphertext not yet written. Each is
//! freed as soon as it is empty, so an idle connection holds its TLS state and nothing else.
//! rustls does the handshake; then the connection is handed over to `records`, which keeps
//! its secrets only.
//!
//! Every byte rustls or the records ask to send goes to `outgoing` at once and leaves in
//! order, so the handshake's flights, alerts, key updates and the application's writes never
//! overtake each other.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rustls::ServerConfig;
use rustls::pki_types::CertificateDer;
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncodeTlsData, EncryptError, InsufficientSizeError,
    UnbufferedStatus, WriteTraffic,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::records::{Opened, Records};

/// Bytes read from the socket at a time (on the stack, not kept).
const READ_CHUNK: usize = 8 * 1024;
/// The most ciphertext held unprocessed: a whole handshake message (rustls accepts up to 64
/// KiB, joined from its records in place) and one more record. More is an attack, not a
/// client. After the handshake each whole record is processed before more is read, so the
/// buffer stays within a record and a read.
const MAX_INCOMING: usize = 0xffff + 5 + 16_384 + 2_048;
/// Ciphertext waiting for the socket beyond which a write waits for it to drain first.
const MAX_OUTGOING: usize = 64 * 1024;
/// Room reserved for each TLS record's header, nonce, content type and tag when encrypting
/// (TLS 1.2's explicit nonce and tag: 5 + 8 + 16; TLS 1.3's: 5 + 1 + 16).
const RECORD_OVERHEAD: usize = 64;
const MAX_RECORD: usize = 16_384;

/// Where the connection stands after rustls has processed what was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Progress {
    /// The handshake needs more from the peer.
    Handshaking,
    /// Application data may be written.
    Traffic,
    /// Both sides have sent close_notify.
    Closed,
}

/// A TLS connection over `IO` (a `TcpStream` in the server; anything in tests).
pub struct TlsStream<IO> {
    io: IO,
    engine: Engine,
    /// Ciphertext read and not yet processed (a partial record, or a record behind one).
    incoming: Vec<u8>,
    /// Plaintext decrypted and not yet read, from `plain_at` on.
    plain: Vec<u8>,
    plain_at: usize,
    /// Ciphertext to write, from `out_at` on.
    outgoing: Vec<u8>,
    out_at: usize,
    /// The peer has sent close_notify or closed its side: reads give end of stream.
    read_closed: bool,
    /// close_notify is in `outgoing` or gone.
    close_sent: bool,
    /// rustls or the records reported an error: they are not asked anything again (they
    /// would take the same bad input again, and queue a second alert).
    failed: bool,
}

/// What does the TLS protocol.
// A connection is `Records` for its life but the handshake, and the stream is boxed: inline,
// it costs one allocation instead of two (rustls's state is the transient one, boxed).
#[expect(
    clippy::large_enum_variant,
    reason = "the common state, in a boxed stream"
)]
enum Engine {
    /// rustls: the handshake.
    Rustls(Box<UnbufferedServerConnection>),
    /// After the handshake: records protected here, with what rustls agreed (`records`), and
    /// rustls's large state freed.
    Records(Records),
    /// rustls's connection given up and nothing in its place (its hand-over failed).
    Gone,
}

/// What a write asks the engine to seal.
#[derive(Clone, Copy)]
enum Seal<'a> {
    Data(&'a [u8]),
    CloseNotify,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStream<IO> {
    /// Runs the server side of the handshake over `io`. Also gives the client's certificate,
    /// if it sent one (its identity for SASL EXTERNAL): the connection keeps nothing of its
    /// handshake after this.
    pub async fn accept(
        config: Arc<ServerConfig>,
        io: IO,
    ) -> io::Result<(TlsStream<IO>, Option<CertificateDer<'static>>)> {
        let conn = UnbufferedServerConnection::new(config).map_err(invalid)?;
        let mut stream = TlsStream {
            io,
            engine: Engine::Rustls(Box::new(conn)),
            incoming: Vec::new(),
            plain: Vec::new(),
            plain_at: 0,
            outgoing: Vec::new(),
            out_at: 0,
            read_closed: false,
            close_sent: false,
            failed: false,
        };
        std::future::poll_fn(|cx| stream.poll_handshake(cx)).await?;
        let Engine::Rustls(conn) = &stream.engine else {
            unreachable!("rustls does the handshake");
        };
        let certificate = conn
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|cert| cert.clone().into_owned());
        stream.hand_over()?;
        Ok((stream, certificate))
    }

    /// Takes the connection from rustls once its handshake is over: its secrets (and TLS
    /// 1.3's key schedule) go to `records`, the rest of rustls's state is freed. What rustls had
    /// to send (the session tickets) is in `outgoing` already, and the records it did not
    /// process yet are in `incoming`, numbered after those it did.
    fn hand_over(&mut self) -> io::Result<()> {
        let Engine::Rustls(conn) = std::mem::replace(&mut self.engine, Engine::Gone) else {
            return Err(invalid("no TLS connection to hand over"));
        };
        let (secrets, kernel) = conn.dangerous_into_kernel_connection().map_err(|e| {
            self.failed = true;
            invalid(e)
        })?;
        let records = Records::new(secrets, kernel).map_err(|e| {
            self.failed = true;
            invalid(e)
        })?;
        self.engine = Engine::Records(records);
        Ok(())
    }

    /// The cipher suite the handshake agreed on.
    pub fn cipher_suite(&self) -> Option<rustls::CipherSuite> {
        match &self.engine {
            Engine::Rustls(conn) => conn.negotiated_cipher_suite().map(|s| s.suite()),
            Engine::Records(records) => Some(records.cipher_suite()),
            Engine::Gone => None,
        }
    }

    /// The records, if rustls handed the connection over.
    #[cfg(test)]
    fn records(&mut self) -> Option<&mut Records> {
        match &mut self.engine {
            Engine::Records(records) => Some(records),
            _ => None,
        }
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let progress = match self.drive() {
                Ok(progress) => progress,
                Err(e) => return Poll::Ready(Err(self.fail(cx, e))),
            };
            match progress {
                // The session tickets that may follow the handshake go out with the first
                // write if the socket does not take them now.
                Progress::Traffic => {
                    return match self.poll_write_out(cx) {
                        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                        _ => Poll::Ready(Ok(())),
                    };
                }
                Progress::Closed => return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into())),
                Progress::Handshaking => {
                    // The handshake's flights go before anything is awaited from the peer.
                    ready!(self.poll_write_out(cx))?;
                    if !ready!(self.poll_fill(cx))? {
                        return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
                    }
                }
            }
        }
    }

    /// Runs rustls over what has been read, until it needs more from the peer or has nothing
    /// left to do: what it has to send goes to `outgoing`, application data to `plain`.
    fn drive(&mut self) -> io::Result<Progress> {
        if self.failed {
            return Err(invalid("the TLS connection failed"));
        }
        let conn = match &mut self.engine {
            Engine::Rustls(conn) => conn,
            Engine::Records(records) => {
                if !self.read_closed {
                    let opened =
                        records.open(&mut self.incoming, &mut self.plain, &mut self.outgoing);
                    match opened {
                        Ok(Opened::More) => {}
                        // What follows close_notify is not read.
                        Ok(Opened::Closed) => {
                            self.read_closed = true;
                            self.incoming.clear();
                        }
                        Err(fatal) => {
                            self.failed = true;
                            records.fatal_alert(fatal, &mut self.outgoing);
                            // The data of the records before the fault is read first.
                            if self.plain_at == self.plain.len() {
                                return Err(invalid(fatal));
                            }
                        }
                    }
                }
                if self.incoming.is_empty() {
                    self.incoming = Vec::new();
                }
                // Reads end with `read_closed`, writes with `close_sent`.
                return Ok(Progress::Traffic);
            }
            Engine::Gone => return Err(invalid("the TLS connection failed")),
        };
        let result = loop {
            let UnbufferedStatus { mut discard, state } =
                conn.process_tls_records(&mut self.incoming);
            let step = match state {
                Err(e) => Err(invalid(e)),
                Ok(ConnectionState::ReadTraffic(mut traffic)) => {
                    let mut result = Ok(None);
                    while let Some(record) = traffic.next_record() {
                        match record {
                            Ok(record) => {
                                discard += record.discard;
                                self.plain.extend_from_slice(record.payload);
                            }
                            Err(e) => {
                                result = Err(invalid(e));
                                break;
                            }
                        }
                    }
                    result
                }
                Ok(ConnectionState::EncodeTlsData(mut data)) => {
                    encode(&mut data, &mut self.outgoing).map(|()| None)
                }
                // `outgoing` takes everything in order and is written out before anything
                // is awaited, so what rustls encoded counts as sent.
                Ok(ConnectionState::TransmitTlsData(data)) => {
                    data.done();
                    Ok(None)
                }
                Ok(ConnectionState::PeerClosed) => {
                    self.read_closed = true;
                    Ok(None)
                }
                Ok(ConnectionState::BlockedHandshake) => Ok(Some(Progress::Handshaking)),
                Ok(ConnectionState::WriteTraffic(_)) => Ok(Some(Progress::Traffic)),
                Ok(ConnectionState::Closed) => Ok(Some(Progress::Closed)),
                // Early data is not enabled (`max_early_data_size` is 0).
                Ok(other) => Err(invalid(format!("unexpected TLS state {other:?}"))),
            };
            self.incoming.drain(..discard);
            match step {
                Ok(None) => {}
                Ok(Some(progress)) => break Ok(progress),
                Err(e) => break Err(e),
            }
        };
        if result.is_err() {
            self.failed = true;
            self.take_alert();
        }
        if self.incoming.is_empty() {
            self.incoming = Vec::new();
        }
        result
    }

    /// After rustls's first error: encodes the alert it queued for the peer, if it did.
    /// rustls is asked once only: asked again, it would read the bad input again.
    fn take_alert(&mut self) {
        let Engine::Rustls(conn) = &mut self.engine else {
            return;
        };
        let status = conn.process_tls_records(&mut self.incoming);
        if let Ok(ConnectionState::EncodeTlsData(mut alert)) = status.state {
            let _ = encode(&mut alert, &mut self.outgoing);
        }
    }

    /// After an error: tries once to send what is left to send (an alert), without waiting.
    fn fail(&mut self, cx: &mut Context<'_>, error: io::Error) -> io::Error {
        let _ = self.poll_write_out(cx);
        error
    }

    /// Reads what the socket has into `incoming`: `false` at its end.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        if self.incoming.len() >= MAX_INCOMING {
            return Poll::Ready(Err(invalid("too much TLS input without a whole record")));
        }
        let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut read = ReadBuf::uninit(&mut chunk);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut read))?;
        if read.filled().is_empty() {
            return Poll::Ready(Ok(false));
        }
        self.incoming.extend_from_slice(read.filled());
        Poll::Ready(Ok(true))
    }

    /// Writes `outgoing` out, and frees it once it is all gone.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_at < self.outgoing.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.outgoing[self.out_at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_at += n;
        }
        self.outgoing = Vec::new();
        self.out_at = 0;
        Poll::Ready(Ok(()))
    }

    /// Seals `what` into `outgoing` (everything read processed first).
    fn seal(&mut self, what: Seal<'_>) -> io::Result<()> {
        match self.drive()? {
            Progress::Traffic => {}
            Progress::Handshaking => return Err(invalid("TLS handshake not finished")),
            Progress::Closed => return Err(io::ErrorKind::BrokenPipe.into()),
        }
        // (A fault found while reading, whose data before it is still to be read.)
        if self.failed {
            return Err(invalid("the TLS connection failed"));
        }
        let result = match &mut self.engine {
            Engine::Records(records) => {
                let sealed = match what {
                    Seal::Data(_) if self.close_sent => {
                        return Err(io::ErrorKind::BrokenPipe.into());
                    }
                    Seal::Data(data) => records.seal(data, &mut self.outgoing),
                    Seal::CloseNotify => records.close_notify(&mut self.outgoing),
                };
                return sealed.map_err(|fatal| {
                    self.failed = true;
                    records.fatal_alert(fatal, &mut self.outgoing);
                    invalid(fatal)
                });
            }
            Engine::Gone => return Err(invalid("the TLS connection failed")),
            Engine::Rustls(conn) => {
                let UnbufferedStatus { discard, state } =
                    conn.process_tls_records(&mut self.incoming);
                let result = match state {
                    Ok(ConnectionState::WriteTraffic(mut traffic)) => match what {
                        Seal::Data(data) => encrypt(&mut traffic, data, &mut self.outgoing),
                        Seal::CloseNotify => grow_into(&mut self.outgoing, 64, |room| {
                            traffic.queue_close_notify(room).map_err(encrypt_error)
                        }),
                    },
                    Ok(other) => Err(invalid(format!("TLS not ready to write: {other:?}"))),
                    Err(e) => Err(invalid(e)),
                };
                self.incoming.drain(..discard);
                result
            }
        };
        if result.is_err() {
            self.failed = true;
            self.take_alert();
        }
        result
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.plain_at < this.plain.len() {
                let n = buf.remaining().min(this.plain.len() - this.plain_at);
                buf.put_slice(&this.plain[this.plain_at..this.plain_at + n]);
                this.plain_at += n;
                if this.plain_at == this.plain.len() {
                    this.plain = Vec::new();
                    this.plain_at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.read_closed {
                return Poll::Ready(Ok(()));
            }
            let progress = match this.drive() {
                Ok(progress) => progress,
                Err(e) => return Poll::Ready(Err(this.fail(cx, e))),
            };
            // rustls may have answered something (a key update): it goes out with the next
            // write if the socket will not take it now.
            if this.out_at < this.outgoing.len()
                && let Poll::Ready(Err(e)) = this.poll_write_out(cx)
            {
                return Poll::Ready(Err(e));
            }
            if this.plain_at < this.plain.len() || this.read_closed {
                continue;
            }
            if progress == Progress::Closed {
                this.read_closed = true;
                continue;
            }
            // An end of stream without close_notify ends reading all the same: a line
            // protocol has nothing a truncation could hide.
            if !ready!(this.poll_fill(cx))? {
                this.read_closed = true;
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.outgoing.len() - this.out_at >= MAX_OUTGOING {
            ready!(this.poll_write_out(cx))?;
        }
        this.seal(Seal::Data(data))?;
        // The bytes are taken whatever the socket says now; flush waits for them.
        if let Poll::Ready(Err(e)) = this.poll_write_out(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.close_sent {
            this.close_sent = true;
            // Without a traffic state (a failed connection) there is nothing to say.
            let _ = this.seal(Seal::CloseNotify);
        }
        ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// What rustls reports about a buffer: the size it needed, or another error.
enum Short {
    Needs(usize),
    Failed(io::Error),
}

fn encrypt_error(e: EncryptError) -> Short {
    match e {
        EncryptError::InsufficientSize(InsufficientSizeError { required_size }) => {
            Short::Needs(required_size)
        }
        other => Short::Failed(invalid(other)),
    }
}

/// Appends to `out` what `write` puts in a room of `room` bytes at its end, growing the room
/// to what rustls says it needs.
fn grow_into(
    out: &mut Vec<u8>,
    mut room: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, Short>,
) -> io::Result<()> {
    let start = out.len();
    loop {
        out.resize(start + room, 0);
        match write(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(Short::Needs(needed)) if needed > room => {
                out.truncate(start);
                room = needed;
            }
            Err(Short::Needs(_)) => {
                out.truncate(start);
                return Err(invalid("TLS buffer size"));
            }
            Err(Short::Failed(e)) => {
                out.truncate(start);
                return Err(e);
            }
        }
    }
}

fn encode(data: &mut EncodeTlsData<'_, ServerConnectionData>, out: &mut Vec<u8>) -> io::Result<()> {
    grow_into(out, 1024, |room| {
        data.encode(room).map_err(|e| match e {
            EncodeError::InsufficientSize(InsufficientSizeError { required_size }) => {
                Short::Needs(required_size)
            }
            other => Short::Failed(invalid(other)),
        })
    })
}

fn encrypt(
    traffic: &mut WriteTraffic<'_, ServerConnectionData>,
    data: &[u8],
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let room = data.len() + (data.len() / MAX_RECORD + 1) * RECORD_OVERHEAD;
    grow_into(out, room, |room| {
        traffic.encrypt(data, room).map_err(encrypt_error)
    })
}

fn invalid(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::Arc;

    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio_rustls::TlsConnector;

    use super::TlsStream;
    use crate::tls::Tls;
    use crate::tls::keys::Keys;

    /// A server configuration (the server's own, from a fresh certificate) and a client that
    /// trusts that certificate and speaks only `versions`.
    fn configs(
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> (Arc<rustls::ServerConfig>, TlsConnector) {
        let tls = Tls::self_signed(&["localhost"]).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(tls.certificate().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (tls.server_config(), TlsConnector::from(Arc::new(client)))
    }

    /// A client and a server over a pipe that takes `pipe` bytes at a time, so that records
    /// arrive in pieces and writes wait for the reader.
    async fn pair(
        versions: &[&'static rustls::SupportedProtocolVersion],
        pipe: usize,
    ) -> (
        tokio_rustls::client::TlsStream<DuplexStream>,
        TlsStream<DuplexStream>,
    ) {
        let (server_config, connector) = configs(versions);
        let (client_io, server_io) = tokio::io::duplex(pipe);
        let name = ServerName::try_from("localhost").unwrap();
        let (client, server) = tokio::join!(
            connector.connect(name, client_io),
            TlsStream::accept(server_config, server_io)
        );
        (client.unwrap(), server.unwrap().0)
    }

    fn idle(server: &TlsStream<DuplexStream>) -> bool {
        server.incoming.capacity() == 0
            && server.plain.capacity() == 0
            && server.outgoing.capacity() == 0
    }

    async fn both_ways(versions: &[&'static rustls::SupportedProtocolVersion], pipe: usize) {
        let (mut client, mut server) = pair(versions, pipe).await;
        assert!(
            server.records().is_some(),
            "rustls handed the connection over"
        );
        // (Through a small pipe, TLS 1.3's session tickets may still wait to be written.)
        assert!(
            server.incoming.capacity() == 0 && server.plain.capacity() == 0,
            "a fresh connection holds nothing it read"
        );

        // Bigger than a record each way, and bigger than the pipe.
        let up: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let down: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
        let (sent, got) = tokio::join!(
            async {
                client.write_all(&up).await.unwrap();
                client.flush().await.unwrap();
                let mut got = vec![0; down.len()];
                client.read_exact(&mut got).await.unwrap();
                got
            },
            async {
                let mut got = vec![0; up.len()];
                server.read_exact(&mut got).await.unwrap();
                server.write_all(&down).await.unwrap();
                server.flush().await.unwrap();
                got
            }
        );
        assert!(sent == down, "the client got what the server wrote");
        assert!(got == up, "the server got what the client wrote");
        assert!(idle(&server), "all read and written: no buffer held");

        // The client's close_notify is the end of the server's stream; the server's own
        // close_notify then ends the client's.
        client.shutdown().await.unwrap();
        let mut rest = Vec::new();
        server.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        server.shutdown().await.unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }

    #[tokio::test]
    async fn tls13_carries_data_both_ways_in_pieces_and_closes_cleanly() {
        both_ways(&[&rustls::version::TLS13], 100).await;
        both_ways(&[&rustls::version::TLS13], 64 * 1024).await;
    }

    #[tokio::test]
    async fn tls12_carries_data_both_ways_in_pieces_and_closes_cleanly() {
        both_ways(&[&rustls::version::TLS12], 100).await;
    }

    #[tokio::test]
    async fn aes_128_gcm_is_chosen_though_the_client_prefers_aes_256() {
        // rustls's clients, like OpenSSL's, list AES-256-GCM first.
        for (version, expected) in [
            (
                &rustls::version::TLS13,
                rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
            ),
            (
                &rustls::version::TLS12,
                rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            ),
        ] {
            let (_client, server) = pair(&[version], 4096).await;
            let suite = server.cipher_suite();
            assert_eq!(suite, Some(expected));
        }
    }

    #[tokio::test]
    async fn every_tls13_suite_carries_lines_across_key_updates_both_ways() {
        use rustls::crypto::ring::cipher_suite as stock;
        // AES-GCM's records are the server's own (`keys`), ChaCha20-Poly1305's rustls's.
        for suite in [
            stock::TLS13_AES_128_GCM_SHA256,
            stock::TLS13_AES_256_GCM_SHA384,
            stock::TLS13_CHACHA20_POLY1305_SHA256,
        ] {
            let tls = Tls::self_signed(&["localhost"]).unwrap();
            let mut roots = rustls::RootCertStore::empty();
            roots.add(tls.certificate().clone()).unwrap();
            let mut provider = rustls::crypto::ring::default_provider();
            provider.cipher_suites = vec![suite];
            let client = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
                .with_protocol_versions(&[&rustls::version::TLS13])
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            let (client_io, server_io) = tokio::io::duplex(4096);
            let name = ServerName::try_from("localhost").unwrap();
            let (client, server) = tokio::join!(
                TlsConnector::from(Arc::new(client)).connect(name, client_io),
                TlsStream::accept(tls.server_config(), server_io)
            );
            let (mut client, mut server) = (client.unwrap(), server.unwrap().0);
            assert!(server.records().is_some(), "TLS 1.3 is handed over");
            let negotiated = server.cipher_suite();
            assert_eq!(negotiated, Some(suite.suite()));

            for round in 0..3 {
                // The client's KeyUpdate asks the server to change its keys too (RFC 8446,
                // 4.6.3): each side then seals and opens with keys made afresh.
                if round > 0 {
                    client.get_mut().1.refresh_traffic_keys().unwrap();
                }
                let up = format!("PRIVMSG #sala :¡ronda {round}, señor!\r\n");
                client.write_all(up.as_bytes()).await.unwrap();
                client.flush().await.unwrap();
                let mut got = vec![0; up.len()];
                server.read_exact(&mut got).await.unwrap();
                assert_eq!(got, up.as_bytes(), "{suite:?}, round {round}");
                let down = format!(":charla NOTICE * :ronda {round}\r\n");
                server.write_all(down.as_bytes()).await.unwrap();
                server.flush().await.unwrap();
                let mut got = vec![0; down.len()];
                client.read_exact(&mut got).await.unwrap();
                assert_eq!(got, down.as_bytes(), "{suite:?}, round {round}");
            }
        }
    }

    #[tokio::test]
    async fn an_end_without_close_notify_is_the_end_of_the_stream() {
        let (mut client, mut server) = pair(&[&rustls::version::TLS13], 4096).await;
        client.write_all(b"QUIT\r\n").await.unwrap();
        client.flush().await.unwrap();
        drop(client);
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"QUIT\r\n");
    }

    #[tokio::test]
    async fn garbage_is_an_error_not_a_panic() {
        let (server_config, _) = configs(&[&rustls::version::TLS13]);
        // A fatal decode_error alert, in a TLS 1.2-versioned plaintext record.
        let decode_error = vec![0x15, 0x03, 0x03, 0x00, 0x02, 2, 50];
        for (bytes, answer) in [
            // Not TLS at all.
            (
                b"NICK alguien\r\nUSER a 0 * :a\r\n".to_vec(),
                decode_error.clone(),
            ),
            // A ClientHello cut short by the end of the stream: nothing to answer.
            (vec![0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5], vec![]),
            // Records of a content type that does not exist.
            (vec![0x16; 300], decode_error),
        ] {
            let (mut client_io, server_io) = tokio::io::duplex(4096);
            client_io.write_all(&bytes).await.unwrap();
            // Complete or not, nothing more comes.
            client_io.shutdown().await.unwrap();
            let accepted = TlsStream::accept(server_config.clone(), server_io).await;
            assert!(accepted.is_err(), "{bytes:?} was taken for a handshake");
            let mut said = Vec::new();
            client_io.read_to_end(&mut said).await.unwrap();
            assert_eq!(said, answer, "the server's answer to {bytes:?}");
        }
    }

    #[tokio::test]
    async fn records_after_the_handshake_that_do_not_decrypt_are_an_error() {
        let (client, mut server) = pair(&[&rustls::version::TLS13], 4096).await;
        let (mut io, _) = client.into_inner();
        // An application-data record of 40 bytes that no key made.
        let mut record = vec![0x17, 0x03, 0x03, 0x00, 40];
        record.extend_from_slice(&[0x55; 40]);
        io.write_all(&record).await.unwrap();
        let mut buf = [0; 64];
        assert!(server.read(&mut buf).await.is_err());
        // The session still says goodbye and closes: errors, no panic, no second alert.
        assert!(server.read(&mut buf).await.is_err());
        assert!(server.write_all(b"ERROR :bye\r\n").await.is_err());
        let _ = server.shutdown().await;
    }

    /// A client that seals its own records after a real handshake (rustls's client, its
    /// secrets taken once the handshake is over), to send what rustls's client would not.
    struct RawClient {
        io: DuplexStream,
        tx: Keys,
        tx_seq: u64,
        rx: Keys,
        rx_seq: u64,
        tls12: bool,
    }

    impl RawClient {
        /// A raw client and the server it shook hands with (TLS 1.3, AES-128-GCM).
        async fn pair() -> (RawClient, TlsStream<DuplexStream>) {
            RawClient::pair_with(&rustls::version::TLS13).await
        }

        /// The same over `version`.
        async fn pair_with(
            version: &'static rustls::SupportedProtocolVersion,
        ) -> (RawClient, TlsStream<DuplexStream>) {
            let tls = Tls::self_signed(&["localhost"]).unwrap();
            let mut roots = rustls::RootCertStore::empty();
            roots.add(tls.certificate().clone()).unwrap();
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut client = rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(&[version])
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            client.enable_secret_extraction = true;
            let (client_io, server_io) = tokio::io::duplex(64 * 1024);
            let name = ServerName::try_from("localhost").unwrap();
            let (client, server) = tokio::join!(
                TlsConnector::from(Arc::new(client)).connect(name, client_io),
                TlsStream::accept(tls.server_config(), server_io)
            );
            let (io, conn) = client.unwrap().into_inner();
            #[allow(deprecated)] // No key updates or tickets are needed from rustls here.
            let secrets = conn.dangerous_extract_secrets().unwrap();
            let raw = RawClient {
                io,
                tx: Keys::new(secrets.tx.1).unwrap(),
                tx_seq: secrets.tx.0,
                rx: Keys::new(secrets.rx.1).unwrap(),
                rx_seq: secrets.rx.0,
                tls12: version == &rustls::version::TLS12,
            };
            (raw, server.unwrap().0)
        }

        /// Seals a record of content type `typ` around `body` and sends it.
        async fn send(&mut self, typ: u8, body: &[u8]) {
            let mut record = Vec::new();
            if self.tls12 {
                self.tx.seal12(self.tx_seq, typ, body, &mut record);
            } else {
                self.tx.seal(self.tx_seq, typ, body, &mut record);
            }
            self.tx_seq += 1;
            self.io.write_all(&record).await.unwrap();
        }

        /// Every record the server sent until it closed: content types and contents.
        async fn received(&mut self) -> Vec<(u8, Vec<u8>)> {
            let mut bytes = Vec::new();
            let _ = self.io.read_to_end(&mut bytes).await;
            let mut records = Vec::new();
            let mut rest = &mut bytes[..];
            while rest.len() >= 5 {
                let len = 5 + usize::from(u16::from_be_bytes([rest[3], rest[4]]));
                let (record, after) = rest.split_at_mut(len);
                // After the server's own KeyUpdate its records are sealed with keys this
                // client does not have: marked, and the rest passed over.
                let typ = record[0];
                let opened = if self.tls12 {
                    self.rx
                        .open12(self.rx_seq, record)
                        .map(|content| (typ, content))
                } else {
                    self.rx.open(self.rx_seq, record)
                };
                let Ok((typ, content)) = opened else {
                    records.push((SEALED_WITH_NEW_KEYS, Vec::new()));
                    break;
                };
                records.push((typ, content.to_vec()));
                self.rx_seq += 1;
                rest = after;
            }
            records
        }
    }

    /// What the server reads until the end or an error, then its shutdown.
    async fn read_all(server: &mut TlsStream<DuplexStream>) -> Result<Vec<u8>, io::Error> {
        let mut got = Vec::new();
        let read = server.read_to_end(&mut got).await.map(|_| got);
        let _ = server.shutdown().await;
        read
    }

    const ALERT: u8 = 21;
    const HANDSHAKE: u8 = 22;
    const DATA: u8 = 23;
    /// Not a content type: a record that the old keys do not open.
    const SEALED_WITH_NEW_KEYS: u8 = 0xff;

    const UNEXPECTED_MESSAGE: u8 = 10;
    const RECORD_OVERFLOW: u8 = 22;
    const ILLEGAL_PARAMETER: u8 = 47;
    const DECODE_ERROR: u8 = 50;

    /// What is sent after the handshake (content types and contents), and the fatal alert
    /// that must answer it (none for the peer's own fatal alert).
    type Refused = (&'static str, &'static [(u8, &'static [u8])], Option<u8>);

    /// Data, a warning alert of `description`, data, close_notify and more data: the server
    /// reads the data before close_notify, and closes. What it sent.
    async fn warning_then_close_notify(
        client: &mut RawClient,
        server: &mut TlsStream<DuplexStream>,
        description: u8,
    ) -> Vec<(u8, Vec<u8>)> {
        client.send(DATA, "NICK señor\r\n".as_bytes()).await;
        client.send(ALERT, &[1, description]).await;
        client.send(DATA, b"QUIT\r\n").await;
        client.send(ALERT, &[1, 0]).await;
        client.send(DATA, b"after the end").await;
        let read = read_all(server).await.unwrap();
        assert_eq!(read, "NICK señor\r\nQUIT\r\n".as_bytes());
        client.received().await
    }

    /// Each case (and those of both versions) over a fresh connection of `version`: the
    /// server's read fails and its last record is the case's alert.
    async fn refused(version: &'static rustls::SupportedProtocolVersion, cases: &[Refused]) {
        let both: [Refused; 3] = [
            ("a fatal alert", &[(ALERT, &[2, 40])], None),
            (
                "two alerts in one record",
                &[(ALERT, &[1, 90, 1, 0])],
                Some(DECODE_ERROR),
            ),
            (
                "more than 2^14 bytes",
                &[(DATA, &[b'a'; 16_385])],
                Some(RECORD_OVERFLOW),
            ),
        ];
        for (what, records, alert) in both.iter().chain(cases) {
            let (mut client, mut server) = RawClient::pair_with(version).await;
            for (typ, body) in *records {
                client.send(*typ, body).await;
            }
            client.io.shutdown().await.unwrap();
            assert!(read_all(&mut server).await.is_err(), "{what} was taken");
            let said = client.received().await;
            let last = said.last().filter(|(typ, _)| *typ == ALERT);
            let expected = alert.map(|description| (ALERT, vec![2, description]));
            assert_eq!(last, expected.as_ref(), "{what}");
        }
        // Unprotected records: a ChangeCipherSpec, and a header that announces too much
        // (answered at once, without waiting for its body).
        for (what, bytes, description) in [
            (
                "a plain ChangeCipherSpec",
                &[20, 3, 3, 0, 1, 1][..],
                UNEXPECTED_MESSAGE,
            ),
            (
                "a record of 20,000 bytes",
                &[23, 3, 3, 0x4e, 0x20, 0][..],
                RECORD_OVERFLOW,
            ),
        ] {
            let (mut client, mut server) = RawClient::pair_with(version).await;
            client.io.write_all(bytes).await.unwrap();
            assert!(read_all(&mut server).await.is_err(), "{what} was taken");
            let said = client.received().await;
            assert_eq!(said.last(), Some(&(ALERT, vec![2, description])), "{what}");
        }
    }

    #[tokio::test]
    async fn after_the_handshake_tls13_is_the_servers_and_rustls_state_is_gone() {
        let (mut client, mut server) = RawClient::pair().await;
        assert!(server.records().is_some());
        assert_eq!(
            server.cipher_suite(),
            Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
        );
        // A warning that the user canceled is passed over.
        let said = warning_then_close_notify(&mut client, &mut server, 90).await;
        // The session tickets, then the server's own close_notify.
        assert_eq!(said.last(), Some(&(ALERT, vec![1, 0])));
        assert!(
            said[..said.len() - 1]
                .iter()
                .all(|(typ, _)| *typ == HANDSHAKE)
        );
    }

    #[tokio::test]
    async fn a_key_update_in_pieces_changes_the_keys_records_are_opened_with() {
        let (mut client, mut server) = RawClient::pair().await;
        client.send(DATA, b"PING :1\r\n").await;
        let mut got = vec![0; 9];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"PING :1\r\n");
        // A KeyUpdate that does not ask for the server's, in two records, then a record
        // sealed with the old key, which the server no longer opens with.
        client.send(HANDSHAKE, &[24, 0]).await;
        client.send(HANDSHAKE, &[0, 1, 0]).await;
        client.send(DATA, b"PING :2\r\n").await;
        assert!(read_all(&mut server).await.is_err());
        let said = client.received().await;
        assert_eq!(said.last(), Some(&(ALERT, vec![2, 20])), "bad_record_mac");
    }

    #[tokio::test]
    async fn a_key_update_that_asks_for_the_servers_is_answered_before_its_next_data() {
        let (mut client, mut server) = RawClient::pair().await;
        client.send(HANDSHAKE, &[24, 0, 0, 1, 1]).await;
        client.io.shutdown().await.unwrap();
        assert_eq!(read_all(&mut server).await.unwrap(), b"");
        server.write_all(b"PONG\r\n").await.ok();
        let said = client.received().await;
        let after_tickets: Vec<_> = said
            .iter()
            .skip_while(|(typ, body)| *typ == HANDSHAKE && body.first() == Some(&4))
            .collect();
        assert_eq!(
            after_tickets,
            [
                &(HANDSHAKE, vec![24, 0, 0, 1, 0]),
                &(SEALED_WITH_NEW_KEYS, vec![])
            ],
            "the server's KeyUpdate, then its close_notify under its new keys"
        );
    }

    #[tokio::test]
    async fn what_may_not_come_after_the_handshake_ends_it_with_the_right_alert() {
        let cases: [Refused; 7] = [
            (
                "a session ticket",
                &[(HANDSHAKE, &[4, 0, 0, 1, 0])],
                Some(UNEXPECTED_MESSAGE),
            ),
            (
                "data after a KeyUpdate in its record",
                &[(HANDSHAKE, &[24, 0, 0, 1, 0, 24])],
                Some(UNEXPECTED_MESSAGE),
            ),
            (
                "a KeyUpdate too long",
                &[(HANDSHAKE, &[24, 0, 0, 2, 0, 0])],
                Some(DECODE_ERROR),
            ),
            (
                "a KeyUpdate's unknown request",
                &[(HANDSHAKE, &[24, 0, 0, 1, 7])],
                Some(ILLEGAL_PARAMETER),
            ),
            (
                "data inside a handshake message",
                &[(HANDSHAKE, &[24, 0]), (DATA, b"x")],
                Some(UNEXPECTED_MESSAGE),
            ),
            (
                "a protected ChangeCipherSpec",
                &[(20, &[1])],
                Some(UNEXPECTED_MESSAGE),
            ),
            ("padding only", &[(0, &[0, 0])], Some(UNEXPECTED_MESSAGE)),
        ];
        refused(&rustls::version::TLS13, &cases).await;
    }

    #[tokio::test]
    async fn tls12_after_the_handshake_takes_data_and_warnings_and_refuses_the_rest() {
        let (mut client, mut server) = RawClient::pair_with(&rustls::version::TLS12).await;
        assert!(server.records().is_some());
        // A warning (no_renegotiation) is passed over.
        let said = warning_then_close_notify(&mut client, &mut server, 100).await;
        assert_eq!(said, [(ALERT, vec![1, 0])]);

        let cases: [Refused; 2] = [
            (
                "an alert of no level",
                &[(ALERT, &[3, 40])],
                Some(DECODE_ERROR),
            ),
            (
                "a renegotiation's ClientHello",
                &[(HANDSHAKE, &[1, 0, 0, 2, 3, 3])],
                Some(UNEXPECTED_MESSAGE),
            ),
        ];
        refused(&rustls::version::TLS12, &cases).await;
    }

    #[tokio::test]
    async fn the_sending_keys_change_before_their_limit() {
        let (mut client, mut server) = pair(&[&rustls::version::TLS13], 64 * 1024).await;
        // AES-GCM's limit is 2^24 records a key; four show the change as well.
        server.records().unwrap().set_limit(4);
        let lines: Vec<String> = (0..20)
            .map(|i| format!(":charla NOTICE * :{i}\r\n"))
            .collect();
        for line in &lines {
            server.write_all(line.as_bytes()).await.unwrap();
        }
        server.flush().await.unwrap();
        let mut got = vec![0; lines.concat().len()];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(
            got,
            lines.concat().as_bytes(),
            "rustls's client followed the changes"
        );
        client.write_all(b"QUIT\r\n").await.unwrap();
        let mut quit = [0; 6];
        server.read_exact(&mut quit).await.unwrap();
        assert_eq!(&quit, b"QUIT\r\n");
    }

    /// Sends `bytes` in pieces of the given sizes (the last piece takes the rest), then EOF.
    async fn send_in_pieces(io: &mut DuplexStream, bytes: &[u8], sizes: &[usize]) {
        let mut rest = bytes;
        for &size in sizes {
            let (piece, after) = rest.split_at(size.min(rest.len()));
            if io.write_all(piece).await.is_err() {
                return;
            }
            rest = after;
        }
        let _ = io.write_all(rest).await;
        let _ = io.shutdown().await;
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Anything a client sends instead of a handshake ends in an error, at once.
        #[test]
        fn any_bytes_before_the_handshake_end_it_without_a_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
            sizes in proptest::collection::vec(1usize..400, 0..8),
        ) {
            let (server_config, _) = configs(&[&rustls::version::TLS13, &rustls::version::TLS12]);
            runtime().block_on(async {
                let (mut client_io, server_io) = tokio::io::duplex(512);
                let accept = TlsStream::accept(server_config, server_io);
                let (accepted, ()) = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    async { tokio::join!(accept, send_in_pieces(&mut client_io, &bytes, &sizes)) },
                )
                .await
                .expect("the handshake ends with the input");
                assert!(accepted.is_err());
            });
        }

        /// Anything after a real handshake, random or in well-formed record headers, ends
        /// the stream or is an error, and the session can still try to say goodbye.
        #[test]
        fn any_bytes_after_the_handshake_end_the_stream_without_a_panic(
            random in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
            records in proptest::collection::vec(
                (20u8..=24, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)),
                0..6,
            ),
            framed in proptest::prelude::any::<bool>(),
            sizes in proptest::collection::vec(1usize..400, 0..8),
            tls12 in proptest::prelude::any::<bool>(),
        ) {
            let bytes = if framed {
                let mut bytes = Vec::new();
                for (kind, payload) in &records {
                    bytes.extend_from_slice(&[*kind, 3, 3]);
                    bytes.extend_from_slice(&(payload.len() as u16).to_be_bytes());
                    bytes.extend_from_slice(payload);
                }
                bytes
            } else {
                random
            };
            runtime().block_on(async {
                let version = if tls12 { &rustls::version::TLS12 } else { &rustls::version::TLS13 };
                let (client, server) = pair(&[version], 512).await;
                let mut server = server;
                let (mut io, _) = client.into_inner();
                // The server's side closes at its end, as a session drops its socket (the
                // client may still be writing).
                let read = async move {
                    let mut got = Vec::new();
                    let _ = server.read_to_end(&mut got).await;
                    let _ = server.write_all(b"ERROR :bye\r\n").await;
                    let _ = server.shutdown().await;
                };
                let drain = async {
                    send_in_pieces(&mut io, &bytes, &sizes).await;
                    let mut sink = Vec::new();
                    let _ = io.read_to_end(&mut sink).await;
                };
                tokio::time::timeout(std::time::Duration::from_secs(5), async {
                    tokio::join!(read, drain)
                })
                .await
                .expect("the session ends with the input");
            });
        }

        /// Any records sealed with the right keys (content types that exist or not, KeyUpdates
        /// whole, in pieces or malformed, alerts, padding), in any pieces: the stream ends or
        /// is an error, and what was data before any fault is read in order.
        #[test]
        fn any_sealed_records_after_the_handshake_end_the_stream_without_a_panic(
            records in proptest::collection::vec(
                (
                    proptest::prop_oneof![
                        proptest::prelude::Just(ALERT),
                        proptest::prelude::Just(HANDSHAKE),
                        proptest::prelude::Just(DATA),
                        proptest::prelude::any::<u8>(),
                    ],
                    proptest::prop_oneof![
                        proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8),
                        proptest::collection::vec(0u8..3, 0..6),
                        proptest::prelude::Just(vec![24, 0, 0, 1, 1]),
                        proptest::prelude::Just(vec![24, 0, 0]),
                        proptest::prelude::Just(vec![1, 0]),
                        proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
                    ],
                ),
                0..8,
            ),
            sizes in proptest::collection::vec(1usize..400, 0..8),
            tls12 in proptest::prelude::any::<bool>(),
        ) {
            runtime().block_on(async {
                let version = if tls12 { &rustls::version::TLS12 } else { &rustls::version::TLS13 };
                let (mut client, mut server) = RawClient::pair_with(version).await;
                let mut bytes = Vec::new();
                let mut data = Vec::new();
                let mut faulty = false;
                for (typ, body) in &records {
                    if tls12 {
                        client.tx.seal12(client.tx_seq, *typ, body, &mut bytes);
                    } else {
                        client.tx.seal(client.tx_seq, *typ, body, &mut bytes);
                    }
                    client.tx_seq += 1;
                    // Data before anything else than data is read in full.
                    faulty |= *typ != DATA;
                    if !faulty {
                        data.extend_from_slice(body);
                    }
                }
                let read = async move {
                    let mut got = Vec::new();
                    let mut buf = [0; 512];
                    loop {
                        match server.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = server.write_all(b"ERROR :bye\r\n").await;
                    let _ = server.shutdown().await;
                    got
                };
                let drain = async {
                    send_in_pieces(&mut client.io, &bytes, &sizes).await;
                    let mut sink = Vec::new();
                    let _ = client.io.read_to_end(&mut sink).await;
                };
                let (got, ()) = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                    tokio::join!(read, drain)
                })
                .await
                .expect("the session ends with the input");
                assert!(got.starts_with(&data), "the data before any fault, in order");
            });
        }
    }
}
