//! The replay as text: one line per step (time, state before, event,
//! commands, state after), divergences marked `!` with what was recorded and
//! what the replay issued, and why a replay stopped early.

use std::fmt::Write as _;

use serde_json::Value;

use super::replay::{Replay, ReplayedStep};
use frontdesk_core::playback::PCMU_BYTES_PER_MS;

/// The whole replay, for a terminal.
pub fn text(r: &Replay) -> String {
    let mut s = String::new();
    let minutes = r.duration_ms as f64 / 60_000.0;
    let per_minute = if minutes > 0.0 {
        format!(
            ", {:.1} KB per call-minute",
            r.record_bytes as f64 / 1024.0 / minutes
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        s,
        "call {}: format v{}, {} steps over {:.1} s, record {:.1} KB{per_minute}",
        r.call_sid,
        r.format,
        r.steps.len(),
        r.duration_ms as f64 / 1000.0,
        r.record_bytes as f64 / 1024.0,
    );
    if let Some((recorded, replayed)) = &r.start {
        let mark = if r.start_diverged { '!' } else { ' ' };
        let _ = writeln!(s, "{mark}   0.000 start    -> {}", commands(replayed));
        if r.start_diverged {
            let _ = writeln!(s, "      recorded: {}", commands(recorded));
        }
    }
    let _ = writeln!(
        s,
        "    t (s)  step  {:<12} {:<44} commands -> after",
        "before", "event"
    );
    for step in &r.steps {
        line(&mut s, step);
    }
    if let Some(at) = r.stopped_at_ms {
        let state = r.final_state.unwrap_or("?");
        let _ = writeln!(
            s,
            "\nstopped at {:.3} s, in state {state}; the machine there:",
            at as f64 / 1000.0
        );
        if let Some(v) = &r.state_at_stop {
            let _ = writeln!(s, "{}", serde_json::to_string_pretty(v).unwrap_or_default());
        }
    }
    if let Some(h) = &r.halt {
        let when = h
            .at_ms
            .map(|t| format!(" ({:.3} s)", t as f64 / 1000.0))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "\ncannot continue after step {}{when}: {} — {}",
            h.after_step, h.kind, h.reason
        );
    }
    let _ = writeln!(
        s,
        "\n{} divergence{}{}",
        r.divergences,
        if r.divergences == 1 { "" } else { "s" },
        match r.final_state {
            Some(state) => format!("; final state {state}"),
            None => String::new(),
        }
    );
    s
}

fn line(s: &mut String, step: &ReplayedStep) {
    let mark = if step.diverged { '!' } else { ' ' };
    let _ = writeln!(
        s,
        "{mark} {:>8.3} {:>5}  {:<12} {:<44} {} -> {}",
        step.at_ms as f64 / 1000.0,
        step.seq,
        step.before,
        clip(&input(&step.input), 44),
        result(&step.replayed),
        step.after,
    );
    if step.diverged {
        let _ = writeln!(s, "      recorded: {}", result(&step.recorded));
        let _ = writeln!(s, "      replayed: {}", result(&step.replayed));
    }
}

fn result(r: &Result<Vec<Value>, String>) -> String {
    match r {
        Ok(c) if c.is_empty() => "-".into(),
        Ok(c) => commands(c),
        Err(e) => format!("REFUSED ({e})"),
    }
}

/// Commands, shortly: `media 800 B`, `mark 3:1200`, `model.truncate item_id=… audio_end_ms=1840`.
pub fn commands(c: &[Value]) -> String {
    c.iter().map(command).collect::<Vec<_>>().join(", ")
}

fn command(v: &Value) -> String {
    match v {
        Value::Number(n) => {
            let bytes = n.as_u64().unwrap_or(0);
            format!("media {}ms", bytes / PCMU_BYTES_PER_MS)
        }
        // Marks are `"generation:ms"`; unit commands are plain words.
        Value::String(m) if m.contains(':') => format!("mark {m}"),
        other => flat(other),
    }
}

/// The input, shortly.
pub fn input(v: &Value) -> String {
    match v {
        Value::String(s) if s == "wake" => "timers due".into(),
        Value::Object(o) if o.contains_key("model_audio") => {
            let a = &o["model_audio"];
            format!(
                "model audio {}ms {}dBFS {}",
                a["ms"],
                a["dbfs"],
                a["item_id"].as_str().unwrap_or("")
            )
        }
        other => flat(other),
    }
}

/// `{"a":{"b":{"x":1,"y":"z"}}}` -> `a.b x=1 y=z`.
fn flat(v: &Value) -> String {
    let mut path = Vec::new();
    let mut v = v;
    loop {
        match v {
            // Descend through `{"kind":{…}}` wrappers; stop at `{"field": scalar}`.
            Value::Object(o) if o.len() == 1 => match o.iter().next() {
                Some((k, inner)) if inner.is_object() || path.is_empty() => {
                    path.push(k.clone());
                    v = inner;
                }
                _ => break,
            },
            _ => break,
        }
    }
    let mut text = path.join(".");
    match v {
        Value::Object(o) => {
            for (k, f) in o {
                let _ = write!(text, " {k}={}", leaf(f));
            }
        }
        Value::Null => {}
        Value::String(s) if path.is_empty() => text = s.clone(),
        other => {
            let _ = write!(text, " {}", leaf(other));
        }
    }
    text
}

fn leaf(v: &Value) -> String {
    match v {
        Value::String(s) => clip(s, 40),
        Value::Array(a) => format!("[{} items]", a.len()),
        other => clip(&other.to_string(), 40),
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_read_shortly() {
        let c = vec![
            json!(1600),
            json!("3:1200"),
            json!({"model": {"truncate": {"item_id": "item_7", "audio_end_ms": 1840}}}),
            json!("stop_model"),
        ];
        assert_eq!(
            commands(&c),
            "media 200ms, mark 3:1200, model.truncate audio_end_ms=1840 item_id=item_7, stop_model"
        );
    }
}
