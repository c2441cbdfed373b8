use super::*;
use std::ffi::c_int;

/// The durability promise rests on these settings of the writer connection.
#[test]
fn the_writer_syncs_fully_and_enforces_foreign_keys() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("charla.db")).expect("open");
    let writer = lock(&store.writer);
    let pragma = |name| {
        writer
            .pragma_query_value(None, name, |row| row.get::<_, i64>(0))
            .expect(name)
    };
    assert_eq!(pragma("synchronous"), 2, "FULL");
    assert_eq!(pragma("foreign_keys"), 1);
    let mode: String = writer
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal");
    drop(writer);
    let reader = lock(&store.reader);
    let query_only: i64 = reader
        .pragma_query_value(None, "query_only", |row| row.get(0))
        .expect("query_only");
    assert_eq!(query_only, 1);
}

/// A database made by the first migration alone, as the first Charla left it, with an
/// account in it, is upgraded in place.
#[test]
fn a_version_1_database_is_upgraded_in_place() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let path = dir.path().join("charla.db");
    {
        let conn = Connection::open(&path).expect("create");
        conn.execute_batch(migrations::MIGRATIONS[0]).expect("v1");
        conn.execute(
            "INSERT INTO accounts (key, name, password_hash, created_at, verified) \
             VALUES ('alice', 'Alice', '$argon2id$x', 1, 0)",
            [],
        )
        .expect("account");
        conn.pragma_update(None, "user_version", 1)
            .expect("version");
    }
    let store = SqliteStore::open(&path).expect("upgrade");
    assert_eq!(
        store.account("alice").expect("read").expect("alice").name,
        "Alice"
    );
    let outcomes = store
        .apply(&[Write::Append(crate::HistoryRecord {
            seq: 0,
            target: "#c".to_owned(),
            msgid: "m1".to_owned(),
            time_ms: 1,
            command: "PRIVMSG".to_owned(),
            source: "alice!a@h".to_owned(),
            account: None,
            tags: String::new(),
            params: vec!["#c".to_owned(), "hola".to_owned()],
        })])
        .expect("apply");
    assert_eq!(outcomes, vec![Ok(())]);
    let version: i64 = lock(&store.writer)
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("user_version");
    assert_eq!(version, migrations::known_version());
}

/// Appends 100 commits of 400 messages to 1,000 channels, with no pause between commits;
/// the WAL's largest size.
fn largest_wal_while_commits_never_pause(store: &SqliteStore) -> u64 {
    let wal = store.path.with_extension("db-wal");
    let mut largest = 0;
    let mut n = 0;
    for _ in 0..100 {
        let writes: Vec<Write> = (0..400)
            .map(|_| {
                n += 1;
                let target = format!("#c{}", n % 1000);
                Write::Append(crate::HistoryRecord {
                    seq: 0,
                    target: target.clone(),
                    msgid: format!("m{n}"),
                    time_ms: n,
                    command: "PRIVMSG".to_owned(),
                    source: "alice!a@h".to_owned(),
                    account: None,
                    tags: String::new(),
                    params: vec![target, format!("{n} {}", "palabra ".repeat(10))],
                })
            })
            .collect();
        store.apply(&writes).expect("commit");
        largest = largest.max(fs::metadata(&wal).expect("the WAL").len());
    }
    largest
}

/// The WAL size of `frames` frames (a page and its 24-byte header each) and its header.
fn wal_bytes(frames: c_int) -> u64 {
    u64::try_from(frames).expect("frames") * (4096 + 24) + 32
}

/// The checkpointer copies the WAL beside the commits and it starts over: its file stays
/// within the limit, and the database file gets the history.
#[test]
fn the_checkpointer_keeps_the_wal_small_while_commits_never_pause() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let mut store = SqliteStore::open(&dir.path().join("charla.db")).expect("open");
    store.checkpointer.start_frames = 64;
    store.checkpointer.limit_frames = 1024;
    let largest = largest_wal_while_commits_never_pause(&store);
    // One commit here writes well under 1,000 frames.
    assert!(largest < wal_bytes(2048), "the WAL grew to {largest} bytes");
    let db = fs::metadata(&store.path).expect("the database").len();
    assert!(
        db > 4 * 1024 * 1024,
        "the history is in the database: {db} bytes"
    );
}

/// Without the checkpointer's help (one that never gets a turn), the writer's own
/// checkpoint past the limit lets the WAL start over.
#[test]
fn the_writer_bounds_the_wal_when_the_checkpointer_cannot() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let mut store = SqliteStore::open(&dir.path().join("charla.db")).expect("open");
    store.checkpointer = Checkpointer::parked();
    store.checkpointer.limit_frames = 1024;
    let largest = largest_wal_while_commits_never_pause(&store);
    assert!(
        largest >= wal_bytes(1024),
        "the limit was reached: {largest} bytes"
    );
    assert!(largest < wal_bytes(2048), "the WAL grew to {largest} bytes");
}

/// History written before appends were raised to their target's newest time (a clock that
/// stepped back) is raised by migration 9, so that reading it by `(time_ms, seq)` keeps
/// the `seq` order: BEFORE and AFTER a msgid page through it without a skip.
#[test]
fn migration_9_raises_old_times_that_went_back() {
    use crate::history::{Anchor, HistoryQuery};

    let dir = tempfile::TempDir::new().expect("temp dir");
    let path = dir.path().join("charla.db");
    {
        let mut conn = Connection::open(&path).expect("create");
        migrations::migrate(&mut conn, 0).expect("v9");
        conn.pragma_update(None, "user_version", 8)
            .expect("version");
        conn.execute_batch(
            "CREATE INDEX history_by_target ON history (target, seq);
             INSERT INTO history (target, msgid, time_ms, command, source, tags, params)
             VALUES ('#a', 'a1', 100, 'PRIVMSG', 's', '', '#a\nuno\n'),
                    ('#b', 'b1', 500, 'PRIVMSG', 's', '', '#b\nuno\n'),
                    ('#a', 'a2', 90, 'PRIVMSG', 's', '', '#a\ndos\n'),
                    ('#a', 'a3', 95, 'PRIVMSG', 's', '', '#a\ntres\n'),
                    ('#a', 'a4', 120, 'PRIVMSG', 's', '', '#a\ncuatro\n');",
        )
        .expect("old history");
    }
    let store = SqliteStore::open(&path).expect("upgrade");
    let times: Vec<(String, i64)> = lock(&store.reader)
        .prepare("SELECT msgid, time_ms FROM history ORDER BY seq")
        .expect("prepare")
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    let expected = [
        ("a1", 100),
        ("b1", 500),
        ("a2", 100),
        ("a3", 100),
        ("a4", 120),
    ];
    assert_eq!(
        times,
        expected.map(|(m, t)| (m.to_owned(), t)).to_vec(),
        "raised along each target's seq, never lowered, other targets untouched"
    );
    let msgids = |query| {
        store
            .history("#a", &query, 10)
            .expect("read")
            .expect("anchor")
            .into_iter()
            .map(|e| e.msgid)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        msgids(HistoryQuery::After(Anchor::Msgid("a2".into()))),
        ["a3", "a4"]
    );
    assert_eq!(
        msgids(HistoryQuery::Before(Anchor::Msgid("a3".into()))),
        ["a1", "a2"]
    );
    let index_gone: bool = lock(&store.reader)
        .prepare("SELECT 1 FROM sqlite_schema WHERE name = 'history_by_target'")
        .expect("prepare")
        .exists([])
        .expect("query");
    assert!(!index_gone);
}

/// Every history query runs on an index of the target: no scan of the table, no scan of
/// a whole index, and no sort where the index gives the order.
#[test]
fn history_queries_search_indexes() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("charla.db")).expect("open");
    let conn = lock(&store.reader);
    let explain = |sql: &str| -> String {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect(sql);
        let count = stmt.parameter_count();
        let values = vec![rusqlite::types::Value::Integer(1); count];
        stmt.query_map(rusqlite::params_from_iter(values), |row| {
            row.get::<_, String>(3)
        })
        .expect(sql)
        .collect::<rusqlite::Result<Vec<_>>>()
        .expect(sql)
        .join("; ")
    };
    let queries = crate::history::every_query_planned();
    let mut seen = 0;
    for (query, scans) in &queries {
        for scan in scans {
            let sql = read::scan_sql(scan);
            let plan = explain(&sql);
            assert!(
                plan.contains("USING INDEX history_by_")
                    || plan.contains("USING COVERING INDEX history_by_"),
                "{query:?}: {sql}: {plan}"
            );
            assert!(plan.contains("(target=?"), "{query:?}: {sql}: {plan}");
            assert!(!plan.contains("SCAN"), "{query:?}: {sql}: {plan}");
            // `history_by_time` gives every scan's order: no sort.
            assert!(!plan.contains("TEMP B-TREE"), "{query:?}: {sql}: {plan}");
            seen += 1;
        }
    }
    assert!(seen >= queries.len());
    for sql in [
        "SELECT seq, time_ms FROM history WHERE msgid = ?1 AND target = ?2",
        "SELECT max(time_ms) FROM history WHERE target = ?1",
        "SELECT time_ms, seq FROM history WHERE target = ?1 \
         ORDER BY time_ms DESC, seq DESC LIMIT 1 OFFSET ?2",
        "SELECT target, peer, last_ms FROM conversations WHERE owner = ?1 \
         AND last_ms BETWEEN ?2 AND ?3",
        "SELECT time_ms FROM read_markers WHERE account = ?1 AND target = ?2",
    ] {
        let plan = explain(sql);
        assert!(plan.contains("SEARCH"), "{sql}: {plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
    }
}
