//! Latency and error counts of a benchmark run, and how they are printed.

use hdrhistogram::Histogram;
use std::time::Duration;

/// What one connection (or the whole run) observed.
#[derive(Debug, Clone)]
pub struct Stats {
    latency_us: Histogram<u64>,
    /// Replies that were not what the store must have answered.
    pub wrong: u64,
    /// Requests that got no reply at all (connection errors).
    pub failed: u64,
    /// Bytes of values sent and received.
    pub value_bytes: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            wrong: 0,
            failed: 0,
            value_bytes: 0,
        }
    }
}

impl Stats {
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let _ = self.latency_us.record(micros.min(60_000_000));
    }

    pub fn merge(&mut self, other: &Stats) {
        let _ = self.latency_us.add(&other.latency_us);
        self.wrong += other.wrong;
        self.failed += other.failed;
        self.value_bytes += other.value_bytes;
    }

    /// The latency at quantile `q` (0.0 to 1.0), in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn ops(&self) -> u64 {
        self.latency_us.len()
    }

    /// One line: ops/s, MB/s, latency percentiles, wrong and failed replies.
    pub fn summary(&self, label: &str, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(f64::EPSILON);
        let ms = |q: f64| self.quantile_ms(q);
        format!(
            "{label:<22} {:>10.0} ops/s {:>8.1} MB/s   p50 {:>7.3} ms  p90 {:>7.3} ms  p99 {:>7.3} ms  max {:>8.3} ms   ops {}  wrong {}  failed {}",
            self.ops() as f64 / secs,
            self.value_bytes as f64 / secs / 1e6,
            ms(0.50),
            ms(0.90),
            ms(0.99),
            self.latency_us.max() as f64 / 1000.0,
            self.ops(),
            self.wrong,
            self.failed,
        )
    }
}
