//! Durability under a crash: the server binary is killed with SIGKILL while 20 clients talk in
//! 4 channels, started again on the same data directory, and every message that any client
//! received must be in its channel's history, in the order the members saw it.
//!
//! A message is committed to the store before anyone receives it (see `charla_server::history`),
//! so a kill may only lose messages that nobody received. Messages committed but received by
//! nobody (the kill came between the commit and the delivery) are allowed, and counted.
//!
//! The kill lands at a random point of the commit cycle, so one kill may miss a server that
//! delivers before committing; the test runs [`ROUNDS`] rounds, each on the data the last kill
//! left (start, 20 clients, load, kill), then starts the server once more and reads history.
//! (A server changed to deliver a channel message before its commit failed the test in 6 runs
//! of 6; with one round it was caught about two times in three.)
//!
//! `kill -9` ends the process, not the machine: what the server wrote to the kernel survives it
//! whether or not it was synced, so this checks the order of commit and delivery, not the
//! syncing itself (`synchronous = FULL` is the store's own concern).
//!
//! In each round every client is in its channels before anyone talks, and nothing it is sent is
//! dropped while it is connected (no flood control, the default 1 MiB SendQ), so what it
//! received in a channel must also be one unbroken stretch of that channel's history, from the
//! round's first message on: a message skipped in the middle is reported as a gap.
#![cfg(unix)]

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use charla_proto::OwnedMessage;
use charla_proto::numeric::RPL_ENDOFNAMES;
use common::{TIMEOUT, TestClient};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const BIN: &str = env!("CARGO_BIN_EXE_charla-server");

/// Rounds of start, load and kill.
const ROUNDS: usize = 3;
/// Clients talking.
const CLIENTS: usize = 20;
/// Channels; each client is in two of them, so each channel has 10 members.
const CHANNELS: usize = 4;
/// How often each client sends a message. The server may hold it back: a sender's next line is
/// read once its last message is committed.
const SEND_EVERY: Duration = Duration::from_millis(2);
/// The kill comes once the clients have received this many lines in all (each message reaches
/// the 10 members of its channel, its sender by echo-message included)...
const KILL_AT_RECEIPTS: usize = 10_000;
/// ...or this long after the load started, whichever comes first.
const KILL_AT_LATEST: Duration = Duration::from_secs(3);
/// With fewer messages received than this in a round the round proves nothing, and fails.
const MIN_RECEIVED: usize = 100;
/// Lines per CHATHISTORY request when reading history back: below `max_request`, so that
/// reading a channel takes several pages.
const PAGE: usize = 400;
/// The talking clients' capabilities.
const CAPS: &str = "message-tags server-time batch draft/chathistory echo-message";

/// The server binary as a child process, its log gathered by a thread. Dropping it kills the
/// process (SIGKILL) and reaps it, so that no way out of the test leaves it running.
struct Server {
    child: Child,
    log: Arc<Mutex<String>>,
    killed: bool,
}

impl Server {
    /// Starts the binary with the config file `config` and waits for its "listening" log line.
    /// Returns it, the address it listens on, and how long it took to get there.
    fn start(config: &Path) -> (Server, SocketAddr, Duration) {
        let began = Instant::now();
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(config)
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the server");
        let stdout = child.stdout.take().expect("stdout");
        let server = Server {
            child,
            log: Arc::default(),
            killed: false,
        };
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let log = server.log.clone();
        // Reads the log to its end (the process's), so that the pipe never fills.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(mut log) = log.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = loop {
            let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            else {
                panic!(
                    "no 'charla-server listening' line; the log:\n{}",
                    server.log()
                );
            };
            if line.contains("charla-server listening")
                && let Some(rest) = line.split("addr=").nth(1)
            {
                let addr = rest.split_whitespace().next().expect("addr value");
                break addr.parse::<SocketAddr>().expect("a socket address");
            }
        };
        (server, addr, began.elapsed())
    }

    /// Everything the server has logged so far.
    fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// `kill -9` (once), and waits for the process to be gone; fails if it had ended before.
    fn kill_9(&mut self) {
        if std::mem::replace(&mut self.killed, true) {
            return;
        }
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "the server ended by itself before the kill ({status:?}); the log:\n{}",
                self.log()
            );
        }
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().expect("wait for the server");
        assert_eq!(status.signal(), Some(9), "{status:?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The config: a listener on 127.0.0.1 (port 0: the log tells the port), the SQLite
/// store in `data` synced as `synchronous` says, no flood control, and history readable from
/// before one's join (a reader
/// joins after the restart) in pages of up to 1000 lines.
fn write_config(dir: &Path, synchronous: &str) -> std::path::PathBuf {
    let path = dir.join("charla.toml");
    let data = dir.join("data");
    std::fs::write(
        &path,
        format!(
            "server_name = \"crash.test\"\n\
             data_dir = {:?}\n\
             [[listeners]]\n\
             address = \"127.0.0.1:0\"\n\
             [flood]\n\
             enabled = false\n\
             [history]\n\
             max_request = 1000\n\
             before_join = \"always\"\n\
             [http]\n\
             address = \"127.0.0.1:0\"\n\
             [store]\n\
             synchronous = {synchronous:?}\n",
            data.display().to_string()
        ),
    )
    .expect("write the config");
    path
}

/// The next line of a talking client during setup; fails after [`TIMEOUT`].
async fn setup_line(r: &mut tokio::io::BufReader<OwnedReadHalf>, nick: &str) -> OwnedMessage {
    let mut buf = Vec::new();
    match tokio::time::timeout(TIMEOUT, r.read_until(b'\n', &mut buf)).await {
        Ok(Ok(n)) if n > 0 => {}
        other => panic!("{nick}: no line during setup: {other:?}"),
    }
    let line = String::from_utf8(buf).expect("UTF-8");
    OwnedMessage::parse(line.trim_end_matches(['\r', '\n'])).expect("a parsable line")
}

/// Connects `nick` with [`CAPS`] and joins `channels`; returns the two halves of its
/// connection.
async fn member(
    addr: SocketAddr,
    nick: String,
    channels: [String; 2],
) -> (tokio::io::BufReader<OwnedReadHalf>, OwnedWriteHalf) {
    let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (r, mut w) = stream.into_split();
    let mut r = tokio::io::BufReader::new(r);
    w.write_all(
        format!("CAP REQ :{CAPS}\r\nNICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n").as_bytes(),
    )
    .await
    .expect("send");
    loop {
        let m = setup_line(&mut r, &nick).await;
        if m.command == "CAP" {
            assert_eq!(m.param(1), Some("ACK"), "{nick}: {m}");
            break;
        }
    }
    w.write_all(format!("CAP END\r\nJOIN {},{}\r\n", channels[0], channels[1]).as_bytes())
        .await
        .expect("send");
    let mut joined = 0;
    while joined < 2 {
        let m = setup_line(&mut r, &nick).await;
        if m.command == format!("{RPL_ENDOFNAMES:03}") {
            joined += 1;
        }
        assert!(m.command != "ERROR", "{nick}: {m}");
    }
    (r, w)
}

/// What one client received: per channel, the msgid and text of every PRIVMSG, in the order they
/// came; and anything that should not have come (ERROR, FAIL, lines without a msgid).
#[derive(Default)]
struct Received {
    by_channel: HashMap<String, Vec<(String, String)>>,
    problems: Vec<String>,
}

/// The lines received by all clients together, and the server: the reader whose line brings
/// them to [`KILL_AT_RECEIPTS`] kills it at once, when the next commits are most likely in
/// flight (a hop through another task would give them time to finish).
struct Receipts {
    lines: AtomicUsize,
    server: Mutex<Server>,
    killed: tokio::sync::Notify,
}

impl Receipts {
    /// `kill -9` of the server, if not done yet.
    fn kill(&self) {
        self.server.lock().expect("the server's lock").kill_9();
        self.killed.notify_one();
    }
}

/// Reads until the connection ends (the kill), recording every PRIVMSG.
async fn receive(mut r: tokio::io::BufReader<OwnedReadHalf>, receipts: Arc<Receipts>) -> Received {
    let mut got = Received::default();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf).await {
            // The end, or a reset: the server is gone.
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if !buf.ends_with(b"\n") {
            // A line cut short by the kill: not received.
            break;
        }
        let Ok(line) = std::str::from_utf8(&buf) else {
            got.problems.push(format!("invalid UTF-8: {buf:?}"));
            continue;
        };
        let line = line.trim_end_matches(['\r', '\n']);
        let Ok(m) = OwnedMessage::parse(line) else {
            got.problems.push(format!("unparsable: {line}"));
            continue;
        };
        match m.command.as_str() {
            "PRIVMSG" => {
                let (Some(channel), Some(text), Some(id)) =
                    (m.param(0), m.param(1), m.tag("msgid"))
                else {
                    got.problems
                        .push(format!("a PRIVMSG without msgid: {line}"));
                    continue;
                };
                got.by_channel
                    .entry(channel.to_owned())
                    .or_default()
                    .push((id.to_owned(), text.to_owned()));
                if receipts.lines.fetch_add(1, Ordering::Relaxed) + 1 == KILL_AT_RECEIPTS {
                    receipts.kill();
                }
            }
            "ERROR" | "FAIL" | "KILL" => got.problems.push(line.to_owned()),
            _ => {}
        }
    }
    got
}

/// Sends a message every [`SEND_EVERY`] to each of `channels` in turn, text with the sender,
/// the round and a counter (some in Spanish), until `stop` or the connection fails; returns how
/// many were written.
async fn talk(
    mut w: OwnedWriteHalf,
    nick: String,
    round: usize,
    channels: [String; 2],
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
) -> usize {
    let mut tick = tokio::time::interval(SEND_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let channel = &channels[n % 2];
        let text = if n % 3 == 0 {
            format!("¿Qué tal, ñandú? {nick} r{round} {n}")
        } else {
            format!("{nick} r{round} dice {n}: la canción sigue")
        };
        let line = format!("PRIVMSG {channel} :{text}\r\n");
        match tokio::time::timeout(Duration::from_secs(1), w.write_all(line.as_bytes())).await {
            Ok(Ok(())) => {
                n += 1;
                sent.fetch_add(1, Ordering::Relaxed);
            }
            _ => break,
        }
    }
    n
}

/// Reads a whole batch that starts with the next line: its lines, after checking that it is a
/// chathistory batch and that it closes.
async fn read_batch(c: &mut TestClient) -> Vec<OwnedMessage> {
    let open = c.expect_command("BATCH").await;
    assert_eq!(open.param(1), Some("chathistory"), "{open}");
    let id = open
        .param(0)
        .and_then(|r| r.strip_prefix('+'))
        .expect("an opening BATCH")
        .to_owned();
    let mut inside = Vec::new();
    loop {
        let m = c.recv().await;
        if m.command == "BATCH" && m.param(0) == Some(&format!("-{id}")) {
            return inside;
        }
        assert_eq!(
            m.tag("batch"),
            Some(id.as_str()),
            "line outside the batch: {m}"
        );
        inside.push(m);
    }
}

/// One message of a channel's history.
struct Entry {
    msgid: String,
    sender: String,
    text: String,
    /// The round it was sent in (from its text).
    round: usize,
}

/// The round a text of [`talk`] names (`r2`).
fn round_of(text: &str) -> Option<usize> {
    text.split(' ')
        .find_map(|w| w.strip_prefix('r')?.parse().ok())
}

/// A channel's whole history, oldest first: `CHATHISTORY AFTER` from the year 2000, then from
/// the last message of each page, until a page comes back empty.
async fn whole_history(c: &mut TestClient, channel: &str) -> Vec<Entry> {
    let mut all: Vec<Entry> = Vec::new();
    let mut anchor = "timestamp=2000-01-01T00:00:00.000Z".to_owned();
    loop {
        c.send(&format!("CHATHISTORY AFTER {channel} {anchor} {PAGE}"))
            .await;
        let page = read_batch(c).await;
        assert!(page.len() <= PAGE, "a page of {} lines", page.len());
        let Some(last) = page.last() else {
            return all;
        };
        anchor = format!("msgid={}", last.tag("msgid").expect("msgid"));
        for m in page {
            assert_eq!(m.command, "PRIVMSG", "{m}");
            assert!(m.tag("time").is_some(), "{m}");
            let text = m.param(1).unwrap_or("").to_owned();
            all.push(Entry {
                msgid: m.tag("msgid").expect("msgid").to_owned(),
                sender: m.source_nick().unwrap_or("").to_owned(),
                round: round_of(&text).unwrap_or_else(|| panic!("a text of no round: {m}")),
                text,
            });
        }
        assert!(all.len() < 1_000_000, "history does not end");
    }
}

/// Shows at most 10 problems, and how many there were.
fn first_ten(problems: &[String]) -> String {
    let mut text = problems
        .iter()
        .take(10)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n");
    if problems.len() > 10 {
        text.push_str(&format!("\n... and {} more", problems.len() - 10));
    }
    text
}

/// What one round gave: what each client received, and its figures.
struct Round {
    received: Vec<(String, Received)>,
    written: usize,
    sent_at_kill: usize,
    receipts_at_kill: usize,
    /// From the start of the load to the kill.
    killed_after: Duration,
    /// From the start of the process to its "listening" line.
    started_in: Duration,
}

/// One round on the data `config` names: starts the server, connects the 20 clients, lets them
/// talk until [`KILL_AT_RECEIPTS`] lines were received (or [`KILL_AT_LATEST`]), kills the
/// server with SIGKILL and waits for every client to see its connection end.
async fn round(config: &Path, number: usize, channels: &[String]) -> Round {
    let (server, addr, started_in) = Server::start(config);
    // Client i in channels i and i + 1 (mod 4): 10 members in each.
    let mut setups = Vec::new();
    for i in 0..CLIENTS {
        let nick = format!("c{i:02}");
        let mine = [
            channels[i % CHANNELS].clone(),
            channels[(i + 1) % CHANNELS].clone(),
        ];
        setups.push((
            nick.clone(),
            mine.clone(),
            tokio::spawn(member(addr, nick, mine)),
        ));
    }
    let receipts = Arc::new(Receipts {
        lines: AtomicUsize::new(0),
        server: Mutex::new(server),
        killed: tokio::sync::Notify::new(),
    });
    let sent = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for (nick, mine, setup) in setups {
        clients.push((nick, mine, setup.await.expect("setup")));
    }
    // Everyone is in; now the load.
    let load_started = Instant::now();
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for (nick, mine, (r, w)) in clients {
        readers.push((nick.clone(), tokio::spawn(receive(r, receipts.clone()))));
        writers.push(tokio::spawn(talk(
            w,
            nick,
            number,
            mine,
            stop.clone(),
            sent.clone(),
        )));
    }
    if tokio::time::timeout(KILL_AT_LATEST, receipts.killed.notified())
        .await
        .is_err()
    {
        receipts.kill();
    }
    let killed_after = load_started.elapsed();
    let receipts_at_kill = receipts.lines.load(Ordering::Relaxed);
    let sent_at_kill = sent.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);

    // Every client sees its connection end.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut received = Vec::new();
    for (nick, reader) in readers {
        let got = tokio::time::timeout_at(deadline, reader)
            .await
            .unwrap_or_else(|_| panic!("{nick}: the connection did not end after the kill"))
            .expect("reader task");
        received.push((nick, got));
    }
    let mut written = 0;
    for writer in writers {
        written += tokio::time::timeout_at(deadline, writer)
            .await
            .expect("a writer did not stop")
            .expect("writer task");
    }
    Round {
        received,
        written,
        sent_at_kill,
        receipts_at_kill,
        killed_after,
        started_in,
    }
}

/// What the comparison of history with the rounds found wrong, by kind.
#[derive(Default)]
struct Findings {
    /// Received, not in history (or with another text).
    lost: Vec<String>,
    /// Received in another order than history's.
    disorder: Vec<String>,
    /// Not received, between two messages that were.
    gaps: Vec<String>,
    /// ERROR, FAIL, unparsable lines, messages in a channel one is not in.
    unexpected: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_received_before_a_kill_9_is_in_history_in_order() {
    kill_rounds("full").await;
}

/// With `[store] synchronous = "normal"` the WAL is not synced at each commit: what a crash of
/// the process (not of the machine) leaves must still hold every message anyone received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_sync_per_commit_a_kill_9_still_loses_nothing_received() {
    kill_rounds("normal").await;
}

/// Three rounds of chat killed with SIGKILL on one data directory, the store's `synchronous`
/// set to `synchronous`; then every channel read back and checked against what was received.
async fn kill_rounds(synchronous: &str) {
    let began = Instant::now();
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(dir.path(), synchronous);
    let channels: Vec<String> = (0..CHANNELS).map(|c| format!("#choque{c}")).collect();
    let mut rounds = Vec::new();
    for number in 0..ROUNDS {
        rounds.push(round(&config, number, &channels).await);
    }

    // The same data directory once more: read every channel's whole history.
    let (server, addr, restart) = Server::start(&config);
    let mut reader = TestClient::connect(addr).await;
    reader
        .register_with_caps("lector", "batch server-time message-tags draft/chathistory")
        .await;
    let mut history: HashMap<String, Vec<Entry>> = HashMap::new();
    for channel in &channels {
        reader.send(&format!("JOIN {channel}")).await;
        reader.expect_numeric(RPL_ENDOFNAMES).await;
        history.insert(channel.clone(), whole_history(&mut reader, channel).await);
    }
    drop(server);
    let read_back = began.elapsed();

    // Each channel's history: its ids once each, every line one of ours, the rounds in order.
    let mut positions: HashMap<&str, HashMap<&str, usize>> = HashMap::new();
    // Where each round starts in each channel.
    let mut round_start: HashMap<(&str, usize), usize> = HashMap::new();
    for (channel, entries) in &history {
        let mut index = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            assert!(
                index.insert(e.msgid.as_str(), i).is_none(),
                "{channel}: msgid {} twice in history",
                e.msgid
            );
            assert!(
                e.text.contains(&e.sender) && e.sender.starts_with('c'),
                "{channel}: a line none of ours: <{}> {}",
                e.sender,
                e.text
            );
            if i > 0 {
                assert!(
                    entries[i - 1].round <= e.round,
                    "{channel}: history puts {:?} after {:?}, of a later round",
                    e.text,
                    entries[i - 1].text
                );
            }
            round_start.entry((channel.as_str(), e.round)).or_insert(i);
        }
        positions.insert(channel.as_str(), index);
    }

    // Every round, client and channel: what it received is in history, in the same order, and
    // one unbroken stretch of it from the round's first message.
    let mut found = Findings::default();
    let mut received_ids: HashSet<&str> = HashSet::new();
    for (number, r) in rounds.iter().enumerate() {
        for (nick, got) in &r.received {
            for p in &got.problems {
                found
                    .unexpected
                    .push(format!("round {number}, {nick}: {p}"));
            }
            for (channel, lines) in &got.by_channel {
                let (Some(index), Some(entries)) =
                    (positions.get(channel.as_str()), history.get(channel))
                else {
                    found.unexpected.push(format!(
                        "round {number}, {nick}: messages in {channel}, not one of its channels"
                    ));
                    continue;
                };
                let mut last: Option<(usize, &str)> = None;
                let before = (found.lost.len(), found.disorder.len());
                for (k, (id, text)) in lines.iter().enumerate() {
                    received_ids.insert(id);
                    let Some(&at) = index.get(id.as_str()) else {
                        found.lost.push(format!(
                            "round {number}: {nick} received {id} {text:?} in {channel} (its \
                             line {} of {}), not in history ({} lines)",
                            k + 1,
                            lines.len(),
                            entries.len()
                        ));
                        continue;
                    };
                    if entries[at].text != *text {
                        found.lost.push(format!(
                            "round {number}: {nick} received {id} as {text:?} in {channel}; \
                             history has {:?}",
                            entries[at].text
                        ));
                    }
                    if let Some((prev, prev_id)) = last
                        && at <= prev
                    {
                        found.disorder.push(format!(
                            "round {number}: {nick} in {channel}: {id} (history line {at}) \
                             came after {prev_id} (history line {prev})"
                        ));
                    }
                    last = Some((at, id));
                }
                let start = round_start.get(&(channel.as_str(), number)).copied();
                if let (Some((end, _)), Some(start)) = (last, start)
                    && before == (found.lost.len(), found.disorder.len())
                    && end + 1 != start + lines.len()
                {
                    found.gaps.push(format!(
                        "round {number}: {nick} in {channel}: received {} lines, the last of \
                         them history line {end}; the round starts at line {start}",
                        lines.len()
                    ));
                }
            }
        }
    }

    let in_history: usize = history.values().map(Vec::len).sum();
    let nobody = history
        .values()
        .flatten()
        .filter(|e| !received_ids.contains(e.msgid.as_str()))
        .count();
    for (number, r) in rounds.iter().enumerate() {
        let received: HashSet<&str> = r
            .received
            .iter()
            .flat_map(|(_, got)| got.by_channel.values().flatten())
            .map(|(id, _)| id.as_str())
            .collect();
        let kept = history
            .values()
            .flatten()
            .filter(|e| e.round == number)
            .count();
        println!(
            "crash round {number}: started in {:?}; {} messages written ({} at the kill), {} \
             received ({} lines at the kill), {kept} in history; killed {:?} into the load",
            r.started_in,
            r.written,
            r.sent_at_kill,
            received.len(),
            r.receipts_at_kill,
            r.killed_after,
        );
        assert!(
            received.len() >= MIN_RECEIVED,
            "round {number}: only {} messages received before the kill: it proves nothing",
            received.len()
        );
    }
    let per_channel: Vec<String> = channels
        .iter()
        .map(|c| format!("{c} {}", history[c].len()))
        .collect();
    println!(
        "crash: {ROUNDS} rounds, {} received, {in_history} in history ({}), {nobody} received \
         by nobody; the last restart took {restart:?}, {read_back:?} in all",
        received_ids.len(),
        per_channel.join(", "),
    );

    assert!(
        found.lost.is_empty(),
        "messages received but not in history after the kill:\n{}",
        first_ten(&found.lost)
    );
    assert!(
        found.disorder.is_empty(),
        "messages received in another order than history's:\n{}",
        first_ten(&found.disorder)
    );
    assert!(
        found.gaps.is_empty(),
        "clients missed messages in the middle of a channel's history:\n{}",
        first_ten(&found.gaps)
    );
    assert!(
        found.unexpected.is_empty(),
        "unexpected lines during the load:\n{}",
        first_ten(&found.unexpected)
    );
    assert!(in_history >= received_ids.len());
    let written: usize = rounds.iter().map(|r| r.written).sum();
    assert!(
        in_history <= written,
        "{in_history} messages in history, only {written} written"
    );
}
