//! A call whose instance was lost. When the instance holding a call's
//! stream dies (a crash, `kill -9`, a lost host), Twilio notices the socket
//! close and asks the `<Connect action>` what next — and the load balancer
//! sends that request to an instance that is alive. If no live instance
//! holds the call and its stored record is still open, this one takes it
//! over: a new actor resumes the conversation from the stored transcript
//! (what the dead instance's recorder had flushed) and the answer is a fresh
//! `<Connect><Stream>`, so the caller hears "sorry, where were we" instead
//! of the menu.

use super::render::{self, TwimlRenderer};
use crate::call::transcript::{Speaker, Turn};
use crate::call::{CallInfo, Calls, ResumedCall};
use crate::session::SessionStore;
use crate::store::Store;
use crate::tools::caller::recognise;

/// Why a call was not taken over (logged; the caller then gets the menu).
#[derive(Debug, thiserror::Error)]
pub enum NotTaken {
    #[error("instance {0} still holds the call")]
    OwnerAlive(String),
    #[error("cannot tell whether instance {0} is alive (session store unreachable)")]
    OwnerUnknown(String),
    #[error("no stored record of the call")]
    NotStored,
    #[error("the call is over on record")]
    Ended,
    #[error("the stored record cannot be read: {0}")]
    Store(String),
    #[error("this instance already holds the call")]
    AlreadyHere,
}

/// Takes the call over and returns the TwiML that reconnects its stream.
pub async fn take_over(
    sessions: &SessionStore,
    store: &Store,
    calls: &Calls,
    twiml: &TwimlRenderer,
    call_sid: &str,
) -> Result<String, NotTaken> {
    if let Some(owner) = sessions.owner(call_sid).await {
        if owner != sessions.instance_id() {
            match sessions.is_listening(&owner).await {
                Some(false) => {}
                Some(true) => return Err(NotTaken::OwnerAlive(owner)),
                None => return Err(NotTaken::OwnerUnknown(owner)),
            }
        }
    }
    let detail = store
        .call_detail(call_sid)
        .await
        .map_err(|e| NotTaken::Store(e.to_string()))?
        .ok_or(NotTaken::NotStored)?;
    if detail.call.ended_at.is_some() {
        return Err(NotTaken::Ended);
    }
    let turns: Vec<Turn> = detail
        .transcript
        .iter()
        .filter_map(|t| {
            let speaker = match t.speaker.as_str() {
                "caller" => Speaker::Caller,
                "assistant" => Speaker::Assistant,
                _ => return None,
            };
            Some(Turn {
                speaker,
                text: t.text.clone(),
                item_id: String::new(),
            })
        })
        .collect();
    let elapsed_ms = (chrono::Utc::now() - detail.call.started_at)
        .num_milliseconds()
        .max(0) as u64;
    let mut info = CallInfo {
        call_sid: call_sid.to_string(),
        from: detail.call.from_number.clone(),
        to: detail.call.to_number.clone(),
        known: None,
        transport: frontdesk_core::Transport::Twilio,
    };
    info.known = recognise(store, &twiml.business, &info.from).await;
    let answer = render::connect_stream(twiml, &info.call_sid, &info.from, &info.to);
    let turns_count = turns.len();
    let last = |seqs: &mut dyn Iterator<Item = i64>| seqs.max().unwrap_or(0);
    let resumed = ResumedCall {
        info,
        turns,
        elapsed_ms,
        last_event: last(&mut detail.timeline.iter().map(|e| e.seq)),
        last_turn: last(&mut detail.transcript.iter().map(|t| t.seq)),
    };
    calls.resume(resumed).ok_or(NotTaken::AlreadyHere)?;
    tracing::warn!(
        call_sid,
        turns = turns_count,
        elapsed_ms,
        "took over a call from a lost instance"
    );
    Ok(answer)
}
