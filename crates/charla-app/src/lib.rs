//! The Charla desktop app, as a library so tests can drive the real UI (egui_kittest).
//!
//! The app holds no protocol logic: charla-client connects, negotiates, keeps the state of
//! buffers and members and parses what the user types; charla-server is the embedded server
//! of "Host a server". This crate draws them and passes the user's wishes on.
//!
//! - [`app`]: [`CharlaApp`], the window: top bar, chat tab, host tab, certificate prompt.
//! - [`certificate`]: the trust-on-first-use prompt and the changed-certificate refusal.
//! - [`session`]: one connection: the client handle, its state, per-buffer view state.
//! - [`connect`]: the connect screen with saved servers, logging in and creating an account.
//! - [`account`]: "Create an account" while connected.
//! - [`secrets`]: account passwords in the system keyring, never in the settings file.
//! - [`buffers`]: the side list of servers and buffers with unread/mention counts.
//! - [`chat`]: a buffer's lines (one line: `chat/line.rs`) and the input line.
//! - [`reactions`]: replies (quoted above the input, shown as replies) and reactions (chips).
//! - [`history`]: the separator at the read marker, the scroll anchor while older lines load,
//!   and telling the server what was read.
//! - [`nicklist`]: a channel's members.
//! - [`search`]: the search box (Ctrl+F) and its results beside the chat.
//! - [`switcher`]: the quick switcher (Ctrl+K) across every connection's buffers.
//! - [`host`]: the operator console over an embedded charla-server.
//! - [`cli`]: the command line (`irc://` links, `--host`).
//! - [`input`]: input history and Tab completion.
//! - [`compose`]: the formatting shortcuts (Ctrl+B, Ctrl+Shift+K…) and codes shown in the input line.
//! - [`links`]: clickable links in text.
//! - [`previews`]: pictures and file chips under lines that link to them.
//! - [`upload`]: sending files (📎, drag and drop, pasted images) to the server's file host.
//! - [`styled`]: IRC formatting (bold, colours…) drawn as styled text.
//! - [`notify`]: desktop notifications.
//! - [`trouble`]: connection problems in plain words, with what to try.
//! - [`config`]: saved servers and settings on disk.
//! - [`theme`]: colours (nick colours by a stable hash).
//! - [`emoji`]: emoji in colour, from the system's colour emoji font.

pub mod account;
pub mod app;
pub mod avatars;
pub mod buffers;
pub mod certificate;
pub mod chat;
pub mod cli;
pub mod compose;
pub mod config;
pub mod connect;
pub mod emoji;
pub mod history;
pub mod host;
pub mod input;
pub mod links;
pub mod nicklist;
pub mod notify;
pub mod previews;
pub mod reactions;
pub mod search;
pub mod secrets;
pub mod session;
pub mod styled;
pub mod switcher;
pub mod theme;
pub mod trouble;
pub mod upload;

pub use app::{AppOptions, CharlaApp, Tab};
