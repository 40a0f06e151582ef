//! What spans the call's states: the playback, the transcript, the model
//! link and its restart budget, the timer table, and three small lifecycles
//! (stream, greeting, response) kept as enums so that impossible
//! combinations of flags cannot be written down.

use super::timers::Timers;
use super::MachineConfig;
use crate::decision::Decision;
use crate::playback::{Millis, Playback};
use crate::supervision::RestartBudget;
use crate::transcript::Transcript;

/// The model connection, as far as the call is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// `session.update` sent, waiting for `session.updated`.
    Starting,
    Ready,
    /// Failed; a restart is scheduled.
    Down,
    /// Not running and not coming back (menu, transfer, ended).
    Stopped,
}

/// The Twilio media stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamLink {
    /// Not started yet (a pre-warmed call).
    Awaited,
    Up,
    /// Closed without a `stop`; Twilio may open a fresh one.
    Lost,
    /// We closed it to hand the call to TwiML.
    Left,
}

/// The greeting, which the model speaks first on the first session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Greeting {
    NotAsked,
    /// `Greet` sent; its response has not been created yet.
    Asked,
    Playing {
        response_id: String,
    },
    /// Played out, interrupted, or superseded by the conversation.
    Over,
}

/// The model's response lifecycle, as far as asking for more goes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Idle,
    /// The caller is owed a response as soon as a model can give one.
    Owed,
    /// Asked for; not created yet (a deadline runs).
    Requested,
    Active {
        response_id: String,
        /// Another response is wanted once this one is done.
        then_another: bool,
    },
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Context {
    pub(super) cfg: MachineConfig,
    pub link: Link,
    pub playback: Playback,
    pub transcript: Transcript,
    pub(super) budget: RestartBudget,
    pub(super) timers: Timers,
    pub(super) stream: StreamLink,
    pub(super) greeting: Greeting,
    pub(super) response: Response,
    /// Tool results that arrived while the model was away.
    pub(super) late_results: Vec<String>,
    /// Leave the stream once the closing words have played.
    pub(super) pending_exit: Option<Decision>,
    /// The decision the stream was left with (answers after-stream).
    pub(super) left_with: Option<Decision>,
    pub(super) recycle_pending: bool,
    pub(super) last_activity: Millis,
    pub(super) silence_nudged: bool,
    /// Every function call seen: (call id, name, arguments).
    pub(super) tool_calls: Vec<(String, String, String)>,
    /// SIP: OpenAI is playing assistant audio (between
    /// `output_audio_buffer.started` and `.stopped`).
    pub(super) sip_playing: bool,
    /// SIP: the call was referred to the fallback because the assistant
    /// could not serve it; a failed refer then ends the call.
    pub(super) sip_fallback_referred: bool,
}

impl Context {
    pub(super) fn new(cfg: MachineConfig, now: Millis) -> Context {
        Context {
            playback: Playback::new(cfg.pacing_lead_ms, cfg.barge_in_margin_ms),
            budget: RestartBudget::new(cfg.budget),
            cfg,
            link: Link::Starting,
            transcript: Transcript::default(),
            timers: Timers::default(),
            stream: StreamLink::Awaited,
            greeting: Greeting::NotAsked,
            response: Response::Idle,
            late_results: Vec::new(),
            pending_exit: None,
            left_with: None,
            recycle_pending: false,
            last_activity: now,
            silence_nudged: false,
            tool_calls: Vec::new(),
            sip_playing: false,
            sip_fallback_referred: false,
        }
    }

    /// The model is speaking, or about to: a response is active, asked for,
    /// or owed.
    pub(super) fn model_busy(&self) -> bool {
        self.response != Response::Idle
    }

    pub(super) fn response_active(&self) -> Option<&str> {
        match &self.response {
            Response::Active { response_id, .. } => Some(response_id),
            _ => None,
        }
    }

    /// Is assistant audio still to be heard: unplayed in our playback
    /// (Twilio) or playing at OpenAI (SIP)?
    pub(super) fn unplayed(&self) -> bool {
        self.playback.has_unplayed() || self.sip_playing
    }

    pub(super) fn sip(&self) -> bool {
        self.cfg.transport == crate::transport::Transport::Sip
    }

    pub(super) fn stream_up(&self) -> bool {
        self.stream == StreamLink::Up
    }

    pub(super) fn arguments_of(&self, call_id: &str) -> String {
        self.tool_calls
            .iter()
            .find(|(c, _, _)| c == call_id)
            .map(|(_, _, a)| a.clone())
            .unwrap_or_default()
    }

    pub(super) fn name_of(&self, call_id: &str) -> String {
        self.tool_calls
            .iter()
            .find(|(c, _, _)| c == call_id)
            .map(|(_, n, _)| n.clone())
            .unwrap_or_default()
    }
}
