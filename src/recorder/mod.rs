//! The recorder: takes call records off the call actors' hands and writes them
//! to the store in batches. Calls hand records over with `do_send` and never
//! wait; the recorder runs on its own thread, so neither the database nor the
//! spill file can stall a call.
//!
//! While the database is away, rows wait in a bounded memory buffer; past the
//! bound they go to an append-only spill file. Writes are retried with
//! backoff and everything is written once the database is back, in order.
//! Every row carries its own idempotency key (call + sequence, call + tool
//! call id, call + response id), so a batch retried after an ambiguous
//! failure writes nothing twice.

mod inputs;
mod rows;
mod spill;

use std::collections::VecDeque;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};

use crate::privacy::{Redactor, RowRedactor};
use crate::store::{RecordRow, Store, StoreError};
use frontdesk_core::CallRecord;
pub use rows::Numbering;
use spill::Spill;

/// One fact about one call.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct RecordCall {
    pub call_sid: String,
    pub at: DateTime<Utc>,
    pub record: CallRecord,
}

/// A call taken over from a lost instance continues its numbering after
/// what is on record (its earlier rows were numbered by the dead instance).
/// Sent before the resumed call's first record.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ContinueNumbering {
    pub call_sid: String,
    /// The highest stored event and transcript-turn sequence numbers.
    pub last_event: i64,
    pub last_turn: i64,
}

/// Resolves once everything received so far is written, or after `timeout`
/// (then `false`). Used by shutdown drain and tests.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Flush {
    pub timeout: Duration,
}

/// Where batches go. The store in production; tests may wrap it.
pub trait BatchSink: Send + Sync + 'static {
    fn write(
        &self,
        rows: Vec<RecordRow>,
    ) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;
}

impl BatchSink for Store {
    fn write(
        &self,
        rows: Vec<RecordRow>,
    ) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>> {
        let store = self.clone();
        Box::pin(async move { store.write_batch(&rows).await })
    }
}

/// Records are written at least this often...
const FLUSH_INTERVAL: Duration = Duration::from_millis(200);
/// ...or as soon as this many are waiting; also the largest batch.
const BATCH_ROWS: usize = 500;
/// Rows kept in memory while the database is away; beyond, they are spilled.
const MEMORY_ROWS: usize = 5_000;
const BACKOFF_INITIAL: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Counters an operator (and the tests) can read.
#[derive(Default, Debug)]
pub struct RecorderStats {
    pub rows_written: AtomicU64,
    pub rows_spilled: AtomicU64,
    pub write_failures: AtomicU64,
    pub pending: AtomicU64,
}

pub struct Recorder {
    sink: Arc<dyn BatchSink>,
    numbering: Numbering,
    /// Redacts turns, tool arguments and event payloads before they are kept.
    redaction: RowRedactor,
    memory: VecDeque<RecordRow>,
    spill: Spill,
    writing: bool,
    backoff: Duration,
    retry_at: Option<Instant>,
    outage_since: Option<Instant>,
    stats: Arc<RecorderStats>,
    flush_waiters: Vec<(Instant, tokio::sync::oneshot::Sender<bool>)>,
}

impl Recorder {
    pub fn new(
        sink: Arc<dyn BatchSink>,
        spill_path: &Path,
        stats: Arc<RecorderStats>,
    ) -> std::io::Result<Self> {
        let spill = Spill::open(spill_path)?;
        if spill.pending() > 0 {
            tracing::info!(rows = spill.pending(), path = %spill_path.display(), "replaying rows spilled by an earlier run");
        }
        Ok(Recorder {
            sink,
            numbering: Numbering::default(),
            redaction: RowRedactor::new(Redactor::off()),
            memory: VecDeque::new(),
            spill,
            writing: false,
            backoff: BACKOFF_INITIAL,
            retry_at: None,
            outage_since: None,
            stats,
            flush_waiters: Vec::new(),
        })
    }

    /// Redacts every row at `redactor`'s level before it is buffered,
    /// spilled or written (off unless set).
    pub fn with_redaction(mut self, redactor: Redactor) -> Self {
        self.redaction = RowRedactor::new(redactor);
        self
    }

    /// Starts the recorder on a thread of its own.
    pub fn spawn(self) -> Addr<Recorder> {
        Recorder::start_in_arbiter(&Arbiter::new().handle(), move |_| self)
    }

    fn pending(&self) -> u64 {
        self.memory.len() as u64 + self.spill.pending()
    }

    fn enqueue(&mut self, rows: Vec<RecordRow>) {
        // Once anything is spilled, later rows follow it to the file, so the
        // order of writes is the order of events.
        if self.spill.pending() == 0 && self.memory.len() + rows.len() <= MEMORY_ROWS {
            self.memory.extend(rows);
        } else {
            let n = rows.len() as u64;
            match self.spill.append(&rows) {
                Ok(()) => {
                    self.stats.rows_spilled.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    // The disk failed too: keep the rows in memory past the
                    // bound rather than drop them.
                    tracing::error!(error = %e, "spill file unwritable; keeping rows in memory");
                    self.memory.extend(rows);
                }
            }
        }
        self.stats.pending.store(self.pending(), Ordering::Relaxed);
    }

    fn refill_from_spill(&mut self) {
        if self.spill.pending() == 0 || self.memory.len() >= BATCH_ROWS {
            return;
        }
        match self.spill.take(BATCH_ROWS) {
            Ok(rows) => self.memory.extend(rows),
            Err(e) => tracing::error!(error = %e, "spill file unreadable"),
        }
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.writing {
            return;
        }
        if let Some(at) = self.retry_at {
            if Instant::now() < at {
                return;
            }
        }
        self.refill_from_spill();
        if self.memory.is_empty() {
            if let Err(e) = self.spill.reset_if_drained() {
                tracing::warn!(error = %e, "could not reset the spill file");
            }
            self.answer_waiters(true);
            return;
        }
        let n = self.memory.len().min(BATCH_ROWS);
        let batch: Vec<RecordRow> = self.memory.iter().take(n).cloned().collect();
        self.writing = true;
        let write = self.sink.write(batch);
        ctx.spawn(write.into_actor(self).map(move |result, act, ctx| {
            act.writing = false;
            match result {
                Ok(()) => {
                    act.memory.drain(..n);
                    act.stats.rows_written.fetch_add(n as u64, Ordering::Relaxed);
                    act.backoff = BACKOFF_INITIAL;
                    act.retry_at = None;
                    if let Some(since) = act.outage_since.take() {
                        tracing::info!(after = ?since.elapsed(), pending = act.pending(), "database back; writing the backlog");
                    }
                    act.stats.pending.store(act.pending(), Ordering::Relaxed);
                    if act.pending() > 0 {
                        act.flush(ctx);
                    } else {
                        act.flush(ctx); // answers waiters and resets the spill
                    }
                }
                Err(reason) => {
                    act.stats.write_failures.fetch_add(1, Ordering::Relaxed);
                    if act.outage_since.is_none() {
                        act.outage_since = Some(Instant::now());
                        tracing::warn!(%reason, pending = act.pending(), "database write failed; buffering records and retrying");
                    } else {
                        tracing::debug!(%reason, pending = act.pending(), "database still unavailable");
                    }
                    act.retry_at = Some(Instant::now() + act.backoff);
                    act.backoff = (act.backoff * 2).min(BACKOFF_MAX);
                }
            }
        }));
    }

    fn answer_waiters(&mut self, done: bool) {
        let now = Instant::now();
        let waiters = std::mem::take(&mut self.flush_waiters);
        for (deadline, tx) in waiters {
            if done {
                let _ = tx.send(true);
            } else if now >= deadline {
                let _ = tx.send(false);
            } else {
                self.flush_waiters.push((deadline, tx));
            }
        }
    }
}

impl Actor for Recorder {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(FLUSH_INTERVAL, |act, ctx| {
            act.answer_waiters(false);
            act.flush(ctx);
        });
    }
}

impl Handler<RecordCall> for Recorder {
    type Result = ();
    fn handle(&mut self, msg: RecordCall, ctx: &mut Self::Context) {
        let rows = self.numbering.rows(&msg.call_sid, msg.at, msg.record);
        let rows = self.redaction.rows(&msg.call_sid, rows);
        // One line per row, for audits such as scripts/crash-loss.sh.
        for row in &rows {
            tracing::debug!(target: "frontdesk::record", call_sid = %msg.call_sid, row = row_kind(row), "record received");
        }
        self.enqueue(rows);
        if self.memory.len() >= BATCH_ROWS {
            self.flush(ctx);
        }
    }
}

impl Handler<ContinueNumbering> for Recorder {
    type Result = ();
    fn handle(&mut self, msg: ContinueNumbering, _: &mut Self::Context) {
        self.numbering
            .continue_after(&msg.call_sid, msg.last_event, msg.last_turn);
    }
}

impl Handler<Flush> for Recorder {
    type Result = ResponseFuture<bool>;
    fn handle(&mut self, msg: Flush, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.flush_waiters.push((Instant::now() + msg.timeout, tx));
        self.flush(ctx);
        Box::pin(async move { rx.await.unwrap_or(false) })
    }
}

fn row_kind(row: &RecordRow) -> &'static str {
    match row {
        RecordRow::CallStarted { .. } => "call_started",
        RecordRow::Event { .. } => "event",
        RecordRow::Turn { .. } => "turn",
        RecordRow::Tool { .. } => "tool",
        RecordRow::Usage { .. } => "usage",
        RecordRow::Inputs { .. } => "inputs",
        RecordRow::CallEnded { .. } => "call_ended",
    }
}

#[cfg(test)]
mod tests;
