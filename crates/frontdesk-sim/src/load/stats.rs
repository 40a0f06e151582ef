//! What the run measured: latency samples, frame counts, and their summary.

use serde::{Deserialize, Serialize};

/// Latency samples in microseconds.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    us: Vec<u32>,
}

impl Samples {
    pub fn push(&mut self, us: u32) {
        self.us.push(us);
    }

    pub fn summary(&self) -> Summary {
        let mut sorted = self.us.clone();
        sorted.sort_unstable();
        Summary {
            n: sorted.len() as u64,
            p50_ms: percentile(&sorted, 50.0).map(us_to_ms),
            p99_ms: percentile(&sorted, 99.0).map(us_to_ms),
            max_ms: sorted.last().copied().map(us_to_ms),
        }
    }
}

fn us_to_ms(us: u32) -> f64 {
    f64::from(us) / 1000.0
}

/// Nearest-rank percentile of sorted samples: the smallest sample with at
/// least `p` percent of the samples at or below it.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted.get(index).copied()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

/// One relay direction during the measurement window.
#[derive(Debug, Clone, Default)]
pub struct Direction {
    /// Frames sent with a send time inside the window.
    pub sent: u64,
    /// Of those, frames that arrived at the other peer.
    pub received: u64,
    /// Sequence numbers skipped on arrival (any time, window or not).
    pub gaps: u64,
    pub latency: Samples,
}

impl Direction {
    pub fn report(&self) -> DirectionReport {
        DirectionReport {
            sent: self.sent,
            received: self.received,
            lost: self.sent.saturating_sub(self.received),
            gaps: self.gaps,
            latency: self.latency.summary(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DirectionReport {
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub gaps: u64,
    pub latency: Summary,
}

/// Everything the peers record while the run goes on.
#[derive(Debug, Default)]
pub struct Stats {
    pub to_model: Direction,
    pub to_caller: Direction,
    pub greeting: Samples,
    pub clear: Samples,
    pub clears_requested: u64,
    /// How late the caller side's 20 ms ticks fired (the generator's own health).
    pub tick_lateness: Samples,
    pub calls_established: u64,
    pub calls_failed: u64,
    pub calls_dropped: u64,
    pub model_connections: u64,
    /// The largest `session.update` the engine sent (it sizes a write buffer).
    pub session_update_bytes: u64,
    /// Model deltas not sent to keep the engine's playback lead low.
    pub model_deltas_held: u64,
    pub failures: Vec<String>,
}

impl Stats {
    /// Keeps the first few distinct failure reasons.
    pub fn fail(&mut self, reason: String) {
        self.calls_failed += 1;
        if self.failures.len() < 10 && !self.failures.contains(&reason) {
            self.failures.push(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        // p99 of 1000 samples is the 990th: one outlier in a thousand does not move it.
        let mut w = vec![100u32; 999];
        w.push(50_000);
        assert_eq!(percentile(&w, 99.0), Some(100));
        assert_eq!(percentile(&w, 99.95), Some(50_000));
    }

    #[test]
    fn summaries_are_in_milliseconds() {
        let mut s = Samples::default();
        for us in [3000, 1000, 2000] {
            s.push(us);
        }
        let sum = s.summary();
        assert_eq!(sum.n, 3);
        assert_eq!(sum.p50_ms, Some(2.0));
        assert_eq!(sum.max_ms, Some(3.0));
        assert_eq!(Samples::default().summary().p99_ms, None);
    }

    #[test]
    fn loss_is_sent_minus_received() {
        let d = Direction {
            sent: 10,
            received: 7,
            gaps: 3,
            latency: Samples::default(),
        };
        let r = d.report();
        assert_eq!((r.lost, r.gaps), (3, 3));
    }
}
