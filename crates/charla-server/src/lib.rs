//! The Charla IRC server as a library: [`Server::start`] returns a [`ServerHandle`], the
//! operator API used by the headless binary `charla-server` and by the app's "Host a server".
//!
//! A line's path: [`listener`] accepts (a slot under `max_clients` or `ERROR :Server is full`, then per-IP limits) →
//! [`connection`] reads capped lines ([`framing`]), applies flood control ([`flood`]) and hands
//! each line to [`command`], whose table (`command/table.rs`) says what each command needs and
//! which handler (one file per verb) runs it → the handler changes the shared [`state`]
//! ([`client`], [`channel`]) and says what goes to whom → [`deliver`], the one way out, encodes
//! it once ([`outbound::Outgoing`]) into each recipient's [`sendq`] → each connection's writer
//! coalesces its queue into few writes.
//!
//! - [`account`]: identity: passwords and their hashing pool, SASL, accounts on the store
//!   (`charla-store`), NickServ and ChanServ, nick protection, the brakes on password guessing.
//! - [`config`]: the TOML configuration with defaults.
//! - [`server`]: `Server`, `ServerHandle`, shutdown.
//! - [`event`]: the live event stream and user snapshots.
//! - [`tls`]: the certificate (configured, or generated and kept), the TLS handshake.
//! - [`http`]: the HTTP(S) listener: `/healthz`, `/readyz`, `/metrics` ([`http::metrics`]),
//!   IRC over WebSocket ([`http::websocket`]) and the file host ([`http::files`]).
//! - [`proxy`]: the PROXY protocol header of listeners behind a load balancer; [`cidr`]: the
//!   address ranges of trusted proxies and WEBIRC gateways.
//! - [`sts`]: the Strict Transport Security policy (`sts` capability).
//! - [`caps`]: IRCv3 capabilities offered.
//! - [`isupport`]: RPL_ISUPPORT tokens.
//! - [`logtext`]: user text in log lines, escaped.
//! - [`mask`]: ban-mask wildcard matching.
//! - `name_index`: the nick and channel maps by case-fold, with their look-alike keys.
//! - [`session`]: what a command handler sees of its connection.
//! - [`writer`]: the per-connection writer (coalesced writes, copied into one buffer);
//!   [`pressure`]: how busy the runtime's workers are, which lengthens the coalescing.
//! - [`timefmt`], [`tracker`]: small helpers (time stamps, live task count).

//!
//! Running a server in process (the app's "Host a server"):
//!
//! ```
//! use charla_server::{Config, Server, ServerEvent};
//!
//! # async fn host() -> Result<(), Box<dyn std::error::Error>> {
//! let handle = Server::start(Config::with_listener("127.0.0.1:0".parse()?)).await?;
//! println!("listening on {:?}", handle.local_addrs());
//! let mut events = handle.subscribe();
//! if let Ok(ServerEvent::Registered { nick, .. }) = events.recv().await {
//!     handle.message_user(&nick, "¡Bienvenido!")?;
//! }
//! for user in handle.users() {
//!     println!("{} from {} in {:?}", user.nick, user.addr, user.channels);
//! }
//! handle.notice_all("Cerramos en 5 minutos")?;
//! handle.shutdown().await;
//! # Ok(())
//! # }
//! ```

pub mod account;
pub mod caps;
pub mod channel;
pub mod cidr;
pub mod client;
pub mod cluster;
pub mod command;
pub mod config;
pub mod connection;
pub mod deliver;
pub mod devices;
pub mod event;
pub mod flood;
pub mod framing;
pub mod history;
pub mod http;
pub mod isupport;
pub mod listener;
pub mod logtext;
pub mod mask;
pub mod monitor;
pub mod msgid;
mod name_index;
pub mod outbound;
pub mod pressure;
pub mod proxy;
pub mod sendq;
pub mod server;
pub mod session;
pub mod state;
pub mod sts;
pub mod timefmt;
pub mod tls;
pub mod tracker;
pub mod writer;

pub use client::ConnectionId;
pub use config::{
    Config, ConfigError, FloodConfig, Limits, ListenerConfig, LogConfig, OperConfig, WebircConfig,
};
pub use event::{MessageKind, ServerEvent, UserInfo};
pub use server::{HandleError, Server, ServerHandle, StartError};
pub use tls::{TlsConfig, TlsError};
