//! The generator against a real charla server started in this test on 127.0.0.1:0: a tiny
//! run of each measuring scenario, with figures that must add up, and the refusal of a
//! non-loopback address before any connection is made. The `history` scenario also runs
//! against a scripted server that answers CHATHISTORY, which records the requests it gets.

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use charla_server::{Config, ListenerConfig, Server, ServerHandle};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;

async fn start_server() -> Result<(ServerHandle, SocketAddr)> {
    let mut config = Config::with_listener("127.0.0.1:0".parse()?);
    // The bench clients all come from loopback and send faster than a person.
    config.flood.enabled = false;
    let handle = Server::start(config).await?;
    let addr = *handle.local_addrs().first().context("no listener")?;
    Ok((handle, addr))
}

/// Runs the generator binary with `args`; returns its exit code and JSON report.
async fn bench(args: &[&str]) -> Result<(i32, Value)> {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(env!("CARGO_BIN_EXE_charla-bench"))
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .context("charla-bench did not finish in 60 s")??;
    let code = out.status.code().unwrap_or(-1);
    if out.stdout.is_empty() {
        return Ok((code, Value::Null));
    }
    let json: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("not JSON: {}", String::from_utf8_lossy(&out.stdout)))?;
    Ok((code, json))
}

fn metric(report: &Value, key: &str) -> Result<f64> {
    match report["metrics"][key].as_f64() {
        Some(v) => Ok(v),
        None => bail!("no metric {key} in {report}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_runs_against_a_real_server_add_up() -> Result<()> {
    let (server, addr) = start_server().await?;
    let addr = addr.to_string();
    let pid = std::process::id().to_string();
    let common = [
        "--addr",
        addr.as_str(),
        "--pid",
        pid.as_str(),
        "--json",
        "--timeout",
        "50",
    ];

    let mut args = vec!["connect", "--clients", "20", "--hold", "1"];
    args.extend_from_slice(&common);
    let (code, report) = bench(&args).await?;
    assert_eq!(code, 0, "{report}");
    assert_eq!(metric(&report, "registered")?, 20.0);
    assert_eq!(metric(&report, "held")?, 20.0);

    let mut args = vec![
        "fanout",
        "--members",
        "6",
        "--senders",
        "2",
        "--rate",
        "50",
        "--duration",
        "1",
    ];
    args.extend_from_slice(&common);
    let (code, report) = bench(&args).await?;
    assert_eq!(code, 0, "{report}");
    let sent = metric(&report, "sent")?;
    assert!(sent >= 40.0, "{report}");
    assert_eq!(metric(&report, "expected")?, sent * 5.0);
    assert_eq!(metric(&report, "delivered")?, sent * 5.0, "{report}");
    assert_eq!(metric(&report, "lost")?, 0.0);
    assert!(metric(&report, "p99_ms")? > 0.0);
    assert!(metric(&report, "server_cpu_s")? >= 0.0);

    let mut args = vec!["direct", "--pairs", "3", "--rate", "60", "--duration", "1"];
    args.extend_from_slice(&common);
    let (code, report) = bench(&args).await?;
    assert_eq!(code, 0, "{report}");
    assert_eq!(metric(&report, "lost")?, 0.0, "{report}");

    let mut args = vec![
        "history",
        "--clients",
        "2",
        "--requests",
        "3",
        "--messages",
        "10",
    ];
    args.extend_from_slice(&common);
    let (code, report) = bench(&args).await?;
    assert_eq!(code, 0, "{report}");
    // Charla keeps history: every request is answered.
    assert_eq!(report["verdict"], "measured", "{report}");
    assert_eq!(metric(&report, "requests_ok")?, 6.0, "{report}");
    assert_eq!(metric(&report, "requests_failed")?, 0.0, "{report}");
    assert!(metric(&report, "history_lines")? > 0.0, "{report}");

    // At a rate: every asker joined before the channel was filled, so each LATEST returns all
    // 30 lines.
    let mut args = vec![
        "history",
        "--clients",
        "3",
        "--rate",
        "30",
        "--duration",
        "1",
        "--messages",
        "30",
    ];
    args.extend_from_slice(&common);
    let (code, report) = bench(&args).await?;
    assert_eq!(code, 0, "{report}");
    let ok = metric(&report, "requests_ok")?;
    assert!((27.0..=33.0).contains(&ok), "{report}");
    assert_eq!(metric(&report, "requests_sent")?, ok, "{report}");
    assert_eq!(metric(&report, "requests_failed")?, 0.0, "{report}");
    assert_eq!(metric(&report, "lines_per_request")?, 30.0, "{report}");
    assert!(metric(&report, "p99_ms")? > 0.0, "{report}");

    // Durable messages: 4 channels of 3, every member sending; one fixed step, then a tiny
    // stepped run (two doublings held, at most).
    let mut args = vec![
        "durable",
        "--channels",
        "4",
        "--members",
        "3",
        "--rate",
        "120",
        "--duration",
        "1",
    ];
    args.extend_from_slice(&common);
    let (code, report) = bench(&args).await?;
    assert_eq!(code, 0, "{report}");
    assert_eq!(metric(&report, "senders")?, 12.0, "{report}");
    let sent = metric(&report, "sent")?;
    assert!(sent >= 100.0, "{report}");
    assert_eq!(metric(&report, "delivered")?, sent * 2.0, "{report}");
    assert_eq!(metric(&report, "lost")?, 0.0, "{report}");
    assert_eq!(metric(&report, "steps")?, 1.0, "{report}");
    assert!(metric(&report, "durable_msgs_per_s")? > 50.0, "{report}");
    assert!(metric(&report, "deliveries_per_cpu_s")? > 0.0, "{report}");

    let mut args = vec![
        "durable",
        "--channels",
        "2",
        "--members",
        "2",
        "--start-rate",
        "20",
        "--max-rate",
        "80",
        "--duration",
        "1",
        "--max-p99-ms",
        "5000",
    ];
    args.extend_from_slice(&common);
    let (code, report) = bench(&args).await?;
    assert_eq!(code, 0, "{report}");
    // 20, 40, 80: the last is --max-rate.
    assert_eq!(metric(&report, "steps")?, 3.0, "{report}");
    assert_eq!(metric(&report, "step3_target_rate")?, 80.0, "{report}");
    assert_eq!(metric(&report, "target_rate")?, 80.0, "{report}");
    assert_eq!(metric(&report, "step2_lost")?, 0.0, "{report}");

    server.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_costly_requests_are_answered_and_reported() -> Result<()> {
    let (server, addr) = start_server().await?;
    let addr = addr.to_string();
    // No --pid: the server runs inside this test process, whose memory says nothing about it.
    let common = ["--addr", addr.as_str(), "--json", "--timeout", "50"];

    let mut args = vec![
        "big-replies",
        "--channels",
        "100",
        "--clients",
        "5",
        "--hold",
        "1",
    ];
    args.extend_from_slice(&common);
    let (code, report) = bench(&args).await?;
    assert_eq!(code, 0, "{report}");
    assert_eq!(metric(&report, "channels")?, 100.0);
    assert_eq!(metric(&report, "non_readers")?, 5.0);
    assert!(metric(&report, "control_pings")? > 0.0, "{report}");

    let mut args = vec![
        "expensive-queries",
        "--users",
        "30",
        "--queriers",
        "3",
        "--duration",
        "1",
    ];
    args.extend_from_slice(&common);
    let (code, report) = bench(&args).await?;
    assert_eq!(code, 0, "{report}");
    assert_eq!(metric(&report, "users")?, 30.0);
    assert!(metric(&report, "queries_answered")? > 0.0, "{report}");
    assert!(metric(&report, "control_p99_ms")? < 50.0, "{report}");

    // A debug build on a loaded machine: the latency bound is generous, the counts are exact.
    let mut args = vec![
        "join-storm",
        "--members",
        "20",
        "--joiners",
        "10",
        "--duration",
        "1",
        "--max-p99-ms",
        "1000",
    ];
    args.extend_from_slice(&common);
    let (code, report) = bench(&args).await?;
    assert_eq!(code, 0, "{report}");
    assert_eq!(metric(&report, "joined")?, 10.0, "{report}");
    assert_eq!(metric(&report, "held")?, 20.0, "{report}");
    assert_eq!(metric(&report, "probe_lost")?, 0.0, "{report}");
    assert!(metric(&report, "storm_s")? > 0.0, "{report}");
    assert_eq!(metric(&report, "renamed")?, 10.0, "{report}");
    assert_eq!(metric(&report, "nick_probe_lost")?, 0.0, "{report}");
    assert_eq!(metric(&report, "parted")?, 10.0, "{report}");
    assert_eq!(metric(&report, "part_probe_lost")?, 0.0, "{report}");
    assert!(metric(&report, "part_storm_s")? > 0.0, "{report}");
    assert!(metric(&report, "quits_per_s")? > 0.0, "{report}");
    assert_eq!(metric(&report, "quit_probe_lost")?, 0.0, "{report}");

    server.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_login_storm_logs_everyone_in_over_tls() -> Result<()> {
    // A TLS listener only (passwords go over TLS); the certificate is generated in `data_dir`,
    // the accounts are kept in memory.
    let data = tempfile::tempdir()?;
    let mut config = Config::with_listener("127.0.0.1:0".parse()?);
    config.listeners = vec![ListenerConfig::tls("127.0.0.1:0".parse()?)];
    config.data_dir = data.path().to_owned();
    // The control pair talks every 20 ms, faster than a person.
    config.flood.enabled = false;
    let server = Server::start(config).await?;
    let addr = server
        .local_addrs()
        .first()
        .context("no listener")?
        .to_string();
    let args = [
        "login-storm",
        "--clients",
        "8",
        "--baseline",
        "1",
        "--storm-timeout",
        "30",
        "--addr",
        &addr,
        "--json",
        "--timeout",
        "50",
    ];
    let (code, report) = bench(&args).await?;
    assert_eq!(metric(&report, "accounts_created")?, 8.0, "{report}");
    assert_eq!(metric(&report, "logins_ok")?, 8.0, "{report}");
    assert_eq!(metric(&report, "logins_refused")?, 0.0, "{report}");
    assert_eq!(metric(&report, "login_errors")?, 0.0, "{report}");
    assert_eq!(metric(&report, "welcomed")?, 8.0, "{report}");
    assert!(metric(&report, "logins_per_s")? > 0.0, "{report}");
    assert!(metric(&report, "login_p99_ms")? >= metric(&report, "login_p50_ms")?);
    assert!(metric(&report, "sasl_p50_ms")? > 0.0, "{report}");
    assert!(metric(&report, "baseline_control_count")? > 0.0, "{report}");
    for key in [
        "baseline_control_p99_ms",
        "control_p50_ms",
        "control_p99_ms",
        "control_hashing_p99_ms",
        "all_connected_s",
    ] {
        metric(&report, key)?;
    }
    // On a busy machine (and a debug server) the chat's p99 is the one check allowed to fail.
    let failed: Vec<&str> = report["notes"]
        .as_array()
        .context("no notes")?
        .iter()
        .filter_map(Value::as_str)
        .filter(|n| n.starts_with("FAILED"))
        .collect();
    assert!(failed.iter().all(|n| n.contains("p99")), "{report}");
    assert_eq!(code == 0, failed.is_empty(), "{report}");

    // Again with the accounts in place: nothing to create, everyone still gets in.
    let mut again = args.to_vec();
    again.push("--skip-create");
    let (_, report) = bench(&again).await?;
    assert!(
        report["metrics"].get("accounts_created").is_none(),
        "{report}"
    );
    assert_eq!(metric(&report, "logins_ok")?, 8.0, "{report}");
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_remote_address_is_refused_before_connecting() -> Result<()> {
    let (code, report) = bench(&["connect", "--addr", "192.0.2.1:6667", "--clients", "1"]).await?;
    assert_eq!(code, 2);
    assert_eq!(report, Value::Null);
    Ok(())
}

/// What the scripted server keeps: the channel's messages (sender, text; a message's msgid is
/// its index) and the CHATHISTORY requests it was sent.
#[derive(Default)]
struct Kept {
    messages: Vec<(String, String)>,
    requests: Vec<String>,
}

type History = Arc<Mutex<Kept>>;

/// What the scripted server answers to one line from `nick`'s connection.
fn script(line: &str, nick: &mut String, history: &History) -> Vec<String> {
    let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
    match command {
        "CAP" if rest.starts_with("LS") => {
            vec!["CAP * LS :draft/chathistory batch server-time message-tags".into()]
        }
        "CAP" if rest.starts_with("REQ") => {
            vec![format!("CAP * ACK {}", rest.trim_start_matches("REQ "))]
        }
        "CAP" => vec![
            format!(":fake 001 {nick} :Welcome"),
            format!(":fake 005 {nick} CHATHISTORY=100 :are supported by this server"),
            format!(":fake 422 {nick} :MOTD File is missing"),
        ],
        "NICK" => {
            *nick = rest.to_owned();
            Vec::new()
        }
        "PING" => vec![format!(":fake PONG fake {rest}")],
        "JOIN" => vec![
            format!(":{nick}!u@127.0.0.1 JOIN {rest}"),
            format!(":fake 366 {nick} {rest} :End of /NAMES list"),
        ],
        "PRIVMSG" => {
            let text = rest.split_once(" :").map_or("", |(_, t)| t);
            let mut history = history.lock().expect("history lock");
            history.messages.push((nick.clone(), text.to_owned()));
            Vec::new()
        }
        "CHATHISTORY" => {
            // LATEST <target> * <limit> | BEFORE <target> msgid=<n> <limit>
            let words: Vec<&str> = rest.split(' ').collect();
            let mut history = history.lock().expect("history lock");
            history.requests.push(rest.to_owned());
            let (Some(&target), Some(limit)) = (words.get(1), words.get(3)) else {
                return vec!["FAIL CHATHISTORY INVALID_PARAMS :bad request".into()];
            };
            let limit: usize = limit.parse().unwrap_or(0);
            let end = match (words[0], words[2].strip_prefix("msgid=")) {
                ("LATEST", _) => history.messages.len(),
                ("BEFORE", Some(id)) => id.parse().unwrap_or(0),
                _ => return vec!["FAIL CHATHISTORY INVALID_PARAMS :bad request".into()],
            };
            let mut out = vec![format!(":fake BATCH +h chathistory {target}")];
            for (id, (from, text)) in history
                .messages
                .iter()
                .enumerate()
                .take(end)
                .skip(end.saturating_sub(limit))
            {
                out.push(format!(
                    "@batch=h;msgid={id};time=2026-11-23T12:00:00.000Z :{from}!u@127.0.0.1 PRIVMSG {target} :{text}"
                ));
            }
            out.push(":fake BATCH -h".into());
            out
        }
        _ => Vec::new(),
    }
}

/// One connection to the scripted server, until the client leaves.
async fn scripted_client(stream: TcpStream, history: History) -> Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut nick = String::from("*");
    while let Some(line) = lines.next_line().await? {
        let mut out = String::new();
        for reply in script(line.trim_end(), &mut nick, &history) {
            out.push_str(&reply);
            out.push_str("\r\n");
        }
        write.write_all(out.as_bytes()).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_measured_against_a_server_that_keeps_it() -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let history = History::default();
    let server = {
        let history = history.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(scripted_client(stream, history.clone()));
            }
        })
    };
    let pid = std::process::id().to_string();
    let args = [
        "history",
        "--clients",
        "3",
        "--requests",
        "4",
        "--messages",
        "120",
        "--addr",
        &addr,
        "--pid",
        &pid,
        "--json",
        "--timeout",
        "50",
    ];
    let (code, report) = bench(&args).await?;
    assert_eq!(code, 0, "{report}");
    {
        let kept = history.lock().expect("history lock");
        assert_eq!(kept.messages.len(), 120);
        // Each asker: LATEST (messages 70-119), BEFORE the oldest of those (20-69), twice.
        let before = |r: &&String| r.starts_with("BEFORE ") && r.ends_with(" msgid=70 50");
        assert_eq!(
            kept.requests.iter().filter(before).count(),
            6,
            "{:?}",
            kept.requests
        );
        assert_eq!(
            kept.requests
                .iter()
                .filter(|r| r.starts_with("LATEST "))
                .count(),
            6
        );
    }
    assert_eq!(metric(&report, "requests_ok")?, 12.0, "{report}");
    assert_eq!(metric(&report, "requests_failed")?, 0.0, "{report}");
    assert_eq!(metric(&report, "history_lines")?, 12.0 * 50.0, "{report}");
    assert!(metric(&report, "p99_ms")? > 0.0, "{report}");

    // At a rate, LATEST only, with the lines per request asked (the server's 100 at most).
    let rated = [
        "history",
        "--clients",
        "4",
        "--messages",
        "20",
        "--rate",
        "40",
        "--duration",
        "1",
        "--limit",
        "500",
        "--addr",
        &addr,
        "--json",
        "--timeout",
        "50",
    ];
    let (code, report) = bench(&rated).await?;
    assert_eq!(code, 0, "{report}");
    let ok = metric(&report, "requests_ok")?;
    assert!((36.0..=44.0).contains(&ok), "{report}");
    assert_eq!(metric(&report, "requests_failed")?, 0.0, "{report}");
    assert_eq!(
        metric(&report, "lines_per_request_asked")?,
        100.0,
        "{report}"
    );
    // 120 messages from the first run and 20 from this one.
    assert_eq!(metric(&report, "lines_per_request")?, 100.0, "{report}");
    let kept = history.lock().expect("history lock");
    assert_eq!(kept.messages.len(), 140);
    let rated_requests: Vec<&String> = kept
        .requests
        .iter()
        .filter(|r| r.ends_with(" * 100"))
        .collect();
    assert_eq!(rated_requests.len() as f64, ok, "{:?}", kept.requests);
    assert!(rated_requests.iter().all(|r| r.starts_with("LATEST ")));
    drop(kept);
    server.abort();
    Ok(())
}
