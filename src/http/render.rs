//! TwiML for each way a call can leave the AI conversation, in the
//! business's words.

use std::sync::Arc;

use super::urls::PublicUrls;
use crate::business::hours::Schedule;
use crate::call::{Decision, Farewell, MenuPrompt};
use crate::call::{DIAL_TIMEOUT_SECS, RECORD_SILENCE_SECS, VOICEMAIL_MAX_SECS};
use crate::config::BusinessConfig;
use crate::twilio::twiml::{
    Connect, Dial, Gather, HttpMethod, Prompt, Record, Response, Say, Stream,
};
use crate::twilio::{StreamKey, TOKEN_PARAMETER};

/// Twilio's own voice for the menu and announcements (the model's voice is
/// not available once the stream is closed).
const SAY_VOICE: &str = "Polly.Joanna";
const SAY_LANGUAGE: &str = "en-US";

fn say(text: impl Into<String>) -> Say {
    Say {
        text: text.into(),
        voice: Some(SAY_VOICE.into()),
        language: Some(SAY_LANGUAGE.into()),
        loop_count: None,
    }
}

/// What the answers are written from: the business's words and our public
/// URLs.
pub struct TwimlRenderer {
    pub business: Arc<BusinessConfig>,
    pub urls: PublicUrls,
    /// Signs each call's `<Stream>` (see `twilio::StreamKey`).
    pub stream_key: StreamKey,
}

/// A caller over the hourly limit: a short sentence, then the call ends
/// (`<Reject>` cannot speak: it refuses without answering).
pub fn over_limit() -> String {
    Response::new()
        .say(say(
            "Sorry, we can't take another call from this number right now. Please try again later. Goodbye.",
        ))
        .hangup()
        .to_xml()
}

/// The TwiML that opens (or reopens) the media stream.
pub fn connect_stream(twiml: &TwimlRenderer, call_sid: &str, from: &str, to: &str) -> String {
    Response::new()
        .connect(
            Connect {
                action: Some(twiml.urls.url("/twilio/after-stream")),
                method: Some(HttpMethod::Post),
            },
            Stream {
                url: twiml.urls.stream(),
                parameters: vec![
                    ("from".into(), from.into()),
                    ("to".into(), to.into()),
                    (TOKEN_PARAMETER.into(), twiml.stream_key.token(call_sid)),
                ],
                ..Stream::default()
            },
        )
        .to_xml()
}

const MENU_OPTIONS: &str =
    "For our opening hours, press 1 or say hours. To leave a message, press 2 or say message. \
     To speak with someone, press 0 or say operator.";

fn menu(twiml: &TwimlRenderer, prompt: MenuPrompt) -> Response {
    let b = &twiml.business;
    let intro = match prompt {
        MenuPrompt::Welcome => format!(
            "Thank you for calling {}. Our assistant is not available right now. ",
            b.business.name
        ),
        MenuPrompt::Hours => format!("Our opening hours are: {}. ", spoken_hours(twiml)),
        MenuPrompt::Retry => "Sorry, I didn't catch that. ".to_string(),
    };
    Response::new().gather(Gather {
        action: Some(twiml.urls.url("/twilio/menu")),
        method: Some(HttpMethod::Post),
        input: Some("dtmf speech".into()),
        num_digits: Some(1),
        timeout: Some(6),
        speech_timeout: Some("auto".into()),
        action_on_empty_result: Some(true),
        hints: Some("hours, message, operator".into()),
        language: Some(SAY_LANGUAGE.into()),
        children: vec![Prompt::Say(say(format!("{intro}{MENU_OPTIONS}")))],
        ..Gather::default()
    })
}

fn spoken_hours(twiml: &TwimlRenderer) -> String {
    Schedule::of_business(&twiml.business)
        .weekly_summary()
        .replace(';', ",")
        .replace('-', " to ")
}

/// The TwiML for a decision; `from`/`to` are the call's, for a reconnect.
pub fn decision(
    twiml: &TwimlRenderer,
    d: &Decision,
    call_sid: &str,
    from: &str,
    to: &str,
) -> String {
    let b = &twiml.business;
    let r = match d {
        Decision::Menu { prompt } => menu(twiml, *prompt),
        Decision::Voicemail { department } => {
            let who = department
                .as_deref()
                .map(|d| format!(" for {d}"))
                .unwrap_or_default();
            Response::new()
                .say(say(format!(
                    "Please leave a message{who} after the tone, with your name and number. Press the pound key when you are done."
                )))
                .record(Record {
                    action: Some(twiml.urls.url("/twilio/voicemail")),
                    method: Some(HttpMethod::Post),
                    max_length: Some(VOICEMAIL_MAX_SECS),
                    finish_on_key: Some("#".into()),
                    play_beep: Some(true),
                    timeout: Some(RECORD_SILENCE_SECS),
                    recording_status_callback: Some(twiml.urls.url("/twilio/recording-status")),
                    recording_status_callback_method: Some(HttpMethod::Post),
                    recording_status_callback_event: Some("completed".into()),
                    ..Record::default()
                })
                .say(say("We did not receive a message. Goodbye."))
                .hangup()
        }
        Decision::Transfer(t) => {
            let mut dial = Dial::number(t.number.clone());
            dial.action = Some(twiml.urls.url("/twilio/dial-status"));
            dial.method = Some(HttpMethod::Post);
            dial.timeout = Some(DIAL_TIMEOUT_SECS);
            dial.answer_on_bridge = Some(true);
            if !b.business.phone.is_empty() {
                dial.caller_id = Some(b.business.phone.clone());
            }
            Response::new()
                .say(say(format!("Connecting you to {}.", t.department)))
                .dial(dial)
        }
        Decision::Hangup { farewell } => {
            let words = match farewell {
                Farewell::None => None,
                Farewell::Goodbye => Some(format!("Thank you for calling {}. Goodbye.", b.business.name)),
                Farewell::TimeLimit => Some(format!(
                    "We have reached the time limit for this call. Thank you for calling {}. Goodbye.",
                    b.business.name
                )),
                Farewell::NoResponse => {
                    Some("I haven't heard anything, so I'll end the call now. Please call back any time. Goodbye.".into())
                }
                Farewell::MessageTaken => Some("Thank you, your message has been recorded. Goodbye.".into()),
            };
            let r = Response::new();
            match words {
                Some(w) => r.say(say(w)).hangup(),
                None => r.hangup(),
            }
        }
        Decision::Reconnect => return connect_stream(twiml, call_sid, from, to),
    };
    r.to_xml()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::Transfer;
    use crate::config::Config;

    async fn renderer() -> TwimlRenderer {
        let mut c = Config::default();
        c.server.public_url = "https://desk.example.com".into();
        TwimlRenderer {
            business: Arc::new(c.business.clone()),
            urls: PublicUrls::new(c.public_base()),
            stream_key: StreamKey::derive(Some("token")),
        }
    }

    #[actix_rt::test]
    async fn stream_twiml_has_action_url_and_parameters() {
        let e = renderer().await;
        let xml = connect_stream(
            &e,
            "CA0123456789abcdef0123456789abcdef",
            "+15550001111",
            "+15551230000",
        );
        assert!(
            xml.contains(
                r#"<Connect action="https://desk.example.com/twilio/after-stream" method="POST">"#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(r#"url="wss://desk.example.com/twilio/stream""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<Parameter name="from" value="+15550001111" />"#),
            "{xml}"
        );
        let token = e.stream_key.token("CA0123456789abcdef0123456789abcdef");
        assert!(
            xml.contains(&format!(r#"<Parameter name="token" value="{token}" />"#)),
            "{xml}"
        );
    }

    #[actix_rt::test]
    async fn decisions_render() {
        let e = renderer().await;
        let xml = decision(
            &e,
            &Decision::Menu {
                prompt: MenuPrompt::Hours,
            },
            "",
            "",
            "",
        );
        assert!(
            xml.contains("<Gather action=\"https://desk.example.com/twilio/menu\""),
            "{xml}"
        );
        assert!(xml.contains("Monday: 09:00 to 17:00"), "{xml}");
        let xml = decision(
            &e,
            &Decision::Transfer(Transfer {
                department: "Front desk".into(),
                number: "+15551230100".into(),
                on_no_answer: Default::default(),
            }),
            "",
            "",
            "",
        );
        assert!(xml.contains("<Dial action=\"https://desk.example.com/twilio/dial-status\" answerOnBridge=\"true\" callerId=\"+15551230000\" method=\"POST\" timeout=\"20\"><Number>+15551230100</Number></Dial>"), "{xml}");
        let xml = decision(&e, &Decision::Voicemail { department: None }, "", "", "");
        assert!(
            xml.contains("<Record action=\"https://desk.example.com/twilio/voicemail\""),
            "{xml}"
        );
        assert!(
            xml.contains(r#"recordingStatusCallback="https://desk.example.com/twilio/recording-status" recordingStatusCallbackEvent="completed" recordingStatusCallbackMethod="POST""#),
            "{xml}"
        );
        let xml = decision(
            &e,
            &Decision::Hangup {
                farewell: Farewell::None,
            },
            "",
            "",
            "",
        );
        assert!(xml.ends_with("<Response><Hangup /></Response>"), "{xml}");
    }
}
