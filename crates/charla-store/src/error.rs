//! What can go wrong in a store.
//!
//! - [`StoreError`]: the store itself failed (damaged file, read-only disk, I/O, SQLite,
//!   PostgreSQL). A call
//!   that returns it changed nothing. Every message names the file and says what an operator can
//!   do, because these reach the server's log and its operator console.
//! - [`Conflict`]: one write of a batch could not be applied to the data as it is (the key is
//!   taken, the thing is gone). It is an answer, not a failure: the other writes still commit.
//!
//! `StoreError` is `Clone` (its non-`Clone` sources sit behind `Arc`) so that the writer thread of
//! [`crate::StoreHandle`] can hand one failed group commit to every write that was in it.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// The store failed; the call that returned this changed nothing.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database file is damaged, or is not a database, or holds tables that are not
    /// Charla's. The file was left as it was; nothing is ever recreated over it.
    #[error("{0}")]
    Corrupt(String),
    /// The database file or its directory cannot be written by this process (permissions, a
    /// read-only file system).
    #[error("{0}")]
    ReadOnly(String),
    /// The database was written by a newer Charla (its schema version is higher than this build
    /// knows). It was not touched.
    #[error(
        "the database {} has schema version {found}, but this build of Charla knows versions up \
         to {known}: it was written by a newer Charla; run that version, or restore a backup made \
         by this one (the database was not touched)",
        path.display()
    )]
    NewerSchema {
        /// The database file (for PostgreSQL: `user@host:port/database`, never the password).
        path: PathBuf,
        /// The version found in the database (SQLite: `PRAGMA user_version`; PostgreSQL: the
        /// `schema_version` table).
        found: i64,
        /// The highest version this build can migrate to.
        known: i64,
    },
    /// The disk (or the quota) is full; nothing of the failed call was written.
    #[error("{0}")]
    Full(String),
    /// A file-system operation around the database failed (creating its directory, writing a
    /// backup).
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What the store was doing, as words ("cannot create the directory").
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: Arc<io::Error>,
    },
    /// SQLite reported an error not covered by a more specific variant.
    #[error("database error on {}: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: Arc<rusqlite::Error>,
    },
    /// PostgreSQL (or the connection to it) reported an error not covered by a more specific
    /// variant.
    #[error("{action} {database}: {detail}")]
    Postgres {
        /// What the store was doing, as words ("cannot connect to the PostgreSQL database").
        action: &'static str,
        /// The database as `user@host:port/database` (never the password).
        database: String,
        /// The error as PostgreSQL words it (its message, detail and hint, or the connection's
        /// error): the client's own `Display` says only "db error".
        detail: String,
        /// The client's error.
        #[source]
        source: Arc<postgres::Error>,
    },
    /// The threads of a [`crate::StoreHandle`] could not be started.
    #[error("cannot start the store's threads: {0}")]
    Spawn(#[source] Arc<io::Error>),
    /// The write queue of a [`crate::StoreHandle`] is full, so a write queued without waiting
    /// ([`crate::StoreHandle::append`]) was not queued: the store is far behind the server.
    #[error(
        "the store cannot keep up: its queue of {0} writes is full, so this write was not carried \
         out; check the load and the speed of the disk holding the database"
    )]
    Busy(usize),
    /// The threads of a [`crate::StoreHandle`] have stopped (a store call panicked), so the call
    /// was not carried out.
    #[error("the store's threads have stopped; the request was not carried out")]
    Closed,
}

impl StoreError {
    /// Wraps an I/O error with what was being done and to which path.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StoreError::Io {
            action,
            path: path.into(),
            source: Arc::new(source),
        }
    }
}

/// A PostgreSQL client error in full: the server's message with its detail and hint, or
/// the error with its causes (a refused connection's "Connection refused").
pub(crate) fn postgres_detail(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
        return text;
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(&format!(": {cause_text}"));
        }
        source = cause.source();
    }
    text
}

/// Why one write of a batch was not applied. The other writes of the batch are unaffected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Conflict {
    /// The key the write would create is already taken (an account, a channel, a certificate
    /// fingerprint).
    #[error("it already exists")]
    Exists,
    /// Something the write refers to does not exist (the account, the channel, the certificate,
    /// the access entry).
    #[error("it does not exist")]
    NotFound,
}
