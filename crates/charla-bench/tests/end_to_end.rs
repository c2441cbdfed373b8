//! The generator against a real charla server started in this test on 127.0.0.1:0: a tiny
//! run of each measuring scenario, with figures that must add up, and the refusal of a
//! non-loopback address before any connection is made.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use charla_server::{Config, Server, ServerHandle};
use serde_json::Value;
use tokio::process::Command;

async fn start_server() -> Result<(ServerHandle, SocketAddr)> {
    let mut config = Config {
        listeners: vec![charla_server::ListenerConfig::tcp("127.0.0.1:0".parse()?)],
        ..Config::default()
    };
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
    let verdict = report["verdict"].as_str().unwrap_or_default();
    assert!(
        verdict == "not supported" || metric(&report, "requests_ok")? > 0.0,
        "{report}"
    );

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
