//! Conversation items created and truncated by the client.

use serde_json::{json, Value};

use super::{Conn, Flow, Item, Ws};
use crate::model::session::Rejection;
use crate::model::wire;

impl Conn {
    pub(super) async fn on_item_create(
        &mut self,
        ws: &mut Ws,
        v: &Value,
        eid: Option<&str>,
    ) -> Flow {
        let Some(item) = v.get("item").filter(|i| i.is_object()) else {
            let r = Rejection::new(
                "missing_required_parameter",
                "Missing required parameter: 'item'.",
                Some("item"),
            );
            return self.reject(ws, r, eid).await;
        };
        self.shared
            .with_conn(self.index, |c| c.items_created.push(item.clone()));
        if let Err(r) = check_item(item) {
            return self.reject(ws, r, eid).await;
        }
        let id = item
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| self.shared.id("item"));
        let mut echo = item.clone();
        if let Some(obj) = echo.as_object_mut() {
            obj.insert("id".into(), json!(id));
            obj.insert("object".into(), json!("realtime.item"));
            obj.insert("status".into(), json!("completed"));
        }
        let previous = self.last_item.clone();
        self.send(
            ws,
            wire::item_event("conversation.item.added", &echo, previous.as_deref()),
        )
        .await?;
        self.send(
            ws,
            wire::item_event("conversation.item.done", &echo, previous.as_deref()),
        )
        .await?;
        self.ctx_text += echo.to_string().len() as u64 / 4;
        if item.get("type").and_then(Value::as_str) == Some("function_call_output") {
            self.tool_output = item
                .get("output")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        self.last_item = Some(id.clone());
        self.items.insert(
            id,
            Item {
                json: echo,
                audio_ms: None,
            },
        );
        Ok(())
    }

    pub(super) async fn on_truncate(&mut self, ws: &mut Ws, v: &Value, eid: Option<&str>) -> Flow {
        self.shared
            .with_conn(self.index, |c| c.truncates.push(v.clone()));
        let item_id = v
            .get("item_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let (Some(content_index), Some(end_ms)) = (
            v.get("content_index").and_then(Value::as_u64),
            v.get("audio_end_ms").and_then(Value::as_u64),
        ) else {
            let r = Rejection::new(
                "missing_required_parameter",
                "Missing required parameter: 'content_index' and 'audio_end_ms' must be non-negative integers.",
                Some("audio_end_ms"),
            );
            return self.reject(ws, r, eid).await;
        };
        let generated = match self.items.get(&item_id) {
            None => {
                let r = Rejection::new(
                    "item_truncate_invalid_item_id",
                    format!("Item with item_id not found: {item_id}"),
                    Some("item_id"),
                );
                return self.reject(ws, r, eid).await;
            }
            Some(Item { audio_ms: None, .. }) => {
                let r = Rejection::new(
                    "invalid_value",
                    "Only assistant messages with audio can be truncated.",
                    Some("item_id"),
                );
                return self.reject(ws, r, eid).await;
            }
            Some(Item {
                audio_ms: Some(ms), ..
            }) => *ms,
        };
        if content_index != 0 {
            let r = Rejection::new(
                "invalid_value",
                format!("Invalid content_index {content_index}: the item has one audio part."),
                Some("content_index"),
            );
            return self.reject(ws, r, eid).await;
        }
        if end_ms > generated {
            let r = Rejection::new(
                "invalid_value",
                format!("Audio content of {generated}ms is already shorter than {end_ms}ms"),
                Some("audio_end_ms"),
            );
            return self.reject(ws, r, eid).await;
        }
        if let Some(item) = self.items.get_mut(&item_id) {
            item.audio_ms = Some(end_ms);
        }
        self.send(ws, wire::truncated(&item_id, content_index, end_ms))
            .await
    }
}

/// The item shapes a client may create (per the SDK's item types).
fn check_item(item: &Value) -> Result<(), Rejection> {
    let str_field = |k: &str| item.get(k).and_then(Value::as_str);
    let missing = |k: &str| {
        let path = format!("item.{k}");
        Rejection::new(
            "missing_required_parameter",
            format!("Missing required parameter: '{path}'."),
            Some(&path),
        )
    };
    match str_field("type") {
        Some("function_call_output") => {
            str_field("call_id").ok_or_else(|| missing("call_id"))?;
            str_field("output").ok_or_else(|| missing("output"))?;
        }
        Some("function_call") => {
            str_field("name").ok_or_else(|| missing("name"))?;
            str_field("arguments").ok_or_else(|| missing("arguments"))?;
        }
        Some("message") => {
            let allowed: &[&str] = match str_field("role") {
                Some("user") => &["input_text", "input_audio", "input_image"],
                Some("system") => &["input_text"],
                Some("assistant") => &["output_text"],
                _ => {
                    return Err(Rejection::new(
                        "invalid_value",
                        "item.role must be user, assistant or system.",
                        Some("item.role"),
                    ))
                }
            };
            let content = item
                .get("content")
                .and_then(Value::as_array)
                .ok_or_else(|| missing("content"))?;
            for part in content {
                let t = part.get("type").and_then(Value::as_str).unwrap_or_default();
                if !allowed.contains(&t) {
                    return Err(Rejection::new(
                        "invalid_value",
                        format!(
                            "Invalid content type '{t}' for a {} message.",
                            str_field("role").unwrap_or_default()
                        ),
                        Some("item.content"),
                    ));
                }
            }
        }
        _ => {
            return Err(Rejection::new(
                "invalid_value",
                "item.type must be message, function_call or function_call_output.",
                Some("item.type"),
            ))
        }
    }
    Ok(())
}
