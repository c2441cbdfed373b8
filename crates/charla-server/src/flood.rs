//! Per-client flood control: a token bucket whose debt is paid in delay, like other servers'
//! "fakelag".
//!
//! A client starts with `burst` tokens; each line takes one; tokens come back at
//! `lines_per_sec`. A line arriving at an empty bucket is not refused: it waits (the session
//! keeps it in its receive queue, [`RecvQ`]) until a token is back. Only when the lines waiting
//! pass `recvq_bytes` does the session end with "Excess Flood".

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::FloodConfig;
use crate::framing::Frame;

/// Lines read while the bucket was empty, waiting for tokens: the receive queue. There (boxed)
/// only while lines wait, so that an idle connection pays one pointer for it.
#[derive(Debug, Default)]
pub struct RecvQ(Option<Box<Waiting>>);

#[derive(Debug, Default)]
struct Waiting {
    lines: VecDeque<Frame>,
    /// What `lines` holds, counted by [`queued_size`].
    bytes: usize,
}

/// The receive queue is full: the line did not fit.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

impl RecvQ {
    /// No line waits.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Queues a line, unless the queue would then hold more than `limit` bytes.
    pub fn push(&mut self, frame: Frame, limit: usize) -> Result<(), Full> {
        let waiting = self.0.get_or_insert_default();
        let size = queued_size(&frame);
        if waiting.bytes + size > limit {
            if waiting.lines.is_empty() {
                self.0 = None;
            }
            return Err(Full);
        }
        waiting.bytes += size;
        waiting.lines.push_back(frame);
        Ok(())
    }

    /// The first line waiting; the queue's memory is given back with its last line.
    pub fn pop(&mut self) -> Option<Frame> {
        let waiting = self.0.as_mut()?;
        let frame = waiting.lines.pop_front()?;
        waiting.bytes -= queued_size(&frame);
        if waiting.lines.is_empty() {
            self.0 = None;
        }
        Some(frame)
    }
}

/// What a waiting line counts against the receive queue: its bytes and what holding it costs
/// (its place in the queue, its buffer's header), so that a flood of empty lines is bounded too.
fn queued_size(frame: &Frame) -> usize {
    const OVERHEAD: usize = 48;
    match frame {
        Frame::Line(raw) => raw.len() + OVERHEAD,
        Frame::TooLong => OVERHEAD,
    }
}

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
            recvq_bytes: 1 << 16,
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
    fn the_receive_queue_is_bounded_in_bytes_and_gives_its_memory_back() {
        let line = |text: &str| Frame::Line(bytes::Bytes::copy_from_slice(text.as_bytes()));
        let mut q = RecvQ::default();
        assert!(q.is_empty() && q.pop().is_none());
        // Two 2-byte lines fit in 100 bytes (50 each, with the overhead); a third does not.
        assert_eq!(q.push(line("ab"), 100), Ok(()));
        assert_eq!(q.push(line("cd"), 100), Ok(()));
        assert_eq!(q.push(line("e"), 100), Err(Full));
        assert!(matches!(q.pop(), Some(Frame::Line(l)) if &l[..] == b"ab"));
        // Room again for one.
        assert_eq!(q.push(line("e"), 100), Ok(()));
        assert!(matches!(q.pop(), Some(Frame::Line(l)) if &l[..] == b"cd"));
        assert!(matches!(q.pop(), Some(Frame::Line(l)) if &l[..] == b"e"));
        assert!(q.is_empty() && q.0.is_none());
        // A line bigger than the whole queue is refused, and leaves nothing behind.
        assert_eq!(q.push(line(&"x".repeat(200)), 100), Err(Full));
        assert!(q.0.is_none());
    }

    #[test]
    fn penalties_are_paid_in_delay() {
        let cfg = FloodConfig {
            enabled: true,
            burst: 2,
            lines_per_sec: 1.0,
            recvq_bytes: 1 << 16,
        };
        let t0 = Instant::now();
        let mut b = TokenBucket::new(&cfg);
        assert!(b.try_take(t0));
        b.penalize(3, t0);
        // 2 - 1 - 3 = -2: three seconds until one token is back.
        assert_eq!(b.ready_at(t0), t0 + Duration::from_secs(3));
    }
}
