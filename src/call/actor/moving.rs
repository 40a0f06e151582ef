//! A call moving to the thread of its Twilio stream.
//!
//! A call's actors start on the worker that took the voice webhook, so the
//! model connection is warm before the caller's audio arrives; the stream
//! lands on whichever worker accepts the WebSocket. Left apart, every frame
//! in both directions would cost a cross-thread wake-up. So when the stream
//! attaches from another thread, the call moves there once, before its
//! first frame: its machine, flight log and clock travel as data, the model
//! connection's two halves are taken back (the writer task flushes what it
//! had and gives its half up) and registered with the new thread's reactor
//! (`realtime::portable`), and a new `CallActor` on that thread takes the
//! stream. A model connection still being opened is opened again there
//! instead. The old actor lingers a moment to pass on a webhook that raced
//! the move, then stops without a record: the call goes on.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::oneshot;

use super::{CallActor, StreamAttached};
use crate::call::machine::Call;
use crate::call::transcript::Turn;
use crate::call::{CallDeps, CallInfo};
use crate::flight::FlightLog;
use crate::realtime::actor::{
    ModelFrames, MovingConnection, RealtimeActor, Release, Shutdown, WriteHalf,
};

/// How long a stream that attached waits for the call's model connection
/// to finish opening (the move then takes it along); past this the call
/// moves without it and opens it again on the stream's thread.
const WAIT_FOR_CONNECTION: Duration = Duration::from_secs(2);

/// How long a call that moved still passes on messages sent to its old
/// address (a webhook that looked the call up just before it moved).
const FORWARD_AFTER_MOVE: Duration = Duration::from_secs(5);

/// The call's answer to a stream that attached.
#[derive(Debug)]
pub enum Attach {
    Taken,
    /// The call has a live stream: this one reaches nothing.
    Refused,
    /// The call moved to the stream's thread and took the stream there:
    /// this is its address now.
    MovedTo(Addr<CallActor>),
}

/// Where a stream attaches from.
#[derive(Clone)]
pub struct StreamThread {
    pub id: ThreadId,
    pub arbiter: ArbiterHandle,
}

impl StreamThread {
    pub fn current() -> Self {
        StreamThread {
            id: std::thread::current().id(),
            arbiter: Arbiter::current(),
        }
    }
}

/// The read half of the model connection, polled in the call's context but
/// still the call's own: a call that moves takes it back.
pub(super) type PendingMove = (StreamAttached, oneshot::Sender<Attach>);

pub(super) type FrameSlot = Rc<RefCell<Option<ModelFrames>>>;

/// What a moved call finds on arrival.
pub(super) struct Arrival {
    connection: Option<(u64, MovingConnection)>,
    /// The connection was still opening: open it again here, with the
    /// conversation it was given.
    reconnect: Option<Option<Vec<Turn>>>,
    attach: StreamAttached,
}

/// Everything of a call that travels (all of it `Send`).
struct Moving {
    deps: Arc<CallDeps>,
    info: CallInfo,
    machine: Call,
    flight: FlightLog,
    clock: Instant,
    next_conn: u64,
    resumed: bool,
    model_resume: Option<Vec<Turn>>,
    arrival: Arrival,
}

impl CallActor {
    /// A first stream from another thread, while nothing of the call is
    /// in flight that would miss it (a tool's answer comes back to the old
    /// address).
    pub(super) fn should_move(&self, msg: &StreamAttached) -> bool {
        !self.finished
            && self.moved_to.is_none()
            && self.pending_move.is_none()
            && self.tools_running == 0
            && msg.thread.id != std::thread::current().id()
            && !self.stream.as_ref().is_some_and(Recipient::connected)
    }

    /// Moves the call to `msg`'s thread and attaches the stream there, once
    /// its model connection (if one is opening) is up.
    pub(super) fn move_to_stream_thread(
        &mut self,
        msg: StreamAttached,
        ctx: &mut Context<Self>,
    ) -> ResponseFuture<Attach> {
        let (reply, answer) = oneshot::channel();
        let connecting = self.model.is_some() && self.model_reader.is_none();
        if connecting {
            self.pending_move = Some((msg, reply));
            ctx.run_later(WAIT_FOR_CONNECTION, |act, ctx| act.finish_pending_move(ctx));
        } else {
            self.begin_move(msg, reply, ctx);
        }
        Box::pin(async move { answer.await.unwrap_or(Attach::Refused) })
    }

    /// The connection a waiting move was waiting for is up, failed, or
    /// took too long: the move goes ahead.
    pub(super) fn finish_pending_move(&mut self, ctx: &mut Context<Self>) {
        let Some((msg, reply)) = self.pending_move.take() else {
            return;
        };
        if self.finished {
            // Over while it waited: the stream is told so where it is.
            let taken = self.attach(msg, ctx);
            let _ = reply.send(if taken {
                Attach::Taken
            } else {
                Attach::Refused
            });
            return;
        }
        self.begin_move(msg, reply, ctx);
    }

    /// The move itself. The actor takes no other message until it is done.
    fn begin_move(
        &mut self,
        msg: StreamAttached,
        reply: oneshot::Sender<Attach>,
        ctx: &mut Context<Self>,
    ) {
        let frames = self.take_model_frames(ctx);
        let model = self.model.take();
        let had_model = model.is_some();
        let release = match (model, frames) {
            (Some((conn, addr)), Some(frames)) => Some((conn, frames, addr.send(Release))),
            (Some((_, addr)), None) => {
                addr.do_send(Shutdown);
                None
            }
            (None, _) => None,
        };
        let released = async move {
            let (conn, frames, release) = release?;
            let write: WriteHalf = release.await.ok().flatten()?;
            Some((conn, MovingConnection { frames, write }))
        };
        ctx.wait(released.into_actor(self).map(move |connection, act, ctx| {
            let reconnect = (connection.is_none() && had_model).then(|| act.model_resume.clone());
            let sid = act.info.call_sid.clone();
            let arbiter = msg.thread.arbiter.clone();
            let off = FlightLog::new(&sid, None, &act.deps.machine, &[], None);
            let moving = Moving {
                deps: act.deps.clone(),
                info: act.info.clone(),
                machine: act.machine.clone(),
                flight: std::mem::replace(&mut act.flight, off),
                clock: act.clock,
                next_conn: act.next_conn,
                resumed: act.resumed,
                model_resume: act.model_resume.take(),
                arrival: Arrival {
                    connection,
                    reconnect,
                    attach: msg,
                },
            };
            let addr = CallActor::start_in_arbiter(&arbiter, move |_| CallActor::arrive(moving));
            act.deps.registry.insert(&sid, addr.clone());
            act.deps.metrics.calls_moved.inc();
            tracing::debug!(call_sid = %sid, "call moved to its stream's thread");
            // This actor no longer holds the call: nothing it does from now
            // on reaches the machine, the records or the session store.
            act.finished = true;
            act.moved_to = Some(addr.clone());
            act.codec = None;
            act.caller_route = super::media::CallerRoute::default();
            if let Some((_, h)) = act.wake.take() {
                ctx.cancel_future(h);
            }
            ctx.run_later(FORWARD_AFTER_MOVE, |_, ctx| ctx.stop());
            let _ = reply.send(Attach::MovedTo(addr));
        }));
    }

    /// The read half of the current model connection, if it is connected;
    /// reading it here stops.
    fn take_model_frames(&mut self, ctx: &mut Context<Self>) -> Option<ModelFrames> {
        let (handle, slot) = self.model_reader.take()?;
        ctx.cancel_future(handle);
        let frames = slot.borrow_mut().take();
        frames
    }

    fn arrive(m: Moving) -> CallActor {
        let mut actor =
            CallActor::with_machine(m.deps, m.info, m.machine, Vec::new(), m.resumed, None);
        actor.flight = m.flight;
        actor.clock = m.clock;
        actor.next_conn = m.next_conn;
        actor.model_resume = m.model_resume;
        actor.arrival = Some(Box::new(m.arrival));
        actor
    }

    /// The first thing a moved call does on its new thread.
    pub(super) fn settle(&mut self, arrival: Arrival, ctx: &mut Context<Self>) {
        self.start_codec(ctx);
        if let Some((conn, connection)) = arrival.connection {
            let model = RealtimeActor::adopt(
                conn,
                self.info.call_sid.clone(),
                connection,
                ctx.address().recipient(),
                ctx.address().recipient(),
                self.deps.metrics.clone(),
            );
            let (addr, sink) = model.start_with_sink();
            self.caller_route.model_started(sink);
            self.model = Some((conn, addr));
        } else if let Some(resume) = arrival.reconnect {
            self.start_model(resume, ctx);
        }
        self.rearm(ctx);
        self.attach(arrival.attach, ctx);
    }
}
