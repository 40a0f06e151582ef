//! The recorder's write path: batches of call facts, safe to replay.

use std::collections::HashSet;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::error::StoreError;
use super::model::{to_db, RecordRow};
use super::schema::{
    call_events, call_inputs, call_usage, calls, tool_invocations, transcript_turns,
};
use super::Store;

impl Store {
    /// Writes `rows` in one transaction: all or nothing.
    ///
    /// Replaying a batch (after a timeout whose commit did in fact land, or
    /// from the recorder's spill file) writes nothing twice: every insert is
    /// `ON CONFLICT DO NOTHING` on the row's natural key, usage is added to the
    /// call's totals only when its `response_id` is new, and `CallEnded` only
    /// fills an end that is still empty.
    ///
    /// A row for a call whose `CallStarted` was never written creates a
    /// placeholder call (empty numbers, `started_at` = the row's time) that a
    /// later `CallStarted` fills in.
    ///
    /// Errors: [`StoreError::Conflict`] when an event's `seq` is not the call's
    /// next one; [`StoreError::Unreachable`] when the database is away (the
    /// caller should keep the rows and retry).
    pub async fn write_batch(&self, rows: &[RecordRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        db_write!(self, |conn| {
            let mut known_calls: HashSet<&str> = HashSet::new();
            for row in rows {
                if let RecordRow::CallStarted {
                    call_sid,
                    transport,
                    business_number,
                    from_number,
                    to_number,
                    started_at,
                } = row
                {
                    let started_at = to_db(*started_at);
                    let inserted = diesel::insert_into(calls::table)
                        .values((
                            calls::call_sid.eq(call_sid),
                            calls::business_number.eq(business_number),
                            calls::from_number.eq(from_number),
                            calls::to_number.eq(to_number),
                            calls::started_at.eq(started_at),
                            calls::transport.eq(transport),
                        ))
                        .on_conflict_do_nothing()
                        .execute(conn)
                        .await?;
                    if inserted == 0 {
                        // Fill in a placeholder left by rows that arrived first;
                        // a real start already recorded is never overwritten.
                        diesel::update(
                            calls::table
                                .filter(calls::call_sid.eq(call_sid))
                                .filter(calls::business_number.eq(""))
                                .filter(calls::from_number.eq(""))
                                .filter(calls::to_number.eq("")),
                        )
                        .set((
                            calls::business_number.eq(business_number),
                            calls::from_number.eq(from_number),
                            calls::to_number.eq(to_number),
                            calls::started_at.eq(started_at),
                            calls::transport.eq(transport),
                        ))
                        .execute(conn)
                        .await?;
                    }
                    known_calls.insert(call_sid);
                    continue;
                }
                let call_sid = row.call_sid();
                if known_calls.insert(call_sid) {
                    diesel::insert_into(calls::table)
                        .values((
                            calls::call_sid.eq(call_sid),
                            calls::business_number.eq(""),
                            calls::from_number.eq(""),
                            calls::to_number.eq(""),
                            calls::started_at.eq(to_db(row.at())),
                        ))
                        .on_conflict_do_nothing()
                        .execute(conn)
                        .await?;
                }
                match row {
                    RecordRow::CallStarted { .. } => {}
                    RecordRow::Event {
                        call_sid,
                        seq,
                        kind,
                        payload,
                        at,
                    } => {
                        // One row per statement: the sequence guard must see
                        // the previous event of the batch.
                        diesel::insert_into(call_events::table)
                            .values((
                                call_events::call_sid.eq(call_sid),
                                call_events::seq.eq(seq),
                                call_events::kind.eq(kind),
                                call_events::payload.eq(payload),
                                call_events::at.eq(to_db(*at)),
                            ))
                            .on_conflict_do_nothing()
                            .execute(conn)
                            .await?;
                    }
                    RecordRow::Turn {
                        call_sid,
                        seq,
                        speaker,
                        text,
                        at,
                    } => {
                        diesel::insert_into(transcript_turns::table)
                            .values((
                                transcript_turns::call_sid.eq(call_sid),
                                transcript_turns::seq.eq(seq),
                                transcript_turns::speaker.eq(speaker),
                                transcript_turns::text.eq(text),
                                transcript_turns::at.eq(to_db(*at)),
                            ))
                            .on_conflict_do_nothing()
                            .execute(conn)
                            .await?;
                    }
                    RecordRow::Tool {
                        call_sid,
                        tool_call_id,
                        name,
                        arguments,
                        result,
                        latency_ms,
                        at,
                    } => {
                        diesel::insert_into(tool_invocations::table)
                            .values((
                                tool_invocations::call_sid.eq(call_sid),
                                tool_invocations::tool_call_id.eq(tool_call_id),
                                tool_invocations::name.eq(name),
                                tool_invocations::arguments.eq(arguments),
                                tool_invocations::result.eq(result),
                                tool_invocations::latency_ms.eq(latency_ms),
                                tool_invocations::at.eq(to_db(*at)),
                            ))
                            .on_conflict_do_nothing()
                            .execute(conn)
                            .await?;
                    }
                    RecordRow::Usage {
                        call_sid,
                        response_id,
                        input_tokens,
                        output_tokens,
                        input_audio_tokens,
                        output_audio_tokens,
                        cached_tokens,
                        at,
                    } => {
                        let new = diesel::insert_into(call_usage::table)
                            .values((
                                call_usage::call_sid.eq(call_sid),
                                call_usage::response_id.eq(response_id),
                                call_usage::input_tokens.eq(input_tokens),
                                call_usage::output_tokens.eq(output_tokens),
                                call_usage::input_audio_tokens.eq(input_audio_tokens),
                                call_usage::output_audio_tokens.eq(output_audio_tokens),
                                call_usage::cached_tokens.eq(cached_tokens),
                                call_usage::at.eq(to_db(*at)),
                            ))
                            .on_conflict_do_nothing()
                            .execute(conn)
                            .await?;
                        if new > 0 {
                            diesel::update(calls::table.find(call_sid))
                                .set((
                                    calls::input_tokens.eq(calls::input_tokens + *input_tokens),
                                    calls::output_tokens.eq(calls::output_tokens + *output_tokens),
                                    calls::input_audio_tokens
                                        .eq(calls::input_audio_tokens + *input_audio_tokens),
                                    calls::output_audio_tokens
                                        .eq(calls::output_audio_tokens + *output_audio_tokens),
                                    calls::cached_tokens.eq(calls::cached_tokens + *cached_tokens),
                                ))
                                .execute(conn)
                                .await?;
                        }
                    }
                    RecordRow::Inputs {
                        call_sid,
                        chunk,
                        body,
                        at,
                    } => {
                        diesel::insert_into(call_inputs::table)
                            .values((
                                call_inputs::call_sid.eq(call_sid),
                                call_inputs::chunk.eq(chunk),
                                call_inputs::body.eq(body),
                                call_inputs::at.eq(to_db(*at)),
                            ))
                            .on_conflict_do_nothing()
                            .execute(conn)
                            .await?;
                    }
                    RecordRow::CallEnded {
                        call_sid,
                        ended_at,
                        outcome,
                        failure_reason,
                    } => {
                        diesel::update(
                            calls::table
                                .find(call_sid)
                                .filter(calls::ended_at.is_null()),
                        )
                        .set((
                            calls::ended_at.eq(Some(to_db(*ended_at))),
                            calls::outcome.eq(Some(outcome)),
                            calls::failure_reason.eq(failure_reason.as_deref()),
                        ))
                        .execute(conn)
                        .await?;
                    }
                }
            }
            Ok(())
        })
    }
}
