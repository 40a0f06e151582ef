//! The engine's own relay-latency histogram (`/metrics`), as a cross-check:
//! it times a frame inside the engine only, so the generator's scheduling
//! cannot inflate it. Bucket bounds make its percentiles upper bounds.

use serde::{Deserialize, Serialize};

const FAMILY: &str = "frontdesk_frame_relay_seconds_bucket{";

/// Cumulative bucket counts `(le seconds, count)` of one direction.
pub fn relay_buckets(metrics: &str, direction: &str) -> Vec<(f64, u64)> {
    let wanted = format!("direction=\"{direction}\"");
    metrics
        .lines()
        .filter(|l| l.starts_with(FAMILY) && l.contains(&wanted))
        .filter_map(|l| {
            let le_start = l.find("le=\"")? + 4;
            let le_len = l[le_start..].find('"')?;
            let le_text = &l[le_start..le_start + le_len];
            let le = if le_text == "+Inf" {
                f64::INFINITY
            } else {
                le_text.parse().ok()?
            };
            let count = l.rsplit(' ').next()?.trim().parse().ok()?;
            Some((le, count))
        })
        .collect()
}

/// Bucket counts of `after` minus `before` (same bucket layout).
pub fn delta(before: &[(f64, u64)], after: &[(f64, u64)]) -> Vec<(f64, u64)> {
    after
        .iter()
        .map(|&(le, n)| {
            let was = before.iter().find(|(b, _)| *b == le).map_or(0, |(_, c)| *c);
            (le, n.saturating_sub(was))
        })
        .collect()
}

/// The upper bound (ms) of the bucket holding the `p`th percentile; `None`
/// when there are no samples or it lies past the last finite bucket.
pub fn bucket_percentile_ms(cumulative: &[(f64, u64)], p: f64) -> Option<f64> {
    let total = cumulative.iter().map(|(_, n)| *n).max()?;
    if total == 0 {
        return None;
    }
    let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
    cumulative
        .iter()
        .find(|(_, n)| *n >= rank)
        .map(|(le, _)| le * 1000.0)
        .filter(|ms| ms.is_finite())
}

/// The engine's view of one direction over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineRelay {
    pub frames: u64,
    /// Upper bounds from the histogram buckets.
    pub p50_le_ms: Option<f64>,
    pub p99_le_ms: Option<f64>,
}

pub fn engine_relay(before: &str, after: &str, direction: &str) -> EngineRelay {
    let d = delta(
        &relay_buckets(before, direction),
        &relay_buckets(after, direction),
    );
    EngineRelay {
        frames: d.iter().map(|(_, n)| *n).max().unwrap_or(0),
        p50_le_ms: bucket_percentile_ms(&d, 50.0),
        p99_le_ms: bucket_percentile_ms(&d, 99.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str =
        "frontdesk_frame_relay_seconds_bucket{le=\"0.0001\",direction=\"to_model\"} 10\n\
frontdesk_frame_relay_seconds_bucket{le=\"0.001\",direction=\"to_model\"} 10\n\
frontdesk_frame_relay_seconds_bucket{le=\"+Inf\",direction=\"to_model\"} 10\n";
    const AFTER: &str =
        "frontdesk_frame_relay_seconds_bucket{le=\"0.0001\",direction=\"to_model\"} 60\n\
frontdesk_frame_relay_seconds_bucket{le=\"0.001\",direction=\"to_model\"} 108\n\
frontdesk_frame_relay_seconds_bucket{le=\"+Inf\",direction=\"to_model\"} 110\n\
frontdesk_frame_relay_seconds_bucket{le=\"0.001\",direction=\"to_caller\"} 7\n";

    #[test]
    fn window_percentiles_from_bucket_deltas() {
        let r = engine_relay(BEFORE, AFTER, "to_model");
        assert_eq!(r.frames, 100);
        assert_eq!(r.p50_le_ms, Some(0.1));
        assert_eq!(r.p99_le_ms, None);
        assert_eq!(
            bucket_percentile_ms(&[(0.001, 0), (0.002, 3)], 99.0),
            Some(2.0)
        );
        assert_eq!(engine_relay(BEFORE, BEFORE, "to_model").p50_le_ms, None);
        assert_eq!(relay_buckets(AFTER, "to_caller"), vec![(0.001, 7)]);
    }
}
