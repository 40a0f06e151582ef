//! Redaction of a call's rows in the recorder, with a running window per
//! call: callers read a card number over several turns ("four two four
//! two…" — "…four two"), and answer "March third" to "your date of birth?".
//!
//! A caller turn that ends in a number that could still grow into a card
//! or account number is held back (at most [`MAX_HELD`] turns) until the
//! caller's next turn or the end of the call; then the held turns and the
//! new one are redacted as one text and each turn keeps its own part. The
//! topic of the last turn (the receptionist's question) primes the next.

use std::collections::HashMap;

use super::detect::{apply, find, Finding, Level, Topic};
use super::digits::runs;
use super::tokens::tokenize;
use super::Redactor;
use crate::store::RecordRow;

/// Caller turns held back at most, before they are written anyway.
const MAX_HELD: usize = 4;
/// A trailing number this long or longer may be the start of a card
/// read over several turns; shorter ones ("at 3") are not held.
const HOLD_MIN_DIGITS: usize = 4;

#[derive(Default)]
struct Window {
    held: Vec<RecordRow>,
    topic: Topic,
}

/// The recorder's redaction: rows in, rows out (held turns come out later).
pub struct RowRedactor {
    redactor: Redactor,
    calls: HashMap<String, Window>,
}

impl RowRedactor {
    /// The level rows are redacted at.
    pub fn redactor(&self) -> Redactor {
        self.redactor
    }

    pub fn new(redactor: Redactor) -> RowRedactor {
        RowRedactor {
            redactor,
            calls: HashMap::new(),
        }
    }

    /// Turns held back now, over all calls.
    pub fn held(&self) -> usize {
        self.calls.values().map(|w| w.held.len()).sum()
    }

    /// The rows of one record, redacted, plus any held turns now released,
    /// in an order the store accepts (turns keep their sequence numbers).
    pub fn rows(&mut self, call_sid: &str, rows: Vec<RecordRow>) -> Vec<RecordRow> {
        let r = self.redactor;
        if r.level() == Level::Off {
            return rows;
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            match row {
                RecordRow::Turn {
                    call_sid: sid,
                    seq,
                    speaker,
                    text,
                    at,
                } => {
                    let window = self.calls.entry(call_sid.to_string()).or_default();
                    let row = RecordRow::Turn {
                        call_sid: sid,
                        seq,
                        speaker: speaker.clone(),
                        text: text.clone(),
                        at,
                    };
                    if speaker == "caller" {
                        window.held.push(row);
                        let force = window.held.len() >= MAX_HELD;
                        out.extend(release(window, r.level(), force));
                    } else {
                        let topic = window.topic;
                        window.topic = Topic::of(&text);
                        out.push(with_text(row, r.text(&text, topic).into_owned()));
                    }
                }
                RecordRow::Tool {
                    call_sid,
                    tool_call_id,
                    name,
                    arguments,
                    result,
                    latency_ms,
                    at,
                } => out.push(RecordRow::Tool {
                    call_sid,
                    tool_call_id,
                    name,
                    arguments: r.json(&arguments),
                    result: r.json(&result),
                    latency_ms,
                    at,
                }),
                RecordRow::Event {
                    call_sid: sid,
                    seq,
                    kind,
                    payload,
                    at,
                } => {
                    if kind == "ended" {
                        if let Some(mut w) = self.calls.remove(call_sid) {
                            out.extend(release(&mut w, r.level(), true));
                        }
                    }
                    out.push(RecordRow::Event {
                        call_sid: sid,
                        seq,
                        payload: r.json(&payload),
                        kind,
                        at,
                    });
                }
                RecordRow::CallEnded { .. } => {
                    if let Some(mut w) = self.calls.remove(call_sid) {
                        out.extend(release(&mut w, r.level(), true));
                    }
                    out.push(row);
                }
                other => out.push(other),
            }
        }
        out
    }
}

fn with_text(row: RecordRow, new: String) -> RecordRow {
    match row {
        RecordRow::Turn {
            call_sid,
            seq,
            speaker,
            at,
            ..
        } => RecordRow::Turn {
            call_sid,
            seq,
            speaker,
            text: new,
            at,
        },
        other => other,
    }
}

fn turn_text(row: &RecordRow) -> &str {
    match row {
        RecordRow::Turn { text, .. } => text,
        _ => "",
    }
}

/// Whether `text` ends in a number that may go on in the next turn: one
/// that no finding covers yet and that is short of the longest card.
fn open_number(text: &str, found: &[Finding]) -> bool {
    let toks = tokenize(text);
    let Some(last) = runs(text, &toks).pop() else {
        return false;
    };
    let tail_is_number = text[last.end..]
        .chars()
        .all(|c| c.is_whitespace() || matches!(c, ',' | '.' | '-' | '…'));
    tail_is_number
        && (HOLD_MIN_DIGITS..19).contains(&last.digits.len())
        && !found
            .iter()
            .any(|f| f.start < last.end && f.end >= last.end)
}

/// Redacts the held caller turns as one text and gives each its part;
/// unless `force`, keeps holding them while they end in an open number.
fn release(window: &mut Window, level: Level, force: bool) -> Vec<RecordRow> {
    if window.held.is_empty() {
        return Vec::new();
    }
    let mut joined = String::new();
    let mut spans = Vec::with_capacity(window.held.len());
    for row in &window.held {
        if !joined.is_empty() {
            joined.push(' ');
        }
        let start = joined.len();
        joined.push_str(turn_text(row));
        spans.push((start, joined.len()));
    }
    let found = find(&joined, level, window.topic);
    if !force && open_number(&joined, &found) {
        return Vec::new();
    }
    window.topic = Topic::of(&joined);
    std::mem::take(&mut window.held)
        .into_iter()
        .zip(spans)
        .map(|(row, (s, e))| {
            let mine: Vec<Finding> = found
                .iter()
                .filter(|f| f.start < e && f.end > s)
                .map(|f| Finding {
                    start: f.start.max(s) - s,
                    end: f.end.min(e) - s,
                    ..f.clone()
                })
                .collect();
            let text = apply(&joined[s..e], &mine);
            with_text(row, text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn turn(seq: i64, speaker: &str, text: &str) -> RecordRow {
        RecordRow::Turn {
            call_sid: "CA1".into(),
            seq,
            speaker: speaker.into(),
            text: text.into(),
            at: Utc::now(),
        }
    }

    fn texts(rows: &[RecordRow]) -> Vec<(i64, String)> {
        rows.iter()
            .filter_map(|r| match r {
                RecordRow::Turn { seq, text, .. } => Some((*seq, text.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_card_read_over_two_turns_is_redacted_in_both() {
        let mut w = RowRedactor::new(Redactor::new(Level::Standard));
        assert!(w
            .rows(
                "CA1",
                vec![turn(
                    1,
                    "caller",
                    "it's four two four two four two four two"
                )]
            )
            .is_empty());
        assert_eq!(w.held(), 1);
        let between = w.rows("CA1", vec![turn(2, "assistant", "Go on.")]);
        assert_eq!(texts(&between), [(2, "Go on.".to_string())]);
        let out = w.rows(
            "CA1",
            vec![turn(3, "caller", "four two four two four two four two.")],
        );
        assert_eq!(
            texts(&out),
            [
                (1, "it's [card ••••4242]".to_string()),
                (3, "[card ••••4242].".to_string())
            ]
        );
        assert_eq!(w.held(), 0);
    }

    #[test]
    fn held_turns_are_written_when_the_call_ends() {
        let mut w = RowRedactor::new(Redactor::new(Level::Standard));
        assert!(w
            .rows("CA1", vec![turn(1, "caller", "my number is 555 0100")])
            .is_empty());
        let end = RecordRow::CallEnded {
            call_sid: "CA1".into(),
            ended_at: Utc::now(),
            outcome: "caller_hung_up".into(),
            failure_reason: None,
        };
        let out = w.rows("CA1", vec![end]);
        assert_eq!(texts(&out), [(1, "my number is 555 0100".to_string())]);
        assert!(matches!(out[1], RecordRow::CallEnded { .. }));
    }

    #[test]
    fn the_question_primes_the_answer_and_off_passes_through() {
        let mut w = RowRedactor::new(Redactor::new(Level::Strict));
        w.rows(
            "CA1",
            vec![turn(1, "assistant", "What is your date of birth?")],
        );
        // It ends in a number, but one already redacted: nothing to wait for.
        let out = w.rows(
            "CA1",
            vec![turn(2, "caller", "the fifth of May, nineteen ninety")],
        );
        assert_eq!(texts(&out), [(2, "the [date of birth]".to_string())]);
        let mut off = RowRedactor::new(Redactor::off());
        let out = off.rows("CA1", vec![turn(1, "caller", "4242 4242 4242 4242")]);
        assert_eq!(texts(&out), [(1, "4242 4242 4242 4242".to_string())]);
    }
}
