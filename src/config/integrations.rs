//! The business's own integrations (`business.toml`): HTTP tools the model
//! may call (`[[http_tools]]`) and endpoints that receive signed event
//! webhooks (`[[webhooks]]`). Their signing secrets are secrets: the file
//! names an environment variable (`secret_env`), and the value is read from
//! the environment at load time into a [`Secret`].

use serde::{Deserialize, Serialize};

use super::Secret;

/// Events an endpoint can subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "call.started",
    "call.ended",
    "message.created",
    "voicemail.created",
    "booking.created",
    "booking.changed",
    "booking.cancelled",
    "transfer.failed",
];

/// An HTTP tool longer than this leaves the caller in silence too long.
const MAX_TOOL_TIMEOUT_MS: u64 = 15_000;

/// One HTTP tool (`[[http_tools]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpToolConfig {
    /// The function name the model sees (`^[a-zA-Z0-9_-]{1,64}$`).
    pub name: String,
    /// What the tool does and when to use it, for the model.
    pub description: String,
    /// JSON Schema of the arguments object (a TOML table).
    #[serde(default = "empty_object_schema")]
    pub parameters: serde_json::Value,
    pub url: String,
    /// `POST` (default), `PUT` or `PATCH`: the signed JSON goes in the body.
    #[serde(default = "default_method")]
    pub method: String,
    /// The whole request, answer included, must finish within this.
    #[serde(default = "default_tool_timeout_ms")]
    pub timeout_ms: u64,
    /// Answers larger than this are refused (`oversized_answer`).
    #[serde(default = "default_max_answer_bytes")]
    pub max_answer_bytes: usize,
    /// The environment variable holding the `whsec_…` signing secret.
    pub secret_env: String,
    /// The secret itself, read from `secret_env` by the loader.
    #[serde(skip)]
    pub secret: Secret,
    /// Allow private, loopback and link-local targets (a back office on the
    /// LAN). Off by default: a tool must not reach the engine's own network.
    #[serde(default)]
    pub allow_private: bool,
}

/// One event webhook endpoint (`[[webhooks]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpoint {
    /// Names the endpoint in the outbox and `frontdesk webhooks deliveries`.
    pub name: String,
    pub url: String,
    /// The events sent here; empty: all of them ([`EVENT_TYPES`]).
    #[serde(default)]
    pub events: Vec<String>,
    /// The environment variable holding the `whsec_…` signing secret.
    pub secret_env: String,
    #[serde(skip)]
    pub secret: Secret,
    #[serde(default)]
    pub allow_private: bool,
    /// One delivery attempt must finish within this.
    #[serde(default = "default_webhook_timeout_ms")]
    pub timeout_ms: u64,
    /// A link to the call for `call.ended`, `{call_sid}` replaced (e.g. the
    /// business's dashboard); absent: no link.
    #[serde(default)]
    pub call_link: Option<String>,
}

impl WebhookEndpoint {
    pub fn wants(&self, event: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == event)
    }
}

fn empty_object_schema() -> serde_json::Value {
    serde_json::json!({"type": "object", "properties": {}})
}
fn default_method() -> String {
    "POST".into()
}
fn default_tool_timeout_ms() -> u64 {
    3000
}
fn default_max_answer_bytes() -> usize {
    64 * 1024
}
fn default_webhook_timeout_ms() -> u64 {
    10_000
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntegrationConfigError {
    #[error("http_tools[{0:?}]: the name must be 1-64 letters, digits, _ or -")]
    ToolName(String),
    #[error("http_tools[{0:?}]: the name is used twice or by a built-in tool")]
    DuplicateTool(String),
    #[error("{owner}: url {url:?} must be an http(s) URL")]
    Url { owner: String, url: String },
    #[error("http_tools[{0:?}]: method must be POST, PUT or PATCH")]
    Method(String),
    #[error("http_tools[{0:?}]: parameters must be a JSON schema of type object")]
    Parameters(String),
    #[error("http_tools[{0:?}]: timeout_ms must be 1..=15000 and max_answer_bytes positive")]
    Limits(String),
    #[error("webhooks[{0:?}]: the name is empty or used twice")]
    WebhookName(String),
    #[error("webhooks[{endpoint:?}]: unknown event {event:?}")]
    UnknownEvent { endpoint: String, event: String },
    #[error("{owner}: secret_env must name an environment variable")]
    NoSecretEnv { owner: String },
    /// Names the variable, never its value.
    #[error("{owner}: the environment variable {var} is not set")]
    SecretUnset { owner: String, var: String },
    #[error("{owner}: the secret in {var} must be whsec_ followed by base64")]
    BadSecret { owner: String, var: String },
}

fn check_url(owner: &str, url: &str) -> Result<(), IntegrationConfigError> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(IntegrationConfigError::Url {
            owner: owner.into(),
            url: url.into(),
        }),
    }
}

/// Checks the declarations; `builtin` are tool names already taken (the
/// toolbox checks its own built-in names again when it adds these).
pub fn validate(
    tools: &[HttpToolConfig],
    webhooks: &[WebhookEndpoint],
    builtin: &[&str],
) -> Result<(), IntegrationConfigError> {
    let mut names: Vec<&str> = builtin.to_vec();
    for t in tools {
        let owner = format!("http_tools[{:?}]", t.name);
        let ok_name = !t.name.is_empty()
            && t.name.len() <= 64
            && t.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok_name {
            return Err(IntegrationConfigError::ToolName(t.name.clone()));
        }
        if names.contains(&t.name.as_str()) {
            return Err(IntegrationConfigError::DuplicateTool(t.name.clone()));
        }
        names.push(&t.name);
        check_url(&owner, &t.url)?;
        if !["POST", "PUT", "PATCH"].contains(&t.method.to_ascii_uppercase().as_str()) {
            return Err(IntegrationConfigError::Method(t.name.clone()));
        }
        if t.parameters.get("type").and_then(|v| v.as_str()) != Some("object") {
            return Err(IntegrationConfigError::Parameters(t.name.clone()));
        }
        if t.timeout_ms == 0 || t.timeout_ms > MAX_TOOL_TIMEOUT_MS || t.max_answer_bytes == 0 {
            return Err(IntegrationConfigError::Limits(t.name.clone()));
        }
        if t.secret_env.trim().is_empty() {
            return Err(IntegrationConfigError::NoSecretEnv { owner });
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for w in webhooks {
        if w.name.trim().is_empty() || seen.contains(&w.name.as_str()) {
            return Err(IntegrationConfigError::WebhookName(w.name.clone()));
        }
        seen.push(&w.name);
        let owner = format!("webhooks[{:?}]", w.name);
        check_url(&owner, &w.url)?;
        if let Some(e) = w.events.iter().find(|e| !EVENT_TYPES.contains(&e.as_str())) {
            return Err(IntegrationConfigError::UnknownEvent {
                endpoint: w.name.clone(),
                event: e.clone(),
            });
        }
        if w.secret_env.trim().is_empty() {
            return Err(IntegrationConfigError::NoSecretEnv { owner });
        }
    }
    Ok(())
}

/// Reads every `secret_env` from `env` into its `secret`; a variable that is
/// unset or not a Standard Webhooks secret is an error naming the variable.
pub fn resolve_secrets(
    tools: &mut [HttpToolConfig],
    webhooks: &mut [WebhookEndpoint],
    env: &[(String, String)],
) -> Result<(), IntegrationConfigError> {
    let lookup = |owner: String, var: &str| -> Result<Secret, IntegrationConfigError> {
        let value = env
            .iter()
            .find(|(k, _)| k == var)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| IntegrationConfigError::SecretUnset {
                owner: owner.clone(),
                var: var.into(),
            })?;
        frontdesk_wire::standard_webhooks::SigningKey::parse(value).map_err(|_| {
            IntegrationConfigError::BadSecret {
                owner,
                var: var.into(),
            }
        })?;
        Ok(Secret::new(value))
    };
    for t in tools {
        t.secret = lookup(format!("http_tools[{:?}]", t.name), &t.secret_env)?;
    }
    for w in webhooks {
        w.secret = lookup(format!("webhooks[{:?}]", w.name), &w.secret_env)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn tool(name: &str) -> HttpToolConfig {
        HttpToolConfig {
            name: name.into(),
            description: "Looks up an order".into(),
            parameters: empty_object_schema(),
            url: "https://api.example.com/tools/order".into(),
            method: default_method(),
            timeout_ms: 3000,
            max_answer_bytes: 1024,
            secret_env: "ORDER_TOOL_SECRET".into(),
            secret: Secret::default(),
            allow_private: false,
        }
    }

    fn hook(name: &str) -> WebhookEndpoint {
        WebhookEndpoint {
            name: name.into(),
            url: "https://hooks.example.com/frontdesk".into(),
            events: vec![],
            secret_env: "HOOK_SECRET".into(),
            secret: Secret::default(),
            allow_private: false,
            timeout_ms: 10_000,
            call_link: None,
        }
    }

    #[test]
    fn declarations_are_checked() {
        assert_eq!(
            validate(&[tool("order_status")], &[hook("crm")], &["end_call"]),
            Ok(())
        );
        let bad = |t: HttpToolConfig| validate(&[t], &[], &["end_call"]).unwrap_err();
        assert!(matches!(
            bad(tool("end_call")),
            IntegrationConfigError::DuplicateTool(_)
        ));
        assert!(matches!(
            bad(tool("no spaces")),
            IntegrationConfigError::ToolName(_)
        ));
        let mut t = tool("x");
        t.url = "file:///etc/passwd".into();
        assert!(matches!(bad(t), IntegrationConfigError::Url { .. }));
        let mut t = tool("x");
        t.method = "DELETE".into();
        assert!(matches!(bad(t), IntegrationConfigError::Method(_)));
        let mut t = tool("x");
        t.parameters = serde_json::json!({"type": "string"});
        assert!(matches!(bad(t), IntegrationConfigError::Parameters(_)));
        let mut t = tool("x");
        t.timeout_ms = 60_000;
        assert!(matches!(bad(t), IntegrationConfigError::Limits(_)));
        let mut h = hook("crm");
        h.events = vec!["call.exploded".into()];
        assert!(matches!(
            validate(&[], &[h], &[]).unwrap_err(),
            IntegrationConfigError::UnknownEvent { .. }
        ));
        assert!(matches!(
            validate(&[], &[hook("a"), hook("a")], &[]).unwrap_err(),
            IntegrationConfigError::WebhookName(_)
        ));
    }

    #[test]
    fn the_toml_form_loads_with_secrets_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        std::fs::copy(repo.join("default.toml"), dir.path().join("default.toml")).unwrap();
        let mut business = std::fs::read_to_string(repo.join("business.toml")).unwrap();
        business.push_str(
            r#"
[[http_tools]]
name = "order_status"
description = "Order status by number."
parameters = { type = "object", properties = { order = { type = "string" } }, required = ["order"] }
url = "https://backoffice.example.com/order"
secret_env = "ORDER_TOOL_SECRET"

[[webhooks]]
name = "crm"
url = "https://crm.example.com/hooks"
events = ["call.ended"]
secret_env = "CRM_SECRET"
"#,
        );
        std::fs::write(dir.path().join("business.toml"), business).unwrap();
        let sources = super::super::ConfigSources::in_dir(dir.path());
        let env = vec![
            (
                "ORDER_TOOL_SECRET".to_string(),
                "whsec_dG9vbA==".to_string(),
            ),
            ("CRM_SECRET".to_string(), "whsec_aG9vaw==".to_string()),
        ];
        let c = super::super::Config::load_with_env(&sources, &env).unwrap();
        let t = &c.business.http_tools[0];
        assert_eq!(t.parameters["properties"]["order"]["type"], "string");
        assert_eq!(
            (t.method.as_str(), t.timeout_ms, t.allow_private),
            ("POST", 3000, false)
        );
        assert_eq!(t.secret.expose(), "whsec_dG9vbA==");
        assert!(c.business.webhooks[0].wants("call.ended"));
        assert!(!c.business.webhooks[0].wants("call.started"));
        let e = super::super::Config::load_with_env(&sources, &env[..1]).unwrap_err();
        assert!(e.to_string().contains("CRM_SECRET"), "{e}");
    }

    #[test]
    fn secrets_come_from_the_environment_and_never_show() {
        let mut tools = vec![tool("order_status")];
        let mut hooks = vec![hook("crm")];
        let e = resolve_secrets(&mut tools, &mut hooks, &[]).unwrap_err();
        assert!(e.to_string().contains("ORDER_TOOL_SECRET"), "{e}");
        let env = |v: &str| {
            vec![
                ("ORDER_TOOL_SECRET".to_string(), v.to_string()),
                ("HOOK_SECRET".to_string(), "whsec_aG9vaw==".to_string()),
            ]
        };
        let e = resolve_secrets(&mut tools, &mut hooks, &env("whsec_!!!topsecret")).unwrap_err();
        assert!(!e.to_string().contains("topsecret"), "{e}");
        resolve_secrets(&mut tools, &mut hooks, &env("whsec_dG9vbA==")).unwrap();
        assert_eq!(tools[0].secret.expose(), "whsec_dG9vbA==");
        assert_eq!(hooks[0].secret.expose(), "whsec_aG9vaw==");
        assert!(!format!("{tools:?}{hooks:?}").contains("whsec_"));
    }
}
