//! Responses: paced speech generation, cancellation and function calls.

use std::time::Instant;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

use super::{Active, Conn, Flow, Item, Stop, Ws};
use crate::model::audio::Voice;
use crate::model::script::{Plan, Speech};
use crate::model::wire::{self, ResponseObj, Tokens};

impl Conn {
    pub(super) async fn start(&mut self, ws: &mut Ws, plan: Plan, metadata: Value) -> Flow {
        match plan {
            Plan::Hang => Ok(()),
            Plan::Fail { code, message } => {
                self.send(
                    ws,
                    wire::error("server_error", Some(&code), &message, None, None),
                )
                .await
            }
            Plan::CallTool {
                turn,
                name,
                arguments,
            } => self.call_tool(ws, turn, &name, &arguments, metadata).await,
            Plan::Speak(speech) => self.begin_speech(ws, speech, metadata).await,
        }
    }

    fn response_obj<'a>(
        &'a self,
        id: &'a str,
        status: &'a str,
        metadata: &Value,
    ) -> ResponseObj<'a> {
        ResponseObj {
            id,
            conversation_id: &self.conversation_id,
            status,
            details: None,
            output: Vec::new(),
            usage: None,
            format: self.settings.output.to_json(),
            voice: &self.settings.voice,
            max_output_tokens: self
                .session
                .get("max_output_tokens")
                .cloned()
                .unwrap_or(json!("inf")),
            metadata: metadata.clone(),
        }
    }

    /// Plausible usage: the whole context is input, earlier context is cached.
    fn tokens(&mut self, text: &str, audio_ms: u64) -> Tokens {
        let instructions = self
            .session
            .get("instructions")
            .map_or(0, |v| v.to_string().len() as u64 / 4)
            + self
                .session
                .get("tools")
                .map_or(0, |v| v.to_string().len() as u64 / 4);
        let input_text = instructions + self.ctx_text + 1;
        let t = Tokens {
            input_text,
            input_audio: self.ctx_audio,
            cached: (self.ctx_cached / 64) * 64,
            output_text: text.len() as u64 / 4 + 1,
            output_audio: audio_ms / 50,
        };
        self.ctx_cached = (input_text + self.ctx_audio).max(self.ctx_cached);
        self.ctx_text += t.output_text;
        self.ctx_audio += t.output_audio;
        t
    }

    async fn begin_speech(&mut self, ws: &mut Ws, speech: Speech, metadata: Value) -> Flow {
        let id = self.shared.id("resp");
        let item_id = self.shared.id("item");
        let audio_ms =
            speech.text.chars().count() as u64 * u64::from(self.shared.script.audio_ms_per_char);
        let drop_after = if speech.answers.is_some() {
            self.drop_armed.take()
        } else {
            None
        };
        let remaining = 40_000u64.saturating_sub(speech.text.len() as u64 / 4 + audio_ms / 50);
        self.send(ws, wire::rate_limits(remaining)).await?;
        let created = wire::response_event(
            "response.created",
            &self.response_obj(&id, "in_progress", &metadata),
        );
        self.send(ws, created).await?;
        let item = wire::assistant_item(&item_id, "in_progress", None);
        self.send(
            ws,
            wire::output_item("response.output_item.added", &id, &item),
        )
        .await?;
        let previous = self.last_item.replace(item_id.clone());
        self.send(
            ws,
            wire::item_event("conversation.item.added", &item, previous.as_deref()),
        )
        .await?;
        self.items.insert(
            item_id.clone(),
            Item {
                json: item,
                audio_ms: Some(0),
            },
        );
        self.send(
            ws,
            wire::content_part("response.content_part.added", &id, &item_id, ""),
        )
        .await?;
        self.active = Some(Active {
            id,
            item_id,
            previous_item: previous,
            speech,
            metadata,
            audio_ms,
            sent_ms: 0,
            deltas: 0,
            spoken: 0,
            voice: Voice::default(),
            started: Instant::now(),
            started_input_ms: self.vad.pos_ms(),
            drop_after,
        });
        if self.sip_call.is_some() {
            let id = self
                .active
                .as_ref()
                .map(|a| a.id.clone())
                .unwrap_or_default();
            self.send(
                ws,
                json!({"type": "output_audio_buffer.started", "response_id": id}),
            )
            .await?;
        }
        if audio_ms == 0 {
            self.finish(ws, None).await?;
        }
        Ok(())
    }

    /// Send the next audio chunk of the active response.
    pub(super) async fn tick(&mut self, ws: &mut Ws) -> Flow {
        let chunk_ms = u64::from(self.shared.script.chunk_ms.max(1));
        let fmt = self.settings.output;
        let Some(a) = self.active.as_mut() else {
            return Ok(());
        };
        if a.drop_after.is_some_and(|n| a.deltas >= n) {
            return Err(Stop::Abort);
        }
        let ms = chunk_ms.min(a.audio_ms - a.sent_ms);
        let audio = B64.encode(a.voice.chunk(fmt, ms));
        a.sent_ms += ms;
        a.deltas += 1;
        let text = &a.speech.text;
        let mut upto = if a.sent_ms >= a.audio_ms {
            text.len()
        } else {
            (text.len() as u64 * a.sent_ms / a.audio_ms) as usize
        };
        while !text.is_char_boundary(upto) {
            upto -= 1;
        }
        let words = text.get(a.spoken..upto).unwrap_or_default().to_string();
        a.spoken = a.spoken.max(upto);
        let (id, item_id, sent_ms, done) = (
            a.id.clone(),
            a.item_id.clone(),
            a.sent_ms,
            a.sent_ms >= a.audio_ms,
        );
        if let Some(item) = self.items.get_mut(&item_id) {
            item.audio_ms = Some(sent_ms);
        }
        self.audio_emitted = true;
        // SIP: the audio goes out on the SIP leg, not the sideband socket.
        if self.sip_call.is_none() {
            let delta = wire::part_event(
                "response.output_audio.delta",
                &id,
                &item_id,
                Some(("delta", &audio)),
            );
            self.send(ws, delta).await?;
        }
        if !words.is_empty() {
            let t = wire::part_event(
                "response.output_audio_transcript.delta",
                &id,
                &item_id,
                Some(("delta", &words)),
            );
            self.send(ws, t).await?;
        }
        if done {
            self.finish(ws, None).await?;
        }
        Ok(())
    }

    /// End the active speech response: completed (`cancel_reason` None) or cancelled.
    async fn finish(&mut self, ws: &mut Ws, cancel_reason: Option<&str>) -> Flow {
        let Some(a) = self.active.take() else {
            return Ok(());
        };
        let said = match cancel_reason {
            None => a.speech.text.clone(),
            Some(_) => a
                .speech
                .text
                .get(..a.spoken)
                .unwrap_or_default()
                .to_string(),
        };
        let (item_status, status) = match cancel_reason {
            None => ("completed", "completed"),
            Some(_) => ("incomplete", "cancelled"),
        };
        self.send(
            ws,
            wire::part_event("response.output_audio.done", &a.id, &a.item_id, None),
        )
        .await?;
        let done = wire::part_event(
            "response.output_audio_transcript.done",
            &a.id,
            &a.item_id,
            Some(("transcript", &said)),
        );
        self.send(ws, done).await?;
        self.send(
            ws,
            wire::content_part("response.content_part.done", &a.id, &a.item_id, &said),
        )
        .await?;
        let item = wire::assistant_item(&a.item_id, item_status, Some(&said));
        self.send(
            ws,
            wire::output_item("response.output_item.done", &a.id, &item),
        )
        .await?;
        self.send(
            ws,
            wire::item_event("conversation.item.done", &item, a.previous_item.as_deref()),
        )
        .await?;
        if let Some(stored) = self.items.get_mut(&a.item_id) {
            stored.json = item.clone();
        }
        let usage = self.tokens(&said, a.sent_ms);
        let mut resp = self.response_obj(&a.id, status, &a.metadata);
        resp.details = cancel_reason.map(|r| ("cancelled", r));
        resp.output = vec![item];
        resp.usage = Some(usage);
        let done = wire::response_event("response.done", &resp);
        self.send(ws, done).await?;
        if self.sip_call.is_some() {
            // Generated faster than real time, played out here at once.
            let kind = match cancel_reason {
                None => "output_audio_buffer.stopped",
                Some(_) => "output_audio_buffer.cleared",
            };
            self.send(ws, json!({"type": kind, "response_id": a.id}))
                .await?;
            if cancel_reason.is_none() {
                self.sip_caller_next();
            }
        }

        self.shared
            .progress
            .lock()
            .speech_ended(&a.speech, cancel_reason.is_none());
        if !said.trim().is_empty() {
            self.shared.say("model", &said);
        }
        if cancel_reason.is_none() {
            if let Some(timeout) = self.settings.turn.and_then(|t| t.idle_timeout_ms) {
                let played_until = self.vad.pos_ms().max(a.started_input_ms + a.audio_ms);
                self.idle_at_ms = Some(played_until + timeout);
            }
        }
        Ok(())
    }

    pub(super) async fn cancel(&mut self, ws: &mut Ws, reason: &str) -> Flow {
        self.finish(ws, Some(reason)).await
    }

    async fn call_tool(
        &mut self,
        ws: &mut Ws,
        turn: u64,
        name: &str,
        arguments: &str,
        metadata: Value,
    ) -> Flow {
        let id = self.shared.id("resp");
        let item_id = self.shared.id("item");
        let call_id = self.shared.id("call");
        self.send(ws, wire::rate_limits(39_900)).await?;
        let created = wire::response_event(
            "response.created",
            &self.response_obj(&id, "in_progress", &metadata),
        );
        self.send(ws, created).await?;
        let item = wire::function_call_item(&item_id, "in_progress", name, &call_id, "");
        self.send(
            ws,
            wire::output_item("response.output_item.added", &id, &item),
        )
        .await?;
        let previous = self.last_item.replace(item_id.clone());
        self.send(
            ws,
            wire::item_event("conversation.item.added", &item, previous.as_deref()),
        )
        .await?;
        let mut split = arguments.len() / 2;
        while !arguments.is_char_boundary(split) {
            split -= 1;
        }
        for part in [&arguments[..split], &arguments[split..]] {
            if !part.is_empty() {
                self.send(ws, wire::function_args_delta(&id, &item_id, &call_id, part))
                    .await?;
            }
        }
        self.send(
            ws,
            wire::function_args_done(&id, &item_id, &call_id, name, arguments),
        )
        .await?;
        let item = wire::function_call_item(&item_id, "completed", name, &call_id, arguments);
        self.send(
            ws,
            wire::output_item("response.output_item.done", &id, &item),
        )
        .await?;
        self.send(
            ws,
            wire::item_event("conversation.item.done", &item, previous.as_deref()),
        )
        .await?;
        self.items.insert(
            item_id,
            Item {
                json: item.clone(),
                audio_ms: None,
            },
        );
        let usage = self.tokens(arguments, 0);
        let mut resp = self.response_obj(&id, "completed", &metadata);
        resp.output = vec![item];
        resp.usage = Some(usage);
        let done = wire::response_event("response.done", &resp);
        self.send(ws, done).await?;
        self.shared.progress.lock().tool_called(turn);
        Ok(())
    }
}
