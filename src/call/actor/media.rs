//! The call's per-frame media paths, kept apart from its control logic.
//!
//! Caller -> model (`pcmu` passthrough): the Twilio stream actor meters the
//! frame and writes it into the model connection's queue itself; the call
//! only tells the stream where to (a [`ModelAudioSink`]) whenever the
//! machine starts or stops forwarding, or the connection changes.
//! `pcm24k`: the stream sends frames straight to the codec, which writes
//! the transcoded audio into the same queue (one hop more).
//!
//! Model -> caller: the model socket's read half is polled in the call's
//! own context (no hop through the model actor), and a chunk of audio and
//! the mark after it leave as one `ToTwilio::Audio` message, so the stream
//! writes both with one flush.

use std::time::Instant;

use actix::{AsyncContext, Handler, Recipient, StreamHandler};
use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll};

use futures_util::{Stream, StreamExt};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use super::moving::FrameSlot;
use super::{CallActor, Command, Context, TwilioCommand};
use crate::codec::CallerFrame;
use crate::codec::RouteToModel;
use crate::realtime::actor::{read_signal, ModelReader, ModelSignal};
use crate::realtime::audio_sink::ModelAudioSink;
use crate::twilio::ToTwilio;

/// Where caller audio goes (`pcmu` passthrough only): straight into the
/// model connection's write queue, or nowhere while the call does not
/// forward it. Sent to the stream by the call whenever that changes; it
/// lives here, with its sender, because the stream depends on the call.
#[derive(actix::Message, Debug)]
#[rtype(result = "()")]
pub struct RouteCallerAudio(pub Option<ModelAudioSink>);

/// `pcm24k`: caller frames go straight to the call's codec.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct RouteCallerFrames(pub Recipient<CallerFrame>);

/// Which model connection the stream (`pcmu`) or the codec (`pcm24k`)
/// writes caller audio to.
#[derive(Default)]
pub(super) struct CallerRoute {
    stream: Option<Recipient<RouteCallerAudio>>,
    codec: Option<Recipient<RouteToModel>>,
    /// The sink of the newest model connection.
    sink: Option<ModelAudioSink>,
    /// The connection the stream was last told to write to.
    routed: Option<u64>,
}

impl CallerRoute {
    pub(super) fn stream_attached(&mut self, stream: Recipient<RouteCallerAudio>) {
        self.stream = Some(stream);
        self.routed = None;
    }

    pub(super) fn stream_gone(&mut self) {
        self.stream = None;
        self.routed = None;
    }

    pub(super) fn codec_started(&mut self, codec: Recipient<RouteToModel>) {
        self.codec = Some(codec);
    }

    pub(super) fn model_started(&mut self, sink: ModelAudioSink) {
        self.sink = Some(sink);
    }

    /// The sink of connection `conn`, if it is the newest.
    pub(super) fn sink(&self, conn: u64) -> Option<&ModelAudioSink> {
        self.sink.as_ref().filter(|s| s.conn() == conn)
    }

    /// Tells the stream (and the codec, in `pcm24k`) about a change of
    /// destination; a no-op otherwise.
    fn route(&mut self, want: Option<u64>) {
        if want == self.routed {
            return;
        }
        let Some(stream) = &self.stream else {
            return;
        };
        let sink = want.and_then(|conn| self.sink(conn)).cloned();
        self.routed = sink.as_ref().map(ModelAudioSink::conn);
        if let Some(codec) = &self.codec {
            codec.do_send(RouteToModel(sink.clone()));
        }
        stream.do_send(RouteCallerAudio(sink));
    }
}

impl CallActor {
    /// Executes a step's commands, pairing each chunk of model audio with
    /// the mark that follows it.
    pub(super) fn execute_all(&mut self, commands: Vec<Command>, ctx: &mut Context<Self>) {
        let mut commands = commands.into_iter().peekable();
        while let Some(command) = commands.next() {
            let Command::Twilio(TwilioCommand::Media(payload)) = command else {
                self.execute(command, ctx);
                continue;
            };
            let mark =
                match commands.next_if(|c| matches!(c, Command::Twilio(TwilioCommand::Mark(_)))) {
                    Some(Command::Twilio(TwilioCommand::Mark(name))) => Some(name),
                    _ => None,
                };
            self.send_audio(payload, mark);
        }
        self.sync_caller_route();
    }

    pub(super) fn send_audio(&mut self, payload: String, mark: Option<String>) {
        let Some(stream) = &self.stream else {
            return;
        };
        if !self.greeting_measured {
            if let Some(t0) = self.stream_started_at {
                self.greeting_measured = true;
                self.deps
                    .metrics
                    .greeting_latency
                    .observe(t0.elapsed().as_secs_f64());
            }
        }
        stream.do_send(ToTwilio::Audio {
            payload,
            mark,
            relayed_from: self.relay_stamp,
        });
    }

    /// Points caller audio at the model while the machine forwards it.
    pub(super) fn sync_caller_route(&mut self) {
        let want = match &self.model {
            Some((conn, _)) if self.machine.forwards_caller_audio() => Some(*conn),
            _ => None,
        };
        self.caller_route.route(want);
    }
}

/// One frame read from model connection `conn`; `None` once it ended.
pub(super) struct ModelFrame {
    conn: u64,
    item: Option<Result<WsMessage, WsError>>,
}

impl CallActor {
    pub(super) fn stop_model_reader(&mut self, ctx: &mut Context<Self>) {
        if let Some((handle, _)) = self.model_reader.take() {
            ctx.cancel_future(handle);
        }
    }
}

impl Handler<ModelReader> for CallActor {
    type Result = ();
    /// The model connection is up: read its events here, so a delta reaches
    /// the machine without a hop through the model actor.
    fn handle(&mut self, msg: ModelReader, ctx: &mut Self::Context) {
        if self.model.as_ref().map(|(c, _)| *c) != Some(msg.conn) {
            return; // replaced while connecting; dropping the half closes nothing
        }
        self.stop_model_reader(ctx);
        let slot: FrameSlot = Rc::new(RefCell::new(Some(msg.frames)));
        let frames = HeldFrames {
            conn: msg.conn,
            slot: slot.clone(),
            ended: false,
        };
        self.model_reader = Some((ctx.add_stream(frames), slot));
        self.finish_pending_move(ctx);
    }
}

/// The model's frames, read from the call's slot (see `moving`); the end of
/// the connection is one last frame with no item.
struct HeldFrames {
    conn: u64,
    slot: FrameSlot,
    ended: bool,
}

impl Stream for HeldFrames {
    type Item = ModelFrame;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<ModelFrame>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let conn = self.conn;
        let polled = match self.slot.borrow_mut().as_mut() {
            Some(frames) => frames.poll_next_unpin(cx),
            // Taken by a move; its reading was cancelled first.
            None => return Poll::Ready(None),
        };
        match polled {
            Poll::Ready(Some(item)) => Poll::Ready(Some(ModelFrame {
                conn,
                item: Some(item),
            })),
            Poll::Ready(None) => {
                self.ended = true;
                Poll::Ready(Some(ModelFrame { conn, item: None }))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl StreamHandler<ModelFrame> for CallActor {
    fn handle(&mut self, frame: ModelFrame, ctx: &mut Self::Context) {
        let received = Instant::now();
        let signal = match frame.item {
            Some(item) => match read_signal(item, &self.deps.metrics, &self.info.call_sid) {
                Some(signal) => signal,
                None => return,
            },
            None => ModelSignal::Failed("model connection ended".to_string()),
        };
        if let ModelSignal::Failed(reason) = &signal {
            if self.model.as_ref().map(|(c, _)| *c) == Some(frame.conn) {
                tracing::warn!(call_sid = %self.info.call_sid, conn = frame.conn, %reason, "model connection failed");
            }
        }
        self.on_model_signal(frame.conn, signal, received, ctx);
    }

    /// The end is signalled in-band (`item: None`); the call goes on.
    fn finished(&mut self, _: &mut Self::Context) {}
}
