//! The message load engine shared by `fanout`, `direct`, `slow-readers` and `flood`: clients
//! that read (one task each, buffered reads, stamps found without a full parse) and clients
//! that send stamped PRIVMSGs at a fixed rate, plus registering and joining many clients.
//!
//! A stamp is the text `cb:SENDER:SEQ:MICROS:` at the start of a message, where MICROS is
//! the send time on the generator's monotonic clock ([`now_micros`]); the receiver subtracts
//! it from its own reading of the same clock, so latency needs no clock sync.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::conn::{self, Client, ConnError, Connector, LineReader, Reply, WriteHalf};
use crate::procfs;
use crate::stats::Latency;

/// Marks a stamped message text (after the ` :` of the trailing parameter).
const STAMP_MARK: &[u8] = b" :cb:";
/// Most lines one sender writes in one syscall.
const MAX_BATCH: u64 = 256;

/// Microseconds since the generator's first call, on a monotonic clock.
pub fn now_micros() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = EPOCH.get_or_init(Instant::now);
    epoch.elapsed().as_micros() as u64
}

/// A parsed stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Index of the sender.
    pub sender: u32,
    /// The sender's sequence number, from 0.
    pub seq: u64,
    /// Send time, [`now_micros`].
    pub micros: u64,
}

/// Writes `cb:SENDER:SEQ:MICROS:` padded with `x` to `size` bytes (never cut: a stamp longer
/// than `size` is written whole).
pub fn write_stamp(out: &mut Vec<u8>, stamp: Stamp, size: usize) {
    let before = out.len();
    let _ = write!(out, "cb:{}:{}:{}:", stamp.sender, stamp.seq, stamp.micros);
    let written = out.len() - before;
    if written < size {
        out.resize(out.len() + (size - written), b'x');
    }
}

/// Finds a stamp in a received line (`... PRIVMSG target :cb:1:2:3:xxx`).
pub fn find_stamp(line: &[u8]) -> Option<Stamp> {
    // Built once: building a searcher per line was a tenth of the generator's profile.
    static MARK: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(STAMP_MARK));
    let at = MARK.find(line)?;
    let mut fields = line[at + STAMP_MARK.len()..].split(|b| *b == b':');
    let mut number = || decimal(fields.next()?);
    let sender = u32::try_from(number()?).ok()?;
    let seq = number()?;
    let micros = number()?;
    Some(Stamp {
        sender,
        seq,
        micros,
    })
}

/// A decimal `u64` (digits only, no sign), without going through `str`.
fn decimal(field: &[u8]) -> Option<u64> {
    if field.is_empty() {
        return None;
    }
    field.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// What the readers of a load found, shared by all of them and read between phases.
#[derive(Debug, Default)]
struct Tally {
    /// Stamped messages received.
    received: AtomicU64,
    /// Messages from one sender that arrived out of order or twice.
    order_violations: AtomicU64,
    /// When the last stamped message arrived ([`now_micros`]).
    last_arrival: AtomicU64,
    /// Readers whose connection ended.
    closed: AtomicU64,
    /// Up to 5 distinct reasons given for those ends (the ERROR text, or "closed").
    closed_reasons: std::sync::Mutex<Vec<String>>,
    /// The latency of every stamped message received since the phase began.
    latency: std::sync::Mutex<Latency>,
}

impl Tally {
    /// The latency histogram (a poisoned lock only means a reader panicked; its samples are
    /// still good).
    fn latency(&self) -> std::sync::MutexGuard<'_, Latency> {
        self.latency
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a reader whose connection ended, and keeps its reason.
    fn record_closed(&self, reason: String) {
        self.closed.fetch_add(1, Ordering::Relaxed);
        let mut reasons = self
            .closed_reasons
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if reasons.len() < 5 && !reasons.contains(&reason) {
            reasons.push(reason);
        }
    }
}

/// The last sequence number a reader saw from each sender, to find messages out of order: a
/// vector indexed by sender for a few senders (the hot path of `fanout`), a map for thousands
/// (`durable`, where each reader hears only a couple of them and a vector per reader would be
/// senders² entries in all).
enum LastSeq {
    Dense(Vec<Option<u64>>),
    Sparse(std::collections::HashMap<u32, u64>),
}

impl LastSeq {
    /// The most senders tracked in a vector per reader.
    const DENSE_MAX: usize = 1_024;

    fn new(senders: usize) -> Self {
        if senders <= Self::DENSE_MAX {
            Self::Dense(vec![None; senders])
        } else {
            Self::Sparse(std::collections::HashMap::new())
        }
    }

    /// Records `stamp`; true when it came out of order (or twice).
    fn out_of_order(&mut self, stamp: Stamp) -> bool {
        match self {
            Self::Dense(last) => match last.get_mut(stamp.sender as usize) {
                Some(last) => {
                    let bad = last.is_some_and(|l| stamp.seq <= l);
                    *last = Some(stamp.seq);
                    bad
                }
                None => false,
            },
            Self::Sparse(last) => match last.insert(stamp.sender, stamp.seq) {
                Some(l) => stamp.seq <= l,
                None => false,
            },
        }
    }
}

/// Reads a client's lines until `stop`, recording stamps and answering PINGs.
///
/// Latencies go to the tally's histogram, shared by every reader of the run, once per read: a
/// histogram per reader made each record a cache miss in one of hundreds of count arrays (the
/// top of the generator's profile at 4M deliveries/s); a shared one stays in cache, and its
/// lock is taken once per batch of lines.
async fn read_member(
    mut reader: LineReader,
    writer: Arc<Mutex<WriteHalf>>,
    senders: usize,
    tally: Arc<Tally>,
    stop: CancellationToken,
) {
    let mut closed: Option<String> = None;
    let mut last_seq = LastSeq::new(senders);
    let mut batch: Vec<u64> = Vec::new();
    loop {
        let now = now_micros();
        let mut got = 0u64;
        let mut violations = 0u64;
        while let Some(line) = reader.next_buffered() {
            if let Some(stamp) = find_stamp(line) {
                got += 1;
                batch.push(now.saturating_sub(stamp.micros));
                if last_seq.out_of_order(stamp) {
                    violations += 1;
                }
                continue;
            }
            match conn::classify(&String::from_utf8_lossy(line)) {
                Reply::Ping(pong) => {
                    let _ = writer.lock().await.write_all(pong.as_bytes()).await;
                }
                Reply::Error(text) => closed = Some(text),
                _ => {}
            }
        }
        if !batch.is_empty() {
            let mut hist = tally.latency();
            for micros in batch.drain(..) {
                hist.record(micros);
            }
        }
        if violations > 0 {
            tally
                .order_violations
                .fetch_add(violations, Ordering::Relaxed);
        }
        if got > 0 {
            tally.last_arrival.fetch_max(now, Ordering::Relaxed);
            tally.received.fetch_add(got, Ordering::Relaxed);
        }
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            read = reader.fill() => match read {
                Ok(0) | Err(_) => {
                    closed.get_or_insert_with(|| "closed".to_owned());
                    break;
                }
                Ok(_) => {}
            },
        }
    }
    if let Some(reason) = closed {
        tally.record_closed(reason);
    }
}

/// One sending client.
#[derive(Debug, Clone)]
pub struct SenderSpec {
    /// Index of the client (in the list given to [`run_load`] or [`LoadSession::start`]).
    pub client: usize,
    /// PRIVMSG target: a channel or a nick.
    pub target: String,
    /// Messages per second.
    pub rate: f64,
    /// Where in its first interval (`1 / rate`) the sender starts, from 0 (at once) to 1: with
    /// thousands of slow senders, offsets spread over [0, 1) keep them from all writing in the
    /// same instant.
    pub offset: f64,
}

impl SenderSpec {
    /// Private conversations between neighbours (0 with 1, 2 with 3, ...): every client sends
    /// to its partner, `total_rate` messages per second spread over all of them, and over
    /// time: each sender starts at its own point of the interval, so that probe pairs sample
    /// the server at `total_rate` moments a second, not at `total_rate / clients` (twenty
    /// probes sending together saw a join storm of half a second at one or two moments).
    pub fn pairs(clients: &[crate::conn::Client], total_rate: u64) -> Vec<SenderSpec> {
        let per_client = total_rate as f64 / clients.len() as f64;
        (0..clients.len())
            .map(|i| SenderSpec {
                client: i,
                target: clients[i ^ 1].nick.clone(),
                rate: per_client,
                offset: i as f64 / clients.len() as f64,
            })
            .collect()
    }
}

/// Sends stamped messages at `spec.rate` from `start` (plus the sender's offset) until
/// `start + duration`, numbering them from `first_seq`; returns how many were written.
async fn send_loop(
    writer: Arc<Mutex<WriteHalf>>,
    index: u32,
    spec: SenderSpec,
    first_seq: u64,
    size: usize,
    start: Instant,
    duration: Duration,
) -> u64 {
    let mut sent = 0u64;
    let mut buf = Vec::with_capacity(64 * 1024);
    let prefix = format!("PRIVMSG {} :", spec.target);
    let end = start + duration;
    let begin = start + Duration::from_secs_f64(spec.offset.clamp(0.0, 1.0) / spec.rate);
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if now < begin {
            tokio::time::sleep_until(begin.into()).await;
            continue;
        }
        let due = (spec.rate * (now - begin).as_secs_f64()) as u64 + 1;
        if sent >= due {
            let next = begin + Duration::from_secs_f64(sent as f64 / spec.rate);
            tokio::time::sleep_until(next.min(end).into()).await;
            continue;
        }
        buf.clear();
        let micros = now_micros();
        for _ in 0..(due - sent).min(MAX_BATCH) {
            buf.extend_from_slice(prefix.as_bytes());
            let stamp = Stamp {
                sender: index,
                seq: first_seq + sent,
                micros,
            };
            write_stamp(&mut buf, stamp, size);
            buf.extend_from_slice(b"\r\n");
            sent += 1;
        }
        if writer.lock().await.write_all(&buf).await.is_err() {
            break;
        }
    }
    sent
}

/// What [`run_load`] (or one [`LoadSession::phase`]) is to do.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The senders.
    pub senders: Vec<SenderSpec>,
    /// How many of the reading clients get each message.
    pub receivers_per_message: u64,
    /// Seconds of sending.
    pub duration: Duration,
    /// Message text size in bytes.
    pub size: usize,
    /// The server's pid, to measure its CPU and memory over the run.
    pub pid: Option<u32>,
    /// Other processes of the network (nodes, NATS), whose CPU and memory count with it.
    pub also_pids: Vec<u32>,
}

/// What [`run_load`] measured.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Messages written by the senders.
    pub sent: u64,
    /// Deliveries expected (`sent × receivers_per_message`).
    pub expected: u64,
    /// Stamped messages received.
    pub received: u64,
    /// Their latency.
    pub latency: Latency,
    /// Messages from one sender that arrived out of order or twice.
    pub order_violations: u64,
    /// From the first send to the last delivery, seconds.
    pub window_secs: f64,
    /// Readers whose connection ended during the run, with a sample of reasons.
    pub closed: usize,
    /// Up to 5 reasons given for closed connections.
    pub closed_reasons: Vec<String>,
    /// Server CPU seconds (user + system) over the window, if the pid was given.
    pub server_cpu: Option<f64>,
    /// Server CPU seconds over the window by thread name (threads of one name added up), if
    /// the pid was given.
    pub server_threads: Vec<(String, f64)>,
    /// Server RSS before and after, KiB.
    pub server_rss: Option<(u64, u64)>,
    /// The generator's own CPU seconds over the window.
    pub generator_cpu: f64,
}

impl LoadResult {
    /// Deliveries per second over the window.
    pub fn delivered_per_sec(&self) -> f64 {
        crate::stats::per_second(self.received as f64, self.window_secs)
    }

    /// Lost deliveries.
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.received)
    }
}

/// Runs a message load over registered clients: every client reads; the senders send. Waits
/// for the deliveries to drain (at most 10 s after the last send, or 2 s without progress).
pub async fn run_load(clients: Vec<Client>, spec: LoadSpec) -> LoadResult {
    let mut session = LoadSession::start(clients, spec.senders.len()).await;
    let mut result = session.phase(&spec, Duration::from_secs(10)).await;
    // Readers that saw an ERROR and then the end of their stream are counted as they stop.
    let tally = session.finish().await;
    result.closed = tally.closed.load(Ordering::Relaxed) as usize;
    result.closed_reasons = tally
        .closed_reasons
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    result
}

/// Clients that all read, over which loads are run one after another ([`LoadSession::phase`]):
/// the `durable` scenario steps its rate up over the same connections.
pub struct LoadSession {
    writers: Vec<Arc<Mutex<WriteHalf>>>,
    readers: JoinSet<()>,
    tally: Arc<Tally>,
    stop: CancellationToken,
    /// The next sequence number of each sender (by its index in the phase's list), so that
    /// numbers keep rising from one phase to the next.
    next_seq: Vec<u64>,
}

impl LoadSession {
    /// Starts a reader for every client (readers expect at most `senders` senders), and lets
    /// them drain what setup left (JOIN lines, NAMES) for half a second.
    pub async fn start(clients: Vec<Client>, senders: usize) -> LoadSession {
        let stop = CancellationToken::new();
        let tally = Arc::new(Tally::default());
        let mut writers = Vec::with_capacity(clients.len());
        let mut readers = JoinSet::new();
        for client in clients {
            let writer = Arc::new(Mutex::new(client.writer));
            writers.push(writer.clone());
            readers.spawn(read_member(
                client.reader,
                writer,
                senders,
                tally.clone(),
                stop.clone(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        LoadSession {
            writers,
            readers,
            tally,
            stop,
            next_seq: vec![0; senders],
        }
    }

    /// Runs one load: the senders send for `spec.duration`, then the deliveries drain (at most
    /// `drain` after the last send, or 2 s without progress). Deliveries that arrive after that
    /// count in the next phase.
    pub async fn phase(&mut self, spec: &LoadSpec, drain: Duration) -> LoadResult {
        let tally = &self.tally;
        let received_before = tally.received.load(Ordering::Relaxed);
        let violations_before = tally.order_violations.load(Ordering::Relaxed);
        let closed_before = tally.closed.load(Ordering::Relaxed);
        *tally.latency() = Latency::new();
        let server_before = procfs::sample_all(spec.pid, &spec.also_pids);
        let threads_before = spec.pid.and_then(|pid| procfs::thread_cpu(pid).ok());
        let gen_before = procfs::sample(None).ok();
        let start = Instant::now();
        let start_micros = now_micros();
        tally
            .last_arrival
            .fetch_max(start_micros, Ordering::Relaxed);
        if self.next_seq.len() < spec.senders.len() {
            self.next_seq.resize(spec.senders.len(), 0);
        }
        let mut senders = JoinSet::new();
        for (index, s) in spec.senders.iter().enumerate() {
            let Some(writer) = self.writers.get(s.client).cloned() else {
                continue;
            };
            let first_seq = self.next_seq[index];
            let (s, size, duration) = (s.clone(), spec.size, spec.duration);
            senders.spawn(async move {
                let sent =
                    send_loop(writer, index as u32, s, first_seq, size, start, duration).await;
                (index, sent)
            });
        }
        let mut sent = 0;
        while let Some(done) = senders.join_next().await {
            if let Ok((index, n)) = done {
                sent += n;
                self.next_seq[index] += n;
            }
        }
        let expected = sent * spec.receivers_per_message;

        // Drain: wait for every expected delivery, or until progress stops.
        let drain_start = Instant::now();
        let received = || tally.received.load(Ordering::Relaxed) - received_before;
        let mut last = received();
        let mut last_change = Instant::now();
        while drain_start.elapsed() < drain {
            let now = received();
            if now >= expected {
                break;
            }
            if now != last {
                last = now;
                last_change = Instant::now();
            } else if last_change.elapsed() > Duration::from_secs(2) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let server_after = procfs::sample_all(spec.pid, &spec.also_pids);
        let threads_after = spec.pid.and_then(|pid| procfs::thread_cpu(pid).ok());
        let gen_after = procfs::sample(None).ok();

        let mut result = LoadResult {
            sent,
            expected,
            received: received(),
            latency: tally.latency().clone(),
            order_violations: tally.order_violations.load(Ordering::Relaxed) - violations_before,
            closed: (tally.closed.load(Ordering::Relaxed) - closed_before) as usize,
            closed_reasons: tally
                .closed_reasons
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            ..LoadResult::default()
        };
        let last_arrival = tally.last_arrival.load(Ordering::Relaxed);
        result.window_secs = (last_arrival.saturating_sub(start_micros)) as f64 / 1e6;
        if let (Some(b), Some(a)) = (server_before, server_after) {
            result.server_cpu = Some(a.cpu_seconds - b.cpu_seconds);
            result.server_rss = Some((b.rss_kib, a.rss_kib));
        }
        if let (Some(b), Some(a)) = (threads_before, threads_after) {
            result.server_threads = procfs::thread_cpu_delta(&b, &a);
        }
        if let (Some(b), Some(a)) = (gen_before, gen_after) {
            result.generator_cpu = a.cpu_seconds - b.cpu_seconds;
        }
        result
    }

    /// Stops the readers and waits for them; returns what they found in all.
    async fn finish(mut self) -> Arc<Tally> {
        self.stop.cancel();
        while self.readers.join_next().await.is_some() {}
        self.tally
    }

    /// Stops the readers (the connections close when the session is dropped).
    pub async fn stop(self) {
        self.finish().await;
    }
}

/// A short random tag for nicks and channel names, so that runs do not collide.
pub fn run_id() -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..2)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// Nick number `i` of a run: a letter, the run id and `i` in hex (at most 9 characters for
/// fewer than 65,536 clients, the smallest NICKLEN among the peers).
pub fn nick(prefix: char, run: &str, i: usize) -> String {
    format!("{prefix}{run}{i:x}")
}

/// Outcome of registering many clients.
#[derive(Debug, Default)]
pub struct Registered {
    /// The clients that got `001`, in no particular order.
    pub clients: Vec<Client>,
    /// Those that did not, with why.
    pub failures: Vec<ConnError>,
    /// Wall time from the first connect to the last answer.
    pub elapsed: Duration,
    /// Time from connect to `001`, per registered client.
    pub latency: Latency,
}

/// Registers `n` clients with at most `concurrency` in flight.
pub async fn register_many(
    connector: &Connector,
    prefix: char,
    run: &str,
    n: usize,
    concurrency: usize,
) -> Registered {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    for i in 0..n {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let connector = connector.clone();
        let nick = nick(prefix, run, i);
        tasks.spawn(async move {
            let began = Instant::now();
            let result = conn::register(&connector, &nick, Duration::from_secs(30)).await;
            drop(permit);
            result.map(|client| (client, began.elapsed()))
        });
    }
    let mut out = Registered::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok((client, took))) => {
                out.latency.record(took.as_micros() as u64);
                out.clients.push(client);
            }
            Ok(Err(e)) => out.failures.push(e),
            Err(e) => out.failures.push(ConnError::Refused(format!("task: {e}"))),
        }
    }
    out.elapsed = start.elapsed();
    out
}

/// Joins every client to `channel`, `concurrency` at a time; returns those that made it and
/// the number that failed.
pub async fn join_many(
    clients: Vec<Client>,
    channel: &str,
    concurrency: usize,
) -> (Vec<Client>, Vec<ConnError>) {
    each_in(clients, channel, concurrency, Act::Join).await
}

/// Joins each client to the channel paired with it, `concurrency` at a time; returns those
/// that made it, with their channel, and the failures. A client that has joined keeps reading
/// (and dropping) what it is sent until every join is done, so that big channels can be set
/// up.
pub async fn join_each(
    clients: Vec<(Client, String)>,
    concurrency: usize,
) -> (Vec<(Client, String)>, Vec<ConnError>) {
    each_then_drain(clients, concurrency, Act::Join).await
}

/// Has each client leave `channel`, `concurrency` at a time, as [`join_many`] has them join:
/// those that left keep reading until every PART is done. Returns those that made it and the
/// failures.
pub async fn part_many(
    clients: Vec<Client>,
    channel: &str,
    concurrency: usize,
) -> (Vec<Client>, Vec<ConnError>) {
    each_in(clients, channel, concurrency, Act::Part).await
}

/// [`each_then_drain`] with one channel for every client.
async fn each_in(
    clients: Vec<Client>,
    channel: &str,
    concurrency: usize,
    act: Act,
) -> (Vec<Client>, Vec<ConnError>) {
    let pairs = clients
        .into_iter()
        .map(|client| (client, channel.to_owned()))
        .collect();
    let (ok, failed) = each_then_drain(pairs, concurrency, act).await;
    (ok.into_iter().map(|(client, _)| client).collect(), failed)
}

/// Has every client change its nick at once (to its nick and `_`); returns those that did and
/// the failures.
pub async fn rename_all(clients: Vec<Client>) -> (Vec<Client>, Vec<ConnError>) {
    all_at_once(clients, |mut client| async move {
        let new = format!("{}_", client.nick);
        conn::nick(&mut client, &new, Duration::from_secs(30)).await?;
        Ok(client)
    })
    .await
}

/// Has every client QUIT at once; returns how many the server closed after their QUIT, and
/// the failures.
pub async fn quit_all(clients: Vec<Client>) -> (usize, Vec<ConnError>) {
    let (quit, failed) = all_at_once(clients, |client| {
        conn::quit(client, Duration::from_secs(30))
    })
    .await;
    (quit.len(), failed)
}

/// `act` for every client at once, each in a task: what those that made it gave, and the
/// failures.
async fn all_at_once<T, F, Fut>(clients: Vec<Client>, act: F) -> (Vec<T>, Vec<ConnError>)
where
    T: Send + 'static,
    F: Fn(Client) -> Fut,
    Fut: Future<Output = Result<T, ConnError>> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    for client in clients {
        tasks.spawn(act(client));
    }
    gather(tasks).await
}

/// What each task gave, as it ends: the values, and the failures (a task that panicked
/// among them).
async fn gather<T: 'static>(mut tasks: JoinSet<Result<T, ConnError>>) -> (Vec<T>, Vec<ConnError>) {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok(Ok(value)) => done.push(value),
            Ok(Err(e)) => failed.push(e),
            Err(e) => failed.push(ConnError::Refused(format!("task: {e}"))),
        }
    }
    (done, failed)
}

/// What [`each_then_drain`] has a client do with its channel.
#[derive(Debug, Clone, Copy)]
enum Act {
    Join,
    Part,
}

/// Each client does `act` with the channel paired with it, `concurrency` at a time, and then
/// reads until every client's is done.
async fn each_then_drain(
    clients: Vec<(Client, String)>,
    concurrency: usize,
    act: Act,
) -> (Vec<(Client, String)>, Vec<ConnError>) {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (joined_tx, mut joined_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut tasks = JoinSet::new();
    let mut started = 0;
    for (mut client, channel) in clients {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let mut stop = stop_rx.clone();
        let joined = joined_tx.clone();
        started += 1;
        tasks.spawn(async move {
            let deadline = Duration::from_secs(30);
            let result = match act {
                Act::Join => conn::join(&mut client, &channel, deadline).await,
                Act::Part => conn::part(&mut client, &channel, deadline).await,
            };
            drop(permit);
            let _ = joined.send(());
            result?;
            conn::drain_until(&mut client, &mut stop).await?;
            Ok((client, channel))
        });
    }
    for _ in 0..started {
        if joined_rx.recv().await.is_none() {
            break;
        }
    }
    let _ = stop_tx.send(true);
    gather(tasks).await
}

/// A short summary of failures: the first few distinct messages and the count.
pub fn describe_failures(failures: &[ConnError]) -> String {
    let mut kinds: Vec<String> = Vec::new();
    for f in failures {
        let text = f.to_string();
        if kinds.len() < 3 && !kinds.contains(&text) {
            kinds.push(text);
        }
    }
    format!("{} failed ({})", failures.len(), kinds.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_through_a_line() {
        let stamp = Stamp {
            sender: 7,
            seq: 123_456,
            micros: 98_765_432,
        };
        let mut text = b":alice!a@h PRIVMSG #c".to_vec();
        text.extend_from_slice(b" :");
        write_stamp(&mut text, stamp, 100);
        let body_len = text.len() - b":alice!a@h PRIVMSG #c :".len();
        assert_eq!(body_len, 100);
        assert_eq!(find_stamp(&text), Some(stamp));
    }

    #[test]
    fn a_long_stamp_is_not_cut() {
        let mut out = Vec::new();
        let stamp = Stamp {
            sender: u32::MAX,
            seq: u64::MAX,
            micros: u64::MAX,
        };
        write_stamp(&mut out, stamp, 4);
        let mut line = b"x PRIVMSG y :".to_vec();
        line.extend_from_slice(&out);
        assert_eq!(find_stamp(&line), Some(stamp));
    }

    #[test]
    fn lines_without_a_stamp_are_ignored() {
        for line in [
            &b":a PRIVMSG #c :hello"[..],
            b":a PRIVMSG #c :cb:1:x:3:",
            b":a PRIVMSG #c :cb:1:2",
            b":a PRIVMSG #c :cb:1:-2:3:",
            b":a PRIVMSG #c :cb:1:18446744073709551616:3:",
            b"",
        ] {
            assert_eq!(find_stamp(line), None, "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn nicks_fit_nicklen_9() {
        let n = nick('f', "z9", 65_535);
        assert_eq!(n, "fz9ffff");
        assert!(n.len() <= 9);
        assert_eq!(run_id().len(), 2);
    }
}
