//! OpenAI's SIP connector end to end, over real sockets: the simulated
//! OpenAI signs and posts `realtime.call.incoming`, answers the REST calls
//! (and records them) and serves the sideband socket with the scripted
//! model and a simulated caller on the SIP leg; the engine verifies,
//! routes, accepts, converses, refers and hangs up, and records the call
//! with its transport.

use std::time::Duration;

use crate::common::*;
use frontdesk::config::business::OnNoAnswer;
use frontdesk::config::Secret;
use frontdesk::simulate::SIM_CALLER;
use frontdesk_sim::model::sip_rest::{SipBehavior, SipRequest};
use frontdesk_sim::model::{ConnectionBehavior, ModelScript, ScriptTurn};
use frontdesk_sim::openai_webhook::{incoming_call, post, signed, Delivery};
use serde_json::{json, Value};

const SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const BUSINESS: &str = "+15551230000";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sip_script(turns: Vec<ScriptTurn>) -> ModelScript {
    ModelScript {
        greeting: "Harbor Dental, how can I help?".into(),
        turns,
        audio_ms_per_char: 15,
        ..ModelScript::default()
    }
}

async fn sip_rig(script: ModelScript, tweak: impl FnOnce(&mut frontdesk::config::Config)) -> Rig {
    rig(script, |c| {
        c.realtime.webhook_secret = Some(Secret::new(SECRET));
        front_desk_always_open(c, OnNoAnswer::Voicemail);
        tweak(c);
    })
    .await
}

fn url(rig: &Rig) -> String {
    format!("{}/openai/webhook", rig.base)
}

async fn call_in(rig: &Rig, call_id: &str, to: &str) -> (Delivery, u16, Value) {
    let d = incoming_call(SECRET, call_id, SIM_CALLER, to, now()).unwrap();
    let (status, body) = post(&url(rig), &d).await.unwrap();
    let v = serde_json::from_str(&body).unwrap_or(Value::Null);
    (d, status, v)
}

fn requests(rig: &Rig, call_id: &str, action: &str) -> Vec<SipRequest> {
    rig.model
        .sip_requests()
        .into_iter()
        .filter(|r| r.call_id == call_id && r.action == action)
        .collect()
}

async fn wait_for_request(rig: &Rig, call_id: &str, action: &str) -> SipRequest {
    for _ in 0..300 {
        if let Some(r) = requests(rig, call_id, action).pop() {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no {action} for {call_id}; requests: {:?}",
        rig.model.sip_requests()
    );
}

/// The stored call once it has an outcome.
async fn stored(rig: &Rig, call_id: &str) -> Value {
    for _ in 0..100 {
        rig.flush_records().await;
        if let Some(d) = rig.running.store.call_detail(call_id).await.unwrap() {
            let d = serde_json::to_value(&d).unwrap();
            if !d["outcome"].is_null() {
                return d;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("call {call_id} never ended on record");
}

#[actix_rt::test]
async fn a_whole_sip_call_is_accepted_greeted_served_a_tool_and_referred() {
    let rig = sip_rig(
        sip_script(vec![
            ScriptTurn::Tool {
                caller: "When are you open?".into(),
                name: "get_business_hours".into(),
                arguments: json!({}),
                reply_template: "Here are our hours.".into(),
            },
            ScriptTurn::Tool {
                caller: "Can I talk to someone at the front desk?".into(),
                name: "transfer_call".into(),
                arguments: json!({"department": "Front desk"}),
                reply_template: "Connecting you now.".into(),
            },
        ]),
        |_| {},
    )
    .await;
    let (delivery, status, answer) = call_in(&rig, "rtc_whole1", BUSINESS).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "accepted");

    let accept = wait_for_request(&rig, "rtc_whole1", "accept").await;
    assert_eq!(accept.authorization.as_deref(), Some("Bearer sk-simulated"));
    let session = &accept.body;
    assert_eq!(session["type"], "realtime");
    assert!(session["instructions"]
        .as_str()
        .unwrap()
        .contains("Harbor Dental"));
    assert!(
        session["audio"]["input"].get("format").is_none(),
        "{session}"
    );
    assert!(
        session["audio"]["output"].get("format").is_none(),
        "{session}"
    );
    let tools: Vec<&str> = session["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(tools.contains(&"transfer_call"), "{tools:?}");

    let refer = wait_for_request(&rig, "rtc_whole1", "refer").await;
    assert_eq!(refer.body, json!({"target_uri": "tel:+15551230100"}));
    assert_eq!(refer.status, 200);

    let d = stored(&rig, "rtc_whole1").await;
    assert_eq!(d["outcome"], "transferred", "{d}");
    assert_eq!(d["transport"], "sip");
    assert_eq!(d["from_number"], SIM_CALLER);
    assert_eq!(d["to_number"], BUSINESS);
    let tools_run: Vec<&str> = d["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(tools_run, ["get_business_hours", "transfer_call"], "{d}");
    let said: Vec<&str> = d["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["text"].as_str())
        .collect();
    assert!(said.contains(&"When are you open?"), "{said:?}");
    assert!(said.contains(&"Harbor Dental, how can I help?"), "{said:?}");

    // The sideband socket named the call, with the key, and no model.
    let rec = rig.model.record();
    assert_eq!(rec.connections.len(), 1);
    assert_eq!(
        rec.connections[0].path_and_query,
        "/v1/realtime?call_id=rtc_whole1"
    );
    assert_eq!(
        rec.connections[0].authorization.as_deref(),
        Some("Bearer sk-simulated")
    );
    // No audio ever went over it.
    assert!(rec.connections[0].input_audio.is_empty());
    assert!(!rec.connections[0]
        .server_events
        .iter()
        .any(|e| e.contains("response.output_audio.delta")));

    // OpenAI retries the webhook: the same answer, and nothing twice.
    let (status, body) = post(&url(&rig), &delivery).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), answer);
    assert_eq!(requests(&rig, "rtc_whole1", "accept").len(), 1);
    rig.running.stop(true).await;
}

#[actix_rt::test]
async fn bad_webhooks_and_unservable_calls_are_refused_each_with_its_outcome() {
    let rig = sip_rig(sip_script(vec![]), |c| {
        c.limits.calls_per_caller_per_hour = 1;
    })
    .await;
    let hook = url(&rig);

    // Forged: signed with another secret. Expired: six minutes old.
    let forged = incoming_call(
        "whsec_BBECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "rtc_forged",
        SIM_CALLER,
        BUSINESS,
        now(),
    )
    .unwrap();
    assert_eq!(post(&hook, &forged).await.unwrap().0, 401);
    let old = incoming_call(SECRET, "rtc_old", SIM_CALLER, BUSINESS, now() - 360).unwrap();
    assert_eq!(post(&hook, &old).await.unwrap().0, 401);
    let mut tampered = incoming_call(SECRET, "rtc_tamper", SIM_CALLER, BUSINESS, now()).unwrap();
    tampered.body = tampered.body.replace("rtc_tamper", "rtc_tamper2");
    assert_eq!(post(&hook, &tampered).await.unwrap().0, 401);
    let unsigned = reqwest::Client::new()
        .post(&hook)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 400);
    // Signed but malformed, and signed but of another type.
    let malformed = signed(SECRET, "{not json".into(), now()).unwrap();
    let (status, body) = post(&hook, &malformed).await.unwrap();
    assert_eq!((status, body.contains("malformed")), (400, true), "{body}");
    let other = signed(
        SECRET,
        json!({"type": "batch.completed", "data": {"id": "b1"}}).to_string(),
        now(),
    )
    .unwrap();
    let (status, body) = post(&hook, &other).await.unwrap();
    assert_eq!((status, body.contains("ignored")), (200, true), "{body}");
    // None of these reached OpenAI's REST API.
    assert!(
        rig.model.sip_requests().is_empty(),
        "{:?}",
        rig.model.sip_requests()
    );

    // A number that is not ours: rejected 404, on record as rejected.
    let (_, status, answer) = call_in(&rig, "rtc_elsewhere", "+15550000000").await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("rejected_unknown_number"))
    );
    let reject = wait_for_request(&rig, "rtc_elsewhere", "reject").await;
    assert_eq!(reject.body, json!({"status_code": 404}));
    let d = stored(&rig, "rtc_elsewhere").await;
    assert_eq!(
        (d["outcome"].as_str(), d["transport"].as_str()),
        (Some("rejected"), Some("sip"))
    );

    // The caller's first call of the hour is accepted, the second refused 486.
    let (_, _, first) = call_in(&rig, "rtc_first", BUSINESS).await;
    assert_eq!(first["outcome"], "accepted");
    let (_, _, second) = call_in(&rig, "rtc_second", BUSINESS).await;
    assert_eq!(second["outcome"], "rejected_rate_limited");
    assert_eq!(
        wait_for_request(&rig, "rtc_second", "reject").await.body,
        json!({"status_code": 486})
    );
    assert_eq!(stored(&rig, "rtc_second").await["outcome"], "rejected");

    // The caller hangs up: OpenAI closes the sideband socket normally.
    rig.model.end_sip_call("rtc_first");
    assert_eq!(stored(&rig, "rtc_first").await["outcome"], "caller_hung_up");
    rig.running.stop(true).await;
}

#[actix_rt::test]
async fn an_accept_that_fails_closes_the_record_and_opens_no_socket() {
    let rig = sip_rig(
        ModelScript {
            sip: SipBehavior {
                accept_status: 404,
                ..SipBehavior::default()
            },
            ..sip_script(vec![])
        },
        |_| {},
    )
    .await;
    let (_, status, answer) = call_in(&rig, "rtc_gone", BUSINESS).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("accept_failed"))
    );
    let d = stored(&rig, "rtc_gone").await;
    assert_eq!(d["outcome"], "accept_failed");
    assert!(rig.model.record().connections.is_empty());
    assert!(rig.running.calls.is_empty());
    rig.running.stop(true).await;
}

#[actix_rt::test]
async fn a_draining_instance_rejects_new_sip_calls_and_hangs_up_the_open_ones() {
    let rig = sip_rig(sip_script(vec![]), |_| {}).await;
    let (_, _, first) = call_in(&rig, "rtc_open", BUSINESS).await;
    assert_eq!(first["outcome"], "accepted");
    // The greeting played; the call is in conversation.
    assert!(
        rig.model
            .wait_until(Duration::from_secs(10), |r| r
                .transcript
                .iter()
                .any(|(who, _)| who == "model"))
            .await
    );
    let running = &rig.running;
    let drain = running.drain(Duration::from_millis(1500));
    let second = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        call_in(&rig, "rtc_late", BUSINESS).await
    };
    let ((), (_, _, late)) = tokio::join!(drain, second);
    assert_eq!(late["outcome"], "rejected_draining");
    assert_eq!(
        requests(&rig, "rtc_late", "reject")[0].body,
        json!({"status_code": 503})
    );
    // The open call was ended as the drain ran out: OpenAI is told to hang up.
    wait_for_request(&rig, "rtc_open", "hangup").await;
    assert_eq!(requests(&rig, "rtc_open", "hangup").len(), 1);
    let d = rig
        .running
        .store
        .call_detail("rtc_open")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.call.outcome.as_deref(), Some("shutdown"));
}

#[actix_rt::test]
async fn a_dropped_sideband_socket_is_reopened_for_the_same_call_with_the_conversation() {
    let rig = sip_rig(
        ModelScript {
            connections: vec![ConnectionBehavior::DropMidResponse { after_deltas: 2 }],
            ..sip_script(vec![ScriptTurn::Reply {
                caller: "I would like to book a cleaning.".into(),
                reply: "Of course, let me see what we have available next week for you.".into(),
            }])
        },
        |_| {},
    )
    .await;
    let (_, _, answer) = call_in(&rig, "rtc_drop", BUSINESS).await;
    assert_eq!(answer["outcome"], "accepted");
    assert!(
        rig.model
            .wait_until(Duration::from_secs(15), |r| r.connections.len() >= 2
                && r.connections[1]
                    .server_events
                    .iter()
                    .any(|e| e.contains("output_audio_buffer.stopped")))
            .await,
        "{:?}",
        rig.model.record().connections.len()
    );
    let rec = rig.model.record();
    for c in &rec.connections {
        assert_eq!(c.path_and_query, "/v1/realtime?call_id=rtc_drop");
    }
    // The conversation so far was sent again on the new socket.
    let replayed: Vec<String> = rec.connections[1]
        .items_created
        .iter()
        .map(|i| i.to_string())
        .collect();
    assert!(
        replayed
            .iter()
            .any(|i| i.contains("I would like to book a cleaning.")),
        "{replayed:?}"
    );
    rig.model.end_sip_call("rtc_drop");
    let d = stored(&rig, "rtc_drop").await;
    assert_eq!(d["outcome"], "caller_hung_up");
    let restarts = d["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "model_restart")
        .count();
    assert_eq!(restarts, 1, "{d}");
    rig.running.stop(true).await;
}

#[actix_rt::test]
async fn past_the_restart_budget_the_call_is_referred_to_the_fallback_number() {
    let rig = sip_rig(
        ModelScript {
            connections: vec![ConnectionBehavior::DropMidResponse { after_deltas: 2 }],
            then: ConnectionBehavior::RejectHandshake { status: 503 },
            ..sip_script(vec![ScriptTurn::Reply {
                caller: "Hello?".into(),
                reply: "Hello, this is Harbor Dental, what can I do for you today?".into(),
            }])
        },
        |c| c.realtime.sip_fallback_number = "+15559990000".into(),
    )
    .await;
    let (_, _, answer) = call_in(&rig, "rtc_budget", BUSINESS).await;
    assert_eq!(answer["outcome"], "accepted");
    let refer = wait_for_request(&rig, "rtc_budget", "refer").await;
    assert_eq!(refer.body, json!({"target_uri": "tel:+15559990000"}));
    let d = stored(&rig, "rtc_budget").await;
    assert_eq!(d["outcome"], "transferred", "{d}");
    let causes: Vec<String> = d["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "transition")
        .filter_map(|e| e["payload"]["to"].as_str().map(String::from))
        .collect();
    assert!(causes.contains(&"transferring".to_string()), "{causes:?}");
    // Three sockets: the first, then the restarts the budget allows, refused.
    assert_eq!(rig.model.record().connections.len(), 3);
    rig.running.stop(true).await;
}

#[actix_rt::test]
async fn a_refer_that_fails_brings_the_assistant_back_on_the_same_call() {
    let rig = sip_rig(
        ModelScript {
            sip: SipBehavior {
                refer_status: 500,
                ..SipBehavior::default()
            },
            ..sip_script(vec![ScriptTurn::Tool {
                caller: "Front desk, please.".into(),
                name: "transfer_call".into(),
                arguments: json!({"department": "Front desk"}),
                reply_template: "Connecting you now.".into(),
            }])
        },
        |_| {},
    )
    .await;
    let (_, _, answer) = call_in(&rig, "rtc_norefer", BUSINESS).await;
    assert_eq!(answer["outcome"], "accepted");
    let refer = wait_for_request(&rig, "rtc_norefer", "refer").await;
    assert_eq!(refer.status, 500);
    // The sideband socket is opened again for the same call, and the
    // resumed model is told the transfer did not go through.
    assert!(
        rig.model
            .wait_until(Duration::from_secs(10), |r| r.connections.len() >= 2
                && r.connections[1]
                    .items_created
                    .iter()
                    .any(|i| i.to_string().contains("was not answered")))
            .await,
        "{:#?}",
        rig.model
            .record()
            .connections
            .iter()
            .map(|c| &c.items_created)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        rig.model.record().connections[1].path_and_query,
        "/v1/realtime?call_id=rtc_norefer"
    );
    rig.model.end_sip_call("rtc_norefer");
    let d = stored(&rig, "rtc_norefer").await;
    assert_eq!(d["outcome"], "caller_hung_up", "{d}");
    assert_eq!(d["failure_reason"], "transfer_failed", "{d}");
    rig.running.stop(true).await;
}

#[actix_rt::test]
async fn a_webhook_retried_on_another_instance_gets_the_first_answer_and_does_nothing_twice() {
    let db = crate::store_support::TestDb::postgres().await;
    let namespace = format!("fdsip{:x}", rand::random::<u32>());
    let shared = |c: &mut frontdesk::config::Config, url: &str, ns: &str| {
        c.storage.database_url = url.to_string();
        c.storage.redis_url =
            std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        c.storage.redis_namespace = ns.to_string();
    };
    let (url_a, ns_a) = (db.url.clone(), namespace.clone());
    let a = sip_rig(sip_script(vec![]), move |c| shared(c, &url_a, &ns_a)).await;
    let (url_b, ns_b) = (db.url.clone(), namespace.clone());
    let b = sip_rig(sip_script(vec![]), move |c| shared(c, &url_b, &ns_b)).await;
    let (delivery, status, first) = call_in(&a, "rtc_twice", BUSINESS).await;
    assert_eq!((status, first["outcome"].as_str()), (200, Some("accepted")));
    let (status, again) = post(&url(&b), &delivery).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&again).unwrap(), first);
    assert_eq!(requests(&a, "rtc_twice", "accept").len(), 1);
    assert!(b.model.sip_requests().is_empty());
    assert!(b.running.calls.is_empty());
    // One call, on record in the shared PostgreSQL with its transport.
    a.model.end_sip_call("rtc_twice");
    let d = stored(&a, "rtc_twice").await;
    assert_eq!(d["transport"], "sip");
    a.running.stop(true).await;
    b.running.stop(true).await;
}
