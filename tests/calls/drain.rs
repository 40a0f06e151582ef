//! Shutting an instance down: a drain waits only for calls in conversation,
//! and whatever is still open when it runs out is ended as `shutdown` and
//! written before the process goes.

use std::time::Duration;

use crate::common::*;
use frontdesk_sim::caller::{place_call, CallerStep};
use frontdesk_sim::model::ModelScript;

#[actix_rt::test]
async fn a_drain_that_runs_out_ends_the_open_call_as_shutdown_and_writes_it() {
    let rig = rig(ModelScript::default(), |_| {}).await;
    let mut script = caller(vec![
        CallerStep::WaitForAudio { timeout_ms: 10_000 },
        // A caller who stays on the line well past the drain.
        CallerStep::Pause { ms: 20_000 },
        CallerStep::HangUp,
    ]);
    let sid = "CA00000000000000000000000000000d01".to_string();
    script.call_sid = Some(sid.clone());
    let base = rig.base.clone();
    let call = actix_rt::spawn(async move { place_call(&base, script).await });
    assert!(rig.wait_for_metric("frontdesk_active_calls 1").await);

    let started = tokio::time::Instant::now();
    rig.running.drain(Duration::from_millis(500)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "drain took {:?}",
        started.elapsed()
    );

    // Written before drain returned: ended, outcome shutdown.
    let detail = rig.running.store.call_detail(&sid).await.unwrap().unwrap();
    assert_eq!(
        detail.call.outcome.as_deref(),
        Some("shutdown"),
        "{detail:?}"
    );
    assert!(detail.call.ended_at.is_some());
    call.abort();
}

#[actix_rt::test]
async fn a_drain_does_not_wait_for_calls_out_of_conversation() {
    let rig = rig(ModelScript::default(), |_| {}).await;
    // A call that is over but still held (it answers late webhooks for a
    // while): nothing to wait for.
    let report = place_call(
        &rig.base,
        caller(vec![
            CallerStep::WaitForAudio { timeout_ms: 10_000 },
            CallerStep::HangUp,
        ]),
    )
    .await
    .unwrap();
    assert!(
        rig.wait_for_metric("frontdesk_calls_total{outcome=\"caller_hung_up\"} 1")
            .await
    );
    assert_eq!(rig.running.calls.len(), 1, "the ended call is still held");
    let started = tokio::time::Instant::now();
    rig.running.drain(Duration::from_secs(20)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "drain waited {:?} for a call that had ended",
        started.elapsed()
    );
    let detail = rig
        .running
        .store
        .call_detail(&report.call_sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.call.outcome.as_deref(), Some("caller_hung_up"));
}
