//! Saved servers and app settings, kept as TOML in the user's config directory.
//!
//! The file is small and written whole on every change (write to a temporary file, then
//! rename, so a crash never leaves half a file). Passwords are never written here: they go to
//! the system keyring (see [`secrets`](crate::secrets)), or are asked for at connect time.

use std::path::{Path, PathBuf};

use charla_client::{ClientCertificate, SaslMechanism};
use serde::{Deserialize, Serialize};

/// File name of the settings inside the config directory.
const FILE_NAME: &str = "charla.toml";

/// One saved server on the connect screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SavedServer {
    /// What the list shows; the host when left empty.
    pub name: String,
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Connect over TLS.
    pub tls: bool,
    /// Preferred nick.
    pub nick: String,
    /// Account to log in with (SASL), if any.
    pub account: Option<String>,
    /// How to log in: automatic (the best the server offers) or one mechanism.
    pub mechanism: SaslMechanism,
    /// A client certificate (PEM files) offered in the TLS handshake, for `EXTERNAL`.
    pub client_certificate: Option<ClientCertificate>,
    /// Disconnect when logging in fails, rather than carry on without the account.
    pub require_login: bool,
    /// Keep the account's password in the system keyring (the password itself is never in
    /// this file).
    pub use_keyring: bool,
    /// Channels joined after connecting.
    pub autojoin: Vec<String>,
    /// Other servers of the same network (`host` or `host:port`), tried in turn when `host`
    /// does not answer.
    pub also: Vec<String>,
}

impl Default for SavedServer {
    fn default() -> Self {
        Self {
            name: String::new(),
            host: "127.0.0.1".to_owned(),
            port: 6667,
            tls: false,
            nick: String::new(),
            account: None,
            mechanism: SaslMechanism::Auto,
            client_certificate: None,
            require_login: false,
            use_keyring: true,
            autojoin: Vec::new(),
            also: Vec::new(),
        }
    }
}

impl SavedServer {
    /// The label shown in the saved-server list.
    pub fn label(&self) -> String {
        if self.name.trim().is_empty() {
            format!("{}:{}", self.host, self.port)
        } else {
            self.name.clone()
        }
    }
}

/// Everything the app keeps between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The saved servers, in the order the user sees them.
    pub servers: Vec<SavedServer>,
    /// Show desktop notifications on mentions and private messages.
    pub notifications: bool,
    /// Dark (true) or light theme; `None` follows the system.
    pub dark: Option<bool>,
    /// Load avatars from any site, not only from the chat server (each site then learns the
    /// user's address): off by default.
    pub avatars_from_other_sites: bool,
    /// "Host a server": the port and nick used last time.
    pub host: HostSettings,
}

/// What "Host a server" remembers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostSettings {
    /// The port to listen on.
    pub port: u16,
    /// The host's own nick.
    pub nick: String,
    /// Whether other computers may connect (else 127.0.0.1 only).
    pub public: bool,
    /// Whether the server speaks TLS.
    pub tls: bool,
}

impl Default for HostSettings {
    fn default() -> Self {
        Self {
            port: 6667,
            nick: String::new(),
            // A first run exposes nothing: only this computer, until the user says otherwise.
            public: false,
            tls: false,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            notifications: true,
            dark: None,
            avatars_from_other_sites: false,
            host: HostSettings::default(),
        }
    }
}

/// Why the settings could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for [`Settings`].
    #[error("{path} is not a valid settings file: {source}")]
    Parse {
        /// The file concerned.
        path: PathBuf,
        /// What the parser said.
        #[source]
        source: toml::de::Error,
    },
    /// The settings could not be turned into TOML (should not happen).
    #[error("cannot encode settings: {0}")]
    Encode(#[from] toml::ser::Error),
}

/// Where the settings live; `None` keeps them in memory only (tests, or no home directory).
#[derive(Debug, Clone, Default)]
pub struct ConfigStore {
    path: Option<PathBuf>,
}

impl ConfigStore {
    /// The store in the user's config directory (e.g. `~/.config/charla/charla.toml`).
    pub fn user() -> Self {
        let path = directories::ProjectDirs::from("", "", "charla")
            .map(|dirs| dirs.config_dir().join(FILE_NAME));
        Self { path }
    }

    /// A store at an explicit file path.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self {
            path: Some(path.into()),
        }
    }

    /// A store that never touches the disk.
    pub fn in_memory() -> Self {
        Self { path: None }
    }

    /// The file path, if the store has one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Reads the settings; a missing file gives the defaults.
    pub fn load(&self) -> Result<Settings, ConfigError> {
        let Some(path) = &self.path else {
            return Ok(Settings::default());
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(source) => {
                return Err(ConfigError::Io {
                    path: path.clone(),
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.clone(),
            source,
        })
    }

    /// Moves an unreadable settings file out of the way (to `charla.toml.bad`), so that the
    /// next save does not destroy what the user may still want to repair. Returns where it went.
    pub fn set_aside(&self) -> Result<Option<PathBuf>, ConfigError> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let aside = path.with_extension("toml.bad");
        match std::fs::rename(path, &aside) {
            Ok(()) => Ok(Some(aside)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ConfigError::Io {
                path: path.clone(),
                source,
            }),
        }
    }

    /// Writes the settings (atomically: temporary file, then rename).
    pub fn save(&self, settings: &Settings) -> Result<(), ConfigError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let text = toml::to_string_pretty(settings)?;
        let io = |source| ConfigError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_unicode_and_order() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("charla-config-test-{}", std::process::id()));
        let store = ConfigStore::at(dir.join("sub").join("charla.toml"));
        assert_eq!(
            store.load()?,
            Settings::default(),
            "missing file gives defaults"
        );
        let settings = Settings {
            servers: vec![
                SavedServer {
                    name: "Casa ¿sí? 🎉".into(),
                    nick: "Ñandú".into(),
                    account: Some("ñandú".into()),
                    mechanism: SaslMechanism::External,
                    client_certificate: Some(ClientCertificate {
                        certificate: "/home/ñandú/cert.pem".into(),
                        key: "/home/ñandú/key.pem".into(),
                    }),
                    require_login: true,
                    ..SavedServer::default()
                },
                SavedServer {
                    host: "irc.example.org".into(),
                    port: 6697,
                    tls: true,
                    ..SavedServer::default()
                },
            ],
            notifications: false,
            dark: Some(false),
            avatars_from_other_sites: true,
            host: HostSettings {
                port: 7000,
                nick: "anfitrión".into(),
                public: false,
                tls: true,
            },
        };
        store.save(&settings)?;
        assert_eq!(store.load()?, settings);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn broken_file_is_an_error_in_words() -> anyhow::Result<()> {
        let path = std::env::temp_dir().join(format!("charla-bad-{}.toml", std::process::id()));
        std::fs::write(&path, "servers = 5")?;
        let store = ConfigStore::at(&path);
        let err = store.load().err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("not a valid settings file")));
        let aside = store.set_aside()?;
        assert!(!path.exists(), "moved away");
        let aside = aside.ok_or_else(|| anyhow::anyhow!("no path"))?;
        assert_eq!(
            std::fs::read_to_string(&aside)?,
            "servers = 5",
            "kept intact"
        );
        std::fs::remove_file(&aside)?;
        Ok(())
    }

    #[test]
    fn label_falls_back_to_host_and_port() {
        let server = SavedServer::default();
        assert_eq!(server.label(), "127.0.0.1:6667");
    }
}
