//! Strict Transport Security (<https://ircv3.net/specs/extensions/sts>): the `sts` capability
//! tells a client on a plain connection to reconnect with TLS on a port (an upgrade policy,
//! `sts=port=6697`), and a client on a TLS connection to use nothing but TLS here for a while (a
//! persistence policy, `sts=duration=300`, with `preload` when the operator agrees to be put
//! in clients' preload lists).
//!
//! A client that has taken the policy refuses any certificate it cannot verify, so the policy
//! is only worth sending with a certificate clients can check: by default it is on when the
//! certificate is configured (`tls.cert`) and off with the generated self-signed one. The
//! policy is resolved once at start, after the listeners are bound, so that the port of a
//! listener on port 0 is the real one.

use serde::Deserialize;
use tracing::warn;

use crate::tls::CertSource;

/// The `[sts]` section of the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StsConfig {
    /// Send the policy: `true`, `false`, or unset for "when the certificate is configured".
    pub enabled: Option<bool>,
    /// How long (seconds) a client that saw the policy over TLS must use only TLS here.
    pub duration_secs: u64,
    /// The TLS port plain clients are sent to; unset means the first TLS listener's that is
    /// not behind a proxy.
    pub port: Option<u16>,
    /// Agree to be in clients' preload lists.
    pub preload: bool,
}

impl Default for StsConfig {
    fn default() -> Self {
        StsConfig {
            enabled: None,
            // Short, as InspIRCd's default: a policy sent by mistake (or a certificate that
            // lapses) locks clients out for minutes, not months. Raise it deliberately.
            duration_secs: 300,
            port: None,
            preload: false,
        }
    }
}

impl StsConfig {
    /// Checks values that parse but make no sense.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.port == Some(0) {
            return Err("sts.port must be a port (1-65535)");
        }
        Ok(())
    }
}

/// The policy the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsPolicy {
    /// The TLS port.
    pub port: u16,
    /// The persistence policy's duration in seconds.
    pub duration_secs: u64,
    /// The `preload` key.
    pub preload: bool,
}

impl StsPolicy {
    /// The capability's value: the upgrade policy (`port`) on a plain connection, the
    /// persistence policy (`duration`, `preload`) on a secure one (the spec's "Details").
    pub fn value(&self, secure: bool) -> String {
        if secure {
            let mut value = format!("duration={}", self.duration_secs);
            if self.preload {
                value.push_str(",preload");
            }
            value
        } else {
            format!("port={}", self.port)
        }
    }
}

/// Why the policy cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "sts.enabled is true but there is no TLS listener (without proxy) and no sts.port to send clients to"
)]
pub struct NoTlsPort;

/// The policy for `config`, given the bound ports of the TLS listeners clients reach directly
/// (in configuration order; not those behind a proxy, whose public port may differ) and where
/// their certificate came from (`None` without TLS listeners); `None` when off.
pub fn resolve(
    config: &StsConfig,
    tls_ports: &[u16],
    cert: Option<CertSource>,
) -> Result<Option<StsPolicy>, NoTlsPort> {
    let enabled = config
        .enabled
        .unwrap_or(cert == Some(CertSource::Configured));
    if !enabled {
        return Ok(None);
    }
    let Some(port) = config.port.or_else(|| tls_ports.first().copied()) else {
        // On by itself but nowhere to send clients (the TLS listeners are behind a proxy, whose
        // public port we do not know): off, rather than a wrong port.
        return match config.enabled {
            Some(true) => Err(NoTlsPort),
            _ => Ok(None),
        };
    };
    if matches!(cert, Some(CertSource::Generated | CertSource::Reused)) {
        warn!(
            "sts.enabled with a self-signed certificate: clients that take the policy will refuse \
             to connect unless they were told to trust this certificate"
        );
    }
    Ok(Some(StsPolicy {
        port,
        duration_secs: config.duration_secs,
        preload: config.preload,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_by_default_only_with_a_configured_certificate() {
        let auto = StsConfig::default();
        let on = resolve(&auto, &[6697], Some(CertSource::Configured)).expect("resolves");
        assert_eq!(
            on,
            Some(StsPolicy {
                port: 6697,
                duration_secs: 300,
                preload: false
            })
        );
        for generated in [CertSource::Generated, CertSource::Reused] {
            assert_eq!(resolve(&auto, &[6697], Some(generated)), Ok(None));
        }
        assert_eq!(resolve(&auto, &[], None), Ok(None));
        // Only TLS listeners behind a proxy: no port known, so off unless one is given.
        assert_eq!(resolve(&auto, &[], Some(CertSource::Configured)), Ok(None));
        let with_port = StsConfig {
            port: Some(6697),
            ..StsConfig::default()
        };
        assert!(matches!(
            resolve(&with_port, &[], Some(CertSource::Configured)),
            Ok(Some(StsPolicy { port: 6697, .. }))
        ));
        let off = StsConfig {
            enabled: Some(false),
            ..StsConfig::default()
        };
        assert_eq!(
            resolve(&off, &[6697], Some(CertSource::Configured)),
            Ok(None)
        );
    }

    #[test]
    fn forced_on_needs_a_port() {
        let forced = StsConfig {
            enabled: Some(true),
            ..StsConfig::default()
        };
        assert_eq!(resolve(&forced, &[], None), Err(NoTlsPort));
        let forced_port = StsConfig {
            port: Some(443),
            ..forced.clone()
        };
        // TLS terminated in front of the server: the port is the proxy's.
        let policy = resolve(&forced_port, &[], None)
            .expect("resolves")
            .expect("on");
        assert_eq!(policy.port, 443);
        let first = resolve(&forced, &[7000, 7001], Some(CertSource::Generated))
            .expect("resolves")
            .expect("on");
        assert_eq!(first.port, 7000);
    }

    #[test]
    fn values_differ_by_transport() {
        let mut p = StsPolicy {
            port: 6697,
            duration_secs: 2_592_000,
            preload: false,
        };
        assert_eq!(p.value(false), "port=6697");
        assert_eq!(p.value(true), "duration=2592000");
        p.preload = true;
        assert_eq!(p.value(false), "port=6697");
        assert_eq!(p.value(true), "duration=2592000,preload");
    }
}
