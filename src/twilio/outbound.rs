//! What a call sends down its Media Stream. The stream actor turns it into
//! `media | mark | clear` frames (see [`super::media`]) or closes the socket.
//!
//! It lives here, with the wire formats, and not beside the stream actor:
//! the stream actor depends on the call (it starts it and feeds it), so a
//! call naming the stream actor's module would close a cycle.

use std::time::Instant;

use actix::Message;

#[derive(Message, Debug)]
#[rtype(result = "()")]
pub enum ToTwilio {
    /// Audio and, when one is due, the mark after it: one message, one
    /// write.
    Audio {
        payload: String,
        mark: Option<String>,
        /// When the model frame this audio relays arrived, if it is one.
        relayed_from: Option<Instant>,
    },
    Mark(String),
    Clear,
    /// Leave the stream: Twilio then requests the Connect action.
    Close,
}
