//! A store whose disk can be made "full": every write fails while it is, reads go on. Over a
//! real store (SQLite in a temporary folder, or the memory store), for the tests of what the
//! server does when it cannot record.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use charla_store::*;

/// `inner`, with writes failing while `full` is set.
pub struct FillableDisk<S> {
    /// The real store.
    pub inner: S,
    /// The disk is full: every `apply` fails with [`StoreError::Full`].
    pub full: AtomicBool,
    /// The disk has stalled: `apply` waits until it goes again.
    pub stalled: AtomicBool,
}

impl<S> FillableDisk<S> {
    /// `inner` with room on its disk.
    pub fn new(inner: S) -> Self {
        FillableDisk {
            inner,
            full: AtomicBool::new(false),
            stalled: AtomicBool::new(false),
        }
    }

    /// Stalls the disk (`true`): the store's writer waits in its next commit, and writes pile
    /// up in its queue; `false` lets it go on.
    pub fn set_stalled(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::SeqCst);
    }

    /// Fills the disk (`true`) or frees it.
    pub fn set_full(&self, full: bool) {
        self.full.store(full, Ordering::SeqCst);
    }
}

impl<S: Store> Store for FillableDisk<S> {
    fn account(&self, key: &str) -> Result<Option<AccountRecord>, StoreError> {
        self.inner.account(key)
    }
    fn account_by_cert(&self, fp: &str) -> Result<Option<AccountRecord>, StoreError> {
        self.inner.account_by_cert(fp)
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
    fn apply(&self, writes: &[Write]) -> Result<Vec<Result<(), Conflict>>, StoreError> {
        while self.stalled.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        if self.full.load(Ordering::SeqCst) {
            return Err(StoreError::Full("the test filled the disk".to_owned()));
        }
        self.inner.apply(writes)
    }
    fn backup(&self, dest: &Path) -> Result<(), StoreError> {
        self.inner.backup(dest)
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
}
