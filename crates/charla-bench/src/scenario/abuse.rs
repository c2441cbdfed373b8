//! The abuse scenarios, at large sizes: each ends in PASS or FAIL with the figures behind it.
//!
//! - `slow-readers`: clients join a busy channel and never read again.
//! - `flood`: one client writes as fast as the server reads; probes measure the others.
//! - `conn-storm`: many connections from one IP at once.
//! - `garbage`: random bytes on a socket.
//! - `half-register`: clients that stop in the middle of registration.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::{RngCore as _, SeedableRng as _};
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{Ctx, add_load_metrics, control_check};
use crate::conn::{self, ConnError, LineReader};
use crate::load::{self, LoadSpec, SenderSpec};
use crate::procfs;
use crate::report::Report;
use crate::stats::{Latency, per_second};

/// Sizes of the slow-readers scenario.
#[derive(Debug, Clone, Copy)]
pub struct SlowReaders {
    /// Clients that never read.
    pub clients: usize,
    /// Clients sending into the channel.
    pub senders: usize,
    /// Total messages per second.
    pub rate: u64,
    /// Seconds of sending.
    pub duration: u64,
    /// Message text bytes.
    pub size: usize,
    /// RSS growth (MiB) above which the run fails.
    pub rss_limit_mib: u64,
}

/// Words by which servers say "you are being throttled / limited".
const THROTTLE_WORDS: [&str; 8] = [
    "throttl",
    "too many",
    "too fast",
    "reconnect",
    "connection limit",
    "wait",
    "flood",
    "limit",
];

fn is_throttle_message(text: &str) -> bool {
    let lower = text.to_lowercase();
    THROTTLE_WORDS.iter().any(|w| lower.contains(w))
}

fn is_sendq_message(text: &str) -> bool {
    text.to_lowercase().contains("sendq")
}

/// Samples the server's RSS every 200 ms until `stop`; returns the peak in KiB.
pub(super) fn spawn_rss_peak(ctx: &Ctx, stop: CancellationToken) -> tokio::task::JoinHandle<u64> {
    let pid = ctx.pid;
    tokio::spawn(async move {
        let mut peak = 0;
        while !stop.is_cancelled() {
            if let Some(s) = pid.and_then(|p| procfs::sample(Some(p)).ok()) {
                peak = peak.max(s.rss_kib);
            }
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
        peak
    })
}

/// Checks that the server process is still there, when its pid is known.
fn check_alive(ctx: &Ctx, r: &mut Report) {
    if let Some(pid) = ctx.pid {
        r.check(procfs::alive(pid), "the server process is still running");
    }
}

/// Runs the control check and records it.
async fn check_control(ctx: &Ctx, r: &mut Report, key: &'static str, nick: &str) {
    match control_check(ctx, nick).await {
        Ok(ms) => {
            r.metric(key, ms, "ms");
            r.check(
                true,
                format!("a client from another address registered and got a PONG ({key})"),
            );
        }
        Err(e) => r.check(false, format!("{key}: {e}")),
    }
}

/// `slow-readers`: clients that never read, in a busy channel.
pub async fn slow_readers(ctx: &Ctx, sizes: SlowReaders) -> Report {
    let mut r = ctx.report("slow-readers");
    let run = load::run_id();
    let channel = format!("#cb{run}");
    // Tiny receive buffers so that the server's own queue, not the kernel, fills up.
    let mut slow_connector = ctx.connector.clone();
    slow_connector.recv_buffer = Some(4096);
    let reg = load::register_many(&slow_connector, 's', &run, sizes.clients, ctx.concurrency).await;
    if !reg.failures.is_empty() {
        r.note(format!(
            "slow registration: {}",
            load::describe_failures(&reg.failures)
        ));
    }
    let (slow, failed) = load::join_many(reg.clients, &channel, ctx.concurrency).await;
    if !failed.is_empty() {
        r.note(format!("slow join: {}", load::describe_failures(&failed)));
    }
    let normal = load::register_many(&ctx.connector, 'n', &run, sizes.senders + 1, 32).await;
    let (normal, failed) = load::join_many(normal.clients, &channel, 32).await;
    if !failed.is_empty() || normal.len() < 2 {
        r.check(
            false,
            format!(
                "normal clients could not join: {}",
                load::describe_failures(&failed)
            ),
        );
        return r;
    }
    r.metric("slow_clients", slow.len() as f64, "clients");
    r.metric("normal_clients", normal.len() as f64, "clients");
    let baseline = ctx.server_sample();
    let stop_rss = CancellationToken::new();
    let rss_peak = spawn_rss_peak(ctx, stop_rss.clone());
    let senders = normal.len() - 1;
    let spec = LoadSpec {
        senders: (0..senders)
            .map(|client| SenderSpec {
                client,
                target: channel.clone(),
                rate: sizes.rate as f64 / senders as f64,
                offset: 0.0,
            })
            .collect(),
        // Each message reaches the other senders and the one listening client.
        receivers_per_message: senders as u64,
        duration: Duration::from_secs(sizes.duration),
        size: sizes.size,
        pid: ctx.pid,
        also_pids: ctx.also_pids.clone(),
    };
    let result = load::run_load(normal, spec).await;
    stop_rss.cancel();
    let peak = rss_peak.await.unwrap_or(0);
    add_load_metrics(&mut r, &result, "normal_");

    // Which slow clients are still members, as the server sees it (NAMES, standard IRC): the
    // server's view is reliable where reading the slow sockets is not (a closed socket's
    // backlog may sit in the kernel for long after the server let go of it).
    let slow_count = slow.len();
    let still_members = slow_members(ctx, &channel, &format!("s{run}")).await;
    // Then read a little of what the slow clients got, for the reasons given.
    let mut drains = JoinSet::new();
    for client in slow {
        drains.spawn(drain_until_closed(client.reader, Duration::from_secs(5)));
    }
    let (mut seen_closed, mut for_sendq) = (0usize, 0usize);
    let mut reasons: Vec<String> = Vec::new();
    while let Some(done) = drains.join_next().await {
        if let Ok(Some(reason)) = done {
            seen_closed += 1;
            if is_sendq_message(&reason) {
                for_sendq += 1;
            }
            if reasons.len() < 3 && !reasons.contains(&reason) {
                reasons.push(reason);
            }
        }
    }
    let (closed, count) = match still_members {
        Ok(n) => (slow_count.saturating_sub(n), slow_count),
        Err(e) => {
            r.note(format!(
                "NAMES failed ({e}); counting closes seen on the sockets instead"
            ));
            (seen_closed, slow_count)
        }
    };
    r.metric("slow_disconnected", closed as f64, "clients");
    r.metric("slow_still_open", (count - closed) as f64, "clients");
    r.metric("slow_close_seen", seen_closed as f64, "clients");
    r.metric("slow_disconnected_sendq", for_sendq as f64, "clients");
    if !reasons.is_empty() {
        r.note(format!(
            "slow clients' close reasons: {}",
            reasons.join(" | ")
        ));
    }
    if let Some(b) = baseline {
        let growth_mib = (peak.saturating_sub(b.rss_kib)) as f64 / 1024.0;
        r.metric("server_rss_baseline_kib", b.rss_kib as f64, "KiB");
        r.metric("server_rss_peak_kib", peak as f64, "KiB");
        r.metric("server_rss_growth_mib", growth_mib, "MiB");
        r.check(
            growth_mib <= sizes.rss_limit_mib as f64,
            format!(
                "server RSS grew {growth_mib:.1} MiB (limit {} MiB)",
                sizes.rss_limit_mib
            ),
        );
    }
    r.check(
        closed == count && count > 0,
        format!("{closed} of {count} slow clients were disconnected"),
    );
    // The ERROR line rarely gets through: the queue it would join is the one that is full.
    r.note(format!(
        "{for_sendq} of {closed} received an ERROR line naming SendQ (most servers cannot \
         deliver it to a client whose queue is full; see the server's log)"
    ));
    r.check(
        result.lost() == 0 && result.closed == 0,
        format!(
            "the normal clients lost {} deliveries and {} connections",
            result.lost(),
            result.closed
        ),
    );
    check_alive(ctx, &mut r);
    r
}

/// Counts the members of `channel` whose nick starts with `prefix`, asking with NAMES from a
/// fresh client on another address; waits up to 10 s for the count to reach 0.
async fn slow_members(ctx: &Ctx, channel: &str, prefix: &str) -> Result<usize, String> {
    let mut client = conn::register(
        &ctx.other_ip(),
        &format!("{prefix}n"),
        Duration::from_secs(10),
    )
    .await
    .map_err(|e| e.to_string())?;
    let start = Instant::now();
    loop {
        client
            .writer
            .write_all(format!("NAMES {channel}\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut members = 0;
        let listed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let line = client.reader.next_line().await.map_err(|e| e.to_string())?;
                let line = line.ok_or("closed")?;
                match conn::classify(&line) {
                    conn::Reply::Ping(pong) => {
                        client
                            .writer
                            .write_all(pong.as_bytes())
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    conn::Reply::Numeric(charla_proto::numeric::RPL_NAMREPLY, params) => {
                        let names = params.last().map(String::as_str).unwrap_or("");
                        members += names
                            .split(' ')
                            .map(|n| n.trim_start_matches(['@', '+', '%', '~', '&']))
                            .filter(|n| n.starts_with(prefix))
                            .count();
                    }
                    conn::Reply::Numeric(charla_proto::numeric::RPL_ENDOFNAMES, _) => {
                        return Ok::<(), String>(());
                    }
                    _ => {}
                }
            }
        })
        .await;
        match listed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err("no NAMES answer".into()),
        }
        if members == 0 || start.elapsed() > Duration::from_secs(10) {
            return Ok(members);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Reads until the server closes the connection (or `deadline`); returns the reason (the
/// ERROR text, or "closed"/"reset") if it closed.
async fn drain_until_closed(mut reader: LineReader, deadline: Duration) -> Option<String> {
    let work = async {
        let mut error = None;
        loop {
            match reader.next_line().await {
                Ok(Some(line)) => {
                    if let conn::Reply::Error(text) = conn::classify(&line) {
                        error = Some(text);
                    }
                }
                Ok(None) => return error.unwrap_or_else(|| "closed without ERROR".into()),
                Err(e) => return error.unwrap_or_else(|| format!("reset ({e})")),
            }
        }
    };
    tokio::time::timeout(deadline, work).await.ok()
}

/// `flood`: a quiet baseline of probe pairs, then the same probes while one client floods a
/// channel that another client watches.
pub async fn flood(ctx: &Ctx, duration: u64, probe_rate: u64, max_bytes: u64) -> Report {
    let mut r = ctx.report("flood");
    let run = load::run_id();
    let baseline = match probe_pairs(ctx, &run, 0, probe_rate, duration).await {
        Ok(load) => load,
        Err(e) => {
            r.check(false, format!("baseline probes: {e}"));
            return r;
        }
    };
    add_load_metrics(&mut r, &baseline, "baseline_");

    let flood_channel = format!("#cf{run}");
    let reg = load::register_many(&attacker(ctx), 'x', &run, 2, 2).await;
    let (mut pair, failed) = load::join_many(reg.clients, &flood_channel, 2).await;
    if pair.len() != 2 {
        r.check(
            false,
            format!("flooder and watcher: {}", load::describe_failures(&failed)),
        );
        return r;
    }
    let (Some(watcher), Some(flooder)) = (pair.pop(), pair.pop()) else {
        return r;
    };
    let stop = CancellationToken::new();
    let watched = Arc::new(AtomicU64::new(0));
    let watch_task = tokio::spawn(count_lines(
        watcher.reader,
        watched.clone(),
        true,
        stop.clone(),
    ));
    let flooder_replies = Arc::new(AtomicU64::new(0));
    let flooder_reader = tokio::spawn(count_lines(
        flooder.reader,
        flooder_replies.clone(),
        false,
        stop.clone(),
    ));
    let deadline = Duration::from_secs(duration);
    let flood_task = tokio::spawn(flood_writer(
        flooder.writer,
        flood_channel.clone(),
        deadline,
        max_bytes,
    ));
    let probes = probe_pairs(ctx, &run, 1, probe_rate, duration).await;
    let (written, flood_secs, write_error) = flood_task.await.unwrap_or((0, 0.0, None));
    // Let the last throttled lines through before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    let watcher_end = watch_task.await.ok().flatten();
    let flooder_end = flooder_reader.await.ok().flatten();
    let delivered = watched.load(Ordering::Relaxed);
    r.metric("flood_bytes_written", written as f64, "B");
    r.metric(
        "flood_write_mib_per_s",
        per_second(written as f64 / 1_048_576.0, flood_secs),
        "MiB/s",
    );
    r.metric("flood_lines_delivered", delivered as f64, "lines");
    r.metric(
        "flood_delivered_per_s",
        per_second(delivered as f64, duration as f64),
        "lines/s",
    );
    let flood_lines = written / FLOOD_LINE_LEN;
    r.metric("flood_lines_written", flood_lines as f64, "lines");
    let disconnected = write_error.is_some() || flooder_end.is_some();
    if let Some(reason) = flooder_end.or(write_error) {
        r.note(format!("the flooder was disconnected: {reason}"));
    }
    if let Some(reason) = watcher_end {
        r.check(false, format!("the watcher was disconnected: {reason}"));
    }
    let probes = match probes {
        Ok(p) => p,
        Err(e) => {
            r.check(false, format!("probes under flood: {e}"));
            return r;
        }
    };
    add_load_metrics(&mut r, &probes, "probe_");
    let base_p99 = baseline.latency.quantile_ms(0.99);
    let flood_p99 = probes.latency.quantile_ms(0.99);
    let allowed = (3.0 * base_p99).max(base_p99 + 10.0);
    r.check(
        flood_p99 <= allowed,
        format!("probe p99 {flood_p99:.2} ms under flood vs {base_p99:.2} ms quiet (allowed {allowed:.2})"),
    );
    r.check(
        probes.lost() == 0 && probes.closed == 0,
        format!(
            "the probes lost {} messages and {} connections",
            probes.lost(),
            probes.closed
        ),
    );
    // Throttled: the server did not relay everything the flooder wrote, or cut it off.
    let relayed_all = delivered >= flood_lines.saturating_sub(flood_lines / 100);
    r.check(
        disconnected || !relayed_all,
        format!("the flood was throttled or cut: {delivered} of {flood_lines} lines relayed, disconnected: {disconnected}"),
    );
    check_alive(ctx, &mut r);
    r
}

/// The text of one flood line, a fixed size.
const FLOOD_LINE_LEN: u64 = 420;

/// Writes PRIVMSGs as fast as the server takes them, until `deadline` or `max_bytes`.
/// Returns bytes written, seconds, and the write error if the server closed the link.
async fn flood_writer(
    mut writer: conn::WriteHalf,
    channel: String,
    deadline: Duration,
    max_bytes: u64,
) -> (u64, f64, Option<String>) {
    let mut line = format!("PRIVMSG {channel} :flood ").into_bytes();
    line.resize(FLOOD_LINE_LEN as usize - 2, b'F');
    line.extend_from_slice(b"\r\n");
    let batch: Vec<u8> = line.repeat(64);
    let start = Instant::now();
    let mut written = 0u64;
    while start.elapsed() < deadline && written < max_bytes {
        let left = deadline.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, writer.write_all(&batch)).await {
            Ok(Ok(())) => written += batch.len() as u64,
            Ok(Err(e)) => return (written, start.elapsed().as_secs_f64(), Some(e.to_string())),
            // The server stopped reading: that is throttling, and the time is up.
            Err(_) => break,
        }
    }
    (written, start.elapsed().as_secs_f64(), None)
}

/// Counts lines until `stop`; returns the ERROR text or close reason if the link ended.
async fn count_lines(
    mut reader: LineReader,
    count: Arc<AtomicU64>,
    only_privmsg: bool,
    stop: CancellationToken,
) -> Option<String> {
    let mut error = None;
    loop {
        tokio::select! {
            () = stop.cancelled() => return None,
            read = reader.fill() => match read {
                Ok(0) => return Some(error.unwrap_or_else(|| "closed".into())),
                Err(e) => return Some(error.unwrap_or_else(|| e.to_string())),
                Ok(_) => {
                    let mut n = 0;
                    while let Some(line) = reader.next_buffered() {
                        if !only_privmsg || memchr::memmem::find(line, b" PRIVMSG ").is_some() {
                            n += 1;
                        }
                        if let conn::Reply::Error(text) =
                            conn::classify(&String::from_utf8_lossy(line))
                        {
                            error = Some(text);
                        }
                    }
                    count.fetch_add(n, Ordering::Relaxed);
                }
            },
        }
    }
}

/// Probe pairs: `PROBE_PAIRS` pairs of fresh clients, each from its own loopback address,
/// writing to each other at `rate` messages per second in all, for `duration` seconds. The
/// rate is meant to be a polite one (below any flood limit), so that only the flood's effect
/// on them shows.
///
/// They run on a thread and a runtime of their own: in the generator's runtime a probe's
/// reader waited its turn behind the thousands of readers of the load it measures (a join
/// storm's 2.5 million JOIN lines), which added up to 50 ms to what the server took
/// (docs/BENCHMARKS.md, "A join storm", twenty-second session).
pub(super) async fn probe_pairs(
    ctx: &Ctx,
    run: &str,
    first: usize,
    rate: u64,
    duration: u64,
) -> Result<load::LoadResult, String> {
    let (ctx, run) = (ctx.clone(), run.to_owned());
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("probes".to_owned())
        .spawn(move || {
            let result = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => {
                    runtime.block_on(probe_pairs_here(&ctx, &run, first, rate, duration))
                }
                Err(e) => Err(format!("the probes' runtime: {e}")),
            };
            let _ = tx.send(result);
        })
        .map_err(|e| format!("the probes' thread: {e}"))?;
    rx.await
        .map_err(|_| "the probes' thread ended without a result".to_owned())?
}

/// [`probe_pairs`], in the runtime it is called in.
async fn probe_pairs_here(
    ctx: &Ctx,
    run: &str,
    first: usize,
    rate: u64,
    duration: u64,
) -> Result<load::LoadResult, String> {
    let mut connector = ctx.connector.clone();
    connector.spread = 250;
    let reg = load::register_many(
        &connector,
        'p',
        &format!("{run}{first}"),
        PROBE_PAIRS * 2,
        8,
    )
    .await;
    if !reg.failures.is_empty() {
        return Err(load::describe_failures(&reg.failures));
    }
    let clients = reg.clients;
    let senders = SenderSpec::pairs(&clients, rate);
    let spec = LoadSpec {
        senders,
        receivers_per_message: 1,
        duration: Duration::from_secs(duration),
        size: 100,
        pid: ctx.pid,
        also_pids: ctx.also_pids.clone(),
    };
    Ok(load::run_load(clients, spec).await)
}

/// Probe pairs in the flood scenario.
const PROBE_PAIRS: usize = 10;

/// A loopback address for the misbehaving client of a run, chosen at random among
/// 127.0.200.1..127.0.249.250 so that one run's per-IP throttle does not meet the next run.
fn attacker_ip() -> std::net::IpAddr {
    use rand::Rng as _;
    let mut rng = rand::rng();
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(
        127,
        0,
        rng.random_range(200..250),
        rng.random_range(1..251),
    ))
}

/// The connector for the misbehaving client(s): one address, from [`attacker_ip`] when the
/// server is on IPv4.
fn attacker(ctx: &Ctx) -> crate::conn::Connector {
    if ctx.addr.is_ipv4() {
        ctx.connector.with_local_ip(attacker_ip())
    } else {
        ctx.connector.with_local_ip(ctx.addr.ip())
    }
}

/// How one storm connection ended.
#[derive(Debug, Default)]
struct StormCounts {
    registered: usize,
    throttled: usize,
    other_error: usize,
    closed_silently: usize,
    connect_failed: usize,
    timed_out: usize,
}

/// `conn-storm`: `connections` registrations from one loopback address as fast as possible.
pub async fn conn_storm(ctx: &Ctx, connections: usize) -> Report {
    let mut r = ctx.report("conn-storm");
    let run = load::run_id();
    // The storm comes from one address, whatever --spread-ips says.
    let storm_connector = attacker(ctx);
    let permits = Arc::new(Semaphore::new(ctx.concurrency));
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    for i in 0..connections {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let connector = storm_connector.clone();
        let nick = load::nick('s', &run, i);
        tasks.spawn(async move {
            let result = conn::register(&connector, &nick, Duration::from_secs(15)).await;
            drop(permit);
            result
        });
    }
    // While the storm's answers come in, someone else connects.
    check_control(ctx, &mut r, "control_during_ms", &load::nick('k', &run, 0)).await;
    let mut counts = StormCounts::default();
    let mut samples: Vec<String> = Vec::new();
    let mut kept = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(client)) => {
                counts.registered += 1;
                kept.push(client);
            }
            Ok(Err(ConnError::Refused(text))) => {
                if is_throttle_message(&text) {
                    counts.throttled += 1;
                } else {
                    counts.other_error += 1;
                }
                if samples.len() < 3 && !samples.contains(&text) {
                    samples.push(text);
                }
            }
            Ok(Err(ConnError::Closed)) => counts.closed_silently += 1,
            Ok(Err(ConnError::Io(_))) | Err(_) => counts.connect_failed += 1,
            Ok(Err(ConnError::Timeout)) => counts.timed_out += 1,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(kept);
    r.metric("connections", connections as f64, "connections");
    r.metric("storm_s", secs, "s");
    r.metric(
        "attempts_per_s",
        per_second(connections as f64, secs),
        "conn/s",
    );
    r.metric("registered", counts.registered as f64, "clients");
    r.metric("throttled", counts.throttled as f64, "connections");
    r.metric("other_errors", counts.other_error as f64, "connections");
    r.metric(
        "closed_silently",
        counts.closed_silently as f64,
        "connections",
    );
    r.metric(
        "connect_failed",
        counts.connect_failed as f64,
        "connections",
    );
    r.metric("timed_out", counts.timed_out as f64, "connections");
    if !samples.is_empty() {
        r.note(format!("server's words: {}", samples.join(" | ")));
    }
    r.check(
        counts.throttled > 0,
        format!(
            "{} connections were refused with a throttle ERROR",
            counts.throttled
        ),
    );
    r.check(
        counts.timed_out == 0,
        format!("{} connections got no answer within 15 s", counts.timed_out),
    );
    check_control(ctx, &mut r, "control_after_ms", &load::nick('k', &run, 1)).await;
    check_alive(ctx, &mut r);
    r
}

/// `garbage`: `bytes` of random data on one unregistered connection.
pub async fn garbage(ctx: &Ctx, bytes: u64) -> Report {
    let mut r = ctx.report("garbage");
    let run = load::run_id();
    let before = ctx.server_sample();
    let (read_half, mut writer) = match attacker(ctx).open().await {
        Ok(x) => x,
        Err(e) => {
            r.check(false, format!("could not connect: {e}"));
            return r;
        }
    };
    let replies = Arc::new(AtomicU64::new(0));
    let stop = CancellationToken::new();
    let reader = tokio::spawn(count_lines(
        LineReader::new(read_half),
        replies.clone(),
        false,
        stop.clone(),
    ));
    // A fixed seed: the same bytes every run.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x00C4_A21A);
    let mut chunk = vec![0u8; 16 * 1024];
    let start = Instant::now();
    let mut written = 0u64;
    let mut write_end = None;
    let limit = Duration::from_secs(60);
    while written < bytes && start.elapsed() < limit {
        rng.fill_bytes(&mut chunk);
        let n = chunk.len().min((bytes - written) as usize);
        let left = limit.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, writer.write_all(&chunk[..n])).await {
            Ok(Ok(())) => written += n as u64,
            Ok(Err(e)) => {
                write_end = Some(e.to_string());
                break;
            }
            Err(_) => {
                write_end = Some("the server stopped reading for 60 s".into());
                break;
            }
        }
    }
    let send_secs = start.elapsed().as_secs_f64();
    // Whatever happened, the server must not be stuck: see how it treats others.
    check_control(ctx, &mut r, "control_ms", &load::nick('k', &run, 0)).await;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if reader.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .is_ok();
    stop.cancel();
    let read_end = reader.await.ok().flatten();
    r.metric("bytes_written", written as f64, "B");
    r.metric("send_s", send_secs, "s");
    r.metric(
        "reply_lines",
        replies.load(Ordering::Relaxed) as f64,
        "lines",
    );
    if let (Some(b), Some(a)) = (before, ctx.server_sample()) {
        r.metric(
            "server_rss_growth_kib",
            a.rss_kib as f64 - b.rss_kib as f64,
            "KiB",
        );
    }
    let how = read_end
        .clone()
        .or(write_end.clone())
        .unwrap_or_else(|| "still open".into());
    r.note(format!("the garbage connection ended: {how}"));
    r.check(
        closed && read_end.is_some(),
        format!("the server closed the garbage connection ({how})"),
    );
    check_alive(ctx, &mut r);
    r
}

/// How a half-registered client stops.
const HALF_STEPS: [&str; 5] = [
    "",
    "NICK {nick}\r\n",
    "USER {nick} 0 * :half\r\n",
    "NICK {nick}\r\nUSER {nick} 0 *",
    "CAP LS 302\r\nNICK {nick}\r\nUSER {nick} 0 * :half\r\n",
];

/// `half-register`: clients that stop mid-registration; the server must time them out.
pub async fn half_register(ctx: &Ctx, clients: usize, wait: u64) -> Report {
    let mut r = ctx.report("half-register");
    let run = load::run_id();
    let before = ctx.server_sample();
    let stop_rss = CancellationToken::new();
    let rss_peak = spawn_rss_peak(ctx, stop_rss.clone());
    let permits = Arc::new(Semaphore::new(ctx.concurrency));
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    let deadline = Duration::from_secs(wait);
    for i in 0..clients {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let connector = ctx.connector.clone();
        let text = HALF_STEPS[i % HALF_STEPS.len()].replace("{nick}", &load::nick('h', &run, i));
        tasks.spawn(async move {
            let opened = tokio::time::timeout(Duration::from_secs(10), connector.open()).await;
            drop(permit);
            let Ok(Ok((read_half, mut writer))) = opened else {
                return HalfOutcome::ConnectFailed;
            };
            if !text.is_empty() && writer.write_all(text.as_bytes()).await.is_err() {
                return HalfOutcome::Closed(start.elapsed(), false);
            }
            let mut reader = LineReader::new(read_half);
            let left = deadline.saturating_sub(start.elapsed());
            let mut welcomed = false;
            let ended = tokio::time::timeout(left, async {
                while let Ok(Some(line)) = reader.next_line().await {
                    if let conn::Reply::Numeric(charla_proto::numeric::RPL_WELCOME, _) =
                        conn::classify(&line)
                    {
                        welcomed = true;
                    }
                }
            })
            .await;
            // Keep the writer open until the end: closing it would end the test early.
            drop(writer);
            match ended {
                Ok(()) => HalfOutcome::Closed(start.elapsed(), welcomed),
                Err(_) => HalfOutcome::Open,
            }
        });
    }
    check_control(ctx, &mut r, "control_ms", &load::nick('k', &run, 0)).await;
    let mut times = Latency::new();
    let (mut closed, mut open, mut failed, mut welcomed) = (0usize, 0usize, 0usize, 0usize);
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(HalfOutcome::Closed(at, w)) => {
                closed += 1;
                times.record(at.as_micros() as u64);
                welcomed += usize::from(w);
            }
            Ok(HalfOutcome::Open) => open += 1,
            Ok(HalfOutcome::ConnectFailed) | Err(_) => failed += 1,
        }
    }
    stop_rss.cancel();
    let peak = rss_peak.await.unwrap_or(0);
    r.metric("clients", clients as f64, "clients");
    r.metric("closed_by_server", closed as f64, "clients");
    r.metric("still_open", open as f64, "clients");
    r.metric("connect_failed", failed as f64, "clients");
    r.metric("registered_anyway", welcomed as f64, "clients");
    r.metric("close_p50_s", times.quantile_ms(0.5) / 1e3, "s");
    r.metric("close_max_s", times.max_ms() / 1e3, "s");
    if let Some(b) = before {
        r.metric(
            "server_rss_growth_kib",
            peak.saturating_sub(b.rss_kib) as f64,
            "KiB",
        );
    }
    r.check(
        open == 0 && failed == 0,
        format!("{closed} of {clients} half-registered clients were closed by the server within {wait} s"),
    );
    r.check(
        welcomed == 0,
        format!("{welcomed} clients were welcomed without finishing registration"),
    );
    check_alive(ctx, &mut r);
    r
}

enum HalfOutcome {
    Closed(Duration, bool),
    Open,
    ConnectFailed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_words_are_recognised() {
        assert!(is_throttle_message("Trying to reconnect too fast."));
        assert!(is_throttle_message("Connection throttled"));
        assert!(is_throttle_message("Too many connections from your IP"));
        assert!(!is_throttle_message("Closing link"));
        assert!(is_sendq_message("Closing Link: x (SendQ exceeded)"));
        assert!(is_sendq_message("Max SendQ exceeded"));
        assert!(!is_sendq_message("Ping timeout"));
    }
}
