//! Where call records go. The call actor hands records over with `do_send`
//! and never waits; a sink must not block the audio path.

use actix::prelude::*;
use chrono::{DateTime, Utc};

use crate::call::CallRecord;

/// One fact about one call.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct RecordCall {
    pub call_sid: String,
    pub at: DateTime<Utc>,
    pub record: CallRecord,
}

/// Writes every record as a structured log line (target `frontdesk::record`),
/// so a deployment without a database still has a complete, greppable trail.
pub struct LogRecorder;

impl Actor for LogRecorder {
    type Context = Context<Self>;
}

impl Handler<RecordCall> for LogRecorder {
    type Result = ();
    fn handle(&mut self, msg: RecordCall, _: &mut Self::Context) {
        let payload = serde_json::to_string(&msg.record).unwrap_or_default();
        tracing::info!(target: "frontdesk::record", call_sid = %msg.call_sid, at = %msg.at.to_rfc3339(), record = %payload);
    }
}
