//! The Charla IRC server.
