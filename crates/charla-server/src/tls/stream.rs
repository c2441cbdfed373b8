//! The server side of a TLS connection that holds no buffer while it is idle.
//!
//! rustls's buffered connection (what tokio-rustls drives) keeps a 4 KiB read buffer and the
//! capacity of its send queue for the connection's whole life: most of what an idle TLS
//! client cost the server (`benches/tls_memory.rs`). Here rustls's unbuffered connection does
//! the handshake, then hands the connection over to `records`, which keeps its secrets only;
//! this stream owns the three buffers around them: ciphertext read but not yet processed,
//! plaintext not yet taken by the reader, ciphertext not yet written. Each is freed as soon
//! as it is empty, so an idle connection holds its keys and nothing else.
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
    ConnectionState, EncodeError, EncodeTlsData, InsufficientSizeError, UnbufferedStatus,
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
    /// `outgoing` holds what may wait for the next write (TLS 1.3's session ticket): reading
    /// leaves it there, and the write takes it in the same send.
    hold_out: bool,
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
            hold_out: false,
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
                // TLS 1.3's server finished before its client did: what is left, the session
                // ticket, which no client waits for, goes out with the first write (the
                // answer to the client's first words: an IRC registration, an HTTP request):
                // one send instead of two, and one wake-up of the client. TLS 1.2's last
                // flight (session ticket, ChangeCipherSpec, Finished) is the handshake's own,
                // which the client waits for: it all goes out first.
                Progress::Traffic => {
                    let tls12 = matches!(&self.engine, Engine::Rustls(conn)
                        if conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_2));
                    if !tls12 {
                        self.hold_out = self.out_at < self.outgoing.len();
                        return Poll::Ready(Ok(()));
                    }
                    return self.poll_write_out(cx);
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
        self.hold_out = false;
        Poll::Ready(Ok(()))
    }

    /// Seals `what` into `outgoing` (everything read processed first).
    fn seal(&mut self, what: Seal<'_>) -> io::Result<()> {
        self.drive()?;
        // (A fault found while reading, whose data before it is still to be read.)
        if self.failed {
            return Err(invalid("the TLS connection failed"));
        }
        // `accept` hands every connection over once its handshake is done.
        let Engine::Records(records) = &mut self.engine else {
            return Err(invalid("TLS handshake not finished"));
        };
        let sealed = match what {
            Seal::Data(_) if self.close_sent => return Err(io::ErrorKind::BrokenPipe.into()),
            Seal::Data(data) => records.seal(data, &mut self.outgoing),
            Seal::CloseNotify => records.close_notify(&mut self.outgoing),
        };
        sealed.map_err(|fatal| {
            self.failed = true;
            records.fatal_alert(fatal, &mut self.outgoing);
            invalid(fatal)
        })
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
            if let Err(e) = this.drive() {
                return Poll::Ready(Err(this.fail(cx, e)));
            }
            // The records may have answered something (a key update): it goes out with the
            // next write if the socket will not take it now, or if a ticket waits for that
            // write anyway.
            if !this.hold_out
                && this.out_at < this.outgoing.len()
                && let Poll::Ready(Err(e)) = this.poll_write_out(cx)
            {
                return Poll::Ready(Err(e));
            }
            if this.plain_at < this.plain.len() || this.read_closed {
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

/// Appends to `out` what rustls has to send during the handshake, in as much room as it says
/// it needs.
fn encode(data: &mut EncodeTlsData<'_, ServerConnectionData>, out: &mut Vec<u8>) -> io::Result<()> {
    let start = out.len();
    let mut room = 1024;
    loop {
        out.resize(start + room, 0);
        match data.encode(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(EncodeError::InsufficientSize(InsufficientSizeError { required_size }))
                if required_size > room =>
            {
                room = required_size;
            }
            Err(e) => {
                out.truncate(start);
                return Err(invalid(e));
            }
        }
    }
}

fn invalid(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

#[cfg(test)]
mod tests;
