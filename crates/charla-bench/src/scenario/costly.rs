//! The costly-request abuse scenarios (issue 10): each ends in PASS or FAIL with the figures
//! behind it.
//!
//! - `big-replies`: clients that never read ask for big replies (LIST of thousands of
//!   channels). The server's RSS per such client must stay within its SendQ and a small
//!   constant, and come back once they leave.
//! - `expensive-queries`: ten clients send the costliest WHO masks a user may, as fast as the
//!   server answers them, and check a ban with many stars on every message; a control client's
//!   PING round trips must stay quick meanwhile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::abuse::spawn_rss_peak;
use super::{Ctx, ping_round_trip, send_and_wait};
use crate::conn::{self, Client, Reply};
use crate::load;
use crate::procfs;
use crate::report::Report;
use crate::stats::{Latency, per_second};

/// Channels one setup client joins (every server allows at least this many by default).
const CHANNELS_PER_OWNER: usize = 40;
/// Channel names per JOIN line, so that the line stays far under 512 bytes.
const CHANNELS_PER_JOIN: usize = 20;
/// The most a non-reader may cost beyond its SendQ: the server's copy buffer, the paced
/// reply's slack and the bookkeeping of one connection.
const SLACK_KIB: f64 = 96.0;

/// Sizes of the big-replies scenario.
#[derive(Debug, Clone, Copy)]
pub struct BigReplies {
    /// Channels the server holds.
    pub channels: usize,
    /// Clients that ask and never read.
    pub clients: usize,
    /// The server's SendQ limit, in KiB, for the pass mark.
    pub sendq_kib: u64,
    /// Seconds the non-readers stay.
    pub hold: u64,
}

/// PING round trips on a client from another address every 20 ms until `stop`: what the
/// server's other users feel meanwhile.
fn control_latency(
    ctx: &Ctx,
    nick: String,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<Result<Latency, String>> {
    let connector = ctx.other_ip();
    tokio::spawn(async move {
        let mut client = conn::register(&connector, &nick, Duration::from_secs(10))
            .await
            .map_err(|e| format!("control client: {e}"))?;
        let mut latency = Latency::new();
        while !stop.is_cancelled() {
            let took = ping_round_trip(&mut client, Duration::from_secs(10)).await?;
            latency.record(took.as_micros() as u64);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(latency)
    })
}

fn record_control(r: &mut Report, control: Result<Latency, String>, limit_ms: f64) {
    match control {
        Ok(latency) if latency.count() > 0 => {
            let p99 = latency.quantile_ms(0.99);
            r.metric("control_pings", latency.count() as f64, "round trips");
            r.metric("control_p50_ms", latency.quantile_ms(0.5), "ms");
            r.metric("control_p99_ms", p99, "ms");
            r.check(
                p99 < limit_ms,
                format!("a control client's PING p99 was {p99:.1} ms (limit {limit_ms} ms)"),
            );
        }
        Ok(_) => r.check(false, "the control client made no round trip"),
        Err(e) => r.check(false, format!("control: {e}")),
    }
}

/// Joins `channels` on `client` and waits until the server has done them all.
async fn join_all(client: &mut Client, channels: &[String]) -> Result<(), String> {
    let mut lines = String::new();
    for chunk in channels.chunks(CHANNELS_PER_JOIN) {
        lines.push_str(&format!("JOIN {}\r\n", chunk.join(",")));
    }
    client
        .writer
        .write_all(lines.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    // The PONG comes after every JOIN's answer.
    ping_round_trip(client, Duration::from_secs(60)).await?;
    Ok(())
}

/// `big-replies`: see the module doc.
pub async fn big_replies(ctx: &Ctx, sizes: BigReplies) -> Report {
    let mut r = ctx.report("big-replies");
    let run = load::run_id();
    // The channels, held open by setup clients that each join a share of them.
    let owners = sizes.channels.div_ceil(CHANNELS_PER_OWNER).max(1);
    let reg = load::register_many(&ctx.connector, 'o', &run, owners, ctx.concurrency).await;
    if !reg.failures.is_empty() {
        r.check(
            false,
            format!(
                "setup clients could not register: {}",
                load::describe_failures(&reg.failures)
            ),
        );
        return r;
    }
    let names: Vec<String> = (0..sizes.channels)
        .map(|i| format!("#br{run}{i:x}"))
        .collect();
    let mut owners = reg.clients;
    let mut joins = JoinSet::new();
    for (i, mut owner) in owners.drain(..).enumerate() {
        let mine: Vec<String> = names
            .iter()
            .skip(i * CHANNELS_PER_OWNER)
            .take(CHANNELS_PER_OWNER)
            .cloned()
            .collect();
        joins.spawn(async move { join_all(&mut owner, &mine).await.map(|()| owner) });
    }
    while let Some(done) = joins.join_next().await {
        match done {
            Ok(Ok(owner)) => owners.push(owner),
            Ok(Err(e)) => r.note(format!("a setup client's joins failed: {e}")),
            Err(e) => r.note(format!("a setup task failed: {e}")),
        }
    }
    r.metric("channels", sizes.channels as f64, "channels");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = ctx.server_sample();

    // The non-readers: a small receive window, LIST twice, and never a read again.
    let stop = CancellationToken::new();
    let peak = spawn_rss_peak(ctx, stop.clone());
    let control = control_latency(ctx, format!("c{run}"), stop.clone());
    let mut slow_connector = ctx.connector.clone();
    slow_connector.recv_buffer = Some(4096);
    let reg = load::register_many(&slow_connector, 'q', &run, sizes.clients, ctx.concurrency).await;
    if !reg.failures.is_empty() {
        r.note(format!(
            "non-readers that did not register: {}",
            load::describe_failures(&reg.failures)
        ));
    }
    let mut slow = reg.clients;
    for c in &mut slow {
        let _ = c.writer.write_all(b"LIST\r\nLIST\r\n").await;
    }
    r.metric("non_readers", slow.len() as f64, "clients");
    tokio::time::sleep(Duration::from_secs(sizes.hold)).await;
    stop.cancel();
    let peak = peak.await.unwrap_or(0);
    record_control(
        &mut r,
        control.await.unwrap_or_else(|e| Err(e.to_string())),
        50.0,
    );

    // They leave; the memory should go back.
    let count = slow.len().max(1);
    drop(slow);
    let Some(before) = before else {
        return r;
    };
    let per_client_kib = peak.saturating_sub(before.rss_kib) as f64 / count as f64;
    let limit = sizes.sendq_kib as f64 + SLACK_KIB;
    r.metric("server_rss_before_kib", before.rss_kib as f64, "KiB");
    r.metric("server_rss_peak_kib", peak as f64, "KiB");
    r.metric("rss_per_non_reader_kib", per_client_kib, "KiB");
    r.check(
        per_client_kib <= limit,
        format!(
            "each non-reader cost {per_client_kib:.0} KiB of server RSS (limit {limit:.0} KiB)"
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut after = before.rss_kib;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        match ctx.server_sample() {
            Some(s) => after = s.rss_kib,
            None => break,
        }
        if after as f64 <= before.rss_kib as f64 * 1.2 {
            break;
        }
    }
    let ratio = after as f64 / before.rss_kib.max(1) as f64;
    r.metric("server_rss_after_kib", after as f64, "KiB");
    r.metric("rss_after_over_before", ratio, "x");
    r.check(
        ratio <= 1.2,
        format!("RSS after the non-readers left was {ratio:.2}x its start (limit 1.2x)"),
    );
    if let Some(pid) = ctx.pid {
        r.check(procfs::alive(pid), "the server process is still running");
    }
    drop(owners);
    r
}

/// Sizes of the expensive-queries scenario.
#[derive(Debug, Clone, Copy)]
pub struct ExpensiveQueries {
    /// Idle users with long real names for the masks to scan.
    pub users: usize,
    /// Clients sending the costly queries.
    pub queriers: usize,
    /// Seconds of querying.
    pub duration: u64,
}

/// The costliest WHO masks a user may send: a long glob that almost matches a long real name,
/// the same at the length most servers allow, and many stars.
fn masks() -> Vec<String> {
    vec![
        format!("*{}b", "a".repeat(240)),
        format!("*{}b", "a".repeat(125)),
        format!("{}*b", "*a".repeat(60)),
    ]
}

/// Sends `WHO mask` and reads to its end (RPL_ENDOFWHO), within 10 s.
async fn who(client: &mut Client, mask: &str) -> Result<(), String> {
    send_and_wait(
        client,
        &format!("WHO {mask}\r\n"),
        Duration::from_secs(10),
        |line| {
            matches!(
                conn::classify(line),
                Reply::Numeric(charla_proto::numeric::RPL_ENDOFWHO, _)
            )
        },
    )
    .await
}

/// `expensive-queries`: see the module doc.
pub async fn expensive_queries(ctx: &Ctx, sizes: ExpensiveQueries) -> Report {
    let mut r = ctx.report("expensive-queries");
    let run = load::run_id();
    // Users whose 400-byte real names nearly match the masks (servers may cut them shorter).
    let mut long = ctx.connector.clone();
    long.realname = Some(Arc::from("a".repeat(400)));
    let mut users = load::register_many(&long, 'u', &run, sizes.users, ctx.concurrency).await;
    if !users.failures.is_empty() {
        r.note(format!(
            "users that did not register: {}",
            load::describe_failures(&users.failures)
        ));
    }
    // Visible, so that the masks are really matched against them: servers that make users
    // invisible by default skip invisible ones before matching.
    for u in &mut users.clients {
        let _ = u
            .writer
            .write_all(format!("MODE {} -i\r\n", u.nick).as_bytes())
            .await;
    }
    r.metric("users", users.clients.len() as f64, "clients");
    let queriers = load::register_many(&ctx.connector, 'w', &run, sizes.queriers, 32).await;
    let channel = format!("#eq{run}");
    let (mut queriers, failed) = load::join_many(queriers.clients, &channel, 32).await;
    if queriers.is_empty() || !failed.is_empty() {
        r.check(
            false,
            format!("queriers: {}", load::describe_failures(&failed)),
        );
        return r;
    }
    // A ban with many stars that matches no one: every message in the channel is checked
    // against it.
    let ban = format!("{}!*@*", "*a".repeat(30));
    // Whichever joined first is its operator; the others' attempts are refused (482).
    for q in &mut queriers {
        let _ = q
            .writer
            .write_all(format!("MODE {channel} +b {ban}\r\n").as_bytes())
            .await;
    }

    let before = ctx.server_sample();
    let stop = CancellationToken::new();
    let control = control_latency(ctx, format!("c{run}"), stop.clone());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(sizes.duration);
    let mut tasks = JoinSet::new();
    for (i, mut q) in queriers.into_iter().enumerate() {
        let channel = channel.clone();
        tasks.spawn(async move {
            let masks = masks();
            let mut answered = 0u64;
            let mut failure = None;
            while Instant::now() < deadline {
                let mask = &masks[(i + answered as usize) % masks.len()];
                if let Err(e) = who(&mut q, mask).await {
                    failure = Some(e);
                    break;
                }
                answered += 1;
                let _ = q
                    .writer
                    .write_all(format!("PRIVMSG {channel} :q{answered}\r\n").as_bytes())
                    .await;
            }
            (answered, failure)
        });
    }
    let mut answered = 0;
    while let Some(done) = tasks.join_next().await {
        if let Ok((n, failure)) = done {
            answered += n;
            if let Some(e) = failure {
                r.note(format!("a querier stopped: {e}"));
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    stop.cancel();
    record_control(
        &mut r,
        control.await.unwrap_or_else(|e| Err(e.to_string())),
        50.0,
    );
    r.metric("queries_answered", answered as f64, "queries");
    r.metric(
        "queries_per_s",
        per_second(answered as f64, elapsed),
        "queries/s",
    );
    if let (Some(b), Some(a)) = (before, ctx.server_sample()) {
        let cpu = a.cpu_seconds - b.cpu_seconds;
        r.metric("server_cpu_s", cpu, "s");
        r.metric("server_cpu_util", cpu / elapsed.max(1e-9), "cores");
        if answered > 0 {
            r.metric("server_cpu_ms_per_query", cpu * 1e3 / answered as f64, "ms");
        }
    }
    if let Some(pid) = ctx.pid {
        r.check(procfs::alive(pid), "the server process is still running");
    }
    drop(users);
    r
}
