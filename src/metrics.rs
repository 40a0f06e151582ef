//! Prometheus metrics (`GET /metrics`): what an operator watches.

use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionLabel {
    /// `to_model` (caller audio) or `to_caller` (model audio).
    pub direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    /// `twilio` or `model`.
    pub source: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub active_calls: Gauge<i64, AtomicI64>,
    pub calls: Family<OutcomeLabel, Counter>,
    pub model_restarts: Counter,
    pub menu_fallbacks: Counter,
    pub malformed_frames: Family<SourceLabel, Counter>,
    pub unexpected_events: Counter,
    pub signature_failures: Counter,
    pub frame_relay: Family<DirectionLabel, Histogram>,
    /// The two series of `frame_relay`, resolved once: observing one per
    /// frame then costs no label hash and no lock.
    relay_to_model: Histogram,
    relay_to_caller: Histogram,
    pub greeting_latency: Histogram,
    /// Calls moved to their Twilio stream's thread (`call::actor::moving`).
    pub calls_moved: Counter,
    /// Streams taken by a call on another thread, which could not move.
    pub calls_split: Counter,
}

/// Relay latency buckets: tens of microseconds to tens of milliseconds.
fn relay_buckets() -> impl Iterator<Item = f64> {
    [
        0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
    ]
    .into_iter()
}

/// Greeting latency: from stream start to the first audio sent to the caller.
fn greeting_buckets() -> impl Iterator<Item = f64> {
    [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0].into_iter()
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("frontdesk");
        let active_calls = Gauge::<i64, AtomicI64>::default();
        let calls = Family::<OutcomeLabel, Counter>::default();
        let model_restarts = Counter::default();
        let menu_fallbacks = Counter::default();
        let malformed_frames = Family::<SourceLabel, Counter>::default();
        let unexpected_events = Counter::default();
        let signature_failures = Counter::default();
        let frame_relay = Family::<DirectionLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(relay_buckets())
        });
        let relay_series = |direction| {
            frame_relay
                .get_or_create(&DirectionLabel { direction })
                .clone()
        };
        let relay_to_model = relay_series("to_model");
        let relay_to_caller = relay_series("to_caller");
        let greeting_latency = Histogram::new(greeting_buckets());
        let calls_moved = Counter::default();
        let calls_split = Counter::default();
        registry.register(
            "calls_split",
            "Streams taken by a call on another worker thread that could not move there",
            calls_split.clone(),
        );
        registry.register(
            "calls_moved",
            "Calls moved to the worker thread of their Twilio stream",
            calls_moved.clone(),
        );
        registry.register("active_calls", "Calls in progress", active_calls.clone());
        registry.register("calls", "Finished calls by outcome", calls.clone());
        registry.register(
            "model_restarts",
            "Model connections restarted after a failure",
            model_restarts.clone(),
        );
        registry.register(
            "menu_fallbacks",
            "Calls sent to the DTMF menu because the model was unavailable",
            menu_fallbacks.clone(),
        );
        registry.register(
            "malformed_frames",
            "Frames that could not be understood",
            malformed_frames.clone(),
        );
        registry.register(
            "unexpected_events",
            "Events a call state did not expect",
            unexpected_events.clone(),
        );
        registry.register(
            "signature_failures",
            "Twilio requests rejected for a bad signature",
            signature_failures.clone(),
        );
        registry.register(
            "frame_relay_seconds",
            "Time from receiving an audio frame to handing it to the other leg",
            frame_relay.clone(),
        );
        registry.register(
            "greeting_latency_seconds",
            "Time from stream start to the first greeting audio sent",
            greeting_latency.clone(),
        );
        Metrics {
            registry,
            active_calls,
            calls,
            model_restarts,
            menu_fallbacks,
            malformed_frames,
            unexpected_events,
            signature_failures,
            frame_relay,
            relay_to_model,
            relay_to_caller,
            greeting_latency,
            calls_moved,
            calls_split,
        }
    }

    pub fn observe_relay(&self, direction: &'static str, d: Duration) {
        match direction {
            "to_model" => self.relay_to_model.observe(d.as_secs_f64()),
            "to_caller" => self.relay_to_caller.observe(d.as_secs_f64()),
            other => self
                .frame_relay
                .get_or_create(&DirectionLabel { direction: other })
                .observe(d.as_secs_f64()),
        }
    }

    pub fn malformed(&self, source: &'static str) {
        self.malformed_frames
            .get_or_create(&SourceLabel { source })
            .inc();
    }

    pub fn call_ended(&self, outcome: &str) {
        self.calls
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family() {
        let m = Metrics::new();
        m.active_calls.inc();
        m.call_ended("completed");
        m.model_restarts.inc();
        m.menu_fallbacks.inc();
        m.malformed("twilio");
        m.observe_relay("to_model", Duration::from_micros(80));
        m.greeting_latency.observe(0.002);
        let text = m.render();
        for needle in [
            "frontdesk_active_calls 1",
            "frontdesk_calls_total{outcome=\"completed\"} 1",
            "frontdesk_model_restarts_total 1",
            "frontdesk_menu_fallbacks_total 1",
            "frontdesk_malformed_frames_total{source=\"twilio\"} 1",
            "frontdesk_frame_relay_seconds_bucket{le=\"0.0001\",direction=\"to_model\"} 1",
            "frontdesk_greeting_latency_seconds_count 1",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}
