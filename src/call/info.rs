//! Who is calling, as the webhook or the stream's parameters tell it.

use crate::store::KnownCaller;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    pub call_sid: String,
    pub from: String,
    pub to: String,
    /// The contact matching `from`, looked up when the call comes in.
    pub known: Option<KnownCaller>,
}
