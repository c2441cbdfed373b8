//! TLS for the listeners marked `tls = true`: the certificate, the acceptor, the handshake.
//!
//! Security by default (DESIGN.md): when no certificate is configured, the server generates a
//! self-signed one on first start and keeps it in the data directory (`tls-cert.pem`, and
//! `tls-key.pem` readable by the owner only), so that it stays the same across restarts and a
//! client's trust-on-first-use pin keeps matching. Its SHA-256 fingerprint is logged at start
//! in the form the Charla app shows (upper-case hex pairs joined by `:`), so that users can
//! compare the two.
//!
//! The handshake runs in the connection's own task, under a time limit, never in the accept
//! loop: a client that connects and says nothing costs one task until the limit, not the
//! listener. A finished handshake hands the stream to the same session code as plain TCP.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::client::Transport;
use crate::connection::{self, Guards};
use crate::state::State;

mod keys;
mod records;
mod stream;
pub use stream::TlsStream;

/// The file name of the generated certificate inside the data directory.
pub const GENERATED_CERT_FILE: &str = "tls-cert.pem";
/// The file name of the generated private key inside the data directory.
pub const GENERATED_KEY_FILE: &str = "tls-key.pem";

/// The `[tls]` section of the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// A PEM file with the certificate chain (leaf first). Without it (and `key`), a
    /// self-signed certificate is generated in the data directory.
    pub cert: Option<PathBuf>,
    /// A PEM file with the private key of `cert` (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// Seconds a client may take to finish the TLS handshake before it is disconnected.
    pub handshake_timeout_secs: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert: None,
            key: None,
            handshake_timeout_secs: 10,
        }
    }
}

impl TlsConfig {
    /// Checks that `cert` and `key` come together and that the timeout is not zero.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.cert.is_some() != self.key.is_some() {
            return Err("tls.cert and tls.key must be given together");
        }
        if self.handshake_timeout_secs == 0 {
            return Err("tls.handshake_timeout_secs must be at least 1");
        }
        Ok(())
    }

    /// The handshake time limit as a [`Duration`].
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_secs)
    }
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or parsed.
    #[error("cannot load {path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong, as text (the PEM parser's own message prints markers as lists of
        /// bytes).
        reason: String,
    },
    /// A certificate file holds no certificate.
    #[error("no certificate found in {0}")]
    NoCertificate(PathBuf),
    /// The data directory or a generated file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The certificate could not be generated.
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate or key (e.g. the key does not match the certificate).
    #[error("invalid certificate or key: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Where the certificate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertSource {
    /// The files named by `tls.cert` and `tls.key`.
    Configured,
    /// A self-signed certificate generated earlier and read back from the data directory.
    Reused,
    /// A self-signed certificate generated on this start.
    Generated,
}

/// A ready TLS setup: the acceptor and the certificate's fingerprint.
#[derive(Clone)]
pub struct Tls {
    server_config: Arc<rustls::ServerConfig>,
    acceptor: TlsAcceptor,
    fingerprint: String,
    /// The leaf certificate, for a client that is to trust it (tests, benches).
    certificate: CertificateDer<'static>,
    source: CertSource,
    handshake_timeout: Duration,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("fingerprint", &self.fingerprint)
            .field("source", &self.source)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the configured certificate, or reuses or generates the self-signed one in
    /// `data_dir` (created if missing). `server_name` goes into the generated certificate.
    pub fn load(config: &TlsConfig, data_dir: &Path, server_name: &str) -> Result<Tls, TlsError> {
        let identity = match (&config.cert, &config.key) {
            (Some(cert), Some(key)) => (read_chain(cert)?, read_key(key)?, CertSource::Configured),
            _ => generated(data_dir, server_name)?,
        };
        Tls::from_identity(identity, config.handshake_timeout())
    }

    /// A fresh self-signed certificate for `names`, kept in memory only: for tests and tools
    /// that need a TLS endpoint of their own (the server itself uses [`load`](Self::load)).
    pub fn self_signed(names: &[&str]) -> Result<Tls, TlsError> {
        let names = names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let ck = rcgen::generate_simple_self_signed(names)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
        let identity = (vec![ck.cert.der().clone()], key, CertSource::Generated);
        Tls::from_identity(identity, TlsConfig::default().handshake_timeout())
    }

    fn from_identity(
        (chain, key, source): Identity,
        handshake_timeout: Duration,
    ) -> Result<Tls, TlsError> {
        let fingerprint = fingerprint(&chain[0]);
        let certificate = chain[0].clone();
        let mut provider = rustls::crypto::ring::default_provider();
        // AES-128-GCM before AES-256-GCM, chosen in this order whatever the client's (as Go's
        // TLS and Mozilla's "intermediate" configuration do; TLS 1.3 makes it the suite every
        // peer has): its SHA-256 runs on the CPU's SHA instructions where SHA-384 does not,
        // and SHA-384 was a tenth of a TLS registration's CPU.
        provider
            .cipher_suites
            .sort_by_key(|suite| !is_aes_128(suite.suite()));
        let provider = Arc::new(provider);
        let mut server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(Arc::new(AnyClientCert { provider }))
            .with_single_cert(chain, key)?;
        server_config.ignore_client_order = true;
        // Sessions resume from tickets sealed with a key of the server's own (ChaCha20-Poly1305,
        // a new key every 6 hours, the one before still opening them), not from rustls's
        // default table of 256 sessions, which a busy server turns over in a fraction of a
        // second: a client that comes back, after however many others, skips the signature
        // (and over TLS 1.2 the key exchange too), and the server keeps nothing per session.
        // The key lives in memory only: after a restart every client does a full handshake.
        server_config.ticketer = rustls::crypto::ring::Ticketer::new()?;
        // One TLS 1.3 ticket rather than rustls's two: an IRC client keeps one connection, and
        // a ticket that will not be used costs a sealing, a record and its random bytes.
        server_config.send_tls13_tickets = 1;
        // A TLS 1.3 connection's secrets go from rustls to `records` after the handshake.
        server_config.enable_secret_extraction = true;
        let server_config = Arc::new(server_config);
        Ok(Tls {
            acceptor: TlsAcceptor::from(server_config.clone()),
            server_config,
            fingerprint,
            certificate,
            source,
            handshake_timeout,
        })
    }

    /// The leaf certificate: what a client of a self-signed set-up trusts.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.certificate
    }

    /// The rustls configuration every TLS connection is accepted with.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server_config.clone()
    }

    /// The acceptor that does the server side of the handshake.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// The SHA-256 fingerprint of the certificate, e.g. `"3A:7F:…"` (32 hex pairs).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// How long a client may take to finish the handshake.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// Where the certificate came from.
    pub fn source(&self) -> CertSource {
        self.source
    }

    /// Logs the certificate's fingerprint (once per start), so users can check what their
    /// client shows them: as hex pairs with colons (irssi's `-tls_pinned_cert`, the Charla
    /// app) and as 64 bare hex digits (WeeChat's `tls_fingerprint`/`ssl_fingerprint`).
    pub fn log(&self) {
        info!(
            fingerprint = %self.fingerprint,
            fingerprint_hex = %bare_hex(&self.fingerprint),
            source = ?self.source,
            "TLS certificate (SHA-256)"
        );
    }
}

/// Whether a cipher suite is one of the AES-128-GCM ones (TLS 1.3's, TLS 1.2's).
fn is_aes_128(suite: rustls::CipherSuite) -> bool {
    use rustls::CipherSuite as S;
    matches!(
        suite,
        S::TLS13_AES_128_GCM_SHA256
            | S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
            | S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    )
}

/// Client certificates are asked for, never required, and taken whoever signed them: a client
/// certificate here is an identity by its fingerprint (SASL EXTERNAL, NickServ CERT), as in
/// other IRC servers, not a proof by a chain of authorities. The handshake still checks that
/// the client holds the certificate's key.
#[derive(Debug)]
struct AnyClientCert {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::server::danger::ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The SHA-256 fingerprint of a client certificate as IRC servers give it (CERTFP): lower-case
/// hex, no separators.
pub fn certfp(der: &[u8]) -> String {
    let mut out = String::with_capacity(64);
    for b in Sha256::digest(der) {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A fingerprint of hex pairs joined by `:` as lower-case hex digits alone.
pub fn bare_hex(fingerprint: &str) -> String {
    fingerprint
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The SHA-256 fingerprint of a DER certificate as upper-case hex pairs joined by `:`.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let mut out = String::with_capacity(digest.len() * 3);
    for (i, b) in digest.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{b:02X}");
    }
    out
}

/// The paths of the generated certificate and key in `data_dir`.
pub fn generated_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    (
        data_dir.join(GENERATED_CERT_FILE),
        data_dir.join(GENERATED_KEY_FILE),
    )
}

/// What a PEM parse error means, in words.
fn describe(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::MissingSectionEnd { end_marker } => format!(
            "the file ends before its \"-----END {}-----\" line: is it cut short?",
            String::from_utf8_lossy(end_marker)
        ),
        Error::IllegalSectionStart { line } => format!(
            "malformed section start {:?}",
            String::from_utf8_lossy(line)
        ),
        Error::Base64Decode(e) => format!("bad base64 inside a section: {e}"),
        Error::Io(e) => e.to_string(),
        Error::NoItemsFound => "no PEM section of the expected kind".to_owned(),
        Error::SectionTooLarge => "a PEM section is too large".to_owned(),
        other => other.to_string(),
    }
}

fn pem_error(path: &Path, e: &rustls::pki_types::pem::Error) -> TlsError {
    TlsError::Pem {
        path: path.to_owned(),
        reason: describe(e),
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = |source| pem_error(path, &source);
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(pem)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    warn_if_readable_by_others(path);
    PrivateKeyDer::from_pem_file(path).map_err(|source| pem_error(path, &source))
}

/// A certificate chain, its key, and where they came from.
type Identity = (
    Vec<CertificateDer<'static>>,
    PrivateKeyDer<'static>,
    CertSource,
);

/// The generated certificate: read back when both files exist, else made and written now.
fn generated(data_dir: &Path, server_name: &str) -> Result<Identity, TlsError> {
    let (cert_path, key_path) = generated_paths(data_dir);
    let (cert_there, key_there) = (cert_path.exists(), key_path.exists());
    if cert_there && key_there {
        return Ok((
            read_chain(&cert_path)?,
            read_key(&key_path)?,
            CertSource::Reused,
        ));
    }
    if cert_there || key_there {
        // One without the other is useless (e.g. a crash between the two writes).
        warn!(dir = %data_dir.display(), "only half of the generated certificate found; generating a new one");
    }

    // Names a client may use to reach a server started with defaults.
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if server_name != "localhost" {
        names.insert(0, server_name.to_owned());
    }
    let mut params = rcgen::CertificateParams::new(names)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, server_name);
    let key_pair = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key_pair)?;

    create_private_dir(data_dir)?;
    // The key first: a certificate on disk then always has its key next to it.
    write_atomically(&key_path, key_pair.serialize_pem().as_bytes(), 0o600)?;
    write_atomically(&cert_path, cert.pem().as_bytes(), 0o644)?;
    info!(cert = %cert_path.display(), key = %key_path.display(), "generated a self-signed TLS certificate");

    // rcgen serialises key pairs as PKCS#8.
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der()));
    Ok((vec![cert.der().clone()], key, CertSource::Generated))
}

/// Creates the data directory (owner-only on Unix) if it does not exist.
fn create_private_dir(dir: &Path) -> Result<(), TlsError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| TlsError::Write {
        path: dir.to_owned(),
        source,
    })
}

/// Writes `bytes` to a temporary file next to `path` with `mode` (Unix), syncs it and renames
/// it over `path`, so a crash never leaves a truncated certificate or key behind.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    let err = |source| TlsError::Write {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("pem.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp).map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(err)
}

/// A private key that others can read deserves a warning (like ssh's), not a refusal.
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            warn!(key = %path.display(), mode = format!("{:o}", meta.permissions().mode() & 0o777), "TLS private key is readable by other users; chmod 600 it");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Runs one TLS connection: the handshake under its time limit (abandoned at shutdown), then
/// the ordinary session. Holds `guards` throughout, so a handshaking client counts against
/// `max_clients` and its IP's limit like any other.
pub(crate) async fn serve(
    tls: Arc<Tls>,
    state: Arc<State>,
    socket: TcpStream,
    peer: SocketAddr,
    guards: Guards,
    shutdown: watch::Receiver<bool>,
) {
    // The handshake's state lives in a box of its own, freed when it ends, and the stream in
    // one for the connection's life: the task's future keeps its locals' storage to their
    // scope's end and the session's stream argument twice, 3,448 bytes a task unboxed (728 for
    // plain TCP, whose stream is small).
    let session = {
        let Some((stream, certificate)) = Box::pin(handshake(tls, socket, peer, shutdown)).await
        else {
            return;
        };
        let certfp = certificate.map(|cert| certfp(&cert).into_boxed_str());
        connection::serve(
            state,
            Box::new(stream),
            peer,
            Transport::Tls { certfp },
            guards,
        )
    };
    session.await;
}

/// The server's side of the handshake, under its time limit; `None` if it failed, timed out
/// or the server is shutting down.
async fn handshake(
    tls: Arc<Tls>,
    socket: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) -> Option<(TlsStream<TcpStream>, Option<CertificateDer<'static>>)> {
    let handshake = tokio::time::timeout(
        tls.handshake_timeout,
        TlsStream::accept(tls.server_config.clone(), socket),
    );
    // A dropped sender is not a shutdown: then only the time limit ends the handshake.
    let shutting_down = async {
        if shutdown.wait_for(|down| *down).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        r = handshake => match r {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(e)) => {
                debug!(%peer, error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                debug!(%peer, "TLS handshake timed out");
                None
            }
        },
        () = shutting_down => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_identity_in_memory_has_a_sha256_fingerprint() {
        let tls = Tls::self_signed(&["localhost", "127.0.0.1"]).expect("generate");
        let fp = tls.fingerprint();
        assert_eq!(fp.split(':').count(), 32, "{fp}");
        assert_eq!(tls.source(), CertSource::Generated);
        let other = Tls::self_signed(&["localhost"]).expect("generate");
        assert_ne!(other.fingerprint(), fp, "each call makes a new key");
    }

    #[test]
    fn fingerprint_is_upper_hex_pairs() {
        let f = fingerprint(b"");
        // SHA-256 of the empty string.
        assert!(f.starts_with("E3:B0:C4:42:98:FC:1C:14"), "{f}");
        assert_eq!(f.len(), 32 * 3 - 1);
        let bare = bare_hex(&f);
        assert_eq!(bare.len(), 64);
        assert!(bare.starts_with("e3b0c44298fc1c14"), "{bare}");
    }

    #[test]
    fn cert_and_key_come_together() {
        let mut c = TlsConfig::default();
        assert!(c.check().is_ok());
        c.cert = Some("a.pem".into());
        assert!(c.check().is_err());
        c.key = Some("b.pem".into());
        assert!(c.check().is_ok());
        c.handshake_timeout_secs = 0;
        assert!(c.check().is_err());
    }

    #[test]
    fn parses_from_the_config_file() {
        use crate::config::Config;
        let (c, warnings) = Config::from_toml(
            "data_dir = \"/var/lib/charla\"\n[[listeners]]\naddress = \"[::]:6697\"\ntls = true\n\
             [tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nhandshake_timeout_secs = 5\n",
        )
        .expect("parses");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(c.listeners[0].tls);
        assert_eq!(c.data_dir, Path::new("/var/lib/charla"));
        assert_eq!(c.tls.cert.as_deref(), Some(Path::new("c.pem")));
        assert_eq!(c.tls.handshake_timeout(), Duration::from_secs(5));
        // A typo in [tls] must not silently fall back to a generated certificate.
        assert!(Config::from_toml("[tls]\ncertificate = \"c.pem\"\n").is_err());
        assert!(Config::from_toml("[tls]\ncert = \"c.pem\"\n").is_err());
    }
}
