//! What only `SqliteStore` does: a real file that survives a restart, and the refusals at open
//! (damaged, foreign, newer, read-only) that leave the file as it was; backup under load.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use charla_store::{AccessLevel, Anchor, HistoryQuery, SqliteStore, Store, StoreError, Write};
use common::{access, account, ban, channel, fingerprint, message, scram, topic};
use tempfile::TempDir;

fn db_in(dir: &TempDir) -> PathBuf {
    dir.path().join("data").join("charla.db")
}

fn all_ok(store: &dyn Store, writes: &[Write]) {
    let outcomes = store.apply(writes).expect("apply");
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
}

#[test]
fn data_survives_close_and_reopen() {
    let dir = TempDir::new().expect("temp dir");
    let path = db_in(&dir);
    let mut alice = account("alice");
    alice.scram = Some(scram(1));
    alice.verified = true;
    let mut chan = channel("#c", "alice");
    chan.topic = Some(topic("hello", "alice"));
    chan.lists = vec![ban("*!*@bad")];
    chan.access = vec![access("bob", AccessLevel::Voice)];
    {
        // The directory does not exist yet: it is created on first start.
        let store = SqliteStore::open(&path).expect("create");
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
            ],
        );
    }
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(store.account("alice").expect("read"), Some(alice.clone()));
    assert_eq!(store.account_count().expect("count"), 2);
    assert_eq!(
        store.account_by_cert(&fingerprint(5)).expect("read"),
        Some(alice)
    );
    assert_eq!(store.channels().expect("read"), vec![chan]);

    // The schema is at the newest version, and WAL with full sync is on.
    let conn = rusqlite::Connection::open(&path).expect("inspect");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("user_version");
    assert!(version >= 1);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal");
}

#[test]
fn history_survives_close_and_reopen() {
    let dir = TempDir::new().expect("temp dir");
    let path = db_in(&dir);
    let mut spanish = message("#c", "m2", 2000);
    spanish.params = vec!["#c".to_owned(), "¿Qué tal, ñandú?".to_owned()];
    let written;
    {
        let store = SqliteStore::open(&path).expect("create");
        all_ok(
            &store,
            &[
                Write::Append(message("#c", "m1", 1000)),
                Write::Append(spanish),
                Write::Append(message("#d", "d1", 1500)),
                Write::Converse {
                    owner: "alice".to_owned(),
                    peer: "Bob".to_owned(),
                    target: "pm:alice:bob".to_owned(),
                    time_ms: 3000,
                },
                Write::SetReadMarker {
                    account: "alice".to_owned(),
                    target: "#c".to_owned(),
                    time_ms: 1000,
                },
            ],
        );
        written = store
            .history("#c", &HistoryQuery::Latest(None), 10)
            .expect("read")
            .expect("answer");
    }
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(
        store
            .history("#c", &HistoryQuery::Latest(None), 10)
            .expect("read")
            .expect("answer"),
        written
    );
    assert_eq!(written[1].params[1], "¿Qué tal, ñandú?");
    assert_eq!(store.history_count().expect("count"), 3);
    assert_eq!(store.read_marker("alice", "#c").expect("read"), Some(1000));
    assert_eq!(
        store
            .history_targets("alice", &["#c".to_owned()], 0, 5000, 10)
            .expect("read")
            .len(),
        2
    );
    // Seqs go on from where they were, never given twice.
    all_ok(&store, &[Write::Append(message("#c", "m3", 3000))]);
    let after = store
        .history(
            "#c",
            &HistoryQuery::After(Anchor::Msgid("m2".to_owned())),
            10,
        )
        .expect("read")
        .expect("answer");
    assert!(after[0].seq > written[1].seq);
}

/// Takes a database back to schema version 1, as the first Charla left it: the tables that
/// A redaction leaves no trace of the text in the database or its WAL, even while the store
/// stays open (other connections, readers, a later restart).
#[test]
fn a_redacted_text_leaves_the_files() {
    let dir = TempDir::new().expect("temp dir");
    let path = db_in(&dir);
    let store = SqliteStore::open(&path).expect("create");
    let secret = "contraseña-muy-secreta-123";
    let mut said = message("#c", "m1", 1000);
    said.params[1] = secret.to_owned();
    all_ok(
        &store,
        &[
            Write::Append(message("#c", "m0", 900)),
            Write::Append(said),
            Write::Append(message("#c", "m2", 1100)),
        ],
    );
    let in_files = || {
        ["charla.db", "charla.db-wal"].iter().any(|file| {
            let bytes = fs::read(path.with_file_name(file)).unwrap_or_default();
            bytes.windows(secret.len()).any(|w| w == secret.as_bytes())
        })
    };
    assert!(in_files(), "the text is written somewhere to begin with");
    let mut redaction = message("#c", "r1", 1200);
    redaction.command = "REDACT".to_owned();
    redaction.params = vec!["#c".to_owned(), "m1".to_owned()];
    all_ok(
        &store,
        &[Write::Redact {
            msgid: "m1".to_owned(),
            redaction,
        }],
    );
    assert!(!in_files(), "the redacted text is still on disk");
    let left = store
        .history("#c", &HistoryQuery::Latest(None), 10)
        .expect("history")
        .expect("target");
    let ids: Vec<&str> = left.iter().map(|e| e.msgid.as_str()).collect();
    assert_eq!(ids, ["m0", "m2", "r1"]);
}

/// versions 2 to 8 added (history, conversations, read markers, search, metadata, always-on,
/// batched search indexing, files)
/// do not exist.
fn downgrade_to_version_1(path: &Path) {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.execute_batch(
        "DROP TABLE files; DROP TRIGGER history_text_delete; DROP TABLE search_progress; \
         DROP TABLE presences; ALTER TABLE accounts DROP COLUMN always_on; \
         DROP TRIGGER metadata_account_gone; DROP TRIGGER metadata_channel_gone; \
         DROP TABLE metadata; \
         DROP TABLE history_text; DROP TABLE history; DROP TABLE conversations; \
         DROP TABLE read_markers; DELETE FROM sqlite_sequence; PRAGMA user_version = 1;",
    )
    .expect("downgrade");
}

/// Takes a database back to schema version 2: no search index (version 3), no metadata (4),
/// no always-on choice (5), no presences (6), no batched indexing (7), no files (8), history
/// indexed by target and `seq` (9).
fn downgrade_to_version_2(path: &Path) {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.execute_batch(
        "CREATE INDEX history_by_target ON history (target, seq); \
         DROP TABLE files; DROP TRIGGER history_text_delete; DROP TABLE search_progress; \
         DROP TABLE presences; ALTER TABLE accounts DROP COLUMN always_on; \
         DROP TRIGGER metadata_account_gone; DROP TRIGGER metadata_channel_gone; \
         DROP TABLE metadata; \
         DROP TABLE history_text; PRAGMA user_version = 2;",
    )
    .expect("downgrade");
}

#[test]
fn messages_kept_before_the_search_index_existed_are_found_after_the_upgrade() {
    let dir = TempDir::new().expect("temp dir");
    let path = db_in(&dir);
    {
        let store = SqliteStore::open(&path).expect("create");
        let mut said = message("#c", "m1", 1000);
        said.params = vec!["#c".to_owned(), "¿Qué tal?".to_owned()];
        all_ok(&store, &[Write::Append(said)]);
    }
    downgrade_to_version_2(&path);
    let store = SqliteStore::open(&path).expect("upgrade");
    let query = charla_store::SearchQuery {
        text: "que".to_owned(),
        after_ms: None,
        before_ms: None,
        limit: 10,
    };
    let found = store
        .search("", &["#c".to_owned()], &query)
        .expect("search");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].msgid, "m1");
}

#[test]
fn a_database_of_the_previous_version_is_upgraded_in_place() {
    let dir = TempDir::new().expect("temp dir");
    let path = db_in(&dir);
    let mut chan = channel("#c", "alice");
    chan.access = vec![access("bob", AccessLevel::Op)];
    {
        let store = SqliteStore::open(&path).expect("create");
        all_ok(
            &store,
            &[
                Write::CreateAccount(account("alice")),
                Write::CreateAccount(account("bob")),
                Write::AddCert {
                    account: "alice".to_owned(),
                    fingerprint: fingerprint(1),
                },
                Write::RegisterChannel(chan.clone()),
            ],
        );
    }
    downgrade_to_version_1(&path);
    let version = |path: &Path| -> i64 {
        rusqlite::Connection::open(path)
            .expect("inspect")
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("user_version")
    };
    assert_eq!(version(&path), 1);

    let store = SqliteStore::open(&path).expect("upgrade");
    let upgraded = version(&path);
    assert!(upgraded >= 2, "still at version {upgraded}");
    // What version 1 held is all there.
    assert_eq!(store.account_count().expect("count"), 2);
    assert_eq!(
        store.account("alice").expect("read"),
        Some(account("alice"))
    );
    assert_eq!(
        store.account_by_cert(&fingerprint(1)).expect("read"),
        Some(account("alice"))
    );
    assert_eq!(store.channels().expect("read"), vec![chan]);
    // And what version 2 adds works.
    assert_eq!(store.history_count().expect("count"), 0);
    all_ok(
        &store,
        &[
            Write::Append(message("#c", "m1", 1000)),
            Write::SetReadMarker {
                account: "alice".to_owned(),
                target: "#c".to_owned(),
                time_ms: 1000,
            },
        ],
    );
    assert_eq!(store.history_count().expect("count"), 1);
    drop(store);
    // Opening again migrates nothing more.
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(version(&path), upgraded);
    assert_eq!(store.history_count().expect("count"), 1);
}

/// Opens `path`, expects a refusal, and checks that the file is byte for byte what it was.
fn expect_refusal_leaves_file(path: &Path) -> StoreError {
    let before = fs::read(path).expect("read before");
    let error = SqliteStore::open(path).expect_err("the file must be refused");
    assert_eq!(
        fs::read(path).expect("read after"),
        before,
        "the file was changed"
    );
    let message = error.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "the message names the file: {message}"
    );
    error
}

#[test]
fn a_file_that_is_not_a_database_is_corrupt() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("charla.db");
    fs::write(&path, b"these are my notes, not a database\n".repeat(200)).expect("write");
    let error = expect_refusal_leaves_file(&path);
    assert!(matches!(error, StoreError::Corrupt(_)), "{error}");
}

#[test]
fn a_damaged_database_is_corrupt() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("charla.db");
    {
        let store = SqliteStore::open(&path).expect("create");
        let writes: Vec<_> = (0..200)
            .map(|i| Write::CreateAccount(account(&format!("user{i}"))))
            .collect();
        all_ok(&store, &writes);
    }
    // Overwrite the pages after the first with noise: the header still says "SQLite".
    let mut bytes = fs::read(&path).expect("read");
    assert!(bytes.len() > 8192, "the database has several pages");
    for (i, byte) in bytes.iter_mut().enumerate().skip(4096) {
        *byte = (i % 251) as u8;
    }
    fs::write(&path, &bytes).expect("damage");
    let error = expect_refusal_leaves_file(&path);
    assert!(matches!(error, StoreError::Corrupt(_)), "{error}");
}

#[test]
fn a_database_from_a_newer_charla_is_not_touched() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("charla.db");
    {
        drop(SqliteStore::open(&path).expect("create"));
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.pragma_update(None, "user_version", 999)
            .expect("bump version");
    }
    let error = expect_refusal_leaves_file(&path);
    match error {
        StoreError::NewerSchema { found, known, .. } => {
            assert_eq!(found, 999);
            assert!(known < 999);
        }
        other => panic!("expected NewerSchema, got {other}"),
    }
}

#[test]
fn a_database_of_another_program_is_refused() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('mine');")
            .expect("write");
    }
    let error = expect_refusal_leaves_file(&path);
    assert!(matches!(error, StoreError::Corrupt(_)), "{error}");
}

#[test]
fn an_empty_file_becomes_a_new_database() {
    // An empty file is how SQLite (and `touch`) start one: nothing there to lose.
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("charla.db");
    fs::write(&path, b"").expect("touch");
    let store = SqliteStore::open(&path).expect("open");
    assert_eq!(store.account_count().expect("count"), 0);
}

// --- Read-only files and directories ------------------------------------------------------
//
// Permissions do not stop root (CAP_DAC_OVERRIDE), and tests often run as root. Opening the
// database with SQLITE_OPEN_READ_ONLY would test nothing of the real case (a server whose user
// may not write its data). So when the permissions do not bind this process, the check runs in
// a child process — this test binary again, as user `nobody` — where they do. When even that is
// impossible (no privilege to change user, binary not reachable by `nobody`), the test says so
// on stderr and does not claim a pass it did not check.

/// Set in the child: the database path the child must find read-only.
const CHILD_ENV: &str = "CHARLA_STORE_READ_ONLY_CHILD";
const NOBODY: u32 = 65534;

/// Whether file permissions bind this process (false for root).
fn permissions_bind_us() -> bool {
    let dir = TempDir::new().expect("temp dir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o500)).expect("chmod");
    let bound = fs::write(dir.path().join("probe"), b"x").is_err();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).expect("chmod back");
    bound
}

/// The child's half: run only when [`CHILD_ENV`] is set (by [`expect_read_only`]).
#[test]
fn read_only_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let error = SqliteStore::open(Path::new(&path)).expect_err("must be refused");
    assert!(matches!(error, StoreError::ReadOnly(_)), "{error}");
    eprintln!("child refused as expected: {error}");
}

/// Expects `SqliteStore::open(path)` to fail with `ReadOnly`, here or, as root, as `nobody`.
/// Returns whether the check actually ran.
fn expect_read_only(dir: &TempDir, path: &Path) -> bool {
    if permissions_bind_us() {
        let error = SqliteStore::open(path).expect_err("must be refused");
        assert!(matches!(error, StoreError::ReadOnly(_)), "{error}");
        return true;
    }
    use std::os::unix::process::CommandExt;
    // `nobody` must be able to reach the directory (TempDir makes it 0700).
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let exe = std::env::current_exe().expect("test binary");
    let output = std::process::Command::new(exe)
        .args([
            "--exact",
            "read_only_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, path)
        .uid(NOBODY)
        .gid(NOBODY)
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) => {
            eprintln!(
                "NOTE: read-only check skipped: running as root and cannot start a child as nobody ({e})"
            );
            return false;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success()
        && stderr.contains("Permission denied")
        && !stdout.contains("read_only_child")
    {
        eprintln!(
            "NOTE: read-only check skipped: the test binary is not runnable by nobody: {stderr}"
        );
        return false;
    }
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the child (as nobody) failed:\n{stdout}\n{stderr}"
    );
    eprintln!("checked as nobody: {}", stderr.trim());
    true
}

#[test]
fn a_read_only_file_is_refused() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("charla.db");
    {
        let store = SqliteStore::open(&path).expect("create");
        all_ok(&store, &[Write::CreateAccount(account("alice"))]);
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).expect("chmod");
    let before = fs::read(&path).expect("read");
    let checked = expect_read_only(&dir, &path);
    assert_eq!(fs::read(&path).expect("read"), before);
    eprintln!("read-only file checked: {checked}");
}

#[test]
fn a_read_only_directory_is_refused() {
    let dir = TempDir::new().expect("temp dir");
    let existing = dir.path().join("existing.db");
    drop(SqliteStore::open(&existing).expect("create"));
    let fresh = dir.path().join("fresh.db");
    if permissions_bind_us() {
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o555)).expect("chmod");
    } else {
        // As `nobody`, a root-owned 0755 directory is read-only; the file is nobody's own, so
        // only the directory stands in the way.
        std::os::unix::fs::chown(&existing, Some(NOBODY), Some(NOBODY)).expect("chown");
    }
    let checked_existing = expect_read_only(&dir, &existing);
    let checked_fresh = expect_read_only(&dir, &fresh);
    assert!(!fresh.exists(), "nothing was created");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).expect("chmod back");
    eprintln!("read-only directory checked: {checked_existing} {checked_fresh}");
}

// --- Backup -----------------------------------------------------------------------------------

#[test]
fn backup_while_writes_go_on_is_a_consistent_copy() {
    const BASE: usize = 100;
    const BATCH: usize = 500;
    const BATCHES: usize = 6;
    let dir = TempDir::new().expect("temp dir");
    let store = Arc::new(SqliteStore::open(&db_in(&dir)).expect("create"));
    let base: Vec<_> = (0..BASE)
        .map(|i| Write::CreateAccount(account(&format!("base{i}"))))
        .collect();
    all_ok(&*store, &base);

    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let store = Arc::clone(&store);
        let done = Arc::clone(&done);
        thread::spawn(move || {
            for batch in 0..BATCHES {
                let writes: Vec<_> = (0..BATCH)
                    .map(|i| Write::CreateAccount(account(&format!("b{batch}u{i}"))))
                    .collect();
                all_ok(&*store, &writes);
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    // Back up again and again while the batches are being written.
    let mut counts = Vec::new();
    for round in 0.. {
        let finished = done.load(Ordering::SeqCst);
        let dest = dir.path().join(format!("backup-{round}.db"));
        store.backup(&dest).expect("backup");
        let copy = SqliteStore::open(&dest).expect("the backup opens");
        let count = copy.account_count().expect("count") as usize;
        // Whole batches only: a backup is one snapshot, never half a transaction.
        assert_eq!(
            (count - BASE) % BATCH,
            0,
            "backup {round} holds {count} accounts"
        );
        assert!(copy.account("base0").expect("read").is_some());
        counts.push(count);
        if finished {
            break;
        }
    }
    writer.join().expect("writer");
    // The backup taken after the writer finished holds everything.
    assert_eq!(counts.last().copied(), Some(BASE + BATCH * BATCHES));
    eprintln!("accounts seen by the backups during the writes: {counts:?}");
}

#[test]
fn backup_never_replaces_a_file() {
    let dir = TempDir::new().expect("temp dir");
    let store = SqliteStore::open(&db_in(&dir)).expect("create");
    let dest = dir.path().join("precious.txt");
    fs::write(&dest, b"keep me").expect("write");
    let error = store.backup(&dest).expect_err("refused");
    assert!(matches!(error, StoreError::Io { .. }), "{error}");
    assert_eq!(fs::read(&dest).expect("read"), b"keep me");
}

#[test]
fn messages_waiting_for_the_search_index_are_found_redacted_and_found_after_a_restart() {
    let dir = TempDir::new().expect("temp dir");
    let path = db_in(&dir);
    let query = |text: &str| charla_store::SearchQuery {
        text: text.to_owned(),
        after_ms: None,
        before_ms: None,
        limit: 10,
    };
    let said = |msgid: &str, text: &str, time_ms: i64| {
        let mut m = message("#c", msgid, time_ms);
        m.params = vec!["#c".to_owned(), text.to_owned()];
        m
    };
    {
        let store = SqliteStore::open(&path).expect("create");
        all_ok(
            &store,
            &[
                Write::Append(said("m1", "hola mundo", 1000)),
                Write::Append(said("m2", "adiós mundo", 2000)),
            ],
        );
        // Indexed in batches, but a search finds everything committed.
        let found = store
            .search("", &["#c".to_owned()], &query("mundo"))
            .expect("search");
        assert_eq!(found.len(), 2);
        // A message redacted before the index took it is simply never found.
        all_ok(&store, &[Write::Append(said("m3", "secreto mundo", 3000))]);
        let mut redaction = message("#c", "r1", 3500);
        redaction.command = "REDACT".to_owned();
        redaction.params = vec!["#c".to_owned(), "m3".to_owned()];
        all_ok(
            &store,
            &[Write::Redact {
                msgid: "m3".to_owned(),
                redaction,
            }],
        );
        let found = store
            .search("", &["#c".to_owned()], &query("secreto"))
            .expect("search");
        assert!(found.is_empty());
        all_ok(&store, &[Write::Append(said("m4", "último mundo", 4000))]);
    }
    // m4 was committed and not indexed when the store closed: found after it opens again.
    let store = SqliteStore::open(&path).expect("reopen");
    let found = store
        .search("", &["#c".to_owned()], &query("ultimo"))
        .expect("search");
    let ids: Vec<&str> = found.iter().map(|e| e.msgid.as_str()).collect();
    assert_eq!(ids, ["m4"]);
}
