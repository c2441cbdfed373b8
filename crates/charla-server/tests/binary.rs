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
    assert!(charla_server::account::password::verify_password(
        hash,
        "contraseña"
    ));
    assert!(!charla_server::account::password::verify_password(
        hash, "otra"
    ));
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

/// Starts the binary with the config file `path`, its log read on a thread of its own; returns
/// the process, the address of its first listener (from its "listening" line) and the thread,
/// which gives the whole log once the process has ended.
fn start_binary(
    path: &std::path::Path,
) -> (
    std::process::Child,
    SocketAddr,
    std::thread::JoinHandle<String>,
) {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(path)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
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
    (child, addr, reader)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_from_a_config_and_shuts_down_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("charla-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("charla.toml");
    std::fs::write(
        &path,
        format!(
            "server_name = \"bin.test\"\nmotd = \"hola\"\ndata_dir = {:?}\n[[listeners]]\naddress = \"127.0.0.1:0\"\n[http]\naddress = \"127.0.0.1:0\"\n",
            dir.join("data").display().to_string()
        ),
    )
    .expect("write config");
    let (mut child, addr, _log) = start_binary(&path);
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

/// Runs the binary with `config` (a listener on 127.0.0.1:0 is added), lets `talk` use it,
/// stops it with SIGTERM and returns everything it logged.
async fn logged_while<F, Fut>(config: &str, talk: F) -> String
where
    F: FnOnce(SocketAddr) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("charla.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &path,
        format!(
            "data_dir = {:?}\n{config}\n[[listeners]]\naddress = \"127.0.0.1:0\"\n[http]\naddress = \"127.0.0.1:0\"\n",
            data.display().to_string()
        ),
    )
    .expect("write config");
    let (mut child, addr, reader) = start_binary(&path);
    talk(addr).await;
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || {
        let _ = child.wait();
        reader.join().expect("reader")
    });
    tokio::time::timeout(Duration::from_secs(10), out)
        .await
        .expect("the server exits")
        .expect("joined")
}

/// Alice and Bob in `#c`: a channel message, a private one, both with a secret word and an
/// escape sequence; Bob leaves with an escape in his reason.
async fn secret_conversation(addr: SocketAddr) {
    let mut alice = TestClient::connect(addr).await;
    alice.register("alice").await;
    let mut bob = TestClient::connect(addr).await;
    bob.register("bob").await;
    for c in [&mut alice, &mut bob] {
        c.send("JOIN #c").await;
        c.expect_numeric(charla_proto::numeric::RPL_ENDOFNAMES)
            .await;
    }
    alice.send("PRIVMSG bob :secreto-privado \u{1b}[2J").await;
    bob.expect_command("PRIVMSG").await;
    alice
        .send("PRIVMSG #c :secreto-canal \u{202e}al revés")
        .await;
    bob.expect_command("PRIVMSG").await;
    bob.send("QUIT :adiós \u{1b}[31m\r\nforged").await;
    bob.expect_closed().await;
    alice.sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_log_holds_no_message_text_and_escapes_user_text() {
    let log = logged_while("", secret_conversation).await;
    assert!(log.contains("disconnected"), "{log}");
    assert!(!log.contains("secreto"), "message text in the log:\n{log}");
    assert!(!log.contains('\u{1b}'), "a raw ESC in the log:\n{log}");
    assert!(!log.contains('\u{202e}'), "a raw RLO in the log:\n{log}");
    // The quit reason is there, escaped.
    assert!(log.contains("adiós \\x1b[31m"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_text_is_logged_escaped_when_the_operator_asks() {
    let log = logged_while("[log]\nmessage_text = true\n", secret_conversation).await;
    assert!(log.contains("secreto-privado \\x1b[2J"), "{log}");
    assert!(log.contains("secreto-canal \\u{202e}al revés"), "{log}");
    assert!(
        !log.contains('\u{1b}') && !log.contains('\u{202e}'),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_copies_the_store_while_the_server_runs() {
    use charla_store::Store;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("charla.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = {:?}\n[[listeners]]\naddress = \"127.0.0.1:0\"\n[http]\naddress = \"127.0.0.1:0\"\n",
            dir.path().join("data").display().to_string()
        ),
    )
    .expect("write config");
    let (mut child, addr, _log) = start_binary(&path);
    let mut c = TestClient::connect(addr).await;
    c.register("respaldo").await;
    c.send("REGISTER * * :contraseña-segura").await;
    c.expect_numeric(charla_proto::numeric::RPL_LOGGEDIN).await;

    let dest = dir.path().join("copia.db");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .arg("backup")
        .arg(&dest)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copy = charla_store::SqliteStore::open(&dest).expect("the copy opens");
    let account = copy
        .account("respaldo")
        .expect("reads")
        .expect("the account");
    assert_eq!(account.name, "respaldo");
    // A second backup to the same file is refused: a backup never replaces a file.
    let again = Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .arg("backup")
        .arg(&dest)
        .output()
        .expect("runs");
    assert!(!again.status.success());
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}
