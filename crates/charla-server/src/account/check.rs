//! Checking a password for an account, behind the brakes on guessing: the address's and the
//! account's failures make each attempt wait its turn, and too many are refused. Every failure
//! is logged (never the password). IRC sessions go through [`password`]; the HTTP side (the
//! file host) through [`password_from`], with the same throttles.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use charla_store::AccountRecord;
use tokio::time::Instant;
use tracing::warn;

use crate::account::key;
use crate::account::password::Password;
use crate::account::throttle::{Admission, FAILURES_PER_CONNECTION};
use crate::logtext::Escaped;
use crate::session::Session;
use crate::state::State;

/// Why a log-in failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Wrong account or password (one answer for both: do not tell which accounts exist).
    Wrong,
    /// Too many failures from this address or for this account: refused without checking.
    Throttled,
    /// The store failed.
    Unavailable,
    /// This connection failed too often: it is closed.
    TooManyOnConnection,
}

/// Waits for the turn of an attempt on `account` from this session's address; `false` when it
/// is refused.
pub async fn admit(s: &mut Session, account: &str) -> bool {
    let admitted = wait_turn(&s.state, s.conn.addr.ip(), account).await;
    if !admitted {
        warn!(conn_id = %s.conn.id, peer = %s.conn.addr, account = %Escaped(account),
            "log-in refused: too many failed attempts");
    }
    admitted
}

/// Waits for the turn of an attempt on `account` from `ip` under the address's and the
/// account's failures; `false` when either refuses it.
async fn wait_turn(state: &State, ip: IpAddr, account: &str) -> bool {
    let now = Instant::now();
    let by_ip = state.auth_throttle.admit(&ip, now);
    let by_account = state.account_throttle.admit(&key(account), now);
    let at = match (by_ip, by_account) {
        (Admission::Refused, _) | (_, Admission::Refused) => return false,
        (Admission::At(a), Admission::At(b)) => Some(a.max(b)),
        (Admission::At(a), Admission::Now) | (Admission::Now, Admission::At(a)) => Some(a),
        (Admission::Now, Admission::Now) => None,
    };
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
    true
}

/// Counts a failed attempt on `account` from `ip` in the throttles and the metrics.
fn count_failure(state: &State, ip: IpAddr, account: &str) {
    let now = Instant::now();
    state.auth_throttle.failed(&ip, now);
    state.account_throttle.failed(&key(account), now);
    state.metrics.login_failures.inc();
}

/// Records a failed attempt on `account` (`how` for the log). Returns whether the connection
/// has failed too often and must be closed.
pub fn failed(s: &mut Session, account: &str, how: &str) -> bool {
    count_failure(&s.state, s.conn.addr.ip(), account);
    s.reg.password_failures += 1;
    warn!(conn_id = %s.conn.id, peer = %s.conn.addr, account = %Escaped(account),
        how, failures = s.reg.password_failures, "failed log-in");
    s.reg.password_failures >= FAILURES_PER_CONNECTION
}

/// Records a successful attempt: the address's and account's failures are forgiven.
pub fn succeeded(s: &Session, account: &str) {
    forgive(&s.state, s.conn.addr.ip(), account);
}

fn forgive(state: &State, ip: IpAddr, account: &str) {
    state.auth_throttle.succeeded(&ip);
    state.account_throttle.succeeded(&key(account));
}

/// Checks `password` for the account `name`: its record if right. Waits its turn first.
pub async fn password(
    s: &mut Session,
    name: &str,
    password: Password,
    how: &str,
) -> Result<AccountRecord, Failure> {
    if !admit(s, name).await {
        return Err(Failure::Throttled);
    }
    match verify(&s.state, name, password).await? {
        Some(r) => {
            succeeded(s, name);
            Ok(r)
        }
        None => {
            if failed(s, name, how) {
                Err(Failure::TooManyOnConnection)
            } else {
                Err(Failure::Wrong)
            }
        }
    }
}

/// The account `name` if `password` is its password, `None` if not (or if there is no such
/// account: the same time is spent, so that timing does not tell which names exist).
async fn verify(
    state: &State,
    name: &str,
    password: Password,
) -> Result<Option<AccountRecord>, Failure> {
    let record = match state.store.account(&key(name)).await {
        Ok(record) => record,
        Err(e) => {
            warn!(error = %e, "cannot read an account");
            return Err(Failure::Unavailable);
        }
    };
    let ok = match &record {
        Some(r) => state.hasher.verify(r.password_hash.clone(), password).await,
        None => {
            let _ = state.hasher.verify(DECOY_HASH.to_owned(), password).await;
            false
        }
    };
    Ok(record.filter(|_| ok))
}

/// Checks `password` for the account `name` for a request from `peer` outside any IRC
/// session (the file host's HTTP Basic authentication): the same throttles, hashing pool and
/// decoy as SASL, and the same log lines. `how` names the way in, for the log.
pub async fn password_from(
    state: &State,
    peer: SocketAddr,
    name: &str,
    password: Password,
    how: &str,
) -> Result<AccountRecord, Failure> {
    let tag = state.http_logins.tag(&state.secret, name, &password);
    if let Some(record) = tag.and_then(|tag| state.http_logins.get(name, &tag)) {
        return Ok(record);
    }
    // One check per account at a time: requests that come together (a client's uploads
    // started at once) wait for the first one's answer and find it remembered, instead of
    // each paying a hash.
    let _turn = state.http_logins.turn(name).await;
    if let Some(record) = tag.and_then(|tag| state.http_logins.get(name, &tag)) {
        return Ok(record);
    }
    if !wait_turn(state, peer.ip(), name).await {
        warn!(%peer, account = %Escaped(name), how, "log-in refused: too many failed attempts");
        return Err(Failure::Throttled);
    }
    match verify(state, name, password).await? {
        Some(record) => {
            forgive(state, peer.ip(), name);
            if let Some(tag) = tag {
                state.http_logins.put(name, tag, record.clone());
            }
            Ok(record)
        }
        None => {
            count_failure(state, peer.ip(), name);
            warn!(%peer, account = %Escaped(name), how, "failed log-in");
            Err(Failure::Wrong)
        }
    }
}

/// Credentials the HTTP side verified lately, so that a client sending many requests (files
/// uploaded one after another) pays for one password hash, not one per request. Only a keyed
/// digest of the password is kept (HMAC-SHA-256 under the run's secret), for
/// [`VERIFIED_FOR`]; a change of password or a dropped account forgets the account's entry.
#[derive(Debug, Default)]
pub struct VerifiedLogins {
    entries: parking_lot::Mutex<std::collections::HashMap<String, Verified>>,
    /// The accounts being checked now, each with the lock its checks take turns on (an entry
    /// lives while someone holds or waits for it).
    checking: parking_lot::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The turn of one check of an account's credentials ([`VerifiedLogins::turn`]).
struct Turn<'a> {
    logins: &'a VerifiedLogins,
    key: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut checking = self.logins.checking.lock();
        // Ours and the map's: nobody else holds or waits for it.
        if Arc::strong_count(&self.lock) == 2 {
            checking.remove(&self.key);
        }
    }
}

#[derive(Debug)]
struct Verified {
    tag: [u8; 32],
    until: Instant,
    record: AccountRecord,
}

/// How long verified HTTP credentials are taken without hashing again.
pub const VERIFIED_FOR: std::time::Duration = std::time::Duration::from_secs(300);

/// The most accounts remembered at once (expired entries go first when it is full).
const MAX_VERIFIED: usize = 4096;

impl VerifiedLogins {
    /// The keyed digest of `password` for account `name`.
    fn tag(&self, secret: &[u8; 32], name: &str, password: &Password) -> Option<[u8; 32]> {
        use hmac::{Hmac, Mac};
        // HMAC takes a key of any length: a 32-byte one never fails.
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).ok()?;
        mac.update(key(name).as_bytes());
        mac.update(&[0]);
        mac.update(password.expose().as_bytes());
        Some(mac.finalize().into_bytes().into())
    }

    /// The account, if these credentials were verified lately.
    fn get(&self, name: &str, tag: &[u8; 32]) -> Option<AccountRecord> {
        use subtle_eq::ct_eq;
        let entries = self.entries.lock();
        let entry = entries.get(&key(name))?;
        (entry.until > Instant::now() && ct_eq(&entry.tag, tag)).then(|| entry.record.clone())
    }

    fn put(&self, name: &str, tag: [u8; 32], record: AccountRecord) {
        let mut entries = self.entries.lock();
        if entries.len() >= MAX_VERIFIED {
            let now = Instant::now();
            entries.retain(|_, e| e.until > now);
            if entries.len() >= MAX_VERIFIED {
                return;
            }
        }
        let until = Instant::now() + VERIFIED_FOR;
        entries.insert(key(name), Verified { tag, until, record });
    }

    /// Waits until no other check of account `name` runs, and holds the turn until dropped.
    async fn turn(&self, name: &str) -> Turn<'_> {
        let key = key(name);
        let lock = Arc::clone(self.checking.lock().entry(key.clone()).or_default());
        let guard = Some(Arc::clone(&lock).lock_owned().await);
        Turn {
            logins: self,
            key,
            lock,
            guard,
        }
    }

    /// Forgets what was verified for account `name` (its password changed, or it is gone).
    pub fn forget(&self, name: &str) {
        self.entries.lock().remove(&key(name));
    }
}

/// Comparison whose time does not depend on where two digests differ.
mod subtle_eq {
    pub(super) fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
        a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// An Argon2id hash (of a random password, with the default parameters) checked for accounts
/// that do not exist.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$0WlrzU1JRH0tJ5n5M2mD2sH2o2Z1GZ0iJ8f1K1V9sQ4";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decoy_hash_is_a_real_argon2id_hash() {
        // A decoy that did not parse would be rejected at once, and the time taken would tell
        // which account names exist.
        let parsed = argon2::PasswordHash::new(DECOY_HASH).expect("a PHC string");
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let started = std::time::Instant::now();
        assert!(!crate::account::password::verify_password(DECOY_HASH, "x"));
        assert!(
            started.elapsed() > std::time::Duration::from_millis(1),
            "it was computed"
        );
    }

    #[tokio::test]
    async fn checks_of_one_account_take_turns_and_leave_nothing_behind() {
        let logins = VerifiedLogins::default();
        let first = logins.turn("Ana").await;
        // Another account's check goes at once.
        drop(logins.turn("bob").await);
        // The same account (in another case) waits for the first.
        let mut second = Box::pin(logins.turn("ANA"));
        assert!(futures::poll!(second.as_mut()).is_pending());
        let mut third = Box::pin(logins.turn("ana"));
        assert!(futures::poll!(third.as_mut()).is_pending());
        drop(third); // Given up while waiting (its request went away).
        drop(first);
        let second = second.await;
        assert_eq!(logins.checking.lock().len(), 1);
        drop(second);
        assert!(logins.checking.lock().is_empty(), "no entry kept");
    }
}
