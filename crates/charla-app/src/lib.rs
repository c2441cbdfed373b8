//! The Charla desktop app, as a library so tests can drive the real UI (egui_kittest).
//!
//! - [`config`]: saved servers and settings (TOML in the user's config directory).
//! - [`theme`]: nick colours and accent colours.
//! - [`links`]: finding clickable links in message text.
//! - [`input`]: the input line's history and Tab completion.

pub mod config;
pub mod input;
pub mod links;
pub mod theme;
