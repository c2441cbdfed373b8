//! `durable`: the most messages per second a server commits and delivers, with many small
//! channels (1,000 × 3 members by default) where every member sends.
//!
//! With history on, charla commits every message before anyone receives it, and reads a
//! sender's next line only once its last message is committed; so the latency of a stamped
//! message (send to receive, on the generator's clock) includes the commit, and a server that
//! cannot commit as fast as the senders write holds their lines back in their sockets: the
//! latency grows, and later the senders' writes block. A step is **held** when the senders kept
//! 95 % of its rate, every delivery arrived, no reader was disconnected and the p99 latency
//! stayed under `--max-p99-ms`.
//!
//! Without `--rate`, the rate doubles from `--start-rate` until a step is not held (or
//! `--max-rate`), then `--refine` steps halve the gap between the last held rate and the first
//! failed one. The report's main figures are those of the highest held step; every step is
//! listed in the notes and as `stepN_*` figures.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Ctx, add_load_metrics};
use crate::load::{self, LoadResult, LoadSession, LoadSpec, SenderSpec};
use crate::report::{Report, format_number};
use crate::stats::per_second;

/// The sizes of a `durable` run.
#[derive(Debug, Clone)]
pub struct Durable {
    /// Channels.
    pub channels: usize,
    /// Members per channel, every one a sender.
    pub members: usize,
    /// A fixed rate (one step), or 0 to step up.
    pub rate: u64,
    /// The first step's rate when stepping.
    pub start_rate: u64,
    /// The highest rate a step may ask.
    pub max_rate: u64,
    /// Steps between the last held and the first failed rate.
    pub refine: u32,
    /// Seconds of sending per step.
    pub duration: u64,
    /// The p99 a held step stays under, ms.
    pub max_p99_ms: f64,
    /// Bytes of message text.
    pub size: usize,
    /// The server's data directory, to measure the database's growth.
    pub data_dir: Option<PathBuf>,
}

/// How long deliveries may drain after a step's last send.
const DRAIN: Duration = Duration::from_secs(15);
/// The pause between steps, for the server to settle (a WAL checkpoint, freed buffers).
const SETTLE: Duration = Duration::from_secs(1);

/// One step's outcome.
struct Step {
    /// The rate asked.
    target: u64,
    /// What the load measured.
    result: LoadResult,
    /// Messages (not deliveries) received per second over the step's window.
    msgs_per_s: f64,
    /// Messages written per second over the step's sending time.
    send_rate: f64,
    /// Why it was not held, if it was not.
    failed: Option<String>,
}

/// `durable`: see the module documentation.
pub async fn durable(ctx: &Ctx, sizes: Durable) -> Report {
    let mut r = ctx.report("durable");
    let run = load::run_id();
    let wanted = sizes.channels * sizes.members;
    let reg = load::register_many(&ctx.connector, 'u', &run, wanted, ctx.concurrency).await;
    if !reg.failures.is_empty() {
        r.note(format!(
            "registration: {}",
            load::describe_failures(&reg.failures)
        ));
    }
    let channel = |k: usize| format!("#cd{run}{k:x}");
    let pairs = reg
        .clients
        .into_iter()
        .enumerate()
        .map(|(i, client)| (client, channel(i % sizes.channels)))
        .collect();
    let (joined, failed) = load::join_each(pairs, ctx.concurrency).await;
    if !failed.is_empty() {
        r.note(format!("join: {}", load::describe_failures(&failed)));
    }
    // Only full channels take part, so that every message has the same number of receivers.
    let mut by_channel: std::collections::BTreeMap<String, Vec<_>> = Default::default();
    for (client, chan) in joined {
        by_channel.entry(chan).or_default().push(client);
    }
    let mut clients = Vec::with_capacity(wanted);
    let mut targets = Vec::with_capacity(wanted);
    let mut partial = 0;
    for (chan, members) in by_channel {
        if members.len() != sizes.members {
            partial += 1;
            continue;
        }
        for client in members {
            clients.push(client);
            targets.push(chan.clone());
        }
    }
    if partial > 0 {
        r.note(format!(
            "{partial} channels did not get all their members and were left out"
        ));
    }
    let full = clients.len() / sizes.members;
    r.metric("channels", full as f64, "channels");
    r.metric("members_per_channel", sizes.members as f64, "clients");
    r.metric("senders", clients.len() as f64, "clients");
    if full == 0 {
        r.check(false, "no channel got all its members; nothing measured");
        return r;
    }
    let senders = clients.len();
    let db_before = sizes.data_dir.as_deref().map(db_size);
    let mut session = LoadSession::start(clients, senders).await;

    let receivers = (sizes.members - 1) as u64;
    let spec_at = |rate: u64| LoadSpec {
        senders: targets
            .iter()
            .enumerate()
            .map(|(i, target)| SenderSpec {
                client: i,
                target: target.clone(),
                rate: rate as f64 / senders as f64,
                // Spread over the first interval, so that thousands of senders writing a few
                // lines a second do not all write in the same instant.
                offset: (i as f64 + 0.5) / senders as f64,
            })
            .collect(),
        receivers_per_message: receivers,
        duration: Duration::from_secs(sizes.duration),
        size: sizes.size,
        pid: ctx.pid,
        also_pids: ctx.also_pids.clone(),
    };

    let mut steps: Vec<Step> = Vec::new();
    let mut run_step = async |rate: u64, steps: &mut Vec<Step>| -> bool {
        if !steps.is_empty() {
            tokio::time::sleep(SETTLE).await;
        }
        let result = session.phase(&spec_at(rate), DRAIN).await;
        let step = judge(rate, result, receivers, sizes.duration, sizes.max_p99_ms);
        let held = step.failed.is_none();
        steps.push(step);
        held
    };
    let mut best: Option<usize> = None;
    if sizes.rate > 0 {
        if run_step(sizes.rate, &mut steps).await {
            best = Some(0);
        }
    } else {
        let mut rate = sizes.start_rate;
        let mut failed_at = None;
        loop {
            if run_step(rate, &mut steps).await {
                best = Some(steps.len() - 1);
                if rate >= sizes.max_rate {
                    break;
                }
                rate = rate.saturating_mul(2).min(sizes.max_rate);
            } else {
                failed_at = Some(rate);
                break;
            }
        }
        if let (Some(b), Some(mut hi)) = (best, failed_at) {
            let mut lo = steps[b].target;
            for _ in 0..sizes.refine {
                let mid = round_rate(lo.midpoint(hi));
                if mid <= lo || mid >= hi {
                    break;
                }
                if run_step(mid, &mut steps).await {
                    best = Some(steps.len() - 1);
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
        }
    }
    session.stop().await;

    let total_sent: u64 = steps.iter().map(|s| s.result.sent).sum();
    let peak = steps
        .iter()
        .filter(|s| s.result.lost() == 0)
        .map(|s| s.msgs_per_s)
        .fold(0.0, f64::max);
    match best {
        Some(b) => {
            let step = &steps[b];
            r.metric("durable_msgs_per_s", step.msgs_per_s, "msg/s");
            r.metric("target_rate", step.target as f64, "msg/s");
            r.metric("send_rate", step.send_rate, "msg/s");
            add_load_metrics(&mut r, &step.result, "");
        }
        None => {
            r.metric("durable_msgs_per_s", 0.0, "msg/s");
            r.note(format!(
                "no step was held: lower --start-rate (or --rate), or raise --max-p99-ms (now {} ms)",
                sizes.max_p99_ms
            ));
            if let Some(step) = steps.first() {
                r.metric("target_rate", step.target as f64, "msg/s");
                r.metric("send_rate", step.send_rate, "msg/s");
                add_load_metrics(&mut r, &step.result, "");
            }
        }
    }
    r.metric("peak_msgs_per_s", peak, "msg/s");
    r.metric("steps", steps.len() as f64, "steps");
    r.metric("messages_sent_total", total_sent as f64, "messages");
    for (k, step) in steps.iter().enumerate() {
        let key = |name: &str| format!("step{}_{name}", k + 1);
        r.metric(key("target_rate"), step.target as f64, "msg/s");
        r.metric(key("msgs_per_s"), step.msgs_per_s, "msg/s");
        r.metric(key("p99_ms"), step.result.latency.quantile_ms(0.99), "ms");
        r.metric(key("lost"), step.result.lost() as f64, "deliveries");
        r.note(describe(k + 1, step));
    }
    if let (Some(dir), Some(before)) = (sizes.data_dir.as_deref(), db_before) {
        let after = db_size(dir);
        let growth = after.total().saturating_sub(before.total());
        r.metric("db_bytes", after.db as f64, "B");
        r.metric("wal_bytes", after.wal as f64, "B");
        r.metric("db_growth_bytes", growth as f64, "B");
        if total_sent > 0 {
            r.metric(
                "db_mib_per_million_msgs",
                growth as f64 / total_sent as f64 * 1e6 / (1024.0 * 1024.0),
                "MiB",
            );
        }
        if after.total() == 0 {
            r.note(format!(
                "{}: no charla.db there (history off, or another store path)",
                dir.display()
            ));
        }
    }
    r.note(format!(
        "{} channels x {} members, every member sending {} B texts; each message reaches {} others",
        full,
        sizes.members,
        sizes.size,
        sizes.members - 1
    ));
    r
}

/// Judges a step: held, or why not.
fn judge(target: u64, result: LoadResult, receivers: u64, duration: u64, max_p99: f64) -> Step {
    let send_rate = per_second(result.sent as f64, duration as f64);
    let msgs_per_s = per_second(
        result.received as f64 / receivers as f64,
        result.window_secs,
    );
    let p99 = result.latency.quantile_ms(0.99);
    let mut why = Vec::new();
    if send_rate < 0.95 * target as f64 {
        why.push(format!("senders reached {send_rate:.0} msg/s"));
    }
    if result.lost() > 0 {
        why.push(format!("{} deliveries lost", result.lost()));
    }
    if result.closed > 0 {
        why.push(format!("{} clients disconnected", result.closed));
    }
    if p99 > max_p99 {
        why.push(format!("p99 {p99:.1} ms > {max_p99} ms"));
    }
    Step {
        target,
        result,
        msgs_per_s,
        send_rate,
        failed: (!why.is_empty()).then(|| why.join(", ")),
    }
}

/// One line per step for the notes.
fn describe(n: usize, step: &Step) -> String {
    let res = &step.result;
    let cpu = res.server_cpu.map_or(String::new(), |cpu| {
        format!(
            ", server {:.2} cores, {} deliveries/CPU-s",
            per_second(cpu, res.window_secs),
            format_number(per_second(res.received as f64, cpu))
        )
    });
    format!(
        "step {n}: {} msg/s asked, {} sent/s, {} msg/s delivered ({} deliveries, {} lost), p50 {:.1} ms, p99 {:.1} ms{cpu}, generator {:.2} cores: {}",
        format_number(step.target as f64),
        format_number(step.send_rate),
        format_number(step.msgs_per_s),
        format_number(res.received as f64),
        format_number(res.lost() as f64),
        res.latency.quantile_ms(0.5),
        res.latency.quantile_ms(0.99),
        per_second(res.generator_cpu, res.window_secs),
        step.failed
            .as_deref()
            .map_or("held".to_owned(), |why| format!("not held ({why})")),
    )
}

/// A rate rounded to two significant digits (45,678 → 46,000), so that refined steps have
/// readable rates.
fn round_rate(rate: u64) -> u64 {
    let mut unit = 1;
    while rate / unit >= 100 {
        unit *= 10;
    }
    (rate + unit / 2) / unit * unit
}

/// The sizes of the SQLite store's files.
#[derive(Debug, Clone, Copy, Default)]
struct DbSize {
    db: u64,
    wal: u64,
}

impl DbSize {
    fn total(self) -> u64 {
        self.db + self.wal
    }
}

/// The sizes of `charla.db` and `charla.db-wal` in `dir` (0 for a file that is not there).
fn db_size(dir: &Path) -> DbSize {
    let size = |name: &str| std::fs::metadata(dir.join(name)).map_or(0, |m| m.len());
    DbSize {
        db: size("charla.db"),
        wal: size("charla.db-wal"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_round_to_two_digits() {
        assert_eq!(round_rate(45_678), 46_000);
        assert_eq!(round_rate(15_000), 15_000);
        assert_eq!(round_rate(99), 99);
        assert_eq!(round_rate(1_049), 1_000);
        assert_eq!(round_rate(30_000u64.midpoint(40_000)), 35_000);
    }

    #[test]
    fn a_step_is_held_only_when_everything_holds() {
        let mut ok = LoadResult {
            sent: 3_000,
            expected: 6_000,
            received: 6_000,
            window_secs: 3.05,
            ..LoadResult::default()
        };
        ok.latency.record(20_000);
        let step = judge(1_000, ok, 2, 3, 100.0);
        assert!(step.failed.is_none());
        assert!((step.msgs_per_s - 3_000.0 / 3.05).abs() < 1e-6);

        let mut slow = LoadResult {
            sent: 2_000,
            expected: 4_000,
            received: 3_999,
            window_secs: 3.0,
            ..LoadResult::default()
        };
        slow.latency.record(150_000);
        let step = judge(1_000, slow, 2, 3, 100.0);
        let why = step.failed.expect("not held");
        assert!(why.contains("senders reached 667"), "{why}");
        assert!(why.contains("1 deliveries lost"), "{why}");
        assert!(why.contains("p99 150"), "{why}");
    }
}
