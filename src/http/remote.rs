//! Webhooks for calls held by another instance. Twilio may send a call's
//! webhooks to any instance behind the load balancer; the one that does not
//! hold the call forwards the event through the session store to the owner,
//! which answers with the call's decision.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::call::actor::{MovedElsewhere, Webhook};
use crate::call::{Calls, Decision, Event, RemoteEvent};
use crate::session::{InboxRequest, SessionStore};

/// Twilio gives a webhook 15 s; the owner answers in milliseconds, so this
/// only bounds how long a lost instance can hold the caller in silence.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(3);

/// Asks the instance that holds `call_sid` (if another one does).
pub async fn ask_owner(sessions: &SessionStore, call_sid: &str, event: &Event) -> Option<Decision> {
    let owner = sessions.owner(call_sid).await?;
    if owner == sessions.instance_id() {
        return None; // ours, but the actor is gone
    }
    let payload = serde_json::to_value(RemoteEvent::from_event(event)?).ok()?;
    match sessions
        .forward(&owner, call_sid, payload, FORWARD_TIMEOUT)
        .await
    {
        Ok(Some(answer)) => match serde_json::from_value::<Option<Decision>>(answer) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(call_sid, %owner, error = %e, "unreadable answer from the owning instance");
                None
            }
        },
        Ok(None) => {
            tracing::warn!(call_sid, %owner, "the owning instance did not answer in time");
            None
        }
        Err(e) => {
            tracing::warn!(call_sid, %owner, error = %e, "could not reach the owning instance");
            None
        }
    }
}

/// Answers other instances' requests for the calls held here.
pub async fn serve_inbox(calls: Calls, mut inbox: mpsc::Receiver<InboxRequest>) {
    while let Some(req) = inbox.recv().await {
        let calls = calls.clone();
        actix::spawn(async move {
            let event = match serde_json::from_value::<RemoteEvent>(req.payload) {
                Ok(e) => e.into_event(),
                Err(e) => {
                    tracing::warn!(call_sid = %req.call_sid, error = %e, "malformed forwarded webhook");
                    return req.reply.send(None);
                }
            };
            let call = calls.get(&req.call_sid);
            let decision = match (call, event) {
                (Some(call), Some(event)) => call.send(Webhook(event)).await.ok().flatten(),
                (Some(call), None) => {
                    call.do_send(MovedElsewhere);
                    None
                }
                (None, _) => None,
            };
            let answer = decision.and_then(|d| serde_json::to_value(Some(d)).ok());
            req.reply.send(answer);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_between_instances() {
        for e in [
            Event::AfterStream,
            Event::MenuInput {
                digits: Some("1".into()),
                speech: None,
                operator_open: true,
            },
            Event::DialFinished {
                status: "busy".into(),
            },
            Event::RecordingFinished,
            Event::CallEnded {
                status: "no-answer".into(),
            },
        ] {
            let wire = serde_json::to_string(&RemoteEvent::from_event(&e).unwrap()).unwrap();
            let back: RemoteEvent = serde_json::from_str(&wire).unwrap();
            assert_eq!(back.into_event(), Some(e));
        }
        assert!(RemoteEvent::from_event(&Event::SpeechStarted).is_none());
        let moved: RemoteEvent = serde_json::from_str(r#"{"kind":"moved"}"#).unwrap();
        assert_eq!(moved.into_event(), None);
    }
}
