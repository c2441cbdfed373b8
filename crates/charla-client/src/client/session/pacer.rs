//! [`Pacer`]: what the user sends goes out as servers' flood control expects; [`Background`]:
//! what the client asks by itself (history) goes out after it, slowly.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Paces what the user sends as servers' flood control expects (a token bucket: `burst` lines
/// at once, then `rate` per second), so a pasted page is not an "Excess Flood" disconnect.
#[derive(Debug)]
pub(super) struct Pacer {
    tokens: f64,
    burst: f64,
    rate: f64,
    last: tokio::time::Instant,
}

impl Pacer {
    pub(super) fn new(burst: u32, rate: f64) -> Self {
        let burst = f64::from(burst.max(1));
        Pacer {
            tokens: burst,
            burst,
            rate: if rate > 0.0 { rate } else { 1.0 },
            last: tokio::time::Instant::now(),
        }
    }

    fn refill(&mut self, now: tokio::time::Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// Takes a token if one is there.
    pub(super) fn take(&mut self, now: tokio::time::Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// When the next token is back.
    pub(super) fn next_at(&self) -> tokio::time::Instant {
        let missing = (1.0 - self.tokens).max(0.0);
        self.last + Duration::from_secs_f64(missing / self.rate)
    }
}

/// How long after the last of the user's lines the first background line may go.
const QUIET: Duration = Duration::from_millis(500);

/// The least time between two background lines. A history request costs one line of flood
/// control on Charla (which gives two a second back) and more on some servers: at this pace it
/// never puts the user's own lines behind.
const EVERY: Duration = Duration::from_millis(600);

/// Lines the client sends by itself that may wait (history requests, read markers): one at a
/// time, once what the user asked for has gone out, so that they never hold it up, here or in
/// the server's flood control.
#[derive(Debug, Default)]
pub(super) struct Background {
    lines: VecDeque<String>,
    last_sent: Option<Instant>,
}

impl Background {
    pub(super) fn push(&mut self, line: String) {
        self.lines.push_back(line);
    }

    /// When the next line may go, given when the user's last line went; `None` when there is
    /// none.
    pub(super) fn next_at(&self, last_foreground: Instant) -> Option<Instant> {
        if self.lines.is_empty() {
            return None;
        }
        let quiet = last_foreground + QUIET;
        Some(self.last_sent.map_or(quiet, |at| (at + EVERY).max(quiet)))
    }

    /// The next line, if its time has come.
    pub(super) fn take(&mut self, now: Instant, last_foreground: Instant) -> Option<String> {
        if self.next_at(last_foreground)? > now {
            return None;
        }
        self.last_sent = Some(now);
        self.lines.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_allows_a_burst_then_the_rate() {
        let mut p = Pacer::new(3, 2.0);
        let t0 = Instant::now();
        assert!(p.take(t0) && p.take(t0) && p.take(t0));
        assert!(!p.take(t0));
        assert_eq!(p.next_at(), t0 + Duration::from_millis(500));
        assert!(p.take(t0 + Duration::from_millis(500)));
        assert!(!p.take(t0 + Duration::from_millis(600)));
        // Idle time refills up to the burst, not beyond.
        let later = t0 + Duration::from_secs(60);
        assert!(p.take(later) && p.take(later) && p.take(later));
        assert!(!p.take(later));
    }

    #[test]
    fn background_lines_wait_for_quiet_and_go_one_at_a_time() {
        let mut b = Background::default();
        let t0 = Instant::now();
        assert_eq!(b.next_at(t0), None);
        b.push("CHATHISTORY LATEST #a * 100".into());
        b.push("CHATHISTORY LATEST #b * 100".into());
        assert_eq!(b.take(t0, t0), None, "the user's line just went");
        assert_eq!(b.next_at(t0), Some(t0 + QUIET));
        let t1 = t0 + QUIET;
        assert_eq!(
            b.take(t1, t0).as_deref(),
            Some("CHATHISTORY LATEST #a * 100")
        );
        assert_eq!(b.take(t1, t0), None);
        assert_eq!(b.next_at(t0), Some(t1 + EVERY));
        // A line of the user's pushes the next one back.
        let t2 = t1 + EVERY;
        assert_eq!(b.next_at(t2), Some(t2 + QUIET));
        assert!(b.take(t2 + QUIET, t2).is_some());
        assert_eq!(b.next_at(t2), None);
    }
}
