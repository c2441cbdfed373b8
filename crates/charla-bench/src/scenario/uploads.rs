//! `uploads`: many large uploads to the server's file host (the `soju.im/FILEHOST` HTTP
//! endpoint) while a channel chats. The server must stream uploads to disk — its memory may
//! grow by buffers, not by the files — and the chat's latency must not suffer.
//!
//! One account is made with `REGISTER` (its nick names it); the upload URL comes from the
//! ISUPPORT token. The chat runs twice for `--duration` seconds, alone and then with every
//! upload started at once, so its latency can be compared within the run. Uploads are plain
//! HTTP/1.1 POSTs with Basic authentication, as a FILEHOST client sends them, their bodies
//! written in 64 KiB pieces from a pattern (never held whole), distinct per upload so that no
//! two are the same file. Only `http://` on a loopback address is supported (the file host
//! accepts passwords over plain HTTP from loopback only).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Ctx;
use crate::conn::{self, Client};
use crate::load::{self, LoadSession, LoadSpec, SenderSpec};
use crate::procfs;
use crate::report::{Report, Verdict};

/// The sizes of a run.
#[derive(Debug, Clone, Copy)]
pub struct Uploads {
    /// Uploads at once.
    pub uploads: usize,
    /// Bytes per upload, in MiB.
    pub size_mib: u64,
    /// Channel members (one of them sends).
    pub members: usize,
    /// Chat messages per second.
    pub rate: u64,
    /// Seconds of chat per phase.
    pub duration: u64,
}

/// One piece of an upload's body.
const PIECE: usize = 64 * 1024;

/// How long setup (registering, the account) may take.
const SETUP: Duration = Duration::from_secs(20);

/// Runs the scenario.
pub async fn uploads(ctx: &Ctx, sizes: Uploads) -> Report {
    let mut r = ctx.report("uploads");
    let run = load::run_id();
    let account = load::nick('u', &run, 0);
    let password = format!("bench-{run}-contraseña");
    let (url, _owner) = match make_account(ctx, &account, &password).await {
        Ok(found) => found,
        Err(e) => {
            r.check(false, e);
            return r;
        }
    };
    let Some(url) = url else {
        r.verdict = Verdict::Unsupported;
        r.note("the server advertises no soju.im/FILEHOST: no file host, nothing measured");
        return r;
    };
    let Some((port, path)) = parse_http_url(&url) else {
        r.verdict = Verdict::Unsupported;
        r.note(format!(
            "the upload URL {url} is not plain http: run the server with [http] tls = false on \
             loopback"
        ));
        return r;
    };
    let http = SocketAddr::new(ctx.addr.ip(), port);

    // The chat: members in one channel, one of them sending.
    let channel = format!("#cu{run}");
    let reg = load::register_many(&ctx.connector, 'c', &run, sizes.members, ctx.concurrency).await;
    let (joined, _) = load::join_many(reg.clients, &channel, ctx.concurrency).await;
    if joined.len() < 2 {
        r.check(false, "fewer than 2 members could join; nothing measured");
        return r;
    }
    let receivers = (joined.len() - 1) as u64;
    let spec = LoadSpec {
        senders: vec![SenderSpec {
            client: 0,
            target: channel.clone(),
            rate: sizes.rate as f64,
            offset: 0.0,
        }],
        receivers_per_message: receivers,
        duration: Duration::from_secs(sizes.duration),
        size: 100,
        pid: ctx.pid,
        also_pids: ctx.also_pids.clone(),
    };
    let mut session = LoadSession::start(joined, 1).await;
    let alone = session.phase(&spec, Duration::from_secs(5)).await;

    // The same chat with every upload at once, the server's memory sampled meanwhile.
    let rss_before = ctx.server_sample().map(|s| s.rss_kib);
    let peak = Arc::new(AtomicU64::new(rss_before.unwrap_or(0)));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = ctx.pid.map(|pid| {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Ok(s) = procfs::sample(Some(pid)) {
                    peak.fetch_max(s.rss_kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    });
    let started = Instant::now();
    let bytes = sizes.size_mib * 1024 * 1024;
    // The uploads run on a thread and runtime of their own: sharing the chat's workers, their
    // hundred writers delayed the chat's own readers and senders in this process (p50 16 ms
    // where a second process measuring the same chat saw 0.15 ms).
    let auth = basic(&account, &password);
    let count = sizes.uploads;
    let uploading = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(runtime.block_on(upload_all(http, path, auth, count, bytes)))
    });
    let during = session.phase(&spec, Duration::from_secs(5)).await;
    let (ok, mut failures, slowest) =
        match tokio::task::spawn_blocking(move || uploading.join()).await {
            Ok(Ok(Ok(done))) => done,
            Ok(Ok(Err(e))) => (0, vec![e], Duration::ZERO),
            _ => (
                0,
                vec!["the upload thread failed".to_owned()],
                Duration::ZERO,
            ),
        };
    let all_done = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    if let Some(sampler) = sampler {
        let _ = sampler.await;
    }
    session.stop().await;

    r.metric("uploads", sizes.uploads as f64, "uploads");
    r.metric("upload_size_mib", sizes.size_mib as f64, "MiB");
    r.metric("uploads_ok", ok as f64, "uploads");
    r.metric(
        "upload_mib_per_s",
        (ok * sizes.size_mib) as f64 / all_done.as_secs_f64(),
        "MiB/s",
    );
    r.metric("upload_slowest_s", slowest.as_secs_f64(), "s");
    if let Some(before) = rss_before {
        let peak = peak.load(Ordering::Relaxed);
        r.metric("server_rss_before_mib", before as f64 / 1024.0, "MiB");
        r.metric("server_rss_peak_mib", peak as f64 / 1024.0, "MiB");
        let growth = peak.saturating_sub(before) as f64 / 1024.0;
        r.metric("server_rss_growth_mib", growth, "MiB");
        let all = (sizes.uploads as u64 * sizes.size_mib) as f64;
        r.check(
            growth < all / 10.0,
            format!(
                "server memory grew by {growth:.1} MiB for {all:.0} MiB uploaded at once: streamed"
            ),
        );
    }
    for (name, phase) in [("alone", &alone), ("during", &during)] {
        r.metric(
            format!("chat_{name}_p50_ms"),
            phase.latency.quantile_ms(0.50),
            "ms",
        );
        r.metric(
            format!("chat_{name}_p99_ms"),
            phase.latency.quantile_ms(0.99),
            "ms",
        );
        r.metric(
            format!("chat_{name}_delivered"),
            phase.received as f64,
            "lines",
        );
    }
    r.check(
        ok == sizes.uploads as u64,
        format!("{ok} of {} uploads answered 201 Created", sizes.uploads),
    );
    if !failures.is_empty() {
        failures.sort();
        failures.dedup();
        r.note(format!("upload failures: {}", failures.join("; ")));
    }
    r.check(
        during.received >= during.expected,
        format!(
            "every chat line arrived during the uploads ({} of {})",
            during.received, during.expected
        ),
    );
    r
}

/// Registers `account`'s nick and creates the account with `REGISTER`; returns the upload URL
/// from ISUPPORT (`soju.im/FILEHOST`), if the server has one, and the client.
async fn make_account(
    ctx: &Ctx,
    account: &str,
    password: &str,
) -> Result<(Option<String>, Client), String> {
    let mut client = conn::register(&ctx.connector, account, SETUP)
        .await
        .map_err(|e| format!("could not register: {e}"))?;
    client
        .writer
        .write_all(format!("REGISTER {account} * {password}\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut url = None;
    let deadline = Instant::now() + SETUP;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match tokio::time::timeout(left, client.reader.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => return Err("the server closed the connection".to_owned()),
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("no answer to REGISTER".to_owned()),
        };
        if let Some(found) = line
            .split(' ')
            .find_map(|t| t.strip_prefix("soju.im/FILEHOST="))
        {
            url = Some(found.to_owned());
        }
        let words: Vec<&str> = line.split(' ').collect();
        match words.get(1..3) {
            Some(["REGISTER", "SUCCESS"]) => return Ok((url, client)),
            Some(["FAIL", "REGISTER"]) => return Err(format!("REGISTER refused: {line}")),
            _ => {}
        }
        if line.starts_with("PING ") {
            let pong = line.replacen("PING", "PONG", 1);
            let _ = client
                .writer
                .write_all(format!("{pong}\r\n").as_bytes())
                .await;
        }
    }
}

/// The port and path of `http://host:port/path`; `None` for anything else.
/// Runs `count` uploads of `bytes` at once: how many were answered `201 Created`, the
/// failures, and the slowest success.
async fn upload_all(
    http: SocketAddr,
    path: String,
    auth: String,
    count: usize,
    bytes: u64,
) -> (u64, Vec<String>, Duration) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let (auth, path) = (auth.clone(), path.clone());
        tasks.spawn(async move {
            let began = Instant::now();
            let outcome = upload(http, &path, &auth, i, bytes).await;
            (outcome, began.elapsed())
        });
    }
    let mut ok = 0_u64;
    let mut failures: Vec<String> = Vec::new();
    let mut slowest = Duration::ZERO;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((Ok(201), took)) => {
                ok += 1;
                slowest = slowest.max(took);
            }
            Ok((Ok(status), _)) => failures.push(format!("HTTP {status}")),
            Ok((Err(e), _)) => failures.push(e),
            Err(e) => failures.push(e.to_string()),
        }
    }
    (ok, failures, slowest)
}

fn parse_http_url(url: &str) -> Option<(u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let port = match authority.rsplit_once(':') {
        Some((_, port)) => port.parse().ok()?,
        None => 80,
    };
    Some((port, path.to_owned()))
}

/// `Basic <base64(account:password)>`.
fn basic(account: &str, password: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{account}:{password}"));
    format!("Basic {token}")
}

/// POSTs `bytes` bytes (upload number `index`'s pattern) to `path` on `addr`; returns the HTTP
/// status of the answer.
async fn upload(
    addr: SocketAddr,
    path: &str,
    auth: &str,
    index: usize,
    bytes: u64,
) -> Result<u16, String> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\n\
         Content-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"bench-{index}.bin\"\r\n\
         Content-Length: {bytes}\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut piece = vec![0_u8; PIECE];
    let mut sent = 0_u64;
    let mut n = 0_u64;
    while sent < bytes {
        // Distinct bytes per upload and per piece, so that nothing is deduplicated.
        piece[..8].copy_from_slice(&(index as u64).to_le_bytes());
        piece[8..16].copy_from_slice(&n.to_le_bytes());
        let len = usize::try_from((bytes - sent).min(PIECE as u64)).unwrap_or(PIECE);
        if let Err(e) = stream.write_all(&piece[..len]).await {
            // The server may answer early (413) and close: read what it said.
            return read_status(&mut stream)
                .await
                .map_err(|_| format!("send: {e}"));
        }
        sent += len as u64;
        n += 1;
    }
    read_status(&mut stream).await
}

/// The status code of an HTTP answer.
async fn read_status(stream: &mut TcpStream) -> Result<u16, String> {
    let mut answer = Vec::with_capacity(512);
    let mut buf = [0_u8; 512];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        let read = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf))
            .await
            .map_err(|_| "no answer".to_owned())?
            .map_err(|e| format!("read: {e}"))?;
        if read == 0 {
            return Err("closed without an answer".to_owned());
        }
        answer.extend_from_slice(&buf[..read]);
        if answer.len() > 4096 {
            return Err("an over-long status line".to_owned());
        }
    }
    let line = String::from_utf8_lossy(&answer);
    line.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {}", line.lines().next().unwrap_or("")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_credentials() {
        assert_eq!(
            parse_http_url("http://irc.test:8080/upload"),
            Some((8080, "/upload".to_owned()))
        );
        assert_eq!(parse_http_url("https://irc.test/upload"), None);
        assert_eq!(basic("ana", "pw"), "Basic YW5hOnB3");
        assert_eq!(basic("a", "b"), "Basic YTpi");
        assert_eq!(basic("ab", "cd"), "Basic YWI6Y2Q=");
    }
}
