//! The `CallActor` on OpenAI's SIP connector: the sideband socket in place
//! of a model connection of our own, OpenAI's REST calls for the machine's
//! `Sip` commands, and the sideband events that only SIP calls have. The
//! machine decides; this only carries out.

use actix::prelude::*;

use super::CallActor;
use crate::realtime::actor::ModelLinkSpec;
use crate::realtime::session::{sip_session_update_json, SessionParams};
use frontdesk_core::{Event, SipCommand};

/// What OpenAI answered to a REST call the machine asked for, as an event.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SipAnswer(pub Event);

/// The sideband socket: the same Realtime socket, opened with the call's id
/// (again on every restart: OpenAI keeps the call while we reconnect) and
/// a `session.update` without audio formats.
pub(super) fn sideband_spec(
    act: &CallActor,
    params: &SessionParams,
    replay: Vec<String>,
) -> ModelLinkSpec {
    ModelLinkSpec {
        url: crate::sip::sideband_url(&act.deps.model.url, &act.info.call_sid),
        api_key: act.deps.model.api_key.clone(),
        session_update: sip_session_update_json(params),
        replay,
    }
}

/// `output_audio_buffer.*`: OpenAI playing the assistant's audio or not.
pub(super) fn output_audio(kind: &str) -> Option<bool> {
    match kind {
        "output_audio_buffer.started" => Some(true),
        "output_audio_buffer.stopped" | "output_audio_buffer.cleared" => Some(false),
        _ => None,
    }
}

/// A sideband socket closed by OpenAI with a normal close (1000) means the
/// call is over (the caller hung up, or a refer took it); anything else is
/// a drop to recover from.
pub(super) fn call_is_over(reason: &str) -> bool {
    reason.starts_with("model closed the connection (1000")
}

pub(super) fn execute(act: &mut CallActor, cmd: SipCommand, ctx: &mut Context<CallActor>) {
    let openai = act.deps.openai.clone();
    let call_id = act.info.call_sid.clone();
    let me = ctx.address();
    let in_flight = openai.begin();
    match cmd {
        SipCommand::Refer { target_uri } => {
            tracing::info!(call_sid = %call_id, target = %crate::logmask::mask_phone(&target_uri), "referring the SIP call");
            actix::spawn(async move {
                let _in_flight = in_flight;
                // The refer's answer is the transfer's dial outcome.
                let status = match openai.refer(&call_id, &target_uri).await {
                    Ok(()) => "completed",
                    Err(e) => {
                        tracing::warn!(call_sid = %call_id, error = %e, "refer failed");
                        "failed"
                    }
                };
                me.do_send(SipAnswer(Event::DialFinished {
                    status: status.into(),
                }));
            });
        }
        SipCommand::Hangup => {
            tracing::info!(call_sid = %call_id, "hanging up the SIP call");
            actix::spawn(async move {
                let _in_flight = in_flight;
                if let Err(e) = openai.hangup(&call_id).await {
                    // The call is over on our side either way; a failed
                    // hangup means OpenAI already ended it.
                    tracing::warn!(call_sid = %call_id, error = %e, "hangup failed");
                }
            });
        }
    }
}
