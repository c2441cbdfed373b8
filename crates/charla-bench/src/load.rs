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

/// What one reading client saw.
#[derive(Debug, Default)]
pub struct ReaderStats {
    /// Stamped messages received (their latencies go to the run's shared histogram).
    pub received: u64,
    /// Messages from one sender that arrived out of order or twice.
    pub order_violations: u64,
    /// When the last stamped message arrived ([`now_micros`]).
    pub last_arrival: u64,
    /// Why the connection ended early, if it did (the ERROR text, or "closed").
    pub closed: Option<String>,
}

/// Reads a client's lines until `stop`, recording stamps and answering PINGs.
///
/// Latencies go to `latency`, shared by every reader of the run, once per read: a histogram per
/// reader made each record a cache miss in one of hundreds of count arrays (the top of the
/// generator's profile at 4M deliveries/s); a shared one stays in cache, and its lock is taken
/// once per batch of lines.
async fn read_member(
    mut reader: LineReader,
    writer: Arc<Mutex<WriteHalf>>,
    senders: usize,
    progress: Arc<AtomicU64>,
    latency: Arc<std::sync::Mutex<Latency>>,
    stop: CancellationToken,
) -> ReaderStats {
    let mut stats = ReaderStats::default();
    let mut last_seq: Vec<Option<u64>> = vec![None; senders];
    let mut batch: Vec<u64> = Vec::new();
    loop {
        let now = now_micros();
        let mut got = 0u64;
        while let Some(line) = reader.next_buffered() {
            if let Some(stamp) = find_stamp(line) {
                got += 1;
                batch.push(now.saturating_sub(stamp.micros));
                if let Some(last) = last_seq.get_mut(stamp.sender as usize) {
                    if last.is_some_and(|l| stamp.seq <= l) {
                        stats.order_violations += 1;
                    }
                    *last = Some(stamp.seq);
                }
                continue;
            }
            match conn::classify(&String::from_utf8_lossy(line)) {
                Reply::Ping(pong) => {
                    let _ = writer.lock().await.write_all(pong.as_bytes()).await;
                }
                Reply::Error(text) => stats.closed = Some(text),
                _ => {}
            }
        }
        if !batch.is_empty() {
            // A poisoned lock only means another reader panicked; its samples are still good.
            let mut hist = latency
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for micros in batch.drain(..) {
                hist.record(micros);
            }
        }
        if got > 0 {
            stats.received += got;
            stats.last_arrival = now;
            progress.fetch_add(got, Ordering::Relaxed);
        }
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            read = reader.fill() => match read {
                Ok(0) | Err(_) => {
                    stats.closed.get_or_insert_with(|| "closed".to_owned());
                    break;
                }
                Ok(_) => {}
            },
        }
    }
    stats
}

/// One sending client.
#[derive(Debug, Clone)]
pub struct SenderSpec {
    /// Index of the client (in the list given to [`run_load`]).
    pub client: usize,
    /// PRIVMSG target: a channel or a nick.
    pub target: String,
    /// Messages per second.
    pub rate: f64,
}

impl SenderSpec {
    /// Private conversations between neighbours (0 with 1, 2 with 3, ...): every client sends
    /// to its partner, `total_rate` messages per second spread over all of them.
    pub fn pairs(clients: &[crate::conn::Client], total_rate: u64) -> Vec<SenderSpec> {
        let per_client = total_rate as f64 / clients.len() as f64;
        (0..clients.len())
            .map(|i| SenderSpec {
                client: i,
                target: clients[i ^ 1].nick.clone(),
                rate: per_client,
            })
            .collect()
    }
}

/// Sends stamped messages at `rate` until `until`; returns how many were written.
async fn send_loop(
    writer: Arc<Mutex<WriteHalf>>,
    index: u32,
    spec: SenderSpec,
    size: usize,
    start: Instant,
    duration: Duration,
) -> u64 {
    let mut seq = 0u64;
    let mut buf = Vec::with_capacity(64 * 1024);
    let prefix = format!("PRIVMSG {} :", spec.target);
    loop {
        let elapsed = start.elapsed();
        if elapsed >= duration {
            break;
        }
        let due = (spec.rate * elapsed.as_secs_f64()) as u64 + 1;
        if seq >= due {
            let next = start + Duration::from_secs_f64(seq as f64 / spec.rate);
            tokio::time::sleep_until(next.into()).await;
            continue;
        }
        buf.clear();
        let micros = now_micros();
        for _ in 0..(due - seq).min(MAX_BATCH) {
            buf.extend_from_slice(prefix.as_bytes());
            let stamp = Stamp {
                sender: index,
                seq,
                micros,
            };
            write_stamp(&mut buf, stamp, size);
            buf.extend_from_slice(b"\r\n");
            seq += 1;
        }
        if writer.lock().await.write_all(&buf).await.is_err() {
            break;
        }
    }
    seq
}

/// What [`run_load`] is to do.
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
    let stop = CancellationToken::new();
    let progress = Arc::new(AtomicU64::new(0));
    let latency = Arc::new(std::sync::Mutex::new(Latency::new()));
    let mut writers = Vec::with_capacity(clients.len());
    let mut readers = JoinSet::new();
    for client in clients {
        let writer = Arc::new(Mutex::new(client.writer));
        writers.push(writer.clone());
        readers.spawn(read_member(
            client.reader,
            writer,
            spec.senders.len(),
            progress.clone(),
            latency.clone(),
            stop.clone(),
        ));
    }
    // Let the readers drain what setup left (JOIN lines, NAMES) before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let server_before = spec.pid.and_then(|pid| procfs::sample(Some(pid)).ok());
    let gen_before = procfs::sample(None).ok();
    let start = Instant::now();
    let start_micros = now_micros();
    let mut senders = JoinSet::new();
    for (index, s) in spec.senders.iter().enumerate() {
        let Some(writer) = writers.get(s.client).cloned() else {
            continue;
        };
        senders.spawn(send_loop(
            writer,
            index as u32,
            s.clone(),
            spec.size,
            start,
            spec.duration,
        ));
    }
    let mut sent = 0;
    while let Some(done) = senders.join_next().await {
        sent += done.unwrap_or(0);
    }
    let expected = sent * spec.receivers_per_message;

    // Drain: wait for every expected delivery, or until progress stops.
    let drain_start = Instant::now();
    let mut last = progress.load(Ordering::Relaxed);
    let mut last_change = Instant::now();
    while drain_start.elapsed() < Duration::from_secs(10) {
        let now = progress.load(Ordering::Relaxed);
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
    let server_after = spec.pid.and_then(|pid| procfs::sample(Some(pid)).ok());
    let gen_after = procfs::sample(None).ok();
    stop.cancel();

    let mut result = LoadResult {
        sent,
        expected,
        ..LoadResult::default()
    };
    let mut last_arrival = start_micros;
    while let Some(done) = readers.join_next().await {
        let Ok(stats) = done else { continue };
        result.received += stats.received;
        result.order_violations += stats.order_violations;
        last_arrival = last_arrival.max(stats.last_arrival);
        if let Some(reason) = stats.closed {
            result.closed += 1;
            if result.closed_reasons.len() < 5 && !result.closed_reasons.contains(&reason) {
                result.closed_reasons.push(reason);
            }
        }
    }
    result.latency = latency
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    result.window_secs = (last_arrival.saturating_sub(start_micros)) as f64 / 1e6;
    if let (Some(b), Some(a)) = (server_before, server_after) {
        result.server_cpu = Some(a.cpu_seconds - b.cpu_seconds);
        result.server_rss = Some((b.rss_kib, a.rss_kib));
    }
    if let (Some(b), Some(a)) = (gen_before, gen_after) {
        result.generator_cpu = a.cpu_seconds - b.cpu_seconds;
    }
    result
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
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for mut client in clients {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let channel = channel.to_owned();
        tasks.spawn(async move {
            let result = conn::join(&mut client, &channel, Duration::from_secs(30)).await;
            drop(permit);
            result.map(|()| client)
        });
    }
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(client)) => ok.push(client),
            Ok(Err(e)) => failed.push(e),
            Err(e) => failed.push(ConnError::Refused(format!("task: {e}"))),
        }
    }
    (ok, failed)
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
