//! PostgreSQL goes away in the middle of calls and comes back: the calls go
//! on, and every record is written once the database is back — none lost,
//! none twice. (This binary holds one test: it stops the machine's
//! PostgreSQL, which no other test may be using meanwhile — cargo runs test
//! binaries one at a time.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "store_support/mod.rs"]
mod store_support;

use std::process::Command;
use std::time::Duration;

use common::*;
use frontdesk::recorder::Flush;
use frontdesk_sim::audio::synth_speech;
use frontdesk_sim::caller::{place_call, CallerStep};
use frontdesk_sim::model::{ModelScript, ScriptTurn};
use serde_json::json;
use store_support::TestDb;

fn cluster() -> (String, String) {
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("/etc/postgresql (the machine's PostgreSQL cluster)")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .next()
        .expect("a PostgreSQL version directory");
    (version, "main".to_string())
}

fn pg(action: &str) {
    let (version, name) = cluster();
    let mut cmd = Command::new("pg_ctlcluster");
    cmd.args(["--skip-systemctl-redirect", &version, &name, action]);
    if action == "stop" {
        cmd.args(["--", "-m", "fast"]);
    }
    let out = cmd.output().expect("pg_ctlcluster runs");
    assert!(
        out.status.success(),
        "pg_ctlcluster {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// PostgreSQL is started again however the test ends.
struct Restart;
impl Drop for Restart {
    fn drop(&mut self) {
        let (version, name) = cluster();
        let _ = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, &name, "start"])
            .output();
    }
}

#[actix_rt::test]
async fn a_database_outage_mid_call_loses_nothing_and_duplicates_nothing() {
    let db = TestDb::postgres().await;
    let script = ModelScript {
        greeting: "Harbor Dental, good morning.".into(),
        turns: (0..3)
            .flat_map(|_| {
                [
                    ScriptTurn::Tool {
                        caller: "Are you open Friday?".into(),
                        name: "get_business_hours".into(),
                        arguments: json!({"when": "friday"}),
                        reply_template: "We are, {output}".into(),
                    },
                    ScriptTurn::Reply {
                        caller: "Thanks".into(),
                        reply: "You're welcome.".into(),
                    },
                ]
            })
            .collect(),
        audio_ms_per_char: 10,
        ..ModelScript::default()
    };
    let url = db.url.clone();
    let rig = rig(script, move |c| c.storage.database_url = url).await;
    let calls = 3;
    let base = rig.base.clone();
    let mut handles = Vec::new();
    for i in 0..calls {
        let base = base.clone();
        let steps = vec![
            wait_for_reply(),
            CallerStep::Say {
                label: "hours".into(),
                audio: synth_speech(900, i),
            },
            wait_for_reply(),
            CallerStep::Say {
                label: "thanks".into(),
                audio: synth_speech(700, 10 + i),
            },
            wait_for_reply(),
            CallerStep::Pause { ms: 3000 },
            CallerStep::HangUp,
        ];
        handles.push(actix_rt::spawn(async move {
            place_call(&base, caller(steps)).await.unwrap()
        }));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Mid-call: the database goes away for a few seconds.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let guard = Restart;
    pg("stop");
    tokio::time::sleep(Duration::from_secs(4)).await;
    pg("start");
    drop(guard);

    let mut sids = Vec::new();
    for h in handles {
        let report = h.await.unwrap();
        assert!(
            report.greeting_latency.is_some(),
            "{}",
            report.timeline_text()
        );
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        sids.push(report.call_sid);
    }
    let stats = rig.running.recorder_stats.clone();
    assert!(
        stats
            .write_failures
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0,
        "the outage was never felt; the test proves nothing"
    );
    assert!(
        rig.running
            .recorder
            .send(Flush {
                timeout: Duration::from_secs(90)
            })
            .await
            .unwrap(),
        "backlog not written"
    );

    let mut tools = 0;
    for sid in &sids {
        let detail = rig
            .running
            .store
            .call_detail(sid)
            .await
            .unwrap()
            .expect("call recorded");
        let detail = serde_json::to_value(&detail).unwrap();
        let timeline = detail["timeline"].as_array().unwrap();
        let seqs: Vec<i64> = timeline
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect();
        // Gap-free from 1, nothing twice, first to last.
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "{sid}");
        assert_eq!(timeline.first().unwrap()["kind"], "started", "{sid}");
        assert_eq!(timeline.last().unwrap()["kind"], "ended", "{sid}");
        assert_eq!(detail["outcome"], "caller_hung_up", "{sid}");
        let turns: Vec<i64> = detail["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(turns, (1..=turns.len() as i64).collect::<Vec<_>>(), "{sid}");
        // greeting, question, answer, thanks, reply
        assert!(turns.len() >= 5, "{sid}: {detail:#}");
        tools += detail["tools"].as_array().unwrap().len();
        let counts = rig.running.store.count_rows(sid).await.unwrap();
        assert_eq!(counts.events as usize, seqs.len());
        assert_eq!(counts.turns as usize, turns.len());
    }
    // The script's turns are shared by the calls in commit order: three tool runs in all.
    assert_eq!(tools, 3);
    assert_eq!(stats.pending.load(std::sync::atomic::Ordering::Relaxed), 0);
}
