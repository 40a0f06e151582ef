//! `end_call`: the model decides the conversation is over. The call hangs up
//! once the model's goodbye has played, never in the middle of it.

use serde_json::{json, Value};

use super::{opt_str, Tool, ToolContext, ToolFuture, ToolOutput};
use frontdesk_core::ToolEffect;

pub struct EndCall;

impl Tool for EndCall {
    fn name(&self) -> &'static str {
        "end_call"
    }

    fn description(&self) -> &'static str {
        "End the phone call. Use only when the caller has said goodbye or clearly has nothing else; \
         after calling it, say a short goodbye — the line closes when you finish speaking."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "reason": {"type": "string", "description": "Why the call is ending, in a few words."}
            },
            "additionalProperties": false
        })
    }

    fn run(&self, args: Value, _ctx: ToolContext) -> ToolFuture {
        let reason =
            opt_str(&args, "reason").map(|r| r.unwrap_or("conversation finished").to_string());
        Box::pin(async move {
            let reason = reason?;
            Ok(ToolOutput {
                output: json!({
                    "ok": true,
                    "reason": reason,
                    "next": "Say a brief, warm goodbye now. The call ends when you finish."
                }),
                effect: ToolEffect::EndCall,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn asks_for_the_hang_up() {
        let ctx = crate::tools::test_context().await;
        let out = EndCall
            .run(json!({"reason": "done"}), ctx.clone())
            .await
            .unwrap();
        assert_eq!(out.effect, ToolEffect::EndCall);
        assert_eq!(out.output["reason"], "done");
        assert!(EndCall.run(json!({"reason": 5}), ctx).await.is_err());
    }
}
