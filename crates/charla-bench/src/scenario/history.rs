//! The `history` scenario: CHATHISTORY as a client would use it, whole and at a rate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use charla_proto::Message;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::traffic::register_with_caps;
use super::{Ctx, ping_round_trip};
use crate::conn::{self, Client, Reply};
use crate::load;
use crate::procfs;
use crate::report::{Report, Verdict};
use crate::stats::{Latency, per_second};

/// The sizes of a `history` run.
#[derive(Debug, Clone)]
pub struct HistorySizes {
    /// Clients asking.
    pub clients: usize,
    /// Requests per client, as fast as answered (when `rate` is 0).
    pub requests: usize,
    /// Messages written into the channel first.
    pub messages: usize,
    /// Requests per second in all, or 0.
    pub rate: u64,
    /// Seconds of requests at `rate`.
    pub duration: u64,
    /// Lines per request; `None`: 50, or 100 at a rate.
    pub limit: Option<usize>,
    /// Messages per second written while the requests run.
    pub write_rate: u64,
}

/// The capabilities the history clients ask for.
const HISTORY_CAPS: [&str; 5] = [
    "draft/chathistory",
    "chathistory",
    "batch",
    "server-time",
    "message-tags",
];

/// `history`: CHATHISTORY from several clients at once, when the server advertises it;
/// otherwise says so and measures nothing. Every client joins the channel first, then they all
/// write its `messages` (so every asker may read them all), and wait until the server has taken
/// every line (a PING answered after them). Then, without a rate, each client alternates LATEST
/// and BEFORE as fast as it is answered; with one, LATEST at that rate in all, each request
/// timed from when it was due (so a server that falls behind shows in the latency, not in a
/// slower request rate).
pub async fn history(ctx: &Ctx, sizes: HistorySizes) -> Report {
    let mut r = ctx.report("history");
    let run = load::run_id();
    let (mut writer_client, caps) =
        match register_with_caps(ctx, &load::nick('h', &run, 0), &HISTORY_CAPS).await {
            Ok(x) => x,
            Err(e) => {
                r.check(false, format!("could not register: {e}"));
                return r;
            }
        };
    if !caps.chathistory() {
        r.verdict = Verdict::Unsupported;
        r.note("the server advertises neither draft/chathistory (CAP) nor CHATHISTORY (ISUPPORT): not supported, nothing measured");
        return r;
    }
    let mut limit = sizes.limit.unwrap_or(if sizes.rate > 0 { 100 } else { 50 });
    if let Some(max) = caps.chathistory_max()
        && max > 0
        && limit > max
    {
        r.note(format!(
            "the server answers at most {max} lines a request (CHATHISTORY={max}): asking {max}, not {limit}"
        ));
        limit = max;
    }
    let channel = format!("#cb{run}");
    if let Err(e) = conn::join(&mut writer_client, &channel, Duration::from_secs(10)).await {
        r.check(false, format!("join: {e}"));
        return r;
    }
    let askers = join_askers(ctx, &run, &channel, sizes.clients, &mut r).await;

    // Fill the channel's history, every client writing its share, once all are in it.
    let fill_start = Instant::now();
    let mut everyone = Vec::with_capacity(askers.len() + 1);
    everyone.push(writer_client);
    everyone.extend(askers);
    let everyone = match fill_history(everyone, &channel, sizes.messages).await {
        Ok(clients) => clients,
        Err(e) => {
            r.check(false, format!("filling history: {e}"));
            return r;
        }
    };
    r.metric("history_messages", sizes.messages as f64, "messages");
    r.metric("fill_s", fill_start.elapsed().as_secs_f64(), "s");
    let mut everyone = everyone.into_iter();
    let Some(writer_client) = everyone.next() else {
        return r;
    };
    let askers: Vec<Client> = everyone.collect();
    r.metric("clients", askers.len() as f64, "clients");
    r.metric("lines_per_request_asked", limit as f64, "lines");
    if askers.is_empty() {
        r.check(false, "no asker could join; nothing measured");
        return r;
    }

    let server_before = ctx.server_sample();
    let threads_before = ctx.pid.and_then(|pid| procfs::thread_cpu(pid).ok());
    let gen_before = procfs::sample(None).ok();
    let start = Instant::now();
    let stop_writes = CancellationToken::new();
    let writes = (sizes.write_rate > 0).then(|| {
        tokio::spawn(write_at_rate(
            writer_client,
            channel.clone(),
            sizes.write_rate,
            stop_writes.clone(),
        ))
    });
    let mut tasks = JoinSet::new();
    let n = askers.len();
    for (i, client) in askers.into_iter().enumerate() {
        let channel = channel.clone();
        if sizes.rate > 0 {
            let pace = Pace {
                rate: sizes.rate as f64 / n as f64,
                offset: (i as f64 + 0.5) / n as f64,
                start,
                duration: Duration::from_secs(sizes.duration),
            };
            tasks.spawn(ask_at_rate(client, channel, limit, pace));
        } else {
            tasks.spawn(ask_history(client, channel, sizes.requests, limit));
        }
    }
    let mut stats = HistoryStats::default();
    while let Some(done) = tasks.join_next().await {
        if let Ok(s) = done {
            stats.add(&s);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    stop_writes.cancel();
    let written = match writes {
        Some(task) => task.await.unwrap_or(0),
        None => 0,
    };
    if sizes.rate > 0 {
        r.metric("target_rate", sizes.rate as f64, "req/s");
        r.metric("requests_sent", stats.sent as f64, "requests");
    }
    r.metric("requests_ok", stats.ok as f64, "requests");
    r.metric("requests_failed", stats.failed as f64, "requests");
    let window = if sizes.rate > 0 {
        sizes.duration as f64
    } else {
        secs
    };
    r.metric(
        "requests_per_s",
        per_second(stats.ok as f64, window),
        "req/s",
    );
    r.metric("history_lines", stats.lines as f64, "lines");
    r.metric(
        "lines_per_request",
        per_second(stats.lines as f64, stats.ok as f64),
        "lines",
    );
    r.metric("p50_ms", stats.latency.quantile_ms(0.5), "ms");
    r.metric("p99_ms", stats.latency.quantile_ms(0.99), "ms");
    r.metric("max_ms", stats.latency.max_ms(), "ms");
    if sizes.write_rate > 0 {
        r.metric("live_messages_written", written as f64, "messages");
        r.metric(
            "live_lines_per_asker",
            per_second(stats.live as f64, n as f64),
            "lines",
        );
    }
    if let (Some(b), Some(a)) = (server_before, ctx.server_sample()) {
        let cpu = a.cpu_seconds - b.cpu_seconds;
        r.metric("server_cpu_s", cpu, "s");
        r.metric("server_cpu_util", per_second(cpu, secs), "cores");
        r.metric(
            "server_cpu_ms_per_request",
            per_second(cpu * 1e3, stats.ok as f64),
            "ms",
        );
    }
    if let (Some(b), Some(pid)) = (threads_before, ctx.pid)
        && let Ok(a) = procfs::thread_cpu(pid)
    {
        for (name, cpu) in procfs::thread_cpu_delta(&b, &a) {
            if cpu > 0.0 {
                r.metric(format!("server_thread_cpu_s.{name}"), cpu, "s");
            }
        }
    }
    if let (Some(b), Some(a)) = (gen_before, procfs::sample(None).ok()) {
        r.metric(
            "generator_cpu_util",
            per_second(a.cpu_seconds - b.cpu_seconds, secs),
            "cores",
        );
    }
    if sizes.rate > 0 {
        r.note(format!(
            "CHATHISTORY LATEST {channel} * {limit} at {} req/s over {n} clients for {} s; latency from each request's due time to its closing BATCH",
            sizes.rate, sizes.duration
        ));
    }
    r
}

/// Registers and joins `clients` askers, `ctx.concurrency` at a time; notes those that could
/// not.
async fn join_askers(
    ctx: &Ctx,
    run: &str,
    channel: &str,
    clients: usize,
    r: &mut Report,
) -> Vec<Client> {
    let permits = Arc::new(tokio::sync::Semaphore::new(ctx.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for i in 0..clients {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let (ctx, nick, channel) = (ctx.clone(), load::nick('h', run, i + 1), channel.to_owned());
        tasks.spawn(async move {
            let result = async {
                let (mut c, _) = register_with_caps(&ctx, &nick, &HISTORY_CAPS).await?;
                conn::join(&mut c, &channel, Duration::from_secs(10))
                    .await
                    .map_err(|e| format!("join: {e}"))?;
                Ok::<_, String>(c)
            }
            .await;
            drop(permit);
            result
        });
    }
    let mut askers = Vec::with_capacity(clients);
    let mut failures = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(c)) => askers.push(c),
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(e.to_string()),
        }
    }
    if !failures.is_empty() {
        failures.truncate(3);
        r.note(format!(
            "{} askers could not join: {}",
            clients - askers.len(),
            failures.join("; ")
        ));
    }
    askers
}

/// Each client writes every n-th of `messages` lines into `channel`; then each is pinged twice:
/// the first answer comes once the server has taken all its lines (charla reads a line only
/// after the last one is committed), the second once everyone's lines it was sent are read.
async fn fill_history(
    clients: Vec<Client>,
    channel: &str,
    messages: usize,
) -> Result<Vec<Client>, String> {
    let n = clients.len();
    let mut tasks = JoinSet::new();
    for (j, mut client) in clients.into_iter().enumerate() {
        let channel = channel.to_owned();
        tasks.spawn(async move {
            let mut buf = Vec::new();
            for i in (j..messages).step_by(n) {
                buf.extend_from_slice(
                    format!("PRIVMSG {channel} :history line {i} ñandú 🦜\r\n").as_bytes(),
                );
            }
            client
                .writer
                .write_all(&buf)
                .await
                .map_err(|e| format!("write: {e}"))?;
            ping_round_trip(&mut client, Duration::from_secs(120)).await?;
            Ok::<_, String>((j, client))
        });
    }
    let mut filled = collect_in_order(tasks, n).await?;
    let mut tasks = JoinSet::new();
    for (j, mut client) in filled.drain(..).enumerate() {
        tasks.spawn(async move {
            ping_round_trip(&mut client, Duration::from_secs(60)).await?;
            Ok::<_, String>((j, client))
        });
    }
    collect_in_order(tasks, n).await
}

/// The clients of numbered tasks, in their order; the first error if any failed.
async fn collect_in_order(
    mut tasks: JoinSet<Result<(usize, Client), String>>,
    n: usize,
) -> Result<Vec<Client>, String> {
    let mut slots: Vec<Option<Client>> = (0..n).map(|_| None).collect();
    let mut error = None;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok((j, client))) => slots[j] = Some(client),
            Ok(Err(e)) => error = error.or(Some(e)),
            Err(e) => error = error.or(Some(e.to_string())),
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(slots.into_iter().flatten().collect()),
    }
}

/// Writes `PRIVMSG channel :live line N` at `rate` until `stop`, answering PINGs and reading
/// whatever else comes; returns how many lines were written.
async fn write_at_rate(
    mut client: Client,
    channel: String,
    rate: u64,
    stop: CancellationToken,
) -> u64 {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut written = 0u64;
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = tick.tick() => {
                let line = format!("PRIVMSG {channel} :live line {written} ¿qué tal?\r\n");
                if client.writer.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
                written += 1;
            }
            read = client.reader.fill() => {
                if !matches!(read, Ok(n) if n > 0) {
                    break;
                }
                while let Some(line) = client.reader.next_buffered() {
                    if let Reply::Ping(pong) = conn::classify(&String::from_utf8_lossy(line)) {
                        let _ = client.writer.write_all(pong.as_bytes()).await;
                    }
                }
            }
        }
    }
    written
}

#[derive(Debug, Default)]
struct HistoryStats {
    latency: Latency,
    /// Requests written.
    sent: u64,
    ok: u64,
    failed: u64,
    /// History lines received (PRIVMSGs inside a batch).
    lines: u64,
    /// Live channel messages received (outside a batch).
    live: u64,
}

impl HistoryStats {
    fn add(&mut self, other: &HistoryStats) {
        self.latency.merge(&other.latency);
        self.sent += other.sent;
        self.ok += other.ok;
        self.failed += other.failed;
        self.lines += other.lines;
        self.live += other.live;
    }
}

/// What one line of a history answer is.
#[derive(Debug, PartialEq, Eq)]
enum HistoryLine {
    /// A line of a batch (tagged `batch=`), a PRIVMSG or another.
    InBatch { privmsg: bool },
    /// `BATCH -ref`: an answer is complete.
    End,
    /// `FAIL`: a request was refused.
    Fail,
    /// `PING`: answer this.
    Ping(String),
    /// A PRIVMSG outside any batch (live traffic).
    Live,
    /// Anything else.
    Other,
}

/// Classifies a line read by a history client, without parsing the many lines of a batch.
fn history_line(line: &[u8]) -> HistoryLine {
    if line.starts_with(b"@") {
        let tags_end = memchr::memchr(b' ', line).unwrap_or(line.len());
        let tags = &line[1..tags_end];
        if tags.split(|b| *b == b';').any(|t| t.starts_with(b"batch=")) {
            let privmsg = memchr::memmem::find(&line[tags_end..], b" PRIVMSG ").is_some();
            return HistoryLine::InBatch { privmsg };
        }
    }
    let text = String::from_utf8_lossy(line);
    let Ok(msg) = Message::parse(&text) else {
        return HistoryLine::Other;
    };
    match msg.command.to_ascii_uppercase().as_str() {
        "BATCH" if msg.param(0).is_some_and(|p| p.starts_with('-')) => HistoryLine::End,
        "FAIL" => HistoryLine::Fail,
        "PING" => HistoryLine::Ping(format!("PONG :{}\r\n", msg.param(0).unwrap_or(""))),
        "PRIVMSG" => HistoryLine::Live,
        _ => HistoryLine::Other,
    }
}

/// Alternates `CHATHISTORY LATEST` and `CHATHISTORY BEFORE` (from the oldest message the
/// previous answer gave, by msgid or time), timing each answer to its closing BATCH.
async fn ask_history(
    mut client: Client,
    channel: String,
    requests: usize,
    limit: usize,
) -> HistoryStats {
    let mut stats = HistoryStats::default();
    let mut anchor: Option<String> = None;
    for i in 0..requests {
        let request = match (&anchor, i % 2) {
            (Some(a), 1) => format!("CHATHISTORY BEFORE {channel} {a} {limit}\r\n"),
            _ => format!("CHATHISTORY LATEST {channel} * {limit}\r\n"),
        };
        let start = Instant::now();
        if client.writer.write_all(request.as_bytes()).await.is_err() {
            stats.failed += 1;
            break;
        }
        stats.sent += 1;
        let answer = tokio::time::timeout(Duration::from_secs(10), async {
            let mut oldest: Option<String> = None;
            let mut lines = 0u64;
            while let Ok(Some(line)) = client.reader.next_line().await {
                match history_line(line.as_bytes()) {
                    HistoryLine::End => return Some((lines, oldest)),
                    HistoryLine::Fail => return None,
                    HistoryLine::Ping(pong) => {
                        let _ = client.writer.write_all(pong.as_bytes()).await;
                    }
                    HistoryLine::InBatch { privmsg: true } => {
                        lines += 1;
                        if oldest.is_none()
                            && let Ok(msg) = Message::parse(&line)
                        {
                            oldest = msg
                                .tag("msgid")
                                .map(|id| format!("msgid={id}"))
                                .or_else(|| msg.tag("time").map(|t| format!("timestamp={t}")));
                        }
                    }
                    _ => {}
                }
            }
            None
        })
        .await;
        match answer {
            Ok(Some((lines, oldest))) => {
                stats.ok += 1;
                stats.lines += lines;
                stats.latency.record(start.elapsed().as_micros() as u64);
                if oldest.is_some() {
                    anchor = oldest;
                }
            }
            _ => stats.failed += 1,
        }
    }
    stats
}

/// When one client's requests are due.
#[derive(Debug, Clone, Copy)]
struct Pace {
    /// Requests per second.
    rate: f64,
    /// Where in its first interval the client starts (0..1).
    offset: f64,
    /// The run's start.
    start: Instant,
    /// How long requests are sent.
    duration: Duration,
}

/// How long answers may take after the last request before they count as failed.
const HISTORY_DRAIN: Duration = Duration::from_secs(10);

/// Sends `CHATHISTORY LATEST channel * limit` when each is due (without waiting for the
/// previous answer), and times each answer from its request's due time to its closing BATCH:
/// the server answers one connection's requests in order.
async fn ask_at_rate(
    mut client: Client,
    channel: String,
    limit: usize,
    pace: Pace,
) -> HistoryStats {
    let mut stats = HistoryStats::default();
    let request = format!("CHATHISTORY LATEST {channel} * {limit}\r\n");
    let interval = Duration::from_secs_f64(1.0 / pace.rate);
    let end = pace.start + pace.duration;
    let give_up = end + HISTORY_DRAIN;
    let mut next = pace.start + interval.mul_f64(pace.offset.clamp(0.0, 1.0));
    let mut pending: std::collections::VecDeque<Instant> = std::collections::VecDeque::new();
    let mut answer_lines = 0u64;
    'run: loop {
        while let Some(line) = client.reader.next_buffered() {
            match history_line(line) {
                HistoryLine::InBatch { privmsg: true } => answer_lines += 1,
                HistoryLine::End | HistoryLine::Fail => {
                    let fail = history_line(line) == HistoryLine::Fail;
                    if let Some(due) = pending.pop_front() {
                        if fail {
                            stats.failed += 1;
                        } else {
                            stats.ok += 1;
                            stats.lines += answer_lines;
                            stats.latency.record(due.elapsed().as_micros() as u64);
                        }
                    }
                    answer_lines = 0;
                }
                HistoryLine::Ping(pong) => {
                    if client.writer.write_all(pong.as_bytes()).await.is_err() {
                        break 'run;
                    }
                }
                HistoryLine::Live => stats.live += 1,
                HistoryLine::InBatch { privmsg: false } | HistoryLine::Other => {}
            }
        }
        if next >= end && pending.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            () = tokio::time::sleep_until(next.into()), if next < end => {
                if client.writer.write_all(request.as_bytes()).await.is_err() {
                    break;
                }
                stats.sent += 1;
                pending.push_back(next);
                next += interval;
            }
            read = client.reader.fill() => {
                if !matches!(read, Ok(n) if n > 0) {
                    break;
                }
            }
            () = tokio::time::sleep_until(give_up.into()) => break,
        }
    }
    // Requests never answered (closed, or not within the drain) failed.
    stats.failed += pending.len() as u64;
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_lines_are_classified() {
        let line = |l: &str| history_line(l.as_bytes());
        assert_eq!(
            line("@batch=h1;msgid=x;time=2026-01-01T00:00:00.000Z :a!u@h PRIVMSG #c :hola ñandú"),
            HistoryLine::InBatch { privmsg: true }
        );
        assert_eq!(
            line("@time=t;batch=h1 :a!u@h JOIN #c"),
            HistoryLine::InBatch { privmsg: false }
        );
        assert_eq!(line(":srv BATCH -h1"), HistoryLine::End);
        assert_eq!(
            line("@time=2026-01-01T00:00:00.000Z :srv BATCH -h1"),
            HistoryLine::End
        );
        assert_eq!(line(":srv BATCH +h1 chathistory #c"), HistoryLine::Other);
        assert_eq!(
            line("FAIL CHATHISTORY INVALID_PARAMS :bad"),
            HistoryLine::Fail
        );
        assert_eq!(line("PING :x"), HistoryLine::Ping("PONG :x\r\n".to_owned()));
        assert_eq!(
            line("@time=t;msgid=m :a!u@h PRIVMSG #c :live"),
            HistoryLine::Live
        );
        assert_eq!(line(""), HistoryLine::Other);
    }
}
