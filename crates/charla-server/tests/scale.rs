//! Scale and races: a few hundred concurrent clients in one channel, where every member
//! receives every message and all see the channel's messages in the same order (issue 2); and
//! clients racing for one nick, into a new channel, and in and out of a channel that keeps
//! being emptied and created again.
//!
//! Sizes are small enough for a debug build on 2 cores (a few seconds); performance figures live
//! in `charla-bench`, not here. Everything is bounded by [`TEST_LIMIT`].

mod common;
mod support;

use std::collections::HashMap;
use std::time::Duration;

use common::TestServer;
use support::Raw;
use tokio::task::JoinSet;

/// Upper bound for a whole test.
const TEST_LIMIT: Duration = Duration::from_secs(60);

/// Held by each test for its whole run: the tests here open hundreds of sockets each, and
/// running them one at a time keeps the process under the usual limit of 1024 open files.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `body` alone (see [`ONE_AT_A_TIME`]) and within [`TEST_LIMIT`] (counted from when it
/// starts, not while it waits its turn).
async fn one_at_a_time(body: impl Future<Output = ()>) {
    // A test that failed poisons nothing: tokio's mutex has no poisoning.
    let _turn = ONE_AT_A_TIME.lock().await;
    tokio::time::timeout(TEST_LIMIT, body)
        .await
        .expect("test timed out");
}

/// One message as a member saw it: (sender index, sequence number).
type Seen = (usize, usize);

/// Connects `members` clients named `m0`..., registered and in `channel`. Senders (the first
/// `senders`) enable echo-message so that they see their own lines in the channel's order too.
async fn populate(server: &TestServer, members: usize, senders: usize, channel: &str) -> Vec<Raw> {
    let mut set = JoinSet::new();
    for i in 0..members {
        let addr = server.addr;
        let channel = channel.to_owned();
        set.spawn(async move {
            let caps = if i < senders { "echo-message" } else { "" };
            let mut c = Raw::registered(addr, &format!("m{i}"), caps).await;
            c.send(&format!("JOIN {channel}")).await;
            c.expect_numeric("366").await;
            (i, c)
        });
    }
    let mut clients: Vec<Option<Raw>> = (0..members).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        let (i, c) = joined.expect("member task");
        clients[i] = Some(c);
    }
    clients
        .into_iter()
        .map(|c| c.expect("every member joined"))
        .collect()
}

/// The text of message `n` of sender `s` (with UTF-8, as users write).
fn text(s: usize, n: usize) -> String {
    format!("s{s} n{n} ¡hola! 🎉")
}

/// Parses [`text`] back.
fn parse_text(t: &str) -> Option<Seen> {
    let mut words = t.split(' ');
    let s = words.next()?.strip_prefix('s')?.parse().ok()?;
    let n = words.next()?.strip_prefix('n')?.parse().ok()?;
    Some((s, n))
}

/// Reads lines until `expected` PRIVMSGs to `channel` have arrived; returns them in order.
async fn collect(c: &mut Raw, channel: &str, expected: usize) -> Vec<Seen> {
    let mut got = Vec::with_capacity(expected);
    while got.len() < expected {
        let m = c
            .expect("PRIVMSG to the channel", |m| {
                m.command == "PRIVMSG" && m.param(0) == Some(channel)
            })
            .await;
        let t = m.param(1).unwrap_or("");
        let seen = parse_text(t).unwrap_or_else(|| panic!("{}: unexpected text {t:?}", c.name));
        assert_eq!(
            m.source_nick(),
            Some(format!("m{}", seen.0).as_str()),
            "{m}"
        );
        got.push(seen);
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_members_see_every_message_in_the_same_order() {
    const MEMBERS: usize = 300;
    const SENDERS: usize = 6;
    const PER_SENDER: usize = 40;
    const CHANNEL: &str = "#plaza";
    one_at_a_time(async {
        let server = TestServer::start().await;
        let clients = populate(&server, MEMBERS, SENDERS, CHANNEL).await;
        assert_eq!(server.handle.users().len(), MEMBERS);

        // Every member reads on its own task; the senders write concurrently, in small steps
        // so that their lines interleave at the server.
        let total = SENDERS * PER_SENDER;
        let mut set = JoinSet::new();
        for (i, mut c) in clients.into_iter().enumerate() {
            set.spawn(async move {
                if i < SENDERS {
                    for n in 0..PER_SENDER {
                        c.send(&format!("PRIVMSG {CHANNEL} :{}", text(i, n))).await;
                        if n % 4 == 3 {
                            tokio::task::yield_now().await;
                        }
                    }
                }
                let got = collect(&mut c, CHANNEL, total).await;
                // Nothing more than what was sent arrives.
                assert!(
                    c.try_recv(Duration::from_millis(50))
                        .await
                        .is_none_or(|m| m.command != "PRIVMSG"),
                    "{}: an extra PRIVMSG",
                    c.name
                );
                (i, got)
            });
        }
        let mut orders: HashMap<usize, Vec<Seen>> = HashMap::new();
        while let Some(done) = set.join_next().await {
            let (i, got) = done.expect("member task");
            orders.insert(i, got);
        }

        // The reference order: member 0's. It holds every message once, each sender's in order.
        let reference = &orders[&0];
        let mut next = [0usize; SENDERS];
        for &(s, n) in reference {
            assert_eq!(
                n, next[s],
                "sender {s}'s messages out of order: {reference:?}"
            );
            next[s] += 1;
        }
        assert!(next.iter().all(|&n| n == PER_SENDER), "{next:?}");
        // The senders really interleaved (otherwise "same order" would be trivial).
        let switches = reference.windows(2).filter(|w| w[0].0 != w[1].0).count();
        assert!(
            switches >= SENDERS,
            "senders did not interleave: {switches} switches"
        );
        for (i, got) in &orders {
            assert_eq!(got, reference, "member m{i} saw a different order");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_parts_and_messages_keep_one_order_for_everyone() {
    // Membership changes interleaved with messages: every member that stays sees the same
    // sequence of JOIN, PART and PRIVMSG lines.
    const STAYING: usize = 100;
    const MOVERS: usize = 20;
    const CHANNEL: &str = "#pasillo";
    one_at_a_time(async {
        let server = TestServer::start().await;
        let stayers = populate(&server, STAYING, 1, CHANNEL).await;
        // Movers are registered but outside the channel.
        let mut movers = Vec::new();
        for i in 0..MOVERS {
            movers.push(Raw::registered(server.addr, &format!("v{i}"), "").await);
        }

        let mut set = JoinSet::new();
        for (i, mut c) in stayers.into_iter().enumerate() {
            set.spawn(async move {
                if i == 0 {
                    for n in 0..30 {
                        c.send(&format!("PRIVMSG {CHANNEL} :{}", text(0, n))).await;
                        tokio::task::yield_now().await;
                    }
                }
                // 30 messages and a JOIN and a PART of each mover.
                let mut events = Vec::new();
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                while events.len() < 30 + 2 * MOVERS {
                    let m = match c.read_until(deadline).await {
                        support::Read::Line(m) => m,
                        other => {
                            let late: Vec<String> =
                                c.sync("probe").await.iter().map(|m| m.to_line()).collect();
                            panic!(
                                "{}: {other:?} after {} events; after a PING: {late:#?}; ",
                                c.name,
                                events.len()
                            )
                        }
                    };
                    let mover = m.source_nick().is_some_and(|n| n.starts_with('v'));
                    if m.param(0) == Some(CHANNEL)
                        && (m.command == "PRIVMSG"
                            || (mover && matches!(m.command.as_str(), "JOIN" | "PART")))
                    {
                        events.push(format!(
                            "{} {} {}",
                            m.source_nick().unwrap_or("?"),
                            m.command,
                            m.param(1).unwrap_or("")
                        ));
                    }
                }
                events
            });
        }
        let mut movers_set = JoinSet::new();
        for mut v in movers {
            movers_set.spawn(async move {
                v.send(&format!("JOIN {CHANNEL}")).await;
                v.expect_numeric("366").await;
                v.send(&format!("PART {CHANNEL} :adiós")).await;
                // Its own PART (others' pass by too): only then may it hang up, or the close
                // could overtake the PART still in the server's receive buffer.
                let nick = v.name.clone();
                v.expect("own PART", |m| {
                    m.command == "PART" && m.source_nick() == Some(nick.as_str())
                })
                .await;
            });
        }
        while let Some(done) = movers_set.join_next().await {
            done.expect("mover task");
        }
        let mut all = Vec::new();
        while let Some(done) = set.join_next().await {
            all.push(done.expect("member task"));
        }
        let reference = &all[0];
        for events in &all {
            assert_eq!(events, reference);
        }
    })
    .await;
}

/// Connects `n` clients at once and returns them unregistered.
async fn connect_all(server: &TestServer, n: usize) -> Vec<Raw> {
    let mut set = JoinSet::new();
    for _ in 0..n {
        let addr = server.addr;
        set.spawn(async move { Raw::connect(addr).await });
    }
    let mut clients = Vec::new();
    while let Some(c) = set.join_next().await {
        clients.push(c.expect("connect task"));
    }
    clients
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_for_one_nick_gives_it_to_exactly_one() {
    const RACERS: usize = 50;
    one_at_a_time(async {
        let server = TestServer::start().await;
        let clients = connect_all(&server, RACERS).await;
        let mut set = JoinSet::new();
        for (i, mut c) in clients.into_iter().enumerate() {
            set.spawn(async move {
                // Case variants of one nick: the same nick under the case-mapping.
                let nick = if i % 2 == 0 { "Mismo" } else { "mISMO" };
                c.send(&format!("NICK {nick}\r\nUSER u{i} 0 * :r")).await;
                let m = c
                    .expect("001 or 433", |m| m.command == "001" || m.command == "433")
                    .await;
                // Kept open until the end: a winner hanging up would free the nick.
                (m.command == "001", c)
            });
        }
        let mut winners = 0;
        let mut keep = Vec::new();
        while let Some(done) = set.join_next().await {
            let (won, c) = done.expect("racer");
            winners += usize::from(won);
            keep.push(c);
        }
        assert_eq!(winners, 1);
        let users = server.handle.users();
        assert_eq!(users.len(), 1);
        assert!(users[0].nick.eq_ignore_ascii_case("mismo"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_into_a_new_channel_makes_exactly_one_op() {
    const RACERS: usize = 100;
    one_at_a_time(async {
        let server = TestServer::start().await;
        let clients = populate(&server, RACERS, 0, "#previo").await;
        let mut set = JoinSet::new();
        for mut c in clients {
            set.spawn(async move {
                c.send("JOIN #nuevo").await;
                c.expect_numeric("366").await;
                c
            });
        }
        let mut clients = Vec::new();
        while let Some(c) = set.join_next().await {
            clients.push(c.expect("joiner"));
        }
        let checker = &mut clients[0];
        checker.send("NAMES #nuevo").await;
        let mut names = Vec::new();
        loop {
            let m = checker
                .expect("NAMES", |m| m.command == "353" || m.command == "366")
                .await;
            if m.command == "366" {
                break;
            }
            names.extend(
                m.params
                    .last()
                    .map(|l| l.split(' ').map(str::to_owned).collect::<Vec<_>>())
                    .unwrap_or_default(),
            );
        }
        assert_eq!(names.len(), RACERS, "{names:?}");
        let ops = names.iter().filter(|n| n.starts_with('@')).count();
        assert_eq!(ops, 1, "{names:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_part_churn_leaves_one_consistent_channel() {
    // Members join and part one channel concurrently, so that it is emptied and created
    // again and again; at the end everyone is in it, and the server agrees with itself.
    const CHURNERS: usize = 40;
    const ROUNDS: usize = 20;
    one_at_a_time(async {
        let server = TestServer::start_with({
            let mut c = TestServer::test_config();
            c.flood.enabled = false;
            c
        })
        .await;
        let clients = populate(&server, CHURNERS, 0, "#base").await;
        let mut set = JoinSet::new();
        for mut c in clients {
            set.spawn(async move {
                let nick = c.name.clone();
                for r in 0..ROUNDS {
                    c.send("JOIN #giro").await;
                    // Only our own JOIN and PART matter; the others' pass by.
                    c.expect("own JOIN", |m| {
                        m.command == "JOIN" && m.source_nick() == Some(nick.as_str())
                    })
                    .await;
                    c.send(&format!("PART #giro :vuelta {r}")).await;
                    c.expect("own PART", |m| {
                        m.command == "PART" && m.source_nick() == Some(nick.as_str())
                    })
                    .await;
                }
                c.send("JOIN #giro").await;
                c.expect("last JOIN", |m| {
                    m.command == "JOIN" && m.source_nick() == Some(nick.as_str())
                })
                .await;
                c
            });
        }
        let mut clients = Vec::new();
        while let Some(c) = set.join_next().await {
            clients.push(c.expect("churner"));
        }
        // Every member sees the same channel: a message reaches all the others.
        let (first, rest) = clients.split_at_mut(1);
        first[0].send("PRIVMSG #giro :¿estamos todos?").await;
        for c in rest.iter_mut() {
            let m = c
                .expect("the message", |m| {
                    m.command == "PRIVMSG" && m.param(0) == Some("#giro")
                })
                .await;
            assert_eq!(m.param(1), Some("¿estamos todos?"));
        }
        // And the operator API agrees.
        let users = server.handle.users();
        assert_eq!(users.len(), CHURNERS);
        for u in &users {
            let n = u.channels.iter().filter(|c| c.as_str() == "#giro").count();
            assert_eq!(n, 1, "{}: {:?}", u.nick, u.channels);
        }
    })
    .await;
}

/// Line `i` of the slow-reader test: its length and mix of 1-, 2- and 4-byte characters vary.
fn varied(i: usize) -> String {
    let mut s = format!("n{i} ");
    for k in 0..(i * 37) % 120 {
        s.push(match (i + k) % 5 {
            0 => 'ñ',
            1 => '🎉',
            _ => 'a',
        });
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_readers_get_every_byte_intact_and_in_order() {
    // Readers with tiny buffers that read slowly force short writes in the middle of lines,
    // over TCP (vectored writes) and over an in-process stream (copied writes).
    const LINES: usize = 1500;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    one_at_a_time(async {
        let mut config = TestServer::test_config();
        config.flood.enabled = false;
        config.limits.sendq_bytes = 4 * 1024 * 1024;
        let server = TestServer::start_with(config).await;
        let mut talker = Raw::registered(server.addr, "talker", "").await;

        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let stream = socket.connect(server.addr).await.expect("connect");
        let mut tcp = Raw::from_stream(stream);
        tcp.register("lento", "").await;

        let (ours, theirs) = tokio::io::duplex(700);
        server
            .handle
            .connect_stream(theirs, std::net::SocketAddr::from(([192, 0, 2, 1], 5000)))
            .expect("in-process session");
        let (rd, mut wr) = tokio::io::split(ours);
        let mut rd = BufReader::with_capacity(256, rd);
        wr.write_all(b"NICK memoria\r\nUSER m 0 * :M\r\n")
            .await
            .expect("register in process");

        let tcp_task = tokio::spawn(async move {
            for i in 0..LINES {
                let m = tcp.expect("PRIVMSG", |m| m.command == "PRIVMSG").await;
                assert_eq!(m.param(1), Some(varied(i).as_str()), "tcp line {i}");
                if i % 50 == 0 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        });
        let mem_task = tokio::spawn(async move {
            let mut i = 0;
            let mut line = Vec::new();
            while i < LINES {
                line.clear();
                let n =
                    tokio::time::timeout(Duration::from_secs(10), rd.read_until(b'\n', &mut line))
                        .await
                        .expect("in-process read timed out")
                        .expect("in-process read");
                assert!(n > 0, "in-process session closed at line {i}");
                let text = std::str::from_utf8(&line).expect("UTF-8");
                let m = charla_proto::OwnedMessage::parse(text).expect("parses");
                if m.command == "PRIVMSG" {
                    assert_eq!(m.param(1), Some(varied(i).as_str()), "in-process line {i}");
                    i += 1;
                    if i % 50 == 0 {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
            }
            drop(wr);
        });
        // Wait for the in-process user before talking to it.
        let deadline = tokio::time::Instant::now() + support::WAIT;
        while !server.handle.users().iter().any(|u| u.nick == "memoria") {
            assert!(
                tokio::time::Instant::now() < deadline,
                "in-process user never registered"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for chunk in (0..LINES).collect::<Vec<_>>().chunks(100) {
            let mut batch = String::new();
            for &i in chunk {
                batch.push_str(&format!("PRIVMSG lento,memoria :{}\r\n", varied(i)));
            }
            talker.send_raw(batch.as_bytes()).await;
        }
        tcp_task.await.expect("tcp reader");
        mem_task.await.expect("in-process reader");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_says_goodbye_to_three_hundred_clients_at_once() {
    const MEMBERS: usize = 300;
    one_at_a_time(async {
        let server = TestServer::start().await;
        let clients = populate(&server, MEMBERS, 0, "#final").await;
        let mut set = JoinSet::new();
        for mut c in clients {
            set.spawn(async move { c.expect_closed_within(support::WAIT).await });
        }
        let started = tokio::time::Instant::now();
        server.handle.shutdown().await;
        let took = started.elapsed();
        let mut goodbyes = 0;
        while let Some(done) = set.join_next().await {
            let error = done.expect("client task");
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains("shutting down")),
                "{error:?}"
            );
            goodbyes += 1;
        }
        assert_eq!(goodbyes, MEMBERS);
        assert!(server.handle.is_shut_down());
        assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
        assert!(
            tokio::net::TcpStream::connect(server.addr).await.is_err(),
            "still accepting after shutdown"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_for_everyone_while_members_are_disconnected() {
    // The operator disconnects members in the middle of the traffic: every remaining member
    // still sees the same sequence, QUIT lines included, at the same places.
    const MEMBERS: usize = 40;
    const SENDERS: usize = 4;
    const PER_SENDER: usize = 150;
    const LEAVERS: usize = 5;
    const CHANNEL: &str = "#mezcla";
    one_at_a_time(async {
        let mut config = TestServer::test_config();
        config.flood.enabled = false;
        let server = TestServer::start_with(config).await;
        let clients = populate(&server, MEMBERS, SENDERS, CHANNEL).await;
        let mut leavers = Vec::new();
        for i in 0..LEAVERS {
            let mut c = Raw::registered(server.addr, &format!("x{i}"), "").await;
            c.send(&format!("JOIN {CHANNEL}")).await;
            c.expect_numeric("366").await;
            leavers.push(c);
        }
        let pad = "·".repeat(150);
        let mut set = JoinSet::new();
        for (i, mut c) in clients.into_iter().enumerate() {
            let pad = pad.clone();
            set.spawn(async move {
                let mut seq = Vec::new();
                let mut messages = 0;
                let mut quits = 0;
                // Senders interleave sending with reading (as a real client does), so that
                // their own queue never fills while they talk.
                let mut to_send = if i < SENDERS { 0..PER_SENDER } else { 0..0 };
                while messages < SENDERS * PER_SENDER || quits < LEAVERS {
                    let sent = to_send.next();
                    if let Some(n) = sent {
                        c.send(&format!("PRIVMSG {CHANNEL} :{} {pad}", text(i, n)))
                            .await;
                    }
                    // Read everything that is there (waiting a little after a send, long
                    // when there is nothing left to send).
                    let mut wait = if sent.is_some() {
                        Duration::from_millis(1)
                    } else {
                        support::WAIT
                    };
                    let mut read = 0;
                    while let Some(m) = c.try_recv(wait).await {
                        wait = Duration::ZERO;
                        read += 1;
                        if m.command == "QUIT" {
                            assert_eq!(m.param(0), Some("Killed (irc.test (fuera))"), "{m}");
                            quits += 1;
                            seq.push(format!("quit {}", m.source_nick().unwrap_or("?")));
                        } else if m.command == "PRIVMSG" && m.param(0) == Some(CHANNEL) {
                            messages += 1;
                            let (s, n) = parse_text(m.param(1).unwrap_or("")).expect("numbered");
                            seq.push(format!("{s}/{n}"));
                        }
                    }
                    assert!(
                        sent.is_some() || read > 0,
                        "{}: nothing more after {messages} messages and {quits} quits",
                        c.name
                    );
                }
                // Kept open until everyone is done: an early hang-up would be one more QUIT.
                (seq, c)
            });
        }
        // Disconnect the leavers one by one while the messages flow.
        for i in 0..LEAVERS {
            tokio::time::sleep(Duration::from_millis(15)).await;
            server
                .handle
                .disconnect(&format!("x{i}"), "fuera")
                .expect("disconnect");
        }
        let mut all = Vec::new();
        let mut keep = Vec::new();
        while let Some(done) = set.join_next().await {
            let (seq, c) = done.expect("member task");
            all.push(seq);
            keep.push(c);
        }
        for seq in &all {
            assert_eq!(seq, &all[0]);
        }
        let users = server.handle.users();
        assert_eq!(users.len(), MEMBERS);
        drop(leavers);
    })
    .await;
}
