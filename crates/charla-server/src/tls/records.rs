//! A TLS connection after its handshake: the records protected here, with the secrets rustls
//! agreed, and rustls's key schedule for TLS 1.3's key updates.
//!
//! rustls's connection object, its handshake deframer and its two ready AES-GCM keys stay
//! with a connection for its whole life: about 2 KiB of an idle TLS client's 4.8 KiB
//! (docs/PROFILE.md, "Twentieth session"). Once the handshake is over, a TLS 1.3 connection
//! needs far less: the two directions' keys, their sequence numbers, and the traffic secrets
//! to derive the next keys from when either side asks for a key update. rustls hands exactly
//! that over ([`rustls::kernel`], made for the kernel's TLS, which does the same), and this
//! module does the rest of RFC 8446 for a server after the handshake:
//!
//! - records (5.1, 5.2): each whole record opened in turn, the outer type application data,
//!   at most 2^14 + 256 bytes, the inner content type after the padding;
//! - alerts (6): close_notify ends the reading side, user_canceled is passed over, any other
//!   ends the connection; a fatal error here sends its alert before the connection ends;
//! - post-handshake messages (4.6): KeyUpdate only, whole or in pieces, the last thing in its
//!   record; one that asks for an update is answered with the server's own first;
//! - limits: the keys change before a direction seals more records than its suite allows
//!   (AES-GCM's 2^24, rustls's figure), and a sequence number never wraps.
//!
//! TLS 1.2 (RFC 5246) is the same but simpler: the content type is the record's own, no
//! padding, no key updates; renegotiation is refused (any handshake message after the
//! handshake ends the connection, as a server that never renegotiates may), warning alerts
//! other than close_notify are passed over, and at the suite's limit the connection ends.

use rustls::kernel::KernelConnection;
use rustls::server::ServerConnectionData;
use rustls::{ConnectionTrafficSecrets, ExtractedSecrets, ProtocolVersion, SupportedCipherSuite};

use super::keys::{APPLICATION_DATA, HEADER_LEN, Keys, OpenError};

/// The most plaintext in a record (RFC 8446, 5.1).
pub(super) const MAX_FRAGMENT: usize = 1 << 14;
/// The most a record may carry after its header: the plaintext, its content type, padding
/// and the tag (RFC 8446, 5.2).
const MAX_SEALED: usize = MAX_FRAGMENT + 256;
/// The same for TLS 1.2 (RFC 5246, 6.2.3).
const MAX_SEALED_12: usize = MAX_FRAGMENT + 2048;

const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;

const KEY_UPDATE: u8 = 24;
const UPDATE_NOT_REQUESTED: u8 = 0;
const UPDATE_REQUESTED: u8 = 1;

const WARNING: u8 = 1;
const FATAL: u8 = 2;
const CLOSE_NOTIFY: u8 = 0;
const USER_CANCELED: u8 = 90;

/// An alert this side ends a connection with (RFC 8446, 6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fatal {
    UnexpectedMessage,
    BadRecordMac,
    RecordOverflow,
    IllegalParameter,
    DecodeError,
    InternalError,
    /// The peer sent a fatal alert (its description): nothing is sent back.
    FromPeer(u8),
}

impl Fatal {
    fn description(self) -> Option<u8> {
        Some(match self {
            Fatal::UnexpectedMessage => 10,
            Fatal::BadRecordMac => 20,
            Fatal::RecordOverflow => 22,
            Fatal::IllegalParameter => 47,
            Fatal::DecodeError => 50,
            Fatal::InternalError => 80,
            Fatal::FromPeer(_) => return None,
        })
    }
}

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Fatal::FromPeer(description) => {
                return write!(f, "the peer sent fatal TLS alert {description}");
            }
            Fatal::UnexpectedMessage => "unexpected_message",
            Fatal::BadRecordMac => "bad_record_mac",
            Fatal::RecordOverflow => "record_overflow",
            Fatal::IllegalParameter => "illegal_parameter",
            Fatal::DecodeError => "decode_error",
            Fatal::InternalError => "internal_error",
        };
        write!(f, "TLS error: {name} (alert sent)")
    }
}

impl std::error::Error for Fatal {}

/// One direction: its keys and the number of the next record.
struct Direction {
    keys: Keys,
    seq: u64,
}

impl Direction {
    fn new((seq, secrets): (u64, ConnectionTrafficSecrets)) -> Result<Direction, Fatal> {
        let keys = Keys::new(secrets).ok_or(Fatal::InternalError)?;
        Ok(Direction { keys, seq })
    }

    /// The number for the next record, counted.
    fn next(&mut self) -> Result<u64, Fatal> {
        let seq = self.seq;
        // A sequence number must not wrap (RFC 8446, 5.3); the keys change long before.
        self.seq = seq.checked_add(1).ok_or(Fatal::InternalError)?;
        Ok(seq)
    }
}

/// A post-handshake message in the making: the only one a client may send is a KeyUpdate,
/// four bytes of header and one of body.
#[derive(Default)]
struct Pending {
    bytes: [u8; 5],
    len: u8,
}

/// What reading records found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Opened {
    /// All whole records are read; what is left is the start of one.
    More,
    /// The peer sent close_notify: what follows it is not read.
    Closed,
}

/// A TLS connection after its handshake.
pub(super) struct Records {
    kernel: KernelConnection<ServerConnectionData>,
    /// TLS 1.2, not 1.3.
    tls12: bool,
    tx: Direction,
    rx: Direction,
    /// Records sealed under one key before it changes.
    limit: u64,
    pending: Pending,
}

impl Records {
    pub(super) fn new(
        secrets: ExtractedSecrets,
        kernel: KernelConnection<ServerConnectionData>,
    ) -> Result<Records, Fatal> {
        let limit = match kernel.negotiated_cipher_suite() {
            SupportedCipherSuite::Tls13(suite) => suite.common.confidentiality_limit,
            SupportedCipherSuite::Tls12(suite) => suite.common.confidentiality_limit,
        };
        Ok(Records {
            tls12: kernel.protocol_version() == ProtocolVersion::TLSv1_2,
            tx: Direction::new(secrets.tx)?,
            rx: Direction::new(secrets.rx)?,
            kernel,
            limit,
            pending: Pending::default(),
        })
    }

    /// The suite the handshake agreed on.
    pub(super) fn cipher_suite(&self) -> rustls::CipherSuite {
        self.kernel.negotiated_cipher_suite().suite()
    }

    /// A smaller limit, to see the keys change in tests.
    #[cfg(test)]
    pub(super) fn set_limit(&mut self, limit: u64) {
        self.limit = limit;
    }

    /// Seals `data` as application data into `out`, in records of at most 2^14 bytes.
    pub(super) fn seal(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), Fatal> {
        for fragment in data.chunks(MAX_FRAGMENT) {
            self.seal_record(APPLICATION_DATA, fragment, out)?;
        }
        Ok(())
    }

    /// Seals close_notify into `out`.
    pub(super) fn close_notify(&mut self, out: &mut Vec<u8>) -> Result<(), Fatal> {
        self.seal_record(ALERT, &[WARNING, CLOSE_NOTIFY], out)
    }

    /// Seals the alert that `error` ends the connection with, if it has one, into `out`.
    pub(super) fn fatal_alert(&mut self, error: Fatal, out: &mut Vec<u8>) {
        if let Some(description) = error.description() {
            let _ = self.seal_record(ALERT, &[FATAL, description], out);
        }
    }

    fn seal_record(&mut self, typ: u8, body: &[u8], out: &mut Vec<u8>) -> Result<(), Fatal> {
        if self.tls12 {
            // TLS 1.2 has no key update: its connection ends at the limit.
            if self.tx.seq >= self.limit {
                return Err(Fatal::InternalError);
            }
            let seq = self.tx.next()?;
            self.tx.keys.seal12(seq, typ, body, out);
            return Ok(());
        }
        // The KeyUpdate is the last record under the old key.
        if self.tx.seq.saturating_add(1) >= self.limit {
            self.update_tx(out)?;
        }
        let seq = self.tx.next()?;
        self.tx.keys.seal(seq, typ, body, out);
        Ok(())
    }

    /// Sends a KeyUpdate that does not ask for the peer's, and changes the sending keys.
    fn update_tx(&mut self, out: &mut Vec<u8>) -> Result<(), Fatal> {
        let seq = self.tx.next()?;
        let message = [KEY_UPDATE, 0, 0, 1, UPDATE_NOT_REQUESTED];
        self.tx.keys.seal(seq, HANDSHAKE, &message, out);
        let secrets = self
            .kernel
            .update_tx_secret()
            .map_err(|_| Fatal::InternalError)?;
        self.tx = Direction::new(secrets)?;
        Ok(())
    }

    /// Opens the whole records at the start of `incoming`, removes them from it, and puts
    /// their application data in `plain`. Anything this side must answer (a KeyUpdate) goes
    /// to `out`.
    pub(super) fn open(
        &mut self,
        incoming: &mut Vec<u8>,
        plain: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<Opened, Fatal> {
        let mut at = 0;
        let result = loop {
            let Some(header) = incoming.get(at..at + HEADER_LEN) else {
                break Ok(Opened::More);
            };
            let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
            // Checked before the record is whole, so that nobody makes the server wait for,
            // or hold, more than a record.
            if len
                > if self.tls12 {
                    MAX_SEALED_12
                } else {
                    MAX_SEALED
                }
            {
                break Err(Fatal::RecordOverflow);
            }
            let expected = if self.tls12 {
                matches!(header[0], ALERT | HANDSHAKE | APPLICATION_DATA)
            } else {
                header[0] == APPLICATION_DATA
            };
            if !expected {
                // ChangeCipherSpec is only for the handshake (RFC 8446, 5), nothing after it
                // goes unprotected in TLS 1.3, and no other type exists.
                break Err(Fatal::UnexpectedMessage);
            }
            let Some(record) = incoming.get_mut(at..at + HEADER_LEN + len) else {
                break Ok(Opened::More);
            };
            at += HEADER_LEN + len;
            match self.open_record(record, plain, out) {
                Ok(true) => break Ok(Opened::Closed),
                Ok(false) => {}
                Err(e) => break Err(e),
            }
        };
        incoming.drain(..at);
        result
    }

    /// Opens one TLS 1.2 record: `true` if it was close_notify.
    fn open_record12(&mut self, record: &mut [u8], plain: &mut Vec<u8>) -> Result<bool, Fatal> {
        let typ = record[0];
        let seq = self.rx.next()?;
        let content = self
            .rx
            .keys
            .open12(seq, record)
            .map_err(|_| Fatal::BadRecordMac)?;
        if content.len() > MAX_FRAGMENT {
            return Err(Fatal::RecordOverflow);
        }
        match (typ, content) {
            (APPLICATION_DATA, content) => plain.extend_from_slice(content),
            (ALERT, [_, CLOSE_NOTIFY]) => return Ok(true),
            (ALERT, [FATAL, description]) => return Err(Fatal::FromPeer(*description)),
            (ALERT, [WARNING, _]) => {}
            (ALERT, _) => return Err(Fatal::DecodeError),
            // A renegotiation, refused.
            _ => return Err(Fatal::UnexpectedMessage),
        }
        Ok(false)
    }

    /// Opens one record: `true` if it was close_notify.
    fn open_record(
        &mut self,
        record: &mut [u8],
        plain: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<bool, Fatal> {
        if self.tls12 {
            return self.open_record12(record, plain);
        }
        // The plaintext with its type and padding: at most 2^14 + 1 bytes (RFC 8446, 5.4).
        let sealed = record.len() - HEADER_LEN;
        if sealed.saturating_sub(self.rx.keys.tag_len()) > MAX_FRAGMENT + 1 {
            return Err(Fatal::RecordOverflow);
        }
        let seq = self.rx.next()?;
        let (typ, content) = self.rx.keys.open(seq, record).map_err(|e| match e {
            OpenError::BadMac => Fatal::BadRecordMac,
            OpenError::NoContentType => Fatal::UnexpectedMessage,
        })?;
        if typ != HANDSHAKE && self.pending.len > 0 {
            // A handshake message may not be interleaved with other records (RFC 8446, 5.1).
            return Err(Fatal::UnexpectedMessage);
        }
        match typ {
            APPLICATION_DATA => plain.extend_from_slice(content),
            ALERT => match *content {
                [_, CLOSE_NOTIFY] => return Ok(true),
                [_, USER_CANCELED] => {}
                [_, description] => return Err(Fatal::FromPeer(description)),
                _ => return Err(Fatal::DecodeError),
            },
            HANDSHAKE if content.is_empty() => return Err(Fatal::UnexpectedMessage),
            HANDSHAKE => self.handshake(content, out)?,
            // ChangeCipherSpec, or a type that does not exist.
            _ => return Err(Fatal::UnexpectedMessage),
        }
        Ok(false)
    }

    /// A record's handshake bytes: a KeyUpdate, whole or in pieces.
    fn handshake(&mut self, mut content: &[u8], out: &mut Vec<u8>) -> Result<(), Fatal> {
        while let Some((&byte, rest)) = content.split_first() {
            content = rest;
            let pending = &mut self.pending;
            pending.bytes[usize::from(pending.len)] = byte;
            pending.len += 1;
            match (pending.len, pending.bytes) {
                // Only a KeyUpdate may come after the handshake (a client has no tickets
                // to send, and the server asks for no certificate after it).
                (1, [typ, ..]) if typ != KEY_UPDATE => return Err(Fatal::UnexpectedMessage),
                (4, [_, a, b, c, _]) if [a, b, c] != [0, 0, 1] => return Err(Fatal::DecodeError),
                (5, [.., request]) => {
                    self.pending = Pending::default();
                    // A key change must end its record (RFC 8446, 5.1).
                    if !content.is_empty() {
                        return Err(Fatal::UnexpectedMessage);
                    }
                    self.key_update(request, out)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The peer's KeyUpdate: the receiving keys change, and the sending keys too if it asked.
    fn key_update(&mut self, request: u8, out: &mut Vec<u8>) -> Result<(), Fatal> {
        if request != UPDATE_NOT_REQUESTED && request != UPDATE_REQUESTED {
            return Err(Fatal::IllegalParameter);
        }
        let secrets = self
            .kernel
            .update_rx_secret()
            .map_err(|_| Fatal::InternalError)?;
        self.rx = Direction::new(secrets)?;
        if request == UPDATE_REQUESTED {
            self.update_tx(out)?;
        }
        Ok(())
    }
}
