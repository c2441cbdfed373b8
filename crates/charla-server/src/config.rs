//! The server's configuration: one [`Config`] with serde defaults, read from TOML.
//!
//! Every field has a default, so an empty file (or no file) gives a working server on
//! `0.0.0.0:6667` and, with a generated certificate, TLS on `0.0.0.0:6697`. Unknown keys are not an error — they are collected with `serde_ignored` and
//! returned as warnings so that a typo is reported instead of silently ignored.
//! The reference for every option is the README's "Configuration" section; `charla.example.toml` shows them all.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::account::password::Password;
use crate::cidr::Cidr;
use crate::http::HttpConfig;
use crate::http::files::FilesConfig;
use crate::proxy::ProxyConfig;
use crate::sts::StsConfig;
use crate::tls::TlsConfig;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed or a value has the wrong type.
    #[error("invalid config: {0}")]
    Parse(#[from] toml::de::Error),
    /// A value is out of range or inconsistent.
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The server's name, the source of its numerics. Defaults to the host name.
    pub server_name: String,
    /// The network name (ISUPPORT `NETWORK`).
    pub network: String,
    /// Where to listen.
    pub listeners: Vec<ListenerConfig>,
    /// A connection password every client must give with PASS; `None` means none is needed.
    pub password: Option<String>,
    /// The message of the day: inline text (empty for none).
    pub motd: Option<String>,
    /// The message of the day: a file, read at start (wins over `motd`).
    pub motd_file: Option<PathBuf>,
    /// Connection and resource limits.
    pub limits: Limits,
    /// Per-client flood control.
    pub flood: FloodConfig,
    /// Operator accounts (OPER name password).
    pub opers: Vec<OperConfig>,
    /// Where the server keeps its files (the generated TLS certificate). Relative paths are
    /// relative to the working directory.
    pub data_dir: PathBuf,
    /// The TLS certificate and handshake settings for listeners with `tls = true`.
    pub tls: TlsConfig,
    /// What the log may hold.
    pub log: LogConfig,
    /// Where accounts and channel registrations are kept.
    pub store: StoreConfig,
    /// Accounts: who may register, nick protection, password hashing.
    pub accounts: AccountsConfig,
    /// Message history: kept, how long, and who may read it.
    pub history: HistoryConfig,
    /// Strict Transport Security: the `sts` policy sent to clients.
    pub sts: StsConfig,
    /// Who may send PROXY protocol headers to listeners with `proxy = true`.
    pub proxy: ProxyConfig,
    /// WEBIRC gateways.
    pub webirc: Vec<WebircConfig>,
    /// The HTTP(S) listener: health, metrics, WebSocket.
    pub http: HttpConfig,
    /// The file host on the HTTP listener (uploads, downloads, thumbnails).
    pub files: FilesConfig,
    /// Several nodes as one network over NATS ([`crate::cluster`]); off without `nats`.
    pub cluster: crate::cluster::ClusterConfig,
}

/// A WEBIRC gateway (<https://ircv3.net/specs/extensions/webirc>): a web chat or a bouncer
/// that connects for its users and tells the server, with `WEBIRC` as its first line, each
/// user's real address and host name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebircConfig {
    /// The gateway's name, shown in logs and WHOIS.
    pub name: String,
    /// Its password as an Argon2 PHC string (`charla-server hash-password` prints one).
    pub password_hash: Option<String>,
    /// Its password in plain text, instead of `password_hash`: compared at once, with no hash
    /// to compute on each of the gateway's connections.
    pub password: Option<Password>,
    /// The addresses (single addresses or CIDR ranges) it may connect from.
    pub hosts: Vec<Cidr>,
}

impl WebircConfig {
    /// Whether the gateway may connect from `ip`.
    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        crate::cidr::any_contains(&self.hosts, ip)
    }
}

/// Who may read a channel's history from before they joined it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BeforeJoin {
    /// Members of registered channels see all of it; in other channels, members see what was
    /// said since they joined.
    #[default]
    Registered,
    /// Every member sees all of it.
    Always,
    /// Members see only what was said since they joined.
    Never,
}

/// Message history (<https://ircv3.net/specs/extensions/chathistory>).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// Keep history: every channel and private message is committed to the store before anyone
    /// receives it. Off, messages are relayed only.
    pub enabled: bool,
    /// The most lines one CHATHISTORY request returns (ISUPPORT `CHATHISTORY`).
    pub max_request: usize,
    /// Drop history older than this many days; 0 keeps it forever.
    pub retention_days: u64,
    /// Keep at most this many lines per channel or conversation; 0 keeps them all.
    pub retention_count: u64,
    /// Rules of their own for some channels (by name) or for every private conversation
    /// (`private`), in place of `retention_days` and `retention_count`.
    pub retention: std::collections::BTreeMap<String, Retention>,
    /// Who may read a channel's history from before they joined it.
    pub before_join: BeforeJoin,
    /// How long (seconds) a sender may delete their own message with REDACT; 0: always.
    /// Channel operators and IRC operators are not bound by it.
    pub redact_window_secs: u64,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            enabled: true,
            max_request: 100,
            retention_days: 0,
            retention_count: 0,
            retention: std::collections::BTreeMap::new(),
            before_join: BeforeJoin::Registered,
            redact_window_secs: 900,
        }
    }
}

/// How long one channel's history, or the private conversations', is kept
/// (`[history.retention."#channel"]`, `[history.retention.private]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retention {
    /// Drop what is older than this many days; 0 keeps it forever.
    pub days: u64,
    /// Keep at most this many lines per channel or conversation; 0 keeps them all.
    pub count: u64,
}

/// Which store keeps accounts and channel registrations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// One SQLite file (the embedded default).
    #[default]
    Sqlite,
    /// In memory: gone when the server stops (tests, throw-away servers).
    Memory,
    /// A PostgreSQL database ([`StoreConfig::url`]), which several server nodes can share.
    Postgres,
}

/// Where accounts and channel registrations are kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StoreConfig {
    /// The backend.
    pub backend: StoreBackend,
    /// The SQLite file; relative paths are relative to `data_dir`. Default `charla.db`.
    pub path: Option<PathBuf>,
    /// When a commit is on disk: `full` (every commit synced: survives a power cut) or
    /// `normal` (survives a crash of the server, may lose the last commits to a power cut).
    pub synchronous: Synchronous,
    /// The `postgres` backend's database, as `postgresql://user:password@host:port/database`.
    /// It holds a password, so `Debug` shows none of it. No TLS to the database yet.
    pub url: Option<Password>,
}

/// SQLite's `synchronous` setting ([`StoreConfig::synchronous`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Every commit synced.
    #[default]
    Full,
    /// Synced at checkpoints.
    Normal,
}

impl StoreConfig {
    /// An in-memory store.
    pub fn memory() -> Self {
        StoreConfig {
            backend: StoreBackend::Memory,
            ..StoreConfig::default()
        }
    }

    /// The SQLite file for `data_dir`.
    pub fn sqlite_path(&self, data_dir: &Path) -> PathBuf {
        data_dir.join(self.path.as_deref().unwrap_or(Path::new("charla.db")))
    }
}

/// Who may register accounts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone (REGISTER, NickServ REGISTER).
    #[default]
    Open,
    /// No one: accounts exist only if created before.
    Closed,
    /// Only IRC operators.
    Opers,
}

/// Accounts.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AccountsConfig {
    /// Who may register accounts.
    pub registration: Registration,
    /// Seconds a user may keep a registered nick without logging into its account before being
    /// renamed to a guest nick; 0 turns nick protection off.
    pub nick_grace_secs: u64,
    /// The prefix of guest nicks (`Guest12345`).
    pub guest_prefix: String,
    /// Password hashes run at once, each on its own thread; 0 means half the cores.
    pub hash_threads: usize,
    /// The shortest password accepted when an account is created or its password changed.
    pub min_password_len: usize,
    /// Most client certificates one account may hold.
    pub max_certs: usize,
    /// Several connections logged into one account share one nick and presence (multiclient):
    /// a second device attaches to the user already there instead of needing a nick of its own.
    pub multiclient: bool,
    /// Whether an account stays present when its last connection leaves (always-on: its nick
    /// stays taken, it stays in its channels and private messages to it are kept), for
    /// accounts that did not choose with NickServ `SET ALWAYS-ON`.
    pub always_on: bool,
    /// Most connections one account may have at once (multiclient).
    pub max_devices: usize,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            registration: Registration::Open,
            nick_grace_secs: 30,
            guest_prefix: "Guest".to_owned(),
            hash_threads: 0,
            min_password_len: 8,
            max_certs: 5,
            multiclient: true,
            always_on: false,
            max_devices: 8,
        }
    }
}

impl AccountsConfig {
    /// The grace period of nick protection, or `None` when it is off.
    pub fn nick_grace(&self) -> Option<Duration> {
        (self.nick_grace_secs > 0).then(|| Duration::from_secs(self.nick_grace_secs))
    }
}

/// What the server's log may hold (the operator's live log of the headless binary).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// Log the text of channel and private messages (escaped), at `info`. Off by default: the
    /// log then records who wrote to whom, at `debug`, and never what.
    pub message_text: bool,
}

/// One listening socket.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// The address and port, e.g. `"0.0.0.0:6667"` or `"[::]:6667"`. Port 0 picks a free port.
    pub address: SocketAddr,
    /// Whether clients speak TLS on this socket (with the certificate of `[tls]`).
    #[serde(default)]
    pub tls: bool,
    /// Whether each connection starts with a PROXY protocol header (v2 or v1), before TLS,
    /// from an address of `[proxy] trusted`; others are closed at once.
    #[serde(default)]
    pub proxy: bool,
}

impl ListenerConfig {
    /// A plain TCP listener on `address`.
    pub fn tcp(address: SocketAddr) -> Self {
        ListenerConfig {
            address,
            tls: false,
            proxy: false,
        }
    }

    /// A TLS listener on `address`.
    pub fn tls(address: SocketAddr) -> Self {
        ListenerConfig {
            address,
            tls: true,
            proxy: false,
        }
    }

    /// This listener, taking a PROXY protocol header first on each connection.
    pub fn behind_proxy(self) -> Self {
        ListenerConfig {
            proxy: true,
            ..self
        }
    }
}

/// Connection and resource limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Most connections at once; one more is told `ERROR :Server is full` and closed.
    pub max_clients: usize,
    /// Most connections at once from one IP address.
    pub max_clients_per_ip: usize,
    /// Most new connections from one IP address per `connect_window_secs`.
    pub connects_per_window: u32,
    /// The window of `connects_per_window`, in seconds.
    pub connect_window_secs: u64,
    /// Loopback addresses (127.0.0.0/8, ::1) skip the per-IP limit and the connect throttle.
    pub exempt_loopback: bool,
    /// Most bytes waiting to be written to one client before it is disconnected
    /// ("SendQ exceeded").
    pub sendq_bytes: usize,
    /// The kernel's send buffer per client socket (SO_SNDBUF), in bytes (Linux doubles it); 0
    /// leaves it to the kernel's auto-tuning, up to megabytes per socket. A fixed size bounds
    /// what a non-reading client costs in kernel memory, on top of `sendq_bytes`.
    pub socket_send_buffer: u32,
    /// The coalescing window, in milliseconds. A busy client (lately written 8 lines or more
    /// per this many milliseconds) has its lines held until those it gets in a quarter to half
    /// of the window wait (more of the window the busier it or the server is; 2 to 48 lines),
    /// or at most this long if they stop coming. Busy channels then cost a few writes per window instead of one
    /// per line; other lines go out at once. 0 writes every line at once.
    pub write_coalesce_ms: u64,
    /// Most channels one client may be in (ISUPPORT `CHANLIMIT`).
    pub max_channels_per_user: usize,
    /// Most entries in each of a channel's ban, exception and invite-exception lists
    /// (ISUPPORT `MAXLIST`).
    pub max_list_entries: usize,
    /// Most targets of one PRIVMSG/NOTICE/TAGMSG (ISUPPORT `TARGMAX`).
    pub max_targets: usize,
    /// Seconds a connection may take to register (NICK + USER + CAP END) before it is closed.
    pub registration_timeout_secs: u64,
    /// Seconds a new connection may stay silent (not one whole line) before it is closed: a
    /// client that connects and sends nothing holds a slot for this long, not for the whole
    /// `registration_timeout_secs`.
    pub silent_timeout_secs: u64,
    /// Seconds of silence from a client before the server sends it a PING.
    pub ping_interval_secs: u64,
    /// Seconds to wait for any reply after that PING before "Ping timeout".
    pub ping_timeout_secs: u64,
    /// How many signed-off nicks WHOWAS remembers.
    pub whowas_entries: usize,
    /// The longest `draft/multiline` message, in bytes of text (line breaks count one each).
    pub multiline_max_bytes: usize,
    /// The most lines in a `draft/multiline` message.
    pub multiline_max_lines: usize,
}

/// Per-client flood control: a token bucket whose debt is paid in delay (fakelag).
///
/// A command costs tokens by what it does (one per line, one per target or channel, more for
/// scans). A client may spend `burst` tokens at once; they come back at `lines_per_sec`. A line
/// that finds the bucket empty waits until a token is back (the client sees lag, not an error).
/// While lines wait, more are read; only when the waiting lines pass `recvq_bytes` is the client
/// disconnected with `ERROR :Excess Flood`. Operators are exempt.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct FloodConfig {
    /// Whether flood control is on.
    pub enabled: bool,
    /// Lines a client may send at once.
    pub burst: u32,
    /// Lines per second a client may send over time.
    pub lines_per_sec: f64,
    /// Bytes of received lines that may wait for tokens before "Excess Flood" (the receive
    /// queue).
    pub recvq_bytes: usize,
}

/// One operator account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperConfig {
    /// The name given to OPER.
    pub name: String,
    /// The password as an Argon2 PHC string (`charla-server hash-password` prints one).
    pub password_hash: Option<String>,
    /// An account instead of a password: a user logged into it becomes operator with
    /// `OPER <name>`.
    pub account: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server_name: default_server_name(),
            network: "Charla".to_owned(),
            listeners: vec![
                ListenerConfig::tcp(SocketAddr::from(([0, 0, 0, 0], 6667))),
                ListenerConfig::tls(SocketAddr::from(([0, 0, 0, 0], 6697))),
            ],
            password: None,
            motd: Some("Welcome to Charla.".to_owned()),
            motd_file: None,
            limits: Limits::default(),
            flood: FloodConfig::default(),
            opers: Vec::new(),
            data_dir: PathBuf::from("data"),
            tls: TlsConfig::default(),
            log: LogConfig::default(),
            store: StoreConfig::default(),
            accounts: AccountsConfig::default(),
            history: HistoryConfig::default(),
            sts: StsConfig::default(),
            proxy: ProxyConfig::default(),
            webirc: Vec::new(),
            http: HttpConfig::default(),
            files: FilesConfig::default(),
            cluster: crate::cluster::ClusterConfig::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_clients: 10_000,
            max_clients_per_ip: 10,
            connects_per_window: 10,
            connect_window_secs: 60,
            exempt_loopback: true,
            // Like InspIRCd's example hard sendq: room for a full NAMES/WHO burst of a big
            // channel, small enough that a stuck reader costs little.
            sendq_bytes: 1024 * 1024,
            socket_send_buffer: 64 * 1024,
            write_coalesce_ms: 30,
            max_channels_per_user: 50,
            max_list_entries: 100,
            max_targets: 4,
            registration_timeout_secs: 60,
            silent_timeout_secs: 10,
            ping_interval_secs: 120,
            ping_timeout_secs: 60,
            whowas_entries: 1000,
            multiline_max_bytes: 8192,
            multiline_max_lines: 100,
        }
    }
}

impl Default for FloodConfig {
    fn default() -> Self {
        FloodConfig {
            enabled: true,
            burst: 20,
            lines_per_sec: 5.0,
            recvq_bytes: 64 * 1024,
        }
    }
}

/// The host name if it is usable as a server name, else `charla.invalid`.
fn default_server_name() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| is_valid_server_name(h))
        .unwrap_or_else(|| "charla.invalid".to_owned())
}

/// A server name is a host name: ASCII letters, digits, `-` and `.`.
fn is_valid_server_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

impl Config {
    /// The default configuration listening on `address` only (tests use `127.0.0.1:0`), with
    /// an in-memory store: nothing is written to disk unless `store` is set. The HTTP listener
    /// is off (it would take a fixed port); set `http.enabled` to have it. The file host is off
    /// too (it keeps files under `data_dir`); set `files.enabled` with `http.enabled`.
    pub fn with_listener(address: SocketAddr) -> Self {
        let mut config = Config {
            listeners: vec![ListenerConfig::tcp(address)],
            store: StoreConfig::memory(),
            ..Config::default()
        };
        config.http.enabled = false;
        config.files.enabled = false;
        config
    }

    /// Parses TOML text. Returns the config and one warning per unknown key.
    pub fn from_toml(text: &str) -> Result<(Config, Vec<String>), ConfigError> {
        let mut unknown = Vec::new();
        let de = toml::Deserializer::parse(text)?;
        let config: Config = serde_ignored::deserialize(de, |path| {
            unknown.push(format!("unknown config key `{path}` ignored"));
        })?;
        config.validate()?;
        Ok((config, unknown))
    }

    /// Reads and parses a TOML file. Returns the config and one warning per unknown key.
    pub fn load(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text)
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if !is_valid_server_name(&self.server_name) {
            return bad("server_name must be a host name (letters, digits, '-', '.')");
        }
        if self.network.is_empty() || self.network.contains([' ', '\r', '\n', '\0']) {
            return bad("network must be one word");
        }
        if self.limits.max_clients == 0 {
            return bad("limits.max_clients must be at least 1");
        }
        if self.limits.sendq_bytes < 4096 {
            return bad("limits.sendq_bytes must be at least 4096");
        }
        if self.limits.write_coalesce_ms > 1000 {
            return bad("limits.write_coalesce_ms must be at most 1000");
        }
        if self.limits.silent_timeout_secs == 0 || self.limits.registration_timeout_secs == 0 {
            return bad(
                "limits.silent_timeout_secs and registration_timeout_secs must be at least 1",
            );
        }
        if self.limits.multiline_max_bytes < 512 || self.limits.multiline_max_lines < 2 {
            return bad(
                "limits.multiline_max_bytes must be at least 512 and multiline_max_lines at least 2",
            );
        }
        if self.limits.max_targets == 0 {
            return bad("limits.max_targets must be at least 1");
        }
        if !(1..=10_000).contains(&self.history.max_request) {
            return bad("history.max_request must be between 1 and 10000");
        }
        if let Some(name) = self.history.retention.keys().find(|name| {
            !name.eq_ignore_ascii_case("private")
                && charla_proto::validate::check_channel(name).is_err()
        }) {
            return bad(&format!(
                "history.retention.{name:?}: a rule is for a channel (\"#name\") or \"private\""
            ));
        }
        if self.flood.enabled && (self.flood.burst == 0 || self.flood.lines_per_sec <= 0.0) {
            return bad("flood.burst and flood.lines_per_sec must be positive");
        }
        if self.flood.enabled && self.flood.recvq_bytes < charla_proto::limits::MAX_INBOUND {
            return bad(&format!(
                "flood.recvq_bytes must hold one whole line ({} bytes)",
                charla_proto::limits::MAX_INBOUND
            ));
        }
        if self.store.backend == StoreBackend::Postgres && self.store.url.is_none() {
            return bad("store.url is needed with backend = \"postgres\" \
                 (postgresql://user:password@host:port/database)");
        }
        self.tls
            .check()
            .map_err(|m| ConfigError::Invalid(m.to_owned()))?;
        self.http.check().map_err(ConfigError::Invalid)?;
        self.files.check().map_err(ConfigError::Invalid)?;
        for oper in &self.opers {
            match (&oper.password_hash, &oper.account) {
                (Some(hash), None) => {
                    if argon2::PasswordHash::new(hash).is_err() {
                        return Err(ConfigError::Invalid(format!(
                            "opers: password_hash of `{}` is not a PHC string (use `charla-server hash-password`)",
                            oper.name
                        )));
                    }
                }
                (None, Some(_)) => {}
                _ => {
                    return Err(ConfigError::Invalid(format!(
                        "opers: `{}` needs either password_hash or account (one of them)",
                        oper.name
                    )));
                }
            }
        }
        self.sts
            .check()
            .map_err(|m| ConfigError::Invalid(m.to_owned()))?;
        if self.listeners.iter().any(|l| l.proxy) && self.proxy.trusted.is_empty() {
            return bad(
                "a listener has proxy = true but [proxy] trusted lists no address to take headers from",
            );
        }
        if self.proxy.header_timeout_secs == 0 {
            return bad("proxy.header_timeout_secs must be at least 1");
        }
        for gateway in &self.webirc {
            let name = &gateway.name;
            if name.is_empty() || name.contains(|c: char| c == ' ' || c.is_control()) {
                return bad("webirc: name must be one word");
            }
            match (&gateway.password_hash, &gateway.password) {
                (Some(hash), None) => {
                    if argon2::PasswordHash::new(hash).is_err() {
                        return Err(ConfigError::Invalid(format!(
                            "webirc: password_hash of `{name}` is not a PHC string (use `charla-server hash-password`)"
                        )));
                    }
                }
                (None, Some(password)) if !password.expose().is_empty() => {}
                _ => {
                    return Err(ConfigError::Invalid(format!(
                        "webirc: `{name}` needs either password_hash or password (one of them)"
                    )));
                }
            }
            if gateway.hosts.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "webirc: `{name}` needs the hosts it connects from"
                )));
            }
        }
        if self.accounts.guest_prefix.is_empty()
            || charla_proto::validate::check_nick(&format!("{}1", self.accounts.guest_prefix))
                .is_err()
        {
            return bad("accounts.guest_prefix must start a valid nick");
        }
        self.cluster
            .validate()
            .map_err(|m| ConfigError::Invalid(format!("cluster: {m}")))?;
        Ok(())
    }

    /// The MOTD lines: from `motd_file` if set, else `motd`; `None` when there is none.
    pub fn motd_lines(&self) -> Result<Option<Vec<String>>, ConfigError> {
        let text = match &self.motd_file {
            Some(path) => {
                Some(
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                        path: path.clone(),
                        source,
                    })?,
                )
            }
            None => self.motd.clone(),
        };
        // An empty MOTD means none: clients get ERR_NOMOTD.
        Ok(text
            .filter(|t| !t.trim().is_empty())
            .map(|t| t.lines().map(str::to_owned).collect()))
    }
}

impl Limits {
    /// The registration timeout as a [`Duration`].
    pub fn registration_timeout(&self) -> Duration {
        Duration::from_secs(self.registration_timeout_secs)
    }
    /// How long a new connection may stay silent, as a [`Duration`] (never past the
    /// registration timeout).
    pub fn silent_timeout(&self) -> Duration {
        Duration::from_secs(self.silent_timeout_secs.min(self.registration_timeout_secs))
    }
    /// The write coalescing window as a [`Duration`].
    pub fn write_coalesce(&self) -> Duration {
        Duration::from_millis(self.write_coalesce_ms)
    }
    /// The ping interval as a [`Duration`].
    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval_secs)
    }
    /// The ping timeout as a [`Duration`].
    pub fn ping_timeout(&self) -> Duration {
        Duration::from_secs(self.ping_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let (c, warnings) = Config::from_toml("").expect("parses");
        assert!(warnings.is_empty());
        assert_eq!(
            c.listeners[0].address,
            SocketAddr::from(([0, 0, 0, 0], 6667))
        );
        assert!(c.limits.exempt_loopback);
        assert!(!c.listeners[0].tls);
        assert_eq!(c.listeners[1].address.port(), 6697);
        assert!(c.listeners[1].tls);
    }

    #[test]
    fn unknown_keys_are_warnings() {
        let (c, warnings) =
            Config::from_toml("netwrok = \"x\"\n[limits]\nmax_clients = 5\nbogus = 1\n")
                .expect("parses");
        assert_eq!(c.limits.max_clients, 5);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings.iter().any(|w| w.contains("`netwrok`")),
            "{warnings:?}"
        );
        assert!(
            warnings.iter().any(|w| w.contains("`limits.bogus`")),
            "{warnings:?}"
        );
    }

    #[test]
    fn retention_rules_are_for_channels_or_private_conversations() {
        let toml = "[history.retention.\"#ayuda\"]\ndays = 30\n\
                    [history.retention.private]\ncount = 100\n";
        let (c, warnings) = Config::from_toml(toml).expect("parses");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(c.history.retention["#ayuda"].days, 30);
        assert_eq!(c.history.retention["private"].count, 100);
        let err =
            Config::from_toml("[history.retention.ayuda]\ndays = 1\n").expect_err("not a channel");
        assert!(err.to_string().contains("ayuda"), "{err}");
    }

    #[test]
    fn a_postgres_store_needs_a_url_and_never_shows_its_password() {
        let toml = "[store]\nbackend = \"postgres\"\n\
                    url = \"postgresql://charla:s3cret@db.internal:5432/charla\"\n";
        let (c, warnings) = Config::from_toml(toml).expect("parses");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(c.store.backend, StoreBackend::Postgres);
        assert_eq!(
            c.store.url.as_ref().map(Password::expose),
            Some("postgresql://charla:s3cret@db.internal:5432/charla")
        );
        assert!(!format!("{c:?}").contains("s3cret"));
        let err = Config::from_toml("[store]\nbackend = \"postgres\"\n").expect_err("no url");
        assert!(err.to_string().contains("store.url"), "{err}");
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(Config::from_toml("server_name = \"a b\"").is_err());
        assert!(Config::from_toml("[limits]\nmax_clients = \"x\"").is_err());
        assert!(Config::from_toml("[[opers]]\nname = \"a\"\npassword_hash = \"x\"").is_err());
    }

    #[test]
    fn gateways_proxies_and_sts_parse_and_are_checked() {
        let (c, warnings) = Config::from_toml(
            "[[listeners]]\naddress = \"127.0.0.1:6697\"\ntls = true\nproxy = true\n\
             [proxy]\ntrusted = [\"10.0.0.0/8\", \"::1\"]\nheader_timeout_secs = 3\n\
             [sts]\nenabled = true\nduration_secs = 60\nport = 443\npreload = true\n\
             [[webirc]]\nname = \"kiwi\"\npassword = \"hunter2\"\nhosts = [\"192.0.2.1\"]\n",
        )
        .expect("parses");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(c.listeners[0].proxy);
        assert!(c.proxy.trusts("10.1.2.3".parse().expect("ip")));
        assert!(!c.proxy.trusts("192.0.2.1".parse().expect("ip")));
        assert_eq!(c.sts.enabled, Some(true));
        assert_eq!(c.sts.port, Some(443));
        assert!(c.webirc[0].allows("192.0.2.1".parse().expect("ip")));
        // The password is not in the config's Debug (a log line of it).
        assert!(!format!("{c:?}").contains("hunter2"));

        for bad in [
            // A proxy listener with nobody trusted.
            "[[listeners]]\naddress = \"127.0.0.1:1\"\nproxy = true\n",
            "[proxy]\ntrusted = [\"10.0.0.0/33\"]\n",
            "[proxy]\nheader_timeout_secs = 0\n",
            "[proxy]\ntrustd = []\n",
            "[sts]\nport = 0\n",
            "[sts]\nduration = 5\n",
            "[[webirc]]\nname = \"k\"\nhosts = [\"::1\"]\n",
            "[[webirc]]\nname = \"k\"\npassword = \"\"\nhosts = [\"::1\"]\n",
            "[[webirc]]\nname = \"k\"\npassword = \"p\"\nhosts = []\n",
            "[[webirc]]\nname = \"k\"\npassword_hash = \"x\"\nhosts = [\"::1\"]\n",
            "[[webirc]]\nname = \"a b\"\npassword = \"p\"\nhosts = [\"::1\"]\n",
        ] {
            assert!(Config::from_toml(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_example_file_parses_without_warnings() {
        let text = include_str!("../charla.example.toml");
        let (_, warnings) = Config::from_toml(text).expect("example parses");
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
