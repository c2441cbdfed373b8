//! Failed password attempts: a brake on guessing, by address and by account, shared by every
//! way of giving a password (OPER, SASL, NickServ).
//!
//! A connection gets [`FAILURES_PER_CONNECTION`] tries and is then disconnected. An address
//! (an IPv4 address, or an IPv6 /64: one host's worth of addresses) gets
//! [`FREE_FAILURES`] failures for nothing; after that every attempt from it waits, one after
//! another, [`BASE_DELAY`] doubled for each further failure up to [`MAX_DELAY`], so that ten
//! connections guess no faster than one. An attempt that would have to wait more than
//! [`MAX_WAIT`] is refused at once, unchecked (OPER also closes the connection): a session never
//! sits for long on a turn, and so never outlives its client by more than that. An address is
//! forgotten [`FORGET_AFTER`] after its last failure, and forgiven by a success.
//!
//! The table is bounded: past [`MAX_ADDRESSES`] entries the forgotten ones go first, then the
//! one whose last failure is oldest, so no stream of addresses can grow it without bound.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// Failed attempts one connection may make before it is closed.
pub const FAILURES_PER_CONNECTION: u32 = 3;
/// Failed attempts an address makes before its attempts are delayed.
pub const FREE_FAILURES: u32 = 3;
/// The delay after the first failure past [`FREE_FAILURES`].
pub const BASE_DELAY: Duration = Duration::from_secs(1);
/// The longest delay between two attempts from one address.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// The longest an attempt waits for its turn; longer, it is refused (and may come back later).
pub const MAX_WAIT: Duration = Duration::from_secs(2);
/// How long an address's failures are remembered after its last one.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Most addresses remembered at once.
pub const MAX_ADDRESSES: usize = 65_536;

/// What an attempt may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Check the password now.
    Now,
    /// Check it at this time (the turn is reserved).
    At(Instant),
    /// Too many failures from this address: refuse without checking.
    Refused,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    /// The earliest time of the next attempt.
    next_at: Instant,
}

/// Failed attempts by key: by address (an [`IpAddr`]), or by account (its key, a `String`).
#[derive(Debug)]
pub struct AuthThrottle<K = IpAddr> {
    entries: Mutex<HashMap<K, Entry>>,
}

impl<K> Default for AuthThrottle<K> {
    fn default() -> Self {
        AuthThrottle {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

/// What failed attempts are counted by.
pub trait ThrottleKey: Hash + Eq + Clone {
    /// The key the attempts of `self` are counted under.
    fn key(&self) -> Self;
}

/// IPv6 addresses by their /64, which one host or home usually holds.
impl ThrottleKey for IpAddr {
    fn key(&self) -> Self {
        match *self {
            IpAddr::V4(_) => *self,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
            },
        }
    }
}

/// Accounts by their key (already case-folded).
impl ThrottleKey for String {
    fn key(&self) -> Self {
        self.clone()
    }
}

fn key<K: ThrottleKey>(k: &K) -> K {
    k.key()
}

/// The delay after `failures` failures.
fn delay(failures: u32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (failures - FREE_FAILURES).min(16);
    (BASE_DELAY * 2u32.pow(doublings)).min(MAX_DELAY)
}

impl<K: ThrottleKey> AuthThrottle<K> {
    /// Asks for an attempt from `ip` at `now`.
    pub fn admit(&self, ip: &K, now: Instant) -> Admission {
        let mut entries = self.entries.lock();
        let Some(entry) = entries.get_mut(&key(ip)) else {
            return Admission::Now;
        };
        if now.saturating_duration_since(entry.last_failure) >= FORGET_AFTER {
            entries.remove(&key(ip));
            return Admission::Now;
        }
        let step = delay(entry.failures);
        if step.is_zero() {
            return Admission::Now;
        }
        let at = entry.next_at.max(now);
        if at.saturating_duration_since(now) > MAX_WAIT {
            return Admission::Refused;
        }
        entry.next_at = at + step;
        if at <= now {
            Admission::Now
        } else {
            Admission::At(at)
        }
    }

    /// Records a failed attempt from `ip` at `now`.
    pub fn failed(&self, ip: &K, now: Instant) {
        let mut entries = self.entries.lock();
        if entries.len() >= MAX_ADDRESSES && !entries.contains_key(&key(ip)) {
            entries.retain(|_, e| now.saturating_duration_since(e.last_failure) < FORGET_AFTER);
            if entries.len() >= MAX_ADDRESSES
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.last_failure)
                    .map(|(ip, _)| ip.clone())
            {
                entries.remove(&oldest);
            }
        }
        let entry = entries.entry(key(ip)).or_insert(Entry {
            failures: 0,
            last_failure: now,
            next_at: now,
        });
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
        entry.next_at = entry.next_at.max(now + delay(entry.failures));
    }

    /// Records a success from `ip`: its failures are forgiven.
    pub fn succeeded(&self, ip: &K) {
        self.entries.lock().remove(&key(ip));
    }

    /// Addresses remembered.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Whether no address is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[tokio::test(start_paused = true)]
    async fn free_failures_then_growing_delay_one_attempt_at_a_time() {
        let t = AuthThrottle::default();
        let a = ip("192.0.2.7");
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(t.admit(&a, t0), Admission::Now);
            t.failed(&a, t0);
        }
        // The next attempt waits one second; a second one at the same moment waits its own turn
        // after that (ten connections guess no faster than one).
        assert_eq!(t.admit(&a, t0), Admission::At(t0 + BASE_DELAY));
        assert_eq!(t.admit(&a, t0), Admission::At(t0 + 2 * BASE_DELAY));
        // Others are not affected.
        assert_eq!(t.admit(&ip("192.0.2.8"), t0), Admission::Now);
        // More failures: the delay doubles, up to the maximum. A turn further than MAX_WAIT is
        // refused at once (without taking the turn); closer to it, an attempt waits.
        let t1 = t0 + Duration::from_secs(2);
        t.failed(&a, t1);
        t.failed(&a, t1);
        assert_eq!(t.admit(&a, t1), Admission::Refused);
        let t2 = t1 + Duration::from_secs(2);
        assert_eq!(t.admit(&a, t2), Admission::At(t1 + 4 * BASE_DELAY));
        for _ in 0..10 {
            t.failed(&a, t1);
        }
        assert_eq!(delay(100), MAX_DELAY);
        // Turns far in the future are refused rather than queued.
        let mut refused = false;
        for _ in 0..5 {
            refused |= t.admit(&a, t1) == Admission::Refused;
        }
        assert!(refused);
    }

    #[tokio::test(start_paused = true)]
    async fn success_forgives_and_time_forgets() {
        let t = AuthThrottle::default();
        let a = ip("2001:db8::1");
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES + 1 {
            t.failed(&a, t0);
        }
        // Another address of the same /64 is the same host.
        assert!(matches!(
            t.admit(&ip("2001:db8::ffff"), t0),
            Admission::At(_)
        ));
        assert_eq!(t.admit(&ip("2001:db8:0:1::1"), t0), Admission::Now);
        t.succeeded(&a);
        assert_eq!(t.admit(&a, t0), Admission::Now);
        for _ in 0..FREE_FAILURES + 2 {
            t.failed(&a, t0);
        }
        assert_eq!(t.admit(&a, t0 + FORGET_AFTER), Admission::Now);
        assert!(t.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_table_is_bounded() {
        let t = AuthThrottle::default();
        let t0 = Instant::now();
        for n in 0..(MAX_ADDRESSES as u32 + 10) {
            t.failed(
                &IpAddr::V4(n.into()),
                t0 + Duration::from_millis(u64::from(n % 1000)),
            );
        }
        assert_eq!(t.len(), MAX_ADDRESSES);
    }
}
