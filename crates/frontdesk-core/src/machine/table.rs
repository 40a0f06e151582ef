//! The transition table, as data. `docs/call-state-machine.md` shows it row
//! for row (a unit test compares them), and a unit test drives the machine
//! through every row and checks that the step reaches `to` for `cause`.
//! A row written here that the machine does not do fails; a transition
//! the doc shows that is not here fails.

use super::StateName::{self, *};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub from: StateName,
    /// `Event::name()` of the event.
    pub event: &'static str,
    /// The condition that picks this row among rows of the same event.
    pub when: &'static str,
    pub to: StateName,
    /// `Cause::kind()` of the recorded transition; `None` when the state stays.
    pub cause: Option<&'static str>,
    /// The main commands, for the reader.
    pub commands: &'static str,
}

const fn row(
    from: StateName,
    event: &'static str,
    when: &'static str,
    to: StateName,
    cause: Option<&'static str>,
    commands: &'static str,
) -> Row {
    Row {
        from,
        event,
        when,
        to,
        cause,
        commands,
    }
}

#[rustfmt::skip]
pub const TRANSITIONS: &[Row] = &[
    row(Connecting, "model ready", "the stream has not started", Connecting, None, "`Greet` (its audio is held until the stream starts)"),
    row(Connecting, "model ready", "the stream is up", Greeting, Some("model_ready"), "`Greet`"),
    row(Connecting, "stream start", "the model is ready", Greeting, Some("stream_started"), "the held greeting audio is sent"),
    row(Connecting, "stream start", "the model is not ready", Connecting, None, "arm the model-ready deadline"),
    row(Connecting, "timer", "model-ready deadline, model not ready", Menu, Some("model_not_ready_in_time"), "`LeaveStream(Menu)`"),
    row(Connecting, "timer", "stream-start deadline, no stream (pre-warmed call)", Ended, Some("stream_never_started"), "`StopModel`"),
    row(Connecting, "stream stop", "", Ended, Some("caller_hung_up"), "`StopModel`"),
    row(Greeting, "speech started", "barge-in", Conversing, Some("caller_spoke_over_greeting"), "`clear`, `truncate`"),
    row(Greeting, "caller turn committed", "", Conversing, Some("caller_spoke"), "arm the response deadline"),
    row(Greeting, "mark", "the greeting has played out", Conversing, Some("greeting_played"), "—"),
    row(Conversing, "function call", "", ToolWait, Some("function_call"), "`RunTool`, arm the tool deadline"),
    row(ToolWait, "tool finished", "the last running tool", Conversing, Some("tool_finished"), "`function_call_output`, then `response.create` once no response is active"),
    row(ToolWait, "timer", "tool deadline of the last running tool", Conversing, Some("tool_deadline"), "an error result for the model"),
    row(Conversing, "dtmf", "`0`, operator open", Transferring, Some("operator_key"), "`LeaveStream(Transfer(operator))`"),
    row(Conversing, "dtmf", "`0`, operator closed", Voicemail, Some("operator_key_closed"), "`LeaveStream(Voicemail{operator})` (a closed department is not dialled)"),
    row(Conversing, "dtmf", "another digit", Conversing, None, "the model is told, and asked to answer"),
    row(Conversing, "stream stop", "", Ended, Some("caller_hung_up"), "`StopModel`"),
    row(Conversing, "timer", "max call duration", Ended, Some("max_call_duration"), "`LeaveStream(Hangup: time limit)`"),
    row(Conversing, "hangup request", "", Ended, Some("hangup_requested"), "`LeaveStream(Hangup)`"),
    row(Conversing, "shutdown", "the instance's drain ran out of time", Ended, Some("shutdown"), "`LeaveStream(Hangup)`"),
    row(Conversing, "timer", "silence, the first time", Conversing, None, "`response.create` asking if the caller is still there"),
    row(Conversing, "timer", "silence, the second time", Ended, Some("caller_silent"), "`LeaveStream(Hangup: no response)`"),
    row(Conversing, "model failed", "within the restart budget", Conversing, None, "`StopModel`, arm the restart (backoff) and the hold-message timer"),
    row(Conversing, "model failed", "the restart budget is spent", Menu, Some("model_unavailable"), "`LeaveStream(Menu)`"),
    row(Conversing, "timer", "restart backoff over", Conversing, None, "`StartModel{resume: transcript}`"),
    row(Conversing, "mark", "end_call answered and the goodbye has played", Ended, Some("assistant_ended"), "`LeaveStream(Hangup)`"),
    row(Conversing, "stream lost", "", Conversing, None, "arm the stream-lost timer"),
    row(Conversing, "after-stream request", "the stream dropped", Conversing, None, "`Reply(Reconnect)`"),
    row(Conversing, "timer", "stream-lost deadline, no new stream", Ended, Some("stream_lost"), "`StopModel`"),
    row(Conversing, "call ended", "Twilio's status callback (the stream was lost, no `stop`)", Ended, Some("call_ended"), "`StopModel`; outcome `caller_hung_up`"),
    row(Transferring, "after-stream request", "", Transferring, None, "`Reply(Transfer)`: `<Dial action=…>`"),
    row(Transferring, "dial finished", "`completed`/`answered`", Ended, Some("dial_finished"), "`Reply(Hangup)`"),
    row(Transferring, "dial finished", "unanswered, department `on_no_answer = \"voicemail\"`", Voicemail, Some("dial_finished"), "record `TransferFailed{status}`; `Reply(Voicemail{department})`"),
    row(Transferring, "dial finished", "unanswered, department `on_no_answer = \"assistant\"`", Conversing, Some("dial_back_to_assistant"), "record `TransferFailed{status}`; `Reply(Reconnect)`, `StartModel{resume}`; the resumed model is told and speaks first"),
    row(Transferring, "call ended", "no dial outcome yet: the caller left while it rang", Ended, Some("call_ended"), "outcome `caller_hung_up`"),
    row(Transferring, "timer", "parked deadline: ring time over, no dial outcome", Ended, Some("transfer_presumed_answered"), "outcome `transferred`"),
    row(Voicemail, "after-stream request", "", Voicemail, None, "`Reply(Voicemail)`: `<Record>`"),
    row(Voicemail, "recording finished", "", Ended, Some("recording_finished"), "`Reply(Hangup: message taken)`"),
    row(Voicemail, "call ended", "", Ended, Some("call_ended"), "outcome `caller_hung_up` (a message left is stored by its own callback)"),
    row(Voicemail, "timer", "parked deadline: the recording never reported", Ended, Some("parked_too_long"), "outcome `gone`"),
    row(Menu, "after-stream request", "", Menu, None, "`Reply(Menu)`: `<Gather>`"),
    row(Menu, "menu input", "`1` / \"hours\"", Menu, None, "`Reply(Menu: hours)`"),
    row(Menu, "menu input", "`2` / \"message\"", Voicemail, Some("menu_message"), "`Reply(Voicemail)`"),
    row(Menu, "menu input", "`0` / \"operator\", operator open", Transferring, Some("menu_operator"), "`Reply(Transfer(operator))`"),
    row(Menu, "menu input", "`0` / \"operator\", operator closed", Voicemail, Some("menu_operator_closed"), "`Reply(Voicemail{operator})`"),
    row(Menu, "menu input", "unusable, before the 3rd time", Menu, None, "`Reply(Menu: retry)`"),
    row(Menu, "menu input", "unusable, the 3rd time", Voicemail, Some("menu_gave_up"), "`Reply(Voicemail)`"),
    row(Menu, "stream start", "the menu was decided before the stream existed", Menu, None, "`LeaveStream(Menu)`"),
    row(Menu, "timer", "max call duration", Ended, Some("max_call_duration"), "—"),
    row(Menu, "call ended", "", Ended, Some("call_ended"), "outcome `caller_hung_up`"),
    row(Menu, "timer", "parked deadline: no menu request for a minute", Ended, Some("parked_too_long"), "outcome `gone`"),
    row(Connecting, "model ready", "on SIP: the call was answered at accept", Greeting, Some("model_ready"), "`Greet`"),
    row(Greeting, "output audio", "on SIP: the greeting has played out", Conversing, Some("greeting_played"), "—"),
    row(Conversing, "output audio", "on SIP: transfer_call answered and its announcement has played", Transferring, Some("assistant_transfer"), "`StopModel`, `Sip(Refer)` to the department's `tel:`/`sip:` URI"),
    row(Conversing, "output audio", "on SIP: end_call answered and the goodbye has played", Ended, Some("assistant_ended"), "`StopModel`, `Sip(Hangup)`"),
    row(Conversing, "timer", "max call duration, on SIP", Ended, Some("max_call_duration"), "`StopModel`, `Sip(Hangup)`"),
    row(Conversing, "model failed", "the restart budget is spent, on SIP", Transferring, Some("model_unavailable"), "`Sip(Refer)` to the fallback number, else the operator"),
    row(Conversing, "call ended", "on SIP: the sideband socket closed normally (the call is over)", Ended, Some("call_ended"), "`StopModel`; outcome `caller_hung_up`"),
    row(Transferring, "dial finished", "on SIP: OpenAI took the refer (`completed`)", Ended, Some("dial_finished"), "outcome `transferred`"),
    row(Transferring, "dial finished", "on SIP: the refer failed", Conversing, Some("dial_back_to_assistant"), "record `TransferFailed{status}`; `StartModel{resume}` on the same call id; the model is told and offers a message"),
    row(Transferring, "dial finished", "on SIP: the fallback refer failed", Ended, Some("dial_finished"), "record `TransferFailed{status}`; `Sip(Hangup)`; outcome `lost`"),
    row(Ended, "after-stream request", "", Ended, None, "`Reply(the decision the stream was left with)`"),
    row(Ended, "stream stop", "", Ended, None, "—"),
    row(Ended, "call ended", "", Ended, None, "—"),
];

impl Row {
    /// The row as the doc's Markdown table shows it.
    pub fn markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {} | {} |",
            self.from.as_str(),
            self.event,
            if self.when.is_empty() {
                "—"
            } else {
                self.when
            },
            self.to.as_str(),
            self.cause.unwrap_or("—"),
            self.commands
        )
    }
}
