//! The measuring scenarios: `connect`, `fanout` and `direct` (`history` has its own module).

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
use crate::report::Report;
use crate::stats::per_second;

/// `connect`: N clients register and stay. With `resume`, they have been here before: each
/// first registers and leaves, and then all come back resuming their TLS sessions.
pub async fn connect(ctx: &Ctx, clients: usize, hold: u64, resume: bool) -> Report {
    let mut r = ctx.report("connect");
    let connector = if resume {
        let connector = ctx.connector.clone().returning(clients);
        first_visit(&connector, &mut r, clients, ctx.concurrency).await;
        connector.resumed.store(0, Ordering::Relaxed);
        connector
    } else {
        ctx.connector.clone()
    };
    let run = load::run_id();
    let server_before = ctx.server_sample();
    let gen_before = procfs::sample(None).ok();
    let reg = load::register_many(&connector, 'c', &run, clients, ctx.concurrency).await;
    if resume {
        let resumed = connector.resumed.load(Ordering::Relaxed);
        r.metric("resumed", resumed as f64, "clients");
        if resumed < reg.clients.len() {
            r.note(format!(
                "{} of {} registrations did a full TLS handshake instead of resuming",
                reg.clients.len() - resumed,
                reg.clients.len()
            ));
        }
    }
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
    // The idle figures: the server's CPU and wake-ups while the clients only answer PINGs,
    // after a first second for the registrations' last replies to settle.
    let settle = Duration::from_secs(hold.min(1));
    tokio::time::sleep(settle).await;
    let idle_from = (ctx.server_sample(), ctx.pid.map(procfs::context_switches));
    let idle_start = Instant::now();
    tokio::time::sleep(Duration::from_secs(hold) - settle).await;
    let server_after = ctx.server_sample();
    let switches_after = ctx.pid.map(procfs::context_switches);
    let idle_secs = idle_start.elapsed().as_secs_f64();
    let held = alive.load(Ordering::Relaxed);
    r.metric("held", held as f64, "clients");
    if hold > 1 {
        if let (Some(b), Some(a)) = (idle_from.0, server_after) {
            r.metric(
                "idle_cpu_pct",
                100.0 * (a.cpu_seconds - b.cpu_seconds) / idle_secs,
                "% of a core",
            );
        }
        if let (Some(Ok(b)), Some(Ok(a))) = (idle_from.1, switches_after) {
            r.metric(
                "idle_wakeups_per_s",
                per_second(a.saturating_sub(b) as f64, idle_secs),
                "switches/s",
            );
        }
    }
    if let (Some(b), Some(a)) = (server_before, server_after) {
        r.metric("server_rss_before_kib", b.rss_kib as f64, "KiB");
        r.metric("server_rss_after_kib", a.rss_kib as f64, "KiB");
        let growth = (a.rss_kib as f64 - b.rss_kib as f64) * 1024.0;
        // Returning clients reuse the memory their first visit left in the allocator: their
        // growth is not what a client costs.
        if !resume {
            r.metric(
                "rss_per_client_bytes",
                per_second(growth, held.max(1) as f64),
                "B/client",
            );
        }
    }
    r.note(format!(
        "{}{} over {}",
        if resume { "returning clients, " } else { "" },
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

/// The first visit of `connect --resume`'s clients: each registers (its session tickets kept
/// by its connector) and quits, and the server has closed every connection before this
/// returns (or 30 s have passed).
async fn first_visit(
    connector: &conn::Connector,
    r: &mut Report,
    clients: usize,
    concurrency: usize,
) {
    let run = load::run_id();
    let reg = load::register_many(connector, 'v', &run, clients, concurrency).await;
    r.metric(
        "first_visit_registered",
        reg.clients.len() as f64,
        "clients",
    );
    let mut leaving = JoinSet::new();
    for mut client in reg.clients {
        leaving.spawn(async move {
            if client
                .writer
                .write_all(b"QUIT :hasta luego\r\n")
                .await
                .is_ok()
            {
                while let Ok(Some(_)) = client.reader.next_line().await {}
            }
        });
    }
    let all_gone = async { while leaving.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(30), all_gone)
        .await
        .is_err()
    {
        r.note("the first visit's clients were not all closed by the server within 30 s");
    }
}

/// Keeps one registered client open, answering PINGs, until `stop`.
pub(super) async fn hold_client(
    mut client: Client,
    alive: Arc<AtomicUsize>,
    stop: CancellationToken,
) {
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
                offset: 0.0,
            })
            .collect(),
        receivers_per_message: (joined.len() - 1) as u64,
        duration: Duration::from_secs(duration),
        size,
        pid: ctx.pid,
        also_pids: ctx.also_pids.clone(),
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
        also_pids: ctx.also_pids.clone(),
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

    /// The most lines one request returns, from ISUPPORT `CHATHISTORY=<max>` (0: no limit).
    pub(super) fn chathistory_max(&self) -> Option<usize> {
        self.isupport
            .iter()
            .find_map(|t| t.strip_prefix("CHATHISTORY="))
            .and_then(|v| v.parse().ok())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_limit_is_read_from_isupport() {
        let caps = Capabilities {
            caps: vec!["draft/chathistory".into()],
            isupport: vec!["NICKLEN=30".into(), "CHATHISTORY=100".into()],
        };
        assert!(caps.chathistory());
        assert_eq!(caps.chathistory_max(), Some(100));
        assert_eq!(Capabilities::default().chathistory_max(), None);
    }
}
