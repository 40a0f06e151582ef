//! A call survives the loss of its instance: two engine processes share
//! PostgreSQL and Redis behind a load balancer; the one holding the call is
//! killed with SIGKILL mid-conversation. Twilio (the caller simulator) asks
//! the `<Connect action>` what next, the balancer sends it to the survivor,
//! and the survivor resumes the conversation from the stored transcript.

use std::path::PathBuf;
use std::time::Duration;

use crate::common::*;
use crate::store_support::TestDb;
use frontdesk::simulate::{SIM_API_KEY, SIM_AUTH_TOKEN};
use frontdesk_sim::audio::synth_speech;
use frontdesk_sim::balancer::Balancer;
use frontdesk_sim::caller::{place_call, CallerStep, DEFAULT_ACCOUNT_SID};
use frontdesk_sim::cluster::{free_addr, ClusterSpec, EngineProcess};
use frontdesk_sim::model::{ModelScript, ModelSim, ScriptTurn};

#[actix_rt::test]
async fn a_call_survives_the_loss_of_its_instance() {
    frontdesk::app::install_crypto();
    let db = TestDb::postgres().await;
    let store = db.store().await;
    let ns = format!("fdfail{:x}", rand::random::<u32>());
    let dir = tempfile::tempdir().unwrap();
    let model = ModelSim::start(ModelScript {
        greeting: "Harbor Dental, this is Ava.".into(),
        turns: vec![ScriptTurn::Reply {
            caller: "I'd like to book a cleaning".into(),
            reply: "Sure, which day suits you?".into(),
        }],
        api_key: Some(SIM_API_KEY.into()),
        ..ModelScript::default()
    })
    .await
    .unwrap();

    // The balancer's address is the public URL both engines sign against;
    // it knows the engines' addresses before they listen.
    let (addr_a, addr_b) = (free_addr().unwrap(), free_addr().unwrap());
    let lb = Balancer::start(vec![addr_a, addr_b]).await.unwrap();
    let spec = ClusterSpec {
        binary: env!("CARGO_BIN_EXE_frontdesk").into(),
        workdir: env!("CARGO_MANIFEST_DIR").into(),
        scratch: PathBuf::from(dir.path()),
        public_url: lb.base_url(),
        database_url: db.url.clone(),
        redis_url: std::env::var("TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        redis_namespace: ns,
        model_base_url: model.base_url(),
        api_key: SIM_API_KEY.into(),
        auth_token: SIM_AUTH_TOKEN.into(),
        account_sid: DEFAULT_ACCOUNT_SID.into(),
    };
    let mut a = EngineProcess::spawn(&spec, "a", addr_a).unwrap();
    assert!(a.healthy(Duration::from_secs(15)).await, "{}", a.logs());
    let mut b = EngineProcess::spawn(&spec, "b", addr_b).unwrap();
    assert!(b.healthy(Duration::from_secs(15)).await, "{}", b.logs());

    let sid = format!("CA{:032x}", rand::random::<u128>());
    let mut script = caller(vec![
        CallerStep::WaitForAudio { timeout_ms: 10_000 },
        wait_for_reply(),
        CallerStep::Say {
            label: "I'd like to book a cleaning".into(),
            audio: synth_speech(1200, 7),
        },
        // The instance is killed during the answer or this pause; the
        // resumed call's apology plays within it.
        wait_for_reply(),
        CallerStep::Pause { ms: 5000 },
        CallerStep::HangUp,
    ]);
    script.call_sid = Some(sid.clone());
    script.status_callback = Some("/twilio/call-status".into());
    let base = lb.base_url();
    let call = actix_rt::spawn(async move { place_call(&base, script).await });

    // Kill A once the caller's turn and the answer to it are on record (the
    // recorder flushes every 200 ms).
    let mut stored = 0;
    for _ in 0..300 {
        if let Ok(Some(d)) = store.call_detail(&sid).await {
            stored = d.transcript.len();
            if d.transcript.iter().any(|t| t.text.contains("which day")) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.kill();

    let report = call.await.unwrap().unwrap();
    let t = report.timeline_text();
    let logs = || format!("{t}\n--- a ---\n{}\n--- b ---\n{}", a.logs(), b.logs());
    assert!(
        stored >= 2,
        "the conversation was on record before the kill: {}",
        logs()
    );
    // The Connect action went to B, which answered with a new stream.
    let after = report
        .followups
        .iter()
        .find(|f| f.url.ends_with("/twilio/after-stream"))
        .unwrap_or_else(|| panic!("no after-stream request: {}", logs()));
    assert!(
        after.twiml.contains("<Connect"),
        "{}\n{}",
        after.twiml,
        logs()
    );
    assert_eq!(report.stream_gaps.len(), 1, "{}", logs());
    assert!(
        report.step_timeouts.is_empty(),
        "{:?}\n{}",
        report.step_timeouts,
        logs()
    );
    eprintln!(
        "failover: caller silence across the reconnect {:?}",
        report.stream_gaps[0]
    );

    // The survivor's model got the conversation and was told what happened.
    let rec = model.record();
    let last = rec.connections.last().unwrap();
    let items = serde_json::to_string(&last.items_created).unwrap();
    assert!(items.contains("book a cleaning"), "{items}");
    assert!(items.contains("which day suits you"), "{items}");
    assert!(items.contains("cut off"), "{items}");
    assert!(
        rec.transcript
            .iter()
            .any(|(who, text)| who == "model" && text.to_lowercase().contains("where were we")),
        "{:?}",
        rec.transcript
    );

    // One call on record, resumed, and ended when the caller hung up.
    let mut detail = None;
    for _ in 0..100 {
        let d = store.call_detail(&sid).await.unwrap().unwrap();
        if d.call.ended_at.is_some() {
            detail = Some(d);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let detail = detail.unwrap_or_else(|| panic!("never ended: {}", logs()));
    assert_eq!(detail.call.outcome.as_deref(), Some("caller_hung_up"));
    let causes = transition_causes(&detail);
    assert!(
        causes
            .iter()
            .any(|c| c == "resumed after its instance was lost"),
        "{causes:?}"
    );
    // What the survivor heard and said is numbered after what the lost
    // instance wrote: nothing of it is dropped as a duplicate.
    let said: Vec<&str> = detail.transcript.iter().map(|t| t.text.as_str()).collect();
    assert!(
        said.iter().any(|t| t.contains("cut off")),
        "the apology is on record: {said:?}"
    );
    assert_eq!(
        said.iter()
            .filter(|t| t.contains("book a cleaning"))
            .count(),
        1,
        "{said:?}"
    );
    let routed = lb.log().routed;
    assert_eq!(routed.last(), Some(&Some(1)), "{routed:?}");
}
