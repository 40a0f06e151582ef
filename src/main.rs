//! The `frontdesk` binary: a thin shell over the library.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use frontdesk::config::{Config, ConfigSources};

#[derive(Parser)]
#[command(
    name = "frontdesk",
    version,
    about = "An AI voice receptionist for Twilio phone numbers"
)]
struct Cli {
    /// Directory holding default.toml and business.toml.
    #[arg(
        long,
        env = "FRONTDESK_CONFIG_DIR",
        default_value = "config",
        global = true
    )]
    config_dir: PathBuf,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Answer calls (the default).
    Serve,
    /// Check the configuration and print it (secrets hidden).
    CheckConfig,
    /// Place one scripted call with simulated Twilio and model: no accounts needed.
    Simulate(frontdesk::simulate::SimulateArgs),
    /// Create or upgrade the database schema (also done at every start).
    Migrate,
    /// Calls on record.
    Calls {
        #[command(subcommand)]
        command: CallsCmd,
    },
    /// Apply the retention policy now ([privacy.retention], else storage.retention_days);
    /// --days N sets the period of transcripts, recordings and voicemails.
    Purge {
        #[arg(long)]
        days: Option<u32>,
    },
    /// A caller's data requests: export or erase everything stored about a number.
    Privacy {
        #[command(subcommand)]
        command: PrivacyCmd,
    },
    /// Notifications waiting to be sent and dead letters; `retry <id>` sends one again.
    Outbox {
        #[command(subcommand)]
        command: Option<OutboxCmd>,
    },
    /// Event webhooks: each event and its delivery attempts; `resend <id>` sends one again.
    Webhooks {
        #[command(subcommand)]
        command: WebhooksCmd,
    },
    /// Exit 0 when the local server answers /healthz (for container health checks).
    Healthcheck,
    /// Run the Realtime model simulator alone (point OPENAI_BASE_URL at it).
    SimModel {
        #[arg(long, default_value = "127.0.0.1:9100")]
        listen: String,
    },
}

#[derive(Subcommand)]
enum CallsCmd {
    /// The most recent calls, one line each.
    List {
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// One call's whole record as JSON: timeline, transcript, tools, usage.
    Show { call_sid: String },
    /// Replay a call's state machine from its flight record, step by step
    /// (docs/replay.md). Exits 1 when the replay differs from the record, 2
    /// when the record cannot be replayed to the call's end.
    Replay {
        /// The call to replay (from the database).
        #[arg(required_unless_present = "file")]
        call_sid: Option<String>,
        /// Replay a record file instead (an --export, a corpus fixture).
        #[arg(long, conflicts_with = "call_sid")]
        file: Option<PathBuf>,
        /// Stop at this moment of the call (`12.4s`, `12400ms`) and print the
        /// whole machine state there.
        #[arg(long)]
        at: Option<String>,
        /// Print the replay as JSON (for tools).
        #[arg(long)]
        json: bool,
        /// Also write the record to this file (to attach it, or add it to the corpus).
        #[arg(long)]
        export: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PrivacyCmd {
    /// Print one JSON document of every call, turn, message, booking and voicemail of the number.
    Export {
        #[arg(long)]
        phone: String,
    },
    /// Delete everything stored about the number (recordings at Twilio too); an audit row remains.
    Erase {
        #[arg(long)]
        phone: String,
    },
}

#[derive(Subcommand)]
enum WebhooksCmd {
    /// The newest events with every delivery attempt (time, status or error).
    Deliveries {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Send one event again now (pending, dead-lettered or delivered), same webhook-id.
    Resend { id: i64 },
}

#[derive(Subcommand)]
enum OutboxCmd {
    /// Make one notification due now, reviving it if it was dead-lettered.
    Retry { id: i64 },
}

fn init_tracing() {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = frontdesk::logmask::log_filter(rust_log.as_deref());
    // Colours only on a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .init();
}

fn load(cli: &Cli) -> anyhow::Result<Config> {
    Config::load(&ConfigSources::in_dir(&cli.config_dir))
        .with_context(|| format!("loading configuration from {}", cli.config_dir.display()))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        None | Some(Cmd::Serve) => {
            init_tracing();
            let config = load(&cli)?;
            actix_rt::System::new().block_on(serve(config))
        }
        Some(Cmd::CheckConfig) => {
            let config = load(&cli)?;
            println!("configuration OK ({})\n", cli.config_dir.display());
            print!("{}", frontdesk::config::summary::summary(&config));
            Ok(())
        }
        Some(Cmd::Simulate(args)) => {
            if args.verbose {
                init_tracing();
            }
            let config = load(&cli)?;
            actix_rt::System::new().block_on(frontdesk::simulate::run(config, args.clone()))?;
            Ok(())
        }
        Some(Cmd::Migrate) => {
            init_tracing();
            let config = load(&cli)?;
            block_on(async {
                let store = frontdesk::store::Store::connect(&config.storage.database_url).await?;
                println!("database ready: {}", store.describe());
                anyhow::Ok(())
            })
        }
        Some(Cmd::Calls {
            command: command @ CallsCmd::Replay { .. },
        }) => {
            let config = load(&cli)?;
            let code = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(replay(&config, command))?;
            std::process::exit(code);
        }
        Some(Cmd::Calls { command }) => {
            let config = load(&cli)?;
            block_on(calls(config, command))
        }
        Some(Cmd::Purge { days }) => {
            init_tracing();
            let config = load(&cli)?;
            let mut policy = frontdesk::privacy::retention::policy(&config);
            if let Some(n) = *days {
                anyhow::ensure!(n > 0, "--days must be at least 1");
                policy.transcripts = n;
                policy.recordings = n;
                policy.voicemails = n;
            }
            anyhow::ensure!(
                policy.any(),
                "retention is off (every period is 0); pass --days N"
            );
            block_on(async {
                let store = frontdesk::store::Store::connect(&config.storage.database_url).await?;
                let twilio = frontdesk::privacy::requests::twilio_client(&config);
                let r = frontdesk::privacy::retention::purge(
                    &store,
                    twilio.as_ref(),
                    policy,
                    chrono::Utc::now(),
                )
                .await?;
                println!(
                    "purged: {} transcript turns, {} tool runs, {} voicemail transcripts, {} recordings, {} messages, {} calls",
                    r.transcript_turns, r.tool_runs_blanked, r.voicemail_transcripts, r.recordings, r.messages, r.calls
                );
                anyhow::Ok(())
            })
        }
        Some(Cmd::Privacy { command }) => {
            init_tracing();
            let config = load(&cli)?;
            block_on(privacy(config, command))
        }
        Some(Cmd::Outbox { command }) => {
            use frontdesk::notify::outbox::{run_command, OutboxAction};
            let config = load(&cli)?;
            let action = match command {
                None => OutboxAction::List,
                Some(OutboxCmd::Retry { id }) => OutboxAction::Retry(*id),
            };
            block_on(async {
                let store = frontdesk::store::Store::connect(&config.storage.database_url).await?;
                print!("{}", run_command(&store, action).await?);
                anyhow::Ok(())
            })
        }
        Some(Cmd::Webhooks { command }) => {
            use frontdesk::notify::deliveries::{run_command, WebhooksAction};
            let config = load(&cli)?;
            let action = match command {
                WebhooksCmd::Deliveries { limit } => WebhooksAction::Deliveries { limit: *limit },
                WebhooksCmd::Resend { id } => WebhooksAction::Resend(*id),
            };
            block_on(async {
                let store = frontdesk::store::Store::connect(&config.storage.database_url).await?;
                print!("{}", run_command(&store, action).await?);
                anyhow::Ok(())
            })
        }
        Some(Cmd::Healthcheck) => {
            let config = load(&cli)?;
            let url = format!("http://127.0.0.1:{}/healthz", config.server.port);
            frontdesk::app::install_crypto();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let status = rt
                .block_on(async {
                    reqwest::Client::new()
                        .get(&url)
                        .timeout(std::time::Duration::from_secs(2))
                        .send()
                        .await
                })
                .with_context(|| format!("GET {url}"))?
                .status();
            anyhow::ensure!(status.is_success(), "GET {url}: {status}");
            Ok(())
        }
        Some(Cmd::SimModel { listen }) => {
            init_tracing();
            actix_rt::System::new().block_on(frontdesk::simulate::serve_model(listen.clone()))?;
            Ok(())
        }
    }
}

fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

async fn calls(config: Config, command: &CallsCmd) -> anyhow::Result<()> {
    let store = frontdesk::store::Store::connect(&config.storage.database_url).await?;
    match command {
        CallsCmd::List { limit } => {
            for c in store.list_calls(*limit).await? {
                println!(
                    "{}  {}  {:<6}  {:>8}  {:<16} {}",
                    c.call_sid,
                    c.started_at.format("%Y-%m-%d %H:%M:%S"),
                    c.transport,
                    c.ended_at
                        .map(|e| format!("{}s", (e - c.started_at).num_seconds()))
                        .unwrap_or_else(|| "live".into()),
                    c.outcome.unwrap_or_default(),
                    frontdesk::logmask::mask_phone(&c.from_number),
                );
            }
        }
        CallsCmd::Show { call_sid } => match store.call_detail(call_sid).await? {
            Some(detail) => println!("{}", serde_json::to_string_pretty(&detail)?),
            None => anyhow::bail!("no call {call_sid} on record"),
        },
        // Dispatched to `replay` by `main` (with --file it needs no database).
        CallsCmd::Replay { .. } => {}
    }
    Ok(())
}

async fn privacy(config: Config, command: &PrivacyCmd) -> anyhow::Result<()> {
    use frontdesk::privacy::requests;
    let store = frontdesk::store::Store::connect(&config.storage.database_url).await?;
    match command {
        PrivacyCmd::Export { phone } => {
            let export = requests::export(&store, phone).await?;
            println!("{}", serde_json::to_string_pretty(&export)?);
        }
        PrivacyCmd::Erase { phone } => {
            let twilio = requests::twilio_client(&config);
            let erased = requests::erase(&store, twilio.as_ref(), phone).await?;
            println!("{}", serde_json::to_string_pretty(&erased)?);
        }
    }
    Ok(())
}

/// `frontdesk calls replay`: reads the record (database or file), replays it,
/// prints it; the exit code says whether it matched.
async fn replay(config: &Config, command: &CallsCmd) -> anyhow::Result<i32> {
    let CallsCmd::Replay {
        call_sid,
        file,
        at,
        json,
        export,
    } = command
    else {
        return Ok(0);
    };
    use frontdesk::flight;
    let stop_at_ms = at
        .as_deref()
        .map(flight::parse_moment)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let text = match (file, call_sid) {
        (Some(path), _) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        (None, Some(sid)) => {
            let store = frontdesk::store::Store::connect(&config.storage.database_url).await?;
            let chunks = store.flight_chunks(sid).await?;
            if chunks.is_empty() {
                anyhow::bail!("no flight record for call {sid}");
            }
            chunks.into_iter().map(|(_, body)| body).collect()
        }
        (None, None) => anyhow::bail!("give a CallSid or --file"),
    };
    if let Some(path) = export {
        std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
    }
    let record = flight::decode(&text);
    let result = flight::replay(&record, flight::replay::Options { stop_at_ms });
    if *json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print!("{}", flight::render::text(&result));
    }
    Ok(flight::exit_code(&result))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let running = frontdesk::app::launch(config, None)
        .await
        .context("starting the engine")?;
    tracing::info!(addr = %running.addr, "Frontdesk is answering calls");
    shutdown_signal().await;
    tracing::info!("shutting down: no new calls; waiting for calls in progress");
    running.drain(frontdesk::app::DRAIN_TIMEOUT).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
