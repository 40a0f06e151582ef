//! Who is calling, as the webhook or the stream's parameters tell it.

use crate::store::KnownCaller;
use frontdesk_core::Transport;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    pub call_sid: String,
    pub from: String,
    pub to: String,
    /// The contact matching `from`, looked up when the call comes in.
    pub known: Option<KnownCaller>,
    /// Twilio Media Streams, or OpenAI's SIP connector (then `call_sid` is
    /// OpenAI's `call_id`).
    pub transport: Transport,
}
