//! The measuring scenarios: `connect`, `fanout`, `direct` and `history`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use charla_proto::Message;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{Ctx, add_load_metrics};
use crate::conn::{self, Client, LineReader, Reply};
use crate::load::{self, LoadSpec, SenderSpec};
use crate::procfs;
use crate::report::{Report, Verdict};
use crate::stats::{Latency, per_second};

/// `connect`: N clients register and stay.
pub async fn connect(ctx: &Ctx, clients: usize, hold: u64) -> Report {
    let mut r = ctx.report("connect");
    let run = load::run_id();
    let server_before = ctx.server_sample();
    let gen_before = procfs::sample(None).ok();
    let reg = load::register_many(&ctx.connector, 'c', &run, clients, ctx.concurrency).await;
    let server_reg = ctx.server_sample();
    let gen_after = procfs::sample(None).ok();
    let ok = reg.clients.len();
    let secs = reg.elapsed.as_secs_f64();
    r.metric("clients", clients as f64, "clients");
    r.metric("registered", ok as f64, "clients");
    r.metric("register_s", secs, "s");
    r.metric("registrations_per_s", per_second(ok as f64, secs), "reg/s");
    r.metric("register_p50_ms", reg.latency.quantile_ms(0.5), "ms");
    r.metric("register_p99_ms", reg.latency.quantile_ms(0.99), "ms");
    if !reg.failures.is_empty() {
        r.note(load::describe_failures(&reg.failures));
    }
    if let (Some(b), Some(a)) = (server_before, server_reg) {
        r.metric("server_cpu_s", a.cpu_seconds - b.cpu_seconds, "s");
    }
    if let (Some(b), Some(a)) = (gen_before, gen_after) {
        r.metric("generator_cpu_s", a.cpu_seconds - b.cpu_seconds, "s");
    }

    // Hold them: each answers PINGs; the count of those still open is the held figure.
    let alive = Arc::new(AtomicUsize::new(ok));
    let stop = CancellationToken::new();
    let mut holders = JoinSet::new();
    for client in reg.clients {
        holders.spawn(hold_client(client, alive.clone(), stop.clone()));
    }
    tokio::time::sleep(Duration::from_secs(hold)).await;
    let server_after = ctx.server_sample();
    let held = alive.load(Ordering::Relaxed);
    r.metric("held", held as f64, "clients");
    if let (Some(b), Some(a)) = (server_before, server_after) {
        r.metric("server_rss_before_kib", b.rss_kib as f64, "KiB");
        r.metric("server_rss_after_kib", a.rss_kib as f64, "KiB");
        let growth = (a.rss_kib as f64 - b.rss_kib as f64) * 1024.0;
        r.metric(
            "rss_per_client_bytes",
            per_second(growth, held.max(1) as f64),
            "B/client",
        );
    }
    r.note(format!(
        "{} over {}",
        if ctx.connector.tls.is_some() {
            "TLS"
        } else {
            "plain TCP"
        },
        ctx.addr
    ));
    stop.cancel();
    while holders.join_next().await.is_some() {}
    r
}

/// Keeps one registered client open, answering PINGs, until `stop`.
async fn hold_client(mut client: Client, alive: Arc<AtomicUsize>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            line = client.reader.next_line() => match line {
                Ok(Some(line)) => {
                    if let Reply::Ping(pong) = conn::classify(&line)
                        && client.writer.write_all(pong.as_bytes()).await.is_err()
                    {
                        break;
                    }
                }
                Ok(None) | Err(_) => break,
            },
        }
    }
    alive.fetch_sub(1, Ordering::Relaxed);
}

/// `fanout`: N members in one channel, S senders at a total rate R for T seconds.
pub async fn fanout(
    ctx: &Ctx,
    members: usize,
    senders: usize,
    rate: u64,
    duration: u64,
    size: usize,
) -> Report {
    let mut r = ctx.report("fanout");
    let run = load::run_id();
    let channel = format!("#cb{run}");
    let reg = load::register_many(&ctx.connector, 'f', &run, members, ctx.concurrency).await;
    if !reg.failures.is_empty() {
        r.note(format!(
            "registration: {}",
            load::describe_failures(&reg.failures)
        ));
    }
    let (joined, failed) = load::join_many(reg.clients, &channel, ctx.concurrency).await;
    if !failed.is_empty() {
        r.note(format!("join: {}", load::describe_failures(&failed)));
    }
    r.metric("members", joined.len() as f64, "clients");
    if joined.len() < 2 {
        r.check(false, "fewer than 2 members could join; nothing measured");
        return r;
    }
    let senders = senders.min(joined.len());
    r.metric("senders", senders as f64, "clients");
    r.metric("target_rate", rate as f64, "msg/s");
    r.metric(
        "target_deliveries_per_s",
        rate as f64 * (joined.len() - 1) as f64,
        "lines/s",
    );
    let per_sender = rate as f64 / senders as f64;
    let spec = LoadSpec {
        senders: (0..senders)
            .map(|client| SenderSpec {
                client,
                target: channel.clone(),
                rate: per_sender,
            })
            .collect(),
        receivers_per_message: (joined.len() - 1) as u64,
        duration: Duration::from_secs(duration),
        size,
        pid: ctx.pid,
    };
    let result = load::run_load(joined, spec).await;
    note_send_rate(&mut r, result.sent, rate, duration);
    add_load_metrics(&mut r, &result, "");
    r
}

/// Notes when the senders could not keep the asked rate (the server pushed back, or the
/// generator fell behind).
fn note_send_rate(r: &mut Report, sent: u64, rate: u64, duration: u64) {
    let achieved = per_second(sent as f64, duration as f64);
    r.metric("send_rate", achieved, "msg/s");
    if achieved < 0.95 * rate as f64 {
        r.note(format!(
            "the senders reached {achieved:.0} msg/s of the {rate} asked (server back-pressure or generator limit)"
        ));
    }
}

/// `direct`: pairs of clients writing to each other.
pub async fn direct(ctx: &Ctx, pairs: usize, rate: u64, duration: u64, size: usize) -> Report {
    let mut r = ctx.report("direct");
    let run = load::run_id();
    let reg = load::register_many(&ctx.connector, 'd', &run, pairs * 2, ctx.concurrency).await;
    if !reg.failures.is_empty() {
        r.note(format!(
            "registration: {}",
            load::describe_failures(&reg.failures)
        ));
    }
    let mut clients = reg.clients;
    // An odd client out has no partner.
    clients.truncate(clients.len() / 2 * 2);
    if clients.is_empty() {
        r.check(false, "no pair could register; nothing measured");
        return r;
    }
    r.metric("pairs", (clients.len() / 2) as f64, "pairs");
    r.metric("target_rate", rate as f64, "msg/s");
    let senders = SenderSpec::pairs(&clients, rate);
    let spec = LoadSpec {
        senders,
        receivers_per_message: 1,
        duration: Duration::from_secs(duration),
        size,
        pid: ctx.pid,
    };
    let result = load::run_load(clients, spec).await;
    note_send_rate(&mut r, result.sent, rate, duration);
    add_load_metrics(&mut r, &result, "");
    r
}

/// What a server said about itself while a client registered with `CAP LS 302`.
#[derive(Debug, Default)]
pub(super) struct Capabilities {
    /// The capabilities of `CAP LS`, with their values (`name=value`).
    pub(super) caps: Vec<String>,
    /// The ISUPPORT tokens of `005`.
    pub(super) isupport: Vec<String>,
}

impl Capabilities {
    /// Whether the server offers chathistory (as a capability or in ISUPPORT).
    pub(super) fn chathistory(&self) -> bool {
        self.caps.iter().any(|c| {
            matches!(
                c.split('=').next(),
                Some("draft/chathistory" | "chathistory")
            )
        }) || self
            .isupport
            .iter()
            .any(|t| t.split('=').next() == Some("CHATHISTORY"))
    }
}

/// Registers with capability negotiation, requesting `want` when the server offers
/// chathistory. Returns the client and what the server advertised.
pub(super) async fn register_with_caps(
    ctx: &Ctx,
    nick: &str,
    want: &[&str],
) -> Result<(Client, Capabilities), String> {
    let work = async {
        let (r, mut writer) = ctx.connector.open().await.map_err(|e| e.to_string())?;
        let mut reader = LineReader::new(r);
        let mut caps = Capabilities::default();
        writer
            .write_all(
                format!("CAP LS 302\r\nNICK {nick}\r\nUSER {nick} 0 * :charla bench\r\n")
                    .as_bytes(),
            )
            .await
            .map_err(|e| e.to_string())?;
        let mut registered = false;
        while let Some(line) = reader.next_line().await.map_err(|e| e.to_string())? {
            let Ok(msg) = Message::parse(&line) else {
                continue;
            };
            match msg.command.to_ascii_uppercase().as_str() {
                "PING" => {
                    let pong = format!("PONG :{}\r\n", msg.param(0).unwrap_or(""));
                    writer
                        .write_all(pong.as_bytes())
                        .await
                        .map_err(|e| e.to_string())?;
                }
                "ERROR" => return Err(format!("ERROR {}", msg.param(0).unwrap_or(""))),
                "CAP" if msg.param(1).is_some_and(|s| s.eq_ignore_ascii_case("LS")) => {
                    let more = msg.params.len() >= 4 && msg.param(2) == Some("*");
                    if let Some(list) = msg.params.last() {
                        caps.caps.extend(list.split(' ').map(str::to_owned));
                    }
                    if !more {
                        let mut out = String::new();
                        let offered: Vec<&str> = want
                            .iter()
                            .copied()
                            .filter(|w| caps.caps.iter().any(|c| c.split('=').next() == Some(*w)))
                            .collect();
                        if caps.chathistory() && !offered.is_empty() {
                            out.push_str(&format!("CAP REQ :{}\r\n", offered.join(" ")));
                        }
                        out.push_str("CAP END\r\n");
                        writer
                            .write_all(out.as_bytes())
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                }
                "001" => registered = true,
                "005" => caps.isupport.extend(
                    msg.params
                        .iter()
                        .skip(1)
                        .take(msg.params.len().saturating_sub(2))
                        .map(|p| (*p).to_owned()),
                ),
                // End of MOTD or no MOTD: registration output is complete.
                "376" | "422" if registered => {
                    return Ok((
                        Client {
                            nick: nick.to_owned(),
                            reader,
                            writer,
                        },
                        caps,
                    ));
                }
                "421" if !registered => {
                    // CAP unknown to the server: registration goes on without it.
                }
                _ => {}
            }
        }
        Err("closed".to_owned())
    };
    match tokio::time::timeout(Duration::from_secs(15), work).await {
        Ok(result) => result,
        Err(_) => Err("timed out".into()),
    }
}

/// `history`: CHATHISTORY LATEST/BEFORE from several clients at once, when the server
/// advertises it; otherwise says so and measures nothing.
pub async fn history(ctx: &Ctx, clients: usize, requests: usize, messages: usize) -> Report {
    let mut r = ctx.report("history");
    let run = load::run_id();
    let want = [
        "draft/chathistory",
        "chathistory",
        "batch",
        "server-time",
        "message-tags",
    ];
    let (mut writer_client, caps) =
        match register_with_caps(ctx, &load::nick('h', &run, 0), &want).await {
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
    let channel = format!("#cb{run}");
    if let Err(e) = conn::join(&mut writer_client, &channel, Duration::from_secs(10)).await {
        r.check(false, format!("join: {e}"));
        return r;
    }
    // Fill the channel's history.
    let mut buf = Vec::new();
    for i in 0..messages {
        buf.extend_from_slice(
            format!("PRIVMSG {channel} :history line {i} ñandú 🦜\r\n").as_bytes(),
        );
    }
    if writer_client.writer.write_all(&buf).await.is_err() {
        r.check(false, "the writer was disconnected while filling history");
        return r;
    }
    let mut askers = Vec::new();
    for i in 0..clients {
        match register_with_caps(ctx, &load::nick('h', &run, i + 1), &want).await {
            Ok((mut c, _)) => {
                if conn::join(&mut c, &channel, Duration::from_secs(10))
                    .await
                    .is_ok()
                {
                    askers.push(c);
                }
            }
            Err(e) => r.note(format!("asker {i}: {e}")),
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let server_before = ctx.server_sample();
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for client in askers {
        let channel = channel.clone();
        tasks.spawn(ask_history(client, channel, requests));
    }
    let mut latency = Latency::new();
    let (mut ok, mut failed, mut lines) = (0u64, 0u64, 0u64);
    while let Some(done) = tasks.join_next().await {
        if let Ok(stats) = done {
            latency.merge(&stats.latency);
            ok += stats.ok;
            failed += stats.failed;
            lines += stats.lines;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    r.metric("requests_ok", ok as f64, "requests");
    r.metric("requests_failed", failed as f64, "requests");
    r.metric("requests_per_s", per_second(ok as f64, secs), "req/s");
    r.metric("history_lines", lines as f64, "lines");
    r.metric("p50_ms", latency.quantile_ms(0.5), "ms");
    r.metric("p99_ms", latency.quantile_ms(0.99), "ms");
    r.metric("max_ms", latency.max_ms(), "ms");
    if let (Some(b), Some(a)) = (server_before, ctx.server_sample()) {
        r.metric("server_cpu_s", a.cpu_seconds - b.cpu_seconds, "s");
    }
    r
}

#[derive(Debug, Default)]
struct HistoryStats {
    latency: Latency,
    ok: u64,
    failed: u64,
    lines: u64,
}

/// Alternates `CHATHISTORY LATEST` and `CHATHISTORY BEFORE` (from the oldest message the
/// previous answer gave, by msgid or time), timing each answer to its closing BATCH.
async fn ask_history(mut client: Client, channel: String, requests: usize) -> HistoryStats {
    let mut stats = HistoryStats::default();
    let mut anchor: Option<String> = None;
    for i in 0..requests {
        let request = match (&anchor, i % 2) {
            (Some(a), 1) => format!("CHATHISTORY BEFORE {channel} {a} 50\r\n"),
            _ => format!("CHATHISTORY LATEST {channel} * 50\r\n"),
        };
        let start = Instant::now();
        if client.writer.write_all(request.as_bytes()).await.is_err() {
            stats.failed += 1;
            break;
        }
        let answer = tokio::time::timeout(Duration::from_secs(10), async {
            let mut oldest: Option<String> = None;
            let mut lines = 0u64;
            while let Ok(Some(line)) = client.reader.next_line().await {
                let Ok(msg) = Message::parse(&line) else {
                    continue;
                };
                match msg.command {
                    "BATCH" if msg.param(0).is_some_and(|p| p.starts_with('-')) => {
                        return Some((lines, oldest));
                    }
                    "FAIL" => return None,
                    "PRIVMSG" => {
                        lines += 1;
                        if oldest.is_none() {
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
