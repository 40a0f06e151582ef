//! `frontdesk simulate --transport sip`: one whole call through OpenAI's
//! SIP connector, simulated — the signed `realtime.call.incoming` webhook,
//! the engine's `accept`, the greeting, a tool, and a transfer by `refer`,
//! all over real sockets, with what each side saw printed.

use std::time::Duration;

use serde_json::json;

use super::{io, sim_config, simulator, tempfile_dir, SimulateError, SIM_CALLER};
use crate::config::{Config, Secret};
use frontdesk_sim::model::{ModelScript, ModelSim, ScriptTurn};
use frontdesk_sim::openai_webhook::{incoming_call, post};

/// A throwaway signing secret for the in-process simulation.
const SIM_WEBHOOK_SECRET: &str = "whsec_c2ltdWxhdGVkLXdlYmhvb2stc2VjcmV0LTMyYnl0ZXM=";
const CALL_ID: &str = "rtc_simulated0001";

fn script() -> ModelScript {
    ModelScript {
        greeting: "Thank you for calling Harbor Dental, how can I help you today?".into(),
        turns: vec![
            ScriptTurn::Tool {
                caller: "Hi, are you open on Saturday?".into(),
                name: "get_business_hours".into(),
                arguments: json!({}),
                reply_template: "Let me check. Here is what I have: {output}".into(),
            },
            ScriptTurn::Tool {
                caller: "Thanks. Can I talk to someone at the front desk?".into(),
                name: "transfer_call".into(),
                arguments: json!({"department": "Front desk"}),
                reply_template: "Of course, connecting you to the front desk now.".into(),
            },
        ],
        audio_ms_per_char: 20,
        api_key: Some(super::SIM_API_KEY.into()),
        ..ModelScript::default()
    }
}

/// The front desk answers around the clock here, so the transfer happens
/// whenever the simulation runs.
fn front_desk_open(config: &mut Config) {
    use crate::config::business::{Span, WeeklyHours};
    let Ok(all) = "00:00-23:59".parse::<Span>() else {
        return;
    };
    let all = vec![all];
    config.business.holidays.clear();
    if let Some(desk) = config
        .business
        .departments
        .iter_mut()
        .find(|d| d.name == "Front desk")
    {
        desk.hours = Some(WeeklyHours {
            monday: all.clone(),
            tuesday: all.clone(),
            wednesday: all.clone(),
            thursday: all.clone(),
            friday: all.clone(),
            saturday: all.clone(),
            sunday: all,
        });
    }
}

pub(super) async fn run(config: Config) -> Result<(), SimulateError> {
    let model = ModelSim::start(script())
        .await
        .map_err(simulator("OpenAI (model and SIP REST)"))?;
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(io("binding a local port"))?;
    let addr = listener.local_addr().map_err(io("binding a local port"))?;
    let mut config = sim_config(config, &model.base_url());
    config.server.public_url = format!("http://{addr}");
    config.realtime.webhook_secret = Some(Secret::new(SIM_WEBHOOK_SECRET));
    front_desk_open(&mut config);
    let data = tempfile_dir()?;
    config.storage.database_url = format!("sqlite://{}", data.join("simulate.db").display());
    config.storage.spill_path = data.join("spill.jsonl").display().to_string();
    let to = config.business.business.phone.clone();
    let running = crate::app::launch(config, Some(listener)).await?;
    let url = format!("http://{addr}/openai/webhook");
    println!("Frontdesk simulated SIP call (OpenAI's SIP connector) to {url}");

    let now = chrono::Utc::now().timestamp();
    let delivery = incoming_call(SIM_WEBHOOK_SECRET, CALL_ID, SIM_CALLER, &to, now)
        .map_err(|e| SimulateError::Webhook(e.to_string()))?;
    let (status, body) = post(&url, &delivery)
        .await
        .map_err(|e| SimulateError::Webhook(e.to_string()))?;
    println!(
        "\nWebhook realtime.call.incoming ({}) -> {status} {body}",
        delivery.id
    );

    // The call runs until OpenAI is told to refer or hang up, and the
    // engine lets it go.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let done = model
            .sip_requests()
            .iter()
            .any(|r| r.action == "refer" || r.action == "hangup" || r.action == "reject");
        if (done && running.calls.is_empty()) || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rec = model.record();
    println!("\nTranscript (the caller speaks on the SIP leg, heard by OpenAI)");
    for (who, text) in &rec.transcript {
        println!("  {who:>6}: {text}");
    }
    println!("\nOpenAI REST calls the engine made");
    for r in model.sip_requests() {
        let body = match &r.body {
            serde_json::Value::Null => String::new(),
            b if r.action == "accept" => format!(
                " (session: {} tools, voice {})",
                b["tools"].as_array().map_or(0, Vec::len),
                b["audio"]["output"]["voice"]
            ),
            b => format!(" {b}"),
        };
        println!(
            "  POST /realtime/calls/{}/{} -> {}{body}",
            r.call_id, r.action, r.status
        );
    }
    println!("\nSideband sockets");
    for c in &rec.connections {
        let tools: Vec<String> = c
            .client_events
            .iter()
            .filter(|e| e.contains("function_call_output"))
            .map(|_| "function_call_output".to_string())
            .collect();
        println!(
            "  GET {} : {} client events ({} tool outputs), {} server events, {} bytes of audio",
            c.path_and_query,
            c.client_events.len(),
            tools.len(),
            c.server_events.len(),
            c.input_audio.len()
        );
    }
    let flushed = running
        .recorder
        .send(crate::recorder::Flush {
            timeout: Duration::from_secs(5),
        })
        .await
        .unwrap_or(false);
    if let Ok(Some(d)) = running.store.call_detail(CALL_ID).await {
        println!(
            "\nStored: transport {}, outcome {}, {} turns, tools: {}",
            d.call.transport,
            d.call.outcome.as_deref().unwrap_or("(open)"),
            d.transcript.len(),
            d.tools
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    running.stop(false).await;
    println!(
        "\nRecords {} {}\n  see them: DATABASE_URL={} frontdesk calls show {CALL_ID}",
        if flushed {
            "written to"
        } else {
            "partly written to"
        },
        running.config.storage.database_url,
        running.config.storage.database_url,
    );
    Ok(())
}
