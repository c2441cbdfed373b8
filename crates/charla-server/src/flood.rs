//! Per-client flood control: a token bucket whose debt is paid in delay, like other servers'
//! "fakelag".
//!
//! A client starts with `burst` tokens; each line takes one; tokens come back at
//! `lines_per_sec`. A line arriving at an empty bucket is not refused: it waits (the session
//! keeps it in a short queue) until a token is back. Only when too many lines wait does the
//! session end with "Excess Flood".

use std::time::Duration;

use tokio::time::Instant;

use crate::config::FloodConfig;

/// A token bucket.
#[derive(Debug)]
pub struct TokenBucket {
    tokens: f64,
    burst: f64,
    rate: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `config`.
    pub fn new(config: &FloodConfig) -> Self {
        TokenBucket {
            tokens: f64::from(config.burst),
            burst: f64::from(config.burst),
            rate: config.lines_per_sec.max(0.001),
            last: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// Takes a token if one is there.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes `extra` more tokens for a line that cost more than one; the bucket may go into
    /// debt, which later lines pay for in delay.
    pub fn penalize(&mut self, extra: u32, now: Instant) {
        self.refill(now);
        self.tokens -= f64::from(extra);
    }

    /// When the next token will be there.
    pub fn ready_at(&mut self, now: Instant) -> Instant {
        self.refill(now);
        if self.tokens >= 1.0 {
            now
        } else {
            now + Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let cfg = FloodConfig {
            enabled: true,
            burst: 3,
            lines_per_sec: 2.0,
            max_queued_lines: 5,
        };
        let t0 = Instant::now();
        let mut b = TokenBucket::new(&cfg);
        assert!(b.try_take(t0) && b.try_take(t0) && b.try_take(t0));
        assert!(!b.try_take(t0));
        assert_eq!(b.ready_at(t0), t0 + Duration::from_millis(500));
        assert!(b.try_take(t0 + Duration::from_millis(500)));
        // Never more than the burst, however long the pause.
        let later = t0 + Duration::from_secs(100);
        for _ in 0..3 {
            assert!(b.try_take(later));
        }
        assert!(!b.try_take(later));
    }

    #[test]
    fn penalties_are_paid_in_delay() {
        let cfg = FloodConfig {
            enabled: true,
            burst: 2,
            lines_per_sec: 1.0,
            max_queued_lines: 5,
        };
        let t0 = Instant::now();
        let mut b = TokenBucket::new(&cfg);
        assert!(b.try_take(t0));
        b.penalize(3, t0);
        // 2 - 1 - 3 = -2: three seconds until one token is back.
        assert_eq!(b.ready_at(t0), t0 + Duration::from_secs(3));
    }
}
