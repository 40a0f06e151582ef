//! The business's own HTTP tools and signed event webhooks, end to end: the
//! simulated Twilio caller, the scripted model, the engine, and a simulated
//! business endpoint (`frontdesk_sim::webhook_receiver`) that verifies every
//! Standard Webhooks signature with the SDK-checked verifier.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use frontdesk::config::integrations::{HttpToolConfig, WebhookEndpoint};
use frontdesk::config::{Config, Secret};
use frontdesk::notify::deliveries::{run_command, WebhooksAction};
use frontdesk::notify::worker::{Notifier, WorkerOptions};
use frontdesk_sim::audio::synth_speech;
use frontdesk_sim::caller::{place_call, CallerStep};
use frontdesk_sim::model::{ModelScript, ScriptTurn, SimRecord};
use frontdesk_sim::webhook_receiver::{
    Received, ToolBehaviour, WebhookReceiver, WebhookReceiverHandle,
};
use parking_lot::Mutex;
use serde_json::{json, Value};

const SECRET: &str = "whsec_ZnJvbnRkZXNrLWludGVncmF0aW9ucy10ZXN0";

fn tool(name: &str, rx: &WebhookReceiverHandle, timeout_ms: u64) -> HttpToolConfig {
    HttpToolConfig {
        name: name.into(),
        description: format!("The business's {name} lookup."),
        parameters: json!({"type": "object", "properties": {"order": {"type": "string"}}}),
        url: rx.url(&format!("/tools/{name}")),
        method: "POST".into(),
        timeout_ms,
        max_answer_bytes: 4096,
        secret_env: "TOOL_SECRET".into(),
        secret: Secret::new(SECRET),
        // The receiver listens on loopback.
        allow_private: true,
    }
}

fn endpoint(rx: &WebhookReceiverHandle) -> WebhookEndpoint {
    WebhookEndpoint {
        name: "crm".into(),
        url: rx.url("/hooks/frontdesk"),
        events: vec![],
        secret_env: "HOOK_SECRET".into(),
        secret: Secret::new(SECRET),
        allow_private: true,
        timeout_ms: 2000,
        call_link: Some("https://dash.example.com/calls/{call_sid}".into()),
    }
}

/// The model calls each tool in turn, then ends the call.
fn script(tools: &[(&str, Value)]) -> ModelScript {
    let mut turns: Vec<ScriptTurn> = tools
        .iter()
        .map(|(name, arguments)| ScriptTurn::Tool {
            caller: format!("About {name}"),
            name: (*name).into(),
            arguments: arguments.clone(),
            reply_template: "Here it is: {output}".into(),
        })
        .collect();
    turns.push(ScriptTurn::Tool {
        caller: "Thanks, bye".into(),
        name: "end_call".into(),
        arguments: json!({}),
        reply_template: "Goodbye!".into(),
    });
    ModelScript {
        greeting: "Thanks for calling Harbor Dental, how can I help?".into(),
        turns,
        audio_ms_per_char: 5,
        ..ModelScript::default()
    }
}

fn steps(questions: usize) -> Vec<CallerStep> {
    let mut steps = vec![wait_for_reply()];
    for i in 0..=questions {
        steps.push(CallerStep::Say {
            label: format!("turn {i}"),
            audio: synth_speech(800, 3 + i as u64),
        });
        steps.push(wait_for_reply());
    }
    steps.push(CallerStep::WaitForClose { timeout_ms: 15_000 });
    steps
}

fn function_outputs(rec: &SimRecord) -> Vec<Value> {
    rec.connections
        .iter()
        .flat_map(|c| c.items_created.iter())
        .filter(|i| i["type"] == "function_call_output")
        .map(|i| serde_json::from_str(i["output"].as_str().unwrap()).unwrap())
        .collect()
}

fn event_types(got: &[Received]) -> Vec<String> {
    got.iter()
        .map(|r| r.json()["type"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[actix_rt::test]
async fn an_http_tool_is_called_signed_and_events_arrive_signed_in_order() {
    let rx = WebhookReceiver::start(SECRET).await.unwrap();
    rx.set_tool(
        "/tools/order_status",
        ToolBehaviour::Answer(json!({"status": "shipped", "eta": "Tuesday"})),
    );
    let message = json!({"caller_name": "Dana Whitfield", "subject": "Order", "body": "Call me about my order."});
    let rig = rig(
        script(&[
            ("order_status", json!({"order": "A-17"})),
            ("take_message", message),
        ]),
        |c| {
            c.business.http_tools = vec![tool("order_status", &rx, 2000)];
            c.business.webhooks = vec![endpoint(&rx)];
        },
    )
    .await;
    let report = place_call(&rig.base, caller(steps(2))).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let sid = report.call_sid.clone();

    // The tool: one signed request carrying the call, the business and the
    // model's arguments; its JSON answer is what the model got.
    let calls: Vec<Received> = rx
        .received()
        .into_iter()
        .filter(|r| r.path == "/tools/order_status")
        .collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].verified, Ok(()), "{calls:?}");
    let sent = calls[0].json();
    assert_eq!(sent["call"]["sid"], sid.as_str());
    assert_eq!(sent["arguments"], json!({"order": "A-17"}));
    assert_eq!(sent["business"]["name"], "Harbor Dental");
    let outputs = function_outputs(&rig.model.record());
    assert_eq!(outputs[0], json!({"status": "shipped", "eta": "Tuesday"}));
    // The model was offered the tool like a built-in one.
    let offered = rig.model.record().connections[0].session_updates[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "order_status");
    assert!(offered);

    // The events: signed, in order, by the engine's own notifier.
    let arrived = rx
        .wait_until(Duration::from_secs(20), |got| {
            got.iter().any(|r| r.json()["type"] == "call.ended")
        })
        .await;
    let delivered = rx.delivered();
    assert!(arrived, "{:?}", event_types(&rx.received()));
    assert_eq!(
        event_types(&delivered),
        ["call.started", "message.created", "call.ended"]
    );
    for r in &delivered {
        assert_eq!(r.verified, Ok(()), "{r:?}");
        assert_eq!(r.json()["data"]["call_sid"], sid.as_str());
    }
    let ended = delivered[2].json();
    assert_eq!(
        ended["data"]["link"],
        format!("https://dash.example.com/calls/{sid}")
    );
    assert!(ended["data"]["outcome"].is_string(), "{ended}");
    assert_eq!(delivered[1].json()["data"]["subject"], "Order");
    // Each event has its own stable webhook-id.
    let ids: std::collections::HashSet<_> = delivered.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), 3);
    rx.stop().await;
}

#[actix_rt::test]
async fn hanging_garbage_oversized_failing_and_private_tools_are_errors_the_model_hears() {
    let rx = WebhookReceiver::start(SECRET).await.unwrap();
    rx.set_tool("/tools/hangs", ToolBehaviour::Hang);
    rx.set_tool("/tools/garbage", ToolBehaviour::Garbage);
    rx.set_tool("/tools/huge", ToolBehaviour::Huge(100_000));
    rx.set_tool("/tools/broken", ToolBehaviour::Status(500));
    let mut private = tool("private", &rx, 1000);
    private.allow_private = false;
    let rig = rig(
        script(&[
            ("hangs", json!({})),
            ("garbage", json!({})),
            ("huge", json!({})),
            ("broken", json!({})),
            ("private", json!({})),
        ]),
        move |c| {
            c.business.http_tools = vec![
                tool("hangs", &rx, 300),
                tool("garbage", &rx, 1000),
                tool("huge", &rx, 1000),
                tool("broken", &rx, 1000),
                private,
            ];
        },
    )
    .await;
    let report = place_call(&rig.base, caller(steps(5))).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let outputs = function_outputs(&rig.model.record());
    let kinds: Vec<&str> = outputs
        .iter()
        .map(|o| o["error"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        kinds[..5],
        [
            "timeout",
            "invalid_json",
            "oversized_answer",
            "bad_status",
            "refused_target"
        ],
        "{outputs:#?}"
    );
    // The call went on to its goodbye and the tool failures are on record.
    let ended = function_outputs(&rig.model.record());
    assert_eq!(ended[5]["ok"], true, "end_call ran: {ended:?}");
    rig.flush_records().await;
    let detail = rig
        .running
        .store
        .call_detail(&report.call_sid)
        .await
        .unwrap()
        .unwrap();
    let stored = serde_json::to_string(&detail.tools).unwrap();
    assert!(
        stored.contains("refused_target") && stored.contains("timeout"),
        "{stored}"
    );
    assert!(!stored.contains(SECRET), "no secret on record");
}

/// A notifier over the rig's store whose clock the test moves.
fn virtual_notifier(rig: &Rig, clock: Arc<Mutex<chrono::DateTime<chrono::Utc>>>) -> Notifier {
    let c = clock.clone();
    Notifier::new(rig.running.store.clone(), &rig.running.config)
        .with_options(WorkerOptions {
            // The production schedule: 5 s, 10 s, 20 s, 40 s, …
            backoff_initial: Duration::from_secs(5),
            backoff_max: Duration::from_secs(3600),
            ..WorkerOptions::default()
        })
        .with_clock(Arc::new(move || *c.lock()))
}

/// A call whose webhook endpoint is down while it happens: the engine's own
/// notifier fails once per event and (with `retry_initial_ms` at an hour)
/// leaves them; the test's notifier then runs the production schedule on a
/// virtual clock.
async fn call_with_endpoint_down(max_attempts: u32) -> (Rig, WebhookReceiverHandle, String) {
    let rx = WebhookReceiver::start(SECRET).await.unwrap();
    rx.fail_always(503);
    let hook = endpoint(&rx);
    let rig = rig(script(&[]), move |c: &mut Config| {
        c.business.webhooks = vec![hook];
        c.notifications.retry_initial_ms = 3_600_000;
        c.notifications.max_attempts = max_attempts;
    })
    .await;
    let report = place_call(&rig.base, caller(steps(0))).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    rig.flush_records().await;
    (rig, rx, report.call_sid)
}

#[actix_rt::test]
async fn webhooks_survive_the_endpoint_being_down_for_a_minute() {
    let (rig, rx, sid) = call_with_endpoint_down(8).await;
    let start = chrono::Utc::now() + chrono::Duration::hours(1) + chrono::Duration::seconds(1);
    let clock = Arc::new(Mutex::new(start));
    let notifier = virtual_notifier(&rig, clock.clone());
    let mut recovered = false;
    for _ in 0..600 {
        if !recovered && *clock.lock() - start >= chrono::Duration::seconds(60) {
            rx.recover();
            recovered = true;
        }
        notifier.run_once().await.unwrap();
        if rx.delivered().len() == 2 {
            break;
        }
        *clock.lock() += chrono::Duration::seconds(1);
    }
    let took = *clock.lock() - start;
    let delivered = rx.delivered();
    assert_eq!(
        event_types(&delivered),
        ["call.started", "call.ended"],
        "after {took}"
    );
    assert!(took >= chrono::Duration::seconds(60), "{took}");
    // 5 + 10 + 20 + 40 s after the first virtual attempt: delivered at 75 s.
    assert!(took <= chrono::Duration::seconds(80), "{took}");
    for r in &delivered {
        assert_eq!(r.verified, Ok(()));
        assert_eq!(r.json()["data"]["call_sid"], sid.as_str());
    }
    // Never out of order, even while failing: call.ended was not tried
    // before call.started went through.
    let tried = event_types(&rx.received());
    let first_end = tried.iter().position(|t| t == "call.ended").unwrap();
    let last_start = tried.iter().rposition(|t| t == "call.started").unwrap();
    assert!(last_start < first_end, "{tried:?}");
    // Every attempt is visible to operators.
    let listing = run_command(&rig.running.store, WebhooksAction::Deliveries { limit: 10 })
        .await
        .unwrap();
    assert!(
        listing.contains("HTTP 503") && listing.contains("HTTP 204"),
        "{listing}"
    );
    assert_eq!(listing.matches(" delivered ").count(), 2, "{listing}");
}

#[actix_rt::test]
async fn webhooks_are_dead_lettered_after_the_budget_and_can_be_resent() {
    let (rig, rx, _sid) = call_with_endpoint_down(3).await;
    let start = chrono::Utc::now() + chrono::Duration::hours(1) + chrono::Duration::seconds(1);
    let clock = Arc::new(Mutex::new(start));
    let notifier = virtual_notifier(&rig, clock.clone());
    for _ in 0..300 {
        notifier.run_once().await.unwrap();
        *clock.lock() += chrono::Duration::seconds(1);
    }
    let store = &rig.running.store;
    let dead: Vec<_> = store
        .list_outbox(true)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.kind == "webhook")
        .collect();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(dead.iter().all(|i| i.dead && i.attempts == 3), "{dead:?}");
    assert!(rx.delivered().is_empty());
    let attempts = store.outbox_attempts(dead[0].id).await.unwrap();
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert!(attempts
        .iter()
        .all(|a| a.status_code == Some(503) && a.error.is_some()));
    let listing = run_command(store, WebhooksAction::Deliveries { limit: 10 })
        .await
        .unwrap();
    assert_eq!(listing.matches(" dead ").count(), 2, "{listing}");

    // The endpoint is back; the operator resends both, in order.
    rx.recover();
    for item in &dead {
        run_command(store, WebhooksAction::Resend(item.id))
            .await
            .unwrap();
    }
    for _ in 0..5 {
        notifier.run_once().await.unwrap();
    }
    assert_eq!(event_types(&rx.delivered()), ["call.started", "call.ended"]);
}
