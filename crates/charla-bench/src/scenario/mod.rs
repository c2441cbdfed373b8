//! The scenarios, one function each: [`traffic`] measures (connect, fanout, direct, history),
//! [`durable`] finds the most messages per second a server commits and delivers,
//! [`abuse`] checks that the server stays standing (slow readers, flood, connection storm,
//! garbage, half registrations), [`costly`] that costly requests cost the asker, not the
//! others (big replies to non-readers, expensive queries), [`accounts`] that logging in costs
//! the server's hash pool, not the chat (login storm), [`crash`] that a server killed with
//! SIGKILL under load kept every message anyone received (it starts the server itself),
//! [`uploads`] that big uploads to the file host stream and leave the chat alone.

pub mod abuse;
pub mod accounts;
pub mod costly;
pub mod crash;
pub mod durable;
pub mod history;
pub mod storm;
pub mod traffic;
pub mod uploads;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::cli::{Common, Scenario};
use crate::conn::{self, Client, Connector, Reply};
use crate::load::{self, LoadResult};
use crate::procfs;
use crate::report::Report;
use crate::stats::per_second;

/// What every scenario needs.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// How to open client connections.
    pub connector: Connector,
    /// The server's address.
    pub addr: SocketAddr,
    /// The server's pid.
    pub pid: Option<u32>,
    /// Registrations in flight at once.
    pub concurrency: usize,
    /// The server's name in reports.
    pub label: String,
    /// Other processes of the network (nodes, NATS) whose memory and CPU count with the
    /// server's.
    pub also_pids: Vec<u32>,
}

impl Ctx {
    /// Builds the context from the command line.
    pub fn new(common: &Common) -> Self {
        let mut connector = Connector::new(common.addr, common.tls);
        if common.tls12 {
            connector = connector.tls12_only();
        }
        connector.spread = common.spread_ips;
        connector.others = common.also.clone();
        Self {
            connector,
            addr: common.addr,
            pid: common.pid,
            concurrency: common.concurrency,
            label: common.label.clone(),
            also_pids: common.also_pids.clone(),
        }
    }

    /// An empty report for `scenario`.
    pub fn report(&self, scenario: &'static str) -> Report {
        let mut r = Report::new(scenario, &self.label, &self.addr.to_string());
        if self.pid.is_none() {
            r.note("no --pid: server memory and CPU not measured");
        }
        // Other work on the machine shows in every latency figure: record how busy it was.
        if let Some(load) = procfs::load_average() {
            r.metric("machine_load_1m", load, "runnable");
        }
        r
    }

    /// The server's memory and CPU now.
    pub fn server_sample(&self) -> Option<procfs::Sample> {
        procfs::sample_all(self.pid, &self.also_pids)
    }

    /// A connector from another loopback address than the load's (127.0.0.2 for IPv4), for
    /// the "others are unaffected" checks.
    pub fn other_ip(&self) -> Connector {
        let ip = match self.addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        self.connector.with_local_ip(ip)
    }
}

/// Runs one scenario to its report.
pub async fn run(scenario: &Scenario) -> Report {
    let ctx = Ctx::new(scenario.common());
    match *scenario {
        Scenario::Connect {
            clients,
            hold,
            resume,
            ..
        } => traffic::connect(&ctx, clients, hold, resume).await,
        Scenario::Fanout {
            members,
            senders,
            rate,
            duration,
            size,
            ..
        } => traffic::fanout(&ctx, members, senders, rate, duration, size).await,
        Scenario::Direct {
            pairs,
            rate,
            duration,
            size,
            ..
        } => traffic::direct(&ctx, pairs, rate, duration, size).await,
        Scenario::History {
            clients,
            requests,
            messages,
            rate,
            duration,
            limit,
            write_rate,
            ..
        } => {
            let sizes = history::HistorySizes {
                clients,
                requests,
                messages,
                rate,
                duration,
                limit,
                write_rate,
            };
            history::history(&ctx, sizes).await
        }
        Scenario::Durable {
            channels,
            members,
            rate,
            start_rate,
            max_rate,
            refine,
            duration,
            max_p99_ms,
            size,
            ref data_dir,
            ..
        } => {
            let sizes = durable::Durable {
                channels,
                members,
                rate,
                start_rate,
                max_rate,
                refine,
                duration,
                max_p99_ms,
                size,
                data_dir: data_dir.clone(),
            };
            durable::durable(&ctx, sizes).await
        }
        Scenario::SlowReaders {
            clients,
            senders,
            rate,
            duration,
            size,
            rss_limit_mib,
            ..
        } => {
            let sizes = abuse::SlowReaders {
                clients,
                senders,
                rate,
                duration,
                size,
                rss_limit_mib,
            };
            abuse::slow_readers(&ctx, sizes).await
        }
        Scenario::Flood {
            duration,
            probe_rate,
            max_bytes,
            ..
        } => abuse::flood(&ctx, duration, probe_rate, max_bytes).await,
        Scenario::ConnStorm { connections, .. } => abuse::conn_storm(&ctx, connections).await,
        Scenario::BigReplies {
            channels,
            clients,
            sendq_kib,
            hold,
            ..
        } => {
            let sizes = costly::BigReplies {
                channels,
                clients,
                sendq_kib,
                hold,
            };
            costly::big_replies(&ctx, sizes).await
        }
        Scenario::ExpensiveQueries {
            users,
            queriers,
            duration,
            ..
        } => {
            let sizes = costly::ExpensiveQueries {
                users,
                queriers,
                duration,
            };
            costly::expensive_queries(&ctx, sizes).await
        }
        Scenario::Uploads {
            uploads,
            size_mib,
            members,
            rate,
            duration,
            ..
        } => {
            let sizes = uploads::Uploads {
                uploads: usize::try_from(uploads).unwrap_or(usize::MAX),
                size_mib,
                members,
                rate,
                duration,
            };
            uploads::uploads(&ctx, sizes).await
        }
        Scenario::JoinStorm {
            members,
            joiners,
            probe_rate,
            duration,
            max_p99_ms,
            ..
        } => {
            let sizes = storm::JoinStorm {
                members,
                joiners,
                probe_rate,
                duration,
                max_p99_ms,
            };
            storm::join_storm(&ctx, sizes).await
        }
        Scenario::LoginStorm {
            clients,
            ref account_prefix,
            ref password,
            skip_create,
            create_concurrency,
            baseline,
            storm_timeout,
            ..
        } => {
            let sizes = accounts::LoginStorm {
                clients,
                account_prefix: account_prefix.clone(),
                password: password.clone(),
                skip_create,
                create_concurrency,
                baseline,
                storm_timeout,
            };
            accounts::login_storm(&ctx, sizes).await
        }
        Scenario::Crash {
            ref server,
            clients,
            channels,
            per_client,
            rate,
            duration,
            kill_after,
            ref data_dir,
            keep_data,
            ..
        } => {
            let sizes = crash::Crash {
                server: server.clone(),
                clients,
                channels,
                per_client,
                rate,
                duration,
                kill_after,
                data_dir: data_dir.clone(),
                keep_data,
            };
            crash::crash(&ctx, sizes).await
        }
        Scenario::Garbage { bytes, .. } => abuse::garbage(&ctx, bytes).await,
        Scenario::HalfRegister { clients, wait, .. } => {
            abuse::half_register(&ctx, clients, wait).await
        }
    }
}

/// Adds the figures of a message load to a report; `prefix` ("" for the main load, which also
/// gets the CPU figures) is put before each key when a report holds several loads.
pub fn add_load_metrics(r: &mut Report, load: &LoadResult, prefix: &str) {
    let key = |k: &str| format!("{prefix}{k}");
    r.metric(key("sent"), load.sent as f64, "messages");
    r.metric(key("expected"), load.expected as f64, "deliveries");
    r.metric(key("delivered"), load.received as f64, "deliveries");
    r.metric(key("lost"), load.lost() as f64, "deliveries");
    let loss_pct = if load.expected > 0 {
        100.0 * load.lost() as f64 / load.expected as f64
    } else {
        0.0
    };
    r.metric(key("loss_pct"), loss_pct, "%");
    r.metric(key("delivered_per_s"), load.delivered_per_sec(), "lines/s");
    r.metric(key("p50_ms"), load.latency.quantile_ms(0.50), "ms");
    r.metric(key("p99_ms"), load.latency.quantile_ms(0.99), "ms");
    r.metric(key("max_ms"), load.latency.max_ms(), "ms");
    r.metric(key("closed"), load.closed as f64, "clients");
    if prefix.is_empty() {
        r.metric("window_s", load.window_secs, "s");
        if let Some(cpu) = load.server_cpu {
            r.metric("server_cpu_s", cpu, "s");
            r.metric(
                "server_cpu_util",
                per_second(cpu, load.window_secs),
                "cores",
            );
            r.metric(
                "deliveries_per_cpu_s",
                per_second(load.received as f64, cpu),
                "lines/CPU-s",
            );
        }
        // Where the server's CPU went, by thread name (e.g. charla's store writer,
        // `charla-store-wr`, beside the runtime's workers).
        for (name, cpu) in &load.server_threads {
            if *cpu > 0.0 {
                r.metric(format!("server_thread_cpu_s.{name}"), *cpu, "s");
            }
        }
        if let Some((before, after)) = load.server_rss {
            r.metric("server_rss_kib", after as f64, "KiB");
            r.metric("server_rss_growth_kib", after as f64 - before as f64, "KiB");
        }
        r.metric("generator_cpu_s", load.generator_cpu, "s");
        let gen_util = per_second(load.generator_cpu, load.window_secs);
        r.metric("generator_cpu_util", gen_util, "cores");
        if gen_util > 0.9 {
            r.note(format!(
                "the generator used {gen_util:.2} cores of 2: it may limit the figures"
            ));
        }
    }
    if load.order_violations > 0 {
        r.note(format!(
            "{prefix}{} messages arrived out of order or twice",
            load.order_violations
        ));
    }
    if load.closed > 0 {
        r.note(format!(
            "{prefix}{} reading clients were disconnected: {}",
            load.closed,
            load.closed_reasons.join("; ")
        ));
    }
}

/// Registers one client from another loopback address, and times a PING round trip on it:
/// the "the server still serves others" check. Returns the milliseconds it took in all.
pub async fn control_check(ctx: &Ctx, nick: &str) -> Result<f64, String> {
    let start = Instant::now();
    let mut client = conn::register(&ctx.other_ip(), nick, Duration::from_secs(10))
        .await
        .map_err(|e| format!("control client could not register: {e}"))?;
    ping_round_trip(&mut client, Duration::from_secs(10)).await?;
    Ok(start.elapsed().as_secs_f64() * 1e3)
}

/// Sends `PING :token` and waits for its PONG.
pub async fn ping_round_trip(client: &mut Client, deadline: Duration) -> Result<Duration, String> {
    let token = format!("cbping{}", load::now_micros());
    let start = Instant::now();
    send_and_wait(client, &format!("PING :{token}\r\n"), deadline, |line| {
        line.contains("PONG") && line.contains(&token)
    })
    .await?;
    Ok(start.elapsed())
}

/// Sends `request` and reads, answering PINGs, until a line that `done` accepts, an `ERROR`,
/// the end of the stream, or `deadline`.
pub async fn send_and_wait(
    client: &mut Client,
    request: &str,
    deadline: Duration,
    done: impl Fn(&str) -> bool,
) -> Result<(), String> {
    let work = async {
        client
            .writer
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let line = client
                .reader
                .next_line()
                .await
                .map_err(|e| e.to_string())?
                .ok_or("closed")?;
            match conn::classify(&line) {
                Reply::Ping(pong) => client
                    .writer
                    .write_all(pong.as_bytes())
                    .await
                    .map_err(|e| e.to_string())?,
                Reply::Error(text) => return Err(format!("ERROR {text}")),
                _ if done(&line) => return Ok(()),
                _ => {}
            }
        }
    };
    tokio::time::timeout(deadline, work)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {deadline:?}")))
}
