//! [`PostgresStore`]: the store in a PostgreSQL database, which several server nodes can share.
//!
//! - Opening ([`PostgresStore::open`]) connects, and migrates the schema (the `schema_version`
//!   table) in one transaction; it refuses — without changing anything — a schema newer than
//!   this build, or a database whose encoding is not UTF-8. A server that cannot be reached is a
//!   [`StoreError::Postgres`], never a panic.
//! - Connections: one writer and [`READERS`] readers, each behind its own mutex (as
//!   [`crate::SqliteStore`] has one writer and one reader), over the blocking `postgres`
//!   client: the [`Store`] trait blocks and runs on its callers' threads, never on async
//!   workers. A fixed set of connections rather than a pool crate (r2d2): the same shape as
//!   SQLite's, nothing to tune, and no dependency more. Statements are prepared once per
//!   connection. A read of one statement runs on its own (it is its own snapshot); a read of
//!   several (a channel with its lists, history with its anchors) in one `REPEATABLE READ`
//!   transaction. Readers are read-only (`default_transaction_read_only`). A connection that the
//!   server closed or ended (a restart, `pg_terminate_backend`: its FATAL answer counts, even
//!   before the client sees the socket close) is opened again at its next
//!   use, and a read or a transaction that had not begun is tried again on it, so that a
//!   restart of PostgreSQL costs no failed call (a write that fails once begun is not retried:
//!   its commit may have landed). No TLS to the database yet: it is meant to be on the same host or a private network.
//! - Durability: a committed [`Store::apply`] is as durable as the server makes a commit
//!   (`synchronous_commit = on`, PostgreSQL's default: flushed to its WAL before the commit
//!   returns).
//! - Writes: one transaction per [`Store::apply`], with a savepoint around each write that may
//!   find its conflict halfway (as SQLite), so that a conflict undoes that write only.
//! - Order: `seq` comes from an identity column (a sequence). A sequence hands out numbers in
//!   the order transactions ask, not the order they commit; so every `apply` first takes a
//!   transaction-scoped advisory lock (`WRITE_LOCK`), held until its commit. Writers are then
//!   serialised — within this process (the writer's mutex) and across every node sharing the
//!   database — and `seq` is strictly increasing in commit order. Numbers of a rolled-back
//!   transaction are skipped, never reused.
//! - Search: each message's words (PRIVMSG and NOTICE texts), folded in Rust by the same
//!   function as [`crate::MemoryStore`] (lower case, Latin accents removed, split at anything
//!   that is not a letter or digit), are kept in a `text[]` column with a GIN index; a search
//!   asks for the rows whose words contain all of the query's (`@>`). This matches whole
//!   words without case or accents as SQLite's FTS5 `unicode61 remove_diacritics` does, needs
//!   no extension (`unaccent` would need contrib and a superuser to create it), and no text
//!   parser whose idea of a word (URLs, hyphenated words, e-mail addresses) differs from
//!   FTS5's.
//! - Deletion (redaction, retention) deletes the rows; PostgreSQL reclaims their space at its
//!   next vacuum (it has no `secure_delete`).
//! - PostgreSQL's text holds no NUL character: a write with one fails its whole `apply` (the
//!   server never builds such a key or text; SQLite would take it).
//! - [`Store::backup`] writes an SQLite file (what [`crate::SqliteStore::open`] accepts) from
//!   one `REPEATABLE READ` snapshot: a consistent copy while the store is in use.
//! - `migrations` (private): the schema; `read` and `write` (private): the queries behind
//!   reads, and one write applied with its outcome.

mod migrations;
mod read;
mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, Config, IsolationLevel, NoTls, Row, Statement, Transaction};

use crate::Store;
use crate::error::{Conflict, StoreError, postgres_detail};
use crate::history::{HistoryQuery, HistoryRecord, TargetRecord};
use crate::record::{AccountRecord, ChannelRecord, PresenceRecord, Write};
use crate::{FileRecord, Kinds, SearchQuery, SqliteStore};

/// How many reader connections a store keeps: reads go on in parallel with each other and
/// with a group commit.
pub const READERS: usize = 4;

/// The advisory lock every write transaction takes (see the [module documentation](self)):
/// "charla" in ASCII, so that it is recognisable in `pg_locks`.
const WRITE_LOCK: i64 = 0x6368_6172_6c61;

/// The store in a PostgreSQL database. See the [module documentation](self).
pub struct PostgresStore {
    config: Config,
    /// `user@host:port/database`, for messages: never the password.
    database: String,
    /// `None` only once dropped (see the `Drop` implementation).
    writer: Mutex<Option<Connection>>,
    readers: Vec<Mutex<Connection>>,
    /// Where the next read starts looking for a free reader.
    next_reader: AtomicUsize,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

/// A connection and the statements prepared on it.
struct Connection {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// What a read or a write can fail with before it becomes a [`StoreError`].
#[derive(Debug)]
pub(crate) enum Failure {
    /// PostgreSQL or the connection failed.
    Db(postgres::Error),
    /// A stored value is not what this schema writes.
    Invalid(String),
}

impl From<postgres::Error> for Failure {
    fn from(error: postgres::Error) -> Self {
        Failure::Db(error)
    }
}

/// Whether `error` means the connection is gone: closed, or ended by the server. A server
/// ending its connections (`pg_terminate_backend`, a shutdown) answers the next statement with
/// a FATAL error before it closes the socket, so the client may not know yet that it is closed.
fn ended(conn: &Connection, error: &postgres::Error) -> bool {
    conn.client.is_closed()
        || error.is_closed()
        || matches!(
            error.code(),
            Some(&SqlState::ADMIN_SHUTDOWN)
                | Some(&SqlState::CRASH_SHUTDOWN)
                | Some(&SqlState::CANNOT_CONNECT_NOW)
        )
}

/// A transaction on a [`Connection`] — or, for a read of one statement, none: a statement is
/// its own snapshot, and a transaction would cost two round trips more. Each statement text
/// is prepared once per connection.
pub(crate) struct Tx<'a> {
    tx: Session<'a>,
    statements: &'a mut HashMap<String, Statement>,
}

/// What a [`Tx`] runs its statements in.
enum Session<'a> {
    Transaction(Transaction<'a>),
    /// Each statement on its own (reader connections refuse writes all the same:
    /// `default_transaction_read_only`).
    Statement(&'a mut Client),
}

/// Runs `$body` with `$client` bound to the session's client, whichever it is.
macro_rules! on_session {
    ($session:expr, $client:ident => $body:expr) => {
        match $session {
            Session::Transaction($client) => $body,
            Session::Statement($client) => $body,
        }
    };
}

/// The parameters of a statement.
pub(crate) type Params<'p> = [&'p (dyn ToSql + Sync)];

impl Tx<'_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = on_session!(&mut self.tx, client => client.prepare(sql))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// Runs a statement; how many rows it changed.
    pub(crate) fn execute(&mut self, sql: &str, params: &Params<'_>) -> Result<u64, Failure> {
        let statement = self.statement(sql)?;
        Ok(on_session!(&mut self.tx, client => client.execute(&statement, params))?)
    }

    pub(crate) fn query(&mut self, sql: &str, params: &Params<'_>) -> Result<Vec<Row>, Failure> {
        let statement = self.statement(sql)?;
        Ok(on_session!(&mut self.tx, client => client.query(&statement, params))?)
    }

    pub(crate) fn query_opt(
        &mut self,
        sql: &str,
        params: &Params<'_>,
    ) -> Result<Option<Row>, Failure> {
        let statement = self.statement(sql)?;
        Ok(on_session!(&mut self.tx, client => client.query_opt(&statement, params))?)
    }

    pub(crate) fn query_one(&mut self, sql: &str, params: &Params<'_>) -> Result<Row, Failure> {
        let statement = self.statement(sql)?;
        Ok(on_session!(&mut self.tx, client => client.query_one(&statement, params))?)
    }

    /// Runs statements without parameters (savepoints, migrations).
    pub(crate) fn batch(&mut self, sql: &str) -> Result<(), Failure> {
        Ok(on_session!(&mut self.tx, client => client.batch_execute(sql))?)
    }

    fn commit(self) -> Result<(), Failure> {
        match self.tx {
            Session::Transaction(tx) => Ok(tx.commit()?),
            Session::Statement(_) => Ok(()),
        }
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgresql://user:password@host:port/database`, or
    /// the `key=value` form), and migrates it to the newest schema.
    ///
    /// Fails with [`StoreError::Postgres`] when the URL is not one or the server cannot be
    /// reached or refuses the log-in, [`StoreError::NewerSchema`] for a database written by a
    /// newer Charla (left as it was), and [`StoreError::Corrupt`] for a database that is not
    /// UTF-8.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let config = Config::from_str(url).map_err(|e| StoreError::Postgres {
            action: "the [store] url is not a PostgreSQL URL",
            // The URL may hold a password: it is not repeated.
            database: "(not shown)".to_owned(),
            detail: postgres_detail(&e),
            source: Arc::new(e),
        })?;
        let database = describe(&config);
        let mut writer = connect(&config, &database, Role::Writer)?;
        let encoding = writer
            .client
            .query_one("SHOW server_encoding", &[])
            .and_then(|row| row.try_get::<_, String>(0))
            .map_err(|e| classify(&database, Failure::Db(e)))?;
        if encoding != "UTF8" {
            return Err(StoreError::Corrupt(format!(
                "the PostgreSQL database {database} has encoding {encoding}, but Charla needs \
                 UTF8: create the database with ENCODING 'UTF8' (it was left untouched)"
            )));
        }
        migrations::migrate(&mut writer, &database)?;
        let readers = (0..READERS)
            .map(|_| connect(&config, &database, Role::Reader).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PostgresStore {
            config,
            database,
            writer: Mutex::new(Some(writer)),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    /// The database as `user@host:port/database` (no password), as messages name it.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Makes sure a connection is open: one the server closed (a restart, an administrator)
    /// is replaced, with its prepared statements.
    fn ready(&self, conn: &mut Connection, role: Role) -> Result<(), StoreError> {
        if conn.client.is_closed() {
            self.reopen(conn, role)?;
        }
        Ok(())
    }

    /// Replaces a connection that [`ended`] said is gone, even if the client has not yet
    /// noticed the socket's end.
    fn reopen(&self, conn: &mut Connection, role: Role) -> Result<(), StoreError> {
        *conn = connect(&self.config, &self.database, role)?;
        Ok(())
    }

    /// Runs `read`, one statement, on a reader connection.
    fn read<T>(&self, read: impl Fn(&mut Tx<'_>) -> Result<T, Failure>) -> Result<T, StoreError> {
        self.read_as(Reading::Statement, read)
    }

    /// Runs `read` in one read-only `REPEATABLE READ` transaction of a reader connection, so
    /// that a record made of several rows (or an answer of several queries) comes from one
    /// snapshot.
    fn read_snapshot<T>(
        &self,
        read: impl Fn(&mut Tx<'_>) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        self.read_as(Reading::Snapshot, read)
    }

    /// A connection the server closed since its last use (a restart) is found closed only
    /// when used: a read changes nothing, so it is tried once more on a new connection.
    fn read_as<T>(
        &self,
        reading: Reading,
        read: impl Fn(&mut Tx<'_>) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let mut guard = self.reader();
        let conn = &mut *guard;
        self.ready(conn, Role::Reader)?;
        let result = match read_once(conn, reading, &read) {
            Err(Failure::Db(error)) if ended(conn, &error) => {
                self.reopen(conn, Role::Reader)?;
                read_once(conn, reading, &read)
            }
            result => result,
        };
        result.map_err(|e| classify(&self.database, e))
    }

    /// A free reader if there is one, else the next in turn.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for i in 0..self.readers.len() {
            if let Ok(guard) = self.readers[(start + i) % self.readers.len()].try_lock() {
                return guard;
            }
        }
        lock(&self.readers[start % self.readers.len()])
    }
}

impl Drop for PostgresStore {
    /// The blocking client closes a connection with a `block_on` of its own runtime, which
    /// panics on a thread that drives async tasks: dropped there (a server's error path), the
    /// connections close on a thread of their own.
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let writer = self
            .writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let readers = std::mem::take(&mut self.readers);
        let _ = std::thread::Builder::new()
            .name("charla-postgres-close".to_owned())
            .spawn(move || drop((writer, readers)));
    }
}

/// Locks a connection. A panic in another call cannot have left a transaction open (a
/// `Transaction` rolls back when dropped while unwinding), so a poisoned connection is sound.
fn lock<T>(connection: &Mutex<T>) -> MutexGuard<'_, T> {
    connection.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Writer,
    /// Never writes; saying so to the server turns a mistake into an error, not a write.
    Reader,
}

/// How a read runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// One statement on its own (its own snapshot).
    Statement,
    /// Several statements in one `REPEATABLE READ` transaction.
    Snapshot,
}

fn connect(config: &Config, database: &str, role: Role) -> Result<Connection, StoreError> {
    let failed = |e: postgres::Error| StoreError::Postgres {
        action: "cannot connect to the PostgreSQL database",
        database: database.to_owned(),
        detail: postgres_detail(&e),
        source: Arc::new(e),
    };
    let mut client = config.connect(NoTls).map_err(failed)?;
    if role == Role::Reader {
        client
            .batch_execute("SET default_transaction_read_only = on")
            .map_err(failed)?;
    }
    Ok(Connection {
        client,
        statements: HashMap::new(),
    })
}

/// `user@host:port/database`: what the messages name, never the password.
fn describe(config: &Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("");
    let dbname = config.get_dbname().unwrap_or(user);
    format!("{user}@{host}:{port}/{dbname}")
}

/// Turns a failure into the [`StoreError`] an operator can act on, naming the database.
pub(crate) fn classify(database: &str, failure: Failure) -> StoreError {
    match failure {
        Failure::Invalid(what) => StoreError::Corrupt(format!(
            "the PostgreSQL database {database} holds a value Charla never writes ({what}); it \
             was left untouched: restore it from a backup"
        )),
        Failure::Db(error) => {
            let code = error.code();
            if code == Some(&SqlState::DISK_FULL) || code == Some(&SqlState::OUT_OF_MEMORY) {
                StoreError::Full(format!(
                    "the PostgreSQL server of {database} is out of space ({}): nothing of the \
                     failed writes was kept; free some space on it",
                    postgres_detail(&error)
                ))
            } else if code == Some(&SqlState::READ_ONLY_SQL_TRANSACTION) {
                StoreError::ReadOnly(format!(
                    "the PostgreSQL database {database} cannot be written ({}): point Charla \
                     at the primary server, not a standby",
                    postgres_detail(&error)
                ))
            } else {
                StoreError::Postgres {
                    action: "database error on",
                    database: database.to_owned(),
                    detail: postgres_detail(&error),
                    source: Arc::new(error),
                }
            }
        }
    }
}

impl Store for PostgresStore {
    fn account(&self, key: &str) -> Result<Option<AccountRecord>, StoreError> {
        self.read(|tx| read::account(tx, key))
    }

    fn account_by_cert(&self, fingerprint: &str) -> Result<Option<AccountRecord>, StoreError> {
        self.read(|tx| read::account_by_cert(tx, fingerprint))
    }

    fn certs(&self, account: &str) -> Result<Vec<String>, StoreError> {
        self.read(|tx| {
            read::strings(
                tx,
                "SELECT fingerprint FROM certs WHERE account = $1 ORDER BY fingerprint",
                account,
            )
        })
    }

    fn account_count(&self) -> Result<u64, StoreError> {
        self.read(|tx| read::count(tx, "SELECT count(*) FROM accounts"))
    }

    fn presences(&self) -> Result<Vec<PresenceRecord>, StoreError> {
        self.read(read::presences)
    }

    fn presence(&self, account: &str) -> Result<Option<PresenceRecord>, StoreError> {
        self.read(|tx| read::presence(tx, account))
    }

    fn channel(&self, key: &str) -> Result<Option<ChannelRecord>, StoreError> {
        self.read_snapshot(|tx| read::channel(tx, key))
    }

    fn channels(&self) -> Result<Vec<ChannelRecord>, StoreError> {
        self.read_snapshot(read::channels)
    }

    fn channels_of(&self, founder: &str) -> Result<Vec<String>, StoreError> {
        self.read(|tx| {
            read::strings(
                tx,
                "SELECT key FROM channels WHERE founder = $1 ORDER BY key",
                founder,
            )
        })
    }

    fn history_of(
        &self,
        target: &str,
        query: &HistoryQuery,
        limit: usize,
        kinds: Kinds,
    ) -> Result<Option<Vec<HistoryRecord>>, StoreError> {
        self.read_snapshot(|tx| read::history(tx, target, query, limit, kinds))
    }

    fn history_targets(
        &self,
        owner: &str,
        channels: &[String],
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<TargetRecord>, StoreError> {
        let bounds = (from_ms.min(to_ms), from_ms.max(to_ms));
        self.read_snapshot(|tx| read::history_targets(tx, owner, channels, bounds, limit))
    }

    fn read_marker(&self, account: &str, target: &str) -> Result<Option<i64>, StoreError> {
        self.read(|tx| {
            tx.query_opt(
                "SELECT time_ms FROM read_markers WHERE account = $1 AND target = $2",
                &[&account, &target],
            )?
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(Failure::Db)
        })
    }

    fn history_count(&self) -> Result<u64, StoreError> {
        self.read(|tx| read::count(tx, "SELECT count(*) FROM history"))
    }

    fn metadata(&self, target: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.read(|tx| {
            tx.query(
                "SELECT key, value FROM metadata WHERE target = $1 ORDER BY key",
                &[&target],
            )?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
        })
    }

    fn search(
        &self,
        owner: &str,
        targets: &[String],
        query: &SearchQuery,
    ) -> Result<Vec<HistoryRecord>, StoreError> {
        self.read(|tx| read::search(tx, owner, targets, query))
    }

    fn file(&self, id: &str) -> Result<Option<FileRecord>, StoreError> {
        self.read(|tx| read::file(tx, id))
    }

    fn files_of(&self, owner: &str) -> Result<Vec<FileRecord>, StoreError> {
        self.read(|tx| read::files_of(tx, owner))
    }

    fn files_size(&self, owner: &str) -> Result<u64, StoreError> {
        self.read(|tx| read::files_size(tx, owner))
    }

    fn files_before(&self, before_ms: i64, limit: usize) -> Result<Vec<FileRecord>, StoreError> {
        self.read(|tx| read::files_before(tx, before_ms, limit))
    }

    fn file_hash_used(&self, sha256: &str) -> Result<bool, StoreError> {
        self.read(|tx| {
            Ok(tx
                .query_opt("SELECT 1 FROM files WHERE sha256 = $1 LIMIT 1", &[&sha256])?
                .is_some())
        })
    }

    fn apply(&self, writes: &[Write]) -> Result<Vec<Result<(), Conflict>>, StoreError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let mut guard = lock(&self.writer);
        let conn = guard.as_mut().ok_or(StoreError::Closed)?;
        self.ready(conn, Role::Writer)?;
        let result = match apply_once(conn, writes) {
            // The connection was closed since its last use (the server restarted) and nothing
            // was sent: begin again on a new one. A failure once begun is not retried: the
            // commit may have landed.
            Attempt::NotBegun(error) if ended(conn, &error) => {
                self.reopen(conn, Role::Writer)?;
                apply_once(conn, writes).into_result()
            }
            attempt => attempt.into_result(),
        };
        result.map_err(|e| classify(&self.database, e))
    }

    fn backup(&self, dest: &Path) -> Result<(), StoreError> {
        crate::sqlite::write_new_file(dest, |partial| {
            // A connection of its own, so that reads and writes go on during the copy.
            let mut conn = connect(&self.config, &self.database, Role::Reader)?;
            let copy = SqliteStore::open(partial)?;
            let result: Result<(), CopyFailure> = (|| {
                let tx = conn
                    .client
                    .build_transaction()
                    .isolation_level(IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()?;
                let mut tx = Tx {
                    tx: Session::Transaction(tx),
                    statements: &mut conn.statements,
                };
                read::copy_all(&mut tx, &mut |writes| apply_copy(&copy, partial, writes))?;
                tx.commit()?;
                Ok(())
            })();
            match result {
                Ok(()) => {}
                Err(CopyFailure::Source(e)) => return Err(classify(&self.database, e)),
                Err(CopyFailure::Copy(e)) => return Err(e),
            }
            // Closing the copy writes its WAL into the file before it is synced and named.
            drop(copy);
            Ok(())
        })
    }
}

/// One try at a transaction: whether it could begin at all.
enum Attempt<T> {
    /// `BEGIN` failed: nothing of the transaction reached the server.
    NotBegun(postgres::Error),
    /// It began; this is how it ended.
    Begun(Result<T, Failure>),
}

impl<T> Attempt<T> {
    fn into_result(self) -> Result<T, Failure> {
        match self {
            Attempt::NotBegun(error) => Err(Failure::Db(error)),
            Attempt::Begun(result) => result,
        }
    }
}

/// Applies `writes` in one transaction of `conn` (see [`Store::apply`]).
fn apply_once(conn: &mut Connection, writes: &[Write]) -> Attempt<Vec<Result<(), Conflict>>> {
    let tx = match conn.client.transaction() {
        Ok(tx) => tx,
        Err(error) => return Attempt::NotBegun(error),
    };
    let mut tx = Tx {
        tx: Session::Transaction(tx),
        statements: &mut conn.statements,
    };
    Attempt::Begun((|| {
        // Held until the commit: `seq` follows commit order (see the module documentation).
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
        let mut outcomes = Vec::with_capacity(writes.len());
        for write in writes {
            if !write::needs_savepoint(write) {
                outcomes.push(write::apply_one(&mut tx, write)?);
                continue;
            }
            // A savepoint per write, so a conflict found halfway undoes only this write.
            tx.batch("SAVEPOINT charla_write")?;
            let outcome = write::apply_one(&mut tx, write)?;
            if outcome.is_ok() {
                tx.batch("RELEASE SAVEPOINT charla_write")?;
            } else {
                tx.batch("ROLLBACK TO SAVEPOINT charla_write; RELEASE SAVEPOINT charla_write")?;
            }
            outcomes.push(outcome);
        }
        tx.commit()?;
        Ok(outcomes)
    })())
}

/// Runs `read` on `conn` as `reading` says.
fn read_once<T>(
    conn: &mut Connection,
    reading: Reading,
    read: &impl Fn(&mut Tx<'_>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let session = match reading {
        Reading::Statement => Session::Statement(&mut conn.client),
        Reading::Snapshot => Session::Transaction(
            conn.client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?,
        ),
    };
    let mut tx = Tx {
        tx: session,
        statements: &mut conn.statements,
    };
    let value = read(&mut tx)?;
    tx.commit()?;
    Ok(value)
}

/// What a backup can fail with: reading the source, or writing the copy.
pub(crate) enum CopyFailure {
    Source(Failure),
    Copy(StoreError),
}

impl From<Failure> for CopyFailure {
    fn from(failure: Failure) -> Self {
        CopyFailure::Source(failure)
    }
}

impl From<postgres::Error> for CopyFailure {
    fn from(error: postgres::Error) -> Self {
        CopyFailure::Source(Failure::Db(error))
    }
}

/// Applies a batch of the backup's writes to the copy; each must apply.
fn apply_copy(copy: &SqliteStore, path: &Path, writes: &[Write]) -> Result<(), CopyFailure> {
    let outcomes = copy.apply(writes).map_err(CopyFailure::Copy)?;
    if let Some((write, conflict)) = writes
        .iter()
        .zip(&outcomes)
        .find_map(|(write, outcome)| outcome.err().map(|c| (write, c)))
    {
        return Err(CopyFailure::Copy(StoreError::Corrupt(format!(
            "the backup {} could not take a record ({conflict}: {write:?}); the PostgreSQL \
             database holds data its schema should have refused",
            PathBuf::from(path).display()
        ))));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDatabase;

    /// Reader connections never write, even outside a transaction.
    #[test]
    fn readers_refuse_writes() {
        let Some(database) = TestDatabase::create() else {
            return;
        };
        let store = PostgresStore::open(database.url()).expect("open");
        for reader in &store.readers {
            let error = lock(reader)
                .client
                .batch_execute("DELETE FROM accounts")
                .expect_err("a reader wrote");
            assert_eq!(error.code(), Some(&SqlState::READ_ONLY_SQL_TRANSACTION));
        }
    }

    /// Every history query can run on an index of the target (with sequential scans off, the
    /// planner still finds none but an index), and where the index gives the scan's own order,
    /// it needs no sort.
    #[test]
    fn history_queries_use_indexes() {
        let Some(database) = TestDatabase::create() else {
            return;
        };
        let store = PostgresStore::open(database.url()).expect("open");
        let mut guard = lock(&store.readers[0]);
        let client = &mut guard.client;
        client
            .batch_execute("SET enable_seqscan = off")
            .expect("set");
        let mut explain = |sql: &str, params: &[&(dyn ToSql + Sync)]| -> String {
            client
                .query(&format!("EXPLAIN {sql}"), params)
                .expect(sql)
                .iter()
                .map(|row| row.get::<_, String>(0))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let queries = crate::history::every_query_planned();
        let mut seen = 0;
        for (query, scans) in &queries {
            for kinds in [Kinds::All, Kinds::Messages] {
                for scan in scans {
                    let mut scan = scan.clone();
                    scan.kinds = kinds;
                    let sql = read::scan_sql(&scan);
                    let values: Vec<i64> = scan.conditions.iter().map(|c| c.value).collect();
                    let limit = 10i64;
                    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&"#c"];
                    params.extend(values.iter().map(|v| v as &(dyn ToSql + Sync)));
                    params.push(&limit);
                    let plan = explain(&sql, &params);
                    assert!(plan.contains("Index"), "{query:?}: {sql}: {plan}");
                    assert!(!plan.contains("Seq Scan"), "{query:?}: {sql}: {plan}");
                    if scan.conditions.iter().all(|c| c.column == scan.key) {
                        assert!(!plan.contains("Sort"), "{query:?}: {sql}: {plan}");
                    }
                    seen += 1;
                }
            }
        }
        assert!(seen >= queries.len());
        for (sql, params) in [
            (
                "SELECT seq, time_ms FROM history WHERE msgid = $1 AND target = $2",
                &[&"m" as &(dyn ToSql + Sync), &"#c"][..],
            ),
            (
                "SELECT max(time_ms) FROM history WHERE target = $1",
                &[&"#c"],
            ),
            (
                "SELECT time_ms FROM read_markers WHERE account = $1 AND target = $2",
                &[&"a", &"#c"],
            ),
            (
                "SELECT key FROM channels WHERE founder = $1 ORDER BY key",
                &[&"a"],
            ),
        ] {
            let plan = explain(sql, params);
            assert!(!plan.contains("Seq Scan"), "{sql}: {plan}");
        }
    }
}
