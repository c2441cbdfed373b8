//! Identity: accounts, how one proves to be one, and the services built on them.
//!
//! - [`password`]: the `Password` type that never shows itself, Argon2id hashes, and the
//!   bounded pool that checks them off the async workers.
//! - [`throttle`]: failed password attempts, counted per address, per account and per
//!   connection, paid in growing delay and then refused, for every way of giving a password.
//! - [`create`]: making an account (REGISTER, NickServ REGISTER): its name, its password's
//!   Argon2id hash and SCRAM-SHA-256 credentials, into the store.
//! - [`check`]: checking a password for an account, behind the throttles.
//! - [`login`]: logging a connection in and out, and telling whoever follows it
//!   (`account-notify`, `chghost`, 900/901).
//! - [`sasl`]: AUTHENTICATE (SASL 3.2) with PLAIN, SCRAM-SHA-256 and EXTERNAL.
//! - [`services`]: NickServ and ChanServ, for clients that speak no SASL and for channels.
//! - [`protect`]: registered nicks: someone using one without its account is renamed.
//!
//! Accounts are found by key: the case-folded name ([`key`]), as nicks are.

use std::net::IpAddr;

use charla_proto::casemap::casefold;

use crate::client::Client;

pub mod check;
pub mod create;
pub mod login;
pub mod password;
pub mod protect;
pub mod sasl;
pub mod services;
pub mod throttle;

/// The store's key of an account name.
pub fn key(name: &str) -> String {
    casefold(name).into_owned()
}

/// Whether an address is this machine's (IPv4-mapped loopback included).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether `client` may send a password: over TLS, or from this machine (DESIGN.md: passwords
/// only over TLS or loopback).
pub fn may_send_password(client: &Client) -> bool {
    client.transport.is_secure() || is_loopback(client.addr.ip())
}

/// What a client is told when it sends a password where it may not.
pub const PASSWORD_NEEDS_TLS: &str =
    "Passwords are accepted only over TLS (or from this machine): reconnect with TLS";
