//! WEBIRC (<https://ircv3.net/specs/extensions/webirc>): a web chat or bouncer configured as a
//! gateway (`[[webirc]]`) connects for its users and, as its first line, says who each one is:
//! `WEBIRC <password> <gateway> <hostname> <ip> [:<options>]`. From then on the connection is
//! the user's: its address and host are the given ones everywhere (per-IP limits, bans and
//! masks, WHO/WHOIS, the log).
//!
//! Accepted only from a configured gateway's addresses, with its password (wrong ones are
//! braked per address like OPER's), as the connection's first command (the spec: before
//! capability negotiation; any command before it is too early) and once. A refusal closes the
//! connection with `ERROR` (the spec's "Security Considerations") and changes nothing; after
//! registration WEBIRC is just `462 ERR_ALREADYREGISTERED`.
//!
//! The `secure` option makes the user's connection count as secure (WHOIS 671, passwords
//! allowed) only when the gateway's own connection is TLS or comes from this machine: the spec
//! asks for TLS; a gateway on the same host has no network hop to protect. A TLS client
//! certificate of the gateway is the gateway's, never the user's: it is dropped.

use std::net::{IpAddr, SocketAddr};

use charla_proto::numeric::ERR_ALREADYREGISTERED;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::account::is_loopback;
use crate::account::throttle::Admission;
use crate::client::{Gateway, Transport, host_of};
use crate::command::Flow;
use crate::command::table::Owned;
use crate::config::WebircConfig;
use crate::logtext::Escaped;
use crate::session::Session;
use crate::state::State;

/// The reply of the spec's example, for a wrong password.
const BAD_PASSWORD: &str = "Invalid WebIRC password";
/// For a connection from an address no gateway is configured for.
const NOT_A_GATEWAY: &str = "WebIRC is not allowed from your address";
/// For WEBIRC after any other command, or twice.
const NOT_FIRST: &str = "WEBIRC must be the first command, and only once";
/// For an `ip` parameter that is not an IP address.
const BAD_IP: &str = "Invalid WebIRC IP address";

/// `WEBIRC <password> <gateway> <hostname> <ip> [:<options>]`.
pub async fn webirc(s: &mut Session, p: Owned<4>) -> Flow {
    if s.reg.done {
        s.num(ERR_ALREADYREGISTERED)
            .t("You may not reregister")
            .send();
        return Flow::Continue;
    }
    let options = p.get(4).unwrap_or("").to_owned();
    let [password, said_gateway, hostname, ip] = p.req;
    let id = s.client.id;
    let peer = s.conn.addr;
    // Any command before (CAP, NICK, PASS, AUTHENTICATE, PING, ...) or a WEBIRC before this
    // one: too late.
    let too_late = s.reg.spoke || s.client.gateway.is_some();
    s.reg.spoke = true;
    if too_late {
        warn!(conn_id = %id, %peer, "WEBIRC refused: not the first command");
        return Flow::Close(NOT_FIRST.to_owned());
    }
    let gateways: Vec<WebircConfig> = s
        .state
        .config
        .webirc
        .iter()
        .filter(|g| g.allows(peer.ip()))
        .cloned()
        .collect();
    if gateways.is_empty() {
        warn!(conn_id = %id, %peer, gateway = %Escaped(&said_gateway),
            "WEBIRC refused: not from a configured gateway address");
        return Flow::Close(NOT_A_GATEWAY.to_owned());
    }
    let Ok(ip) = ip.parse::<IpAddr>().map(crate::cidr::canonical) else {
        warn!(conn_id = %id, %peer, ip = %Escaped(&ip), "WEBIRC refused: not an IP address");
        return Flow::Close(BAD_IP.to_owned());
    };
    // Guessing the password is braked per address, as OPER and log-ins are: a gateway's
    // connections skip the per-IP limits, so nothing else would count the attempts.
    match s.state.auth_throttle.admit(&peer.ip(), Instant::now()) {
        Admission::Now => {}
        Admission::At(at) => tokio::time::sleep_until(at).await,
        Admission::Refused => {
            warn!(conn_id = %id, %peer, "WEBIRC refused: too many failed attempts from this address");
            return Flow::Close(BAD_PASSWORD.to_owned());
        }
    }
    let mut matched = None;
    for gateway in gateways {
        if password_matches(&s.state, &gateway, &password).await {
            matched = Some(gateway);
            break;
        }
    }
    let Some(gateway) = matched else {
        s.state.auth_throttle.failed(&peer.ip(), Instant::now());
        warn!(conn_id = %id, %peer, gateway = %Escaped(&said_gateway),
            "WEBIRC refused: wrong password");
        return Flow::Close(BAD_PASSWORD.to_owned());
    };
    s.state.auth_throttle.succeeded(&peer.ip());
    let options = Options::parse(&options);
    let addr = SocketAddr::new(ip, options.remote_port.unwrap_or(0));
    // The user is counted under the per-IP limits by its own address, for as long as it is
    // connected.
    let ip_slot = match s.state.ips.admit(ip) {
        Ok(slot) => slot,
        Err(refusal) => {
            warn!(conn_id = %id, %peer, client = %addr, %refusal, "WEBIRC connection refused");
            return Flow::Close(refusal.to_string());
        }
    };
    let host = if is_valid_host(&hostname) {
        hostname
    } else {
        host_of(ip)
    };
    let hop_secure = s.conn.transport.is_secure() || is_loopback(peer.ip());
    let secure = options.secure && hop_secure;
    let transport = if secure {
        Transport::Tls { certfp: None }
    } else {
        Transport::Plain
    };
    info!(conn_id = %id, %peer, gateway = %Escaped(&gateway.name),
        said_gateway = %Escaped(&said_gateway), client = %addr, host = %Escaped(&host), secure,
        "WEBIRC");
    let client = s.state.readdress(
        &s.client,
        addr,
        host,
        transport,
        Gateway {
            name: gateway.name.as_str().into(),
            addr: peer,
            ip_slot,
        },
    );
    s.conn = client.clone();
    s.client = client;
    Flow::Continue
}

/// Whether `password` is `gateway`'s: a plain one compared at once (by digest, so that the time
/// taken says nothing of how much matched), a hash checked on the hashing pool.
async fn password_matches(state: &State, gateway: &WebircConfig, password: &str) -> bool {
    match (&gateway.password, &gateway.password_hash) {
        (Some(plain), _) => {
            Sha256::digest(plain.expose().as_bytes()) == Sha256::digest(password.as_bytes())
        }
        (None, Some(hash)) => {
            state
                .hasher
                .verify(
                    hash.clone(),
                    crate::account::password::Password::new(password),
                )
                .await
        }
        (None, None) => false,
    }
}

/// The options this server reads (others are ignored, as the spec asks).
#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    /// `secure`, with or without a value.
    secure: bool,
    /// `remote-port=<port>`.
    remote_port: Option<u16>,
}

impl Options {
    /// Space-separated `name[=value]` items.
    fn parse(text: &str) -> Options {
        let mut options = Options::default();
        for item in text.split(' ').filter(|i| !i.is_empty()) {
            let (name, value) = match item.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (item, None),
            };
            match name {
                "secure" => options.secure = true,
                "remote-port" => options.remote_port = value.and_then(|v| v.parse().ok()),
                _ => {}
            }
        }
        options
    }
}

/// Whether a gateway's `hostname` can stand in `nick!user@host`: a DNS name or an address, in
/// letters, digits, `-`, `.` and `:`, not starting with `:`, at most 63 bytes. Anything else is
/// replaced by the IP address.
fn is_valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 63
        && !host.starts_with([':', '-', '.'])
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_read_and_unknown_ones_ignored() {
        assert_eq!(Options::parse(""), Options::default());
        assert_eq!(
            Options::parse("secure=examplevalue123 local-port=6697 remote-port=21726 future"),
            Options {
                secure: true,
                remote_port: Some(21726)
            }
        );
        assert_eq!(
            Options::parse("remote-port=99999  secure"),
            Options {
                secure: true,
                remote_port: None
            }
        );
        assert!(!Options::parse("insecure secured=1").secure);
    }

    #[test]
    fn hosts_that_cannot_stand_in_a_mask_are_refused() {
        for good in [
            "3-100-51-198.location.example-isp.com",
            "198.51.100.3",
            "0::1",
            "2001:db8::1",
        ] {
            assert!(is_valid_host(good), "{good}");
        }
        for bad in [
            "",
            ":1",
            "a b",
            "a!b",
            "a@b",
            "a*b",
            "ñandú.example",
            "-x",
            &"a".repeat(64),
        ] {
            assert!(!is_valid_host(bad), "{bad:?}");
        }
    }
}
