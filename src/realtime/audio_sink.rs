//! [`ModelAudioSink`]: caller audio straight into a model connection's write
//! queue, so a Twilio frame reaches the model socket with one hop (stream
//! actor -> writer task) instead of three (stream -> call -> model actor ->
//! writer). The call hands a sink to the stream while the machine forwards
//! caller audio, and takes it back when it stops.

use std::fmt;
use std::time::Instant;

use actix::{Message, Recipient};
use tokio::sync::mpsc;

use super::actor::Outgoing;
use super::events::input_audio_append_json;

/// The write queue refused a frame: the model stopped reading or its writer
/// is gone. The model actor fails the connection, as for its own writes.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct WriterStalled(pub &'static str);

/// A cheap, cloneable handle on one model connection's write queue.
#[derive(Clone)]
pub struct ModelAudioSink {
    pub(super) conn: u64,
    pub(super) tx: mpsc::Sender<Outgoing>,
    pub(super) on_stall: Recipient<WriterStalled>,
}

impl fmt::Debug for ModelAudioSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelAudioSink")
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

impl ModelAudioSink {
    /// The model connection this sink writes to.
    pub fn conn(&self) -> u64 {
        self.conn
    }

    /// Queues `input_audio_buffer.append` for a base64 payload already in
    /// the session's input format; `received` times the relay.
    pub fn append(&self, payload_b64: &str, received: Instant) {
        let text = input_audio_append_json(payload_b64);
        if let Err(e) = self.tx.try_send(Outgoing::Text(text, Some(received))) {
            let reason = match e {
                mpsc::error::TrySendError::Full(_) => {
                    "the model stopped reading (write queue full)"
                }
                mpsc::error::TrySendError::Closed(_) => "the model connection's writer is gone",
            };
            self.on_stall.do_send(WriterStalled(reason));
        }
    }
}
