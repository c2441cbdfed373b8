//! Arbitrary bytes through the server's TLS stream (`charla_server::tls::TlsStream`, rustls's
//! unbuffered connection with the buffers the server owns). The first byte says where they
//! go: even, instead of a handshake; odd, after a real handshake with a rustls client (TLS 1.2
//! when its second bit is set, else 1.3). The rest is sent in pieces of the sizes the next
//! byte gives, then end of stream. The server's side must end (an error or the end of the
//! stream) within 10 s of the input's end, try to say goodbye, and never panic.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use charla_server::tls::{Tls, TlsStream};
use libfuzzer_sys::fuzz_target;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::runtime::Runtime;
use tokio_rustls::TlsConnector;

const LIMIT: Duration = Duration::from_secs(10);

struct Fixture {
    rt: Runtime,
    server: Arc<rustls::ServerConfig>,
    /// Clients of TLS 1.3 and of TLS 1.2.
    clients: [TlsConnector; 2],
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tls = Tls::self_signed(&["localhost"]).expect("the server's TLS set-up");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(tls.certificate().clone()).expect("a root");
        let client = |version: &'static rustls::SupportedProtocolVersion| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(&[version])
                .expect("TLS versions")
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            TlsConnector::from(Arc::new(config))
        };
        let clients = [
            client(&rustls::version::TLS13),
            client(&rustls::version::TLS12),
        ];
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        Fixture {
            rt,
            server: tls.server_config(),
            clients,
        }
    })
}

/// Sends `bytes` in pieces of 1 to 256 bytes (cycling through `sizes`), then EOF.
async fn send(io: &mut DuplexStream, bytes: &[u8], sizes: u8) {
    let mut rest = bytes;
    let mut size = usize::from(sizes) + 1;
    while !rest.is_empty() {
        let (piece, after) = rest.split_at(size.min(rest.len()));
        if io.write_all(piece).await.is_err() {
            return;
        }
        rest = after;
        size = size % 256 + 1;
    }
    let _ = io.shutdown().await;
}

/// Reads what the other side says until it closes.
async fn drain(io: &mut DuplexStream) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = io.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, sizes, rest @ ..] = data else {
        return;
    };
    let f = fixture();
    f.rt.block_on(async {
        let (mut client_io, server_io) = tokio::io::duplex(4096);
        let work = async {
            if mode % 2 == 0 {
                let accept = TlsStream::accept(f.server.clone(), server_io);
                let input = async {
                    send(&mut client_io, rest, *sizes).await;
                    drain(&mut client_io).await;
                };
                let (accepted, ()) = tokio::join!(accept, input);
                if let Ok(mut stream) = accepted {
                    let _ = stream.shutdown().await;
                }
                return;
            }
            let connector = &f.clients[usize::from(mode & 2 != 0)];
            let name = ServerName::try_from("localhost").expect("a name");
            let (client, server) = tokio::join!(
                connector.connect(name, client_io),
                TlsStream::accept(f.server.clone(), server_io)
            );
            let (Ok(client), Ok(mut server)) = (client, server) else {
                panic!("a real client's handshake failed");
            };
            let (mut io, _) = client.into_inner();
            let session = async move {
                let mut got = Vec::new();
                let _ = server.read_to_end(&mut got).await;
                let _ = server.write_all(b"ERROR :bye\r\n").await;
                let _ = server.shutdown().await;
            };
            let input = async {
                send(&mut io, rest, *sizes).await;
                drain(&mut io).await;
            };
            tokio::join!(session, input);
        };
        if tokio::time::timeout(LIMIT, work).await.is_err() {
            panic!("the TLS stream still open {LIMIT:?} after the input's end");
        }
    });
});
