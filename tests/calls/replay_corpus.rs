//! The replay corpus: recorded calls of every simulated scenario, replayed by
//! the machine of this build. A change to the machine that alters behaviour
//! shows up here as a diff of steps.
//!
//! - `the_corpus_replays_without_divergence` replays the committed records
//!   (`tests/fixtures/replay/*.jsonl`): deterministic, no sockets.
//! - `every_simulated_scenario_replays_without_divergence` places each
//!   scenario's call for real (engine, Twilio caller and model simulators) and
//!   replays what the engine recorded — the recording is complete and exact.
//!   With `UPDATE_REPLAY_CORPUS=1` it also rewrites the corpus
//!   (`scripts/refresh-replay-corpus.sh`; see docs/replay.md).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::*;
use frontdesk::config::business::{OnNoAnswer, WeeklyHours};
use frontdesk::config::Config;
use frontdesk::flight::{self, replay::Options};
use frontdesk::simulate::{scenario, Scenario};
use frontdesk_sim::audio::synth_speech;
use frontdesk_sim::caller::{place_call, CallerScript, CallerStep, RecordingOutcome};
use frontdesk_sim::model::{ModelScript, ScriptTurn};
use serde_json::json;

/// Every scenario the corpus must hold.
const SCENARIOS: [&str; 7] = [
    "greeting",
    "barge-in",
    "tool",
    "model-drop-and-resume",
    "menu-fallback",
    "transfer-failure",
    "voicemail",
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/replay")
}

fn recording() -> RecordingOutcome {
    RecordingOutcome {
        recording_sid: "RE00000000000000000000000000000077".into(),
        recording_url: "http://127.0.0.1:9/2010-04-01/Accounts/AC0/Recordings/RE00000000000000000000000000000077".into(),
        duration_secs: 7,
    }
}

fn front_desk_closed(c: &mut Config) {
    front_desk_always_open(c, OnNoAnswer::Voicemail);
    if let Some(desk) = c
        .business
        .departments
        .iter_mut()
        .find(|d| d.name == "Front desk")
    {
        desk.hours = Some(WeeklyHours::default());
    }
}

/// The model, the caller and the engine's configuration of a scenario.
fn script(name: &str) -> (ModelScript, CallerScript, fn(&mut Config)) {
    let from_sim = |s| {
        let (model, mut c) = scenario(s, Vec::new());
        let mut signed = caller(std::mem::take(&mut c.steps));
        signed.menu_input = c.menu_input;
        signed.recording = c.recording.map(|_| recording());
        signed.dial_status = c.dial_status;
        (model, signed)
    };
    let open: fn(&mut Config) = |c| front_desk_always_open(c, OnNoAnswer::Voicemail);
    match name {
        "greeting" => {
            let model = ModelScript {
                greeting: "Harbor Dental, this is Ava. How can I help?".into(),
                ..ModelScript::default()
            };
            (
                model,
                caller(vec![wait_for_reply(), CallerStep::HangUp]),
                open,
            )
        }
        "barge-in" => {
            let (m, c) = from_sim(Scenario::BargeIn);
            (m, c, open)
        }
        "tool" => {
            let (m, c) = from_sim(Scenario::Hours);
            (m, c, open)
        }
        "model-drop-and-resume" => {
            let (m, c) = from_sim(Scenario::ModelDrop);
            (m, c, open)
        }
        "menu-fallback" => {
            let (m, c) = from_sim(Scenario::ModelDown);
            (m, c, open)
        }
        "transfer-failure" => {
            let model = ModelScript {
                greeting: "Harbor Dental, how can I help?".into(),
                turns: vec![ScriptTurn::Tool {
                    caller: "Can I talk to someone at the front desk?".into(),
                    name: "transfer_call".into(),
                    arguments: json!({"department": "Front desk"}),
                    reply_template: "Connecting you now.".into(),
                }],
                audio_ms_per_char: 15,
                ..ModelScript::default()
            };
            let mut c = caller(vec![
                wait_for_reply(),
                CallerStep::Say {
                    label: "transfer me".into(),
                    audio: synth_speech(1000, 4),
                },
                CallerStep::WaitForClose { timeout_ms: 15_000 },
            ]);
            c.dial_status = "busy".into();
            c.recording = Some(recording());
            (model, c, open)
        }
        "voicemail" => {
            let model = ModelScript {
                greeting: "Harbor Dental, how can I help?".into(),
                ..ModelScript::default()
            };
            let mut c = caller(vec![
                wait_for_reply(),
                CallerStep::Dtmf { digit: '0' },
                CallerStep::WaitForClose { timeout_ms: 15_000 },
            ]);
            c.recording = Some(recording());
            (model, c, front_desk_closed)
        }
        other => panic!("no scenario {other}"),
    }
}

/// Places the scenario's call and returns its flight record as stored.
async fn record_scenario(name: &'static str) -> (&'static str, String) {
    let (model, c, tweak) = script(name);
    let rig = rig(model, tweak).await;
    let report = place_call(&rig.base, c).await.unwrap();
    let sid = report.call_sid.clone();
    // The record is complete once the call's end and every webhook after
    // it have been written.
    for _ in 0..100 {
        rig.running
            .recorder
            .send(frontdesk::recorder::Flush {
                timeout: Duration::from_secs(5),
            })
            .await
            .unwrap();
        let text: String = rig
            .running
            .store
            .flight_chunks(&sid)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, body)| body)
            .collect();
        let r = flight::replay(&flight::decode(&text), Options::default());
        if r.final_state == Some("ended") && r.halt.is_none() {
            return (name, text);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{name}: the call {sid} never ended on its flight record\n{}",
        report.timeline_text()
    );
}

/// `Err` names each divergent step, as the CLI prints it.
fn check(name: &str, text: &str) -> Result<flight::Replay, String> {
    let r = flight::replay(&flight::decode(text), Options::default());
    if r.is_clean() && r.final_state == Some("ended") {
        Ok(r)
    } else {
        Err(format!("{name}:\n{}", flight::render::text(&r)))
    }
}

#[actix_rt::test]
async fn every_simulated_scenario_replays_without_divergence() {
    let records =
        futures_util::future::join_all(SCENARIOS.iter().map(|n| record_scenario(n))).await;
    let update = std::env::var_os("UPDATE_REPLAY_CORPUS").is_some();
    let mut failures = Vec::new();
    for (name, text) in &records {
        match check(name, text) {
            Ok(r) => {
                let minutes = r.duration_ms as f64 / 60_000.0;
                println!(
                    "{name}: {} steps over {:.1} s, {} bytes ({:.0} bytes per call-minute)",
                    r.steps.len(),
                    r.duration_ms as f64 / 1000.0,
                    r.record_bytes,
                    r.record_bytes as f64 / minutes
                );
                if update {
                    std::fs::create_dir_all(corpus_dir()).unwrap();
                    std::fs::write(corpus_dir().join(format!("{name}.jsonl")), text).unwrap();
                }
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_corpus_replays_without_divergence() {
    let mut failures = Vec::new();
    for name in SCENARIOS {
        let path = corpus_dir().join(format!("{name}.jsonl"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (make it with scripts/refresh-replay-corpus.sh)",
                path.display()
            )
        });
        if let Err(e) = check(name, &text) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "the machine no longer does what the recorded calls did; if that is \
         intended, refresh the corpus (scripts/refresh-replay-corpus.sh) and \
         review the diff:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_cli_replays_a_record_file_and_exits_non_zero_on_a_divergence() {
    let bin = env!("CARGO_BIN_EXE_frontdesk");
    let fixture = corpus_dir().join("barge-in.jsonl");
    let out = Command::new(bin)
        .args(["calls", "replay", "--file"])
        .arg(&fixture)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("0 divergences; final state ended"), "{text}");
    assert!(text.contains("speech_started"), "{text}");

    // The same call, had the live machine truncated elsewhere.
    let original = std::fs::read_to_string(&fixture).unwrap();
    let tampered = original.replacen("\"audio_end_ms\":", "\"audio_end_ms\":1", 1);
    assert_ne!(tampered, original, "the barge-in record has a truncate");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tampered.jsonl");
    std::fs::write(&path, tampered).unwrap();
    let out = Command::new(bin)
        .args(["calls", "replay", "--json", "--file"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["divergences"], 1);

    // Cut short: replayed up to there, exit 2, and why.
    let half: String = original
        .lines()
        .take(20)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&path, half).unwrap();
    let out = Command::new(bin)
        .args(["calls", "replay", "--file"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("cannot continue after step"), "{text}");
}
