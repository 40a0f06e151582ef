//! `CallActor`: one per CallSid. It owns the call's state machine, the one
//! timer that wakes it at the machine's earliest deadline, and its children (model connection, codec), turns what they say
//! into machine events and executes the machine's commands. It makes no
//! decisions of its own.

mod media;
mod moving;
mod sip;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::command::{CallRecord, Command, ModelCommand, ModelUsage, TwilioCommand};
use super::decision::Decision;
use super::event::{Event, ResponseStatus};
use super::machine::{Call, StateName};
use super::transcript::{Speaker, Turn};
use super::{CallDeps, CallInfo};
use crate::codec::{AudioTag, CallerFrame, CodecActor, CodecEvent, CodecMode, ModelAudio};
use crate::flight::{FlightLog, Resume};
use crate::logmask::mask_phone;
use crate::realtime::actor::{
    FromModel, ModelLinkSpec, ModelSignal, RealtimeActor, Shutdown, ToModel,
};
use crate::realtime::events::{self as rt, ServerEvent};
use crate::recorder::RecordCall;
use crate::twilio::ToTwilio;
pub use media::{RouteCallerAudio, RouteCallerFrames};
pub use moving::{Attach, StreamThread};

/// How long an ended call still answers late webhooks (Twilio asks the
/// Connect action right after the stream closes).
const LINGER: Duration = Duration::from_secs(30);

/// Is the call in its AI conversation? (A draining instance asks.)
#[derive(Message)]
#[rtype(result = "bool")]
pub struct InConversation;

/// The call's stream started at another instance (the voice webhook came
/// here): a call pre-warmed here ends without a record, so the two
/// instances' records of the call do not collide.
#[derive(Message)]
#[rtype(result = "()")]
pub struct MovedElsewhere;

/// The instance is going away: end the call now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ShutDown;

/// The Twilio stream joined this call; answered with whether the call
/// takes it, and where the call is if it moved to the stream's thread.
#[derive(Message)]
#[rtype(result = "Attach")]
pub struct StreamAttached {
    /// The thread of the stream's socket, where the call's actors belong.
    pub thread: StreamThread,
    pub stream: Recipient<ToTwilio>,
    /// Where to say which model connection caller audio goes to.
    pub caller_audio: Recipient<RouteCallerAudio>,
    /// `pcm24k`: where to say which codec caller frames go to.
    pub caller_frames: Recipient<RouteCallerFrames>,
    pub stream_sid: String,
}

/// Caller audio from Twilio (base64 mu-law).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CallerMedia {
    pub payload: String,
    pub received: Instant,
}

/// The caller pressed a key.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CallerDtmf {
    pub digit: char,
}

/// A stream event other than media and keys (mark, stop, lost).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StreamEvent(pub Event);

/// A Twilio webhook for this call; answered with the TwiML decision, if any.
#[derive(Message)]
#[rtype(result = "Option<Decision>")]
pub struct Webhook(pub Event);

#[derive(Message)]
#[rtype(result = "()")]
struct ToolDone(Event);

pub struct CallActor {
    deps: Arc<CallDeps>,
    info: CallInfo,
    machine: Call,
    clock: Instant,
    /// The one actix timer of this call: the machine's earliest deadline.
    wake: Option<(u64, SpawnHandle)>,
    stream: Option<Recipient<ToTwilio>>,
    model: Option<(u64, Addr<RealtimeActor>)>,
    next_conn: u64,
    codec: Option<Addr<CodecActor>>,
    codec_mode: CodecMode,
    reply: Option<Decision>,
    stream_started_at: Option<Instant>,
    greeting_measured: bool,
    /// The model delta being stepped, for the relay-latency histogram.
    relay_stamp: Option<Instant>,
    finished: bool,
    pending_start: Vec<Command>,
    caller_route: media::CallerRoute,
    /// The current model connection's read half, polled in this context.
    model_reader: Option<(SpawnHandle, moving::FrameSlot)>,
    /// The conversation the current model connection was opened with.
    model_resume: Option<Vec<Turn>>,
    /// Tool runs whose answer will come back to this address.
    tools_running: u32,
    /// A call that moved here from another thread, before it settles.
    arrival: Option<Box<moving::Arrival>>,
    /// A stream from another thread waiting for the model connection to
    /// open before the call moves there.
    pending_move: Option<moving::PendingMove>,
    /// This actor handed its call to another thread: it only passes on what
    /// still reaches it.
    moved_to: Option<Addr<CallActor>>,
    /// Taken over from a lost instance: its start is already on record.
    resumed: bool,
    /// Every input fed to `machine` and its answer, for replay.
    flight: FlightLog,
}

impl CallActor {
    pub fn new(deps: Arc<CallDeps>, info: CallInfo) -> Self {
        let (machine, first) = Call::start(deps.machine_for(&info), 0);
        Self::with_machine(deps, info, machine, first, false, None)
    }

    /// A call taken over from a lost instance, its conversation so far in
    /// `turns` (see `Call::resume`).
    pub fn resumed(deps: Arc<CallDeps>, info: CallInfo, turns: Vec<Turn>, elapsed_ms: u64) -> Self {
        let resume = Resume {
            turns: turns.clone(),
            elapsed_ms,
        };
        let (machine, first) = Call::resume(deps.machine.clone(), 0, turns, elapsed_ms);
        Self::with_machine(deps, info, machine, first, true, Some(resume))
    }

    fn with_machine(
        deps: Arc<CallDeps>,
        info: CallInfo,
        machine: Call,
        first: Vec<Command>,
        resumed: bool,
        resume: Option<Resume>,
    ) -> Self {
        let flight = FlightLog::new(
            &info.call_sid,
            deps.flight.clone(),
            &deps.machine_for(&info),
            &first,
            resume,
        );
        let codec_mode = deps.model.codec;
        CallActor {
            deps,
            info,
            machine,
            clock: Instant::now(),
            wake: None,
            stream: None,
            model: None,
            next_conn: 0,
            codec: None,
            codec_mode,
            reply: None,
            stream_started_at: None,
            greeting_measured: false,
            relay_stamp: None,
            finished: false,
            pending_start: first,
            caller_route: media::CallerRoute::default(),
            model_reader: None,
            model_resume: None,
            tools_running: 0,
            arrival: None,
            moved_to: None,
            pending_move: None,
            resumed,
            flight,
        }
    }

    fn is_sip(&self) -> bool {
        self.info.transport == frontdesk_core::Transport::Sip
    }

    fn now(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    fn apply(&mut self, event: Event, ctx: &mut Context<Self>) {
        let now = self.now();
        // The one place events reach the machine (timers: `rearm`).
        let input = self.flight.capture(&event);
        let result = self.machine.step(event, now);
        let logged = result.as_ref().map(Vec::as_slice);
        self.flight.step(now, input, logged, self.finished);
        match result {
            Ok(commands) => self.execute_all(commands, ctx),
            Err(unexpected) => {
                self.deps.metrics.unexpected_events.inc();
                tracing::warn!(call_sid = %self.info.call_sid, %unexpected, "event ignored");
            }
        }
        self.rearm(ctx);
    }

    /// Keeps the one timer on the machine's earliest deadline; re-armed only
    /// when that deadline changed.
    fn rearm(&mut self, ctx: &mut Context<Self>) {
        let next = if self.finished {
            None
        } else {
            self.machine.poll_timeout()
        };
        if self.wake.as_ref().map(|(at, _)| *at) == next {
            return;
        }
        if let Some((_, h)) = self.wake.take() {
            ctx.cancel_future(h);
        }
        let Some(at) = next else {
            return;
        };
        let delay = Duration::from_millis(at.saturating_sub(self.now()));
        let handle = ctx.run_later(delay, |act, ctx| {
            act.wake = None;
            let now = act.now();
            let commands = act.machine.handle_timeout(now);
            act.flight.wake(now, &commands, act.finished);
            for c in commands {
                act.execute(c, ctx);
            }
            act.rearm(ctx);
        });
        self.wake = Some((at, handle));
    }

    fn record(&self, record: CallRecord) {
        self.deps.recorder.do_send(RecordCall {
            call_sid: self.info.call_sid.clone(),
            at: chrono::Utc::now(),
            record,
        });
    }

    fn execute(&mut self, command: Command, ctx: &mut Context<Self>) {
        match command {
            Command::StartModel { resume } => self.start_model(resume, ctx),
            Command::StopModel => {
                self.stop_model_reader(ctx);
                if let Some((_, addr)) = self.model.take() {
                    addr.do_send(Shutdown);
                }
            }
            Command::Model(cmd) => self.send_to_model(cmd),
            Command::Twilio(cmd) => self.send_to_twilio(cmd),
            Command::PlayHoldMessage => {
                if let Some(stream) = &self.stream {
                    if !self.deps.hold_clip.is_empty() {
                        stream.do_send(ToTwilio::Audio {
                            payload: self.deps.hold_clip.clone(),
                            mark: None,
                            relayed_from: None,
                        });
                    }
                }
            }
            Command::RunTool {
                call_id,
                name,
                arguments,
            } => self.run_tool(call_id, name, arguments, ctx),
            Command::LeaveStream(decision) => {
                tracing::info!(call_sid = %self.info.call_sid, decision = decision.kind(), "leaving the stream");
                if let Some(stream) = self.stream.take() {
                    stream.do_send(ToTwilio::Close);
                }
            }
            Command::Reply(decision) => self.reply = Some(decision),
            Command::Sip(cmd) => sip::execute(self, cmd, ctx),
            Command::Record(record) => {
                match &record {
                    CallRecord::ModelRestart { .. } => {
                        self.deps.metrics.model_restarts.inc();
                    }
                    // A menu reached because the model is unavailable.
                    CallRecord::Transition { to, cause, .. }
                        if *to == StateName::Menu.as_str() && cause.is_model_fallback() =>
                    {
                        self.deps.metrics.menu_fallbacks.inc();
                    }
                    _ => {}
                }
                self.record(record);
            }
            Command::Finish(outcome) => {
                if self.finished {
                    return;
                }
                self.finished = true;
                let outcome = serde_json::to_value(outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                tracing::info!(call_sid = %self.info.call_sid, %outcome, "call ended");
                self.deps.metrics.call_ended(&outcome);
                self.deps.metrics.active_calls.dec();
                self.stop_model_reader(ctx);
                if let Some((_, addr)) = self.model.take() {
                    addr.do_send(Shutdown);
                }
                self.codec = None;
                if let Some((_, h)) = self.wake.take() {
                    ctx.cancel_future(h);
                }
                ctx.run_later(LINGER, |_, ctx| ctx.stop());
            }
        }
    }

    fn start_model(&mut self, resume: Option<Vec<Turn>>, ctx: &mut Context<Self>) {
        self.stop_model_reader(ctx);
        if let Some((_, old)) = self.model.take() {
            old.do_send(Shutdown);
        }
        self.next_conn += 1;
        let conn = self.next_conn;
        self.model_resume = resume.clone();
        let params = self.deps.session_params(&self.info);
        let replay = resume
            .unwrap_or_default()
            .iter()
            .map(|t| match t.speaker {
                Speaker::Caller => rt::user_text_item_json(&t.text),
                Speaker::Assistant => rt::assistant_text_item_json(&t.text),
            })
            .collect();
        let spec = if self.is_sip() {
            sip::sideband_spec(self, &params, replay)
        } else {
            ModelLinkSpec {
                url: self.deps.model.url.clone(),
                api_key: self.deps.model.api_key.clone(),
                session_update: crate::realtime::session::session_update_json(&params),
                replay,
            }
        };
        let actor = RealtimeActor::new(
            conn,
            self.info.call_sid.clone(),
            spec,
            ctx.address().recipient(),
            ctx.address().recipient(),
            self.deps.metrics.clone(),
        );
        let (addr, sink) = actor.start_with_sink();
        self.caller_route.model_started(sink);
        self.model = Some((conn, addr));
    }

    fn send_to_model(&mut self, cmd: ModelCommand) {
        let Some((_, model)) = &self.model else {
            return;
        };
        let text = match cmd {
            ModelCommand::Greet => rt::response_create_json(
                Some(&self.deps.greeting(&self.info)),
                Some(&[("purpose", "greeting")]),
            ),
            ModelCommand::CreateResponse { instructions } => {
                rt::response_create_json(instructions.as_deref(), None)
            }
            ModelCommand::Truncate {
                item_id,
                audio_end_ms,
            } => rt::truncate_json(&item_id, 0, audio_end_ms),
            ModelCommand::Cancel => rt::response_cancel_json(),
            ModelCommand::FunctionOutput { call_id, output } => {
                rt::function_call_output_json(&call_id, &output)
            }
            ModelCommand::SystemNote { text } => rt::system_text_item_json(&text),
        };
        model.do_send(ToModel(text));
    }

    fn send_to_twilio(&mut self, cmd: TwilioCommand) {
        let msg = match cmd {
            TwilioCommand::Media(payload) => return self.send_audio(payload, None),
            TwilioCommand::Mark(name) => ToTwilio::Mark(name),
            TwilioCommand::Clear => ToTwilio::Clear,
        };
        if let Some(stream) = &self.stream {
            stream.do_send(msg);
        }
    }

    fn run_tool(
        &mut self,
        call_id: String,
        name: String,
        arguments: String,
        ctx: &mut Context<Self>,
    ) {
        let tools = self.deps.tools.clone();
        let (call_sid, caller, called) = (
            self.info.call_sid.clone(),
            self.info.from.clone(),
            self.info.to.clone(),
        );
        let me = ctx.address();
        self.tools_running += 1;
        tracing::info!(call_sid = %self.info.call_sid, tool = %name, "tool call");
        actix::spawn(async move {
            let t0 = Instant::now();
            let (output, effect) = tools.run(&name, &arguments, call_sid, caller, called).await;
            let latency_ms = t0.elapsed().as_millis() as u64;
            me.do_send(ToolDone(Event::ToolFinished {
                call_id,
                name,
                output,
                effect,
                latency_ms,
            }));
        });
    }

    /// A signal of model connection `conn` (read here or reported by it).
    fn on_model_signal(
        &mut self,
        conn: u64,
        signal: ModelSignal,
        received: Instant,
        ctx: &mut Context<Self>,
    ) {
        let current = self.model.as_ref().map(|(c, _)| *c);
        if current != Some(conn) {
            return; // a replaced connection's last words
        }
        match signal {
            ModelSignal::Event(e) => self.on_model_event(e, received, ctx),
            ModelSignal::Failed(reason) => {
                self.stop_model_reader(ctx);
                if let Some((_, addr)) = self.model.take() {
                    addr.do_send(Shutdown);
                }
                if self.is_sip() && sip::call_is_over(&reason) {
                    tracing::info!(call_sid = %self.info.call_sid, "the sideband socket closed normally: the SIP call is over");
                    return self.apply(
                        Event::CallEnded {
                            status: "completed".into(),
                        },
                        ctx,
                    );
                }
                self.apply(Event::ModelFailed { reason }, ctx);
                self.finish_pending_move(ctx);
            }
        }
    }

    fn on_model_event(&mut self, event: ServerEvent, received: Instant, ctx: &mut Context<Self>) {
        let ev = match event {
            ServerEvent::SessionUpdated => Event::ModelReady,
            ServerEvent::SpeechStarted { .. } => Event::SpeechStarted,
            ServerEvent::Committed { item_id } => Event::Committed { item_id },
            ServerEvent::InputTranscript {
                item_id,
                transcript,
            } => Event::Transcript {
                speaker: Speaker::Caller,
                item_id,
                text: transcript,
            },
            ServerEvent::ResponseCreated { response_id } => Event::ResponseCreated { response_id },
            ServerEvent::AudioDelta {
                response_id,
                item_id,
                delta,
            } => {
                if self.codec_mode == CodecMode::Pcm24k {
                    if let Some(codec) = &self.codec {
                        let tag = AudioTag {
                            response_id,
                            item_id,
                            received,
                        };
                        codec.do_send(ModelAudio {
                            payload: delta,
                            tag,
                        });
                    }
                    return;
                }
                self.relay_stamp = Some(received);
                self.apply(
                    Event::AudioDelta {
                        response_id,
                        item_id,
                        payload: delta,
                    },
                    ctx,
                );
                self.relay_stamp = None;
                return;
            }
            ServerEvent::AudioTranscriptDone {
                item_id,
                transcript,
                ..
            } => Event::Transcript {
                speaker: Speaker::Assistant,
                item_id,
                text: transcript,
            },
            ServerEvent::FunctionCallArgumentsDone {
                call_id,
                name,
                arguments,
                ..
            } => Event::FunctionCall {
                call_id,
                name,
                arguments,
            },
            ServerEvent::ResponseDone {
                response_id,
                status,
                function_calls,
                usage,
                error,
                ..
            } => {
                for f in function_calls {
                    self.apply(
                        Event::FunctionCall {
                            call_id: f.call_id,
                            name: f.name,
                            arguments: f.arguments,
                        },
                        ctx,
                    );
                }
                if let Some(u) = usage {
                    self.record(CallRecord::Usage(ModelUsage {
                        response_id: response_id.clone(),
                        input_tokens: u.input_tokens,
                        output_tokens: u.output_tokens,
                        input_audio_tokens: u.input_audio_tokens,
                        output_audio_tokens: u.output_audio_tokens,
                        cached_tokens: u.cached_tokens,
                    }));
                }
                if let Some(e) = error {
                    tracing::warn!(call_sid = %self.info.call_sid, %response_id, error = %e, "response failed");
                }
                let status = match status {
                    rt::ResponseStatus::Completed => ResponseStatus::Completed,
                    rt::ResponseStatus::Cancelled => ResponseStatus::Cancelled,
                    rt::ResponseStatus::Failed => ResponseStatus::Failed,
                    rt::ResponseStatus::Incomplete => ResponseStatus::Incomplete,
                };
                Event::ResponseDone {
                    response_id,
                    status,
                }
            }
            ServerEvent::Error {
                code,
                message,
                kind,
                ..
            } => {
                tracing::warn!(call_sid = %self.info.call_sid, %kind, code = ?code, %message, "model error event");
                Event::ModelError { code, message }
            }
            ServerEvent::InputTranscriptFailed { message, .. } => {
                tracing::info!(call_sid = %self.info.call_sid, %message, "caller transcription failed");
                return;
            }
            ServerEvent::SessionCreated { .. }
            | ServerEvent::SpeechStopped { .. }
            | ServerEvent::TimeoutTriggered { .. }
            | ServerEvent::AudioDone { .. }
            | ServerEvent::OutputItemAdded { .. }
            | ServerEvent::ItemTruncated { .. } => return,
            ServerEvent::Other { kind } => match sip::output_audio(&kind) {
                Some(playing) if self.is_sip() => Event::OutputAudio { playing },
                _ => return,
            },
        };
        self.apply(ev, ctx);
    }
}

impl CallActor {
    fn start_codec(&mut self, ctx: &mut Context<Self>) {
        // Passthrough audio never needs the codec: the stream meters it.
        // On SIP the audio never reaches us at all.
        if self.codec_mode == CodecMode::Pcm24k && !self.is_sip() {
            let codec = CodecActor::new(
                self.info.call_sid.clone(),
                self.codec_mode,
                ctx.address().recipient(),
            );
            let codec = codec.start();
            self.caller_route.codec_started(codec.clone().recipient());
            self.codec = Some(codec);
        }
    }

    /// Takes the stream, unless the call has one: a second stream for a
    /// live call is refused (`false`), never allowed to take the caller's
    /// audio or keys.
    fn attach(&mut self, msg: StreamAttached, ctx: &mut Context<Self>) -> bool {
        // A stream whose actor is gone (its socket died before it could
        // tell us) does not count: the new one replaces it.
        if self.stream.as_ref().is_some_and(Recipient::connected) {
            tracing::warn!(call_sid = %self.info.call_sid, stream_sid = %msg.stream_sid, "a second stream for a call that has one; refused");
            return false;
        }
        self.stream = Some(msg.stream);
        self.caller_route.stream_attached(msg.caller_audio);
        if let Some(codec) = &self.codec {
            msg.caller_frames
                .do_send(RouteCallerFrames(codec.clone().recipient()));
        }
        self.stream_started_at = Some(Instant::now());
        tracing::info!(call_sid = %self.info.call_sid, stream_sid = %msg.stream_sid, "stream started");
        self.apply(
            Event::StreamStarted {
                stream_sid: msg.stream_sid,
            },
            ctx,
        );
        if matches!(self.machine.state().name(), StateName::Ended) {
            // A stream for a call that is already over: close it.
            if let Some(stream) = self.stream.take() {
                stream.do_send(ToTwilio::Close);
            }
            self.caller_route.stream_gone();
        }
        true
    }
}

impl Actor for CallActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(arrival) = self.arrival.take() {
            return self.settle(*arrival, ctx);
        }
        self.deps.metrics.active_calls.inc();
        tracing::info!(
            call_sid = %self.info.call_sid,
            from = %mask_phone(&self.info.from),
            to = %mask_phone(&self.info.to),
            "call started"
        );
        self.start_codec(ctx);
        if self.resumed {
            tracing::warn!(call_sid = %self.info.call_sid, "call taken over from a lost instance");
        } else {
            self.record(CallRecord::Started {
                from: self.info.from.clone(),
                to: self.info.to.clone(),
                transport: self.info.transport,
            });
        }
        for c in std::mem::take(&mut self.pending_start) {
            self.execute(c, ctx);
        }
        self.rearm(ctx);
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        self.flight.hand_over();
        if !self.finished {
            // Stopped without ending (e.g. the system is shutting down).
            self.finished = true;
            self.deps.metrics.active_calls.dec();
        }
        self.deps
            .registry
            .remove(&self.info.call_sid, &ctx.address());
        if self.moved_to.is_some() {
            return; // the call goes on, on another thread
        }
        let sessions = self.deps.sessions.clone();
        let sid = self.info.call_sid.clone();
        actix::spawn(async move { sessions.release(&sid).await });
    }
}

impl Handler<StreamAttached> for CallActor {
    type Result = ResponseFuture<Attach>;
    fn handle(&mut self, msg: StreamAttached, ctx: &mut Self::Context) -> Self::Result {
        if let Some(to) = self.moved_to.clone() {
            return Box::pin(async move { to.send(msg).await.unwrap_or(Attach::Refused) });
        }
        if self.should_move(&msg) {
            return self.move_to_stream_thread(msg, ctx);
        }
        if self.pending_move.is_some() {
            tracing::warn!(call_sid = %self.info.call_sid, stream_sid = %msg.stream_sid, "a second stream for a call that has one; refused");
            return Box::pin(std::future::ready(Attach::Refused));
        }
        let elsewhere = msg.thread.id != std::thread::current().id();
        let answer = if self.attach(msg, ctx) {
            if elsewhere {
                // A tool answer was on its way here: the call stays.
                self.deps.metrics.calls_split.inc();
            }
            Attach::Taken
        } else {
            Attach::Refused
        };
        Box::pin(std::future::ready(answer))
    }
}

impl Handler<InConversation> for CallActor {
    type Result = bool;
    fn handle(&mut self, _: InConversation, _: &mut Self::Context) -> bool {
        !self.finished && self.machine.in_conversation()
    }
}

impl Handler<MovedElsewhere> for CallActor {
    type Result = ();
    fn handle(&mut self, _: MovedElsewhere, ctx: &mut Self::Context) {
        if self.finished || self.stream_started_at.is_some() {
            tracing::warn!(call_sid = %self.info.call_sid, "another instance took a stream for a call that has one here; kept");
            return;
        }
        tracing::info!(call_sid = %self.info.call_sid, "the stream started at another instance; the call pre-warmed here ends without a record");
        self.finished = true;
        self.deps.metrics.active_calls.dec();
        self.flight.discard();
        self.stop_model_reader(ctx);
        if let Some((_, addr)) = self.model.take() {
            addr.do_send(Shutdown);
        }
        if let Some((_, h)) = self.wake.take() {
            ctx.cancel_future(h);
        }
        ctx.stop();
    }
}

impl Handler<ShutDown> for CallActor {
    type Result = ();
    fn handle(&mut self, _: ShutDown, ctx: &mut Self::Context) {
        if !self.finished {
            tracing::warn!(call_sid = %self.info.call_sid, "still open when the drain ran out; ending it");
            self.apply(Event::Shutdown, ctx);
        }
    }
}

impl Handler<CallerMedia> for CallActor {
    type Result = ();
    /// `pcm24k` only: passthrough audio goes from the stream to the model.
    fn handle(&mut self, msg: CallerMedia, _: &mut Self::Context) {
        if let Some(codec) = &self.codec {
            codec.do_send(CallerFrame {
                payload: msg.payload,
            });
        }
    }
}

impl Handler<StreamEvent> for CallActor {
    type Result = ();
    fn handle(&mut self, msg: StreamEvent, ctx: &mut Self::Context) {
        if matches!(msg.0, Event::StreamStopped | Event::StreamLost) {
            self.stream = None;
            self.caller_route.stream_gone();
        }
        self.apply(msg.0, ctx);
    }
}

impl Handler<CallerDtmf> for CallActor {
    type Result = ();
    fn handle(&mut self, msg: CallerDtmf, ctx: &mut Self::Context) {
        let operator_open = msg.digit == '0' && self.deps.operator_open_now();
        self.apply(
            Event::Dtmf {
                digit: msg.digit,
                operator_open,
            },
            ctx,
        );
    }
}

impl Handler<Webhook> for CallActor {
    type Result = ResponseFuture<Option<Decision>>;
    fn handle(&mut self, msg: Webhook, ctx: &mut Self::Context) -> Self::Result {
        if let Some(to) = self.moved_to.clone() {
            return Box::pin(async move { to.send(msg).await.ok().flatten() });
        }
        self.reply = None;
        self.apply(msg.0, ctx);
        let reply = self.reply.take();
        Box::pin(std::future::ready(reply))
    }
}

impl Handler<FromModel> for CallActor {
    type Result = ();
    fn handle(&mut self, msg: FromModel, ctx: &mut Self::Context) {
        self.on_model_signal(msg.conn, msg.signal, msg.received, ctx);
    }
}

impl Handler<CodecEvent> for CallActor {
    type Result = ();
    fn handle(&mut self, msg: CodecEvent, ctx: &mut Self::Context) {
        match msg {
            CodecEvent::Voice(speaking) => self.apply(Event::CallerVoice { speaking }, ctx),
            CodecEvent::ToModel(payload) => {
                if self.machine.forwards_caller_audio() {
                    // Straight into the writer's queue, not via the model actor.
                    let conn = self.model.as_ref().map(|(c, _)| *c);
                    if let Some(sink) = conn.and_then(|c| self.caller_route.sink(c)) {
                        sink.append(&payload, Instant::now());
                    }
                }
            }
            CodecEvent::ToCaller { payload, tag } => {
                self.relay_stamp = Some(tag.received);
                self.apply(
                    Event::AudioDelta {
                        response_id: tag.response_id,
                        item_id: tag.item_id,
                        payload,
                    },
                    ctx,
                );
                self.relay_stamp = None;
            }
            CodecEvent::BadAudio(reason) => {
                self.deps.metrics.malformed("audio");
                tracing::warn!(call_sid = %self.info.call_sid, %reason, "undecodable audio ignored");
            }
        }
    }
}

impl Handler<sip::SipAnswer> for CallActor {
    type Result = ();
    fn handle(&mut self, msg: sip::SipAnswer, ctx: &mut Self::Context) {
        self.apply(msg.0, ctx);
    }
}

impl Handler<ToolDone> for CallActor {
    type Result = ();
    fn handle(&mut self, msg: ToolDone, ctx: &mut Self::Context) {
        self.tools_running = self.tools_running.saturating_sub(1);
        self.apply(msg.0, ctx);
    }
}
