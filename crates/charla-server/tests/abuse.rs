//! Abuse and faults at small sizes (issues 2 and 4): clients that never read, floods, bad
//! bytes, a megabyte of noise, connection storms, clients that never finish registration or
//! hang up halfway, and idle clients. Each one gets its numeric, its `ERROR` or a clean
//! disconnect, and the point of every test is the same: the other clients carry on.
//!
//! `errors.rs` checks each reply on its own; these tests put the abuse next to a conversation.
//! Every wait is bounded ([`support::WAIT`], [`TEST_LIMIT`]). The tests live in `abuse/`:
//! `readers` (SendQ), `flood`, `bytes` (limits, UTF-8, NUL, CR, tags, noise), `connections`
//! (per-IP, throttle, TLS port, IPv6), `registration` (timeouts, hang-ups, ping timeout) and
//! `relay` (what the others see), `replies` (big replies, paced). This file holds their shared helpers.

mod common;
mod support;

use std::time::Duration;

use charla_server::{Config, ServerEvent};
use common::TestServer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::{Raw, Read};
use tokio::net::TcpSocket;
use tokio::time::Instant;

/// Upper bound for a whole test.
const TEST_LIMIT: Duration = Duration::from_secs(60);

/// Runs `body` within [`TEST_LIMIT`].
async fn bounded(body: impl Future<Output = ()>) {
    tokio::time::timeout(TEST_LIMIT, body)
        .await
        .expect("test timed out");
}

/// Registers `nick` and joins `channel` (waits for the end of NAMES).
async fn member(server: &TestServer, nick: &str, channel: &str) -> Raw {
    let mut c = Raw::registered(server.addr, nick, "").await;
    c.send(&format!("JOIN {channel}")).await;
    c.expect_numeric("366").await;
    c
}

/// Registers two members of `channel`, `a` first; `a` has read `b`'s JOIN.
async fn pair(server: &TestServer, a: &str, b: &str, channel: &str) -> (Raw, Raw) {
    let mut first = member(server, a, channel).await;
    let second = member(server, b, channel).await;
    first
        .expect(&format!("{b}'s JOIN"), |m| {
            m.command == "JOIN" && m.source_nick() == Some(b)
        })
        .await;
    (first, second)
}

/// `from` says `text` in `channel` and `to` hears it, within the normal wait.
async fn still_chatting(from: &mut Raw, to: &mut Raw, channel: &str, text: &str) {
    from.send(&format!("PRIVMSG {channel} :{text}")).await;
    let m = to
        .expect(&format!("{text:?} from {}", from.name), |m| {
            m.command == "PRIVMSG" && m.param(1) == Some(text)
        })
        .await;
    assert_eq!(m.source_nick(), Some(from.name.as_str()));
}

/// Waits until `nick` is no longer among the server's users.
async fn gone(server: &TestServer, nick: &str) {
    let deadline = Instant::now() + support::WAIT;
    while server.handle.users().iter().any(|u| u.nick == nick) {
        assert!(Instant::now() < deadline, "{nick} still connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The test config with flood control off (for tests about something else).
fn no_flood_config() -> Config {
    let mut config = TestServer::test_config();
    config.flood.enabled = false;
    config
}

/// One mebibyte of seeded random bytes.
fn noise(seed: u64, newlines: bool) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut bytes = vec![0u8; 1 << 20];
    rng.fill(&mut bytes[..]);
    if !newlines {
        for b in &mut bytes {
            if *b == b'\n' {
                *b = b'x';
            }
        }
    }
    bytes
}

#[path = "abuse/bytes.rs"]
mod bytes;
#[path = "abuse/connections.rs"]
mod connections;
#[path = "abuse/flood.rs"]
mod flood;
#[path = "abuse/readers.rs"]
mod readers;
#[path = "abuse/registration.rs"]
mod registration;
#[path = "abuse/relay.rs"]
mod relay;
#[path = "abuse/replies.rs"]
mod replies;
