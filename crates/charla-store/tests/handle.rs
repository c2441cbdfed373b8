//! `StoreHandle`: async reads and group-committed writes from many tokio tasks.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use charla_store::{
    AccountRecord, ChannelRecord, Conflict, MemoryStore, SqliteStore, Store, StoreError,
    StoreHandle, Write,
};
use common::{account, channel, fingerprint};
use tempfile::TempDir;

/// A store that counts `apply` calls and takes a little time over each, as a disk would, so
/// that writes arriving meanwhile wait for the next group commit. It can also be made to fail.
struct Counting<S> {
    inner: S,
    applies: AtomicUsize,
    writes: AtomicUsize,
    fail: bool,
}

impl<S: Store> Counting<S> {
    fn new(inner: S) -> Self {
        Counting {
            inner,
            applies: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
            fail: false,
        }
    }

    fn failing(inner: S) -> Self {
        Counting {
            fail: true,
            ..Counting::new(inner)
        }
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
    fn channel(&self, key: &str) -> Result<Option<ChannelRecord>, StoreError> {
        self.inner.channel(key)
    }
    fn channels(&self) -> Result<Vec<ChannelRecord>, StoreError> {
        self.inner.channels()
    }
    fn channels_of(&self, founder: &str) -> Result<Vec<String>, StoreError> {
        self.inner.channels_of(founder)
    }
    fn apply(&self, writes: &[Write]) -> Result<Vec<Result<(), Conflict>>, StoreError> {
        self.applies.fetch_add(1, Ordering::SeqCst);
        self.writes.fetch_add(writes.len(), Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(2));
        if self.fail {
            return Err(StoreError::Full("the disk is full (test)".to_owned()));
        }
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
