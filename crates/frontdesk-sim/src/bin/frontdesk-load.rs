//! `frontdesk-load`: the load generator (see `src/load/mod.rs`). A separate
//! binary so the engine's CLI stays thin.

use frontdesk_sim::load;

use clap::Parser as _;

fn main() -> anyhow::Result<()> {
    let args = load::LoadArgs::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    if !args.summarize.is_empty() {
        print!("{}", load::report::summarize(&args.summarize)?);
        return Ok(());
    }
    // One thread: pin the process to a core of its own (taskset) and it
    // never competes with the engine.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let report = local.block_on(&runtime, load::run(&args))?;
    if let Some(path) = &args.json_out {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}
