//! The business's own HTTP tools (`[[http_tools]]`): offered to the model
//! like the built-in ones; a call sends `{call, business, arguments}` as
//! JSON, signed the Standard Webhooks way, and the JSON answer goes back to
//! the model. What can go wrong (timeout, non-2xx, invalid JSON, an answer
//! over the size cap, a target inside the engine's network) comes back as a
//! typed error the model can explain; the call goes on.
//!
//! The tool runs, like every tool, on a task of its own (`CallActor::run_tool`
//! spawns it), so a hanging endpoint delays only its own answer.

use std::time::Duration;

use frontdesk_wire::standard_webhooks::SigningKey;
use serde_json::{json, Value};

use super::{Tool, ToolContext, ToolError, ToolFuture, ToolOutput};
use crate::config::integrations::HttpToolConfig;
use crate::integrations::{send_signed, OutboundError, SignedRequest};
use crate::logmask::mask_id;

/// Time the toolbox allows on top of the request's own timeout, so the
/// request's typed timeout is what the model hears.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

pub struct HttpTool {
    config: HttpToolConfig,
    method: reqwest::Method,
    key: Result<SigningKey, String>,
    client: Result<reqwest::Client, String>,
}

impl HttpTool {
    pub fn new(config: HttpToolConfig) -> Self {
        let method = reqwest::Method::from_bytes(config.method.to_ascii_uppercase().as_bytes())
            .unwrap_or(reqwest::Method::POST);
        let key = SigningKey::parse(config.secret.expose()).map_err(|e| e.to_string());
        let client = crate::integrations::guard::client(
            config.allow_private,
            Duration::from_millis(config.timeout_ms),
        )
        .map_err(|e| format!("HTTP client: {}", e.without_url()));
        HttpTool {
            config,
            method,
            key,
            client,
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.config.timeout_ms)
    }
}

impl Tool for HttpTool {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn description(&self) -> &str {
        &self.config.description
    }

    fn parameters(&self) -> Value {
        self.config.parameters.clone()
    }

    fn deadline(&self) -> Duration {
        self.timeout() + DEADLINE_MARGIN
    }

    fn run(&self, args: Value, ctx: ToolContext) -> ToolFuture {
        let name = self.config.name.clone();
        let url = self.config.url.clone();
        let guarded = !self.config.allow_private;
        let method = self.method.clone();
        let timeout = self.timeout();
        let max_answer_bytes = self.config.max_answer_bytes;
        let key = self.key.clone();
        let client = self.client.clone();
        Box::pin(async move {
            let key = key.map_err(|e| ToolError::Unavailable(format!("{name}: {e}")))?;
            let client = client.map_err(ToolError::Unavailable)?;
            let business = &ctx.config.business.business;
            let body = json!({
                "call": { "sid": ctx.call_sid, "from": ctx.caller, "to": ctx.called },
                "business": { "name": business.name, "phone": business.phone },
                "tool": name,
                "arguments": args,
            })
            .to_string();
            let id = format!("msg_{:032x}", rand::random::<u128>());
            let req = SignedRequest {
                url: &url,
                method,
                key: &key,
                id: &id,
                body: body.as_bytes(),
                timeout,
                max_answer_bytes,
            };
            let result = send_signed(&client, req, guarded).await.and_then(|answer| {
                serde_json::from_slice::<Value>(&answer.body)
                    .map_err(|e| OutboundError::InvalidJson(e.to_string()))
                    .map(|v| (v, answer.elapsed))
            });
            match result {
                Ok((answer, elapsed)) => {
                    tracing::info!(call_sid = %mask_id(&ctx.call_sid), tool = %name, ms = elapsed.as_millis() as u64, "HTTP tool answered");
                    // The model gets an object; a bare value is wrapped.
                    let output = if answer.is_object() {
                        answer
                    } else {
                        json!({ "result": answer })
                    };
                    Ok(ToolOutput::data(output))
                }
                Err(e) => {
                    tracing::warn!(call_sid = %mask_id(&ctx.call_sid), tool = %name, kind = e.kind(), error = %e, "HTTP tool failed");
                    Err(ToolError::Remote {
                        kind: e.kind(),
                        message: format!(
                            "{name} failed ({e}). Tell the caller you could not get that \
                             information right now and offer to take a message."
                        ),
                    })
                }
            }
        })
    }
}
