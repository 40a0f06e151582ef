//! `frontdesk-failover`: kill the instance holding live calls and measure
//! how they come back (see `src/failover.rs`).

use clap::Parser as _;
use frontdesk_sim::failover;

fn main() -> anyhow::Result<()> {
    let args = failover::FailoverArgs::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let report = actix_rt::System::new().block_on(async {
        let local = tokio::task::LocalSet::new();
        local.run_until(failover::run(&args)).await
    })?;
    print!("{}", report.table());
    Ok(())
}
