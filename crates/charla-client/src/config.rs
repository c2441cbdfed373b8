//! What the user saves for one server: where it is, who they are, what to join, and how to
//! log in (SASL with a password, or a client certificate for EXTERNAL).

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One server to connect to, as the connect screen saves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Host name or IP address.
    pub host: String,
    /// TCP port (6697 is the usual TLS port, 6667 the plain one).
    pub port: u16,
    /// Whether to speak TLS.
    pub tls: bool,
    /// The nick we ask for; if taken we try `nick_`, `nick__`, then add digits.
    pub nick: String,
    /// The user name (ident); the nick's ASCII letters if empty.
    pub username: String,
    /// The real name shown in WHOIS; the nick if empty.
    pub realname: String,
    /// The server password (`PASS`), if the server needs one.
    pub password: Option<String>,
    /// Log into an account with SASL during registration (see [`SaslConfig`]).
    pub sasl: Option<SaslConfig>,
    /// A client certificate to offer in the TLS handshake: the server may know the account by
    /// its fingerprint (SASL `EXTERNAL`, or a network's `CERTFP` login).
    pub client_certificate: Option<ClientCertificate>,
    /// Channels to join once registered (with their buffers restored on reconnect).
    pub autojoin: Vec<String>,
    /// Other servers of the same network (nodes of a cluster), as `host` or `host:port` (the
    /// port defaults to `port`): when `host` does not answer, each is tried in turn, at every
    /// (re)connect. Each keeps its own certificate pin.
    pub also: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".to_owned(),
            port: 6697,
            tls: true,
            nick: String::new(),
            username: String::new(),
            realname: String::new(),
            password: None,
            sasl: None,
            client_certificate: None,
            autojoin: Vec::new(),
            also: Vec::new(),
        }
    }
}

/// What is wrong with a [`ServerConfig`], in words for the connect screen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No host.
    #[error("give the server's address")]
    NoHost,
    /// Port 0.
    #[error("give the server's port")]
    NoPort,
    /// A nick no server accepts.
    #[error("{0:?} cannot be a nick: use letters, digits and _-[]\\`^{{}}|, without spaces")]
    BadNick(String),
}

impl ServerConfig {
    /// Where to connect, in the order to try: `host` and `port`, then each of `also` (an
    /// entry without a port, or with one that is not a number, takes `port`; `[v6]:port` is
    /// understood).
    pub fn addresses(&self) -> Vec<(String, u16)> {
        let mut all = vec![(self.host.clone(), self.port)];
        for entry in self.also.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let (host, port) = match entry.rsplit_once(':') {
                // `host:port`, or `[v6]:port`; a bare IPv6 address has several colons.
                Some((host, port)) if !host.contains(':') || host.starts_with('[') => {
                    match port.parse::<u16>() {
                        Ok(port) if port > 0 => (host.trim_matches(['[', ']']), port),
                        _ => (host.trim_matches(['[', ']']), self.port),
                    }
                }
                _ => (entry, self.port),
            };
            if !host.is_empty() && !all.iter().any(|(h, p)| h == host && *p == port) {
                all.push((host.to_owned(), port));
            }
        }
        all
    }

    /// Checks what can be checked before connecting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.host.trim().is_empty() {
            return Err(ConfigError::NoHost);
        }
        if self.port == 0 {
            return Err(ConfigError::NoPort);
        }
        if !charla_proto::validate::is_valid_nick(&self.nick) {
            return Err(ConfigError::BadNick(self.nick.clone()));
        }
        Ok(())
    }

    /// A config for `host:port` as `nick`, no TLS, nothing else set.
    pub fn new(host: &str, port: u16, nick: &str) -> Self {
        ServerConfig {
            host: host.to_owned(),
            port,
            tls: false,
            nick: nick.to_owned(),
            ..Default::default()
        }
    }

    /// The user name to send in `USER`: the configured one, or the nick's ASCII alphanumerics
    /// (user names cannot hold UTF-8 on most servers), or `charla`.
    pub fn effective_username(&self) -> String {
        let source = if self.username.is_empty() {
            &self.nick
        } else {
            &self.username
        };
        let ascii: String = source
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(charla_proto::validate::USERLEN)
            .collect();
        if ascii.is_empty() {
            "charla".to_owned()
        } else {
            ascii
        }
    }

    /// The real name to send in `USER`: the configured one, or the nick.
    pub fn effective_realname(&self) -> &str {
        if self.realname.is_empty() {
            &self.nick
        } else {
            &self.realname
        }
    }
}

/// An account to log into with SASL (<https://ircv3.net/specs/extensions/sasl-3.1>).
///
/// With a password the client prefers `SCRAM-SHA-256` (the password never crosses the wire)
/// and falls back to `PLAIN`; with no password and a [`ClientCertificate`] it uses
/// `EXTERNAL`. `Debug` leaves the password out.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SaslConfig {
    /// The account name.
    pub account: String,
    /// The password; empty to log in with the client certificate (`EXTERNAL`).
    pub password: String,
    /// Which mechanism to use; [`SaslMechanism::Auto`] picks the best the server offers.
    pub mechanism: SaslMechanism,
    /// Whether to give up the connection when logging in fails. Off by default: as IRCv3
    /// says, registration then carries on without an account.
    pub required: bool,
}

impl SaslConfig {
    /// An account with a password, the mechanism chosen automatically, not required.
    pub fn password(account: &str, password: &str) -> Self {
        SaslConfig {
            account: account.to_owned(),
            password: password.to_owned(),
            ..SaslConfig::default()
        }
    }
}

impl fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslConfig")
            .field("account", &self.account)
            .field("password", &if self.password.is_empty() { "" } else { "…" })
            .field("mechanism", &self.mechanism)
            .field("required", &self.required)
            .finish()
    }
}

/// The SASL mechanism to log in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SaslMechanism {
    /// The best the server offers: `EXTERNAL` without a password (and with a certificate),
    /// else `SCRAM-SHA-256`, else `PLAIN`.
    #[default]
    Auto,
    /// `SCRAM-SHA-256` (RFC 7677) only: the server proves it knows the account too.
    ScramSha256,
    /// `PLAIN` (RFC 4616) only: the password itself is sent (over TLS or to this machine).
    Plain,
    /// `EXTERNAL`: the TLS client certificate is the credential.
    External,
}

impl SaslMechanism {
    /// The mechanism's name on the wire; `None` for [`SaslMechanism::Auto`].
    pub fn wire_name(self) -> Option<&'static str> {
        match self {
            SaslMechanism::Auto => None,
            SaslMechanism::ScramSha256 => Some("SCRAM-SHA-256"),
            SaslMechanism::Plain => Some("PLAIN"),
            SaslMechanism::External => Some("EXTERNAL"),
        }
    }

    /// The mechanism with this wire name (ASCII case ignored).
    pub fn from_wire_name(name: &str) -> Option<Self> {
        [
            SaslMechanism::ScramSha256,
            SaslMechanism::Plain,
            SaslMechanism::External,
        ]
        .into_iter()
        .find(|m| m.wire_name().is_some_and(|n| n.eq_ignore_ascii_case(name)))
    }
}

/// A TLS client certificate: a PEM file with the certificate (and any chain after it) and a
/// PEM file with its private key (PKCS#8, PKCS#1 or SEC1). Both may be the same file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientCertificate {
    /// The certificate, PEM.
    pub certificate: PathBuf,
    /// The private key, PEM.
    pub key: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_falls_back_to_ascii_of_nick() {
        let c = ServerConfig::new("h", 1, "Ñandú99");
        assert_eq!(c.effective_username(), "and99");
        let c = ServerConfig::new("h", 1, "ñú");
        assert_eq!(c.effective_username(), "charla");
        assert_eq!(c.effective_realname(), "ñú");
    }

    #[test]
    fn validation_in_words() {
        assert_eq!(ServerConfig::new("h", 6667, "Ñandú").validate(), Ok(()));
        assert_eq!(
            ServerConfig::new(" ", 6667, "ana").validate(),
            Err(ConfigError::NoHost)
        );
        assert_eq!(
            ServerConfig::new("h", 0, "ana").validate(),
            Err(ConfigError::NoPort)
        );
        let bad = ServerConfig::new("h", 6667, "a b").validate().unwrap_err();
        assert_eq!(bad, ConfigError::BadNick("a b".into()));
        assert!(bad.to_string().starts_with("\"a b\" cannot be a nick"));
        assert!(ServerConfig::new("h", 6667, "").validate().is_err());
    }

    #[test]
    fn round_trips_through_toml() {
        let mut c = ServerConfig::new("irc.example.org", 6697, "ana");
        c.tls = true;
        c.sasl = Some(SaslConfig {
            mechanism: SaslMechanism::ScramSha256,
            required: true,
            ..SaslConfig::password("ana", "pw")
        });
        c.client_certificate = Some(ClientCertificate {
            certificate: "/home/ana/ana.pem".into(),
            key: "/home/ana/ana.key".into(),
        });
        c.autojoin = vec!["#charla".into()];
        let text = toml::to_string(&c).unwrap();
        let back: ServerConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn debug_hides_the_password() {
        let text = format!("{:?}", SaslConfig::password("ana", "contraseña"));
        assert!(
            text.contains("ana") && !text.contains("contraseña"),
            "{text}"
        );
    }

    #[test]
    fn mechanism_names() {
        assert_eq!(
            SaslMechanism::from_wire_name("scram-sha-256"),
            Some(SaslMechanism::ScramSha256)
        );
        assert_eq!(SaslMechanism::from_wire_name("GSSAPI"), None);
        assert_eq!(SaslMechanism::Auto.wire_name(), None);
    }
}
