//! Message ids (<https://ircv3.net/specs/extensions/message-ids>): unique, and ordered by time.
//!
//! An id is 128 bits written as 26 characters of Crockford's base 32 (the ULID layout): 48 bits
//! of Unix milliseconds, then 40 bits of a counter of this run, then 40 random bits drawn when
//! the server starts. Ids of one run are therefore unique (the counter), ids of two runs differ
//! (the random part, and the time), and sorting ids as text sorts them by time.
//!
//! History is ordered by the store's own sequence, never by id: the ids only have to be unique.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Crockford's base 32 alphabet (no I, L, O, U), in ASCII order, so text order is numeric order.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The length of an id.
pub const LEN: usize = 26;

/// Makes message ids for one run of the server.
#[derive(Debug)]
pub struct MsgIds {
    counter: AtomicU64,
    salt: u64,
}

impl Default for MsgIds {
    fn default() -> Self {
        MsgIds {
            counter: AtomicU64::new(0),
            salt: rand::random::<u64>() & ((1 << 40) - 1),
        }
    }
}

impl MsgIds {
    /// A new id for a message sent at `time`.
    pub fn next(&self, time: SystemTime) -> String {
        let millis = time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
            & ((1 << 48) - 1);
        let count = self.counter.fetch_add(1, Ordering::Relaxed) & ((1 << 40) - 1);
        let value = (u128::from(millis) << 80) | (u128::from(count) << 40) | u128::from(self.salt);
        encode(value)
    }
}

/// `value` in 26 base-32 digits, most significant first.
fn encode(value: u128) -> String {
    let mut out = [0u8; LEN];
    for (i, digit) in out.iter_mut().enumerate() {
        let shift = 5 * (LEN - 1 - i);
        *digit = ALPHABET[((value >> shift) & 31) as usize];
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// Whether `text` has the form of an id this server makes (a cheap check before asking the
/// store about it).
pub fn looks_valid(text: &str) -> bool {
    text.len() == LEN && text.bytes().all(|b| ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ids_are_unique_and_sort_by_time() {
        let ids = MsgIds::default();
        let t0 = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
        let a = ids.next(t0);
        let b = ids.next(t0);
        let c = ids.next(t0 + Duration::from_millis(1));
        assert_ne!(a, b);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert!(looks_valid(&a));
        assert!(!looks_valid("hola"));
        assert!(!looks_valid("0123456789ABCDEFGHJKMNPQRI"));
    }

    #[test]
    fn two_runs_make_different_ids() {
        let t = SystemTime::now();
        // Equal only if both runs drew the same 40 random bits.
        assert_ne!(MsgIds::default().next(t), MsgIds::default().next(t));
    }
}
