//! Turning call records into database rows, numbering each call's events and
//! transcript turns gap-free (the database checks the numbering).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::store::RecordRow;
use frontdesk_core::command::Outcome;
use frontdesk_core::CallRecord;

#[derive(Default)]
struct Seqs {
    event: i64,
    turn: i64,
    /// The typed reason a transfer failed, stored on the call at its end.
    failure: Option<String>,
}

/// Per-call counters for the calls in flight.
#[derive(Default)]
pub struct Numbering {
    calls: HashMap<String, Seqs>,
}

fn outcome_name(o: Outcome) -> String {
    serde_json::to_value(o)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{o:?}"))
}

impl Numbering {
    /// The rows for one record, in the order they must be written.
    pub fn rows(
        &mut self,
        call_sid: &str,
        at: DateTime<Utc>,
        record: CallRecord,
    ) -> Vec<RecordRow> {
        let seqs = self.calls.entry(call_sid.to_string()).or_default();
        let call_sid = call_sid.to_string();
        let mut event = |kind: &str, payload: String| {
            seqs.event += 1;
            RecordRow::Event {
                call_sid: call_sid.clone(),
                seq: seqs.event,
                kind: kind.to_string(),
                payload,
                at,
            }
        };
        let json = |v: &CallRecord| serde_json::to_string(v).unwrap_or_else(|_| "{}".into());
        let rows = match &record {
            CallRecord::Started {
                from,
                to,
                transport,
            } => vec![
                RecordRow::CallStarted {
                    call_sid: call_sid.clone(),
                    transport: transport.as_str().to_string(),
                    business_number: to.clone(),
                    from_number: from.clone(),
                    to_number: to.clone(),
                    started_at: at,
                },
                event("started", json(&record)),
            ],
            CallRecord::Transition { .. } => vec![event("transition", json(&record))],
            CallRecord::ModelRestart { .. } => vec![event("model_restart", json(&record))],
            CallRecord::ModelError { .. } => vec![event("model_error", json(&record))],
            CallRecord::Decision(_) => vec![event("decision", json(&record))],
            CallRecord::TransferFailed { status, .. } => {
                let row = event("transfer_failed", json(&record));
                seqs.failure = Some(format!("transfer_{}", status.replace('-', "_")));
                vec![row]
            }
            CallRecord::Usage(u) => vec![RecordRow::Usage {
                call_sid: call_sid.clone(),
                response_id: u.response_id.clone(),
                input_tokens: u.input_tokens as i64,
                output_tokens: u.output_tokens as i64,
                input_audio_tokens: u.input_audio_tokens as i64,
                output_audio_tokens: u.output_audio_tokens as i64,
                cached_tokens: u.cached_tokens as i64,
                at,
            }],
            CallRecord::Turn(t) => {
                seqs.turn += 1;
                vec![RecordRow::Turn {
                    call_sid: call_sid.clone(),
                    seq: seqs.turn,
                    speaker: serde_json::to_value(t.speaker)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    text: t.text.clone(),
                    at,
                }]
            }
            CallRecord::Tool {
                call_id,
                name,
                arguments,
                output,
                latency_ms,
            } => vec![RecordRow::Tool {
                call_sid: call_sid.clone(),
                tool_call_id: call_id.clone(),
                name: name.clone(),
                arguments: arguments.clone(),
                result: output.clone(),
                latency_ms: *latency_ms as i64,
                at,
            }],
            CallRecord::Ended { outcome } => {
                let failure_reason = seqs.failure.take();
                let rows = vec![
                    event("ended", json(&record)),
                    RecordRow::CallEnded {
                        call_sid: call_sid.clone(),
                        ended_at: at,
                        outcome: outcome_name(*outcome),
                        failure_reason,
                    },
                ];
                self.calls.remove(&call_sid);
                return rows;
            }
        };
        rows
    }

    /// Numbers the call's next event and turn after `last_event` and
    /// `last_turn` (a call resumed from another instance's records).
    pub fn continue_after(&mut self, call_sid: &str, last_event: i64, last_turn: i64) {
        let seqs = self.calls.entry(call_sid.to_string()).or_default();
        seqs.event = seqs.event.max(last_event);
        seqs.turn = seqs.turn.max(last_turn);
    }

    /// Calls with records in flight.
    pub fn open_calls(&self) -> usize {
        self.calls.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontdesk_core::transcript::{Speaker, Turn};

    #[test]
    fn a_resumed_call_numbers_after_what_is_on_record() {
        let mut n = Numbering::default();
        n.continue_after("CA1", 7, 3);
        let at = Utc::now();
        let t = n.rows(
            "CA1",
            at,
            CallRecord::Turn(Turn {
                speaker: Speaker::Caller,
                text: "hello again".into(),
                item_id: String::new(),
            }),
        );
        assert!(matches!(t[0], RecordRow::Turn { seq: 4, .. }));
        let e = n.rows(
            "CA1",
            at,
            CallRecord::Ended {
                outcome: Outcome::CallerHungUp,
            },
        );
        assert!(matches!(e[0], RecordRow::Event { seq: 8, .. }));
    }

    #[test]
    fn events_and_turns_are_numbered_per_call_without_gaps() {
        let mut n = Numbering::default();
        let at = Utc::now();
        let started = n.rows(
            "CA1",
            at,
            CallRecord::Started {
                transport: frontdesk_core::Transport::Twilio,
                from: "+1".into(),
                to: "+2".into(),
            },
        );
        assert!(matches!(started[0], RecordRow::CallStarted { .. }));
        assert!(matches!(started[1], RecordRow::Event { seq: 1, .. }));
        let t = n.rows(
            "CA1",
            at,
            CallRecord::Transition {
                from: "a",
                to: "b",
                cause: frontdesk_core::Cause::HangupRequested { reason: "x".into() },
            },
        );
        assert!(matches!(t[0], RecordRow::Event { seq: 2, .. }));
        let other = n.rows(
            "CA2",
            at,
            CallRecord::Transition {
                from: "a",
                to: "b",
                cause: frontdesk_core::Cause::HangupRequested { reason: "x".into() },
            },
        );
        assert!(matches!(other[0], RecordRow::Event { seq: 1, .. }));
        let turn = Turn {
            speaker: Speaker::Caller,
            text: "hi".into(),
            item_id: "i".into(),
        };
        assert!(
            matches!(&n.rows("CA1", at, CallRecord::Turn(turn.clone()))[0], RecordRow::Turn { seq: 1, speaker, .. } if speaker == "caller")
        );
        assert!(matches!(
            n.rows("CA1", at, CallRecord::Turn(turn))[0],
            RecordRow::Turn { seq: 2, .. }
        ));
        let end = n.rows(
            "CA1",
            at,
            CallRecord::Ended {
                outcome: Outcome::CallerHungUp,
            },
        );
        assert!(matches!(end[0], RecordRow::Event { seq: 3, .. }));
        assert!(
            matches!(&end[1], RecordRow::CallEnded { outcome, .. } if outcome == "caller_hung_up")
        );
        assert_eq!(n.open_calls(), 1);
    }
}
