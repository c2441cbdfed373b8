//! The SQLite schema as an ordered list of migrations.
//!
//! Migration `i` (0-based) takes a database from `PRAGMA user_version = i` to `i + 1`; each runs
//! in its own transaction together with the version bump, so a crash leaves the database at a
//! whole version. A migration, once released, is never edited: changes are new entries.

use rusqlite::{Connection, TransactionBehavior};

/// The scripts, in order. `MIGRATIONS.len()` is the newest schema version this build knows.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: accounts, certificates, registered channels with their lists and access entries.
    // STRICT tables so that a value of the wrong type is refused instead of stored.
    // Foreign keys with ON DELETE CASCADE carry the cascade rules of the Store contract.
    r#"
    CREATE TABLE accounts (
        key TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        scram_salt BLOB,
        scram_iterations INTEGER CHECK (scram_iterations BETWEEN 0 AND 4294967295),
        scram_stored_key BLOB,
        scram_server_key BLOB,
        created_at INTEGER NOT NULL,
        verified INTEGER NOT NULL CHECK (verified IN (0, 1)),
        email TEXT,
        -- SCRAM credentials are all there or all absent.
        CHECK ((scram_salt IS NULL) = (scram_iterations IS NULL)
           AND (scram_salt IS NULL) = (scram_stored_key IS NULL)
           AND (scram_salt IS NULL) = (scram_server_key IS NULL))
    ) STRICT;

    CREATE TABLE certs (
        fingerprint TEXT PRIMARY KEY NOT NULL,
        account TEXT NOT NULL REFERENCES accounts (key) ON DELETE CASCADE
    ) STRICT;
    CREATE INDEX certs_by_account ON certs (account);

    CREATE TABLE channels (
        key TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        founder TEXT NOT NULL REFERENCES accounts (key) ON DELETE CASCADE,
        registered_at INTEGER NOT NULL,
        topic_text TEXT,
        topic_set_by TEXT,
        topic_set_at INTEGER,
        modes TEXT NOT NULL,
        mode_key TEXT,
        mode_limit INTEGER CHECK (mode_limit BETWEEN 0 AND 4294967295),
        CHECK ((topic_text IS NULL) = (topic_set_by IS NULL)
           AND (topic_text IS NULL) = (topic_set_at IS NULL))
    ) STRICT;
    CREATE INDEX channels_by_founder ON channels (founder);

    -- `seq` keeps the order in which the entries were given.
    CREATE TABLE channel_lists (
        channel TEXT NOT NULL REFERENCES channels (key) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        mode TEXT NOT NULL,
        mask TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_at INTEGER NOT NULL,
        PRIMARY KEY (channel, seq)
    ) STRICT;

    CREATE TABLE channel_access (
        channel TEXT NOT NULL REFERENCES channels (key) ON DELETE CASCADE,
        account TEXT NOT NULL REFERENCES accounts (key) ON DELETE CASCADE,
        level TEXT NOT NULL CHECK (level IN ('voice', 'op')),
        PRIMARY KEY (channel, account)
    ) STRICT;
    CREATE INDEX channel_access_by_account ON channel_access (account);
    "#,
    // 2: message history, private conversations, read markers.
    // `seq` is the rowid, so an append writes at the end of the table; AUTOINCREMENT so that a
    // seq is never given twice, even after the newest entries were pruned. Params are stored as
    // one text, each param followed by a line feed (a param never contains one).
    // `history_by_target` serves msgid anchors and `seq` order, `history_by_time` time anchors
    // (its entries end with the rowid, so it also gives `time_ms, seq` order). Migration 9
    // drops `history_by_target`.
    r#"
    CREATE TABLE history (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL,
        msgid TEXT NOT NULL UNIQUE,
        time_ms INTEGER NOT NULL,
        command TEXT NOT NULL,
        source TEXT NOT NULL,
        account TEXT,
        tags TEXT NOT NULL,
        params TEXT NOT NULL
    ) STRICT;
    CREATE INDEX history_by_target ON history (target, seq);
    CREATE INDEX history_by_time ON history (target, time_ms);

    -- One row per (owner, target); `last_ms` only moves forward.
    CREATE TABLE conversations (
        owner TEXT NOT NULL,
        target TEXT NOT NULL,
        peer TEXT NOT NULL,
        last_ms INTEGER NOT NULL,
        PRIMARY KEY (owner, target)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE read_markers (
        account TEXT NOT NULL,
        target TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        PRIMARY KEY (account, target)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 3: full-text search of messages (PRIVMSG and NOTICE texts), kept by triggers: a
    // contentless FTS5 index keyed by `seq` (the text is stored once, in `history`), words
    // compared without case or accents. A message's text is its params after the target: the
    // first param never holds a line feed, and each param ends with one.
    r#"
    CREATE VIRTUAL TABLE history_text USING fts5(
        text,
        content = '',
        contentless_delete = 1,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER history_text_insert AFTER INSERT ON history
    WHEN new.command IN ('PRIVMSG', 'NOTICE') BEGIN
        INSERT INTO history_text (rowid, text)
        VALUES (new.seq, rtrim(substr(new.params, instr(new.params, char(10)) + 1), char(10)));
    END;
    CREATE TRIGGER history_text_delete AFTER DELETE ON history
    WHEN old.command IN ('PRIVMSG', 'NOTICE') BEGIN
        DELETE FROM history_text WHERE rowid = old.seq;
    END;
    INSERT INTO history_text (rowid, text)
    SELECT seq, rtrim(substr(params, instr(params, char(10)) + 1), char(10))
    FROM history WHERE command IN ('PRIVMSG', 'NOTICE');
    "#,
    // 4: draft/metadata-2 values of accounts (`a:<key>`) and registered channels (`c:<key>`),
    // dropped with them.
    r#"
    CREATE TABLE metadata (
        target TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (target, key)
    ) STRICT, WITHOUT ROWID;
    CREATE TRIGGER metadata_account_gone AFTER DELETE ON accounts BEGIN
        DELETE FROM metadata WHERE target = 'a:' || old.key;
    END;
    CREATE TRIGGER metadata_channel_gone AFTER DELETE ON channels BEGIN
        DELETE FROM metadata WHERE target = 'c:' || old.key;
    END;
    "#,
    // 5: an account's always-on choice (NULL: the server's default).
    r#"
    ALTER TABLE accounts ADD COLUMN always_on INTEGER CHECK (always_on IN (0, 1));
    "#,
    // 6: the always-on users to bring back at start, one per account; channel names one per
    // line (a name holds no line break).
    r#"
    CREATE TABLE presences (
        account TEXT PRIMARY KEY REFERENCES accounts (key) ON DELETE CASCADE,
        nick TEXT NOT NULL,
        user TEXT NOT NULL,
        host TEXT NOT NULL,
        realname TEXT NOT NULL,
        channels TEXT NOT NULL
    ) STRICT;
    "#,
    // 7: messages are indexed for search in batches (`index_pending`) instead of one trigger
    // run per message: each FTS5 transaction writes a segment of its own, a third of a small
    // commit's pages. `search_progress` says how far the index goes; a delete takes a message
    // out of the index only if it was in it.
    r#"
    DROP TRIGGER history_text_insert;
    DROP TRIGGER history_text_delete;
    CREATE TABLE search_progress (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        indexed_seq INTEGER NOT NULL
    ) STRICT;
    INSERT INTO search_progress (id, indexed_seq)
    VALUES (1, coalesce((SELECT max(seq) FROM history), 0));
    CREATE TRIGGER history_text_delete AFTER DELETE ON history
    WHEN old.command IN ('PRIVMSG', 'NOTICE')
        AND old.seq <= (SELECT indexed_seq FROM search_progress) BEGIN
        DELETE FROM history_text WHERE rowid = old.seq;
    END;
    "#,
    // 8: the file host's uploads. No foreign key on `owner`: a file outlives its account until
    // retention or an operator removes it (its blob on disk is the server's to delete).
    r#"
    CREATE TABLE files (
        id TEXT PRIMARY KEY NOT NULL,
        owner TEXT NOT NULL,
        name TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL CHECK (size >= 0),
        sha256 TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX files_by_owner ON files (owner, created_ms, id);
    CREATE INDEX files_by_time ON files (created_ms, id);
    CREATE INDEX files_by_hash ON files (sha256);
    "#,
    // 9: one index per history entry fewer. Along a target's `seq` its times never go back (an
    // append is raised to the target's newest time), so `history_by_time`, whose entries end
    // with the rowid, also gives the `seq` order, and `history_by_target` only cost every
    // append a third index update (a third of the writer's time with it, in many small
    // channels). Entries written before appends were raised get the raise now (a running
    // maximum along `seq`), so that the promise holds for them too.
    r#"
    UPDATE history SET time_ms = raised.time_ms
    FROM (SELECT seq, max(time_ms) OVER (PARTITION BY target ORDER BY seq) AS time_ms
          FROM history) AS raised
    WHERE history.seq = raised.seq AND history.time_ms < raised.time_ms;
    DROP INDEX history_by_target;
    "#,
];

/// The newest schema version this build knows.
pub(crate) fn known_version() -> i64 {
    // The list is a handful of entries; the cast cannot truncate.
    MIGRATIONS.len() as i64
}

/// Brings a database at version `from` (already checked to be at most [`known_version`]) up to
/// date, one transaction per migration.
pub(crate) fn migrate(conn: &mut Connection, from: i64) -> rusqlite::Result<()> {
    for (index, script) in MIGRATIONS.iter().enumerate() {
        let target = index as i64 + 1;
        if target <= from {
            continue;
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(script)?;
        // user_version lives in the header page, so it commits (or not) with the script.
        tx.pragma_update(None, "user_version", target)?;
        tx.commit()?;
    }
    Ok(())
}
