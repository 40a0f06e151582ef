//! Shared rig for the end-to-end tests: a real engine on a loopback port,
//! the Realtime model simulator, and the simulated Twilio caller, all over
//! real sockets.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use frontdesk::app::{launch, Running};
use frontdesk::config::{Config, ConfigSources};
use frontdesk::simulate::{sim_config, SIM_API_KEY, SIM_AUTH_TOKEN, SIM_CALLER};
use frontdesk_sim::caller::{CallerScript, CallerStep};
use frontdesk_sim::model::{all_client_events, ModelScript, ModelSim, ModelSimHandle, SimRecord};

pub struct Rig {
    pub model: ModelSimHandle,
    pub running: Running,
    pub base: String,
    pub dir: tempfile::TempDir,
}

pub fn repo_config() -> Config {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    Config::load_with_env(&ConfigSources::in_dir(&dir), &[]).expect("repo config loads")
}

/// Starts the model simulator and an engine pointed at it. Must run inside
/// an actix system (`#[actix_rt::test]`).
pub async fn rig(mut script: ModelScript, tweak: impl FnOnce(&mut Config)) -> Rig {
    script.api_key = Some(SIM_API_KEY.into());
    let model = ModelSim::start(script)
        .await
        .expect("model simulator starts");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = sim_config(repo_config(), &model.base_url());
    config.server.public_url = format!("http://{addr}");
    let dir = tempfile::tempdir().unwrap();
    config.storage.database_url = format!("sqlite://{}", dir.path().join("frontdesk.db").display());
    config.storage.spill_path = dir.path().join("spill.jsonl").display().to_string();
    tweak(&mut config);
    let running = launch(config, Some(listener)).await.expect("engine starts");
    Rig {
        model,
        running,
        base: format!("http://{addr}"),
        dir,
    }
}

/// The causes of a stored call's transitions, in order (the sentences).
pub fn transition_causes(detail: &frontdesk::store::CallDetail) -> Vec<String> {
    detail
        .timeline
        .iter()
        .filter_map(|e| e.payload.get("cause")?.as_str().map(String::from))
        .collect()
}

/// A signed caller with the given steps.
pub fn caller(steps: Vec<CallerStep>) -> CallerScript {
    let mut c = CallerScript::new(SIM_CALLER, "+15551230000");
    c.auth_token = Some(SIM_AUTH_TOKEN.into());
    c.steps = steps;
    c.max_duration = std::time::Duration::from_secs(60);
    c
}

impl Rig {
    /// Waits until every record sent so far is in the database.
    pub async fn flush_records(&self) {
        let written = self
            .running
            .recorder
            .send(frontdesk::recorder::Flush {
                timeout: std::time::Duration::from_secs(5),
            })
            .await
            .unwrap();
        assert!(written, "the recorder did not write everything in time");
    }

    /// The engine's Prometheus text.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Waits (up to 5 s) until the metrics contain `needle`.
    pub async fn wait_for_metric(&self, needle: &str) -> bool {
        for _ in 0..100 {
            if self.metrics().await.contains(needle) {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    }
}

/// The front desk answers around the clock (no holidays), so a test that
/// presses 0 or transfers does not depend on the time it runs.
pub fn front_desk_always_open(
    c: &mut Config,
    on_no_answer: frontdesk::config::business::OnNoAnswer,
) {
    use frontdesk::config::business::{Span, WeeklyHours};
    let all: Vec<Span> = vec!["00:00-23:59".parse().unwrap()];
    let week = WeeklyHours {
        monday: all.clone(),
        tuesday: all.clone(),
        wednesday: all.clone(),
        thursday: all.clone(),
        friday: all.clone(),
        saturday: all.clone(),
        sunday: all,
    };
    c.business.holidays.clear();
    let desk = c
        .business
        .departments
        .iter_mut()
        .find(|d| d.name == "Front desk")
        .expect("sample front desk");
    desk.hours = Some(week);
    desk.on_no_answer = on_no_answer;
}

pub fn wait_for_reply() -> CallerStep {
    CallerStep::WaitForSilence {
        quiet_ms: 600,
        timeout_ms: 15_000,
    }
}

/// The Python with the official SDKs (made by scripts/pytools.sh).
pub fn python() -> PathBuf {
    let p = std::env::var_os("FRONTDESK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pytools/bin/python"));
    assert!(
        p.exists(),
        "{} not found: run scripts/pytools.sh (scripts/test.sh does it)",
        p.display()
    );
    p
}

/// One of the project's oracle scripts (`tests/oracles/py/`).
pub fn oracle_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/oracles/py")
        .join(name)
}

/// Every event the engine sent the model must be a valid GA client event
/// by the official SDK's schema, with no undeclared keys.
pub fn assert_client_events_valid(rec: &SimRecord) {
    let events = all_client_events(rec);
    assert!(!events.is_empty(), "the engine sent the model nothing");
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for e in &events {
        writeln!(file, "{e}").unwrap();
    }
    file.flush().unwrap();
    let out = Command::new(python())
        .arg(oracle_script("realtime_events.py"))
        .args(["--side", "client"])
        .arg(file.path())
        .output()
        .expect("checker runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client events rejected by the SDK schema:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("{} valid, 0 invalid", events.len())),
        "{text}"
    );
}

/// Types of the client events of one connection, in order.
pub fn event_types(events: &[String]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(e).unwrap()["type"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}
