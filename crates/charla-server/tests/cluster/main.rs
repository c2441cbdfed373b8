//! Several nodes as one network over a real `nats-server` (with JetStream) on loopback: the
//! harness (a NATS of each test's own, nodes in this process or as processes of their own) and
//! three groups of tests: [`chat`] (users on several nodes talking, and the races), [`log`]
//! (following channels' logs, and reading back what NATS dropped) and [`failure`] (nodes, NATS
//! and the store failing).
//!
//! Each test starts its own `nats-server` on a free port with its own store directory. Without
//! `nats-server` on the PATH (or in /usr/sbin) the tests say they skipped, unless
//! `CHARLA_TEST_NATS_REQUIRED=1` (as in CI), when they fail.

mod chat;
#[path = "../common/mod.rs"]
mod common;
mod devices;
mod failure;
mod log;

use std::process::Stdio;
use std::time::Duration;

use charla_proto::numeric::{ERR_NICKNAMEINUSE, RPL_WHOISUSER};
use charla_server::Config;
use common::{TestClient, TestServer};
use tokio::io::{AsyncBufReadExt, BufReader};

/// A `nats-server` of the test's own, stopped when dropped.
struct Nats {
    child: tokio::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The `nats-server` binary, if this machine has one.
fn nats_binary() -> Option<std::path::PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([std::path::PathBuf::from("/usr/sbin")])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
}

/// Starts `nats-server -js` on a free loopback port; `None` (the test skips) if there is none
/// and it is not required.
async fn nats() -> Option<Nats> {
    let Some(binary) = nats_binary() else {
        assert!(
            std::env::var("CHARLA_TEST_NATS_REQUIRED").as_deref() != Ok("1"),
            "nats-server is required (CHARLA_TEST_NATS_REQUIRED=1) but not installed"
        );
        eprintln!("skipped: no nats-server on this machine");
        return None;
    };
    Some(spawn_nats(&binary, tempfile::tempdir().expect("dir"), "-1").await)
}

/// `nats-server` on `port` (`-1`: a free one) with its store in `dir`.
async fn spawn_nats(binary: &std::path::Path, dir: tempfile::TempDir, port: &str) -> Nats {
    let mut child = tokio::process::Command::new(binary)
        .args(["-js", "-a", "127.0.0.1", "-p", port, "-sd"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("nats-server starts");
    // It logs "Listening for client connections on 127.0.0.1:<port>" and then "Server is ready".
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut url = None;
    let ready = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(at) = line.find("Listening for client connections on ") {
                let addr = &line[at + "Listening for client connections on ".len()..];
                url = Some(format!("nats://{}", addr.trim()));
            }
            if line.contains("Server is ready") {
                return true;
            }
        }
        false
    })
    .await;
    assert!(matches!(ready, Ok(true)), "nats-server did not start");
    // Keep reading its log so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Nats {
        child,
        url: url.expect("nats-server said where it listens"),
        _dir: dir,
    }
}

/// `nats` stopped and started again on its port, with its store.
async fn restart_nats(mut nats: Nats) -> Nats {
    nats.child.kill().await.expect("stop nats-server");
    let port = nats.url.rsplit(':').next().expect("port").to_owned();
    let dir = std::mem::replace(&mut nats._dir, tempfile::tempdir().expect("dir"));
    let binary = nats_binary().expect("nats-server");
    // The port may be held for a moment after the kill.
    for _ in 0..50 {
        if std::net::TcpListener::bind(format!("127.0.0.1:{port}")).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    spawn_nats(&binary, dir, &port).await
}

/// The tests on PostgreSQL, one at a time: one of them restarts the server.
static POSTGRES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The test config of node `node` on `nats`, in a network of its own (`net`).
fn node_config(nats: &Nats, net: &str, node: &str) -> Config {
    let mut config = TestServer::test_config();
    config.server_name = format!("{node}.irc.test");
    config.cluster.nats = vec![nats.url.clone()];
    config.cluster.node = Some(node.to_owned());
    config.cluster.subject = net.to_owned();
    config.cluster.heartbeat_ms = 200;
    config.cluster.dead_after_ms = 1000;
    config
}

/// A network name no other test uses.
fn network(test: &str) -> String {
    format!("t{}_{test}", std::process::id())
}

/// Three nodes on one NATS.
async fn three_nodes(nats: &Nats, net: &str) -> [TestServer; 3] {
    let mut servers = Vec::new();
    for node in ["a", "b", "c"] {
        servers.push(TestServer::start_with(node_config(nats, net, node)).await);
    }
    servers.try_into().map_err(|_| ()).expect("three")
}

/// Waits until `c`'s node knows `nick` (a WHOIS finds it); fails after 5 s.
async fn until_known(c: &mut TestClient, nick: &str) {
    for _ in 0..100 {
        c.send(&format!("WHOIS {nick}")).await;
        let lines = c.sync().await;
        if lines
            .iter()
            .any(|m| m.command == format!("{RPL_WHOISUSER:03}"))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{nick} never became known on {}'s node", c.nick);
}

/// The nick of a line's source (empty if it has none).
fn nick_of(m: &charla_proto::OwnedMessage) -> &str {
    m.source
        .as_deref()
        .unwrap_or("")
        .split('!')
        .next()
        .unwrap_or("")
}

/// The text of every PRIVMSG to `target` among `lines`, with its sender.
fn said(lines: &[charla_proto::OwnedMessage], target: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|m| m.command == "PRIVMSG" && m.param(0) == Some(target))
        .map(|m| format!("{}: {}", nick_of(m), m.param(1).unwrap_or("")))
        .collect()
}

/// A node run as its own process (the `charla-server` binary), so that it can be killed with
/// SIGKILL; killed and reaped when dropped.
struct NodeProcess {
    child: std::process::Child,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts node `node` of network `net` as a process, and waits for its listener.
fn node_process(nats: &Nats, net: &str, node: &str) -> NodeProcess {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("charla.toml");
    std::fs::write(
        &config,
        format!(
            "server_name = \"{node}.irc.test\"\n\
             data_dir = {:?}\n\
             [[listeners]]\n\
             address = \"127.0.0.1:0\"\n\
             [http]\n\
             enabled = false\n\
             [files]\n\
             enabled = false\n\
             [store]\n\
             backend = \"memory\"\n\
             [flood]\n\
             enabled = false\n\
             [cluster]\n\
             nats = [\"{}\"]\n\
             node = \"{node}\"\n\
             subject = \"{net}\"\n\
             heartbeat_ms = 200\n\
             dead_after_ms = 1000\n",
            dir.path().join("data"),
            nats.url,
        ),
    )
    .expect("config");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_charla-server"))
        .arg("--config")
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn charla-server");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let addr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("the node says where it listens");
        if line.contains("charla-server listening")
            && let Some(rest) = line.split("addr=").nth(1)
        {
            break rest
                .split_whitespace()
                .next()
                .and_then(|a| a.parse().ok())
                .expect("an address");
        }
    };
    NodeProcess {
        child,
        addr,
        _dir: dir,
    }
}

/// The NAMES of `channel` as `c`'s node gives them, sorted.
async fn names_of(c: &mut TestClient, channel: &str) -> Vec<String> {
    c.send(&format!("NAMES {channel}")).await;
    let mut names: Vec<String> = c
        .sync()
        .await
        .into_iter()
        .filter(|m| m.command == "353")
        .flat_map(|m| {
            m.param(3)
                .unwrap_or("")
                .split(' ')
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    names
}

/// The config of node `node` keeping its store in the PostgreSQL database `url`.
fn on_postgres(nats: &Nats, net: &str, node: &str, url: &str) -> Config {
    use charla_server::account::password::Password;
    use charla_server::config::{StoreBackend, StoreConfig};
    let mut config = node_config(nats, net, node);
    config.store = StoreConfig {
        backend: StoreBackend::Postgres,
        url: Some(Password::new(url)),
        ..StoreConfig::default()
    };
    config
}

/// ana on the node at `a` and bea on the node at `b`, both with `caps`, each node knowing the
/// other's user, both in `channel`.
async fn pair_in(
    a: std::net::SocketAddr,
    b: std::net::SocketAddr,
    caps: &str,
    channel: &str,
) -> (TestClient, TestClient) {
    let mut ana = TestClient::connect(a).await;
    ana.register_with_caps("ana", caps).await;
    let mut bea = TestClient::connect(b).await;
    bea.register_with_caps("bea", caps).await;
    until_known(&mut ana, "bea").await;
    both_in(&mut ana, &mut bea, channel).await;
    (ana, bea)
}

/// `first` joins `channel`, then `second` (on another node), and `first` sees `second` come in.
async fn both_in(first: &mut TestClient, second: &mut TestClient, channel: &str) {
    first.send(&format!("JOIN {channel}")).await;
    first.expect_numeric(366).await;
    second.send(&format!("JOIN {channel}")).await;
    second.expect_numeric(366).await;
    // (From whoever `second` is now: it may have changed its nick since it registered.)
    let me = format!("{}!", first.nick);
    first
        .expect(&"the other's JOIN", |m| {
            m.command == "JOIN" && !m.source.as_deref().is_some_and(|p| p.starts_with(&me))
        })
        .await;
}

/// Nodes `a` and `b` of network `net` (their configs as `tune` leaves them), with ana on a and
/// bea on b, each node knowing the other's user.
async fn ana_and_bea(
    nats: &Nats,
    net: &str,
    tune: impl Fn(&mut Config),
) -> (TestServer, TestServer, TestClient, TestClient) {
    let config = |node: &str| {
        let mut config = node_config(nats, net, node);
        tune(&mut config);
        config
    };
    let a = TestServer::start_with(config("a")).await;
    let b = TestServer::start_with(config("b")).await;
    let mut ana = a.client("ana").await;
    let bea = b.client("bea").await;
    until_known(&mut ana, "bea").await;
    (a, b, ana, bea)
}
