//! Charla's persistence layer: accounts, channel registrations, message history and the file
//! host's records behind one trait.
//!
//! The store knows nothing of connections or of IRC; it keeps records under keys that the
//! caller has already case-folded, and compares them byte for byte.
//!
//! - [`record`]: the records ([`AccountRecord`], [`ChannelRecord`], ...) and the [`Write`]s that
//!   change them.
//! - [`history`]: message history ([`HistoryRecord`]), the queries on it ([`HistoryQuery`]) and
//!   the conversations with activity ([`TargetRecord`]).
//! - [`Store`] (here): the contract every implementation honours.
//! - [`sqlite`]: [`SqliteStore`], the embedded default — one SQLite file in WAL mode, versioned
//!   migrations, refusal of damaged, read-only or newer databases.
//! - [`postgres`](mod@postgres): [`PostgresStore`], for several server nodes sharing one
//!   PostgreSQL database — the same schema versioning and refusals, `seq` in commit order
//!   across every node.
//! - [`memory`]: [`MemoryStore`], the same behaviour in maps, for tests.
//! - [`handle`]: [`StoreHandle`], the async facade: reads on a small pool of OS threads, writes
//!   group-committed by one writer thread, with a [`Receipt`] for a write queued without waiting.
//! - [`file`](mod@file): the file host's records ([`FileRecord`]).
//! - [`error`]: [`StoreError`] (the store failed) and [`Conflict`] (one write did not apply).
//! - `testing` (feature `test-support`, for tests only): a PostgreSQL database of its own per
//!   test, on the server `CHARLA_TEST_POSTGRES` names.

#![warn(missing_docs)]

pub mod error;
pub mod file;
pub mod handle;
pub mod history;
pub mod memory;
pub mod postgres;
pub mod record;
pub mod sqlite;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

use std::path::Path;

pub use error::{Conflict, StoreError};
pub use file::FileRecord;
pub use handle::{Answer, Receipt, StoreHandle, WRITE_QUEUE};
pub use history::{Anchor, HistoryQuery, HistoryRecord, Kinds, SearchQuery, TargetRecord};
pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use record::{
    AccessLevel, AccessRecord, AccountRecord, ChannelRecord, ListEntryRecord, PresenceRecord,
    ScramRecord, TargetKind, TopicRecord, Write,
};
pub use sqlite::{SqliteStore, Synchronous};

/// Where accounts, channel registrations and message history persist.
///
/// This is the contract a second implementation (PostgreSQL) must honour; the test suite in
/// `tests/suite/` checks it against every implementation.
///
/// - **Keys** (`key`, `founder`, `account`, channel keys, fingerprints, history targets,
///   msgids, conversation owners) are compared exactly, byte for byte. The caller folds case
///   (and normalises) before calling; the store never does.
///   Lists that come back ([`certs`](Store::certs), [`channels`](Store::channels),
///   [`channels_of`](Store::channels_of), a channel's access entries) are ordered by key in
///   byte order (PostgreSQL: `COLLATE "C"`); a channel's list entries keep the order in which
///   they were written.
/// - **Writes** go through [`apply`](Store::apply) only. The writes of one call are applied in
///   slice order, each seeing the effect of those before it, in **one transaction**: when `apply`
///   returns `Ok`, every write whose outcome is `Ok(())` is durable (it survives a crash or a
///   power cut of the machine, e.g. SQLite `synchronous=FULL`); when it returns `Err`, none of
///   them happened. Each write has its own outcome: a write with a [`Conflict`] changes nothing
///   and does not undo the others.
/// - **Cascades**: [`Write::DropAccount`] removes the account's certificates, its access entries
///   in every channel, every channel it founded (with their lists and access entries), its
///   conversations ([`Write::Converse`] as owner) and its read markers, so that whoever
///   registers the name next inherits none of them. [`Write::DropChannel`] removes the
///   channel's topic, lists and access entries. Nothing else is removed implicitly: history
///   stays until [`Write::PruneHistory`] (or, one message, [`Write::Redact`]) removes it (the store cannot tell which targets were a
///   dropped account's private conversations; the caller prunes those).
/// - **Renames**: [`Write::RenameChannel`] moves everything kept under one channel key to
///   another in one write — registration (with its lists and access entries), history entries
///   (keeping their `seq`), conversations and read markers — so that nothing is found under both.
/// - **History** is ordered by [`HistoryRecord::seq`], which [`Write::Append`] assigns: strictly
///   increasing in commit order over the whole store (never reused, even after a prune), so a
///   caller that queues a target's appends in its order gets that order back. Queries answer in
///   ascending `seq`; see [`HistoryQuery`] for what each one reads.
/// - **Reads** see a consistent state: a record is never half of one write and half of another.
/// - **Threading**: every method blocks (disk, network). Callers run them on their own threads —
///   [`StoreHandle`] does that — and never on async workers. Implementations are `Send + Sync`
///   and may be called from several threads at once.
/// - **Damage is reported, never repaired silently**: a store that finds its data damaged, of a
///   newer schema, or not writable fails with [`StoreError`] and leaves the data as it is; it
///   never recreates, truncates or deletes it to carry on.
pub trait Store: Send + Sync + 'static {
    /// The account with this key.
    fn account(&self, key: &str) -> Result<Option<AccountRecord>, StoreError>;

    /// The account a certificate fingerprint (lowercase hex SHA-256) belongs to.
    fn account_by_cert(&self, fingerprint: &str) -> Result<Option<AccountRecord>, StoreError>;

    /// The certificate fingerprints of an account, in byte order (empty for an unknown account).
    fn certs(&self, account: &str) -> Result<Vec<String>, StoreError>;

    /// How many accounts there are.
    fn account_count(&self) -> Result<u64, StoreError>;

    /// Every kept presence ([`Write::SetPresence`]), ordered by account: the always-on users a
    /// server brings back when it starts.
    fn presences(&self) -> Result<Vec<PresenceRecord>, StoreError>;

    /// The kept presence of `account` (its key, as [`Write::SetPresence`] has it), if any: an
    /// always-on user to bring back when its next device logs in somewhere else than where it
    /// was kept (a cluster).
    fn presence(&self, account: &str) -> Result<Option<PresenceRecord>, StoreError>;

    /// The registered channel with this key.
    fn channel(&self, key: &str) -> Result<Option<ChannelRecord>, StoreError>;

    /// Every registered channel, ordered by key: what a server loads when it starts.
    fn channels(&self) -> Result<Vec<ChannelRecord>, StoreError>;

    /// The keys of the channels an account founded, in byte order.
    fn channels_of(&self, founder: &str) -> Result<Vec<String>, StoreError>;

    /// A target's history: the entries `query` selects, at most `limit` of them, in ascending
    /// `seq` order.
    ///
    /// `Ok(None)` only when a msgid anchor is not an entry of `target` (unknown, or an entry of
    /// another target); anchors are checked before the limit, and a `limit` of 0 then returns an
    /// empty list. A target with no entries returns an empty list.
    fn history(
        &self,
        target: &str,
        query: &HistoryQuery,
        limit: usize,
    ) -> Result<Option<Vec<HistoryRecord>>, StoreError> {
        self.history_of(target, query, limit, Kinds::All)
    }

    /// [`history`](Store::history), reading only the entries of `kinds`: with
    /// [`Kinds::Messages`], events (JOIN, PART, ...) are skipped before the limit counts, and a
    /// msgid anchor may still be an event.
    fn history_of(
        &self,
        target: &str,
        query: &HistoryQuery,
        limit: usize,
        kinds: Kinds,
    ) -> Result<Option<Vec<HistoryRecord>>, StoreError>;

    /// The conversations whose latest activity lies between `from_ms` and `to_ms` (inclusive,
    /// the bounds in either order), at most `limit` of them, ordered by `last_ms` then target:
    /// the channels among `channels` that have history (`last_ms` is the greatest `time_ms` of
    /// their entries, `name` their key), and `owner`'s private conversations
    /// ([`Write::Converse`]: `last_ms` is the conversation's time, `name` its peer). A channel
    /// named twice in `channels` is listed once.
    fn history_targets(
        &self,
        owner: &str,
        channels: &[String],
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<TargetRecord>, StoreError>;

    /// An account's read marker for a conversation ([`Write::SetReadMarker`]).
    fn read_marker(&self, account: &str, target: &str) -> Result<Option<i64>, StoreError>;

    /// How many history entries there are, over every target.
    fn history_count(&self) -> Result<u64, StoreError>;

    /// A target's metadata ([`Write::SetMetadata`]), ordered by key.
    fn metadata(&self, target: &str) -> Result<Vec<(String, String)>, StoreError>;

    /// The newest messages (PRIVMSG and NOTICE) whose text holds every word of `query.text`
    /// (whole words, without case or accents), among the conversations `targets` and, when
    /// `owner` is not empty, `owner`'s private conversations ([`Write::Converse`]); at most
    /// `query.limit`, in ascending `seq` order. A text without any word finds nothing.
    fn search(
        &self,
        owner: &str,
        targets: &[String],
        query: &SearchQuery,
    ) -> Result<Vec<HistoryRecord>, StoreError>;

    /// The uploaded file with this id ([`Write::AddFile`]).
    fn file(&self, id: &str) -> Result<Option<FileRecord>, StoreError>;

    /// The files `owner` uploaded, oldest first (by `created_ms`, then id in byte order).
    fn files_of(&self, owner: &str) -> Result<Vec<FileRecord>, StoreError>;

    /// The total size of the files `owner` uploaded (what counts against a quota: a file
    /// uploaded twice counts twice).
    fn files_size(&self, owner: &str) -> Result<u64, StoreError>;

    /// At most `limit` files uploaded before `before_ms` (`created_ms < before_ms`), oldest
    /// first: what retention removes.
    fn files_before(&self, before_ms: i64, limit: usize) -> Result<Vec<FileRecord>, StoreError>;

    /// Whether any file record has this hash (its blob is still needed).
    fn file_hash_used(&self, sha256: &str) -> Result<bool, StoreError>;

    /// Applies the writes in one transaction (group commit), in slice order.
    ///
    /// Returns one outcome per write, in the same order: a [`Conflict`] does not undo the
    /// others. When this returns `Ok`, every successful write is durable; when it returns
    /// `Err`, nothing was written.
    fn apply(&self, writes: &[Write]) -> Result<Vec<Result<(), Conflict>>, StoreError>;

    /// Writes a consistent copy of the whole store to a new file at `dest` while the store is in
    /// use. The copy is an SQLite database that [`SqliteStore::open`] accepts. `dest` must not
    /// exist yet (a backup never replaces a file); it appears only once complete.
    fn backup(&self, dest: &Path) -> Result<(), StoreError>;
}
