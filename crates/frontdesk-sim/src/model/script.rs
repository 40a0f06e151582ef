//! Script progress, shared by all connections of one simulator, and the
//! decision of what the model says next.

use super::{ModelScript, ScriptTurn};

/// What a response (or the lack of one) will be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plan {
    Speak(Speech),
    CallTool {
        turn: u64,
        name: String,
        arguments: String,
    },
    /// Send an `error` event instead of responding.
    Fail {
        code: String,
        message: String,
    },
    /// The model hangs on this turn: no response at all.
    Hang,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Speech {
    pub text: String,
    /// Serial of the caller turn this answers, if any.
    pub answers: Option<u64>,
    pub greeting: bool,
}

/// Said when the caller talks past the end of the script.
pub(crate) const UNSCRIPTED_REPLY: &str = "I'm sorry, could you say that again?";
/// Said after `idle_timeout_ms` of caller silence.
pub(crate) const IDLE_REPLY: &str = "Are you still there?";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Pending,
    ToolCalled,
    Answered,
}

#[derive(Debug, Clone, Copy)]
struct Current {
    /// Increases with every committed caller turn, across connections.
    serial: u64,
    /// Index into `ModelScript::turns`; `None` once the script is exhausted.
    index: Option<usize>,
    stage: Stage,
}

#[derive(Debug, Default)]
pub(crate) struct ScriptState {
    next_turn: usize,
    serials: u64,
    current: Option<Current>,
    greeted: bool,
}

impl ScriptState {
    /// Whether a scripted caller turn is still to come (the SIP caller,
    /// simulated on OpenAI's side, speaks only scripted turns).
    pub(crate) fn has_turn(&self, script: &ModelScript) -> bool {
        self.next_turn < script.turns.len()
    }

    /// A caller turn was committed: consume the next scripted turn.
    /// Returns its serial and what the caller said (`None` when unscripted).
    pub(crate) fn commit_turn(&mut self, script: &ModelScript) -> (u64, Option<String>) {
        self.serials += 1;
        let index = (self.next_turn < script.turns.len()).then_some(self.next_turn);
        self.next_turn += 1;
        self.current = Some(Current {
            serial: self.serials,
            index,
            stage: Stage::Pending,
        });
        (
            self.serials,
            index
                .and_then(|i| script.turns.get(i))
                .map(|t| caller_of(t).to_string()),
        )
    }

    /// The response to the turn just committed.
    pub(crate) fn plan_for_turn(&mut self, script: &ModelScript) -> Plan {
        let Some(cur) = self.current.as_mut() else {
            return speak(script.resume_reply.clone(), None, false);
        };
        let Some(turn) = cur.index.and_then(|i| script.turns.get(i)) else {
            return speak(UNSCRIPTED_REPLY.to_string(), Some(cur.serial), false);
        };
        match turn {
            ScriptTurn::Reply { reply, .. } => speak(reply.clone(), Some(cur.serial), false),
            ScriptTurn::Tool {
                name, arguments, ..
            } => Plan::CallTool {
                turn: cur.serial,
                name: name.clone(),
                arguments: arguments.to_string(),
            },
            ScriptTurn::Error { code, message, .. } => {
                // An error is this turn's final outcome: a resumed session moves on.
                cur.stage = Stage::Answered;
                Plan::Fail {
                    code: code.clone(),
                    message: message.clone(),
                }
            }
            ScriptTurn::Silent { .. } => {
                // The hang belongs to this session: a resumed one moves on.
                cur.stage = Stage::Answered;
                Plan::Hang
            }
        }
    }

    /// The response to a client `response.create`.
    ///
    /// `tool_output`: a `function_call_output` the client sent since the last
    /// response; `pending_user_turn`: a caller turn committed on this
    /// connection that has not been responded to.
    pub(crate) fn plan_for_create(
        &mut self,
        script: &ModelScript,
        tool_output: Option<&str>,
        pending_user_turn: bool,
    ) -> Plan {
        if let (Some(output), Some(cur)) = (tool_output, self.current) {
            if cur.stage == Stage::ToolCalled {
                if let Some(ScriptTurn::Tool { reply_template, .. }) =
                    cur.index.and_then(|i| script.turns.get(i))
                {
                    return speak(
                        reply_template.replace("{output}", output),
                        Some(cur.serial),
                        false,
                    );
                }
            }
        }
        if pending_user_turn {
            return self.plan_for_turn(script);
        }
        if !self.greeted && self.next_turn == 0 {
            return speak(script.greeting.clone(), None, true);
        }
        match self.current {
            Some(cur) if cur.stage != Stage::Answered => self.plan_for_turn(script),
            _ => speak(script.resume_reply.clone(), None, false),
        }
    }

    /// A speech response ended; `completed` is false when it was cancelled.
    pub(crate) fn speech_ended(&mut self, speech: &Speech, completed: bool) {
        if speech.greeting {
            // An interrupted greeting still counts: the caller took the floor.
            self.greeted = true;
        }
        if completed {
            self.mark(speech.answers, Stage::Answered);
        }
    }

    /// The function call of turn `serial` was delivered.
    pub(crate) fn tool_called(&mut self, serial: u64) {
        self.mark(Some(serial), Stage::ToolCalled);
    }

    fn mark(&mut self, serial: Option<u64>, stage: Stage) {
        if let (Some(serial), Some(cur)) = (serial, self.current.as_mut()) {
            if cur.serial == serial {
                cur.stage = stage;
            }
        }
    }
}

fn speak(text: String, answers: Option<u64>, greeting: bool) -> Plan {
    Plan::Speak(Speech {
        text,
        answers,
        greeting,
    })
}

fn caller_of(turn: &ScriptTurn) -> &str {
    match turn {
        ScriptTurn::Reply { caller, .. }
        | ScriptTurn::Tool { caller, .. }
        | ScriptTurn::Error { caller, .. }
        | ScriptTurn::Silent { caller } => caller,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn script() -> ModelScript {
        ModelScript {
            greeting: "Hello".into(),
            resume_reply: "Where were we?".into(),
            turns: vec![
                ScriptTurn::Reply {
                    caller: "hours?".into(),
                    reply: "Nine to five.".into(),
                },
                ScriptTurn::Tool {
                    caller: "book".into(),
                    name: "book".into(),
                    arguments: json!({"at": "10:00"}),
                    reply_template: "Booked: {output}".into(),
                },
                ScriptTurn::Error {
                    caller: "boom".into(),
                    code: "server_error".into(),
                    message: "x".into(),
                },
                ScriptTurn::Silent {
                    caller: "...".into(),
                },
            ],
            ..ModelScript::default()
        }
    }

    fn text(p: Plan) -> String {
        match p {
            Plan::Speak(s) => s.text,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn greeting_then_turns_then_resume() {
        let s = script();
        let mut st = ScriptState::default();
        let greet = st.plan_for_create(&s, None, false);
        let Plan::Speak(g) = greet.clone() else {
            panic!()
        };
        assert!(g.greeting);
        st.speech_ended(&g, true);
        // Greeting given: a second create is a resume.
        assert_eq!(text(st.plan_for_create(&s, None, false)), "Where were we?");

        assert_eq!(st.commit_turn(&s), (1, Some("hours?".into())));
        let Plan::Speak(r) = st.plan_for_turn(&s) else {
            panic!()
        };
        assert_eq!((r.text.as_str(), r.answers), ("Nine to five.", Some(1)));
        // Not finished (e.g. the connection dropped): a resume answers it again.
        assert_eq!(text(st.plan_for_create(&s, None, false)), "Nine to five.");
        st.speech_ended(&r, true);
        assert_eq!(text(st.plan_for_create(&s, None, false)), "Where were we?");

        assert_eq!(st.commit_turn(&s), (2, Some("book".into())));
        let tool = st.plan_for_turn(&s);
        assert_eq!(
            tool,
            Plan::CallTool {
                turn: 2,
                name: "book".into(),
                arguments: "{\"at\":\"10:00\"}".into()
            }
        );
        // Output before the call was delivered is not an answer to it.
        assert!(matches!(
            st.plan_for_create(&s, Some("ok"), false),
            Plan::CallTool { .. }
        ));
        st.tool_called(2);
        let Plan::Speak(b) = st.plan_for_create(&s, Some("ok"), false) else {
            panic!()
        };
        assert_eq!(b.text, "Booked: ok");
        // Resumed without the output: the call is made again.
        assert!(matches!(
            st.plan_for_create(&s, None, false),
            Plan::CallTool { .. }
        ));
        st.speech_ended(&b, true);

        st.commit_turn(&s);
        assert_eq!(
            st.plan_for_turn(&s),
            Plan::Fail {
                code: "server_error".into(),
                message: "x".into()
            }
        );
        assert_eq!(text(st.plan_for_create(&s, None, false)), "Where were we?");

        st.commit_turn(&s);
        assert_eq!(st.plan_for_turn(&s), Plan::Hang);
        // The hung session is replaced; the new one moves on.
        assert_eq!(text(st.plan_for_create(&s, None, false)), "Where were we?");

        assert_eq!(st.commit_turn(&s), (5, None));
        assert_eq!(text(st.plan_for_turn(&s)), UNSCRIPTED_REPLY);
    }

    #[test]
    fn caller_first_skips_greeting_and_cancelled_greeting_counts() {
        let s = script();
        let mut st = ScriptState::default();
        st.commit_turn(&s);
        assert_eq!(text(st.plan_for_create(&s, None, true)), "Nine to five.");

        let mut st = ScriptState::default();
        let Plan::Speak(g) = st.plan_for_create(&s, None, false) else {
            panic!()
        };
        st.speech_ended(&g, false);
        assert_eq!(text(st.plan_for_create(&s, None, false)), "Where were we?");
    }

    #[test]
    fn stale_completion_does_not_mark_a_newer_turn() {
        let s = script();
        let mut st = ScriptState::default();
        st.commit_turn(&s);
        let Plan::Speak(first) = st.plan_for_turn(&s) else {
            panic!()
        };
        st.commit_turn(&s);
        st.speech_ended(&first, true);
        assert!(matches!(
            st.plan_for_create(&s, None, false),
            Plan::CallTool { .. }
        ));
    }
}
