//! What one history append costs the store writer, alone: the SQLite store committing batches
//! of channel messages the way the server's writer does under the `durable` load (many small
//! channels, a group commit every 10 ms), without the server, the network or the load
//! generator around it. For comparing schema and pragma choices; the end-to-end figure is
//! `charla-bench durable`.
//!
//! ```sh
//! cargo bench -p charla-store --bench append -- [--messages N] [--targets T] [--batch B] [--normal]
//! ```
//!
//! Reports, per message: the writer thread's CPU time, the wall time (CPU, syncs and page
//! faults), the messages per second one writer commits back to back; the time a commit takes
//! (p50, p99, max: the longest hold up the messages behind them), and the database's size per
//! million messages.

use std::path::Path;
use std::time::Instant;

use charla_store::{HistoryRecord, SqliteStore, Store, Synchronous, Write};

struct Options {
    messages: usize,
    targets: usize,
    batch: usize,
    synchronous: Synchronous,
}

fn options() -> Options {
    let mut options = Options {
        messages: 400_000,
        targets: 1_000,
        // 40,000 messages a second in 10 ms commits.
        batch: 400,
        synchronous: Synchronous::Full,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = || -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{arg} takes a number"))
        };
        match arg.as_str() {
            "--messages" => options.messages = number(),
            "--targets" => options.targets = number().max(1),
            "--batch" => options.batch = number().max(1),
            "--normal" => options.synchronous = Synchronous::Normal,
            // `cargo bench` passes `--bench`; other flags are not ours.
            _ => {}
        }
    }
    options
}

/// This thread's CPU time in nanoseconds (Linux: the first field of `schedstat`).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A time-ordered id of the server's form: 26 base-32 digits.
fn msgid(n: u64, time_ms: i64) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let value = ((time_ms as u128) << 80) | (u128::from(n) << 40) | 0x5eed;
    (0..26)
        .map(|i| char::from(ALPHABET[((value >> (5 * (25 - i))) & 31) as usize]))
        .collect()
}

fn message(n: u64, targets: usize, time_ms: i64) -> Write {
    let channel = format!("#bench-{}", n as usize % targets);
    let sender = n % 3000;
    Write::Append(HistoryRecord {
        seq: 0,
        target: channel.clone(),
        msgid: msgid(n, time_ms),
        time_ms,
        command: "PRIVMSG".to_owned(),
        source: format!("d{sender}!bench@127.0.1.{}", sender % 16 + 1),
        account: None,
        tags: String::new(),
        params: vec![
            channel,
            format!("{n:>12} {}", "lorem ipsum dolor sit amet ".repeat(4))[..100].to_owned(),
        ],
    })
}

fn size(path: &Path) -> u64 {
    let wal = path.with_extension("db-wal");
    [path, wal.as_path()]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

fn main() {
    let options = options();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("charla.db");
    let store = SqliteStore::open_with(&path, options.synchronous).expect("the store opens");
    let base_ms = 1_780_000_000_000;

    let mut sent = 0u64;
    let mut commits = Vec::new();
    let cpu = thread_cpu_ns();
    let wall = Instant::now();
    while (sent as usize) < options.messages {
        let batch: Vec<Write> = (0..options.batch.min(options.messages - sent as usize))
            .map(|i| {
                let n = sent + i as u64;
                // 40 messages a millisecond.
                message(n, options.targets, base_ms + (n / 40) as i64)
            })
            .collect();
        sent += batch.len() as u64;
        let started = Instant::now();
        let outcomes = store.apply(&batch).expect("the batch commits");
        commits.push(started.elapsed().as_secs_f64() * 1e3);
        assert!(outcomes.iter().all(Result::is_ok));
    }
    commits.sort_by(f64::total_cmp);
    let quantile = |q: f64| commits[((commits.len() - 1) as f64 * q) as usize];
    let wall = wall.elapsed().as_secs_f64();
    let cpu = (thread_cpu_ns() - cpu) as f64 / 1e9;
    let per = |total: f64| total / sent as f64 * 1e6;
    println!(
        "{} messages into {} targets, {} a commit, synchronous {:?}",
        sent, options.targets, options.batch, options.synchronous
    );
    println!("  writer CPU      {:>8.2} µs a message", per(cpu));
    println!("  wall            {:>8.2} µs a message", per(wall));
    println!("  back to back    {:>8.0} messages/s", sent as f64 / wall);
    println!(
        "  a commit        {:>8.2} ms p50, {:.2} ms p99, {:.2} ms max",
        quantile(0.5),
        quantile(0.99),
        quantile(1.0)
    );
    println!(
        "  database        {:>8.1} MiB per million messages",
        size(&path) as f64 / (1 << 20) as f64 / (sent as f64 / 1e6)
    );
}
