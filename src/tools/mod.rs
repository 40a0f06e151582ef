//! The receptionist's tools. Each one declares its JSON-schema parameters
//! (sent to the model), a deadline, and fails with a typed `ToolError` the
//! model can talk about — a tool never takes the call down.

pub mod booking;
pub mod booking_link;
pub mod caller;
pub mod end_call;
pub mod hours;
pub mod http;
pub mod kb;
pub mod message;
pub mod transfer;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::config::Config;
use crate::realtime::session::ToolSpec;
use frontdesk_core::ToolEffect;

/// What a tool hands back: the JSON for the model, and what the call should
/// do about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    pub output: Value,
    pub effect: ToolEffect,
}

impl ToolOutput {
    pub fn data(output: Value) -> Self {
        ToolOutput {
            output,
            effect: ToolEffect::None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("the tool did not answer within {0:?}")]
    Timeout(Duration),
    #[error("unknown tool {0:?}")]
    UnknownTool(String),
    /// A business's HTTP tool failed; `kind` says how (`timeout`,
    /// `bad_status`, `invalid_json`, `oversized_answer`, `refused_target`,
    /// `unreachable`).
    #[error("{message}")]
    Remote { kind: &'static str, message: String },
}

impl ToolError {
    fn kind(&self) -> &'static str {
        match self {
            ToolError::InvalidArguments(_) => "invalid_arguments",
            ToolError::NotFound(_) => "not_found",
            ToolError::Unavailable(_) => "unavailable",
            ToolError::Timeout(_) => "timeout",
            ToolError::UnknownTool(_) => "unknown_tool",
            ToolError::Remote { kind, .. } => kind,
        }
    }

    /// The error as the model sees it: what went wrong, and what to say.
    pub fn to_model_json(&self) -> Value {
        json!({ "error": self.kind(), "message": self.to_string() })
    }
}

/// Why the tools could not be set up for this configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolsError {
    #[error(transparent)]
    Business(#[from] crate::config::business::BusinessConfigError),
    #[error(transparent)]
    Calendar(#[from] crate::calendar::CalendarError),
    #[error("http_tools[{0:?}]: the name is taken by a built-in tool")]
    NameTaken(String),
}

/// Facts about the call, and the services a tool may use.
#[derive(Clone)]
pub struct ToolContext {
    pub call_sid: String,
    /// The caller's number (E.164), as Twilio gave it.
    pub caller: String,
    /// The number the caller dialled (the business's).
    pub called: String,
    pub now: chrono::DateTime<chrono::Utc>,
    pub store: crate::store::Store,
    pub config: std::sync::Arc<Config>,
}

pub type ToolFuture = Pin<Box<dyn Future<Output = Result<ToolOutput, ToolError>> + Send>>;

pub trait Tool: Send + Sync {
    fn name(&self) -> &str;
    fn description(&self) -> &str;
    /// JSON Schema of the arguments object.
    fn parameters(&self) -> Value;
    fn deadline(&self) -> Duration {
        DEFAULT_DEADLINE
    }
    fn run(&self, args: Value, ctx: ToolContext) -> ToolFuture;
}

/// Long enough for a database round trip, short enough that the caller is
/// not left in silence.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(4);

/// The tools offered on every call.
#[derive(Clone)]
pub struct Toolbox {
    tools: Vec<Arc<dyn Tool>>,
}

impl Toolbox {
    pub fn new(tools: Vec<Arc<dyn Tool>>) -> Self {
        Toolbox { tools }
    }

    /// The built-in tools for this configuration, then the business's own
    /// HTTP tools.
    pub fn standard(config: &Config) -> Result<Self, ToolsError> {
        let mut toolbox = Self::builtin(config)?;
        for t in &config.business.http_tools {
            if toolbox.tools.iter().any(|b| b.name() == t.name) {
                return Err(ToolsError::NameTaken(t.name.clone()));
            }
            toolbox.tools.push(Arc::new(http::HttpTool::new(t.clone())));
        }
        Ok(toolbox)
    }

    /// The booking tools book into the business's configured calendar
    /// (`[calendar]`); with `kind = "none"` they are not offered, and a
    /// configured `booking_url` adds `send_booking_link`.
    fn builtin(config: &Config) -> Result<Self, ToolsError> {
        let mut tools: Vec<Arc<dyn Tool>> = vec![
            Arc::new(hours::BusinessHours::new(config.business.clone())?),
            Arc::new(end_call::EndCall),
            Arc::new(message::TakeMessage),
            Arc::new(transfer::TransferCall::new(config.business.clone())?),
            Arc::new(caller::LookupCaller),
            Arc::new(kb::AnswerQuestion::load(std::path::Path::new(
                &config.knowledge.dir,
            ))),
        ];
        let calendar = &config.business.calendar;
        if calendar.bookable() {
            let source = booking::configured_calendar(config)?;
            tools.extend([
                Arc::new(booking::CheckAvailability::with_calendar(
                    config,
                    source.clone(),
                )?) as Arc<dyn Tool>,
                Arc::new(booking::BookAppointment::with_calendar(
                    config,
                    source.clone(),
                )?),
                Arc::new(booking::FindAppointments::with_calendar(source.clone())),
                Arc::new(booking::CancelAppointment::with_calendar(source.clone())),
                Arc::new(booking::RescheduleAppointment::with_calendar(source)),
            ]);
        }
        if !calendar.booking_url.trim().is_empty() {
            tools.push(Arc::new(booking_link::SendBookingLink));
        }
        Ok(Toolbox::new(tools))
    }

    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools
            .iter()
            .map(|t| ToolSpec {
                name: t.name().to_string(),
                description: t.description().to_string(),
                parameters: t.parameters(),
            })
            .collect()
    }

    /// Runs a tool by name with the model's argument text. Never fails: an
    /// error becomes JSON the model can explain to the caller.
    pub async fn run(&self, name: &str, arguments: &str, ctx: ToolContext) -> (String, ToolEffect) {
        let call_sid = ctx.call_sid.clone();
        let result = match self.tools.iter().find(|t| t.name() == name) {
            None => Err(ToolError::UnknownTool(name.to_string())),
            Some(tool) => match parse_arguments(arguments) {
                Err(e) => Err(e),
                Ok(args) => {
                    let deadline = tool.deadline();
                    match tokio::time::timeout(deadline, tool.run(args, ctx)).await {
                        Ok(r) => r,
                        Err(_) => Err(ToolError::Timeout(deadline)),
                    }
                }
            },
        };
        match result {
            Ok(out) => (out.output.to_string(), out.effect),
            Err(e) => {
                // One line per failed tool call (a calendar that is down, bad
                // arguments); the same reason is stored with the invocation.
                tracing::warn!(call_sid = %crate::logmask::mask_id(&call_sid), tool = %name, error = %e, "tool failed");
                (e.to_model_json().to_string(), ToolEffect::None)
            }
        }
    }
}

/// The tools as a call uses them: the toolbox, and the services its tools
/// work with. Cloning is cheap (shared handles).
#[derive(Clone)]
pub struct ToolRunner {
    toolbox: Toolbox,
    store: crate::store::Store,
    config: Arc<Config>,
}

impl ToolRunner {
    pub fn new(toolbox: Toolbox, store: crate::store::Store, config: Arc<Config>) -> Self {
        ToolRunner {
            toolbox,
            store,
            config,
        }
    }

    /// What the model is told it may call.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.toolbox.specs()
    }

    /// Runs one tool call of `call_sid`, from `caller` to `called`; see
    /// [`Toolbox::run`].
    pub async fn run(
        &self,
        name: &str,
        arguments: &str,
        call_sid: String,
        caller: String,
        called: String,
    ) -> (String, ToolEffect) {
        let ctx = ToolContext {
            call_sid,
            caller,
            called,
            now: chrono::Utc::now(),
            store: self.store.clone(),
            config: self.config.clone(),
        };
        let call_sid = ctx.call_sid.clone();
        let (output, effect) = self.toolbox.run(name, arguments, ctx).await;
        // A booking made, moved or cancelled is an event for the business's
        // webhooks (queued in the outbox; the model's answer does not wait
        // for any delivery).
        if !self.config.business.webhooks.is_empty() {
            if let Ok(value) = serde_json::from_str::<Value>(&output) {
                let at = chrono::Utc::now();
                if let Some(event) =
                    crate::integrations::events::booking_event(name, &value, &call_sid, at)
                {
                    crate::integrations::events::emit_logged(&self.store, &self.config, &event)
                        .await;
                }
            }
        }
        (output, effect)
    }
}

fn parse_arguments(arguments: &str) -> Result<Value, ToolError> {
    if arguments.trim().is_empty() {
        return Ok(json!({}));
    }
    let v: Value = serde_json::from_str(arguments)
        .map_err(|e| ToolError::InvalidArguments(format!("arguments are not JSON: {e}")))?;
    if !v.is_object() {
        return Err(ToolError::InvalidArguments(
            "arguments must be a JSON object".into(),
        ));
    }
    Ok(v)
}

/// An optional string argument; a wrong type is an error, not a silent miss.
pub fn opt_str<'a>(args: &'a Value, key: &str) -> Result<Option<&'a str>, ToolError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(ToolError::InvalidArguments(format!(
            "{key} must be a string, got {other}"
        ))),
    }
}

/// A context over an in-memory SQLite store and the default configuration,
/// for tool unit tests.
#[cfg(test)]
pub async fn test_context() -> ToolContext {
    ToolContext {
        call_sid: "CA00000000000000000000000000000001".into(),
        caller: "+15550001111".into(),
        called: "+15551230000".into(),
        now: chrono::Utc::now(),
        store: crate::store::Store::connect("sqlite::memory:")
            .await
            .expect("in-memory store"),
        config: std::sync::Arc::new(Config::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ctx() -> ToolContext {
        test_context().await
    }

    struct Slow;
    impl Tool for Slow {
        fn name(&self) -> &'static str {
            "slow"
        }
        fn description(&self) -> &'static str {
            "never answers in time"
        }
        fn parameters(&self) -> Value {
            json!({"type": "object", "properties": {}})
        }
        fn deadline(&self) -> Duration {
            Duration::from_millis(20)
        }
        fn run(&self, _: Value, _: ToolContext) -> ToolFuture {
            Box::pin(async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(ToolOutput::data(json!({})))
            })
        }
    }

    #[tokio::test]
    async fn errors_become_json_for_the_model() {
        let tb = Toolbox::standard(&Config::default()).unwrap();
        let (out, _) = tb.run("no_such_tool", "{}", ctx().await).await;
        assert!(out.contains("unknown_tool"), "{out}");
        let (out, _) = tb.run("get_business_hours", "{not json", ctx().await).await;
        assert!(out.contains("invalid_arguments"), "{out}");
        let (out, _) = tb.run("get_business_hours", "[1,2]", ctx().await).await;
        assert!(out.contains("must be a JSON object"), "{out}");
    }

    #[tokio::test]
    async fn deadline_is_enforced() {
        let tb = Toolbox::new(vec![Arc::new(Slow)]);
        let (out, effect) = tb.run("slow", "", ctx().await).await;
        assert!(out.contains("timeout"), "{out}");
        assert_eq!(effect, ToolEffect::None);
    }

    #[test]
    fn without_a_calendar_the_booking_link_replaces_the_booking_tools() {
        let mut config = Config::default();
        config.business.calendar.kind = crate::config::calendar::CalendarKind::None;
        config.business.calendar.booking_url = "https://harbor.example/book".into();
        let names: Vec<String> = Toolbox::standard(&config)
            .unwrap()
            .specs()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert!(
            names.contains(&"send_booking_link".to_string()),
            "{names:?}"
        );
        assert!(
            !names
                .iter()
                .any(|n| n.contains("appointment") || n == "check_availability"),
            "{names:?}"
        );
    }

    #[test]
    fn specs_carry_schemas() {
        let tb = Toolbox::standard(&Config::default()).unwrap();
        let specs = tb.specs();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        for name in [
            "get_business_hours",
            "end_call",
            "take_message",
            "transfer_call",
            "lookup_caller",
            "answer_question",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        assert!(
            !names.contains(&"send_booking_link"),
            "no booking page configured"
        );
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            names.len(),
            "tool names must be unique: {names:?}"
        );
        for s in specs {
            assert_eq!(s.parameters["type"], "object", "{}", s.name);
            assert!(!s.description.is_empty());
        }
    }
}
