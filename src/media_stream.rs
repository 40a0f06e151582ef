//! `TwilioStreamActor`: the Media Streams WebSocket of one call.
//!
//! This is the only file that knows about actix-web-actors (deprecated
//! upstream), so moving to actix-ws stays a one-file change. It parses
//! frames into typed events for the call and writes `media | mark | clear`
//! back. A bad frame is logged with the CallSid and counted; it never ends
//! the call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;

use crate::call::actor::StreamThread;
use crate::call::actor::{Attach, CallActor, CallerDtmf, CallerMedia, StreamAttached, StreamEvent};
use crate::call::actor::{RouteCallerAudio, RouteCallerFrames};
use crate::call::{CallInfo, Calls, Event};
use crate::codec::{CallerFrame, CallerMeter};
use crate::logmask::mask_id;
use crate::metrics::Metrics;
use crate::realtime::audio_sink::ModelAudioSink;
use crate::twilio::media::{self, Inbound};
use crate::twilio::{is_call_sid, StreamKey, ToTwilio, TOKEN_PARAMETER};

/// Twilio sends a frame every 20 ms while the call is up; this much silence
/// on the socket means the connection is gone even if TCP has not noticed.
const STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
const IDLE_CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// Twilio frames are small; anything near this is not Twilio.
const MAX_FRAME_BYTES: usize = 256 * 1024;

/// Events that arrive while the call decides whether it takes the stream.
enum Held {
    Dtmf(char),
    Mark(String),
    Stop,
}

const MAX_HELD: usize = 64;

/// What a stream must show before it reaches a call: the call's token (see
/// `twilio::StreamKey`) in a `start` that arrives within `start_deadline`.
#[derive(Debug, Clone)]
pub struct StreamGate {
    pub key: StreamKey,
    pub start_deadline: Duration,
}

pub struct TwilioStreamActor {
    calls: Calls,
    metrics: Arc<Metrics>,
    gate: StreamGate,
    call: Option<(String, Addr<CallActor>)>,
    /// A valid `start` was sent to its call, which has not said yet whether
    /// it takes this stream. Keys, marks and `stop` wait in `held` (caller
    /// audio is not routed before the call takes the stream anyway).
    attaching: bool,
    held: Vec<Held>,
    stream_sid: String,
    last_frame: Instant,
    /// `stop` arrived (or we closed): the end is orderly.
    ended: bool,
    /// `pcmu` passthrough: caller audio is metered here and written to the
    /// model from here, never crossing the call actor. `None` for `pcm24k`,
    /// whose audio goes through the call to the codec.
    meter: Option<CallerMeter>,
    to_model: Option<ModelAudioSink>,
    /// `pcm24k`: the call's codec, once the call named it.
    to_codec: Option<Recipient<CallerFrame>>,
    bad_audio: u64,
}

impl TwilioStreamActor {
    pub fn new(calls: Calls, metrics: Arc<Metrics>, gate: StreamGate) -> Self {
        TwilioStreamActor {
            calls,
            metrics,
            gate,
            call: None,
            attaching: false,
            held: Vec::new(),
            stream_sid: String::new(),
            last_frame: Instant::now(),
            ended: false,
            meter: None,
            to_model: None,
            to_codec: None,
            bad_audio: 0,
        }
    }

    /// The per-frame path of `pcmu` passthrough: meter, then hand the
    /// payload to the model's writer. Only a change of speech reaches the
    /// call.
    fn passthrough_media(&mut self, payload: &str) {
        let Some(meter) = &mut self.meter else {
            return;
        };
        let received = Instant::now();
        match meter.push(payload) {
            Ok(Some(speaking)) => {
                if let Some((_, call)) = &self.call {
                    call.do_send(StreamEvent(Event::CallerVoice { speaking }));
                }
            }
            Ok(None) => {}
            Err(error) => {
                self.metrics.malformed("audio");
                self.bad_audio += 1;
                // A broken stream repeats 50 times a second: log the 1st,
                // 2nd, 4th... frame.
                if self.bad_audio.is_power_of_two() {
                    tracing::warn!(call_sid = %self.call_sid(), %error, bad_frames = self.bad_audio, "undecodable caller audio");
                }
                return;
            }
        }
        if let Some(sink) = &self.to_model {
            sink.append(payload, received);
        }
    }

    fn call_sid(&self) -> &str {
        self.call
            .as_ref()
            .map(|(sid, _)| sid.as_str())
            .unwrap_or("-")
    }

    fn bad_frame(&self, why: &str) {
        self.metrics.malformed("twilio");
        tracing::warn!(call_sid = %self.call_sid(), reason = %why, "bad Twilio frame ignored");
    }

    /// Caller audio (a `media` frame), after `start`.
    fn on_media(&mut self, track: &str, payload: &str) {
        if self.call.is_none() && !self.attaching {
            return self.bad_frame("media before start");
        }
        if !looks_like_base64(payload) {
            return self.bad_frame("media payload is not base64");
        }
        // Until the call takes this stream, nothing reaches it.
        let Some((_, call)) = &self.call else {
            return;
        };
        if track != "inbound" {
            return;
        }
        if self.meter.is_none() {
            let payload = payload.to_string();
            match &self.to_codec {
                Some(codec) => codec.do_send(CallerFrame { payload }),
                None => call.do_send(CallerMedia {
                    payload,
                    received: Instant::now(),
                }),
            }
        } else {
            self.passthrough_media(payload);
        }
    }

    /// Keeps an event for the call until it has taken this stream.
    fn hold(&mut self, event: Held) {
        // The call answers within microseconds; a flood meanwhile is not
        // Twilio, and is not kept.
        if self.held.len() < MAX_HELD {
            self.held.push(event);
        } else {
            self.bad_frame("too many frames before the call took the stream");
        }
    }

    /// Closes a stream that may not reach a call.
    fn refuse(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        self.ended = true;
        ctx.close(Some(ws::CloseReason {
            code: ws::CloseCode::Policy,
            description: None,
        }));
        ctx.stop();
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        if let Some(m) = media::parse_media(text) {
            return self.on_media(m.track, m.payload);
        }
        let frame = match media::parse_inbound(text) {
            Ok(f) => f,
            Err(e) => return self.bad_frame(&e.to_string()),
        };
        match frame {
            Inbound::Connected { .. } => {}
            Inbound::Start {
                start, stream_sid, ..
            } => {
                if self.call.is_some() || self.attaching {
                    return self.bad_frame("a second start on the same stream");
                }
                let token = start
                    .custom_parameters
                    .get(TOKEN_PARAMETER)
                    .map(String::as_str)
                    .unwrap_or_default();
                if !is_call_sid(&start.call_sid) || !self.gate.key.verify(&start.call_sid, token) {
                    // A replayed handshake, or a stream Frontdesk never
                    // announced: it reaches no call.
                    self.metrics.malformed("stream_token");
                    tracing::warn!(call_sid = %mask_id(&start.call_sid), "stream refused: its start does not carry this call's token");
                    return self.refuse(ctx);
                }
                if start.media_format.encoding != "audio/x-mulaw"
                    || start.media_format.sample_rate != 8000
                {
                    tracing::warn!(
                        call_sid = %start.call_sid,
                        encoding = %start.media_format.encoding,
                        rate = start.media_format.sample_rate,
                        "unexpected stream audio format; treating it as mu-law 8 kHz"
                    );
                }
                let params = &start.custom_parameters;
                let info = CallInfo {
                    call_sid: start.call_sid.clone(),
                    from: params.get("from").cloned().unwrap_or_default(),
                    to: params.get("to").cloned().unwrap_or_default(),
                    known: None,
                    transport: frontdesk_core::Transport::Twilio,
                };
                let call = self.calls.open(info);
                if self.calls.passthrough() {
                    self.meter = Some(CallerMeter::new());
                }
                let attach = call.send(StreamAttached {
                    thread: StreamThread::current(),
                    stream: ctx.address().recipient(),
                    caller_audio: ctx.address().recipient(),
                    caller_frames: ctx.address().recipient(),
                    stream_sid: stream_sid.clone(),
                });
                self.stream_sid = stream_sid;
                self.attaching = true;
                let call_sid = start.call_sid;
                ctx.spawn(attach.into_actor(self).map(move |answer, act, ctx| {
                    act.attaching = false;
                    let held = std::mem::take(&mut act.held);
                    let call = match answer {
                        Ok(Attach::Taken) => call,
                        // Now on this thread, with this stream.
                        Ok(Attach::MovedTo(moved)) => moved,
                        Ok(Attach::Refused) | Err(_) => return act.refuse(ctx),
                    };
                    for event in held {
                        match event {
                            Held::Dtmf(digit) => call.do_send(CallerDtmf { digit }),
                            Held::Mark(name) => call.do_send(StreamEvent(Event::Mark { name })),
                            Held::Stop => {
                                call.do_send(StreamEvent(Event::StreamStopped));
                                ctx.stop();
                            }
                        }
                    }
                    act.call = Some((call_sid, call));
                }));
            }
            Inbound::Media { media, .. } => self.on_media(&media.track, &media.payload),
            Inbound::Dtmf { dtmf, .. } => {
                let digit = dtmf
                    .digit
                    .chars()
                    .next()
                    .filter(|c| c.is_ascii_digit() || *c == '*' || *c == '#');
                match (&self.call, digit) {
                    (Some((_, call)), Some(digit)) if dtmf.digit.len() == 1 => {
                        call.do_send(CallerDtmf { digit })
                    }
                    (None, Some(digit)) if self.attaching && dtmf.digit.len() == 1 => {
                        self.hold(Held::Dtmf(digit))
                    }
                    (None, _) if !self.attaching => self.bad_frame("dtmf before start"),
                    _ => self.bad_frame("dtmf digit is not one key"),
                }
            }
            Inbound::Mark { mark, .. } => match &self.call {
                Some((_, call)) => call.do_send(StreamEvent(Event::Mark { name: mark.name })),
                None if self.attaching => self.hold(Held::Mark(mark.name)),
                None => self.bad_frame("mark before start"),
            },
            Inbound::Stop { .. } if self.attaching => {
                self.ended = true;
                self.hold(Held::Stop);
            }
            Inbound::Stop { .. } => {
                self.ended = true;
                if let Some((_, call)) = &self.call {
                    call.do_send(StreamEvent(Event::StreamStopped));
                }
                ctx.stop();
            }
        }
    }
}

impl Actor for TwilioStreamActor {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Pings keep a socket open, but only a valid `start` makes it a
        // stream: a socket without one is closed at the deadline.
        ctx.run_later(self.gate.start_deadline, |act, ctx| {
            if act.call.is_none() && !act.attaching && !act.ended {
                tracing::warn!("stream closed: no valid start in time");
                act.refuse(ctx);
            }
        });
        ctx.run_interval(IDLE_CHECK_INTERVAL, |act, ctx| {
            if act.last_frame.elapsed() > STREAM_IDLE_TIMEOUT {
                tracing::warn!(call_sid = %act.call_sid(), "Twilio stream idle; closing it");
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if !self.ended {
            if let Some((_, call)) = &self.call {
                call.do_send(StreamEvent(Event::StreamLost));
            }
        }
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for TwilioStreamActor {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_frame = Instant::now();
        match msg {
            Ok(ws::Message::Text(text)) => self.on_text(&text, ctx),
            Ok(ws::Message::Binary(_)) => self.bad_frame("binary frame"),
            Ok(ws::Message::Ping(p)) => ctx.pong(&p),
            Ok(ws::Message::Pong(_)) | Ok(ws::Message::Nop) => {}
            Ok(ws::Message::Continuation(_)) => self.bad_frame("fragmented frame"),
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Err(e) => {
                self.bad_frame(&format!("protocol error: {e}"));
                ctx.stop();
            }
        }
    }
}

impl Handler<ToTwilio> for TwilioStreamActor {
    type Result = ();
    fn handle(&mut self, msg: ToTwilio, ctx: &mut Self::Context) {
        match msg {
            ToTwilio::Audio {
                payload,
                mark,
                relayed_from,
            } => {
                // Both frames go out in the same write of this context.
                ctx.text(media::media_json(&self.stream_sid, &payload));
                if let Some(name) = mark {
                    ctx.text(media::mark_json(&self.stream_sid, &name));
                }
                if let Some(t) = relayed_from {
                    self.metrics.observe_relay("to_caller", t.elapsed());
                }
            }
            ToTwilio::Mark(name) => ctx.text(media::mark_json(&self.stream_sid, &name)),
            ToTwilio::Clear => ctx.text(media::clear_json(&self.stream_sid)),
            ToTwilio::Close => {
                self.ended = true;
                ctx.close(Some(ws::CloseReason {
                    code: ws::CloseCode::Normal,
                    description: None,
                }));
                ctx.stop();
            }
        }
    }
}

impl Handler<RouteCallerFrames> for TwilioStreamActor {
    type Result = ();
    fn handle(&mut self, msg: RouteCallerFrames, _: &mut Self::Context) {
        self.to_codec = Some(msg.0);
    }
}

impl Handler<RouteCallerAudio> for TwilioStreamActor {
    type Result = ();
    fn handle(&mut self, msg: RouteCallerAudio, _: &mut Self::Context) {
        self.to_model = msg.0;
    }
}

/// A cheap shape check, so garbage is never forwarded to the model (which
/// would answer with an error event). The codec decodes for real.
fn looks_like_base64(s: &str) -> bool {
    // No early exit: this form vectorises (it runs on every caller frame).
    s.len() % 4 == 0
        && s.bytes().fold(true, |ok, b| {
            ok & (b.is_ascii_alphanumeric() | (b == b'+') | (b == b'/') | (b == b'='))
        })
}

/// Upgrades `GET /twilio/stream` (after the signature check).
pub fn start(
    calls: Calls,
    metrics: Arc<Metrics>,
    gate: StreamGate,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    ws::WsResponseBuilder::new(TwilioStreamActor::new(calls, metrics, gate), req, payload)
        .frame_size(MAX_FRAME_BYTES)
        .start()
}
