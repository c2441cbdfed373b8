//! `StoreHandle`: async reads and group-committed writes from many tokio tasks.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use charla_store::{
    AccountRecord, Anchor, ChannelRecord, Conflict, HistoryQuery, HistoryRecord, Kinds,
    MemoryStore, Receipt, SearchQuery, SqliteStore, Store, StoreError, StoreHandle, TargetRecord,
    Write,
};
use common::{account, channel, fingerprint, message};
use tempfile::TempDir;

/// A store that counts `apply` calls and takes a little time over each, as a disk would, so
/// that writes arriving meanwhile wait for the next group commit. It can also be made to fail,
/// to panic (as a store with a bug would), or be paused: `apply` then waits until it resumes.
struct Counting<S> {
    inner: S,
    applies: AtomicUsize,
    writes: AtomicUsize,
    fail: bool,
    panic: bool,
    paused: AtomicBool,
}

impl<S: Store> Counting<S> {
    fn new(inner: S) -> Self {
        Counting {
            inner,
            applies: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
            fail: false,
            panic: false,
            paused: AtomicBool::new(false),
        }
    }

    fn failing(inner: S) -> Self {
        Counting {
            fail: true,
            ..Counting::new(inner)
        }
    }

    fn paused(inner: S) -> Self {
        Counting {
            paused: AtomicBool::new(true),
            ..Counting::new(inner)
        }
    }

    fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }
}

impl<S: Store> Store for Counting<S> {
    fn account(&self, key: &str) -> Result<Option<AccountRecord>, StoreError> {
        self.inner.account(key)
    }
    fn account_by_cert(&self, fingerprint: &str) -> Result<Option<AccountRecord>, StoreError> {
        self.inner.account_by_cert(fingerprint)
    }
    fn certs(&self, account: &str) -> Result<Vec<String>, StoreError> {
        self.inner.certs(account)
    }
    fn account_count(&self) -> Result<u64, StoreError> {
        self.inner.account_count()
    }
    fn presences(&self) -> Result<Vec<charla_store::PresenceRecord>, StoreError> {
        self.inner.presences()
    }
    fn presence(&self, account: &str) -> Result<Option<charla_store::PresenceRecord>, StoreError> {
        self.inner.presence(account)
    }
    fn channel(&self, key: &str) -> Result<Option<ChannelRecord>, StoreError> {
        self.inner.channel(key)
    }
    fn channels(&self) -> Result<Vec<ChannelRecord>, StoreError> {
        self.inner.channels()
    }
    fn channels_of(&self, founder: &str) -> Result<Vec<String>, StoreError> {
        self.inner.channels_of(founder)
    }
    fn history_of(
        &self,
        target: &str,
        query: &HistoryQuery,
        limit: usize,
        kinds: Kinds,
    ) -> Result<Option<Vec<HistoryRecord>>, StoreError> {
        self.inner.history_of(target, query, limit, kinds)
    }
    fn search(
        &self,
        owner: &str,
        targets: &[String],
        query: &SearchQuery,
    ) -> Result<Vec<HistoryRecord>, StoreError> {
        self.inner.search(owner, targets, query)
    }
    fn history_targets(
        &self,
        owner: &str,
        channels: &[String],
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<TargetRecord>, StoreError> {
        self.inner
            .history_targets(owner, channels, from_ms, to_ms, limit)
    }
    fn read_marker(&self, account: &str, target: &str) -> Result<Option<i64>, StoreError> {
        self.inner.read_marker(account, target)
    }
    fn history_count(&self) -> Result<u64, StoreError> {
        self.inner.history_count()
    }
    fn file(&self, id: &str) -> Result<Option<charla_store::FileRecord>, StoreError> {
        self.inner.file(id)
    }
    fn files_of(&self, owner: &str) -> Result<Vec<charla_store::FileRecord>, StoreError> {
        self.inner.files_of(owner)
    }
    fn files_size(&self, owner: &str) -> Result<u64, StoreError> {
        self.inner.files_size(owner)
    }
    fn files_before(
        &self,
        before_ms: i64,
        limit: usize,
    ) -> Result<Vec<charla_store::FileRecord>, StoreError> {
        self.inner.files_before(before_ms, limit)
    }
    fn file_hash_used(&self, sha256: &str) -> Result<bool, StoreError> {
        self.inner.file_hash_used(sha256)
    }
    fn metadata(&self, target: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.metadata(target)
    }
    fn apply(&self, writes: &[Write]) -> Result<Vec<Result<(), Conflict>>, StoreError> {
        while self.paused.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.applies.fetch_add(1, Ordering::SeqCst);
        self.writes.fetch_add(writes.len(), Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(2));
        if self.fail {
            return Err(StoreError::Full("the disk is full (test)".to_owned()));
        }
        assert!(!self.panic, "a store with a bug (test)");
        self.inner.apply(writes)
    }
    fn backup(&self, dest: &Path) -> Result<(), StoreError> {
        self.inner.backup(dest)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_group_commits() {
    const TASKS: usize = 200;
    let store = Arc::new(Counting::new(MemoryStore::new()));
    let handle = StoreHandle::new(store.clone()).expect("handle");

    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let handle = handle.clone();
            tokio::spawn(async move {
                handle
                    .write(Write::CreateAccount(account(&format!("user{i}"))))
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task").expect("store"), Ok(()));
    }

    let applies = store.applies.load(Ordering::SeqCst);
    assert_eq!(store.writes.load(Ordering::SeqCst), TASKS);
    assert!(
        applies < TASKS,
        "{TASKS} writes took {applies} commits: no grouping"
    );
    assert_eq!(handle.account_count().await.expect("count"), TASKS as u64);
    assert_eq!(handle.store_errors(), 0);
    eprintln!("{TASKS} writes in {applies} group commits");
}

#[tokio::test]
async fn each_write_gets_its_own_outcome() {
    let handle = StoreHandle::new(Arc::new(MemoryStore::new())).expect("handle");
    let (first, second, orphan) = tokio::join!(
        handle.write(Write::CreateAccount(account("alice"))),
        handle.write(Write::CreateAccount(account("alice"))),
        handle.write(Write::RegisterChannel(channel("#c", "nobody"))),
    );
    // Queued in this order, so applied in this order.
    assert_eq!(first.expect("store"), Ok(()));
    assert_eq!(second.expect("store"), Err(Conflict::Exists));
    assert_eq!(orphan.expect("store"), Err(Conflict::NotFound));
}

#[tokio::test]
async fn write_later_then_flush_makes_everything_visible() {
    let store = Arc::new(Counting::new(MemoryStore::new()));
    let handle = StoreHandle::new(store.clone()).expect("handle");
    handle.write_later(Write::CreateAccount(account("alice")));
    for i in 0..100u8 {
        handle.write_later(Write::AddCert {
            account: "alice".to_owned(),
            fingerprint: fingerprint(i),
        });
    }
    handle.write_later(Write::RegisterChannel(channel("#c", "alice")));
    handle.flush().await;

    assert_eq!(store.writes.load(Ordering::SeqCst), 102);
    assert_eq!(handle.certs("alice").await.expect("read").len(), 100);
    assert_eq!(
        handle.account_by_cert(&fingerprint(7)).await.expect("read"),
        Some(account("alice"))
    );
    assert_eq!(
        handle.channel("#c").await.expect("read"),
        Some(channel("#c", "alice"))
    );
    assert_eq!(handle.channels_of("alice").await.expect("read"), vec!["#c"]);
    assert_eq!(handle.channels().await.expect("read").len(), 1);
    assert_eq!(
        handle.account("alice").await.expect("read"),
        Some(account("alice"))
    );
    assert_eq!(handle.store_errors(), 0);
}

#[tokio::test]
async fn each_group_commit_is_timed_for_its_observer() {
    let store = Arc::new(Counting::new(MemoryStore::new()));
    let handle = StoreHandle::new(store.clone()).expect("handle");
    let commits = Arc::new(AtomicUsize::new(0));
    let seen = commits.clone();
    assert!(handle.observe_commits(move |took| {
        // Counting takes a little time over each apply, as a disk would.
        assert!(took > Duration::ZERO);
        seen.fetch_add(1, Ordering::SeqCst);
    }));
    // Only the first observer is kept.
    assert!(!handle.observe_commits(|_| {}));
    handle
        .write(Write::CreateAccount(account("alice")))
        .await
        .expect("store")
        .expect("created");
    handle.write_later(Write::RegisterChannel(channel("#c", "alice")));
    handle.flush().await;
    assert_eq!(
        commits.load(Ordering::SeqCst),
        store.applies.load(Ordering::SeqCst)
    );
    assert!(commits.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn a_failed_commit_reaches_every_waiter_and_is_counted() {
    let handle = StoreHandle::new(Arc::new(Counting::failing(MemoryStore::new()))).expect("handle");
    handle.write_later(Write::CreateAccount(account("bob")));
    let (first, second) = tokio::join!(
        handle.write(Write::CreateAccount(account("alice"))),
        handle.write(Write::CreateAccount(account("carol"))),
    );
    assert!(matches!(first, Err(StoreError::Full(_))), "{first:?}");
    assert!(matches!(second, Err(StoreError::Full(_))), "{second:?}");
    handle.flush().await;
    assert_eq!(handle.store_errors(), 3);
    assert_eq!(handle.account_count().await.expect("count"), 0);
}

#[tokio::test]
async fn dropping_the_last_handle_finishes_queued_writes_and_ends_the_threads() {
    let store = Arc::new(MemoryStore::new());
    let handle = StoreHandle::new(store.clone()).expect("handle");
    let clone = handle.clone();
    for i in 0..50 {
        clone.write_later(Write::CreateAccount(account(&format!("user{i}"))));
    }
    drop(handle);
    drop(clone);
    // The threads hold the other references to the store; they let go when they end.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Arc::strong_count(&store) > 1 {
        assert!(Instant::now() < deadline, "the store's threads did not end");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(store.account_count().expect("count"), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_the_handle_are_durable_in_sqlite() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("charla.db");
    {
        let store = Arc::new(Counting::new(SqliteStore::open(&path).expect("open")));
        let handle = StoreHandle::new(store.clone()).expect("handle");
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let handle = handle.clone();
                tokio::spawn(async move {
                    handle
                        .write(Write::CreateAccount(account(&format!("ñandú{i}"))))
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.expect("task").expect("store"), Ok(()));
        }
        assert!(store.applies.load(Ordering::SeqCst) < 100);
        let backup = dir.path().join("backup.db");
        handle.backup(backup.clone()).await.expect("backup");
        let copy = SqliteStore::open(&backup).expect("open backup");
        assert_eq!(copy.account_count().expect("count"), 100);
    }
    let reopened = SqliteStore::open(&path).expect("reopen");
    assert_eq!(reopened.account_count().expect("count"), 100);
    assert!(reopened.account("ñandú42").expect("read").is_some());
}

/// Waits for a receipt, failing the test rather than hanging.
async fn settle(receipt: &Receipt) -> Result<Result<(), Conflict>, StoreError> {
    tokio::time::timeout(Duration::from_secs(20), receipt.wait())
        .await
        .expect("the receipt never resolved")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_resolve_in_order_and_only_once_done() {
    let store = Arc::new(Counting::paused(MemoryStore::new()));
    let handle = StoreHandle::new(store.clone()).expect("handle");
    let mut receipts = vec![
        handle
            .append(Write::CreateAccount(account("alice")))
            .expect("queued"),
        handle
            .append(Write::CreateAccount(account("alice")))
            .expect("queued"),
    ];
    for i in 0..50 {
        let write = Write::Append(message("#c", &format!("m{i}"), 1000 + i));
        receipts.push(handle.append(write).expect("queued"));
    }
    receipts.push(
        handle
            .append(Write::Append(message("#other", "m7", 5000)))
            .expect("queued"),
    );
    // Nothing is committed while the store is paused.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(receipts.iter().all(|r| r.outcome().is_none()));
    let clone = receipts[0].clone();
    let early_waiter = tokio::spawn(async move { settle(&clone).await });

    store.resume();
    // Once the last is done, every earlier one is: they were committed in the order queued.
    assert_eq!(
        settle(receipts.last().expect("receipts"))
            .await
            .expect("store"),
        Err(Conflict::Exists),
        "the msgid m7 was taken by #c"
    );
    assert!(receipts.iter().all(|r| r.outcome().is_some()));
    assert_eq!(settle(&receipts[0]).await.expect("store"), Ok(()));
    assert_eq!(
        settle(&receipts[1]).await.expect("store"),
        Err(Conflict::Exists)
    );
    for receipt in &receipts[2..52] {
        assert!(matches!(receipt.outcome(), Some(Ok(Ok(())))), "{receipt:?}");
    }
    // Any clone, any number of times, before or after the outcome.
    assert_eq!(early_waiter.await.expect("task").expect("store"), Ok(()));
    assert_eq!(settle(&receipts[0]).await.expect("store"), Ok(()));

    let history = handle
        .history("#c", HistoryQuery::Latest(None), 100)
        .await
        .expect("read")
        .expect("answer");
    let msgids: Vec<_> = history.iter().map(|e| e.msgid.clone()).collect();
    let expected: Vec<_> = (0..50).map(|i| format!("m{i}")).collect();
    assert_eq!(
        msgids, expected,
        "the store's order is the order of the calls"
    );
    assert_eq!(handle.history_count().await.expect("count"), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_from_several_tasks_share_group_commits() {
    const TASKS: usize = 8;
    const EACH: usize = 500;
    let store = Arc::new(Counting::new(MemoryStore::new()));
    let handle = StoreHandle::new(store.clone()).expect("handle");
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let handle = handle.clone();
            tokio::spawn(async move {
                let target = format!("#t{task}");
                // Queued without an await in between, as under a channel's lock.
                let receipts: Vec<_> = (0..EACH)
                    .map(|i| {
                        let msgid = format!("t{task}-{i}");
                        let write = Write::Append(message(&target, &msgid, i as i64));
                        handle.append(write).expect("queued")
                    })
                    .collect();
                for receipt in &receipts {
                    assert_eq!(settle(receipt).await.expect("store"), Ok(()));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let applies = store.applies.load(Ordering::SeqCst);
    assert_eq!(store.writes.load(Ordering::SeqCst), TASKS * EACH);
    assert!(
        applies < TASKS * EACH / 10,
        "{} appends took {applies} commits",
        TASKS * EACH
    );
    assert_eq!(
        handle.history_count().await.expect("count"),
        (TASKS * EACH) as u64
    );
    for task in 0..TASKS {
        let entries = handle
            .history(&format!("#t{task}"), HistoryQuery::Latest(None), EACH)
            .await
            .expect("read")
            .expect("answer");
        let msgids: Vec<_> = entries.into_iter().map(|e| e.msgid).collect();
        let expected: Vec<_> = (0..EACH).map(|i| format!("t{task}-{i}")).collect();
        assert_eq!(msgids, expected);
    }
    assert_eq!(handle.store_errors(), 0);
    eprintln!("{} appends in {applies} group commits", TASKS * EACH);
}

#[tokio::test]
async fn a_failing_store_resolves_every_receipt_to_the_error() {
    let handle = StoreHandle::new(Arc::new(Counting::failing(MemoryStore::new()))).expect("handle");
    let receipts: Vec<_> = (0..100)
        .map(|i| {
            let write = Write::Append(message("#c", &format!("m{i}"), i));
            handle.append(write).expect("queued")
        })
        .collect();
    for receipt in &receipts {
        let outcome = settle(receipt).await;
        assert!(matches!(outcome, Err(StoreError::Full(_))), "{outcome:?}");
    }
    assert_eq!(handle.store_errors(), 100);
    assert_eq!(handle.history_count().await.expect("count"), 0);
}

#[tokio::test]
async fn dropping_the_handle_still_completes_queued_receipts() {
    let store = Arc::new(Counting::paused(MemoryStore::new()));
    let handle = StoreHandle::new(store.clone()).expect("handle");
    let receipts: Vec<_> = (0..100)
        .map(|i| {
            let write = Write::Append(message("#c", &format!("m{i}"), i));
            handle.append(write).expect("queued")
        })
        .collect();
    drop(handle);
    store.resume();
    for receipt in &receipts {
        assert_eq!(settle(receipt).await.expect("store"), Ok(()));
    }
    assert_eq!(store.history_count().expect("count"), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_stops_resolves_unanswered_receipts_to_closed() {
    // The store panics in `apply`: the writer thread ends with the batch it held and the
    // writes still queued unanswered.
    let store = Arc::new(Counting {
        panic: true,
        ..Counting::paused(MemoryStore::new())
    });
    let handle = StoreHandle::new(store.clone()).expect("handle");
    let receipts: Vec<_> = (0..5000)
        .map(|i| {
            let write = Write::Append(message("#c", &format!("m{i}"), i));
            handle.append(write).expect("queued")
        })
        .collect();
    store.resume();
    for receipt in &receipts {
        let outcome = settle(receipt).await;
        assert!(matches!(outcome, Err(StoreError::Closed)), "{outcome:?}");
    }
    // The writer is gone: new writes fail at once instead of waiting.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match handle.append(Write::Append(message("#c", "late", 0))) {
            Err(StoreError::Closed) => break,
            Ok(receipt) => {
                assert!(matches!(settle(&receipt).await, Err(StoreError::Closed)));
            }
            Err(other) => panic!("expected Closed, got {other}"),
        }
        assert!(Instant::now() < deadline, "the writer's queue never closed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let outcome = handle.write(Write::CreateAccount(account("alice"))).await;
    assert!(matches!(outcome, Err(StoreError::Closed)), "{outcome:?}");
    assert_eq!(store.history_count().expect("count"), 0);
}

#[tokio::test]
async fn append_refuses_at_once_when_the_queue_is_full() {
    let store = Arc::new(Counting::paused(MemoryStore::new()));
    let handle = StoreHandle::new(store.clone()).expect("handle");
    let mut receipts = Vec::new();
    let refused = loop {
        let i = receipts.len();
        let write = Write::Append(message("#c", &format!("m{i}"), i as i64));
        match handle.append(write) {
            Ok(receipt) => receipts.push(receipt),
            Err(error) => break error,
        }
        assert!(receipts.len() < 1_000_000, "the queue never filled");
    };
    assert!(matches!(refused, StoreError::Busy(_)), "{refused}");
    assert!(refused.to_string().contains("cannot keep up"), "{refused}");
    assert_eq!(handle.store_errors(), 1);
    // `write_later` drops (and counts) what does not fit either.
    handle.write_later(Write::CreateAccount(account("alice")));
    assert_eq!(handle.store_errors(), 2);

    store.resume();
    for receipt in &receipts {
        assert_eq!(settle(receipt).await.expect("store"), Ok(()));
    }
    assert_eq!(
        handle.history_count().await.expect("count"),
        receipts.len() as u64
    );
    // Room again.
    let receipt = handle
        .append(Write::Append(message("#c", "after", 0)))
        .expect("queued");
    assert_eq!(settle(&receipt).await.expect("store"), Ok(()));
}

#[tokio::test]
async fn history_reads_through_the_handle() {
    let handle = StoreHandle::new(Arc::new(MemoryStore::new())).expect("handle");
    for write in [
        Write::Append(message("#c", "m1", 1000)),
        Write::Append(message("#c", "m2", 2000)),
        Write::Converse {
            owner: "alice".to_owned(),
            peer: "Bob".to_owned(),
            target: "pm:alice:bob".to_owned(),
            time_ms: 1500,
        },
        Write::SetReadMarker {
            account: "alice".to_owned(),
            target: "#c".to_owned(),
            time_ms: 1000,
        },
    ] {
        assert_eq!(handle.write(write).await.expect("store"), Ok(()));
    }
    let after = handle
        .history(
            "#c",
            HistoryQuery::After(Anchor::Msgid("m1".to_owned())),
            10,
        )
        .await
        .expect("read")
        .expect("answer");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].msgid, "m2");
    assert_eq!(
        handle
            .history(
                "#c",
                HistoryQuery::After(Anchor::Msgid("zz".to_owned())),
                10
            )
            .await
            .expect("read"),
        None
    );
    let targets = handle
        .history_targets("alice", vec!["#c".to_owned()], 0, 5000, 10)
        .await
        .expect("read");
    let names: Vec<_> = targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Bob", "#c"]);
    assert_eq!(
        handle.read_marker("alice", "#c").await.expect("read"),
        Some(1000)
    );
    assert_eq!(handle.read_marker("bob", "#c").await.expect("read"), None);
    assert_eq!(handle.history_count().await.expect("count"), 2);
}
