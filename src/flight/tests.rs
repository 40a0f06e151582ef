//! A call driven straight through the machine and the flight log (as the
//! call actor does), stored, read back and replayed; then the bad records.

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::log::{Chunk, FlightLog, Input};
use super::replay::Options;
use super::*;
use frontdesk_core::decision::{OnNoAnswer, Transfer};
use frontdesk_core::machine::MachineConfig;
use frontdesk_core::supervision::Budget;
use frontdesk_core::transcript::Speaker;
use frontdesk_core::{Call, Command, Event, ResponseStatus, TwilioCommand};

fn cfg() -> MachineConfig {
    MachineConfig {
        pacing_lead_ms: 200,
        barge_in_margin_ms: 0,
        hold_message_after_ms: 1200,
        tool_timeout_ms: 5000,
        silence_timeout_ms: 20_000,
        max_call_ms: 1_800_000,
        stream_start_timeout_ms: 15_000,
        model_ready_deadline_ms: 4000,
        session_ready_timeout_ms: 5000,
        response_timeout_ms: 8000,
        session_cap_ms: 3_300_000,
        budget: Budget {
            restarts: 2,
            window_ms: 30_000,
            backoff_initial_ms: 100,
            backoff_max_ms: 2000,
        },
        operator: Some(Transfer {
            department: "Front desk".into(),
            number: "+15551230100".into(),
            on_no_answer: OnNoAnswer::Voicemail,
        }),
        parking: frontdesk_core::Parking {
            menu_ms: 60_000,
            recording_ms: 155_000,
            dial_ring_ms: 50_000,
        },
        transport: frontdesk_core::Transport::Twilio,
        sip_fallback: None,
    }
}

/// The machine and its log, stepped like the call actor steps them.
struct Live {
    call: Call,
    log: FlightLog,
    chunks: Arc<Mutex<Vec<Chunk>>>,
    now: u64,
}

impl Live {
    fn new() -> Live {
        Self::starting(None)
    }

    /// A call started fresh, or resumed from a lost instance.
    fn starting(resume: Option<super::Resume>) -> Live {
        let chunks = Arc::new(Mutex::new(Vec::new()));
        let sink = chunks.clone();
        let (call, first) = match &resume {
            Some(r) => Call::resume(cfg(), 0, r.turns.clone(), r.elapsed_ms),
            None => Call::start(cfg(), 0),
        };
        let log = FlightLog::new(
            "CAtest",
            Some(Arc::new(move |c| sink.lock().unwrap().push(c))),
            &cfg(),
            &first,
            resume,
        );
        Live {
            call,
            log,
            chunks,
            now: 0,
        }
    }

    /// Runs the timer table up to `t`, then feeds `event` at `t`.
    fn at(&mut self, t: u64, event: Event) -> Vec<Command> {
        let mut commands = self.run_until(t);
        let input = self.log.capture(&event);
        let result = self.call.step(event, t);
        self.log
            .step(t, input, result.as_ref().map(Vec::as_slice), false);
        commands.extend(result.unwrap_or_default());
        commands
    }

    /// Fires the timers due by `t`; returns what they issued.
    fn run_until(&mut self, t: u64) -> Vec<Command> {
        let mut out = Vec::new();
        while let Some(due) = self.call.poll_timeout().filter(|d| *d <= t) {
            let due = due.max(self.now);
            self.now = due;
            let commands = self.call.handle_timeout(due);
            self.log.wake(due, &commands, false);
            out.extend(commands);
        }
        self.now = t;
        out
    }

    fn text(&mut self) -> String {
        self.log.hand_over();
        let chunks = self.chunks.lock().unwrap();
        chunks.iter().map(encode_chunk).collect()
    }
}

fn audio(ms: u64) -> String {
    // Not silence: the energy figure must be measured, not assumed.
    STANDARD.encode(vec![0x10u8; (ms * 8) as usize])
}

fn delta(ms: u64) -> Event {
    Event::AudioDelta {
        response_id: "resp_1".into(),
        item_id: "item_1".into(),
        payload: audio(ms),
    }
}

/// Greeting, a barge-in mid-answer, a refused event, the caller hangs up.
fn barge_in_call() -> Live {
    let mut live = Live::new();
    live.at(300, Event::ModelReady);
    live.at(
        500,
        Event::StreamStarted {
            stream_sid: "MZ1".into(),
        },
    );
    live.at(
        600,
        Event::ResponseCreated {
            response_id: "resp_1".into(),
        },
    );
    for i in 0..40 {
        live.at(620 + i * 10, delta(100));
    }
    for (t, mark) in [(800, "1:100"), (900, "1:200"), (1000, "1:300")] {
        let _ = live.at(t + 400, Event::Mark { name: mark.into() });
    }
    live.at(1550, Event::SpeechStarted);
    live.at(
        1560,
        Event::MenuInput {
            digits: Some("1".into()),
            speech: None,
            operator_open: false,
        },
    );
    live.at(
        2000,
        Event::Transcript {
            speaker: Speaker::Caller,
            item_id: "item_2".into(),
            text: "do you take new patients".into(),
        },
    );
    live.at(
        2100,
        Event::ResponseDone {
            response_id: "resp_1".into(),
            status: ResponseStatus::Cancelled,
        },
    );
    live.at(9000, Event::StreamStopped);
    live
}

#[test]
fn a_logged_call_replays_step_for_step_without_divergence() {
    let mut live = barge_in_call();
    let text = live.text();
    let record = decode(&text);
    assert_eq!(record.problem, None, "{text}");
    assert_eq!(record.call_sid, "CAtest");
    let r = replay(&record, Options::default());
    assert!(r.is_clean(), "{}", render::text(&r));
    assert_eq!(r.final_state, Some("ended"));
    assert_eq!(exit_code(&r), 0);
    // Every input is there: 3 + 40 deltas + 3 marks + 5, plus the wake-ups.
    let events = r.steps.iter().filter(|s| s.input != "wake").count();
    assert_eq!(events, 51);
    assert!(r.steps.iter().any(|s| s.input == "wake"));
    // The refused menu input is recorded as refused, and replays as refused.
    assert!(r
        .steps
        .iter()
        .any(|s| s.recorded.is_err() && s.replayed.is_err()));
    // The barge-in's truncate is among the recorded commands.
    let barge = r
        .steps
        .iter()
        .find(|s| s.input == "speech_started")
        .unwrap();
    let cmds = render::commands(barge.recorded.as_ref().unwrap());
    assert!(cmds.contains("model.truncate"), "{cmds}");
}

#[test]
fn a_call_resumed_after_failover_replays_from_its_resumed_start() {
    let turns = vec![frontdesk_core::transcript::Turn {
        speaker: Speaker::Caller,
        text: "Can I book a cleaning?".into(),
        item_id: String::new(),
    }];
    let mut live = Live::starting(Some(super::Resume {
        turns,
        elapsed_ms: 42_000,
    }));
    live.at(
        200,
        Event::StreamStarted {
            stream_sid: "MZ2".into(),
        },
    );
    live.at(300, Event::ModelReady);
    live.at(900, Event::StreamStopped);
    let text = live.text();
    assert!(text.contains("Can I book a cleaning?"), "{text}");
    let r = replay(&decode(&text), Options::default());
    assert_eq!(r.divergences, 0, "{r:?}");
    assert!(r.halt.is_none(), "{r:?}");
    // Replayed as a fresh start instead, the first commands differ.
    let fresh = text.replace(r#","resume":"#, r#","ignored":"#);
    let r = replay(&decode(&fresh), Options::default());
    assert!(r.start_diverged, "{r:?}");
}

#[test]
fn audio_is_stored_as_its_length_and_energy_never_its_payload() {
    let mut live = barge_in_call();
    let text = live.text();
    assert!(!text.contains(&audio(100)), "a payload was stored");
    let first_audio = text.lines().find(|l| l.contains("\"a\":")).unwrap();
    // 100 ms of mu-law 0x10: 800 bytes, loud (about -8 dBFS), ids named once.
    assert!(first_audio.contains("\"a\":[800,"), "{first_audio}");
    assert!(first_audio.contains("\"r\":\"resp_1\""), "{first_audio}");
    let second = text
        .lines()
        .filter(|l| l.contains("\"a\":"))
        .nth(1)
        .unwrap();
    assert!(!second.contains("resp_1"), "ids repeated: {second}");
    let record = decode(&text);
    let energies: Vec<i8> = record
        .steps
        .iter()
        .filter_map(|s| match &s.input {
            format::RecordedInput::Audio { energy_dbfs, .. } => Some(*energy_dbfs),
            _ => None,
        })
        .collect();
    assert_eq!(energies.len(), 40);
    assert!(
        energies.iter().all(|e| (-20..0).contains(e)),
        "{energies:?}"
    );
}

#[test]
fn ids_are_named_again_in_every_chunk() {
    let mut live = Live::new();
    let ev = delta(20);
    let a = live.log.capture(&ev);
    let b = live.log.capture(&ev);
    assert!(matches!(a, Some(Input::Audio { ids: Some(_), .. })));
    assert!(matches!(b, Some(Input::Audio { ids: None, .. })));
    live.log.hand_over();
    let c = live.log.capture(&ev);
    assert!(matches!(c, Some(Input::Audio { ids: Some(_), .. })));
}

#[test]
fn a_different_command_is_a_divergence_shown_with_both_sides() {
    let mut live = barge_in_call();
    let text = live.text();
    // The live machine had truncated elsewhere.
    let line = text
        .lines()
        .find(|l| l.contains("audio_end_ms"))
        .unwrap()
        .to_string();
    let start = line.find("\"audio_end_ms\":").unwrap() + "\"audio_end_ms\":".len();
    let end = start + line[start..].find(|c: char| !c.is_ascii_digit()).unwrap();
    let tampered = format!("{}99999{}", &line[..start], &line[end..]);
    let r = replay(&decode(&text.replace(&line, &tampered)), Options::default());
    assert_eq!(r.divergences, 1);
    assert_eq!(exit_code(&r), 1);
    let shown = render::text(&r);
    assert!(
        shown.contains("recorded: ") && shown.contains("audio_end_ms=99999"),
        "{shown}"
    );
}

#[test]
fn a_missing_chunk_stops_the_replay_at_the_gap() {
    let mut live = barge_in_call();
    live.text();
    let chunks = live.chunks.lock().unwrap().clone();
    assert!(chunks.len() >= 3, "the call should span several chunks");
    let kept: String = chunks
        .iter()
        .filter(|c| c.chunk != 1)
        .map(encode_chunk)
        .collect();
    let r = replay(&decode(&kept), Options::default());
    let halt = r.halt.clone().unwrap();
    assert_eq!(halt.kind, "unreadable");
    assert!(
        halt.reason.contains("chunk 1 is missing"),
        "{}",
        halt.reason
    );
    assert_eq!(r.steps.len(), chunks[0].steps.len());
    assert_eq!(halt.after_step, chunks[0].steps.len() as u64);
    assert_eq!(exit_code(&r), 2);
}

#[test]
fn an_event_kind_from_a_newer_version_stops_the_replay_there() {
    let mut live = barge_in_call();
    let text = live.text();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let at = lines
        .iter()
        .position(|l| l.contains("speech_started"))
        .unwrap();
    lines[at] = r#"{"t":1550,"e":{"caller_sentiment":{"score":3}}}"#.into();
    let r = replay(&decode(&(lines.join("\n") + "\n")), Options::default());
    let halt = r.halt.unwrap();
    assert!(
        halt.reason
            .contains("unknown event kind `caller_sentiment`"),
        "{}",
        halt.reason
    );
    assert!(halt.at_ms.is_some_and(|t| t <= 1550));
    assert!(r.steps.iter().all(|s| s.at_ms <= 1550));
    // A header from a newer format says so.
    lines[0] = lines[0].replace("\"v\":1", "\"v\":2");
    let r = replay(&decode(&(lines.join("\n") + "\n")), Options::default());
    assert!(r.halt.unwrap().reason.contains("format v2"));
}

#[test]
fn a_record_without_its_end_is_reported_truncated() {
    let mut live = barge_in_call();
    live.text();
    let chunks = live.chunks.lock().unwrap().clone();
    let head: String = chunks[..chunks.len() - 1]
        .iter()
        .map(encode_chunk)
        .collect();
    let r = replay(&decode(&head), Options::default());
    let halt = r.halt.unwrap();
    assert_eq!(halt.kind, "truncated");
    assert!(halt.reason.contains("still in state"), "{}", halt.reason);
    assert_eq!(r.divergences, 0);
    // A chunk cut inside is named as such.
    let full = chunks.iter().map(encode_chunk).collect::<String>();
    let cut: String = full.lines().take(10).map(|l| format!("{l}\n")).collect();
    let r = replay(&decode(&cut), Options::default());
    assert!(r.halt.unwrap().reason.contains("cut short"));
}

#[test]
fn stopping_at_a_moment_shows_the_whole_machine_there() {
    let mut live = barge_in_call();
    let record = decode(&live.text());
    let r = replay(
        &record,
        Options {
            stop_at_ms: Some(1_549),
        },
    );
    assert!(r.steps.iter().all(|s| s.at_ms <= 1549));
    assert_eq!(r.final_state, Some("greeting"));
    let state = r.state_at_stop.clone().unwrap();
    assert_eq!(state["state"], "playing_greeting");
    assert!(
        state["ctx"]["playback"]["items"][0]["played_ms"].as_u64() > Some(0),
        "{state}"
    );
    assert_eq!(exit_code(&r), 0);
}

#[test]
fn garbage_never_panics() {
    let mut live = barge_in_call();
    let text = live.text();
    let mut inputs = vec![
        String::new(),
        "not json\n".into(),
        "[1,2,3]\n".into(),
        r#"{"t":5,"w":1}"#.into(),
        r#"{"v":1,"chunk":0,"first":1,"steps":1}"#.to_string() + "\n{\"t\":1,\"w\":1}\n",
    ];
    // Every prefix of the record, cut anywhere (also mid-line).
    for cut in (0..text.len()).step_by(97) {
        if text.is_char_boundary(cut) {
            inputs.push(text[..cut].to_string());
        }
    }
    for input in inputs {
        let r = replay(&decode(&input), Options::default());
        assert!(r.halt.is_some() || r.is_clean());
        let _ = render::text(&r);
    }
}

#[test]
fn moments_read_in_seconds_or_milliseconds() {
    assert_eq!(parse_moment("12.4s"), Ok(12_400));
    assert_eq!(parse_moment("12400ms"), Ok(12_400));
    assert_eq!(parse_moment("3"), Ok(3_000));
    assert!(parse_moment("soon").is_err());
    assert!(parse_moment("-1s").is_err());
}

/// A 20-minute conversation on a virtual clock: every 30 s the caller speaks
/// for 4 s and the assistant answers with 20 s of audio in `delta_ms` deltas
/// (arriving at 4x real time), each mark echoed 200 ms after it was sent.
/// Returns the stored record.
fn twenty_minutes(delta_ms: u64) -> (String, usize) {
    let mut live = Live::new();
    let mut marks: Vec<(u64, String)> = Vec::new();
    let mut t = 0;
    let feed = |live: &mut Live, marks: &mut Vec<(u64, String)>, at: u64, e: Event| {
        // Echoes due before `at` arrive first, in order.
        marks.sort();
        while marks.first().is_some_and(|(due, _)| *due <= at) {
            let (due, name) = marks.remove(0);
            let c = live.at(due, Event::Mark { name });
            queue_marks(&c, due, marks);
        }
        let c = live.at(at, e);
        queue_marks(&c, at, marks);
    };
    feed(&mut live, &mut marks, 300, Event::ModelReady);
    feed(
        &mut live,
        &mut marks,
        400,
        Event::StreamStarted {
            stream_sid: "MZ1".into(),
        },
    );
    for turn in 0..40u64 {
        t = 1_000 + turn * 30_000;
        let item = format!("item_c{turn}");
        feed(
            &mut live,
            &mut marks,
            t,
            Event::CallerVoice { speaking: true },
        );
        feed(
            &mut live,
            &mut marks,
            t + 4_000,
            Event::CallerVoice { speaking: false },
        );
        feed(
            &mut live,
            &mut marks,
            t + 4_300,
            Event::Committed {
                item_id: item.clone(),
            },
        );
        let resp = format!("resp_{turn}");
        feed(
            &mut live,
            &mut marks,
            t + 4_600,
            Event::ResponseCreated {
                response_id: resp.clone(),
            },
        );
        let n = 20_000 / delta_ms;
        for i in 0..n {
            let e = Event::AudioDelta {
                response_id: resp.clone(),
                item_id: format!("item_a{turn}"),
                payload: audio(delta_ms),
            };
            feed(&mut live, &mut marks, t + 4_700 + i * delta_ms / 4, e);
        }
        let done = t + 4_700 + n * delta_ms / 4;
        feed(
            &mut live,
            &mut marks,
            done,
            Event::ResponseDone {
                response_id: resp,
                status: ResponseStatus::Completed,
            },
        );
        feed(
            &mut live,
            &mut marks,
            done + 100,
            Event::Transcript {
                speaker: Speaker::Caller,
                item_id: item,
                text: "Could I move my cleaning to a morning next week, please?".into(),
            },
        );
        feed(&mut live, &mut marks, done + 200, Event::Transcript {
            speaker: Speaker::Assistant,
            item_id: format!("item_a{turn}"),
            text: "Of course. I have Tuesday at nine or Thursday at ten thirty; which would suit you better?".into(),
        });
    }
    feed(&mut live, &mut marks, t + 29_000, Event::StreamStopped);
    let text = live.text();
    let chunks = live.chunks.lock().unwrap().len();
    (text, chunks)
}

fn queue_marks(commands: &[Command], at: u64, marks: &mut Vec<(u64, String)>) {
    for c in commands {
        if let Command::Twilio(TwilioCommand::Mark(name)) = c {
            marks.push((at + 200, name.clone()));
        }
    }
}

#[test]
fn a_twenty_minute_call_stays_small_and_replays() {
    // 100 ms deltas (what the simulator sends) and 20 ms (a worst case),
    // with the bytes per call-minute each must stay under.
    for (delta_ms, bound) in [(100, 60_000.0), (20, 160_000.0)] {
        let (text, chunks) = twenty_minutes(delta_ms);
        let r = replay(&decode(&text), Options::default());
        assert!(r.is_clean(), "{}", render::text(&r));
        assert_eq!(r.final_state, Some("ended"));
        let minutes = r.duration_ms as f64 / 60_000.0;
        let per_minute = text.len() as f64 / minutes;
        println!(
            "{delta_ms} ms deltas: {} steps, {} chunks (rows), {} bytes over {minutes:.1} min: \
             {per_minute:.0} bytes per call-minute",
            r.steps.len(),
            chunks,
            text.len()
        );
        assert!(minutes > 19.5);
        // A few hundred rows, not one per frame; tens of KB per minute.
        assert!(chunks < 1_000, "{chunks} chunks");
        assert!(per_minute < bound, "{per_minute} bytes per minute");
    }
}

/// What the log adds per model delta on the call path, next to the machine's
/// own step. A measurement, so ignored in the normal run; in release:
/// `cargo test --release --lib flight::tests::cost_per_delta -- --ignored --nocapture`.
#[test]
#[ignore]
fn cost_per_delta() {
    use std::time::Instant;
    for delta_ms in [100u64, 20] {
        let mut live = Live::new();
        let _ = live.at(1, Event::ModelReady);
        let _ = live.at(
            2,
            Event::StreamStarted {
                stream_sid: "MZ".into(),
            },
        );
        let _ = live.at(
            3,
            Event::ResponseCreated {
                response_id: "resp_1".into(),
            },
        );
        let (mut log_ns, mut machine_ns, n) = (0u128, 0u128, 50_000u64);
        for i in 0..n {
            let now = 10 + i * delta_ms / 4;
            let event = delta(delta_ms);
            let t0 = Instant::now();
            let input = live.log.capture(&event);
            let t1 = Instant::now();
            let mut result = live.call.step(event, now);
            if i % 4 == 0 {
                // Pacing releases audio as it would in real time.
                let woke = live.call.handle_timeout(now);
                result = result.map(|mut c| {
                    c.extend(woke);
                    c
                });
            }
            let t2 = Instant::now();
            live.log
                .step(now, input, result.as_ref().map(Vec::as_slice), false);
            let t3 = Instant::now();
            log_ns += (t1 - t0).as_nanos() + (t3 - t2).as_nanos();
            machine_ns += (t2 - t1).as_nanos();
        }
        let per = |ns: u128| ns as f64 / n as f64;
        println!(
            "{delta_ms} ms deltas: flight log {:.0} ns per delta, machine step {:.0} ns per delta",
            per(log_ns),
            per(machine_ns)
        );
        // Far below the 20 ms a frame lasts, whatever the machine.
        assert!(per(log_ns) < 50_000.0);
    }
}
