//! What the call's record says about a voicemail: who called, and which
//! department the caller was sent to voicemail for.

use std::time::Duration;

use crate::store::{CallDetail, Store, StoreError};

/// The recorder writes in batches (every 200 ms); a recording callback that
/// follows the `<Record>` closely may arrive before the call's decision is
/// written, so the lookup waits this long for it at most.
pub const RECORD_GRACE: Duration = Duration::from_millis(1500);
const POLL: Duration = Duration::from_millis(250);

/// The voicemail's call, as far as it is known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFacts {
    /// The caller's number; `None` when the call is not in the store.
    pub from: Option<String>,
    /// The department of the call's last voicemail decision.
    pub department: Option<String>,
    /// Whether the call has a voicemail decision at all.
    pub decided: bool,
}

impl CallFacts {
    pub fn of(detail: &CallDetail) -> Self {
        let mut facts = CallFacts {
            from: Some(detail.call.from_number.clone()).filter(|f| !f.is_empty()),
            ..CallFacts::default()
        };
        for event in detail.timeline.iter().filter(|e| e.kind == "decision") {
            let p = &event.payload;
            // The record nests the decision's fields beside its own tag
            // (`{"kind":"voicemail","department":…}`); a `decision` object is
            // accepted too, so a change of that shape does not lose the department.
            let decision = p.get("decision").filter(|d| d.is_object()).unwrap_or(p);
            if decision.get("kind").and_then(|k| k.as_str()) == Some("voicemail") {
                facts.decided = true;
                facts.department = decision
                    .get("department")
                    .and_then(|d| d.as_str())
                    .map(str::to_owned);
            }
        }
        facts
    }
}

/// Reads the call's facts, waiting up to `grace` for its voicemail decision
/// to be written.
pub async fn lookup(
    store: &Store,
    call_sid: &str,
    grace: Duration,
) -> Result<CallFacts, StoreError> {
    let deadline = tokio::time::Instant::now() + grace;
    loop {
        let facts = store
            .call_detail(call_sid)
            .await?
            .map(|d| CallFacts::of(&d))
            .unwrap_or_default();
        if facts.decided || tokio::time::Instant::now() >= deadline {
            return Ok(facts);
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CallSummary, TimelineEvent, Usage};
    use serde_json::json;

    fn detail(events: Vec<serde_json::Value>) -> CallDetail {
        let at = chrono::Utc::now();
        CallDetail {
            call: CallSummary {
                call_sid: "CA1".into(),
                business_number: "+15551230000".into(),
                from_number: "+15005550006".into(),
                to_number: "+15551230000".into(),
                transport: "twilio".into(),
                started_at: at,
                ended_at: None,
                outcome: None,
                failure_reason: None,
                usage: Usage::default(),
            },
            timeline: events
                .into_iter()
                .enumerate()
                .map(|(i, payload)| TimelineEvent {
                    seq: i as i64 + 1,
                    kind: payload["event"].as_str().unwrap_or("decision").to_owned(),
                    payload,
                    at,
                })
                .collect(),
            transcript: vec![],
            tools: vec![],
            usage_by_response: vec![],
            messages: vec![],
            voicemails: vec![],
        }
    }

    #[test]
    fn the_last_voicemail_decision_names_the_department() {
        let d = detail(vec![
            json!({"kind": "transfer", "department": "Billing", "number": "+1"}),
            json!({"kind": "voicemail", "department": "Billing"}),
            json!({"kind": "hangup", "farewell": "message_taken"}),
        ]);
        let f = CallFacts::of(&d);
        assert_eq!(f.department.as_deref(), Some("Billing"));
        assert_eq!(f.from.as_deref(), Some("+15005550006"));
        assert!(f.decided);
    }

    #[test]
    fn a_general_voicemail_has_no_department() {
        let f = CallFacts::of(&detail(vec![
            json!({"kind": "voicemail", "department": null}),
        ]));
        assert!(f.decided);
        assert_eq!(f.department, None);
        let f = CallFacts::of(&detail(vec![json!({"kind": "menu", "prompt": "welcome"})]));
        assert!(!f.decided);
    }

    #[test]
    fn a_nested_decision_is_understood() {
        let f = CallFacts::of(&detail(vec![
            json!({"kind": "decision", "decision": {"kind": "voicemail", "department": "Front desk"}}),
        ]));
        assert_eq!(f.department.as_deref(), Some("Front desk"));
    }

    #[test]
    fn other_events_are_ignored() {
        let f = CallFacts::of(&detail(vec![
            json!({"event": "transition", "kind": "voicemail", "department": "X"}),
        ]));
        assert!(!f.decided);
    }

    #[tokio::test]
    async fn an_unknown_call_is_waited_for_then_reported_unknown() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let started = std::time::Instant::now();
        let f = lookup(&store, "CA404", Duration::from_millis(300))
            .await
            .unwrap();
        assert_eq!(f, CallFacts::default());
        assert!(started.elapsed() >= Duration::from_millis(250));
    }
}
