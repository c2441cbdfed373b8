//! The durability scenario: `crash`. The guarantee it checks: after `kill -9` of the server
//! under load, every message that any client received is in history, in the order the members
//! saw it.
//!
//! 1. It starts the server binary it is given (`--server`, charla's command line and config)
//!    on `--addr` with a data directory and a config of its own (no flood control, history
//!    readable from before one's join).
//! 2. N clients (`message-tags server-time batch draft/chathistory echo-message`) join M
//!    channels, each client P of them, then each sends PRIVMSGs to its channels in turn at its
//!    share of `--rate`, the text naming the sender and a counter (`crash 3:12 ¿Qué tal,
//!    ñandú?`). Each client records the msgid of every PRIVMSG it receives, per channel, in
//!    arrival order (its own through echo-message).
//! 3. At the end of `--duration`, or once `--kill-after` messages were sent, the server gets
//!    SIGKILL. The clients see their connections drop.
//! 4. The same binary starts again on the same data (the restart time is measured to when it
//!    accepts connections); a verifier joins every channel and reads its whole history with
//!    `CHATHISTORY AFTER`, page by page.
//! 5. For every client and channel, the msgids it received must be the start of the channel's
//!    history, in the same order: none lost, none out of order, none skipped. Messages in
//!    history that nobody received (committed just before the kill) are counted, and allowed.
//!
//! - `server`: the child process, its data directory and config.
//! - `verify`: reading history back, and the comparison.
//! - here: the scenario, the talking clients.

mod server;
mod verify;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use charla_proto::Message;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::server::{DataDir, ServerProcess};
use self::verify::{Received, Seen};
use super::Ctx;
use super::traffic::{Capabilities, register_with_caps};
use crate::conn::{self, Client, LineReader, WriteHalf};
use crate::load;
use crate::report::{Report, Verdict};
use crate::stats::per_second;

/// What the talking clients ask for.
const TALKER_CAPS: &[&str] = &[
    "message-tags",
    "server-time",
    "batch",
    "draft/chathistory",
    "chathistory",
    "echo-message",
];
/// What the verifier asks for.
const VERIFIER_CAPS: &[&str] = &[
    "message-tags",
    "server-time",
    "batch",
    "draft/chathistory",
    "chathistory",
];
/// Most messages one client writes at once when it is behind its pace.
const MAX_BATCH: u64 = 64;
/// How long the clients have to see their connections end after the kill.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Sizes and places of the crash scenario.
#[derive(Debug, Clone)]
pub struct Crash {
    /// The server binary to start, kill and start again.
    pub server: PathBuf,
    /// Clients talking.
    pub clients: usize,
    /// Channels.
    pub channels: usize,
    /// Channels each client is in.
    pub per_client: usize,
    /// Messages per second, all clients together.
    pub rate: u64,
    /// Seconds of load before the kill.
    pub duration: u64,
    /// Kill once this many messages were sent, if before the end of `duration` (0: no count).
    pub kill_after: u64,
    /// The data directory, if given.
    pub data_dir: Option<PathBuf>,
    /// Keep a data directory the scenario made.
    pub keep_data: bool,
}

/// Counts shared by the talking clients.
#[derive(Default)]
struct Tally {
    /// Messages handed to the sockets.
    sent: AtomicU64,
    /// PRIVMSG lines received.
    lines: AtomicU64,
    /// Told once `sent` reaches `--kill-after`.
    kill_due: Notify,
    /// Set just before the kill: a connection that ends before was closed by the server.
    killed: AtomicBool,
}

/// A report that failed before the server ran.
fn failed_early(ctx: &Ctx, why: String) -> Report {
    let mut r = Report::new("crash", &ctx.label, &ctx.addr.to_string());
    r.check(false, why);
    r
}

/// `crash`: see the module doc.
pub async fn crash(ctx: &Ctx, sizes: Crash) -> Report {
    let run = load::run_id();
    let data = match DataDir::new(sizes.data_dir.as_deref(), &run, sizes.keep_data) {
        Ok(data) => data,
        Err(e) => return failed_early(ctx, format!("the data directory: {e}")),
    };
    let tls = ctx.connector.tls.is_some();
    if let Err(e) = server::write_config(&data, ctx.addr, tls, sizes.clients, sizes.channels) {
        return failed_early(ctx, format!("the config: {e}"));
    }
    if server::accepting(ctx.addr).await {
        return failed_early(
            ctx,
            format!(
                "something already accepts connections on {}: crash starts its own server there",
                ctx.addr
            ),
        );
    }
    let (mut process, started_in) = match ServerProcess::start(&sizes.server, &data, ctx.addr).await
    {
        Ok(x) => x,
        Err(e) => return failed_early(ctx, format!("the first start: {e}")),
    };
    let mut ctx = ctx.clone();
    ctx.pid = Some(process.pid);
    let mut r = ctx.report("crash");
    r.note(format!(
        "{} clients in {} channels, {} each, {} msg/s for {} s{}; server {} on {}, data in {}{}",
        sizes.clients,
        sizes.channels,
        sizes.per_client,
        sizes.rate,
        sizes.duration,
        if sizes.kill_after > 0 {
            format!(" or until {} messages are sent", sizes.kill_after)
        } else {
            String::new()
        },
        sizes.server.display(),
        ctx.addr,
        data.path.display(),
        if data.temporary() {
            " (removed at the end)"
        } else {
            ""
        },
    ));
    r.metric("start_s", started_in.as_secs_f64(), "s");

    let channels: Vec<String> = (0..sizes.channels)
        .map(|c| format!("#crash{run}{c}"))
        .collect();
    let talkers = match connect_talkers(&ctx, &run, &sizes, &channels).await {
        Ok(talkers) => talkers,
        Err(Setup::Unsupported(why)) => {
            r.verdict = Verdict::Unsupported;
            r.note(format!("{why}: not supported, nothing measured"));
            return r;
        }
        Err(Setup::Failed(why)) => {
            r.check(false, why);
            return r;
        }
    };
    r.metric("clients", talkers.len() as f64, "clients");

    // The load, then the kill.
    let tally = Arc::new(Tally::default());
    let stop = CancellationToken::new();
    let index: Arc<HashMap<String, usize>> = Arc::new(
        channels
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect(),
    );
    let per_client = sizes.rate as f64 / talkers.len() as f64;
    let server_before = ctx.server_sample();
    let load_started = Instant::now();
    let mut readers = JoinSet::new();
    let mut writers = JoinSet::new();
    let count = talkers.len();
    for (i, (client, mine)) in talkers.into_iter().enumerate() {
        let (pong_tx, pong_rx) = mpsc::unbounded_channel();
        let Client {
            nick,
            reader,
            writer,
        } = client;
        readers.spawn(receive(nick, reader, index.clone(), tally.clone(), pong_tx));
        // The clients' sends are spread over one period, not all at once.
        let phase = Duration::from_secs_f64(i as f64 / count as f64 / per_client);
        let pace = Pace {
            index: i,
            channels: mine,
            per_second: per_client,
            first: load_started + phase,
            kill_after: sizes.kill_after,
        };
        writers.spawn(talk(pace, writer, tally.clone(), stop.clone(), pong_rx));
    }
    let _ = tokio::time::timeout(
        Duration::from_secs(sizes.duration),
        tally.kill_due.notified(),
    )
    .await;
    let server_at_kill = ctx.server_sample();
    tally.killed.store(true, Ordering::Relaxed);
    let kill = process.kill_9();
    let kill_at = load_started.elapsed().as_secs_f64();
    stop.cancel();
    let sent = tally.sent.load(Ordering::Relaxed);
    r.metric("kill_at_s", kill_at, "s");
    r.metric("sent", sent as f64, "messages");
    r.metric("send_rate", per_second(sent as f64, kill_at), "msg/s");
    if let (Some(b), Some(a)) = (server_before, server_at_kill) {
        r.metric("server_cpu_s", a.cpu_seconds - b.cpu_seconds, "s");
    }
    if let Err(e) = kill {
        r.check(
            false,
            format!("the server was running until the SIGKILL: {e}"),
        );
        return r;
    }
    let (received, drained) = drain(readers, writers).await;
    if !drained {
        r.check(false, "connections still open after the kill");
        return r;
    }

    // The restart, and history read back.
    let (process, restarted_in) = match ServerProcess::start(&sizes.server, &data, ctx.addr).await {
        Ok(x) => x,
        Err(e) => {
            r.check(false, format!("the restart: {e}"));
            return r;
        }
    };
    r.metric("restart_s", restarted_in.as_secs_f64(), "s");
    let read_started = Instant::now();
    let verified = match register_with_caps(&ctx, &load::nick('v', &run, 0), VERIFIER_CAPS).await {
        Ok((mut client, caps)) => {
            let page = page_size(&caps);
            let most = sent + 1_000;
            verify::read_history(&mut client, &channels, page, most).await
        }
        Err(e) => Err(format!("the verifier could not register: {e}")),
    };
    drop(process);
    let read_back = match verified {
        Ok(read_back) => read_back,
        Err(e) => {
            r.check(false, format!("reading history back: {e}"));
            return r;
        }
    };
    r.metric("history_read_s", read_started.elapsed().as_secs_f64(), "s");
    r.metric("history_requests", read_back.requests as f64, "requests");

    let c = verify::compare(&read_back.history, &received, &channels);
    r.metric("deliveries", c.deliveries as f64, "lines");
    r.metric("received", c.received as f64, "messages");
    r.metric("in_history", c.in_history as f64, "messages");
    r.metric("received_by_nobody", c.nobody as f64, "messages");
    r.metric(
        "sent_not_in_history",
        sent.saturating_sub(c.in_history) as f64,
        "messages",
    );
    r.metric("lost", c.lost as f64, "messages");
    r.metric("order_violations", c.order_violations as f64, "lines");
    r.metric("gaps", c.gaps as f64, "messages");
    r.metric("text_mismatches", c.mismatches as f64, "lines");
    r.metric("history_duplicates", c.duplicates as f64, "messages");
    let closed_early = received.iter().filter(|(_, g)| g.closed_early).count();
    r.metric("closed_before_kill", closed_early as f64, "clients");
    if closed_early > 0 {
        r.note(format!(
            "{closed_early} clients were disconnected before the kill: what they received is \
             checked all the same"
        ));
    }
    for example in &c.examples {
        r.note(example.clone());
    }
    let problems: Vec<String> = received
        .iter()
        .flat_map(|(nick, got)| got.problems.iter().map(move |p| format!("{nick}: {p}")))
        .take(5)
        .collect();
    if !problems.is_empty() {
        r.note(format!("unexpected lines: {}", problems.join(" | ")));
    }
    r.note("the restarted server is stopped with SIGKILL too once history is read");
    r.check(
        c.received > 0,
        format!(
            "the clients received {} messages before the kill (0 would prove nothing)",
            c.received
        ),
    );
    r.check(
        c.lost == 0,
        format!(
            "every message received is in history after the kill ({} lost)",
            c.lost
        ),
    );
    r.check(
        c.order_violations == 0,
        format!(
            "history's order is the order each client received ({} violations)",
            c.order_violations
        ),
    );
    r.check(
        c.gaps == 0,
        format!(
            "each client received the start of its channels' history, nothing skipped ({} \
             skipped)",
            c.gaps
        ),
    );
    r.check(
        c.mismatches == 0 && c.duplicates == 0,
        format!(
            "history keeps each message once, with its text ({} texts differ, {} msgids twice)",
            c.mismatches, c.duplicates
        ),
    );
    r
}

/// Lines per CHATHISTORY request: the server's `CHATHISTORY` limit, at most 1000.
fn page_size(caps: &Capabilities) -> usize {
    caps.isupport
        .iter()
        .find_map(|t| t.strip_prefix("CHATHISTORY="))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .map_or(100, |n| n.min(1_000))
}

/// Why the talking clients could not start.
enum Setup {
    /// The server lacks what the scenario needs.
    Unsupported(String),
    /// A client could not register or join.
    Failed(String),
}

/// Registers the talking clients, `--concurrency` at a time, each in its channels: client `i`
/// in channels `i`, `i + 1`, ... (mod M), `per_client` of them.
async fn connect_talkers(
    ctx: &Ctx,
    run: &str,
    sizes: &Crash,
    channels: &[String],
) -> Result<Vec<(Client, Vec<String>)>, Setup> {
    let permits = Arc::new(Semaphore::new(ctx.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for i in 0..sizes.clients {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let ctx = ctx.clone();
        let nick = load::nick('k', run, i);
        let mine: Vec<String> = (0..sizes.per_client)
            .map(|k| channels[(i + k) % channels.len()].clone())
            .collect();
        tasks.spawn(async move {
            let result = talker(&ctx, &nick, &mine).await;
            drop(permit);
            result.map(|client| (i, client, mine))
        });
    }
    let mut talkers = Vec::with_capacity(sizes.clients);
    let mut failure = None;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(talker)) => talkers.push(talker),
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(e) => failure = failure.or(Some(Setup::Failed(format!("a setup task: {e}")))),
        }
    }
    if let Some(failure) = failure {
        return Err(failure);
    }
    // In the order of their index: client i sends as sender i.
    talkers.sort_by_key(|(i, _, _)| *i);
    Ok(talkers
        .into_iter()
        .map(|(_, client, mine)| (client, mine))
        .collect())
}

/// One talking client: registered with [`TALKER_CAPS`] and in `channels`.
async fn talker(ctx: &Ctx, nick: &str, channels: &[String]) -> Result<Client, Setup> {
    let (mut client, caps) = register_with_caps(ctx, nick, TALKER_CAPS)
        .await
        .map_err(|e| Setup::Failed(format!("{nick} could not register: {e}")))?;
    let offered = |name: &str| caps.caps.iter().any(|c| c.split('=').next() == Some(name));
    if !caps.chathistory() {
        return Err(Setup::Unsupported(
            "the server does not offer chathistory".into(),
        ));
    }
    for needed in ["message-tags", "echo-message", "batch"] {
        if !offered(needed) {
            return Err(Setup::Unsupported(format!(
                "the server does not offer {needed}"
            )));
        }
    }
    for channel in channels {
        conn::join(&mut client, channel, Duration::from_secs(30))
            .await
            .map_err(|e| Setup::Failed(format!("{nick} could not join {channel}: {e}")))?;
    }
    Ok(client)
}

/// When one client sends, and where.
struct Pace {
    /// The client's index: the sender in its texts.
    index: usize,
    /// Its channels, sent to in turn.
    channels: Vec<String>,
    /// Its messages per second.
    per_second: f64,
    /// When its first message is due.
    first: Instant,
    /// The kill is due once this many messages were sent in all (0: never).
    kill_after: u64,
}

/// Sends messages at `pace` until `stop` or the connection fails, answering the PINGs that
/// the reader passes on; returns how many it sent.
async fn talk(
    pace: Pace,
    mut writer: WriteHalf,
    tally: Arc<Tally>,
    stop: CancellationToken,
    mut pongs: mpsc::UnboundedReceiver<String>,
) -> u64 {
    let mut seq: u64 = 0;
    let mut buf = Vec::new();
    loop {
        let due_at = pace.first + Duration::from_secs_f64(seq as f64 / pace.per_second);
        tokio::select! {
            () = stop.cancelled() => break,
            Some(pong) = pongs.recv() => {
                if writer.write_all(pong.as_bytes()).await.is_err() {
                    break;
                }
                continue;
            }
            () = tokio::time::sleep_until(due_at) => {}
        }
        let elapsed = Instant::now()
            .saturating_duration_since(pace.first)
            .as_secs_f64();
        let due = ((elapsed * pace.per_second) as u64 + 1).max(seq + 1);
        let n = (due - seq).min(MAX_BATCH);
        buf.clear();
        for s in seq..seq + n {
            let channel = &pace.channels[(s % pace.channels.len() as u64) as usize];
            buf.extend_from_slice(
                format!("PRIVMSG {channel} :{}\r\n", verify::text(pace.index, s)).as_bytes(),
            );
        }
        // Counted before the write: a write cut by the kill may still have reached the server.
        let total = tally.sent.fetch_add(n, Ordering::Relaxed) + n;
        if pace.kill_after > 0 && total >= pace.kill_after && total - n < pace.kill_after {
            tally.kill_due.notify_one();
        }
        seq += n;
        let written = tokio::select! {
            () = stop.cancelled() => false,
            result = writer.write_all(&buf) => result.is_ok(),
        };
        if !written {
            break;
        }
    }
    seq
}

/// Reads until the connection ends, recording every PRIVMSG per channel; passes PINGs' answers
/// to the writer.
async fn receive(
    nick: String,
    mut reader: LineReader,
    index: Arc<HashMap<String, usize>>,
    tally: Arc<Tally>,
    pongs: mpsc::UnboundedSender<String>,
) -> (String, Received) {
    let mut got = Received::default();
    loop {
        while let Some(bytes) = reader.next_buffered() {
            let Ok(line) = std::str::from_utf8(bytes) else {
                problem(&mut got, "a line that is not UTF-8".into());
                continue;
            };
            let Ok(msg) = Message::parse(line) else {
                continue;
            };
            match msg.command {
                "PRIVMSG" => {
                    let channel = msg.param(0).and_then(|c| index.get(c));
                    let (Some(&channel), Some(id), Some(text)) =
                        (channel, msg.tag("msgid"), msg.param(1))
                    else {
                        problem(&mut got, format!("unexpected: {line}"));
                        continue;
                    };
                    got.channels
                        .entry(channel)
                        .or_default()
                        .push(Seen::new(&id, text));
                    tally.lines.fetch_add(1, Ordering::Relaxed);
                }
                "PING" => {
                    let _ = pongs.send(format!("PONG :{}\r\n", msg.param(0).unwrap_or("")));
                }
                "ERROR" | "FAIL" => problem(&mut got, line.to_owned()),
                _ => {}
            }
        }
        match reader.fill().await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    got.closed_early = !tally.killed.load(Ordering::Relaxed);
    (nick, got)
}

/// Keeps a few of the lines a client should not have received.
fn problem(got: &mut Received, text: String) {
    if got.problems.len() < 5 {
        got.problems.push(text);
    }
}

/// Waits for every client to see its connection end and every writer to stop; returns what
/// each client received, and whether all ended in time.
async fn drain(
    mut readers: JoinSet<(String, Received)>,
    mut writers: JoinSet<u64>,
) -> (Vec<(String, Received)>, bool) {
    let deadline = Instant::now() + DRAIN_LIMIT;
    let mut received = Vec::new();
    while let Ok(Some(done)) = tokio::time::timeout_at(deadline, readers.join_next()).await {
        if let Ok(got) = done {
            received.push(got);
        }
    }
    while let Ok(Some(_)) = tokio::time::timeout_at(deadline, writers.join_next()).await {}
    let drained = readers.is_empty() && writers.is_empty();
    (received, drained)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_the_servers_limit_up_to_1000() {
        let caps = |tokens: &[&str]| Capabilities {
            caps: Vec::new(),
            isupport: tokens.iter().map(|t| (*t).to_owned()).collect(),
        };
        assert_eq!(page_size(&caps(&["CHATHISTORY=250"])), 250);
        assert_eq!(page_size(&caps(&["CHATHISTORY=10000"])), 1_000);
        assert_eq!(page_size(&caps(&["CHATHISTORY=0"])), 100);
        assert_eq!(page_size(&caps(&[])), 100);
    }
}
