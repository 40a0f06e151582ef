//! Keeps this instance's owner keys alive and probes Redis, so recovery is
//! noticed (and local claims re-registered) even when no call is active.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::core::Core;

pub(crate) async fn run(core: Arc<Core>, mut shutdown: watch::Receiver<()>) {
    let mut tick = tokio::time::interval(core.opts.heartbeat_every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = core.resync.notified() => {}
            _ = shutdown.changed() => return,
        }
        core.heartbeat().await;
    }
}
