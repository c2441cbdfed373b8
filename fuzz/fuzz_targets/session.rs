//! Arbitrary bytes sent by one client to an in-process Charla server over a `tokio::io::duplex`
//! (`ServerHandle::connect_stream`), then end of stream. The session must end by itself within
//! a bounded time after the client's EOF, and nothing may panic: libFuzzer's panic hook aborts
//! the whole process on a panic in any server task, so a panic anywhere is a crash here.
//!
//! One server (listening on 127.0.0.1 port 0, flood control off so that no input waits on
//! fakelag) and one runtime serve every input; state left by one input (channels, WHOWAS) is
//! seen by the next, as on a real server.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use charla_server::{Config, ListenerConfig, Server, ServerHandle};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

/// How long a session may take to end after the client's EOF before it counts as a hang.
const SESSION_LIMIT: Duration = Duration::from_secs(10);

struct Fixture {
    rt: Runtime,
    server: ServerHandle,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let mut config = Config::default();
        config.server_name = "fuzz.charla.invalid".to_owned();
        config.listeners = vec![ListenerConfig::tcp(SocketAddr::from(([127, 0, 0, 1], 0)))];
        config.flood.enabled = false;
        config.store = charla_server::config::StoreConfig::memory();
        let server = rt
            .block_on(Server::start(config))
            .expect("server starts on 127.0.0.1:0");
        Fixture { rt, server }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    // Each input from its own loopback address: the brake on password guessing is per address
    // and deliberately makes a guesser wait (up to a minute), which one input's OPER or SASL
    // failures must not impose on the next input's session.
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let peer = SocketAddr::from(([127, 1 + (n >> 16) as u8, (n >> 8) as u8, n as u8], 40000));
    f.rt.block_on(async {
        let (client, server_side) = tokio::io::duplex(64 * 1024);
        if f.server.connect_stream(server_side, peer).is_err() {
            // Refused (full): not this input's fault.
            return;
        }
        let (mut rd, mut wr) = tokio::io::split(client);
        let write = async move {
            // The server may close first (ERROR, Excess Flood, ...): a write error is fine.
            let _ = wr.write_all(data).await;
            let _ = wr.shutdown().await;
        };
        let read = async move {
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n) = rd.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        };
        let both = async { tokio::join!(write, read) };
        if tokio::time::timeout(SESSION_LIMIT, both).await.is_err() {
            panic!("session still open {SESSION_LIMIT:?} after the client's EOF");
        }
    });
});
