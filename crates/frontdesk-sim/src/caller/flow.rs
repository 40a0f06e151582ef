//! The TwiML interpreter: runs verbs in order, requests callbacks the way
//! Twilio does, and continues with the TwiML each callback returns.

use super::stream::{self, StreamEnd};
use super::twiml::{self, CallbackMethod, Verb};
use super::webhook::{new_sid, resolve};
use super::{CallContext, Followup, MenuInput};

/// Twilio gives up on documents that keep redirecting; so does the caller.
pub const MAX_HOPS: usize = 10;

/// A callback request to make.
struct Request {
    url: String,
    method: CallbackMethod,
    params: Vec<(String, String)>,
}

/// What a document asked for once its verbs ran out or one of them moved on.
enum Next {
    /// Fetch new TwiML here and run it.
    Fetch(Request),
    /// The call is over.
    End,
}

/// Runs `verbs` (fetched from `doc_url`) and every document they lead to.
pub(super) async fn run(ctx: &mut CallContext, mut doc_url: String, mut verbs: Vec<Verb>) {
    let mut hops = 0usize;
    loop {
        let request = match run_document(ctx, &doc_url, verbs).await {
            Next::End => return,
            Next::Fetch(request) => request,
        };
        hops += 1;
        if hops > MAX_HOPS {
            ctx.problem(format!("more than {MAX_HOPS} TwiML requests; hanging up"));
            return;
        }
        let Some(body) = send(ctx, &request).await else {
            ctx.log("call ends: Twilio would play an application error");
            return;
        };
        match twiml::parse(&body) {
            Ok(parsed) => {
                verbs = parsed;
                doc_url = request.url;
            }
            Err(e) => {
                ctx.problem(format!("invalid TwiML from {}: {e}", request.url));
                return;
            }
        }
    }
}

async fn run_document(ctx: &mut CallContext, doc_url: &str, verbs: Vec<Verb>) -> Next {
    for verb in verbs {
        match verb {
            Verb::Say(text) => ctx.log(format!("<Say> {text}")),
            Verb::Play(url) => ctx.log(format!("<Play> {url}")),
            Verb::Pause { length_secs } => ctx.log(format!("<Pause> {length_secs}s")),
            Verb::Gather {
                action,
                method,
                input,
                action_on_empty_result,
                prompts,
            } => {
                for prompt in &prompts {
                    log_prompt(ctx, prompt);
                }
                let mut params = ctx.core_params("in-progress");
                match ctx.menu_input.pop_front() {
                    Some(MenuInput::Digits(digits)) => {
                        ctx.log(format!("<Gather input={input}> caller presses {digits}"));
                        params.push(("Digits".into(), digits));
                    }
                    Some(MenuInput::HangUp) => {
                        ctx.log(format!("<Gather input={input}> caller hangs up"));
                        return Next::End;
                    }
                    Some(MenuInput::Speech(speech)) => {
                        ctx.log(format!("<Gather input={input}> caller says {speech:?}"));
                        params.push(("SpeechResult".into(), speech));
                        params.push(("Confidence".into(), "0.92".into()));
                    }
                    None if action_on_empty_result => {
                        ctx.log(format!(
                            "<Gather input={input}> no input (actionOnEmptyResult)"
                        ));
                    }
                    None => {
                        ctx.log(format!("<Gather input={input}> no input; falling through"));
                        continue;
                    }
                }
                return fetch(ctx, doc_url, action.as_deref(), method, params);
            }
            Verb::Record {
                action,
                method,
                status_callback,
                status_callback_method,
            } => {
                let Some(recording) = ctx.recording.clone() else {
                    ctx.log("<Record> caller hangs up without leaving a message");
                    continue;
                };
                ctx.log(format!(
                    "<Record> caller leaves a {}s message, then hangs up",
                    recording.duration_secs
                ));
                let mut params = ctx.core_params("completed");
                params.extend([
                    ("RecordingUrl".into(), recording.recording_url.clone()),
                    ("RecordingSid".into(), recording.recording_sid.clone()),
                    (
                        "RecordingDuration".into(),
                        recording.duration_secs.to_string(),
                    ),
                    ("Digits".into(), "hangup".into()),
                ]);
                // The caller is gone: the action is still requested, but
                // whatever TwiML it returns is never executed.
                if let Next::Fetch(request) = fetch(ctx, doc_url, action.as_deref(), method, params)
                {
                    send(ctx, &request).await;
                }
                if let Some(callback) = status_callback {
                    let params = recording_status_params(ctx, &recording);
                    if let Some(request) =
                        callback_request(ctx, doc_url, &callback, status_callback_method, params)
                    {
                        send(ctx, &request).await;
                    }
                }
                return Next::End;
            }
            Verb::Dial {
                action,
                method,
                target,
            } => {
                let status = ctx.dial_status.clone();
                ctx.log(format!("<Dial> {target} -> {status}"));
                let Some(action) = action else { continue };
                let duration = if matches!(status.as_str(), "completed" | "answered") {
                    ctx.dial_duration_secs
                } else {
                    0
                };
                let mut params = ctx.core_params("in-progress");
                params.extend([
                    ("DialCallStatus".into(), status.clone()),
                    ("DialCallSid".into(), new_sid("CA")),
                    ("DialCallDuration".into(), duration.to_string()),
                    ("DialBridged".into(), (duration > 0).to_string()),
                ]);
                return fetch(ctx, doc_url, Some(&action), method, params);
            }
            Verb::Redirect { url, method } => {
                let params = ctx.core_params("in-progress");
                return fetch(ctx, doc_url, Some(&url), method, params);
            }
            Verb::Connect {
                action,
                method,
                stream,
            } => {
                match stream {
                    Some(spec) => match stream::run(ctx, spec).await {
                        StreamEnd::EngineClosed => {}
                        StreamEnd::CallerHungUp | StreamEnd::Failed => return Next::End,
                    },
                    None => ctx.log("<Connect> without <Stream>; nothing to connect"),
                }
                if let Some(action) = action {
                    let params = ctx.core_params("in-progress");
                    return fetch(ctx, doc_url, Some(&action), method, params);
                }
            }
            Verb::StartStream(spec) => {
                ctx.log(format!(
                    "<Start><Stream> {} ignored (receive-only fork)",
                    spec.url
                ));
            }
            Verb::Hangup => {
                ctx.log("<Hangup/>: call ends");
                return Next::End;
            }
            Verb::Reject { reason } => {
                ctx.log(format!(
                    "<Reject> {}: call ends",
                    reason.as_deref().unwrap_or("rejected")
                ));
                return Next::End;
            }
            Verb::Other(name) => ctx.log(format!("<{name}> not simulated; skipped")),
        }
    }
    ctx.log("end of TwiML: call ends");
    Next::End
}

fn log_prompt(ctx: &mut CallContext, prompt: &Verb) {
    match prompt {
        Verb::Say(text) => ctx.log(format!("<Gather> prompt <Say> {text}")),
        Verb::Play(url) => ctx.log(format!("<Gather> prompt <Play> {url}")),
        Verb::Pause { length_secs } => ctx.log(format!("<Gather> prompt <Pause> {length_secs}s")),
        other => ctx.problem(format!(
            "<Gather> may only nest Say/Play/Pause, found {other:?}"
        )),
    }
}

/// The call is over: the number's status callback hears `completed`, with
/// the fields Twilio adds to a terminal event.
pub(super) async fn status_callback(ctx: &mut CallContext, doc_url: &str, callback: &str) {
    let mut params = ctx.core_params("completed");
    params.extend([
        ("CallDuration".into(), ctx.clock().as_secs().to_string()),
        (
            "Duration".into(),
            (ctx.clock().as_secs() / 60 + 1).to_string(),
        ),
        ("Timestamp".into(), chrono::Utc::now().to_rfc2822()),
        ("CallbackSource".into(), "call-progress-events".into()),
        ("SequenceNumber".into(), "0".into()),
    ]);
    if let Some(request) = callback_request(ctx, doc_url, callback, CallbackMethod::Post, params) {
        send(ctx, &request).await;
    }
}

/// A verb callback; without `action` Twilio requests the current document URL.
fn fetch(
    ctx: &mut CallContext,
    doc_url: &str,
    action: Option<&str>,
    method: CallbackMethod,
    params: Vec<(String, String)>,
) -> Next {
    match callback_request(ctx, doc_url, action.unwrap_or(doc_url), method, params) {
        Some(request) => Next::Fetch(request),
        None => Next::End,
    }
}

fn callback_request(
    ctx: &mut CallContext,
    doc_url: &str,
    target: &str,
    method: CallbackMethod,
    params: Vec<(String, String)>,
) -> Option<Request> {
    match resolve(doc_url, target) {
        Ok(url) => Some(Request {
            url,
            method,
            params,
        }),
        Err(e) => {
            ctx.problem(e.to_string());
            None
        }
    }
}

fn recording_status_params(
    ctx: &CallContext,
    recording: &super::RecordingOutcome,
) -> Vec<(String, String)> {
    let started =
        chrono::Utc::now() - chrono::Duration::seconds(i64::from(recording.duration_secs));
    [
        ("AccountSid", ctx.account_sid.clone()),
        ("CallSid", ctx.call_sid.clone()),
        ("RecordingSid", recording.recording_sid.clone()),
        ("RecordingUrl", recording.recording_url.clone()),
        ("RecordingStatus", "completed".to_owned()),
        ("RecordingDuration", recording.duration_secs.to_string()),
        ("RecordingChannels", "1".to_owned()),
        ("RecordingStartTime", started.to_rfc2822()),
        ("RecordingSource", "RecordVerb".to_owned()),
        ("RecordingTrack", "inbound".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Makes the request, records it, and returns the body when it succeeded.
async fn send(ctx: &mut CallContext, request: &Request) -> Option<String> {
    let verb = match request.method {
        CallbackMethod::Get => "GET",
        CallbackMethod::Post => "POST",
    };
    match ctx
        .client
        .request(request.method, &request.url, &request.params)
        .await
    {
        Ok(reply) => {
            ctx.log(format!(
                "{verb} {} -> {} {}",
                short_url(&request.url),
                reply.status,
                summary(&reply.body)
            ));
            ctx.report.followups.push(Followup {
                url: request.url.clone(),
                params: request.params.clone(),
                status: reply.status,
                twiml: reply.body.clone(),
            });
            if (200..300).contains(&reply.status) {
                Some(reply.body)
            } else {
                ctx.problem(format!(
                    "{verb} {} answered HTTP {}",
                    request.url, reply.status
                ));
                None
            }
        }
        Err(e) => {
            ctx.report.followups.push(Followup {
                url: request.url.clone(),
                params: request.params.clone(),
                status: 0,
                twiml: String::new(),
            });
            ctx.problem(e.to_string());
            None
        }
    }
}

/// Path and query of a URL, for compact timeline lines.
pub(super) fn short_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => match parsed.query() {
            Some(q) => format!("{}?{q}", parsed.path()),
            None => parsed.path().to_owned(),
        },
        Err(_) => url.to_owned(),
    }
}

/// The start of a TwiML body without the XML declaration, on one line.
pub(super) fn summary(body: &str) -> String {
    let trimmed = body.trim_start();
    let without_decl = match trimmed.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(rest, |(_, after)| after),
        None => trimmed,
    };
    let one_line: String = without_decl
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut short: String = one_line.chars().take(100).collect();
    if one_line.chars().count() > 100 {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_short_single_lines() {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>\n  <Gather action=\"/m\">\n</Gather></Response>";
        assert_eq!(
            summary(body),
            "<Response> <Gather action=\"/m\"> </Gather></Response>"
        );
        let long = format!("<Response><Say>{}</Say></Response>", "a".repeat(300));
        assert_eq!(summary(&long).chars().count(), 101);
        assert_eq!(
            short_url("http://h:1/twilio/after-stream?a=b"),
            "/twilio/after-stream?a=b"
        );
        assert_eq!(short_url("nope"), "nope");
    }
}
