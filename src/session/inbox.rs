//! Commands for a call that arrive from another instance (or, in loopback,
//! from this one), and the handle that answers them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::link::RedisLink;

/// A request published on `{ns}:inbox:{owner}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RequestEnvelope {
    pub(crate) request_id: String,
    pub(crate) call_sid: String,
    pub(crate) payload: Value,
    pub(crate) reply_channel: String,
}

/// The answer, published on the requester's reply channel. A null payload
/// means "no answer" and reads as `None` on the requesting side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ReplyEnvelope {
    pub(crate) request_id: String,
    pub(crate) payload: Option<Value>,
}

/// A command for a call this instance owns.
#[derive(Debug)]
pub struct InboxRequest {
    pub call_sid: String,
    pub payload: Value,
    pub reply: Responder,
}

/// Answers one [`InboxRequest`]. Dropping it unanswered answers `None`, so the
/// requester stops waiting at once instead of at its timeout.
pub struct Responder {
    route: Option<Route>,
}

enum Route {
    Local(oneshot::Sender<Option<Value>>),
    Remote {
        link: RedisLink,
        handle: Handle,
        channel: String,
        request_id: String,
    },
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let route = match &self.route {
            Some(Route::Local(_)) => "local",
            Some(Route::Remote { .. }) => "remote",
            None => "answered",
        };
        f.debug_struct("Responder").field("route", &route).finish()
    }
}

impl Responder {
    pub(crate) fn local(tx: oneshot::Sender<Option<Value>>) -> Self {
        Self {
            route: Some(Route::Local(tx)),
        }
    }

    pub(crate) fn remote(
        link: RedisLink,
        handle: Handle,
        channel: String,
        request_id: String,
    ) -> Self {
        Self {
            route: Some(Route::Remote {
                link,
                handle,
                channel,
                request_id,
            }),
        }
    }

    /// Sends the answer. Never blocks: a remote answer is published in the
    /// background, and a requester that gave up is not an error.
    pub fn send(mut self, answer: Option<Value>) {
        if let Some(route) = self.route.take() {
            deliver(route, answer);
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(route) = self.route.take() {
            deliver(route, None);
        }
    }
}

fn deliver(route: Route, answer: Option<Value>) {
    match route {
        Route::Local(tx) => {
            let _ = tx.send(answer);
        }
        Route::Remote {
            link,
            handle,
            channel,
            request_id,
        } => {
            let reply = ReplyEnvelope {
                request_id,
                payload: answer,
            };
            let Ok(text) = serde_json::to_string(&reply) else {
                return;
            };
            handle.spawn(async move {
                if let Err(e) = link.publish(&channel, &text).await {
                    tracing::warn!(%channel, error = %e, "could not publish a cross-instance reply");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_wire_format() {
        let env = RequestEnvelope {
            request_id: "r1".into(),
            call_sid: "CA1".into(),
            payload: json!({"cmd": "hangup"}),
            reply_channel: "frontdesk:reply:i-2".into(),
        };
        let v = serde_json::to_value(&env).unwrap();
        assert_eq!(
            v,
            json!({"request_id": "r1", "call_sid": "CA1", "payload": {"cmd": "hangup"},
                   "reply_channel": "frontdesk:reply:i-2"})
        );
        let back: RequestEnvelope = serde_json::from_value(v).unwrap();
        assert_eq!(back, env);
    }

    #[test]
    fn null_reply_reads_as_no_answer() {
        let r: ReplyEnvelope =
            serde_json::from_str(r#"{"request_id":"r","payload":null}"#).unwrap();
        assert_eq!(r.payload, None);
    }

    #[tokio::test]
    async fn local_responder_answers_and_drop_answers_none() {
        let (tx, rx) = oneshot::channel();
        Responder::local(tx).send(Some(json!(1)));
        assert_eq!(rx.await.unwrap(), Some(json!(1)));

        let (tx, rx) = oneshot::channel();
        drop(Responder::local(tx));
        assert!(rx.await.unwrap_or(None).is_none());
    }
}
