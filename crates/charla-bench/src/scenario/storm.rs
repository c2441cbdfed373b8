//! `join-storm`: many users join one big channel at once while others chat elsewhere.
//!
//! A channel of `members` readers is made first; then `joiners` clients send their JOIN at
//! the same moment, and each JOIN goes to every member already in (with a NAMES reply of up to
//! the channel's size to the joiner). Probe pairs exchange private messages before (the
//! baseline) and during the storm: what the storm costs everyone else is their latency. Then
//! the joiners all change their nick at once, all PART at once, and later (having come back)
//! all QUIT at once, each storm with new probes, measured the same way.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::abuse::probe_pairs;
use super::traffic::hold_client;
use super::{Ctx, add_load_metrics};
use crate::conn::{Client, ConnError};
use crate::load;
use crate::report::Report;
use crate::stats::per_second;

/// Sizes of the join-storm scenario.
#[derive(Debug, Clone, Copy)]
pub struct JoinStorm {
    /// Members in the channel before the storm.
    pub members: usize,
    /// Clients joining at once.
    pub joiners: usize,
    /// Messages per second between the probe pairs, in all.
    pub probe_rate: u64,
    /// Seconds of probes before and during the storm.
    pub duration: u64,
    /// The probes' p99 during the storm must stay under this.
    pub max_p99_ms: f64,
}

/// Holds clients open, answering PINGs, and counts those still open.
struct Holders {
    alive: Arc<AtomicUsize>,
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

impl Holders {
    fn new() -> Self {
        Holders {
            alive: Arc::new(AtomicUsize::new(0)),
            stop: CancellationToken::new(),
            tasks: JoinSet::new(),
        }
    }

    fn hold(&mut self, clients: Vec<Client>) {
        for client in clients {
            self.alive.fetch_add(1, Ordering::Relaxed);
            self.tasks
                .spawn(hold_client(client, self.alive.clone(), self.stop.clone()));
        }
    }

    fn alive(&self) -> usize {
        self.alive.load(Ordering::Relaxed)
    }

    async fn close(mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// `join-storm`: see the module doc.
pub async fn join_storm(ctx: &Ctx, sizes: JoinStorm) -> Report {
    let mut r = ctx.report("join-storm");
    r.metric("members", sizes.members as f64, "clients");
    r.metric("joiners", sizes.joiners as f64, "clients");
    let mut holders = Holders::new();
    if let Err(e) = measure(ctx, sizes, &mut r, &mut holders).await {
        r.check(false, e);
    }
    holders.close().await;
    r
}

/// The set-up, the baseline and the storm, into `r`; the clients it keeps open in `holders`.
/// `Err`: what could not be done, which ends the run.
async fn measure(
    ctx: &Ctx,
    sizes: JoinStorm,
    r: &mut Report,
    holders: &mut Holders,
) -> Result<(), String> {
    let run = load::run_id();
    let channel = format!("#cj{run}");
    let registered = |what: &str, reg: load::Registered| {
        if reg.failures.is_empty() {
            Ok(reg.clients)
        } else {
            Err(format!(
                "{what}: {}",
                load::describe_failures(&reg.failures)
            ))
        }
    };

    // The channel, its members reading.
    let reg = load::register_many(&ctx.connector, 'm', &run, sizes.members, ctx.concurrency).await;
    let (members, failed) =
        load::join_many(registered("members", reg)?, &channel, ctx.concurrency).await;
    if !failed.is_empty() {
        return Err(format!(
            "members' joins: {}",
            load::describe_failures(&failed)
        ));
    }
    holders.hold(members);
    let reg = load::register_many(&ctx.connector, 'j', &run, sizes.joiners, ctx.concurrency).await;
    let joiners = registered("joiners", reg)?;

    let baseline = probe_pairs(ctx, &run, 0, sizes.probe_rate, sizes.duration)
        .await
        .map_err(|e| format!("baseline probes: {e}"))?;
    add_load_metrics(r, &baseline, "baseline_");

    // The storm, a second into the probes: every joiner's JOIN at once.
    let (joined, probes) = storm(ctx, &run, sizes, r, Storm::Join, joiners, |joiners| {
        let count = joiners.len();
        load::join_many(joiners, &channel, count.max(1))
    })
    .await?;
    r.metric("joined", joined.len() as f64, "clients");
    let baseline_p99 = baseline.latency.quantile_ms(0.99);
    check_probes(r, &probes, Storm::Join, baseline_p99, sizes.max_p99_ms);

    // They all change their nick at once (a line to every member).
    let (renamed, probes) =
        storm(ctx, &run, sizes, r, Storm::Nick, joined, load::rename_all).await?;
    r.metric("renamed", renamed.len() as f64, "clients");
    check_probes(r, &probes, Storm::Nick, baseline_p99, sizes.max_p99_ms);

    // They leave as they came: every PART at once (no NAMES this time, a line to every member
    // still).
    let (parted, probes) = storm(ctx, &run, sizes, r, Storm::Part, renamed, |joined| {
        let count = joined.len();
        load::part_many(joined, &channel, count.max(1))
    })
    .await?;
    r.metric("parted", parted.len() as f64, "clients");
    check_probes(r, &probes, Storm::Part, baseline_p99, sizes.max_p99_ms);

    // They come back, a few at a time (not measured), and all QUIT at once, as when a bouncer
    // or a network drops its users together: a QUIT line to every member too.
    let (back, failed) = load::join_many(parted, &channel, ctx.concurrency).await;
    if !failed.is_empty() {
        return Err(format!(
            "joiners' second joins: {}",
            load::describe_failures(&failed)
        ));
    }
    storm(ctx, &run, sizes, r, Storm::Quit, back, |back| async move {
        let (_, failed) = load::quit_all(back).await;
        (Vec::new(), failed)
    })
    .await
    .map(|(_, probes)| check_probes(r, &probes, Storm::Quit, baseline_p99, sizes.max_p99_ms))?;

    let held = holders.alive();
    r.metric("held", held as f64, "clients");
    r.check(
        held == sizes.members,
        format!("{held} of {} members still connected", sizes.members),
    );
    Ok(())
}

/// Which storm: every joiner's JOIN, then their NICK, their PART, and last their QUIT.
#[derive(Debug, Clone, Copy)]
enum Storm {
    Join,
    Nick,
    Part,
    Quit,
}

impl Storm {
    fn name(self) -> &'static str {
        match self {
            Storm::Join => "join",
            Storm::Nick => "nick",
            Storm::Part => "part",
            Storm::Quit => "quit",
        }
    }

    /// What the clients did.
    fn done(self) -> &'static str {
        match self {
            Storm::Join => "joined",
            Storm::Nick => "renamed",
            Storm::Part => "parted",
            Storm::Quit => "quit",
        }
    }

    /// The start of its metrics' names (the join storm's came first and have none).
    fn prefix(self) -> &'static str {
        match self {
            Storm::Join => "",
            Storm::Nick => "nick_",
            Storm::Part => "part_",
            Storm::Quit => "quit_",
        }
    }

    /// Its probe pairs' round (the baseline's are 0).
    fn round(self) -> usize {
        match self {
            Storm::Join => 1,
            Storm::Part => 2,
            Storm::Quit => 3,
            Storm::Nick => 4,
        }
    }
}

/// One storm, `act` with `clients`, a second into probes that run meanwhile (the clients
/// reading, as any client does, until it starts): its length, rate and server CPU into `r`,
/// and its failures as a check. Returns the clients that made it (and are still connected)
/// and the probes' results.
async fn storm<F, Fut>(
    ctx: &Ctx,
    run: &str,
    sizes: JoinStorm,
    r: &mut Report,
    which: Storm,
    clients: Vec<Client>,
    act: F,
) -> Result<(Vec<Client>, load::LoadResult), String>
where
    F: FnOnce(Vec<Client>) -> Fut,
    Fut: Future<Output = (Vec<Client>, Vec<ConnError>)>,
{
    let (prefix, round) = (which.prefix(), which.round());
    let probe_ctx = ctx.clone();
    let probe_run = run.to_owned();
    let probes = tokio::spawn(async move {
        probe_pairs(
            &probe_ctx,
            &probe_run,
            round,
            sizes.probe_rate,
            sizes.duration,
        )
        .await
    });
    let reading = Reading::start(clients);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (clients, mut failed) = reading.stop().await;
    let count = clients.len() + failed.len();
    let server_before = ctx.server_sample();
    let start = Instant::now();
    let (done, act_failed) = act(clients).await;
    let length = start.elapsed().as_secs_f64();
    failed.extend(act_failed);
    let made_it = count.saturating_sub(failed.len());
    let server_after = ctx.server_sample();
    r.metric(format!("{prefix}storm_s"), length, "s");
    r.metric(
        format!("{}s_per_s", which.name()),
        per_second(made_it as f64, length),
        "clients/s",
    );
    if let (Some(b), Some(a)) = (server_before, server_after) {
        r.metric(
            format!("{prefix}storm_server_cpu_s"),
            a.cpu_seconds - b.cpu_seconds,
            "s",
        );
    }
    let why = if failed.is_empty() {
        String::new()
    } else {
        format!(": {}", load::describe_failures(&failed))
    };
    r.check(
        failed.is_empty(),
        format!("{made_it} of {count} {}{why}", which.done()),
    );
    let probes = probes
        .await
        .map_err(|e| e.to_string())
        .and_then(|probes| probes)
        .map_err(|e| format!("probes during the {} storm: {e}", which.name()))?;
    add_load_metrics(r, &probes, &format!("{prefix}probe_"));
    Ok((done, probes))
}

/// The probes' checks after a storm: nothing lost, p99 within `max_p99_ms`.
fn check_probes(
    r: &mut Report,
    probes: &load::LoadResult,
    which: Storm,
    baseline_p99: f64,
    max_p99_ms: f64,
) {
    let what = which.name();
    r.check(
        probes.lost() == 0 && probes.closed == 0,
        format!(
            "the probes lost {} messages and {} connections in the {what} storm",
            probes.lost(),
            probes.closed
        ),
    );
    let p99 = probes.latency.quantile_ms(0.99);
    r.check(
        p99 <= max_p99_ms,
        format!(
            "probe p99 {p99:.2} ms during the {what} storm (baseline {baseline_p99:.2} ms; \
             allowed {max_p99_ms:.0})"
        ),
    );
}

/// Clients kept reading (and answering PINGs) until a storm, and given back.
struct Reading {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: JoinSet<Result<Client, ConnError>>,
}

impl Reading {
    fn start(clients: Vec<Client>) -> Self {
        let (stop, _) = tokio::sync::watch::channel(false);
        let mut tasks = JoinSet::new();
        for mut client in clients {
            let mut stopped = stop.subscribe();
            tasks.spawn(async move {
                crate::conn::drain_until(&mut client, &mut stopped).await?;
                Ok(client)
            });
        }
        Reading { stop, tasks }
    }

    /// Stops reading; the clients still connected, and what ended the others.
    async fn stop(mut self) -> (Vec<Client>, Vec<ConnError>) {
        let _ = self.stop.send(true);
        let mut clients = Vec::new();
        let mut lost = Vec::new();
        while let Some(done) = self.tasks.join_next().await {
            match done {
                Ok(Ok(client)) => clients.push(client),
                Ok(Err(e)) => lost.push(e),
                Err(e) => lost.push(ConnError::Refused(format!("task: {e}"))),
            }
        }
        (clients, lost)
    }
}
