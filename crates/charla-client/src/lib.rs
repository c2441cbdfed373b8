//! The Charla client core: everything a chat window needs to talk IRC, and no GUI.
//!
//! The app sends [`Command`]s through a [`ClientHandle`] and drains [`Event`]s; it keeps a
//! [`State`] and feeds it every event with [`State::apply`], then renders from it. All protocol
//! logic lives in this crate, so the app holds none.
//!
//! - [`config`]: [`ServerConfig`], what the user saves for a server (serde).
//! - [`client`]: [`Client::connect`] spawns one task per server: connect (TCP or TLS), CAP 302,
//!   SASL (SCRAM-SHA-256, PLAIN or EXTERNAL with a client certificate), registration, PING, reconnect with back-off, rejoin.
//! - [`command`]: [`Command`], what the app asks for.
//! - [`event`]: [`Event`], what the connection reports.
//! - [`state`]: [`State`], the buffers (server, channels, queries), their lines, members, unread
//!   and mention counts, built from events by a pure reducer.
//!
//! History (`draft/chathistory`, `draft/read-marker`, with `batch`, `server-time` and
//! `message-tags`): joining a channel or opening a private conversation loads its latest lines,
//! reconnecting with an account brings back the private conversations of the last 30 days
//! (`CHATHISTORY TARGETS`), [`Command::LoadOlder`] scrolls back and [`Command::MarkRead`] sets the
//! account's read marker. Answers come as [`Event::HistoryLoaded`], apart from live lines; the
//! state merges them by time, each line once, and counts unread lines from
//! [`Buffer::read_marker`].
//!
//! Search (`soju.im/search`): [`Command::Search`] asks the server for the lines holding some
//! words, in one conversation or everywhere; the answer comes as [`Event::SearchResults`]
//! ([`SearchLine`]s), kept apart from the buffers. See [`search`].
//! - [`input`]: parsing what the user typed (`/join`, `/me`, plain text...) into a [`Command`].
//! - [`trust`]: [`TrustStore`], certificate pins (trust on first use) and the TLS verifier.
//! - [`account`]: [`LoginError`] and [`RegistrationReply`]: logging in and creating an account,
//!   in words.
//! - [`backoff`]: exponential back-off with jitter for reconnects.
//! - [`words`]: server errors (numerics, FAIL) in words.
//! - [`connection`]: the transport (TCP or TLS) and the line codec.
//!
//! ```no_run
//! use charla_client::{BufferId, Client, Command, ServerConfig, State, TrustStore};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = ServerConfig::new("irc.example.org", 6697, "Ñandú");
//! config.tls = true;
//! let trust = TrustStore::load("/home/ana/.config/charla/pins.toml")?;
//! let (handle, mut events) = Client::connect(config, trust);
//! let mut state = State::new("Ñandú");
//! handle.send(Command::Input { buffer: BufferId::Server, text: "/join #charla".into() })?;
//! // In a GUI: drain with `try_recv` each frame and render from `state`.
//! while let Some(event) = events.recv().await {
//!     if let Some(notification) = state.apply(&event) {
//!         println!("{notification:?}");
//!     }
//! }
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod account;
pub mod backoff;
pub mod client;
pub mod command;
pub mod config;
pub mod connection;
pub mod event;
pub mod input;
pub mod search;
pub mod state;
pub mod trust;
pub mod words;

pub use account::{LoginError, RegistrationReply};
pub use client::{Client, ClientHandle, ClientOptions, NoRuntime, SendError};
pub use command::{Command, TypingState};
pub use config::{ClientCertificate, ConfigError, SaslConfig, SaslMechanism, ServerConfig};
pub use event::Event;
pub use search::{SearchLine, SearchQuery};
pub use state::{
    Buffer, BufferId, ConnectionStatus, Line, LineKind, Member, Notification, Profile,
    QUICK_REACTIONS, Reaction, Reactions, Role, State,
};
pub use trust::{CertificateIssue, Fingerprint, TrustError, TrustStore};
