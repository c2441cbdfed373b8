//! The transport: a TCP socket, wrapped in TLS when the server config asks, framed into lines.
//! A configured client certificate is offered in the TLS handshake (for SASL `EXTERNAL`).
//!
//! Lines are cut at LF (a CR before it is dropped) with a hard cap of
//! [`MAX_INBOUND`] bytes: a longer line is skipped to its end
//! rather than buffered without bound. Bytes that are not UTF-8 (old servers, Latin-1 users) are
//! replaced, never a reason to drop the connection.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Buf, BytesMut};
use charla_proto::limits::MAX_INBOUND;
use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::codec::{Decoder, Encoder, Framed};

use crate::config::{ClientCertificate, ServerConfig};
use crate::trust::{CertificateIssue, PinningVerifier, TrustStore};

/// A byte stream we can speak IRC over (TCP or TLS).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A framed connection: lines in, lines out.
pub type Transport = Framed<Box<dyn Io>, LineCodec>;

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The socket could not be opened, or the TLS handshake failed for a reason other than
    /// the certificate.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The host name is not one TLS can check a certificate for.
    #[error("{0} is not a valid server name for TLS")]
    BadName(String),
    /// rustls could not be set up.
    #[error("TLS setup failed: {0}")]
    Tls(#[from] rustls::Error),
    /// The TLS handshake failed for a reason other than the certificate (often: the port does
    /// not speak TLS).
    #[error("the TLS handshake failed ({0}); is this a TLS port?")]
    Handshake(io::Error),
    /// The certificate needs the user's decision.
    #[error("the server's certificate is not trusted")]
    Certificate(CertificateIssue),
    /// The configured client certificate or its key could not be read; the text says which
    /// file and why. Retrying cannot help until the user fixes the files.
    #[error("cannot use the client certificate: {0}")]
    ClientCertificate(String),
}

/// Reads a client certificate chain and its key from PEM files.
pub fn load_client_certificate(
    files: &ClientCertificate,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ConnectError> {
    let words = |path: &std::path::Path, e: rustls::pki_types::pem::Error| {
        ConnectError::ClientCertificate(format!("{}: {e}", path.display()))
    };
    let chain = CertificateDer::pem_file_iter(&files.certificate)
        .map_err(|e| words(&files.certificate, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| words(&files.certificate, e))?;
    if chain.is_empty() {
        return Err(ConnectError::ClientCertificate(format!(
            "{} holds no certificate",
            files.certificate.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| words(&files.key, e))?;
    Ok((chain, key))
}

/// Opens the connection described by `config`, checking a TLS certificate against `trust`.
pub async fn open(config: &ServerConfig, trust: &TrustStore) -> Result<Transport, ConnectError> {
    // The first of the network's servers that answers (see `ServerConfig::also`).
    let mut last_error = None;
    let mut connected = None;
    for (host, port) in config.addresses() {
        match TcpStream::connect((host.as_str(), port)).await {
            Ok(tcp) => {
                connected = Some((tcp, host, port));
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    let Some((tcp, host, port)) = connected else {
        return Err(last_error
            .unwrap_or_else(|| std::io::Error::other("no server address"))
            .into());
    };
    // Chat lines are small and latency matters more than packet count.
    tcp.set_nodelay(true)?;
    if !config.tls {
        return Ok(Framed::new(
            Box::new(tcp) as Box<dyn Io>,
            LineCodec::default(),
        ));
    }
    // Read before connecting, so a missing file is said at once and in words.
    let client_auth = match &config.client_certificate {
        Some(files) => Some(load_client_certificate(files)?),
        None => None,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let issue = Arc::new(Mutex::new(None));
    let verifier =
        PinningVerifier::new(trust.clone(), &host, port, provider.clone(), issue.clone())?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let tls = match client_auth {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| ConnectError::ClientCertificate(e.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    let name =
        ServerName::try_from(host.clone()).map_err(|_| ConnectError::BadName(host.clone()))?;
    match TlsConnector::from(Arc::new(tls)).connect(name, tcp).await {
        Ok(stream) => Ok(Framed::new(
            Box::new(stream) as Box<dyn Io>,
            LineCodec::default(),
        )),
        Err(e) => {
            let issue = issue.lock().unwrap_or_else(PoisonError::into_inner).take();
            match issue {
                Some(issue) => Err(ConnectError::Certificate(issue)),
                None => Err(ConnectError::Handshake(e)),
            }
        }
    }
}

/// Frames IRC lines: LF-terminated (CR optional) in, CR LF appended out.
#[derive(Debug, Default)]
pub struct LineCodec {
    /// Skipping the rest of an over-long line.
    discarding: bool,
    /// How far the buffer was already searched for LF.
    searched: usize,
}

impl Decoder for LineCodec {
    type Item = String;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<String>, io::Error> {
        loop {
            let newline = src[self.searched..].iter().position(|b| *b == b'\n');
            match newline {
                Some(offset) => {
                    let end = self.searched + offset;
                    self.searched = 0;
                    let line = src.split_to(end + 1);
                    if std::mem::take(&mut self.discarding) {
                        continue;
                    }
                    let mut bytes = &line[..end];
                    if let Some(stripped) = bytes.strip_suffix(b"\r") {
                        bytes = stripped;
                    }
                    if bytes.is_empty() {
                        continue;
                    }
                    return Ok(Some(String::from_utf8_lossy(bytes).into_owned()));
                }
                None if src.len() > MAX_INBOUND => {
                    // Over-long: drop what we have and the rest of the line.
                    src.advance(src.len());
                    self.searched = 0;
                    self.discarding = true;
                    return Ok(None);
                }
                None => {
                    self.searched = src.len();
                    return Ok(None);
                }
            }
        }
    }
}

impl Encoder<String> for LineCodec {
    type Error = io::Error;

    fn encode(&mut self, line: String, dst: &mut BytesMut) -> Result<(), io::Error> {
        // Never let a CR or LF inside a line start a second command.
        let line = line.split(['\r', '\n']).next().unwrap_or("");
        dst.reserve(line.len() + 2);
        dst.extend_from_slice(line.as_bytes());
        dst.extend_from_slice(b"\r\n");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut LineCodec, buf: &mut BytesMut) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(l) = codec.decode(buf).unwrap() {
            out.push(l);
        }
        out
    }

    #[test]
    fn splits_lines_with_or_without_cr() {
        let mut c = LineCodec::default();
        let mut buf = BytesMut::from(&b"PING a\r\nPING b\n\r\nPART"[..]);
        assert_eq!(decode_all(&mut c, &mut buf), ["PING a", "PING b"]);
        buf.extend_from_slice(" #ñ\r\n".as_bytes());
        assert_eq!(decode_all(&mut c, &mut buf), ["PART #ñ"]);
    }

    #[test]
    fn skips_overlong_lines_and_replaces_bad_utf8() {
        let mut c = LineCodec::default();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&vec![b'x'; MAX_INBOUND + 10]);
        assert!(decode_all(&mut c, &mut buf).is_empty());
        buf.extend_from_slice(b"yyy\r\nNOTICE * :caf\xe9\r\n");
        assert_eq!(decode_all(&mut c, &mut buf), ["NOTICE * :caf\u{fffd}"]);
    }

    #[test]
    fn encoder_cuts_at_newline() {
        let mut c = LineCodec::default();
        let mut out = BytesMut::new();
        c.encode("PRIVMSG #a :hi\r\nQUIT".to_owned(), &mut out)
            .unwrap();
        assert_eq!(&out[..], b"PRIVMSG #a :hi\r\n");
    }
}
