//! What only `PostgresStore` does: a database that outlives the store and is migrated once, the
//! refusals at open (a newer schema, a server that is not there, a database that is not UTF-8)
//! that leave the data as it was, a backup that opens as SQLite, and several readers, writers
//! and stores (nodes) on one database at once.
//!
//! Each test has a database of its own on the server `CHARLA_TEST_POSTGRES` names, and skips
//! without it (see `charla_store::testing`), but for the one that needs no server.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use charla_store::testing::TestDatabase;
use charla_store::{
    AccessLevel, Anchor, HistoryQuery, HistoryRecord, PostgresStore, PresenceRecord, SqliteStore,
    Store, StoreError, Write,
};
use common::{access, account, ban, channel, fingerprint, message, scram, topic};
use postgres::{Client, NoTls};

fn all_ok(store: &dyn Store, writes: &[Write]) {
    let outcomes = store.apply(writes).expect("apply");
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
}

/// A connection of the test's own to its database, to look at it from outside the store.
fn psql(database: &TestDatabase) -> Client {
    Client::connect(database.url(), NoTls).expect("connect")
}

fn schema_version(database: &TestDatabase) -> i64 {
    psql(database)
        .query_one("SELECT version FROM schema_version", &[])
        .expect("schema_version")
        .get(0)
}

#[test]
fn data_survives_reopening_and_migrations_run_once() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let mut alice = account("alice");
    alice.scram = Some(scram(1));
    let mut chan = channel("#c", "alice");
    chan.topic = Some(topic("hola", "alice"));
    chan.lists = vec![ban("*!*@bad")];
    chan.access = vec![access("bob", AccessLevel::Op)];
    {
        let store = PostgresStore::open(database.url()).expect("create");
        all_ok(
            &store,
            &[
                Write::CreateAccount(alice.clone()),
                Write::CreateAccount(account("bob")),
                Write::AddCert {
                    account: "alice".to_owned(),
                    fingerprint: fingerprint(5),
                },
                Write::RegisterChannel(chan.clone()),
                Write::Append(message("#c", "m1", 1000)),
            ],
        );
    }
    let version = schema_version(&database);
    assert!(version >= 1);
    // A migration run again would fail (its tables exist): reopening twice shows it does not.
    for _ in 0..2 {
        let store = PostgresStore::open(database.url()).expect("reopen");
        assert_eq!(store.account("alice").expect("read"), Some(alice.clone()));
        assert_eq!(
            store.account_by_cert(&fingerprint(5)).expect("read"),
            Some(alice.clone())
        );
        assert_eq!(store.channels().expect("read"), vec![chan.clone()]);
        assert_eq!(store.history_count().expect("count"), 1);
    }
    assert_eq!(schema_version(&database), version);
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    {
        let store = PostgresStore::open(database.url()).expect("create");
        all_ok(&store, &[Write::CreateAccount(account("alice"))]);
    }
    psql(&database)
        .execute("UPDATE schema_version SET version = 999", &[])
        .expect("bump");
    match PostgresStore::open(database.url()) {
        Err(StoreError::NewerSchema { found, known, path }) => {
            assert_eq!(found, 999);
            assert!(known < 999);
            // The message names the database, never the password.
            let shown = path.display().to_string();
            assert!(shown.ends_with(database.name()), "{shown}");
            assert!(!shown.contains("charla:"), "{shown}");
        }
        Err(other) => panic!("expected NewerSchema, got {other}"),
        Ok(_) => panic!("a newer schema was opened"),
    }
    assert_eq!(schema_version(&database), 999);
    let accounts: i64 = psql(&database)
        .query_one("SELECT count(*) FROM accounts", &[])
        .expect("count")
        .get(0);
    assert_eq!(accounts, 1);
}

/// Needs no server: nothing listens on port 1.
#[test]
fn a_refused_connection_is_an_error_that_names_the_database_not_the_password() {
    let error = PostgresStore::open("postgresql://charla:s3cret@127.0.0.1:1/charla")
        .expect_err("nothing listens there");
    let text = error.to_string();
    assert!(matches!(error, StoreError::Postgres { .. }), "{error:?}");
    assert!(text.contains("cannot connect"), "{text}");
    assert!(text.contains("charla@127.0.0.1:1/charla"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");

    let error = PostgresStore::open("postgresql://charla:s3cret@127.0.0.1:notaport/charla")
        .expect_err("not a URL");
    assert!(!error.to_string().contains("s3cret"), "{error}");
}

#[test]
fn a_database_that_is_not_utf8_is_refused() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let name = format!("{}_ascii", database.name());
    let mut admin = Client::connect(database.server(), NoTls).expect("admin");
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'SQL_ASCII' \
             LC_COLLATE 'C' LC_CTYPE 'C'"
        ))
        .expect("create");
    let url = database.url().replace(database.name(), &name);
    let result = PostgresStore::open(&url);
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .expect("drop");
    match result {
        Err(StoreError::Corrupt(text)) => assert!(text.contains("UTF8"), "{text}"),
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("an SQL_ASCII database was opened"),
    }
}

#[test]
fn a_backup_opens_as_sqlite_with_the_same_records() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let store = PostgresStore::open(database.url()).expect("open");
    let mut alice = account("alice");
    alice.scram = Some(scram(2));
    alice.always_on = Some(true);
    let mut chan = channel("#c", "alice");
    chan.topic = Some(topic("¿qué tal?", "alice"));
    chan.access = vec![access("bob", AccessLevel::Voice)];
    let presence = PresenceRecord {
        account: "alice".to_owned(),
        nick: "Alice".to_owned(),
        user: "a".to_owned(),
        host: "example.org".to_owned(),
        realname: "Alice A.".to_owned(),
        channels: vec!["#c".to_owned(), "#d".to_owned()],
    };
    let mut writes = vec![
        Write::CreateAccount(alice.clone()),
        Write::CreateAccount(account("bob")),
        Write::RegisterChannel(chan.clone()),
        Write::SetPresence {
            account: "alice".to_owned(),
            presence: Some(presence.clone()),
        },
        Write::SetMetadata {
            target: "c:#c".to_owned(),
            key: "avatar".to_owned(),
            value: Some("https://example.org/a.png".to_owned()),
        },
    ];
    // More entries than one batch of the copy, in two targets.
    for i in 0..2500 {
        let target = if i % 5 == 0 { "#d" } else { "#c" };
        writes.push(Write::Append(message(target, &format!("m{i}"), 1000 + i)));
    }
    all_ok(&store, &writes);
    all_ok(
        &store,
        &[Write::Redact {
            msgid: "m1".to_owned(),
            redaction: HistoryRecord {
                command: "REDACT".to_owned(),
                params: vec!["#c".to_owned(), "m1".to_owned()],
                ..message("#c", "r1", 5000)
            },
        }],
    );

    let dir = tempfile::TempDir::new().expect("temp dir");
    let dest = dir.path().join("copy.db");
    store.backup(&dest).expect("backup");
    let copy = SqliteStore::open(&dest).expect("the backup opens");
    assert_eq!(copy.account("alice").expect("read"), Some(alice));
    assert_eq!(copy.channel("#c").expect("read"), Some(chan));
    assert_eq!(copy.presences().expect("read"), vec![presence]);
    assert_eq!(
        copy.metadata("c:#c").expect("read"),
        store.metadata("c:#c").expect("read")
    );
    assert_eq!(copy.history_count().expect("count"), 2500);
    for target in ["#c", "#d"] {
        let entries = |store: &dyn Store| {
            let mut entries = store
                .history(target, &HistoryQuery::Latest(None), 5000)
                .expect("history")
                .expect("answer");
            entries.iter_mut().for_each(|entry| entry.seq = 0);
            entries
        };
        assert_eq!(entries(&copy), entries(&store), "{target}");
    }
}

/// Readers on their own connections see whole commits only, in `seq` order, while a writer
/// commits batches.
#[test]
fn readers_see_whole_commits_while_a_writer_commits() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    const BATCH: usize = 20;
    const BATCHES: usize = 30;
    let store = Arc::new(PostgresStore::open(database.url()).expect("open"));
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let store = Arc::clone(&store);
            let done = Arc::clone(&done);
            thread::spawn(move || {
                let mut reads = 0;
                while !done.load(Ordering::Relaxed) || reads == 0 {
                    let count = store.history_count().expect("count");
                    assert_eq!(count % BATCH as u64, 0, "half a commit seen: {count}");
                    let entries = store
                        .history("#c", &HistoryQuery::Latest(None), 10_000)
                        .expect("history")
                        .expect("answer");
                    assert_eq!(entries.len() % BATCH, 0);
                    assert!(entries.windows(2).all(|w| w[0].seq < w[1].seq));
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for batch in 0..BATCHES {
        let writes: Vec<_> = (0..BATCH)
            .map(|i| Write::Append(message("#c", &format!("m{batch}-{i}"), 1)))
            .collect();
        all_ok(&*store, &writes);
    }
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        assert!(reader.join().expect("reader") > 0);
    }
    assert_eq!(
        store.history_count().expect("count"),
        (BATCH * BATCHES) as u64
    );
}

/// Two stores on one database (two server nodes) writing at once: `seq` follows commit order
/// across both, so a reader paging forward by msgid, as a client does, skips nothing (a seq
/// handed out before another but committed after it would fall behind the reader's anchor).
#[test]
fn two_stores_on_one_database_keep_seq_in_commit_order() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    // Batches, so that the two writers' transactions overlap: a seq handed out while the other
    // transaction is open is what commit order must not let the reader see too early.
    const BATCH: usize = 10;
    const EACH: usize = 200;
    let done = Arc::new(AtomicBool::new(false));
    // Every store open before anyone writes, so that the writes overlap and the reader reads
    // all along.
    let store = PostgresStore::open(database.url()).expect("open");
    let stores: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|node| (node, PostgresStore::open(database.url()).expect("open")))
        .collect();
    let reader = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut seen: Vec<String> = Vec::new();
            loop {
                // Read `done` first: a read after it was set sees every commit.
                let last_round = done.load(Ordering::SeqCst);
                let query = match seen.last() {
                    Some(last) => HistoryQuery::After(Anchor::Msgid(last.clone())),
                    None => HistoryQuery::After(Anchor::Time(i64::MIN)),
                };
                let page = store.history("#c", &query, 1000).expect("history");
                seen.extend(page.expect("anchor").into_iter().map(|e| e.msgid));
                if last_round {
                    return seen;
                }
            }
        })
    };
    let writers: Vec<_> = stores
        .into_iter()
        .map(|(node, store)| {
            thread::spawn(move || {
                for batch in (0..EACH).step_by(BATCH) {
                    let writes: Vec<_> = (batch..batch + BATCH)
                        .map(|i| Write::Append(message("#c", &format!("{node}{i}"), 1)))
                        .collect();
                    all_ok(&store, &writes);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer");
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.join().expect("reader");

    let store = PostgresStore::open(database.url()).expect("open");
    let entries = store
        .history("#c", &HistoryQuery::Latest(None), 1000)
        .expect("history")
        .expect("answer");
    assert_eq!(entries.len(), 2 * EACH);
    assert!(entries.windows(2).all(|w| w[0].seq < w[1].seq));
    let all: Vec<String> = entries.into_iter().map(|e| e.msgid).collect();
    let skipped: Vec<&String> = all.iter().filter(|m| !seen.contains(m)).collect();
    assert!(
        skipped.is_empty(),
        "the reader paging forward skipped {} entries: {:?}...",
        skipped.len(),
        &skipped[..skipped.len().min(5)]
    );
    assert_eq!(seen, all);
    for node in ["a", "b"] {
        let mine: Vec<_> = all
            .iter()
            .filter(|m| m.starts_with(node))
            .cloned()
            .collect();
        let written: Vec<_> = (0..EACH).map(|i| format!("{node}{i}")).collect();
        assert_eq!(mine, written);
    }
}

/// The blocking client closes its connections with a runtime of its own, which must not happen
/// on a thread that drives async tasks (a server dropping its store on an error path).
#[test]
fn a_store_dropped_in_async_code_does_not_panic() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let store = PostgresStore::open(database.url()).expect("open");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async move { drop(store) });
}

/// A restart of PostgreSQL (here: every connection of the store ended by an administrator)
/// costs no failed call: each connection is found ended at its next use and opened again. A
/// backend ended while idle may answer the next statement with its FATAL error before the
/// client sees the socket close; several rounds meet that race (the first one alone rarely
/// does).
#[test]
fn the_store_carries_on_when_the_server_ends_its_connections() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let store = PostgresStore::open(database.url()).expect("open");
    all_ok(&store, &[Write::CreateAccount(account("alice"))]);
    let mut admin = psql(&database);
    const ROUNDS: usize = 8;
    for round in 0..ROUNDS {
        let ended: i64 = admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .expect("terminate")
            .get(0);
        // The writer and every reader.
        assert!(ended > charla_store::postgres::READERS as i64, "{ended}");
        // Every reader is met at least once.
        for _ in 0..2 * charla_store::postgres::READERS {
            let read = store.account("alice");
            assert_eq!(read.expect("read"), Some(account("alice")), "round {round}");
        }
        all_ok(
            &store,
            &[Write::CreateAccount(account(&format!("bob{round}")))],
        );
    }
    assert_eq!(store.account_count().expect("count"), 1 + ROUNDS as u64);
}
