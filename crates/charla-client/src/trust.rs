//! Certificates: trust on first use, with pins kept in a file the app chooses.
//!
//! A certificate signed by a known authority (the Mozilla roots of `webpki-roots`) connects as
//! usual. One that is not (self-signed, the Charla server's default) stops the connection with
//! [`Event::CertificateUnknown`](crate::Event::CertificateUnknown) and its SHA-256 fingerprint;
//! if the user trusts it, [`TrustStore::pin`] remembers it for that `host:port`. From then on
//! that server must present exactly that certificate: a different one is refused with
//! [`Event::CertificateChanged`](crate::Event::CertificateChanged), even if an authority signed
//! it, because a pin is a promise the user made about this server (as SSH does).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why the trust store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// Reading or writing the file failed.
    #[error("cannot access the certificate pins file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("the certificate pins file {path} is not valid: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: toml::de::Error,
    },
    /// The pins could not be serialised (should not happen).
    #[error("cannot serialise the certificate pins: {0}")]
    Serialize(#[from] toml::ser::Error),
}

/// A certificate question for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateIssue {
    /// Not signed by a known authority and not pinned: trust it?
    Unknown {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// Its SHA-256 fingerprint.
        fingerprint: String,
    },
    /// Not the pinned one: refused.
    Changed {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// The pinned fingerprint.
        expected: String,
        /// The presented one.
        got: String,
    },
}

/// The SHA-256 fingerprint of a DER certificate, shown as upper-case hex pairs joined by `:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a certificate in DER.
    pub fn of(der: &[u8]) -> Self {
        Fingerprint(Sha256::digest(der).into())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// Compares fingerprints as people type them: case, `:` and spaces do not matter.
pub fn same_fingerprint(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(char::is_ascii_hexdigit)
            .map(|c| c.to_ascii_uppercase())
            .collect()
    };
    let (a, b) = (norm(a), norm(b));
    !a.is_empty() && a == b
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct PinsFile {
    /// `host:port` -> fingerprint.
    #[serde(default)]
    pins: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Inner {
    path: Option<PathBuf>,
    pins: BTreeMap<String, String>,
}

/// Pinned certificates by `host:port`. Cheap to clone (shared); saved to its file on every
/// change when it has one.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    inner: Arc<Mutex<Inner>>,
}

fn key(host: &str, port: u16) -> String {
    format!("{}:{port}", host.to_ascii_lowercase())
}

impl TrustStore {
    /// A store that lives only in memory (tests, or an app that keeps nothing).
    pub fn in_memory() -> Self {
        TrustStore::default()
    }

    /// Loads pins from `path` (TOML: a `[pins]` table of `"host:port" = "AB:CD:…"`); a missing
    /// file is an empty store that will be created on the first pin.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TrustError> {
        let path = path.as_ref().to_path_buf();
        let pins = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let file: PinsFile = toml::from_str(&text).map_err(|source| TrustError::Parse {
                    path: path.clone(),
                    source,
                })?;
                file.pins
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => return Err(TrustError::Io { path, source }),
        };
        Ok(TrustStore {
            inner: Arc::new(Mutex::new(Inner {
                path: Some(path),
                pins,
            })),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the map half-written; keep going.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fingerprint pinned for `host:port`, if any.
    pub fn pinned(&self, host: &str, port: u16) -> Option<String> {
        self.lock().pins.get(&key(host, port)).cloned()
    }

    /// Pins `fingerprint` for `host:port` (replacing any older pin) and saves the file.
    pub fn pin(&self, host: &str, port: u16, fingerprint: &str) -> Result<(), TrustError> {
        let mut inner = self.lock();
        inner.pins.insert(key(host, port), fingerprint.to_owned());
        Self::save(&inner)
    }

    /// Forgets the pin for `host:port` and saves the file.
    pub fn forget(&self, host: &str, port: u16) -> Result<(), TrustError> {
        let mut inner = self.lock();
        inner.pins.remove(&key(host, port));
        Self::save(&inner)
    }

    /// All pins, `host:port` -> fingerprint.
    pub fn pins(&self) -> BTreeMap<String, String> {
        self.lock().pins.clone()
    }

    fn save(inner: &Inner) -> Result<(), TrustError> {
        let Some(path) = &inner.path else {
            return Ok(());
        };
        let text = toml::to_string(&PinsFile {
            pins: inner.pins.clone(),
        })?;
        let io = |source| TrustError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        // Write then rename, so a crash never leaves a half-written pins file.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// The rustls verifier: pins first, then the web PKI; records what went wrong for the
/// connection task to report.
#[derive(Debug)]
pub(crate) struct PinningVerifier {
    store: TrustStore,
    host: String,
    port: u16,
    webpki: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
    issue: Arc<Mutex<Option<CertificateIssue>>>,
}

impl PinningVerifier {
    /// A verifier for `host:port`; `issue` receives the reason of a refusal.
    pub(crate) fn new(
        store: TrustStore,
        host: &str,
        port: u16,
        provider: Arc<CryptoProvider>,
        issue: Arc<Mutex<Option<CertificateIssue>>>,
    ) -> Result<Self, rustls::Error> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        Ok(PinningVerifier {
            store,
            host: host.to_owned(),
            port,
            webpki,
            provider,
            issue,
        })
    }

    fn record(&self, issue: CertificateIssue) {
        *self.issue.lock().unwrap_or_else(PoisonError::into_inner) = Some(issue);
    }
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = Fingerprint::of(end_entity.as_ref()).to_string();
        if let Some(expected) = self.store.pinned(&self.host, self.port) {
            if same_fingerprint(&expected, &got) {
                return Ok(ServerCertVerified::assertion());
            }
            self.record(CertificateIssue::Changed {
                host: self.host.clone(),
                port: self.port,
                expected,
                got,
            });
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ));
        }
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(ok) => Ok(ok),
            Err(e @ rustls::Error::InvalidCertificate(_)) => {
                // Self-signed, unknown issuer, wrong name, expired: all the user can judge by
                // the fingerprint.
                self.record(CertificateIssue::Unknown {
                    host: self.host.clone(),
                    port: self.port,
                    fingerprint: got,
                });
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
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
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_prints_as_hex_pairs() {
        let fp = Fingerprint::of(b"hola");
        let s = fp.to_string();
        assert_eq!(s.len(), 32 * 3 - 1);
        assert!(s.split(':').all(|p| p.len() == 2));
        assert!(same_fingerprint(&s, &s.to_lowercase().replace(':', "")));
        assert!(!same_fingerprint(&s, ""));
    }

    #[test]
    fn pins_persist_across_loads() {
        let dir = std::env::temp_dir().join(format!("charla-trust-{}", std::process::id()));
        let path = dir.join("pins.toml");
        let _ = std::fs::remove_file(&path);
        let store = TrustStore::load(&path).unwrap();
        assert_eq!(store.pinned("Example.org", 6697), None);
        store.pin("Example.org", 6697, "AA:BB").unwrap();
        let again = TrustStore::load(&path).unwrap();
        assert_eq!(again.pinned("example.org", 6697).as_deref(), Some("AA:BB"));
        assert_eq!(again.pinned("example.org", 6667), None);
        again.forget("example.org", 6697).unwrap();
        assert_eq!(
            TrustStore::load(&path).unwrap().pinned("example.org", 6697),
            None
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_file_is_an_error_not_a_panic() {
        let dir = std::env::temp_dir().join(format!("charla-trust-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pins.toml");
        std::fs::write(&path, "pins = 3\n").unwrap();
        assert!(matches!(
            TrustStore::load(&path),
            Err(TrustError::Parse { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
