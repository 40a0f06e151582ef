//! Two engines share PostgreSQL and Redis, as behind a load balancer: a
//! webhook for a call landing on the instance that does not hold its stream
//! still reaches the call. Also: idempotent webhooks across instances, and a
//! Redis outage that degrades but does not stop the engine.

use std::time::Duration;

use crate::common::*;
use crate::store_support::TestDb;
use frontdesk::simulate::SIM_AUTH_TOKEN;
use frontdesk::twilio::signature::{compute, Algorithm};
use frontdesk_sim::caller::{place_call, CallerStep};
use frontdesk_sim::model::ModelScript;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn signed_post(base: &str, path: &str, params: &[(String, String)]) -> (u16, String) {
    let url = format!("{base}{path}");
    let sig = compute(SIM_AUTH_TOKEN, &url, params, Algorithm::HmacSha1);
    let resp = reqwest::Client::new()
        .post(&url)
        .header("X-Twilio-Signature", sig)
        .form(params)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the signed Media Streams socket at `base` as Twilio would and sends
/// the call's `start` with its token.
async fn start_stream(base: &str, sid: &str, stream_sid: &str) -> Stream {
    let ws_url = base.replacen("http://", "ws://", 1) + "/twilio/stream";
    let mut req = ws_url.as_str().into_client_request().unwrap();
    req.headers_mut().insert(
        "X-Twilio-Signature",
        compute(SIM_AUTH_TOKEN, &ws_url, &[], Algorithm::HmacSha1)
            .parse()
            .unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let token = frontdesk::twilio::StreamKey::derive(Some(SIM_AUTH_TOKEN)).token(sid);
    ws.send(Message::text(format!(
        r#"{{"event":"start","sequenceNumber":"1","start":{{"accountSid":"AC00000000000000000000000000000000","streamSid":"{stream_sid}","callSid":"{sid}","tracks":["inbound"],"mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"customParameters":{{"from":"+15005550006","to":"+15551230000","token":"{token}"}}}},"streamSid":"{stream_sid}"}}"#
    )))
    .await
    .unwrap();
    ws
}

fn params(call_sid: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = [
        ("CallSid", call_sid),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", "+15005550006"),
        ("To", "+15551230000"),
        ("CallStatus", "in-progress"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    p.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    p
}

#[actix_rt::test]
async fn a_webhook_on_the_other_instance_reaches_the_call() {
    let db = TestDb::postgres().await;
    let namespace = format!("fdtest{:x}", rand::random::<u32>());
    let shared = |c: &mut frontdesk::config::Config, db: &str, ns: &str| {
        front_desk_always_open(c, frontdesk::config::business::OnNoAnswer::Voicemail);
        c.storage.database_url = db.to_string();
        c.storage.redis_url = redis_url();
        c.storage.redis_namespace = ns.to_string();
    };
    let (url_a, ns_a) = (db.url.clone(), namespace.clone());
    let a = rig(ModelScript::default(), move |c| shared(c, &url_a, &ns_a)).await;
    let (url_b, ns_b) = (db.url.clone(), namespace.clone());
    let b = rig(ModelScript::default(), move |c| shared(c, &url_b, &ns_b)).await;

    // The call lands on A: webhook and stream. The caller presses 0; A
    // leaves the stream to transfer the call.
    let sid = format!("CA{:032x}", rand::random::<u128>());
    let (status, twiml) = signed_post(&a.base, "/twilio/voice", &params(&sid, &[])).await;
    assert_eq!(status, 200, "{twiml}");
    let stream_sid = "MZ0123456789abcdef0123456789abcdef";
    let mut ws = start_stream(&a.base, &sid, stream_sid).await;
    ws.send(Message::text(format!(
        r#"{{"event":"dtmf","sequenceNumber":"2","streamSid":"{stream_sid}","dtmf":{{"track":"inbound_track","digit":"0"}}}}"#
    )))
    .await
    .unwrap();
    // A closes the stream.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(m)) = ws.next().await {
            if m.is_close() {
                return true;
            }
        }
        true
    })
    .await
    .unwrap_or(false);
    assert!(closed, "A did not leave the stream");
    assert_eq!(
        a.running.sessions.owner(&sid).await.as_deref(),
        Some(a.running.sessions.instance_id())
    );
    assert!(b.running.calls.get(&sid).is_none());

    // Twilio asks the Connect action — at B. Only A knows the decision.
    let (_, twiml) = signed_post(&b.base, "/twilio/after-stream", &params(&sid, &[])).await;
    assert!(
        twiml.contains("<Number>+15551230100</Number>"),
        "B answered without A: {twiml}"
    );

    // The dial outcome arrives at B too. Only A knows the call went to the
    // front desk: its voicemail prompt names the department; B alone would not.
    let (status, twiml) = signed_post(
        &b.base,
        "/twilio/dial-status",
        &params(&sid, &[("DialCallStatus", "busy")]),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        twiml.contains("Please leave a message for Front desk"),
        "B answered without A: {twiml}"
    );

    // Twilio retries the same webhook on A: same answer, and the call's
    // state did not move twice (a second dial outcome would be unexpected).
    let (_, again) = signed_post(
        &a.base,
        "/twilio/dial-status",
        &params(&sid, &[("DialCallStatus", "busy")]),
    )
    .await;
    assert_eq!(again, twiml);
    let metrics = a.metrics().await;
    assert!(
        metrics.contains("frontdesk_unexpected_events_total 0"),
        "{metrics}"
    );

    // The recording finishes, reported to B again: the call ends on A.
    let (_, bye) = signed_post(
        &b.base,
        "/twilio/voicemail",
        &params(&sid, &[("RecordingSid", "RE1"), ("RecordingDuration", "7")]),
    )
    .await;
    assert!(bye.contains("your message has been recorded"), "{bye}");
    let ended = a
        .wait_for_metric("frontdesk_calls_total{outcome=\"voicemail\"} 1")
        .await;
    assert!(ended, "the call on A did not end as a voicemail");

    // Both instances wrote to the one database: the call's record is whole.
    assert!(a
        .running
        .recorder
        .send(frontdesk::recorder::Flush {
            timeout: Duration::from_secs(5)
        })
        .await
        .unwrap());
    let detail = b
        .running
        .store
        .call_detail(&sid)
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!(
        serde_json::to_value(&detail).unwrap()["outcome"],
        "voicemail"
    );
}

#[actix_rt::test]
async fn with_redis_unreachable_calls_are_still_answered_and_readiness_says_degraded() {
    let rig = rig(
        ModelScript {
            greeting: "Hello.".into(),
            ..ModelScript::default()
        },
        |c| c.storage.redis_url = "redis://127.0.0.1:1".into(),
    )
    .await;
    let ready: serde_json::Value = reqwest::get(format!("{}/readyz", rig.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert!(
        ready["sessions"].as_str().unwrap().starts_with("degraded"),
        "{ready}"
    );
    let report = place_call(
        &rig.base,
        caller(vec![
            CallerStep::WaitForAudio { timeout_ms: 10_000 },
            wait_for_reply(),
            CallerStep::HangUp,
        ]),
    )
    .await
    .unwrap();
    assert!(report.heard.len() > 1000, "{}", report.timeline_text());
}

/// A voice webhook's parameters with another caller ID.
fn from_number(call_sid: &str, from: &str) -> Vec<(String, String)> {
    let mut p = params(call_sid, &[]);
    for (k, v) in &mut p {
        if k == "From" {
            *v = from.to_owned();
        }
    }
    p
}

#[actix_rt::test]
async fn a_caller_over_the_hourly_limit_is_turned_away() {
    let rig = rig(ModelScript::default(), |c| {
        c.limits.calls_per_caller_per_hour = 2
    })
    .await;
    // The same caller, written three ways: one bucket.
    let mut answers = Vec::new();
    for (i, from) in ["+15005550006", "+1 (500) 555-0006", "15005550006"]
        .iter()
        .enumerate()
    {
        let sid = format!("CA{:032x}", 0xabc0 + i);
        answers.push(
            signed_post(&rig.base, "/twilio/voice", &from_number(&sid, from))
                .await
                .1,
        );
    }
    assert!(
        answers[0].contains("<Connect") && answers[1].contains("<Connect"),
        "{answers:?}"
    );
    // Turned away with a sentence, not dead air.
    assert!(
        answers[2].contains("<Say") && answers[2].contains("try again later"),
        "{}",
        answers[2]
    );
    assert!(answers[2].contains("<Hangup />"), "{}", answers[2]);
    assert!(!answers[2].contains("<Connect"), "{}", answers[2]);

    // Withheld caller IDs are not one bucket: each still gets through.
    for i in 0..3 {
        let sid = format!("CA{:032x}", 0xdef0 + i);
        let answer = signed_post(&rig.base, "/twilio/voice", &from_number(&sid, "+266696687"))
            .await
            .1;
        assert!(answer.contains("<Connect"), "{answer}");
    }
}

#[actix_rt::test]
async fn a_stream_that_lands_on_the_other_instance_takes_the_call_cleanly() {
    let db = TestDb::postgres().await;
    let namespace = format!("fdtest{:x}", rand::random::<u32>());
    let shared = |c: &mut frontdesk::config::Config, db: &str, ns: &str| {
        c.storage.database_url = db.to_string();
        c.storage.redis_url = redis_url();
        c.storage.redis_namespace = ns.to_string();
        // Short, so a pre-warmed call left behind would end (as abandoned)
        // while this test still looks.
        c.call.stream_start_timeout_ms = 1500;
    };
    let (url_a, ns_a) = (db.url.clone(), namespace.clone());
    let a = rig(ModelScript::default(), move |c| shared(c, &url_a, &ns_a)).await;
    let (url_b, ns_b) = (db.url.clone(), namespace.clone());
    let b = rig(ModelScript::default(), move |c| shared(c, &url_b, &ns_b)).await;

    // The voice webhook lands on A, which pre-warms the call…
    let sid = format!("CA{:032x}", rand::random::<u128>());
    let (status, _) = signed_post(&a.base, "/twilio/voice", &params(&sid, &[])).await;
    assert_eq!(status, 200);
    assert!(a.wait_for_metric("frontdesk_active_calls 1").await);

    // …and the stream lands on B (the balancer's choice, not ours).
    let stream_sid = "MZ0123456789abcdef0123456789abcd02";
    let mut ws = start_stream(&b.base, &sid, stream_sid).await;
    // B greets the caller.
    let greeted = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(m)) = ws.next().await {
            if m.to_text().is_ok_and(|t| t.contains(r#""event":"media""#)) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(greeted, "B did not greet");

    // A let its pre-warmed call go at once, and B owns the call.
    assert!(a.wait_for_metric("frontdesk_active_calls 0").await);
    assert!(a.running.calls.get(&sid).is_none());
    assert_eq!(
        b.running.sessions.owner(&sid).await.as_deref(),
        Some(b.running.sessions.instance_id())
    );

    // Past A's stream-start deadline the call is still going on B, and the
    // one record of it says nothing of an abandoned call.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    ws.send(Message::text(format!(
        r#"{{"event":"stop","sequenceNumber":"3","streamSid":"{stream_sid}","stop":{{"accountSid":"AC00000000000000000000000000000000","callSid":"{sid}"}}}}"#
    )))
    .await
    .unwrap();
    assert!(
        b.wait_for_metric("frontdesk_calls_total{outcome=\"caller_hung_up\"} 1")
            .await
    );
    a.flush_records().await;
    b.flush_records().await;
    let detail = b.running.store.call_detail(&sid).await.unwrap().unwrap();
    assert_eq!(detail.call.outcome.as_deref(), Some("caller_hung_up"));
    let causes = transition_causes(&detail);
    assert!(
        !causes.iter().any(|c| c == "stream never started"),
        "{causes:?}"
    );
    assert!(
        causes
            .iter()
            .any(|c| c == "stream started" || c == "model ready"),
        "{causes:?}"
    );
    let metrics = a.metrics().await;
    assert!(!metrics.contains("outcome=\"abandoned\""), "{metrics}");
}
