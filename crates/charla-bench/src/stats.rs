//! Latency statistics (an HDR histogram in microseconds) and small helpers for rates.

use hdrhistogram::Histogram;

/// The highest latency recorded exactly, in microseconds (a minute); longer ones are clamped.
const MAX_MICROS: u64 = 60_000_000;

/// A latency distribution in microseconds with three significant digits.
#[derive(Debug, Clone)]
pub struct Latency {
    hist: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    /// An empty distribution.
    pub fn new() -> Self {
        // Constant, valid bounds: this cannot fail.
        let hist = Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds");
        Self { hist }
    }

    /// Records one latency.
    pub fn record(&mut self, micros: u64) {
        self.hist.saturating_record(micros.clamp(1, MAX_MICROS));
    }

    /// Adds another distribution into this one.
    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides, so adding cannot fail; a failure would only lose samples.
        let _ = self.hist.add(&other.hist);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The latency at quantile `q` (0..=1) in milliseconds; 0 when empty.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.hist.is_empty() {
            return 0.0;
        }
        self.hist.value_at_quantile(q) as f64 / 1_000.0
    }

    /// The largest latency in milliseconds; 0 when empty.
    pub fn max_ms(&self) -> f64 {
        if self.hist.is_empty() {
            return 0.0;
        }
        self.hist.max() as f64 / 1_000.0
    }
}

/// `count / seconds`, 0 when no time passed.
pub fn per_second(count: f64, seconds: f64) -> f64 {
    if seconds > 0.0 { count / seconds } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut lat = Latency::new();
        for us in 1..=1_000u64 {
            lat.record(us * 1_000); // 1..=1000 ms
        }
        assert_eq!(lat.count(), 1_000);
        let p50 = lat.quantile_ms(0.50);
        let p99 = lat.quantile_ms(0.99);
        assert!((p50 - 500.0).abs() < 1.0, "p50 {p50}");
        assert!((p99 - 990.0).abs() < 1.5, "p99 {p99}");
        assert!((lat.max_ms() - 1_000.0).abs() < 1.5);
    }

    #[test]
    fn merging_adds_samples_and_empty_is_zero() {
        let mut a = Latency::new();
        let mut b = Latency::new();
        assert_eq!(a.quantile_ms(0.99), 0.0);
        assert_eq!(a.max_ms(), 0.0);
        a.record(100);
        b.record(5_000);
        b.record(u64::MAX); // clamped, not lost
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert!((a.max_ms() - 60_000.0).abs() < 60.0);
    }

    #[test]
    fn rates() {
        assert_eq!(per_second(10.0, 2.0), 5.0);
        assert_eq!(per_second(10.0, 0.0), 0.0);
    }
}
