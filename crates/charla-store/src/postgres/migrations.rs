//! The PostgreSQL schema as an ordered list of migrations.
//!
//! Migration `i` (0-based) takes a database from schema version `i` to `i + 1`; the version is
//! the one row of `schema_version`. Every pending migration runs at open in **one**
//! transaction together with the version bump, under the writers' advisory lock, so that two
//! nodes starting at once migrate once, and a failure leaves the database as it was. A
//! migration, once released, is never edited: changes are new entries.
//!
//! Every text column that is a key, or that lists are ordered by, is `COLLATE "C"`: compared
//! and ordered byte for byte (UTF-8 byte order), as the `Store` contract says, whatever the
//! database's default collation.

use postgres::IsolationLevel;

use super::{Connection, Failure, Session, Tx, WRITE_LOCK, classify};
use crate::error::StoreError;

/// The scripts, in order. `MIGRATIONS.len()` is the newest schema version this build knows.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the whole schema of SQLite's eight migrations, at once.
    // Foreign keys carry the cascades of the Store contract; ON UPDATE CASCADE lets a channel
    // rename be one update of its key. `history.seq` is an identity column: see the module
    // documentation of `postgres` for why it follows commit order. Params are a text[]
    // (no NULL element); `words` is what search matches (NULL for events and TAGMSG).
    r#"
    CREATE TABLE accounts (
        key TEXT COLLATE "C" PRIMARY KEY,
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        scram_salt BYTEA,
        scram_iterations BIGINT CHECK (scram_iterations BETWEEN 0 AND 4294967295),
        scram_stored_key BYTEA,
        scram_server_key BYTEA,
        created_at BIGINT NOT NULL,
        verified BOOLEAN NOT NULL,
        email TEXT,
        always_on BOOLEAN,
        -- SCRAM credentials are all there or all absent.
        CHECK ((scram_salt IS NULL) = (scram_iterations IS NULL)
           AND (scram_salt IS NULL) = (scram_stored_key IS NULL)
           AND (scram_salt IS NULL) = (scram_server_key IS NULL))
    );

    CREATE TABLE certs (
        fingerprint TEXT COLLATE "C" PRIMARY KEY,
        account TEXT COLLATE "C" NOT NULL REFERENCES accounts (key) ON DELETE CASCADE
    );
    CREATE INDEX certs_by_account ON certs (account);

    CREATE TABLE channels (
        key TEXT COLLATE "C" PRIMARY KEY,
        name TEXT NOT NULL,
        founder TEXT COLLATE "C" NOT NULL REFERENCES accounts (key) ON DELETE CASCADE,
        registered_at BIGINT NOT NULL,
        topic_text TEXT,
        topic_set_by TEXT,
        topic_set_at BIGINT,
        modes TEXT NOT NULL,
        mode_key TEXT,
        mode_limit BIGINT CHECK (mode_limit BETWEEN 0 AND 4294967295),
        CHECK ((topic_text IS NULL) = (topic_set_by IS NULL)
           AND (topic_text IS NULL) = (topic_set_at IS NULL))
    );
    CREATE INDEX channels_by_founder ON channels (founder);

    -- `seq` keeps the order in which the entries were given.
    CREATE TABLE channel_lists (
        channel TEXT COLLATE "C" NOT NULL
            REFERENCES channels (key) ON DELETE CASCADE ON UPDATE CASCADE,
        seq INTEGER NOT NULL,
        mode TEXT NOT NULL CHECK (length(mode) = 1),
        mask TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_at BIGINT NOT NULL,
        PRIMARY KEY (channel, seq)
    );

    CREATE TABLE channel_access (
        channel TEXT COLLATE "C" NOT NULL
            REFERENCES channels (key) ON DELETE CASCADE ON UPDATE CASCADE,
        account TEXT COLLATE "C" NOT NULL REFERENCES accounts (key) ON DELETE CASCADE,
        level TEXT NOT NULL CHECK (level IN ('voice', 'op')),
        PRIMARY KEY (channel, account)
    );
    CREATE INDEX channel_access_by_account ON channel_access (account);

    -- `history_by_target` serves msgid anchors and `seq` order, `history_by_time` time
    -- anchors and `time_ms, seq` order; `history_words` search.
    CREATE TABLE history (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        target TEXT COLLATE "C" NOT NULL,
        msgid TEXT COLLATE "C" NOT NULL UNIQUE,
        time_ms BIGINT NOT NULL,
        command TEXT NOT NULL,
        source TEXT NOT NULL,
        account TEXT,
        tags TEXT NOT NULL,
        params TEXT[] NOT NULL,
        words TEXT[]
    );
    CREATE INDEX history_by_target ON history (target, seq);
    CREATE INDEX history_by_time ON history (target, time_ms, seq);
    CREATE INDEX history_words ON history USING gin (words);

    -- One row per (owner, target); `last_ms` only moves forward.
    CREATE TABLE conversations (
        owner TEXT COLLATE "C" NOT NULL,
        target TEXT COLLATE "C" NOT NULL,
        peer TEXT NOT NULL,
        last_ms BIGINT NOT NULL,
        PRIMARY KEY (owner, target)
    );
    CREATE INDEX conversations_by_target ON conversations (target);

    CREATE TABLE read_markers (
        account TEXT COLLATE "C" NOT NULL,
        target TEXT COLLATE "C" NOT NULL,
        time_ms BIGINT NOT NULL,
        PRIMARY KEY (account, target)
    );
    CREATE INDEX read_markers_by_target ON read_markers (target);

    -- draft/metadata-2 values of accounts (`a:<key>`) and registered channels (`c:<key>`),
    -- dropped with them (also when a dropped account's channels go by cascade).
    CREATE TABLE metadata (
        target TEXT COLLATE "C" NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (target, key)
    );
    CREATE FUNCTION charla_metadata_account_gone() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM metadata WHERE target = 'a:' || OLD.key;
        RETURN OLD;
    END $$;
    CREATE TRIGGER metadata_account_gone AFTER DELETE ON accounts
        FOR EACH ROW EXECUTE FUNCTION charla_metadata_account_gone();
    CREATE FUNCTION charla_metadata_channel_gone() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM metadata WHERE target = 'c:' || OLD.key;
        RETURN OLD;
    END $$;
    CREATE TRIGGER metadata_channel_gone AFTER DELETE ON channels
        FOR EACH ROW EXECUTE FUNCTION charla_metadata_channel_gone();

    -- The always-on users to bring back at start, one per account.
    CREATE TABLE presences (
        account TEXT COLLATE "C" PRIMARY KEY REFERENCES accounts (key) ON DELETE CASCADE,
        nick TEXT NOT NULL,
        user_name TEXT NOT NULL,
        host TEXT NOT NULL,
        realname TEXT NOT NULL,
        channels TEXT[] NOT NULL
    );

    -- The file host's uploads. No foreign key on `owner`: a file outlives its account.
    CREATE TABLE files (
        id TEXT COLLATE "C" PRIMARY KEY,
        owner TEXT COLLATE "C" NOT NULL,
        name TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size BIGINT NOT NULL CHECK (size >= 0),
        sha256 TEXT COLLATE "C" NOT NULL,
        created_ms BIGINT NOT NULL
    );
    CREATE INDEX files_by_owner ON files (owner, created_ms, id);
    CREATE INDEX files_by_time ON files (created_ms, id);
    CREATE INDEX files_by_hash ON files (sha256);
    "#,
];

/// The newest schema version this build knows.
pub(crate) fn known_version() -> i64 {
    // The list is a handful of entries; the cast cannot truncate.
    MIGRATIONS.len() as i64
}

/// The schema version of a database (0 for one Charla never used), read in `tx`.
pub(crate) fn version(tx: &mut Tx<'_>) -> Result<i64, Failure> {
    let exists = tx
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])?
        .try_get::<_, bool>(0)?;
    if !exists {
        return Ok(0);
    }
    Ok(tx
        .query_opt("SELECT version FROM schema_version", &[])?
        .map(|row| row.try_get::<_, i64>(0))
        .transpose()?
        .unwrap_or(0))
}

/// Brings the database up to date in one transaction, or refuses a newer one untouched.
pub(super) fn migrate(conn: &mut Connection, database: &str) -> Result<(), StoreError> {
    let known = known_version();
    let result = (|| {
        let tx = conn
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()?;
        let mut tx = Tx {
            tx: Session::Transaction(tx),
            statements: &mut conn.statements,
        };
        // One migrator at a time, and no write while it runs.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
        let found = version(&mut tx)?;
        if found > known || found < 0 {
            // Dropping the transaction rolls it back: nothing was changed.
            return Ok(Some(found));
        }
        if found == known {
            tx.commit()?;
            return Ok(None);
        }
        if found == 0 {
            tx.batch(
                "CREATE TABLE schema_version (\
                     id INTEGER PRIMARY KEY CHECK (id = 1), \
                     version BIGINT NOT NULL\
                 ); \
                 INSERT INTO schema_version (id, version) VALUES (1, 0);",
            )?;
        }
        for script in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
            tx.batch(script)?;
        }
        tx.execute("UPDATE schema_version SET version = $1", &[&known])?;
        tx.commit()?;
        Ok(None)
    })();
    // Prepared statements are planned against the schema they saw: start afresh after it.
    conn.statements.clear();
    match result {
        Ok(None) => Ok(()),
        Ok(Some(found)) if found < 0 => Err(StoreError::Corrupt(format!(
            "the PostgreSQL database {database} has schema version {found}; it was left untouched"
        ))),
        Ok(Some(found)) => Err(StoreError::NewerSchema {
            path: database.into(),
            found,
            known,
        }),
        Err(e) => Err(classify(database, e)),
    }
}
