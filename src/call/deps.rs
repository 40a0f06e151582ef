//! What a call is given when it starts. Built once at start-up
//! (`app::launch`) and shared by every call of the instance; each field is
//! something the call itself uses — nothing here is for anyone else.

use std::sync::Arc;

use actix::Recipient;

use super::info::CallInfo;
use super::registry::CallRegistry;
use super::MachineConfig;
use crate::config::BusinessConfig;
use crate::instructions::{greeting_instructions, session_instructions, CallerContext};
use crate::metrics::Metrics;
use crate::realtime::session::SessionParams;
use crate::recorder::{ContinueNumbering, RecordCall};
use crate::session::SessionStore;
use crate::tools::ToolRunner;

use super::model_setup::ModelSetup;

pub struct CallDeps {
    /// The machine's knobs.
    pub machine: MachineConfig,
    /// How to reach the model and what session to ask for.
    pub model: ModelSetup,
    /// The business: the greeting, the instructions, the operator's hours.
    pub business: Arc<BusinessConfig>,
    /// The receptionist's tools, with the services they use.
    pub tools: ToolRunner,
    /// Where call records go (the recorder actor, on its own thread).
    pub recorder: Recipient<RecordCall>,
    /// The same recorder, for a call taken over from a lost instance.
    pub numbering: Recipient<ContinueNumbering>,
    /// Where flight-record chunks go (the recorder too); `None` records none.
    pub flight: Option<crate::flight::log::ChunkSink>,
    /// Call ownership across instances: claimed at start, released at stop.
    pub sessions: SessionStore,
    /// The calls of this instance; a call takes itself out when it stops.
    pub registry: Arc<CallRegistry>,
    pub metrics: Arc<Metrics>,
    /// Base64 of the "one moment, please" clip, ready to send.
    pub hold_clip: String,
    /// OpenAI's REST calls for SIP calls (refer, hangup; accept/reject in
    /// the webhook).
    pub openai: crate::sip::OpenAiCalls,
    /// SIP: where a call the assistant cannot serve is referred; `None`:
    /// the operator.
    pub sip_fallback: Option<frontdesk_core::Transfer>,
}

impl CallDeps {
    /// The model session for this call: the configured one, with
    /// instructions that name the caller and the time.
    pub fn session_params(&self, info: &CallInfo) -> SessionParams {
        self.model.session(session_instructions(
            &self.business,
            &CallerContext {
                from: info.from.clone(),
                now: chrono::Utc::now(),
                known: info.known.clone(),
            },
        ))
    }

    /// The instructions of the greeting response.
    /// The machine for this call's transport.
    pub fn machine_for(&self, info: &CallInfo) -> MachineConfig {
        MachineConfig {
            transport: info.transport,
            sip_fallback: self.sip_fallback.clone(),
            ..self.machine.clone()
        }
    }

    pub fn greeting(&self, info: &CallInfo) -> String {
        greeting_instructions(&self.business, &info.from, info.known.as_ref())
    }

    /// Is the operator's department open right now?
    pub fn operator_open_now(&self) -> bool {
        crate::business::hours::operator_open_at(&self.business, chrono::Utc::now())
    }
}
