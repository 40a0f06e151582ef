//! The calls of this instance, as the webhooks and the Twilio stream reach
//! them: find the live one, or start it.

use std::sync::Arc;

use actix::{Actor, Addr};

use super::actor::{CallActor, InConversation, ShutDown};
use super::deps::CallDeps;
use super::info::CallInfo;
use super::remote_event::RemoteEvent;
use crate::recorder::ContinueNumbering;

/// How long the word that a call moved may take to reach its old instance.
const MOVED_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A call as its record stood when its instance was lost.
pub struct ResumedCall {
    pub info: CallInfo,
    pub turns: Vec<super::transcript::Turn>,
    /// Since the call started.
    pub elapsed_ms: u64,
    /// The highest stored event and turn sequence numbers.
    pub last_event: i64,
    pub last_turn: i64,
}

#[derive(Clone)]
pub struct Calls {
    deps: Arc<CallDeps>,
}

impl Calls {
    pub fn new(deps: CallDeps) -> Self {
        Calls {
            deps: Arc::new(deps),
        }
    }

    /// Whether caller audio goes to the model as it came (`pcmu`), so the
    /// stream meters and forwards it itself.
    pub fn passthrough(&self) -> bool {
        self.deps.model.codec == crate::codec::CodecMode::Passthrough
    }

    /// The live call with this CallSid, if this instance holds it.
    pub fn get(&self, call_sid: &str) -> Option<Addr<CallActor>> {
        self.deps.registry.get(call_sid)
    }

    /// The call's actor: the live one, or a new one (pre-warm on the
    /// webhook; or a stream whose webhook went to another instance).
    pub fn open(&self, info: CallInfo) -> Addr<CallActor> {
        if let Some(addr) = self.deps.registry.get(&info.call_sid) {
            return addr;
        }
        let sid = info.call_sid.clone();
        let addr = CallActor::new(self.deps.clone(), info).start();
        self.deps.registry.insert(&sid, addr.clone());
        let sessions = self.deps.sessions.clone();
        actix::spawn(async move {
            // The voice webhook may have landed on another instance, which
            // pre-warmed the call for a stream that came here: this one
            // claims the call, then tells that one to let it go (its release
            // only ever drops its own claim), so the call always has an owner.
            let other = sessions
                .owner(&sid)
                .await
                .filter(|o| o != sessions.instance_id());
            sessions.claim(&sid).await;
            if let Some(other) = other {
                if let Ok(moved) = serde_json::to_value(RemoteEvent::Moved) {
                    let _ = sessions.forward(&other, &sid, moved, MOVED_TIMEOUT).await;
                }
            }
        });
        addr
    }

    /// Takes over a call whose instance was lost (see `http::failover`):
    /// a new actor whose machine resumes the conversation from `turns`.
    /// `None` when this instance already holds the call.
    pub fn resume(&self, call: ResumedCall) -> Option<Addr<CallActor>> {
        if self.deps.registry.get(&call.info.call_sid).is_some() {
            return None;
        }
        let sid = call.info.call_sid.clone();
        // Before the actor exists, so ahead of its first record.
        self.deps.numbering.do_send(ContinueNumbering {
            call_sid: sid.clone(),
            last_event: call.last_event,
            last_turn: call.last_turn,
        });
        let addr =
            CallActor::resumed(self.deps.clone(), call.info, call.turns, call.elapsed_ms).start();
        self.deps.registry.insert(&sid, addr.clone());
        let sessions = self.deps.sessions.clone();
        actix::spawn(async move { sessions.claim(&sid).await });
        Some(addr)
    }

    /// How many of this instance's calls are in their AI conversation (not
    /// parked in the menu, a recording or a ringing transfer): what a
    /// draining instance waits for.
    pub async fn in_conversation(&self) -> usize {
        let mut n = 0;
        for call in self.deps.registry.all() {
            if call.send(InConversation).await.unwrap_or(false) {
                n += 1;
            }
        }
        n
    }

    /// Ends every call still held, with outcome `shutdown` (a drain that ran
    /// out of time).
    pub fn shut_down_all(&self) {
        for call in self.deps.registry.all() {
            call.do_send(ShutDown);
        }
    }

    /// OpenAI's REST calls (the SIP webhook accepts and rejects with them).
    pub fn openai(&self) -> &crate::sip::OpenAiCalls {
        &self.deps.openai
    }

    /// The session a call is accepted with (SIP: the `accept` body).
    pub fn session_for(&self, info: &CallInfo) -> crate::realtime::session::SessionParams {
        self.deps.session_params(info)
    }

    /// A call that never reached a `CallActor` (a SIP call refused or
    /// whose accept failed) still gets its record, opened and closed here,
    /// so the console and analytics see it.
    pub fn record_unserved(&self, info: &CallInfo, outcome: super::command::Outcome) {
        use super::command::CallRecord;
        let at = chrono::Utc::now();
        for record in [
            CallRecord::Started {
                from: info.from.clone(),
                to: info.to.clone(),
                transport: info.transport,
            },
            CallRecord::Ended { outcome },
        ] {
            self.deps.recorder.do_send(crate::recorder::RecordCall {
                call_sid: info.call_sid.clone(),
                at,
                record,
            });
        }
    }

    /// How many calls this instance holds.
    pub fn len(&self) -> usize {
        self.deps.registry.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deps.registry.is_empty()
    }
}
