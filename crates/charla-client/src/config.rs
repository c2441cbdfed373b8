//! What the user saves for one server: where it is, who they are, what to join.

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
    /// Log into an account with SASL PLAIN during registration.
    pub sasl: Option<SaslConfig>,
    /// Channels to join once registered (with their buffers restored on reconnect).
    pub autojoin: Vec<String>,
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
            autojoin: Vec::new(),
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

/// An account to log into with SASL PLAIN.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SaslConfig {
    /// The account name.
    pub account: String,
    /// The password.
    pub password: String,
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
            account: "ana".into(),
            password: "pw".into(),
        });
        c.autojoin = vec!["#charla".into()];
        let text = toml::to_string(&c).unwrap();
        let back: ServerConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
    }
}
