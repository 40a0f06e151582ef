//! Load generator: many simulated calls against a running engine, playing
//! both of its peers in one process — N Twilio calls and the Realtime model
//! server they reach through the engine — to measure what the engine costs
//! per call and what latency it adds.
//!
//! Every 20 ms frame carries its sender, sequence number and send time in
//! its first audio bytes (see [`frame`]), so latency and loss are read off
//! the frames themselves on one clock. The generator runs on a single
//! thread (tokio current-thread runtime + `LocalSet`); pin it to a core of
//! its own so it never competes with the engine.
//!
//! Phases: ramp (calls placed evenly), settle, the measurement window
//! (engine CPU and RSS, per-frame latency and loss), drain, barge-ins (the
//! model reports caller speech over queued audio; the `clear` is timed),
//! hang-up.

pub mod caller;
pub mod engine_view;
pub mod frame;
pub mod model;
pub mod procstat;
pub mod report;
pub mod shared;
pub mod stats;

use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tokio::net::TcpListener;

use caller::{run_call, CallerConfig};
use report::{EngineUsage, Interference, Report};
use shared::{ModelOrder, ModelPlan, Shared};

#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "frontdesk-load",
    about = "Load-test a running Frontdesk engine: simulated Twilio calls and a simulated model, one process"
)]
pub struct LoadArgs {
    /// The engine's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub engine: String,
    /// The engine's PUBLIC_URL (what signatures cover); defaults to --engine.
    #[arg(long)]
    pub public_url: Option<String>,
    /// Where the simulated model listens (the engine's OPENAI_BASE_URL is http://<this>/v1).
    #[arg(long, default_value = "127.0.0.1:9100")]
    pub model_listen: String,
    /// Concurrent calls.
    #[arg(long, default_value_t = 400)]
    pub calls: u32,
    /// Calls are placed evenly over this long.
    #[arg(long, default_value_t = 10.0)]
    pub ramp_secs: f64,
    /// Wait after every call streams, before measuring.
    #[arg(long, default_value_t = 3.0)]
    pub settle_secs: f64,
    /// Length of the measurement window.
    #[arg(long, default_value_t = 30.0)]
    pub steady_secs: f64,
    /// The engine's TWILIO_AUTH_TOKEN.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", required_unless_present = "summarize")]
    pub auth_token: Option<String>,
    /// The engine's process id, for CPU and memory.
    #[arg(long)]
    pub engine_pid: Option<u32>,
    /// Between the webhook answer and the stream upgrade.
    #[arg(long, default_value_t = 200)]
    pub stream_delay_ms: u64,
    /// Greeting audio the model sends at once (keep it under call.pacing_lead_ms).
    #[arg(long, default_value_t = 100)]
    pub greeting_ms: u32,
    /// Audio per model delta (a multiple of 20 ms). 20 ms is the worst
    /// case for the engine: one delta, one media and one mark per frame.
    #[arg(long, default_value_t = 20)]
    pub model_delta_ms: u32,
    /// Calls that get a barge-in after the window (the `clear` timing).
    #[arg(long, default_value_t = 50)]
    pub barge_ins: u32,
    /// Audio the model queues ahead of real time before the barge-in.
    #[arg(long, default_value_t = 300)]
    pub barge_in_burst_ms: u32,
    /// Print the result as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON result to this file.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
    /// Print the sweep table of earlier runs' JSON files and exit.
    #[arg(long, num_args = 1..)]
    pub summarize: Vec<PathBuf>,
}

impl LoadArgs {
    fn check(&self) -> anyhow::Result<()> {
        if self.calls == 0 {
            bail!("--calls must be at least 1");
        }
        let secs = [self.ramp_secs, self.settle_secs, self.steady_secs];
        if secs.iter().any(|s| !s.is_finite() || *s < 0.0) || self.steady_secs < 1.0 {
            bail!("durations must be non-negative and --steady-secs at least 1");
        }
        // Frame stamps are u32 microseconds: a run must stay well inside 71 minutes.
        if secs.iter().sum::<f64>() > 3000.0 {
            bail!("ramp + settle + steady must stay under 50 minutes");
        }
        if self.model_delta_ms == 0 || self.model_delta_ms % 20 != 0 || self.model_delta_ms > 1000 {
            bail!("--model-delta-ms must be a multiple of 20 up to 1000");
        }
        Ok(())
    }

    fn plan(&self) -> ModelPlan {
        let delta = self.model_delta_ms;
        let greeting_deltas = self.greeting_ms.div_ceil(delta);
        ModelPlan {
            delta_ms: u64::from(delta),
            greeting_deltas,
            burst_deltas: self.barge_in_burst_ms.div_ceil(delta),
            // The greeting sets the lead; real-time deltas keep it there. A
            // margin of two deltas absorbs jitter; the engine's cap is 200 ms.
            max_lead_us: (greeting_deltas * delta + 2 * delta) * 1000,
        }
    }
}

struct EngineProbe {
    pid: Option<String>,
}

impl Interference {
    /// Other processes' share of the engine's and the generator's cores,
    /// when each is pinned to a single core.
    fn measure(
        probe: &EngineProbe,
        busy: &[f64],
        engine_pct: Option<f64>,
        generator_pct: f64,
    ) -> Self {
        let engine_core = probe.pid.as_deref().and_then(procstat::single_core);
        let generator_core = procstat::single_core("self");
        let other = |core: Option<usize>, own: Option<f64>| match (core, own) {
            (Some(c), Some(own)) => busy.get(c).map(|b| (b - own).max(0.0)),
            _ => None,
        };
        Interference {
            engine_core,
            generator_core,
            others_on_engine_core_pct: other(engine_core, engine_pct),
            others_on_generator_core_pct: other(generator_core, Some(generator_pct)),
        }
    }
}

impl EngineProbe {
    fn cpu(&self) -> anyhow::Result<Option<f64>> {
        self.pid
            .as_deref()
            .map(procstat::cpu_secs)
            .transpose()
            .context("reading the engine's CPU time")
    }

    fn rss(&self) -> anyhow::Result<Option<u64>> {
        self.pid
            .as_deref()
            .map(procstat::rss_kib)
            .transpose()
            .context("reading the engine's memory")
    }
}

async fn wait_healthy(http: &reqwest::Client, engine: &url::Url) -> anyhow::Result<()> {
    let url = engine.join("/healthz")?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match http.get(url.clone()).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            _ if Instant::now() > deadline => {
                bail!("the engine at {engine} is not answering /healthz")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn scrape(http: &reqwest::Client, engine: &url::Url) -> Option<String> {
    let url = engine.join("/metrics").ok()?;
    http.get(url).send().await.ok()?.text().await.ok()
}

/// Runs the whole load test. Must run inside a `LocalSet`.
pub async fn run(args: &LoadArgs) -> anyhow::Result<Report> {
    args.check()?;
    let engine =
        url::Url::parse(&args.engine).with_context(|| format!("--engine {}", args.engine))?;
    let shared = Rc::new(Shared::new(args.plan()));
    let listener = TcpListener::bind(&args.model_listen)
        .await
        .with_context(|| format!("model server cannot listen on {}", args.model_listen))?;
    tokio::task::spawn_local(model::serve(listener, Rc::clone(&shared)));

    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().build().context("HTTP client")?;
    wait_healthy(&http, &engine).await?;
    let probe = EngineProbe {
        pid: args.engine_pid.map(|p| p.to_string()),
    };
    let rss_idle = probe.rss()?;

    let cfg = Rc::new(CallerConfig {
        engine: engine.clone(),
        public_url: args
            .public_url
            .clone()
            .unwrap_or_else(|| args.engine.clone()),
        auth_token: args
            .auth_token
            .clone()
            .context("--auth-token is required")?,
        stream_delay: Duration::from_millis(args.stream_delay_ms),
        run_tag: rand::random(),
    });
    eprintln!(
        "ramping up {} calls over {:.0} s",
        args.calls, args.ramp_secs
    );
    let ramp_start = tokio::time::Instant::now();
    let gap = Duration::from_secs_f64(args.ramp_secs / f64::from(args.calls));
    for i in 0..args.calls {
        tokio::task::spawn_local(run_call(
            Rc::clone(&shared),
            http.clone(),
            Rc::clone(&cfg),
            i,
        ));
        tokio::time::sleep_until(ramp_start + gap * (i + 1)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lost = {
            let st = shared.stats.borrow();
            st.calls_failed + st.calls_dropped
        };
        let streaming = u64::from(shared.streaming_calls.get());
        if streaming + lost >= u64::from(args.calls) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "{} calls streaming; settling {:.0} s",
        shared.streaming_calls.get(),
        args.settle_secs
    );
    tokio::time::sleep(Duration::from_secs_f64(args.settle_secs)).await;

    let metrics_before = scrape(&http, &engine).await;
    let gen0 = procstat::cpu_secs("self")?;
    let cores0 = procstat::core_ticks()?;
    let cpu0 = probe.cpu()?;
    let mut calls_in_window = shared.streaming_calls.get();
    shared.open_window();
    let window_start = Instant::now();
    eprintln!("measuring for {:.0} s", args.steady_secs);
    let window_end = window_start + Duration::from_secs_f64(args.steady_secs);
    while Instant::now() < window_end {
        tokio::time::sleep(
            Duration::from_millis(250).min(window_end.saturating_duration_since(Instant::now())),
        )
        .await;
        calls_in_window = calls_in_window.min(shared.streaming_calls.get());
    }
    shared.close_window();
    let cpu1 = probe.cpu()?;
    let gen1 = procstat::cpu_secs("self")?;
    let cores1 = procstat::core_ticks()?;
    let busy = procstat::core_busy_pct(&cores0, &cores1);
    let window_secs = window_start.elapsed().as_secs_f64();
    let rss_loaded = probe.rss()?;
    // Frames in flight at the window's end still count: let them land.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let metrics_after = scrape(&http, &engine).await;

    let conns = shared.next_model_conn.get();
    let barge_ins = args.barge_ins.min(conns);
    eprintln!("barge-ins on {barge_ins} calls");
    for k in 0..barge_ins {
        // Spread over the connections; the orders go out on their next tick.
        let id = (u64::from(k) * u64::from(conns) / u64::from(barge_ins.max(1))) as u32;
        shared.orders.borrow_mut().insert(id, ModelOrder::BargeIn);
        shared.stats.borrow_mut().clears_requested += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    eprintln!("hanging up");
    shared.hang_up.set(true);
    let deadline = Instant::now() + Duration::from_secs(15);
    while shared.live_calls.get() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = probe.rss()?;

    let generator_cpu_pct = (gen1 - gen0) / window_secs * 100.0;
    let engine_cpu_pct = match (cpu0, cpu1) {
        (Some(c0), Some(c1)) => Some((c1 - c0) / window_secs * 100.0),
        _ => None,
    };
    let engine_usage = match (cpu0, cpu1, rss_idle, rss_loaded, rss_after) {
        (Some(c0), Some(c1), Some(idle), Some(loaded), Some(after)) => {
            let calls = f64::from(calls_in_window.max(1));
            Some(EngineUsage {
                cpu_secs: c1 - c0,
                cpu_pct: (c1 - c0) / window_secs * 100.0,
                cpu_ms_per_call_sec: (c1 - c0) * 1000.0 / (calls * window_secs),
                rss_idle_kib: idle,
                rss_loaded_kib: loaded,
                rss_after_hangup_kib: after,
                kib_per_call: loaded.saturating_sub(idle) as f64 / calls,
            })
        }
        _ => None,
    };
    let relay = |dir: &str| match (&metrics_before, &metrics_after) {
        (Some(b), Some(a)) => Some(engine_view::engine_relay(b, a, dir)),
        _ => None,
    };
    let st = shared.stats.borrow();
    let mut report = Report {
        calls: args.calls,
        carried: false,
        contended: false,
        established: st.calls_established,
        failed: st.calls_failed,
        dropped: st.calls_dropped,
        failures: st.failures.clone(),
        model_connections: st.model_connections,
        model_deltas_held: st.model_deltas_held,
        session_update_bytes: st.session_update_bytes,
        calls_in_window,
        window_secs,
        engine: engine_usage,
        generator_cpu_pct,
        interference: Interference::measure(&probe, &busy, engine_cpu_pct, generator_cpu_pct),
        core_busy_pct: busy,
        tick_lateness: st.tick_lateness.summary(),
        to_model: st.to_model.report(),
        to_caller: st.to_caller.report(),
        engine_to_model: relay("to_model"),
        engine_to_caller: relay("to_caller"),
        greeting: st.greeting.summary(),
        clears_requested: st.clears_requested,
        clear: st.clear.summary(),
    };
    report.carried = report.carried();
    report.contended = report.interference.contended();
    Ok(report)
}
