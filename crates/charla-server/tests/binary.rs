//! The `charla-server` binary: `--help`, `hash-password`, and a real run with a config file that
//! ends gracefully on SIGTERM (clients get `ERROR :Server shutting down`, exit code 0).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use charla_proto::numeric::RPL_WELCOME;
use common::TestClient;

const BIN: &str = env!("CARGO_BIN_EXE_charla-server");

#[test]
fn help_lists_the_config_option() {
    let out = Command::new(BIN).arg("--help").output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--config"), "{text}");
    assert!(text.contains("hash-password"), "{text}");
}

#[test]
fn hash_password_prints_a_verifiable_phc_string() {
    let mut child = Command::new(BIN)
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"contrase\xc3\xb1a\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).expect("utf8");
    let hash = hash.trim();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(charla_server::command::oper::verify_password(
        hash,
        "contraseña"
    ));
    assert!(!charla_server::command::oper::verify_password(hash, "otra"));
}

#[test]
fn bad_config_fails_with_a_message() {
    let dir = std::env::temp_dir().join(format!("charla-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[limits]\nmax_clients = \"many\"\n").expect("write");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid config"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_from_a_config_and_shuts_down_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("charla-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("charla.toml");
    std::fs::write(
        &path,
        "server_name = \"bin.test\"\nmotd = \"hola\"\n[[listeners]]\naddress = \"127.0.0.1:0\"\n",
    )
    .expect("write config");
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr: SocketAddr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("a 'listening' log line");
        if line.contains("charla-server listening")
            && let Some(rest) = line.split("addr=").nth(1)
        {
            let addr = rest.split_whitespace().next().expect("addr value");
            break addr.parse().expect("socket address");
        }
    };
    let mut c = TestClient::connect(addr).await;
    c.send("NICK bin").await;
    c.send("USER bin 0 * :Bin").await;
    c.expect_numeric(RPL_WELCOME).await;

    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(killed.success());
    let error = c.expect_command("ERROR").await;
    assert_eq!(error.param(0), Some("Server shutting down"));
    c.expect_closed().await;

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "server did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}
