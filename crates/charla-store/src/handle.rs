//! [`StoreHandle`]: the async face of a [`Store`], for code running on tokio.
//!
//! A store blocks, so it never runs on async workers. The handle owns a few OS threads:
//!
//! - **Readers** ([`READERS`] threads) take read requests from one queue; each request answers
//!   through a `oneshot` channel.
//! - **One writer** drains every write waiting at that moment (up to [`MAX_BATCH`]) and commits
//!   them with a single [`Store::apply`] — a group commit: one transaction, one sync to disk for
//!   the whole batch — then answers each write with its own outcome. Writes are applied in the
//!   order they were queued, whoever queued them.
//!
//! A write is queued in one of three ways: [`StoreHandle::write`] waits for its outcome;
//! [`StoreHandle::write_later`] forgets it; [`StoreHandle::append`] queues it at once, without
//! an await, and returns a [`Receipt`] to learn its outcome later. `append` is for a caller that
//! must fix the store's order while it holds a lock (a channel's history is appended under the
//! channel's lock, so the store's order is the channel's order) and await the commit after
//! releasing it. Every outcome reaches its receipt: if the writer thread ends without carrying
//! out a queued write, the receipt resolves to [`StoreError::Closed`]; it never hangs.
//!
//! The handle is cheap to clone (an `Arc` inside). When the last clone is dropped the queues
//! close, and the threads finish the work already queued and end. A process about to exit calls
//! [`StoreHandle::flush`] first, so that nothing queued is lost.

use std::fmt;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::Store;
use crate::error::{Conflict, StoreError};
use crate::file::FileRecord;
use crate::history::{HistoryQuery, HistoryRecord, TargetRecord};
use crate::record::{AccountRecord, ChannelRecord, Write};
use crate::{Kinds, SearchQuery};

/// How many threads serve reads.
pub const READERS: usize = 2;

/// The most writes one group commit takes; more wait for the next one. Bounds the time a
/// transaction holds the write lock and the memory of one batch. History appends are small and
/// come by thousands a second, hence a large batch.
pub const MAX_BATCH: usize = 4096;

/// The shortest time between the starts of two group commits. Each commit costs a sync to
/// disk and a transaction whatever its size, so under load the writer lets writes gather for
/// up to this long: at most 1,000 commits a second, each as big as the load makes it. A write
/// that finds the writer idle for longer is committed at once. Below [`BUSY_WRITES_PER_SEC`]
/// writes come a millisecond or more apart, so a shorter wait makes hardly more commits: 1 ms
/// rather than 2 took the median of a channel at 500 messages a second from 4.3-4.6 ms to
/// 3.6-3.7 for the same CPU, and at 900 a second cost 4 % (docs/PROFILE.md, eighteenth
/// session).
pub const COMMIT_INTERVAL: Duration = Duration::from_millis(1);

/// The shortest time between two group commits while writes come at [`BUSY_WRITES_PER_SEC`] or
/// more: at most 100 commits a second. As a network card moderates its interrupts, the writer
/// waits longer only when the load makes every commit small for its fixed price: a channel at
/// 2,000 messages a second costs the writer half the CPU with 20 messages a commit instead of
/// 4, while a calm store keeps its short interval (docs/BENCHMARKS.md, "Durability's price").
/// For a commit someone waits for, only the writes someone waits for count ([`Intervals`]).
pub const BUSY_COMMIT_INTERVAL: Duration = Duration::from_millis(10);

/// Writes that make a commit worth its fixed price: once this many wait, the writer commits
/// without waiting out its interval. The interval's wait is for efficiency (a commit's
/// transaction and sync cost the same for few writes as for many), and past this many writes
/// a commit costs each of them little more than it would in a bigger one; but each of them
/// waits the whole interval, the median latency of private messages at 20,000 a second.
/// 48 rather than 64: at 8,000 messages a second into one channel a commit every 6 ms instead
/// of 8, and the p99 at 4M deliveries a second 13-14 ms instead of 17-20 (with the server's
/// writes once per commit), for 5-10 % of its deliveries per CPU-second.
pub const FULL_COMMIT: usize = 48;

/// How often, at most, the waiting writer looks whether [`FULL_COMMIT`] writes wait.
const FULL_CHECK: Duration = Duration::from_millis(1);

/// How long the writer sleeps before it looks again, with `waiting` writes, `left` of its
/// interval and writes coming at `rate` a second; `None`: commit now (a full commit's worth
/// waits, or the interval is over). It looks again when the rate would have brought the rest,
/// or at the interval's end if it would not: a store below that rate sleeps once, as it did
/// before there was a full commit.
fn nap(waiting: usize, left: Duration, rate: f64) -> Option<Duration> {
    if waiting >= FULL_COMMIT || left.is_zero() {
        return None;
    }
    let fill = Duration::from_secs_f64((FULL_COMMIT - waiting) as f64 / rate.max(1.0));
    Some(left.min(fill.max(FULL_CHECK)))
}

/// The rate of writes, measured over the time between two commits' starts, from which the
/// writer uses [`BUSY_COMMIT_INTERVAL`].
pub const BUSY_WRITES_PER_SEC: f64 = 1_000.0;

/// The interval before the next commit, given that `writes` came in the `since` between the
/// last two commits' starts.
fn next_interval(writes: usize, since: Duration) -> Duration {
    if writes as f64 >= BUSY_WRITES_PER_SEC * since.as_secs_f64() {
        BUSY_COMMIT_INTERVAL
    } else {
        COMMIT_INTERVAL
    }
}

/// The writer's intervals: one for a commit of writes nobody waits for (`write_later`: a
/// JOIN's event, a read marker), from the rate of every write; one for a commit someone waits
/// for (a message, delivered once committed), from the rate of such writes only. A join storm
/// makes a thousand events a second and the busy interval for them, but a private message
/// sent meanwhile waits no longer than on a calm store: it costs one commit more, which is what
/// the short interval is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Intervals {
    all: Duration,
    awaited: Duration,
}

impl Intervals {
    const CALM: Intervals = Intervals {
        all: COMMIT_INTERVAL,
        awaited: COMMIT_INTERVAL,
    };

    /// After a commit of `writes`, `awaited` of them waited for, `since` the last one began.
    fn after(writes: usize, awaited: usize, since: Duration) -> Intervals {
        Intervals {
            all: next_interval(writes, since),
            awaited: next_interval(awaited, since),
        }
    }

    /// The interval for a batch in which someone waits for a write (`awaited`) or not.
    fn of(self, awaited: bool) -> Duration {
        if awaited { self.awaited } else { self.all }
    }
}

/// How many writes may wait for the writer. `write` waits for room; `write_later` drops the write
/// and counts it in [`StoreHandle::store_errors`], and `append` refuses it with
/// [`StoreError::Busy`] (the store is then far behind, and waiting would stall the caller).
pub const WRITE_QUEUE: usize = 16 * 1024;

/// How many reads may wait for a reader; callers wait for room.
const READ_QUEUE: usize = 1024;

type ReadJob = Box<dyn FnOnce(&dyn Store) + Send>;

/// What one write came to: committed (`Ok(Ok(()))`), refused (`Ok(Err(conflict))`), or failed
/// with the store.
type Outcome = Result<Result<(), Conflict>, StoreError>;

/// What the writer thread takes from its queue.
// Flushes are rare: boxing every write to shrink them would cost an allocation per write.
#[expect(clippy::large_enum_variant)]
enum WriteJob {
    /// A write, with where to answer (`None` for `write_later`).
    Write {
        write: Write,
        reply: Option<Pending>,
    },
    /// Answered once every write queued before it has been committed (or has failed).
    Flush(oneshot::Sender<()>),
}

impl WriteJob {
    /// Whether someone waits for this job's commit.
    fn awaited(&self) -> bool {
        match self {
            WriteJob::Write { reply, .. } => reply.is_some(),
            WriteJob::Flush(_) => true,
        }
    }
}

/// The outcome of one queued write ([`StoreHandle::append`]): cheap to clone (one `Arc`), set
/// once by the writer thread. Any clone may look at it or wait for it, any number of times.
#[derive(Clone)]
pub struct Receipt {
    shared: Arc<ReceiptState>,
}

struct ReceiptState {
    outcome: OnceLock<Outcome>,
    done: Notify,
}

impl fmt::Debug for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receipt")
            .field("outcome", &self.outcome())
            .finish()
    }
}

impl Receipt {
    /// A receipt, and the writer's half that answers it.
    fn new() -> (Self, Pending) {
        let shared = Arc::new(ReceiptState {
            outcome: OnceLock::new(),
            done: Notify::new(),
        });
        let pending = Pending(Arc::clone(&shared));
        (Receipt { shared }, pending)
    }

    /// A receipt answered by someone other than the store's writer: a step that must be done
    /// before a line may be delivered, beside or after its commit (the cluster's ordering of a
    /// channel's messages). Dropped unanswered, the [`Answer`] answers [`StoreError::Closed`].
    pub fn manual() -> (Self, Answer) {
        let (receipt, pending) = Receipt::new();
        (receipt, Answer(pending))
    }

    /// The outcome if the write is done (committed, refused or failed), without waiting.
    pub fn outcome(&self) -> Option<&Result<Result<(), Conflict>, StoreError>> {
        self.shared.outcome.get()
    }

    /// Waits until the write is done, and returns its outcome.
    pub async fn wait(&self) -> Result<Result<(), Conflict>, StoreError> {
        loop {
            if let Some(outcome) = self.outcome() {
                return outcome.clone();
            }
            // Registered before the second look, so that an outcome set in between still wakes
            // this wait: `notify_waiters` reaches every `Notified` created before it.
            let mut notified = pin!(self.shared.done.notified());
            notified.as_mut().enable();
            if let Some(outcome) = self.outcome() {
                return outcome.clone();
            }
            notified.await;
        }
    }
}

/// The answering half of a [`Receipt::manual`].
#[derive(Debug)]
pub struct Answer(Pending);

impl Answer {
    /// Answers the receipt with `outcome`.
    pub fn answer(self, outcome: Result<Result<(), Conflict>, StoreError>) {
        self.0.answer(outcome);
    }
}

/// The writer's half of a [`Receipt`]. Dropped unanswered (the writer stopped, or the write
/// never reached it), it answers [`StoreError::Closed`], so that no receipt waits forever.
struct Pending(Arc<ReceiptState>);

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pending")
    }
}

impl Pending {
    fn answer(self, outcome: Outcome) {
        self.set(outcome);
        // Dropping `self` now finds the outcome set and changes nothing.
    }

    fn set(&self, outcome: Outcome) {
        if self.0.outcome.set(outcome).is_ok() {
            self.0.done.notify_waiters();
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.0.outcome.get().is_none() {
            self.set(Err(StoreError::Closed));
        }
    }
}

/// The async facade over a [`Store`]. See the [module documentation](self).
#[derive(Clone)]
pub struct StoreHandle {
    shared: Arc<Shared>,
}

struct Shared {
    reads: mpsc::Sender<ReadJob>,
    writes: mpsc::Sender<WriteJob>,
    /// Shared with the writer thread, which counts the writes that failed.
    errors: Arc<AtomicU64>,
    /// Shared with the writer thread, which tells it how long each group commit took.
    observer: Arc<OnceLock<CommitObserver>>,
}

/// Told the duration of each group commit ([`StoreHandle::observe_commits`]).
type CommitObserver = Box<dyn Fn(Duration) + Send + Sync>;

impl fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreHandle")
            .field("store_errors", &self.store_errors())
            .finish_non_exhaustive()
    }
}

impl StoreHandle {
    /// Starts the reader and writer threads over `store`.
    ///
    /// Fails only if the operating system refuses a thread.
    pub fn new(store: Arc<dyn Store>) -> Result<Self, StoreError> {
        let (reads, read_queue) = mpsc::channel::<ReadJob>(READ_QUEUE);
        let (writes, write_queue) = mpsc::channel(WRITE_QUEUE);
        let errors = Arc::new(AtomicU64::new(0));
        let observer: Arc<OnceLock<CommitObserver>> = Arc::default();

        // One queue for all readers: a std mutex around the receiver, held only while waiting
        // for the next request, never while serving it.
        let read_queue = Arc::new(Mutex::new(read_queue));
        for index in 0..READERS {
            let store = Arc::clone(&store);
            let queue = Arc::clone(&read_queue);
            thread::Builder::new()
                .name(format!("charla-store-read-{index}"))
                .spawn(move || run_reader(&*store, &queue))
                .map_err(|e| StoreError::Spawn(Arc::new(e)))?;
        }
        let writer_errors = Arc::clone(&errors);
        let writer_observer = Arc::clone(&observer);
        thread::Builder::new()
            .name("charla-store-write".to_owned())
            .spawn(move || run_writer(&*store, write_queue, &writer_errors, &writer_observer))
            .map_err(|e| StoreError::Spawn(Arc::new(e)))?;

        Ok(StoreHandle {
            shared: Arc::new(Shared {
                reads,
                writes,
                errors,
                observer,
            }),
        })
    }

    /// Runs `read` on a reader thread and waits for its answer.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job: ReadJob = Box::new(move |store| {
            // The caller may have stopped waiting; then nobody wants the answer.
            let _ = reply.send(read(store));
        });
        self.shared
            .reads
            .send(job)
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// [`Store::account`] on a reader thread.
    pub async fn account(&self, key: &str) -> Result<Option<AccountRecord>, StoreError> {
        let key = key.to_owned();
        self.read(move |store| store.account(&key)).await
    }

    /// [`Store::account_by_cert`] on a reader thread.
    pub async fn account_by_cert(
        &self,
        fingerprint: &str,
    ) -> Result<Option<AccountRecord>, StoreError> {
        let fingerprint = fingerprint.to_owned();
        self.read(move |store| store.account_by_cert(&fingerprint))
            .await
    }

    /// [`Store::certs`] on a reader thread.
    pub async fn certs(&self, account: &str) -> Result<Vec<String>, StoreError> {
        let account = account.to_owned();
        self.read(move |store| store.certs(&account)).await
    }

    /// [`Store::account_count`] on a reader thread.
    pub async fn account_count(&self) -> Result<u64, StoreError> {
        self.read(|store| store.account_count()).await
    }

    /// [`Store::presences`] on a reader thread.
    pub async fn presences(&self) -> Result<Vec<crate::PresenceRecord>, StoreError> {
        self.read(|store| store.presences()).await
    }

    /// [`Store::presence`] on a reader thread.
    pub async fn presence(
        &self,
        account: &str,
    ) -> Result<Option<crate::PresenceRecord>, StoreError> {
        let account = account.to_owned();
        self.read(move |store| store.presence(&account)).await
    }

    /// [`Store::channel`] on a reader thread.
    pub async fn channel(&self, key: &str) -> Result<Option<ChannelRecord>, StoreError> {
        let key = key.to_owned();
        self.read(move |store| store.channel(&key)).await
    }

    /// [`Store::channels`] on a reader thread.
    pub async fn channels(&self) -> Result<Vec<ChannelRecord>, StoreError> {
        self.read(|store| store.channels()).await
    }

    /// [`Store::channels_of`] on a reader thread.
    pub async fn channels_of(&self, founder: &str) -> Result<Vec<String>, StoreError> {
        let founder = founder.to_owned();
        self.read(move |store| store.channels_of(&founder)).await
    }

    /// [`Store::history`] on a reader thread.
    pub async fn history(
        &self,
        target: &str,
        query: HistoryQuery,
        limit: usize,
    ) -> Result<Option<Vec<HistoryRecord>>, StoreError> {
        self.history_of(target, query, limit, Kinds::All).await
    }

    /// [`Store::history_of`] on a reader thread.
    pub async fn history_of(
        &self,
        target: &str,
        query: HistoryQuery,
        limit: usize,
        kinds: Kinds,
    ) -> Result<Option<Vec<HistoryRecord>>, StoreError> {
        let target = target.to_owned();
        self.read(move |store| store.history_of(&target, &query, limit, kinds))
            .await
    }

    /// [`Store::history_targets`] on a reader thread.
    pub async fn history_targets(
        &self,
        owner: &str,
        channels: Vec<String>,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<TargetRecord>, StoreError> {
        let owner = owner.to_owned();
        self.read(move |store| store.history_targets(&owner, &channels, from_ms, to_ms, limit))
            .await
    }

    /// [`Store::read_marker`] on a reader thread.
    pub async fn read_marker(
        &self,
        account: &str,
        target: &str,
    ) -> Result<Option<i64>, StoreError> {
        let (account, target) = (account.to_owned(), target.to_owned());
        self.read(move |store| store.read_marker(&account, &target))
            .await
    }

    /// [`Store::metadata`] on a reader thread.
    pub async fn metadata(&self, target: String) -> Result<Vec<(String, String)>, StoreError> {
        self.read(move |store| store.metadata(&target)).await
    }

    /// [`Store::history_count`] on a reader thread.
    pub async fn history_count(&self) -> Result<u64, StoreError> {
        self.read(|store| store.history_count()).await
    }

    /// [`Store::search`] on a reader thread.
    pub async fn search(
        &self,
        owner: &str,
        targets: Vec<String>,
        query: SearchQuery,
    ) -> Result<Vec<HistoryRecord>, StoreError> {
        let owner = owner.to_owned();
        self.read(move |store| store.search(&owner, &targets, &query))
            .await
    }

    /// [`Store::file`] on a reader thread.
    pub async fn file(&self, id: &str) -> Result<Option<FileRecord>, StoreError> {
        let id = id.to_owned();
        self.read(move |store| store.file(&id)).await
    }

    /// [`Store::files_of`] on a reader thread.
    pub async fn files_of(&self, owner: &str) -> Result<Vec<FileRecord>, StoreError> {
        let owner = owner.to_owned();
        self.read(move |store| store.files_of(&owner)).await
    }

    /// [`Store::files_size`] on a reader thread.
    pub async fn files_size(&self, owner: &str) -> Result<u64, StoreError> {
        let owner = owner.to_owned();
        self.read(move |store| store.files_size(&owner)).await
    }

    /// [`Store::files_before`] on a reader thread.
    pub async fn files_before(
        &self,
        before_ms: i64,
        limit: usize,
    ) -> Result<Vec<FileRecord>, StoreError> {
        self.read(move |store| store.files_before(before_ms, limit))
            .await
    }

    /// [`Store::file_hash_used`] on a reader thread.
    pub async fn file_hash_used(&self, sha256: &str) -> Result<bool, StoreError> {
        let sha256 = sha256.to_owned();
        self.read(move |store| store.file_hash_used(&sha256)).await
    }

    /// [`Store::backup`] on a reader thread (it holds that thread for the length of the copy).
    pub async fn backup(&self, dest: PathBuf) -> Result<(), StoreError> {
        self.read(move |store| store.backup(&dest)).await
    }

    /// Queues a write for the next group commit and waits until it is committed (durable) or
    /// refused. Once queued, the write is carried out even if the caller stops waiting.
    pub async fn write(&self, write: Write) -> Result<Result<(), Conflict>, StoreError> {
        let (receipt, pending) = Receipt::new();
        self.shared
            .writes
            .send(WriteJob::Write {
                write,
                reply: Some(pending),
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        receipt.wait().await
    }

    /// Queues a write for the next group commit without waiting, and returns its receipt.
    ///
    /// Fails at once with [`StoreError::Busy`] if the write queue is full (the refusal is
    /// counted in [`store_errors`](Self::store_errors)), and with [`StoreError::Closed`] if the
    /// writer stopped; the write is then not carried out. Writes queued this way are committed
    /// in the order of the calls, together with every other write.
    pub fn append(&self, write: Write) -> Result<Receipt, StoreError> {
        let (receipt, pending) = Receipt::new();
        let job = WriteJob::Write {
            write,
            reply: Some(pending),
        };
        match self.shared.writes.try_send(job) {
            Ok(()) => Ok(receipt),
            Err(TrySendError::Full(_)) => {
                self.shared.errors.fetch_add(1, Ordering::Relaxed);
                Err(StoreError::Busy(WRITE_QUEUE))
            }
            Err(TrySendError::Closed(_)) => Err(StoreError::Closed),
        }
    }

    /// Queues a write for the next group commit without waiting. Its conflict, if any, is
    /// dropped; a store failure (or a full queue) is counted in [`store_errors`](Self::store_errors).
    pub fn write_later(&self, write: Write) {
        let job = WriteJob::Write { write, reply: None };
        if self.shared.writes.try_send(job).is_err() {
            self.shared.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Returns once every write queued before this call has been committed or has failed.
    pub async fn flush(&self) {
        let (done, finished) = oneshot::channel();
        if self.shared.writes.send(WriteJob::Flush(done)).await.is_ok() {
            // An error here means the writer stopped: nothing is left to wait for.
            let _ = finished.await;
        }
    }

    /// How many writes failed with a [`StoreError`] (awaited or not), plus the `write_later`
    /// writes dropped because the queue was full or the writer had stopped, and the `append`
    /// writes refused because the queue was full.
    pub fn store_errors(&self) -> u64 {
        self.shared.errors.load(Ordering::Relaxed)
    }

    /// Has `observer` told, on the writer thread, how long each group commit that wrote
    /// something took (the store's `apply`: its transaction and sync): the server's commit
    /// latency histogram. Only the first observer is kept; returns whether this one was.
    /// It runs between commits, so it must be quick.
    pub fn observe_commits(&self, observer: impl Fn(Duration) + Send + Sync + 'static) -> bool {
        self.shared.observer.set(Box::new(observer)).is_ok()
    }
}

fn run_reader(store: &dyn Store, queue: &Mutex<mpsc::Receiver<ReadJob>>) {
    loop {
        // The lock guards only the wait for the next job. A reader that panicked in a job held
        // no lock, so a poisoned one cannot happen; recover anyway rather than stop serving.
        let job = queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .blocking_recv();
        match job {
            Some(job) => job(store),
            // Every handle is gone and the queue is drained.
            None => return,
        }
    }
}

fn run_writer(
    store: &dyn Store,
    mut queue: mpsc::Receiver<WriteJob>,
    errors: &AtomicU64,
    observer: &OnceLock<CommitObserver>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut last_start: Option<Instant> = None;
    let mut intervals = Intervals::CALM;
    // Writes a second between the last two commits' starts.
    let mut rate: f64 = 0.0;
    while let Some(first) = queue.blocking_recv() {
        // How many of the batch's jobs someone waits for.
        let mut awaited = usize::from(first.awaited());
        batch.push(first);
        // Under load, commits start at most every interval: what arrives meanwhile joins the
        // next one, unless a full commit's worth waits first. A write to a quiet store commits
        // at once.
        if let Some(last) = last_start {
            loop {
                awaited += take_waiting(&mut queue, &mut batch);
                let until = last + intervals.of(awaited > 0);
                let Some(nap) = nap(
                    batch.len() + queue.len(),
                    until.saturating_duration_since(Instant::now()),
                    rate,
                ) else {
                    break;
                };
                // Nobody waits yet: one who comes meanwhile waits no longer than the short
                // interval.
                thread::sleep(if awaited > 0 {
                    nap
                } else {
                    nap.min(COMMIT_INTERVAL)
                });
            }
        }
        let start = Instant::now();
        // Whatever else is already waiting joins this commit.
        awaited += take_waiting(&mut queue, &mut batch);
        intervals = last_start.map_or(Intervals::CALM, |last| {
            Intervals::after(batch.len(), awaited, start - last)
        });
        rate = last_start.map_or(0.0, |last| {
            batch.len() as f64 / (start - last).as_secs_f64().max(1e-6)
        });
        last_start = Some(start);
        commit(store, &mut batch, errors, observer);
    }
}

/// Moves the jobs waiting in `queue` into `batch`, up to [`MAX_BATCH`]; how many of them
/// someone waits for.
fn take_waiting(queue: &mut mpsc::Receiver<WriteJob>, batch: &mut Vec<WriteJob>) -> usize {
    let mut awaited = 0;
    while batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(job) => {
                awaited += usize::from(job.awaited());
                batch.push(job);
            }
            Err(_) => break,
        }
    }
    awaited
}

/// Commits the writes of `batch` with one `apply`, answers them, then answers the flushes. If
/// `apply` panics, the unanswered receipts answer [`StoreError::Closed`] as they are dropped.
fn commit(
    store: &dyn Store,
    batch: &mut Vec<WriteJob>,
    errors: &AtomicU64,
    observer: &OnceLock<CommitObserver>,
) {
    let mut writes = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    let mut flushes = Vec::new();
    for job in batch.drain(..) {
        match job {
            WriteJob::Write { write, reply } => {
                writes.push(write);
                replies.push(reply);
            }
            WriteJob::Flush(done) => flushes.push(done),
        }
    }
    if !writes.is_empty() {
        let started = Instant::now();
        let applied = store.apply(&writes);
        if let Some(observe) = observer.get() {
            observe(started.elapsed());
        }
        match applied {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    if let Some(reply) = reply {
                        reply.answer(Ok(outcome));
                    }
                }
            }
            Err(error) => {
                errors.fetch_add(writes.len() as u64, Ordering::Relaxed);
                for reply in replies.into_iter().flatten() {
                    reply.answer(Err(error.clone()));
                }
            }
        }
    }
    for done in flushes {
        let _ = done.send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_commit_s_worth_is_committed_without_waiting_out_the_interval() {
        let ms = Duration::from_millis;
        // 2,000 writes a second: 20 in 10 ms, never a full commit; one sleep to the end.
        assert_eq!(nap(1, ms(10), 2_000.0), Some(ms(10)));
        // 20,000 a second: the 47 missing come in about 2.4 ms; look again then.
        let first = nap(1, ms(10), 20_000.0).expect("a nap");
        let fill = (FULL_COMMIT - 1) as f64 / 20_000.0;
        assert!((first.as_secs_f64() - fill).abs() < 1e-4, "{first:?}");
        // Nearly full: not sooner than FULL_CHECK.
        assert_eq!(nap(FULL_COMMIT - 1, ms(10), 1e9), Some(FULL_CHECK));
        // Full, or the interval over: commit now.
        assert_eq!(nap(FULL_COMMIT, ms(10), 20_000.0), None);
        assert_eq!(nap(1, Duration::ZERO, 20_000.0), None);
        // The first commits of a quiet store: no rate yet, one sleep.
        assert_eq!(nap(1, ms(2), 0.0), Some(ms(2)));
    }

    #[test]
    fn the_writer_waits_longer_only_while_writes_come_fast() {
        let ms = Duration::from_millis;
        // A calm store: one write in a while, or a few in the short interval.
        assert_eq!(next_interval(1, ms(500)), COMMIT_INTERVAL);
        assert_eq!(next_interval(1, ms(2)), COMMIT_INTERVAL);
        assert_eq!(next_interval(9, ms(10)), COMMIT_INTERVAL);
        // 2,000 writes a second, in the short interval and then in the long one.
        assert_eq!(next_interval(4, ms(2)), BUSY_COMMIT_INTERVAL);
        assert_eq!(next_interval(20, ms(10)), BUSY_COMMIT_INTERVAL);
        // The load fell: back to the short interval.
        assert_eq!(next_interval(3, ms(10)), COMMIT_INTERVAL);
    }

    #[test]
    fn a_write_someone_waits_for_is_not_held_by_writes_nobody_waits_for() {
        let ms = Duration::from_millis;
        // A join storm: 20 events in 10 ms, none waited for: they wait the long interval, a
        // message that comes among them the short one.
        let storm = Intervals::after(20, 0, ms(10));
        assert_eq!(storm.of(false), BUSY_COMMIT_INTERVAL);
        assert_eq!(storm.of(true), COMMIT_INTERVAL);
        // A busy channel: 20 messages in 10 ms, each waited for: the long interval for all.
        let busy = Intervals::after(20, 20, ms(10));
        assert_eq!(busy.of(true), BUSY_COMMIT_INTERVAL);
        assert_eq!(busy.of(false), BUSY_COMMIT_INTERVAL);
        // Calm: the short one for all.
        assert_eq!(Intervals::after(3, 1, ms(10)), Intervals::CALM);
    }
}
