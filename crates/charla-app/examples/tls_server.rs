//! A Charla server behind TLS with a fresh self-signed certificate, for trying the app's
//! trust-on-first-use prompt by hand (until charla-server speaks TLS itself):
//!
//! ```text
//! cargo run -p charla-app --example tls_server -- 6697 120
//! charla ircs://127.0.0.1:6697/charla
//! ```
//!
//! Every run makes a new certificate, so a second run on the same port shows the app's
//! refusal of a changed certificate. It listens on 127.0.0.1 only and stops after the given
//! number of seconds (default 120).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, Result};
use charla_server::{Config, Server};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .as_deref()
        .unwrap_or("6697")
        .parse()
        .context("port")?;
    let secs: u64 = args
        .next()
        .as_deref()
        .unwrap_or("120")
        .parse()
        .context("seconds")?;

    let tls = charla_server::tls::Tls::self_signed(&["127.0.0.1", "localhost"])?;
    println!("certificate fingerprint: {}", tls.fingerprint());
    let acceptor = tls.acceptor().clone();

    let inner: SocketAddr = "127.0.0.1:0".parse()?;
    let server = Server::start(Config::with_listener(inner)).await?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {} (TLS) for {secs} s", listener.local_addr()?);
    let accept = async {
        while let Ok((tcp, peer)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let server = server.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        if let Err(e) = server.connect_stream(stream, peer) {
                            eprintln!("{peer}: refused: {e}");
                        }
                    }
                    Ok(Err(e)) => eprintln!("{peer}: TLS handshake failed: {e}"),
                    Err(_) => eprintln!("{peer}: TLS handshake timed out"),
                }
            });
        }
    };
    tokio::select! {
        () = accept => {}
        () = tokio::time::sleep(Duration::from_secs(secs)) => {}
    }
    server.shutdown().await;
    Ok(())
}
