//! Flight-record chunks (`crate::flight`): encoded here, on the recorder's
//! thread, so the call only ever pushes fixed-size entries; then written,
//! spilled and retried like every other row.

use actix::prelude::*;

use super::Recorder;
use crate::flight::{encode_chunk, Chunk};
use crate::store::RecordRow;

impl Handler<Chunk> for Recorder {
    type Result = ();
    fn handle(&mut self, msg: Chunk, ctx: &mut Self::Context) {
        let row = RecordRow::Inputs {
            call_sid: msg.call_sid.clone(),
            chunk: msg.chunk as i64,
            body: crate::privacy::flight::redact_record(
                &self.redaction.redactor(),
                &encode_chunk(&msg),
            ),
            at: chrono::Utc::now(),
        };
        tracing::debug!(target: "frontdesk::record", call_sid = %msg.call_sid, row = "inputs", steps = msg.steps.len(), "record received");
        self.enqueue(vec![row]);
        if self.memory.len() >= super::BATCH_ROWS {
            self.flush(ctx);
        }
    }
}
