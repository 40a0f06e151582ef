//! `frontdesk simulate`: one whole call with a simulated caller (Twilio) and
//! a simulated model — no accounts, no network. The scenarios here are the
//! same ones the end-to-end tests drive.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::config::Config;
use frontdesk_sim::audio::{load_audio_file, synth_speech};
use frontdesk_sim::caller::{place_call, CallReport, CallerScript, CallerStep, MenuInput};
use frontdesk_sim::model::{ConnectionBehavior, ModelScript, ModelSim, ScriptTurn, SimRecord};

/// The auth token the in-process simulation signs with.
pub const SIM_AUTH_TOKEN: &str = "simulated-auth-token";
pub const SIM_API_KEY: &str = "sk-simulated";
pub const SIM_CALLER: &str = "+15005550006";

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Ask for the hours (a tool call), then say goodbye (end_call).
    Hours,
    /// Interrupt the assistant mid-sentence.
    BargeIn,
    /// The model connection drops mid-answer; the engine resumes.
    ModelDrop,
    /// The model is unreachable; the caller gets the keypad menu.
    ModelDown,
    /// Press 0 for the operator; the transfer is answered.
    Operator,
}

/// How the simulated call reaches the engine.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TransportArg {
    /// Twilio Media Streams (the caller simulator; every `--scenario`).
    #[default]
    Twilio,
    /// OpenAI's SIP connector: the signed webhook, accept, the sideband
    /// socket, a tool and a transfer by SIP REFER (docs/sip.md).
    Sip,
}

#[derive(clap::Args, Clone, Debug)]
pub struct SimulateArgs {
    #[arg(long, value_enum, default_value = "hours")]
    pub scenario: Scenario,
    /// `sip`: one whole SIP call (its own scenario; in-process only).
    #[arg(long, value_enum, default_value = "twilio")]
    pub transport: TransportArg,
    /// Call an engine that is already running at this URL (its OPENAI_BASE_URL
    /// must point at `frontdesk sim-model`) instead of starting one here.
    #[arg(long)]
    pub engine: Option<String>,
    /// Twilio auth token to sign with when calling --engine.
    #[arg(long, env = "TWILIO_AUTH_TOKEN")]
    pub auth_token: Option<String>,
    /// Audio for the caller's lines, in order (WAV 8 kHz PCM16 or mu-law, or raw .ulaw).
    #[arg(long = "audio")]
    pub audio: Vec<PathBuf>,
    /// Show the engine's logs.
    #[arg(long, short)]
    pub verbose: bool,
}

/// A caller line: given audio, or synthetic speech of a plausible length.
fn line(label: &str, audio: &mut std::vec::IntoIter<Vec<u8>>, seed: u64) -> CallerStep {
    let audio = audio
        .next()
        .unwrap_or_else(|| synth_speech(900 + 40 * label.len() as u32, seed));
    CallerStep::Say {
        label: label.into(),
        audio,
    }
}

fn wait_for_reply() -> CallerStep {
    CallerStep::WaitForSilence {
        quiet_ms: 700,
        timeout_ms: 20_000,
    }
}

/// The model and caller scripts of a scenario.
pub fn scenario(s: Scenario, audio: Vec<Vec<u8>>) -> (ModelScript, CallerScript) {
    let mut audio = audio.into_iter();
    let greeting =
        "Thanks for calling Harbor Dental, this is Ava. How can I help you today?".to_string();
    let mut model = ModelScript {
        greeting,
        api_key: Some(SIM_API_KEY.into()),
        ..ModelScript::default()
    };
    let mut caller = CallerScript::new(SIM_CALLER, "+15551230000");
    caller.max_duration = Duration::from_secs(90);
    // As a number set up per the README: Twilio reports the call's end.
    caller.status_callback = Some("/twilio/call-status".into());
    match s {
        Scenario::Hours => {
            model.turns = vec![
                ScriptTurn::Tool {
                    caller: "Hi, are you open on Friday?".into(),
                    name: "get_business_hours".into(),
                    arguments: json!({"when": "friday"}),
                    reply_template: "Let me check. Here is what I found: {output}".into(),
                },
                ScriptTurn::Tool {
                    caller: "Great, thanks. Bye!".into(),
                    name: "end_call".into(),
                    arguments: json!({"reason": "caller said goodbye"}),
                    reply_template: "You're welcome. Have a lovely day, goodbye!".into(),
                },
            ];
            model.audio_ms_per_char = 12;
            caller.steps = vec![
                wait_for_reply(),
                line("Hi, are you open on Friday?", &mut audio, 1),
                wait_for_reply(),
                line("Great, thanks. Bye!", &mut audio, 2),
                CallerStep::WaitForClose { timeout_ms: 20_000 },
            ];
        }
        Scenario::BargeIn => {
            model.turns = vec![
                ScriptTurn::Reply {
                    caller: "Tell me about your practice.".into(),
                    reply: "We are a family dental practice with three dentists, open since 1998, offering cleanings, \
                            fillings, crowns, whitening and emergency care, and we accept most insurance plans."
                        .into(),
                },
                ScriptTurn::Reply { caller: "Sorry, do you take new patients?".into(), reply: "Yes, we do!".into() },
            ];
            caller.steps = vec![
                wait_for_reply(),
                line("Tell me about your practice.", &mut audio, 3),
                CallerStep::WaitForAudio { timeout_ms: 10_000 },
                CallerStep::Pause { ms: 1500 },
                line("Sorry, do you take new patients?", &mut audio, 4),
                wait_for_reply(),
                CallerStep::HangUp,
            ];
        }
        Scenario::ModelDrop => {
            model.connections = vec![ConnectionBehavior::DropMidResponse { after_deltas: 3 }];
            model.turns = vec![ScriptTurn::Reply {
                caller: "Can I speak to someone about billing?".into(),
                reply: "Of course. Billing is open Monday, Wednesday and Friday mornings.".into(),
            }];
            caller.steps = vec![
                wait_for_reply(),
                line("Can I speak to someone about billing?", &mut audio, 5),
                CallerStep::WaitForSilence {
                    quiet_ms: 1500,
                    timeout_ms: 20_000,
                },
                CallerStep::HangUp,
            ];
        }
        Scenario::ModelDown => {
            model.then = ConnectionBehavior::RejectHandshake { status: 503 };
            caller.menu_input = vec![
                MenuInput::Digits("1".into()),
                MenuInput::Speech("leave a message".into()),
            ];
            caller.recording = Some(frontdesk_sim::caller::RecordingOutcome {
                recording_sid: "RE00000000000000000000000000000001".into(),
                recording_url: "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE00000000000000000000000000000001".into(),
                duration_secs: 12,
            });
            caller.steps = vec![CallerStep::WaitForClose { timeout_ms: 20_000 }];
        }
        Scenario::Operator => {
            caller.dial_status = "completed".into();
            caller.steps = vec![
                CallerStep::WaitForAudio { timeout_ms: 10_000 },
                CallerStep::Dtmf { digit: '0' },
                CallerStep::WaitForClose { timeout_ms: 10_000 },
            ];
        }
    }
    (model, caller)
}

/// Engine configuration for an in-process simulation against `model_base`.
pub fn sim_config(mut config: Config, model_base: &str) -> Config {
    config.realtime.base_url = model_base.to_string();
    config.realtime.api_key = Some(SIM_API_KEY.into());
    config.twilio.auth_token = Some(SIM_AUTH_TOKEN.into());
    config.twilio.account_sid = frontdesk_sim::caller::DEFAULT_ACCOUNT_SID.into();
    config.server.verify_signatures = true;
    config
}

/// Why a simulated call could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("reading {path}: {source}")]
    Audio {
        path: PathBuf,
        source: frontdesk_sim::audio::AudioFileError,
    },
    #[error("starting the {what} simulator: {source}")]
    Simulator {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("starting the engine: {0}")]
    Launch(#[from] crate::app::LaunchError),
    #[error("placing the call: {0}")]
    Call(#[from] frontdesk_sim::caller::SimError),
    #[error("{0}")]
    Unsupported(&'static str),
    #[error("the SIP webhook: {0}")]
    Webhook(String),
}

fn simulator(what: &'static str) -> impl FnOnce(std::io::Error) -> SimulateError {
    move |source| SimulateError::Simulator { what, source }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SimulateError {
    move |source| SimulateError::Io {
        what: what.into(),
        source,
    }
}

pub async fn run(config: Config, args: SimulateArgs) -> Result<(), SimulateError> {
    crate::app::install_crypto();
    if args.transport == TransportArg::Sip {
        if args.engine.is_some() {
            return Err(SimulateError::Unsupported(
                "--transport sip runs its own engine; --engine is for Twilio calls",
            ));
        }
        return sip::run(config).await;
    }
    let audio = args
        .audio
        .iter()
        .map(|p| {
            load_audio_file(p).map_err(|source| SimulateError::Audio {
                path: p.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (model_script, mut caller) = scenario(args.scenario, audio);
    let mut sims = None;
    let (engine_url, model, running) = match &args.engine {
        Some(url) => {
            caller.auth_token = args.auth_token.clone();
            (url.trim_end_matches('/').to_string(), None, None)
        }
        None => {
            let model = ModelSim::start(model_script)
                .await
                .map_err(simulator("model"))?;
            // Twilio's REST API (recordings, SMS) and the transcription
            // service, simulated too: a voicemail left in the simulation is
            // fetched, transcribed and stored like a real one.
            let rest = frontdesk_sim::twilio_rest::TwilioRestSim::start(
                frontdesk_sim::caller::DEFAULT_ACCOUNT_SID,
                SIM_AUTH_TOKEN,
            )
            .await
            .map_err(simulator("Twilio REST"))?;
            if let Some(rec) = &caller.recording {
                let wav = frontdesk_sim::audio::mulaw_to_wav(&synth_speech(3000, 42));
                rest.add_recording(&rec.recording_sid, wav);
                caller.recording = Some(frontdesk_sim::caller::RecordingOutcome {
                    recording_url: format!(
                        "{}/2010-04-01/Accounts/{}/Recordings/{}",
                        rest.base_url(),
                        frontdesk_sim::caller::DEFAULT_ACCOUNT_SID,
                        rec.recording_sid
                    ),
                    ..rec.clone()
                });
            }
            let transcription =
                frontdesk_sim::transcription::TranscriptionSim::start(frontdesk_sim::transcription::TranscriptionScript {
                    api_key: Some(SIM_API_KEY.into()),
                    text: "Hi, this is Dana Whitfield. Please call me back about moving my cleaning to next week."
                        .into(),
                    ..Default::default()
                })
                .await
                .map_err(simulator("transcription"))?;
            let listener =
                std::net::TcpListener::bind("127.0.0.1:0").map_err(io("binding a local port"))?;
            let addr = listener.local_addr().map_err(io("binding a local port"))?;
            let mut config = sim_config(config, &model.base_url());
            config.server.public_url = format!("http://{addr}");
            config.twilio.rest_base_url = rest.base_url();
            config.knowledge.transcription_base_url = transcription.base_url();
            sims = Some((rest, transcription));
            let data = tempfile_dir()?;
            config.storage.database_url =
                format!("sqlite://{}", data.join("simulate.db").display());
            config.storage.spill_path = data.join("spill.jsonl").display().to_string();
            let running = crate::app::launch(config, Some(listener)).await?;
            caller.auth_token = Some(SIM_AUTH_TOKEN.into());
            (format!("http://{addr}"), Some(model), Some(running))
        }
    };
    println!(
        "Frontdesk simulated call ({:?}) to {engine_url}",
        args.scenario
    );
    let report = place_call(&engine_url, caller).await?;
    print_report(&report, model.as_ref().map(|m| m.record()).as_ref());
    if let Some(r) = running {
        // Let a voicemail finish its trip (fetch, transcription, storage).
        if caller_left_voicemail(&report) {
            for vm in finished_voicemails(&r, &report.call_sid).await {
                println!(
                    "\nVoicemail stored: {}",
                    vm.transcript.as_deref().unwrap_or("(no transcript)")
                );
            }
        }
        // The call's last records (its end, its outcome) reach the database
        // before this command returns.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !r.calls.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let flushed = r
            .recorder
            .send(crate::recorder::Flush {
                timeout: Duration::from_secs(5),
            })
            .await
            .unwrap_or(false);
        r.stop(false).await;
        println!(
            "\nRecords {} {}\n  see them: DATABASE_URL={} frontdesk calls show {}\n  replay its state machine: DATABASE_URL={} frontdesk calls replay {}",
            if flushed {
                "written to"
            } else {
                "partly written (the rest is in the spill file) to"
            },
            r.config.storage.database_url,
            r.config.storage.database_url,
            report.call_sid,
            r.config.storage.database_url,
            report.call_sid
        );
    }
    drop(sims);
    Ok(())
}

/// The call's voicemails once their transcript step is over (10 s at most).
async fn finished_voicemails(
    r: &crate::app::Running,
    call_sid: &str,
) -> Vec<crate::store::Voicemail> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stored = match r.store.call_detail(call_sid).await {
            Ok(Some(detail)) => detail.voicemails,
            _ => Vec::new(),
        };
        let done = !stored.is_empty() && stored.iter().all(|v| !v.pending);
        if done || tokio::time::Instant::now() >= deadline {
            return stored;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

mod sip;

/// A scratch directory for a simulated call's own database.
fn tempfile_dir() -> Result<PathBuf, SimulateError> {
    let dir = std::env::temp_dir().join(format!("frontdesk-simulate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    Ok(dir)
}

fn caller_left_voicemail(report: &CallReport) -> bool {
    report
        .followups
        .iter()
        .any(|f| f.url.ends_with("/twilio/voicemail"))
}

pub fn print_report(report: &CallReport, model: Option<&SimRecord>) {
    println!("CallSid {}", report.call_sid);
    if let Some(rec) = model {
        println!("\nTranscript");
        for (who, text) in &rec.transcript {
            println!("  {who:>6}: {text}");
        }
        println!("  (model connections: {})", rec.connections.len());
    }
    println!("\nTimings");
    match report.greeting_latency {
        Some(d) => println!(
            "  first audio after stream start: {:.1} ms",
            d.as_secs_f64() * 1000.0
        ),
        None => println!("  first audio after stream start: none"),
    }
    for (i, d) in report.first_audio_after_say.iter().enumerate() {
        match d {
            Some(d) => println!(
                "  answer after caller line {}: {:.0} ms",
                i + 1,
                d.as_secs_f64() * 1000.0
            ),
            None => println!("  answer after caller line {}: none", i + 1),
        }
    }
    println!(
        "  audio heard: {:.1} s; clears: {}",
        report.heard.len() as f64 / 8000.0,
        report.clears.len()
    );
    if !report.followups.is_empty() {
        println!("\nAfter the stream");
        for f in &report.followups {
            println!("  POST {} -> {}\n    {}", f.url, f.status, f.twiml);
        }
    }
    if !report.problems.is_empty() || !report.step_timeouts.is_empty() {
        println!("\nProblems");
        for p in report.problems.iter().chain(&report.step_timeouts) {
            println!("  {p}");
        }
    }
}

/// `frontdesk sim-model`: the model simulator alone, answering with the
/// hours scenario.
pub async fn serve_model(listen: String) -> Result<(), SimulateError> {
    let (mut script, _) = scenario(Scenario::Hours, Vec::new());
    script.api_key = None;
    let handle = ModelSim::start_on(script, listen.as_str())
        .await
        .map_err(io(format!("listening on {listen}")))?;
    println!("model simulator: set OPENAI_BASE_URL={}", handle.base_url());
    tokio::signal::ctrl_c()
        .await
        .map_err(io("waiting for Ctrl-C"))?;
    Ok(())
}
