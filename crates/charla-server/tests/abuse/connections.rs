//! Connections: the per-IP limit and the connect throttle (TCP, in-process, TLS), loopback
//! exemption for IPv4, IPv6 and v4-mapped peers, IPv6 hosts in replies, and a server full of
//! silent connections.

use super::*;

#[tokio::test]
async fn too_many_connections_from_one_ip_are_refused_and_slots_come_back() {
    bounded(async {
        let mut config = no_flood_config();
        config.limits.exempt_loopback = false;
        config.limits.max_clients_per_ip = 3;
        config.limits.connects_per_window = 1000;
        let server = TestServer::start_with(config).await;
        let mut a = Raw::registered(server.addr, "a", "").await;
        let mut b = Raw::registered(server.addr, "b", "").await;
        let c = Raw::connect(server.addr).await; // never registers: it still counts
        for _ in 0..5 {
            let mut extra = Raw::connect(server.addr).await;
            let error = extra.expect_closed_within(support::WAIT).await;
            assert_eq!(error.as_deref(), Some("Too many connections from your IP"));
        }
        // Those already in are not affected by the refusals.
        still_chatting(&mut a, &mut b, "b", "¿entraste?").await;
        // A slot freed by any connection (here the unregistered one) is usable again.
        drop(c);
        let deadline = Instant::now() + support::WAIT;
        let mut d = loop {
            let mut d = Raw::connect(server.addr).await;
            d.send("PING admitted").await;
            match d.read_until(Instant::now() + Duration::from_secs(1)).await {
                Read::Line(m) if m.command == "PONG" => break d,
                _ => assert!(Instant::now() < deadline, "slot never came back"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        d.register("d", "").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_storm_from_one_ip_is_throttled_with_an_error() {
    const STORM: usize = 40;
    const ALLOWED: u32 = 5;
    bounded(async {
        let mut config = no_flood_config();
        config.limits.exempt_loopback = false;
        config.limits.connects_per_window = ALLOWED;
        config.limits.max_clients_per_ip = 1000;
        let server = TestServer::start_with(config).await;
        let mut set = tokio::task::JoinSet::new();
        for i in 0..STORM {
            let addr = server.addr;
            set.spawn(async move {
                let mut c = Raw::connect(addr).await;
                c.send(&format!("NICK storm{i}\r\nUSER s 0 * :s")).await;
                // Admitted: the welcome. Refused: an ERROR and the end.
                loop {
                    match c.read_until(Instant::now() + support::WAIT).await {
                        Read::Line(m) if m.command == "001" => return Ok(c),
                        Read::Line(m) if m.command == "ERROR" => {
                            return Err(m.param(0).unwrap_or("").to_owned());
                        }
                        Read::Line(_) => {}
                        other => panic!("storm{i}: neither welcome nor ERROR: {other:?}"),
                    }
                }
            });
        }
        let mut admitted = Vec::new();
        let mut refused = 0;
        while let Some(done) = set.join_next().await {
            match done.expect("storm task") {
                Ok(c) => admitted.push(c),
                Err(text) => {
                    assert_eq!(text, "Too many connections from your IP (throttled)");
                    refused += 1;
                }
            }
        }
        assert_eq!(admitted.len(), ALLOWED as usize);
        assert_eq!(refused, STORM - ALLOWED as usize);
        // The admitted ones talk normally.
        let mut second = admitted.pop().expect("admitted");
        let mut first = admitted.pop().expect("admitted");
        first.send("JOIN #tormenta").await;
        first.expect_numeric("366").await;
        second.send("JOIN #tormenta").await;
        second.expect_numeric("366").await;
        first.send("PRIVMSG #tormenta :hola").await;
        let m = second.expect_command("PRIVMSG").await;
        assert_eq!(m.param(1), Some("hola"));
    })
    .await;
}

#[tokio::test]
async fn per_ip_limits_apply_to_in_process_sessions_from_other_addresses() {
    // `connect_stream` with a routable peer address: the loopback exemption does not apply, so
    // the default per-IP limit is checked (and released) exactly as for TCP.
    bounded(async {
        let mut config = no_flood_config();
        config.limits.max_clients_per_ip = 2;
        let server = TestServer::start_with(config).await;
        let peer = std::net::SocketAddr::from(([198, 51, 100, 7], 40000));
        let other = std::net::SocketAddr::from(([198, 51, 100, 8], 40000));
        let (a, a_server) = tokio::io::duplex(4096);
        let (_b, b_server) = tokio::io::duplex(4096);
        server.handle.connect_stream(a_server, peer).expect("first");
        server
            .handle
            .connect_stream(b_server, peer)
            .expect("second");
        let (_c, c_server) = tokio::io::duplex(4096);
        let refused = server.handle.connect_stream(c_server, peer);
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("Too many connections")),
            "{refused:?}"
        );
        // Another address is not affected.
        let (_d, d_server) = tokio::io::duplex(4096);
        server
            .handle
            .connect_stream(d_server, other)
            .expect("other address");
        // Closing one session gives its slot back.
        drop(a);
        let deadline = Instant::now() + support::WAIT;
        loop {
            let (e, e_server) = tokio::io::duplex(4096);
            if server.handle.connect_stream(e_server, peer).is_ok() {
                drop(e);
                break;
            }
            assert!(Instant::now() < deadline, "slot never given back");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // TCP clients on loopback were never counted against anyone.
        let mut x = Raw::registered(server.addr, "x", "").await;
        assert!(x.sync("ok").await.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_port_refuses_and_survives_noise_without_plaintext() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    bounded(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = no_flood_config();
        config.listeners.push(charla_server::ListenerConfig::tls(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        ));
        config.data_dir = dir.path().to_owned();
        config.limits.exempt_loopback = false;
        config.limits.max_clients_per_ip = 2;
        config.limits.connects_per_window = 100;
        config.tls.handshake_timeout_secs = 2;
        let server = TestServer::start_with(config).await;
        let tls = server
            .handle
            .listeners()
            .iter()
            .find(|(_, is_tls)| *is_tls)
            .expect("a TLS listener")
            .0;
        let mut alice = Raw::registered(server.addr, "alice", "").await;

        // 1 MiB of noise instead of a ClientHello: closed, at most a TLS alert, never IRC.
        let mut noisy = tokio::net::TcpStream::connect(tls).await.expect("connect");
        let bytes = noise(11, true);
        let writer = async {
            for chunk in bytes.chunks(64 * 1024) {
                if noisy.write_all(chunk).await.is_err() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(support::WAIT, writer).await;
        let mut got = Vec::new();
        let read = tokio::time::timeout(support::WAIT, noisy.read_to_end(&mut got)).await;
        assert!(read.is_ok(), "noise connection not closed");
        assert!(
            got.is_empty() || got[0] == 21,
            "answer to noise: {:?}",
            &got[..got.len().min(64)]
        );

        // Over the per-IP limit on the TLS port: closed without a plaintext ERROR (a TLS
        // client could not read one).
        let _held = tokio::net::TcpStream::connect(tls).await.expect("connect");
        let deadline = Instant::now() + support::WAIT;
        let mut refused = loop {
            let mut c = tokio::net::TcpStream::connect(tls).await.expect("connect");
            let mut first = [0u8; 1];
            match tokio::time::timeout(Duration::from_millis(500), c.read(&mut first)).await {
                // Closed at once: the refusal (the noisy socket may still be counted a moment).
                Ok(Ok(0)) | Ok(Err(_)) => break c,
                Ok(Ok(_)) => panic!("the refused TLS connection got bytes: {first:?}"),
                // Still open and waiting for a ClientHello: admitted; try again.
                Err(_) => assert!(Instant::now() < deadline, "never refused"),
            }
        };
        let mut rest = Vec::new();
        let _ = refused.read_to_end(&mut rest).await;
        assert!(rest.is_empty(), "{rest:?}");

        // Plain clients never noticed.
        assert!(alice.sync("tranquila").await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn ipv6_loopback_is_exempt_like_ipv4() {
    bounded(async {
        let mut config = no_flood_config();
        config.listeners = vec![charla_server::ListenerConfig::tcp(
            std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0)),
        )];
        config.limits.max_clients_per_ip = 1;
        config.limits.connects_per_window = 1;
        let Ok(handle) = charla_server::Server::start(config).await else {
            // No IPv6 on this machine: nothing to check.
            return;
        };
        let addr = handle.local_addrs()[0];
        let mut a = Raw::registered(addr, "a6", "").await;
        let mut b = Raw::registered(addr, "b6", "").await;
        let _c = Raw::registered(addr, "c6", "").await;
        still_chatting(&mut a, &mut b, "b6", "por IPv6").await;
        handle.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn v4_mapped_loopback_is_exempt_too() {
    // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d: still loopback.
    bounded(async {
        let mut config = no_flood_config();
        let Ok(mapped) = "::ffff:127.0.0.1".parse::<std::net::Ipv6Addr>() else {
            return;
        };
        config.listeners = vec![charla_server::ListenerConfig::tcp(
            std::net::SocketAddr::from((mapped, 0)),
        )];
        config.limits.max_clients_per_ip = 1;
        config.limits.connects_per_window = 1;
        let Ok(handle) = charla_server::Server::start(config).await else {
            return; // no dual stack here
        };
        let port = handle.local_addrs()[0].port();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut a = Raw::registered(addr, "a", "").await;
        let mut b = Raw::registered(addr, "b", "").await;
        let _c = Raw::registered(addr, "c", "").await;
        still_chatting(&mut a, &mut b, "b", "doble pila").await;
        for u in handle.users() {
            assert!(!u.host.starts_with(':'), "{}", u.host);
        }
        handle.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn ipv6_hosts_never_start_a_parameter_with_a_colon() {
    // "::1" as a middle parameter would read as the trailing one: servers write "0::1".
    bounded(async {
        let mut config = no_flood_config();
        config.listeners = vec![charla_server::ListenerConfig::tcp(
            std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0)),
        )];
        let Ok(handle) = charla_server::Server::start(config).await else {
            return; // no IPv6 here
        };
        let addr = handle.local_addrs()[0];
        let mut a = Raw::registered(addr, "a", "").await;
        let mut b = Raw::registered(addr, "b", "").await;
        a.send("JOIN #v6").await;
        a.expect_numeric("366").await;
        b.send("JOIN #v6").await;
        b.expect_numeric("366").await;
        b.send("WHOIS a").await;
        let user = b.expect_numeric("311").await;
        assert_eq!(user.param(3), Some("0::1"), "{user}");
        assert_eq!(user.param(5), Some("a"), "{user}");
        b.send("WHO #v6").await;
        let who = b.expect_numeric("352").await;
        assert_eq!(who.param(3), Some("0::1"), "{who}");
        b.send("USERHOST a").await;
        let uh = b.expect_numeric("302").await;
        assert_eq!(uh.param(1), Some("a=+~a@0::1"), "{uh}");
        handle.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_says_so_and_silent_connections_free_it_soon() {
    // Every slot taken by connections that send nothing: a newcomer is told at once that the
    // server is full (it does not wait in the kernel's backlog), the silent ones are closed by
    // the short silent timeout, not the registration one, and then a real client gets in.
    bounded(async {
        let mut config = no_flood_config();
        config.limits.max_clients = 3;
        config.limits.silent_timeout_secs = 1;
        config.limits.registration_timeout_secs = 30;
        let server = TestServer::start_with(config).await;
        let mut silent = Vec::new();
        for _ in 0..3 {
            silent.push(Raw::connect(server.addr).await);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut turned_away = Raw::connect(server.addr).await;
        let error = turned_away
            .expect_closed_within(Duration::from_millis(500))
            .await;
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("Server is full")),
            "{error:?}"
        );
        let started = Instant::now();
        for mut s in silent {
            let error = s.expect_closed_within(support::WAIT).await;
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains("Registration timed out")),
                "{error:?}"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the silent ones waited for the registration timeout: {:?}",
            started.elapsed()
        );
        let mut real = Raw::connect(server.addr).await;
        real.register("paciente", "").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_speaks_gets_the_whole_registration_timeout() {
    bounded(async {
        let mut config = no_flood_config();
        config.limits.silent_timeout_secs = 1;
        config.limits.registration_timeout_secs = 30;
        let server = TestServer::start_with(config).await;
        let mut slow = Raw::connect(server.addr).await;
        slow.send("NICK despacio").await;
        // Past the silent deadline, still there: it said something.
        assert!(slow.try_recv(Duration::from_millis(1500)).await.is_none());
        slow.send("USER d 0 * :Despacio").await;
        slow.expect_numeric("001").await;
    })
    .await;
}
