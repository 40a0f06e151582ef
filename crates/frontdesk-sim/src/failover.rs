//! `frontdesk-failover`: measures what callers live through when the
//! instance holding their calls dies. Two `frontdesk serve` processes share
//! PostgreSQL and Redis behind an active/passive balancer; `--calls` calls
//! are placed (all land on the primary), each caller speaks and hears the
//! answer, and while they are mid-conversation the primary is killed with
//! SIGKILL. Each call is then counted as killed (its stream dropped),
//! resumed (a new stream played audio again) and the caller's silence
//! across the reconnect is reported.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Parser;

use crate::audio::synth_speech;
use crate::balancer::Balancer;
use crate::caller::{place_call, CallReport, CallerScript, CallerStep, DEFAULT_ACCOUNT_SID};
use crate::cluster::{free_addr, ClusterSpec, EngineProcess};
use crate::model::{ModelScript, ModelSim, ScriptTurn};

const AUTH_TOKEN: &str = "failover-auth-token";
const API_KEY: &str = "sk-failover";
const CALLER_LINE: &str = "I'd like to book a cleaning";

#[derive(Debug, Parser)]
#[command(
    name = "frontdesk-failover",
    about = "Kill the instance holding live calls and measure how they come back"
)]
pub struct FailoverArgs {
    /// The `frontdesk` binary.
    #[arg(long, default_value = "target/release/frontdesk")]
    pub engine: PathBuf,
    /// Concurrent calls, all on the instance that is killed.
    #[arg(long, default_value_t = 20)]
    pub calls: u32,
    /// PostgreSQL shared by both instances.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Where `config/` is.
    #[arg(long, default_value = ".")]
    pub workdir: PathBuf,
}

/// What happened to the calls.
#[derive(Debug, Default)]
pub struct FailoverReport {
    pub calls: usize,
    /// The stream dropped when the instance died.
    pub killed: usize,
    /// A new stream played audio again after the drop.
    pub resumed: usize,
    /// Per resumed call: from the drop to the first audio on the new stream.
    pub silences: Vec<Duration>,
    pub problems: Vec<String>,
}

impl FailoverReport {
    pub fn table(&self) -> String {
        let mut s = self.silences.clone();
        s.sort();
        let pick = |q: f64| -> String {
            if s.is_empty() {
                return "-".into();
            }
            let i = ((s.len() - 1) as f64 * q).round() as usize;
            format!("{:.0} ms", s[i].as_secs_f64() * 1000.0)
        };
        let mut out = format!(
            "calls {}  killed mid-conversation {}  resumed {}\n\
             caller silence across the reconnect: p50 {}  p95 {}  max {}\n",
            self.calls,
            self.killed,
            self.resumed,
            pick(0.5),
            pick(0.95),
            pick(1.0)
        );
        for p in &self.problems {
            out.push_str(&format!("problem: {p}\n"));
        }
        out
    }

    fn add(&mut self, report: &CallReport) {
        self.calls += 1;
        let dropped = report
            .followups
            .iter()
            .any(|f| f.url.ends_with("/twilio/after-stream"));
        if dropped {
            self.killed += 1;
        }
        if let Some(gap) = report.stream_gaps.first() {
            self.resumed += 1;
            self.silences.push(*gap);
        } else if dropped {
            self.problems.push(format!(
                "{} not resumed:\n{}",
                report.call_sid,
                report.timeline_text()
            ));
        }
    }
}

fn script(i: u32, base: &str) -> CallerScript {
    let mut c = CallerScript::new(format!("+1500555{:04}", i), "+15551230000");
    c.auth_token = Some(AUTH_TOKEN.into());
    c.status_callback = Some(format!("{base}/twilio/call-status"));
    c.max_duration = Duration::from_secs(60);
    c.steps = vec![
        CallerStep::WaitForAudio { timeout_ms: 15_000 },
        CallerStep::WaitForSilence {
            quiet_ms: 600,
            timeout_ms: 15_000,
        },
        CallerStep::Say {
            label: CALLER_LINE.into(),
            audio: synth_speech(1200, u64::from(i)),
        },
        CallerStep::WaitForSilence {
            quiet_ms: 600,
            timeout_ms: 15_000,
        },
        // The primary dies during the answer or this pause; a step the close
        // interrupts is dropped, so the apology is waited for after it.
        CallerStep::Pause { ms: 8000 },
        CallerStep::WaitForAudio { timeout_ms: 10_000 },
        CallerStep::HangUp,
    ];
    c
}

pub async fn run(args: &FailoverArgs) -> anyhow::Result<FailoverReport> {
    if args.calls == 0 {
        bail!("--calls must be at least 1");
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let model = ModelSim::start(ModelScript {
        greeting: "Harbor Dental, this is Ava.".into(),
        turns: (0..args.calls)
            .map(|_| ScriptTurn::Reply {
                caller: CALLER_LINE.into(),
                reply: "Sure, which day suits you?".into(),
            })
            .collect(),
        api_key: Some(API_KEY.into()),
        ..ModelScript::default()
    })
    .await
    .context("starting the model simulator")?;
    let scratch = tempfile_dir()?;
    let (addr_a, addr_b) = (free_addr()?, free_addr()?);
    let lb = Balancer::start(vec![addr_a, addr_b]).await?;
    let spec = ClusterSpec {
        binary: args.engine.clone(),
        workdir: args.workdir.clone(),
        scratch: scratch.clone(),
        public_url: lb.base_url(),
        database_url: args.database_url.clone(),
        redis_url: args.redis_url.clone(),
        redis_namespace: format!("fdfailover{:x}", rand::random::<u32>()),
        model_base_url: model.base_url(),
        api_key: API_KEY.into(),
        auth_token: AUTH_TOKEN.into(),
        account_sid: DEFAULT_ACCOUNT_SID.into(),
    };
    let mut a = EngineProcess::spawn(&spec, "a", addr_a)?;
    if !a.healthy(Duration::from_secs(30)).await {
        bail!("instance a did not start:\n{}", a.logs());
    }
    let mut b = EngineProcess::spawn(&spec, "b", addr_b)?;
    if !b.healthy(Duration::from_secs(30)).await {
        bail!("instance b did not start:\n{}", b.logs());
    }

    let base = lb.base_url();
    let mut calls = Vec::new();
    for i in 0..args.calls {
        let s = script(i, &base);
        let base = base.clone();
        calls.push(tokio::task::spawn_local(async move {
            place_call(&base, s).await
        }));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every caller has spoken and heard the answer begin: kill the primary.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while model
        .record()
        .transcript
        .iter()
        .filter(|(who, t)| who == "model" && t.contains("which day"))
        .count()
        < args.calls as usize
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.kill();
    let mut report = FailoverReport::default();
    for call in calls {
        match call.await? {
            Ok(r) => report.add(&r),
            Err(e) => report.problems.push(format!("call not placed: {e}")),
        }
    }
    drop(b);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(report)
}

fn tempfile_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("frontdesk-failover-{:x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
