//! What rustls's buffered server connection keeps on the heap, stage by stage (issue 16: at
//! most 4 KiB per idle TLS client). Takes `CONNECTIONS` connections of the server's own
//! configuration (client certificates asked for) through a whole
//! handshake with an in-memory client, one IRC line each way, drops the clients and counts
//! what the server sides still hold, in jemalloc's size classes.
//!
//! This is what the server held per TLS client with tokio-rustls; its own stream
//! (`charla_server::tls::TlsStream`) drives rustls's unbuffered connection through the
//! handshake without the 4 KiB read buffer and the send queue's capacity, and after a TLS 1.3
//! handshake keeps none of this but the secrets (`tls/records.rs`). `charla-bench connect
//! --tls` measures the whole server.
//!
//! Run: `cargo bench -p charla-server --bench tls_memory`.

use std::io::{Read, Write};
use std::sync::Arc;

use charla_server::tls::Tls;
use rustls::pki_types::ServerName;
use tikv_jemalloc_ctl::{epoch, stats};

const CONNECTIONS: usize = 2_000;

// The server binary's allocator, so that sizes are rounded to its size classes.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Bytes the program has allocated and not freed, as jemalloc counts them.
fn allocated() -> usize {
    epoch::advance().expect("jemalloc's epoch");
    stats::allocated::read().expect("jemalloc's stats")
}

/// How far each server connection goes before it is counted.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stage {
    /// Created, nothing received.
    Created,
    /// Handshake done, no application data.
    Handshaken,
    /// A line from the client read, one to it written: an idle registered client.
    Idle,
}

struct Setup {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

/// One server connection taken to `stage` by an in-memory client, which is then dropped.
fn connection(setup: &Setup, stage: Stage) -> rustls::ServerConnection {
    let mut server = rustls::ServerConnection::new(setup.server.clone()).expect("a server");
    if stage == Stage::Created {
        return server;
    }
    let mut client =
        rustls::ClientConnection::new(setup.client.clone(), setup.name.clone()).expect("a client");
    if stage == Stage::Idle {
        client
            .writer()
            .write_all(b"NICK prueba\r\n")
            .expect("client plaintext");
    }
    let mut got = Vec::new();
    let mut wire = Vec::new();
    for _ in 0..20 {
        wire.clear();
        while client.wants_write() {
            client.write_tls(&mut wire).expect("client write");
        }
        let to_server = !wire.is_empty();
        server.read_tls(&mut &wire[..]).expect("server read");
        server.process_new_packets().expect("server handshake");
        let _ = server.reader().read_to_end(&mut got);
        wire.clear();
        while server.wants_write() {
            server.write_tls(&mut wire).expect("server write");
        }
        let to_client = !wire.is_empty();
        client.read_tls(&mut &wire[..]).expect("client read");
        client.process_new_packets().expect("client handshake");
        if !to_server && !to_client {
            break;
        }
    }
    assert!(!server.is_handshaking(), "the handshake ended");
    if stage == Stage::Idle {
        assert_eq!(got, b"NICK prueba\r\n", "the line crossed");
        server
            .writer()
            .write_all(b":charla 001 prueba :Bienvenido\r\n")
            .expect("server plaintext");
        wire.clear();
        while server.wants_write() {
            server.write_tls(&mut wire).expect("server write");
        }
    }
    server
}

fn main() {
    let tls = Tls::self_signed(&["localhost"]).expect("the server's TLS set-up");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(tls.certificate().clone()).expect("a root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let setup = Setup {
        server: tls.server_config(),
        client: Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        ),
        name: ServerName::try_from("localhost").expect("a name"),
    };

    println!(
        "rustls::ServerConnection: {} B inline (in the connection's task)",
        std::mem::size_of::<rustls::ServerConnection>()
    );
    println!("heap a server connection holds, over {CONNECTIONS} (jemalloc's size classes):");
    for stage in [Stage::Created, Stage::Handshaken, Stage::Idle] {
        let mut servers = Vec::with_capacity(CONNECTIONS);
        let before = allocated();
        for _ in 0..CONNECTIONS {
            servers.push(connection(&setup, stage));
        }
        let per = (allocated() - before) / CONNECTIONS;
        println!("  {stage:?}: {per} B");
        drop(servers);
    }
}
