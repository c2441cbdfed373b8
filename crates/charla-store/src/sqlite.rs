//! [`SqliteStore`]: the embedded default store, one SQLite database file in WAL mode.
//!
//! - Opening ([`SqliteStore::open`]) creates the file and its directory on first start, and
//!   refuses — without changing anything — a file that is damaged or not a database, a schema
//!   newer than this build, or a file or directory it cannot write.
//! - Durability: WAL with `synchronous=FULL` by default, so a committed [`Store::apply`]
//!   survives a power cut, not only a crash of the process; [`Synchronous::Normal`] survives a
//!   crash of the process (`kill -9`) but may lose the last commits to a power cut or a crash
//!   of the machine, for a third less of the writer's time and no fsync wait per commit.
//! - Search: messages are indexed (FTS5) in batches, at most a second or 4,096 messages behind,
//!   and before every search, so a search still finds every committed message.
//! - Deletion is for real (`secure_delete`): a redacted or pruned entry's bytes are zeroed in
//!   the file, and a redaction checkpoints and empties the WAL, where older copies of the
//!   page would otherwise stay until the next checkpoint. The contentless search index never held the text, only its words, which FTS5
//!   drops from its segments as it merges them.
//! - Two connections: one writes, one reads, each behind its own mutex, so reads go on while a
//!   group commit is being written (WAL gives the reader its own snapshot). Statements are
//!   cached per connection (`prepare_cached`).
//! - `migrations` (private): the schema, versioned by `PRAGMA user_version`; `read` and
//!   `write` (private): the queries behind reads, and one write applied with its outcome.

mod checkpoint;
mod migrations;
mod read;
mod write;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::Store;
use crate::error::{Conflict, StoreError};
use crate::history::{HistoryQuery, HistoryRecord, TargetRecord};
use crate::record::{AccountRecord, ChannelRecord, PresenceRecord, Write};
use crate::{FileRecord, Kinds, SearchQuery};
use checkpoint::Checkpointer;
use read::{
    read_account, read_account_by_cert, read_channel, read_channels, read_file, read_files_before,
    read_files_of, read_files_size, read_history, read_history_targets, read_strings,
};
use write::{apply_one, needs_savepoint};

/// How long a connection waits for a lock held by another connection before failing. Long
/// enough to ride out a checkpoint or a backup, short enough to surface a stuck process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The writer's page cache, in KiB (SQLite's default: 2,000). Appends to many conversations
/// touch the last pages of each one's index entries and of the search index: once those are
/// more than the cache holds, every commit reads pages back from the OS and spills dirty ones
/// to the WAL halfway through. 2 million appends to 1,000 channels: 27 µs of the writer's CPU
/// each with the default, 15 µs with this (`cargo bench -p charla-store --bench append`).
const WRITER_CACHE_KIB: i64 = 64 * 1024;

/// The size a WAL file is cut back to when it starts over (`journal_size_limit`), if readers
/// held the checkpoints up long enough for it to grow past what [`checkpoint`] bounds it to.
const WAL_KEEP_BYTES: i64 = 64 * 1024 * 1024;

/// The store in one SQLite file. See the [module documentation](self).
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    /// Messages appended since the search index last caught up, and when it did: the index
    /// follows in batches ([`INDEX_EVERY`], [`INDEX_AFTER`]), and before every search.
    unindexed: Mutex<(usize, Instant)>,
    /// Copies the WAL into the database beside the writer ([`checkpoint`]).
    checkpointer: Checkpointer,
}

/// The search index catches up at the first commit this long after it last did...
const INDEX_AFTER: Duration = Duration::from_secs(1);

/// ...or once this many messages wait, whichever comes first.
const INDEX_EVERY: usize = 4096;

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// When a commit is on disk: SQLite's `synchronous` setting (in WAL mode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// Every commit is synced: it survives a power cut.
    #[default]
    Full,
    /// The WAL is synced at checkpoints only: a commit survives a crash of the process, and
    /// the last ones may be lost to a power cut or a crash of the machine.
    Normal,
}

impl SqliteStore {
    /// [`open_with`](Self::open_with) and [`Synchronous::Full`].
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, Synchronous::Full)
    }

    /// Opens the database at `path`, creating it (and its directory) if it does not exist, and
    /// migrates it to the newest schema; commits are synced as `synchronous` says.
    ///
    /// Fails with [`StoreError::Corrupt`] for a damaged file or one that is not Charla's,
    /// [`StoreError::NewerSchema`] for a database written by a newer Charla, and
    /// [`StoreError::ReadOnly`] when the file or its directory cannot be written. In each case
    /// the file is left exactly as it was.
    pub fn open_with(path: &Path, synchronous: Synchronous) -> Result<Self, StoreError> {
        let dir = parent_dir(path);
        fs::create_dir_all(&dir).map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                StoreError::ReadOnly(format!(
                    "cannot create the data directory {} ({e}): create it, or make its parent \
                     writable by this user",
                    dir.display()
                ))
            }
            _ => StoreError::io("cannot create the data directory", &dir, e),
        })?;
        check_writable(path, &dir)?;

        let classify = |e| classify(path, e);
        let mut writer = open_connection(path).map_err(classify)?;

        // Read the version first: a database from a newer Charla is refused before anything
        // (even the journal mode) is changed in it. Reading the header is also where a file
        // that is not a database fails.
        let version: i64 = writer
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(classify)?;
        let known = migrations::known_version();
        if version > known {
            return Err(StoreError::NewerSchema {
                path: path.to_path_buf(),
                found: version,
                known,
            });
        }
        if version < 0 {
            return Err(corrupt(path, &format!("its schema version is {version}")));
        }
        quick_check(path, &writer).map_err(classify)??;
        if version == 0 && has_schema_objects(&writer).map_err(classify)? {
            return Err(StoreError::Corrupt(format!(
                "the file {} is an SQLite database that holds tables, but not Charla's (it has \
                 no Charla schema version); it was left untouched: point Charla at another file",
                path.display()
            )));
        }
        probe_write(path, &mut writer)?;

        let mode: String = writer
            .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
            .map_err(classify)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::ReadOnly(format!(
                "the database {} could not be switched to WAL mode (it stayed in {mode} mode); \
                 check that its directory is writable and on a local file system",
                path.display()
            )));
        }
        // secure_delete: a deleted row (a redacted message, pruned history) is overwritten
        // with zeros in the file, not left readable in a free page.
        writer
            .execute_batch(match synchronous {
                Synchronous::Full => {
                    "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;"
                }
                Synchronous::Normal => {
                    "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA secure_delete = ON;"
                }
            })
            .map_err(classify)?;
        writer
            .pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
            .map_err(classify)?;
        writer
            .pragma_update(None, "journal_size_limit", WAL_KEEP_BYTES)
            .map_err(classify)?;
        migrations::migrate(&mut writer, version).map_err(classify)?;
        checkpoint::watch(&writer).map_err(classify)?;
        let checkpointer = Checkpointer::start(open_connection(path).map_err(classify)?)
            .map_err(|e| StoreError::io("cannot start the checkpoint thread for", path, e))?;

        let reader = open_connection(path).map_err(classify)?;
        // The reader never writes; saying so turns a mistake into an error, not a write.
        reader
            .execute_batch("PRAGMA query_only = ON;")
            .map_err(classify)?;

        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            // What a previous run left unindexed is taken at the first commit.
            unindexed: Mutex::new((1, Instant::now())),
            checkpointer,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Counts `appended` new entries; whether the search index should catch up in this commit.
    fn index_due(&self, appended: usize) -> bool {
        let mut unindexed = self
            .unindexed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        unindexed.0 += appended;
        unindexed.0 >= INDEX_EVERY || (unindexed.0 > 0 && unindexed.1.elapsed() >= INDEX_AFTER)
    }

    /// Indexes for search what was committed and not indexed yet, in a transaction of its own.
    fn catch_up_index(&self) -> Result<(), StoreError> {
        if self
            .unindexed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            == 0
        {
            return Ok(());
        }
        let mut conn = lock(&self.writer);
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            write::index_pending(&tx)?;
            tx.commit()
        })();
        result.map_err(|e| self.classify(e))?;
        self.index_caught_up();
        Ok(())
    }

    /// Records that the search index holds every committed message (the writer's lock held).
    fn index_caught_up(&self) {
        *self
            .unindexed
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = (0, Instant::now());
    }

    fn classify(&self, error: rusqlite::Error) -> StoreError {
        classify(&self.path, error)
    }

    /// Runs `read` in one read transaction of the reader connection, so that a record made of
    /// several rows comes from one snapshot.
    fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut conn = lock(&self.reader);
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let value = read(&tx)?;
            tx.finish()?;
            Ok(value)
        })();
        result.map_err(|e| self.classify(e))
    }
}

/// Locks a connection. A panic in another call cannot have left a transaction open (the
/// transaction guards roll back while unwinding), so a poisoned connection is still sound.
fn lock(connection: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    connection.lock().unwrap_or_else(PoisonError::into_inner)
}

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    // No URI parsing: the path is a file name, whatever characters it holds.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Enough cached statements for every query of this module on the writer.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Checks with the file system that this process can write the database file and create files
/// beside it (SQLite's `-wal` and `-shm`), so that the operator gets a message naming the file
/// rather than an SQLite error at the first write.
fn check_writable(path: &Path, dir: &Path) -> Result<(), StoreError> {
    let denied = |e: &io::Error| {
        matches!(
            e.kind(),
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
        )
    };
    // Opening for writing without create or truncate changes nothing in the file.
    match OpenOptions::new().read(true).write(true).open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) if denied(&e) => {
            return Err(StoreError::ReadOnly(format!(
                "the database {} cannot be written by this user ({e}): fix its owner or \
                 permissions, or check that its file system is not mounted read-only",
                path.display()
            )));
        }
        Err(e) => return Err(StoreError::io("cannot open the database", path, e)),
    }
    let probe = dir.join(format!(".charla-write-probe-{}", std::process::id()));
    match OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(file) => {
            drop(file);
            fs::remove_file(&probe)
                .map_err(|e| StoreError::io("cannot remove the probe file", &probe, e))?;
        }
        // Left over by an earlier run with the same process id: the directory was writable.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) if denied(&e) => {
            return Err(StoreError::ReadOnly(format!(
                "the data directory {} is not writable by this user ({e}); SQLite needs to \
                 create files beside the database {}: fix the directory's owner or permissions",
                dir.display(),
                path.display()
            )));
        }
        Err(e) => return Err(StoreError::io("cannot write in the data directory", dir, e)),
    }
    Ok(())
}

/// `PRAGMA quick_check`: the outer result is SQLite failing, the inner one a damaged database.
fn quick_check(path: &Path, conn: &Connection) -> rusqlite::Result<Result<(), StoreError>> {
    let mut stmt = conn.prepare("PRAGMA quick_check")?;
    let problems = stmt
        .query_map([], |row| row.get::<_, String>(0))?
        .take(5)
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(Ok(()));
    }
    Ok(Err(corrupt(
        path,
        &format!("its integrity check reports: {}", problems.join("; ")),
    )))
}

fn has_schema_objects(conn: &Connection) -> rusqlite::Result<bool> {
    conn.prepare("SELECT 1 FROM sqlite_schema")?.exists([])
}

/// Makes sure a write really works (a read-only file is opened read-only by SQLite without a
/// word): a write in a transaction that is rolled back, so nothing changes.
fn probe_write(path: &Path, conn: &mut Connection) -> Result<(), StoreError> {
    let read_only = |detail: String| {
        StoreError::ReadOnly(format!(
            "the database {} cannot be written ({detail}): check the permissions of the file, of \
             its -wal and -shm files and of its directory, and that the file system is not \
             mounted read-only",
            path.display()
        ))
    };
    if conn
        .is_readonly(rusqlite::MAIN_DB)
        .map_err(|e| classify(path, e))?
    {
        return Err(read_only("SQLite opened it read-only".to_owned()));
    }
    let result = (|| {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "CREATE TABLE charla_write_probe (x INTEGER); DROP TABLE charla_write_probe;",
        )?;
        tx.rollback()
    })();
    match result {
        Ok(()) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, detail))
            if matches!(e.code, ErrorCode::ReadOnly | ErrorCode::CannotOpen) =>
        {
            Err(read_only(detail.unwrap_or_else(|| e.to_string())))
        }
        Err(e) => Err(classify(path, e)),
    }
}

fn corrupt(path: &Path, detail: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "the database {} is damaged or is not an SQLite database ({detail}); it was left \
         untouched: restore it from a backup, or move it aside to start with an empty one",
        path.display()
    ))
}

/// Turns an SQLite error into the [`StoreError`] an operator can act on, naming the file.
fn classify(path: &Path, error: rusqlite::Error) -> StoreError {
    match &error {
        rusqlite::Error::SqliteFailure(e, _) => match e.code {
            ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                corrupt(path, &error.to_string())
            }
            ErrorCode::ReadOnly => StoreError::ReadOnly(format!(
                "the database {} cannot be written ({error}): check the permissions of the file, \
                 of its -wal and -shm files and of its directory",
                path.display()
            )),
            ErrorCode::DiskFull => StoreError::Full(format!(
                "the disk holding the database {} is full ({error}): nothing of the failed \
                 writes was kept; free some space",
                path.display()
            )),
            _ => StoreError::Sqlite {
                path: path.to_path_buf(),
                source: error.into(),
            },
        },
        // A row that does not decode into a record: the data is not what this schema wrote.
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..) => {
            corrupt(path, &format!("a stored value is invalid: {error}"))
        }
        _ => StoreError::Sqlite {
            path: path.to_path_buf(),
            source: error.into(),
        },
    }
}

impl Store for SqliteStore {
    fn account(&self, key: &str) -> Result<Option<AccountRecord>, StoreError> {
        self.read(|conn| read_account(conn, key))
    }

    fn account_by_cert(&self, fingerprint: &str) -> Result<Option<AccountRecord>, StoreError> {
        self.read(|conn| read_account_by_cert(conn, fingerprint))
    }

    fn certs(&self, account: &str) -> Result<Vec<String>, StoreError> {
        self.read(|conn| {
            read_strings(
                conn,
                "SELECT fingerprint FROM certs WHERE account = ?1 ORDER BY fingerprint",
                account,
            )
        })
    }

    fn presences(&self) -> Result<Vec<PresenceRecord>, StoreError> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT account, nick, user, host, realname, channels FROM presences \
                 ORDER BY account",
            )?
            .query_map([], presence_from_row)?
            .collect()
        })
    }

    fn presence(&self, account: &str) -> Result<Option<PresenceRecord>, StoreError> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT account, nick, user, host, realname, channels FROM presences \
                 WHERE account = ?1",
            )?
            .query_row([account], presence_from_row)
            .optional()
        })
    }

    fn account_count(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            conn.prepare_cached("SELECT count(*) FROM accounts")?
                .query_row([], |row| row.get(0))
        })
    }

    fn channel(&self, key: &str) -> Result<Option<ChannelRecord>, StoreError> {
        self.read(|conn| read_channel(conn, key))
    }

    fn channels(&self) -> Result<Vec<ChannelRecord>, StoreError> {
        self.read(read_channels)
    }

    fn channels_of(&self, founder: &str) -> Result<Vec<String>, StoreError> {
        self.read(|conn| {
            read_strings(
                conn,
                "SELECT key FROM channels WHERE founder = ?1 ORDER BY key",
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
        self.read(|conn| read_history(conn, target, query, limit, kinds))
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
        self.read(|conn| read_history_targets(conn, owner, channels, bounds, limit))
    }

    fn read_marker(&self, account: &str, target: &str) -> Result<Option<i64>, StoreError> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT time_ms FROM read_markers WHERE account = ?1 AND target = ?2",
            )?
            .query_row([account, target], |row| row.get(0))
            .optional()
        })
    }

    fn metadata(&self, target: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.read(|conn| {
            conn.prepare_cached("SELECT key, value FROM metadata WHERE target = ?1 ORDER BY key")?
                .query_map([target], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
    }

    fn history_count(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            conn.prepare_cached("SELECT count(*) FROM history")?
                .query_row([], |row| row.get(0))
        })
    }

    fn search(
        &self,
        owner: &str,
        targets: &[String],
        query: &SearchQuery,
    ) -> Result<Vec<HistoryRecord>, StoreError> {
        // Every message committed so far is found: what waits for the index is indexed first.
        self.catch_up_index()?;
        self.read(|conn| read::search(conn, owner, targets, query))
    }

    fn file(&self, id: &str) -> Result<Option<FileRecord>, StoreError> {
        self.read(|conn| read_file(conn, id))
    }

    fn files_of(&self, owner: &str) -> Result<Vec<FileRecord>, StoreError> {
        self.read(|conn| read_files_of(conn, owner))
    }

    fn files_size(&self, owner: &str) -> Result<u64, StoreError> {
        self.read(|conn| read_files_size(conn, owner))
    }

    fn files_before(&self, before_ms: i64, limit: usize) -> Result<Vec<FileRecord>, StoreError> {
        self.read(|conn| read_files_before(conn, before_ms, limit))
    }

    fn file_hash_used(&self, sha256: &str) -> Result<bool, StoreError> {
        self.read(|conn| {
            conn.prepare_cached("SELECT 1 FROM files WHERE sha256 = ?1")?
                .exists([sha256])
        })
    }

    fn apply(&self, writes: &[Write]) -> Result<Vec<Result<(), Conflict>>, StoreError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = lock(&self.writer);
        let result = (|| {
            // IMMEDIATE: take the write lock now rather than fail to upgrade halfway.
            let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut outcomes = Vec::with_capacity(writes.len());
            for write in writes {
                if !needs_savepoint(write) {
                    outcomes.push(apply_one(&tx, write)?);
                    continue;
                }
                // A savepoint per write, so a conflict found halfway undoes only this write.
                let savepoint = tx.savepoint()?;
                let outcome = apply_one(&savepoint, write)?;
                if outcome.is_ok() {
                    savepoint.commit()?;
                }
                // Otherwise dropping the savepoint rolls it back.
                outcomes.push(outcome);
            }
            let appended = writes
                .iter()
                .filter(|w| matches!(w, Write::Append(_) | Write::Redact { .. }))
                .count();
            let index = self.index_due(appended);
            if index {
                write::index_pending(&tx)?;
            }
            tx.commit()?;
            let frames = checkpoint::frames_after_commit();
            if frames >= self.checkpointer.limit_frames {
                // Not an error of this commit, which is done: the next one tries again.
                let _ = checkpoint::passive(&conn);
            } else if frames >= self.checkpointer.start_frames {
                self.checkpointer.wake();
            }
            if index {
                // Under the writer's lock: no commit can come between the index and this.
                self.index_caught_up();
            }
            // A deleted message must not linger in old WAL frames either: write the WAL into
            // the file (where `secure_delete` zeroed it) and empty it. Redactions are rare; a
            // checkpoint that a reader holds up is retried by the next one, and is no failure.
            let redacted = writes
                .iter()
                .zip(&outcomes)
                .any(|(write, outcome)| matches!(write, Write::Redact { .. }) && outcome.is_ok());
            if redacted {
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            }
            Ok(outcomes)
        })();
        result.map_err(|e| self.classify(e))
    }

    fn backup(&self, dest: &Path) -> Result<(), StoreError> {
        write_new_file(dest, |partial| {
            // A connection of its own, so that reads and writes go on during the copy.
            let source = Connection::open_with_flags(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| self.classify(e))?;
            source
                .busy_timeout(BUSY_TIMEOUT)
                .map_err(|e| self.classify(e))?;
            let mut target = Connection::open(partial).map_err(|e| classify(partial, e))?;
            let backup = Backup::new(&source, &mut target).map_err(|e| classify(partial, e))?;
            // All pages in one step: one read transaction, hence one consistent snapshot, and
            // in WAL mode a reader never blocks the writer. Busy/Locked are transient.
            let mut waits = 0;
            loop {
                match backup.step(-1).map_err(|e| classify(partial, e))? {
                    StepResult::Done => break,
                    StepResult::More => {}
                    StepResult::Busy | StepResult::Locked if waits < 1000 => {
                        waits += 1;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    StepResult::Busy | StepResult::Locked => {
                        return Err(StoreError::Sqlite {
                            path: self.path.clone(),
                            source: rusqlite::Error::SqliteFailure(
                                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                                Some("the database stayed locked during the backup".to_owned()),
                            )
                            .into(),
                        });
                    }
                    // StepResult is non-exhaustive; any other answer means "try again".
                    _ => {}
                }
            }
            drop(backup);
            target.close().map_err(|(_, e)| classify(partial, e))
        })
    }
}

/// Writes a new file at `dest` through `fill`, which writes a partial file beside it; the file
/// appears at `dest` only once complete and synced, and never replaces an existing file.
pub(crate) fn write_new_file(
    dest: &Path,
    fill: impl FnOnce(&Path) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);

    if dest.exists() {
        return Err(StoreError::io(
            "will not replace an existing file with a backup",
            dest,
            io::Error::from(io::ErrorKind::AlreadyExists),
        ));
    }
    let dir = parent_dir(dest);
    let name = dest
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = dir.join(format!(
        ".{name}.partial-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    // Removes the partial file (ours alone, by its name) however this function ends.
    struct Cleanup<'a>(&'a Path);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            for suffix in ["", "-journal", "-wal", "-shm"] {
                let mut path = self.0.as_os_str().to_owned();
                path.push(suffix);
                let _ = fs::remove_file(PathBuf::from(path));
            }
        }
    }
    let _cleanup = Cleanup(&partial);

    fill(&partial)?;
    File::open(&partial)
        .and_then(|file| file.sync_all())
        .map_err(|e| StoreError::io("cannot sync the backup", &partial, e))?;
    // A hard link fails if `dest` appeared meanwhile, where a rename would replace it.
    if let Err(e) = fs::hard_link(&partial, dest) {
        if e.kind() == io::ErrorKind::AlreadyExists {
            return Err(StoreError::io(
                "will not replace an existing file with a backup",
                dest,
                e,
            ));
        }
        // File systems without hard links: the check above is the best we have.
        fs::rename(&partial, dest)
            .map_err(|e| StoreError::io("cannot write the backup", dest, e))?;
    }
    // Make the new name itself durable.
    if let Ok(dir) = File::open(&dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// A `presences` row (account, nick, user, host, real name, channels one per line).
fn presence_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<PresenceRecord> {
    let channels: String = row.get(5)?;
    Ok(PresenceRecord {
        account: row.get(0)?,
        nick: row.get(1)?,
        user: row.get(2)?,
        host: row.get(3)?,
        realname: row.get(4)?,
        channels: channels
            .split('\n')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

#[cfg(test)]
mod tests;
