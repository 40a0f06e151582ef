//! A typed TwiML builder whose output is byte-identical to the Twilio SDK's
//! `str(VoiceResponse)`: one line, XML declaration, attributes in alphabetical
//! order, `"true"`/`"false"` booleans and self-closing `<X />` tags.
//!
//! Only attributes whose `Option` field is set are written, so Twilio's own
//! defaults apply to the rest (§3 of `shared/protocols/twilio-voice.md`).

use std::fmt::Write as _;

const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// HTTP method for callbacks and redirects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// Which audio a `<Stream>` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamTrack {
    Inbound,
    Outbound,
    Both,
}

impl StreamTrack {
    fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound_track",
            Self::Outbound => "outbound_track",
            Self::Both => "both_tracks",
        }
    }
}

/// `<Reject reason>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    Rejected,
    Busy,
}

impl RejectReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Rejected => "rejected",
            Self::Busy => "busy",
        }
    }
}

/// `<Say>`; `From<&str>`/`From<String>` give a plain one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Say {
    pub text: String,
    pub voice: Option<String>,
    pub language: Option<String>,
    /// `loop`; 0 repeats until hangup.
    pub loop_count: Option<u32>,
}

impl From<&str> for Say {
    fn from(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            ..Self::default()
        }
    }
}

impl From<String> for Say {
    fn from(text: String) -> Self {
        Self {
            text,
            ..Self::default()
        }
    }
}

/// `<Play>`: an audio URL, or DTMF `digits` with no URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Play {
    pub url: Option<String>,
    pub loop_count: Option<u32>,
    pub digits: Option<String>,
}

/// A verb that may be nested inside `<Gather>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    Say(Say),
    Play(Play),
    Pause(Option<u32>),
}

/// `<Gather>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gather {
    pub action: Option<String>,
    pub method: Option<HttpMethod>,
    /// `dtmf`, `speech`, or both space-separated.
    pub input: Option<String>,
    pub num_digits: Option<u32>,
    pub timeout: Option<u32>,
    /// `auto` or seconds.
    pub speech_timeout: Option<String>,
    pub finish_on_key: Option<String>,
    pub action_on_empty_result: Option<bool>,
    /// Comma-separated phrases.
    pub hints: Option<String>,
    pub language: Option<String>,
    pub speech_model: Option<String>,
    pub barge_in: Option<bool>,
    pub children: Vec<Prompt>,
}

/// `<Record>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub action: Option<String>,
    pub method: Option<HttpMethod>,
    pub timeout: Option<u32>,
    pub finish_on_key: Option<String>,
    pub max_length: Option<u32>,
    pub play_beep: Option<bool>,
    /// `trim-silence` or `do-not-trim`.
    pub trim: Option<String>,
    pub recording_status_callback: Option<String>,
    pub recording_status_callback_method: Option<HttpMethod>,
    /// Space-separated events, e.g. `in-progress completed absent`.
    pub recording_status_callback_event: Option<String>,
    pub transcribe: Option<bool>,
    pub transcribe_callback: Option<String>,
}

/// What `<Dial>` connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialTarget {
    Number(String),
    Sip(String),
}

/// `<Dial>`; start from [`Dial::number`] or [`Dial::sip`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    pub target: DialTarget,
    pub action: Option<String>,
    pub method: Option<HttpMethod>,
    pub timeout: Option<u32>,
    pub caller_id: Option<String>,
    pub answer_on_bridge: Option<bool>,
    pub time_limit: Option<u32>,
    pub hangup_on_star: Option<bool>,
}

impl Dial {
    pub fn number(number: impl Into<String>) -> Self {
        Self::to(DialTarget::Number(number.into()))
    }

    pub fn sip(uri: impl Into<String>) -> Self {
        Self::to(DialTarget::Sip(uri.into()))
    }

    fn to(target: DialTarget) -> Self {
        Self {
            target,
            action: None,
            method: None,
            timeout: None,
            caller_id: None,
            answer_on_bridge: None,
            time_limit: None,
            hangup_on_star: None,
        }
    }
}

/// `<Connect>` attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connect {
    pub action: Option<String>,
    pub method: Option<HttpMethod>,
}

/// `<Stream>`; `parameters` become `<Parameter name value />` children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stream {
    pub url: String,
    pub name: Option<String>,
    pub track: Option<StreamTrack>,
    pub status_callback: Option<String>,
    pub status_callback_method: Option<HttpMethod>,
    pub parameters: Vec<(String, String)>,
}

/// A TwiML document under construction.
#[derive(Debug, Clone, Default)]
pub struct Response {
    verbs: Vec<Element>,
}

impl Response {
    pub fn new() -> Self {
        Self::default()
    }

    /// `<Connect><Stream/></Connect>`: a bidirectional media stream.
    pub fn connect(mut self, connect: Connect, stream: Stream) -> Self {
        let mut el = Element::new("Connect");
        el.attr("action", connect.action);
        el.attr("method", connect.method.map(HttpMethod::as_str));
        el.children.push(stream_element(stream));
        self.verbs.push(el);
        self
    }

    /// `<Start><Stream/></Start>`: a receive-only fork; TwiML continues at once.
    pub fn start_stream(mut self, stream: Stream) -> Self {
        let mut el = Element::new("Start");
        el.children.push(stream_element(stream));
        self.verbs.push(el);
        self
    }

    /// `<Stop><Stream name /></Stop>`.
    pub fn stop_stream(mut self, name: impl Into<String>) -> Self {
        let mut stream = Element::new("Stream");
        stream.attr("name", Some(name.into()));
        let mut el = Element::new("Stop");
        el.children.push(stream);
        self.verbs.push(el);
        self
    }

    pub fn say(mut self, say: impl Into<Say>) -> Self {
        self.verbs.push(say_element(say.into()));
        self
    }

    pub fn play(mut self, play: Play) -> Self {
        self.verbs.push(play_element(play));
        self
    }

    pub fn pause(mut self, seconds: u32) -> Self {
        self.verbs.push(pause_element(Some(seconds)));
        self
    }

    pub fn gather(mut self, gather: Gather) -> Self {
        let mut el = Element::new("Gather");
        el.attr("action", gather.action);
        el.attr("method", gather.method.map(HttpMethod::as_str));
        el.attr("input", gather.input);
        el.attr("numDigits", gather.num_digits);
        el.attr("timeout", gather.timeout);
        el.attr("speechTimeout", gather.speech_timeout);
        el.attr("finishOnKey", gather.finish_on_key);
        el.attr("actionOnEmptyResult", gather.action_on_empty_result);
        el.attr("hints", gather.hints);
        el.attr("language", gather.language);
        el.attr("speechModel", gather.speech_model);
        el.attr("bargeIn", gather.barge_in);
        el.children = gather
            .children
            .into_iter()
            .map(|prompt| match prompt {
                Prompt::Say(say) => say_element(say),
                Prompt::Play(play) => play_element(play),
                Prompt::Pause(length) => pause_element(length),
            })
            .collect();
        self.verbs.push(el);
        self
    }

    pub fn record(mut self, record: Record) -> Self {
        let mut el = Element::new("Record");
        el.attr("action", record.action);
        el.attr("method", record.method.map(HttpMethod::as_str));
        el.attr("timeout", record.timeout);
        el.attr("finishOnKey", record.finish_on_key);
        el.attr("maxLength", record.max_length);
        el.attr("playBeep", record.play_beep);
        el.attr("trim", record.trim);
        el.attr("recordingStatusCallback", record.recording_status_callback);
        el.attr(
            "recordingStatusCallbackMethod",
            record
                .recording_status_callback_method
                .map(HttpMethod::as_str),
        );
        el.attr(
            "recordingStatusCallbackEvent",
            record.recording_status_callback_event,
        );
        el.attr("transcribe", record.transcribe);
        el.attr("transcribeCallback", record.transcribe_callback);
        self.verbs.push(el);
        self
    }

    pub fn dial(mut self, dial: Dial) -> Self {
        let mut el = Element::new("Dial");
        el.attr("action", dial.action);
        el.attr("method", dial.method.map(HttpMethod::as_str));
        el.attr("timeout", dial.timeout);
        el.attr("callerId", dial.caller_id);
        el.attr("answerOnBridge", dial.answer_on_bridge);
        el.attr("timeLimit", dial.time_limit);
        el.attr("hangupOnStar", dial.hangup_on_star);
        let (noun, text) = match dial.target {
            DialTarget::Number(number) => ("Number", number),
            DialTarget::Sip(uri) => ("Sip", uri),
        };
        let mut child = Element::new(noun);
        child.text = text;
        el.children.push(child);
        self.verbs.push(el);
        self
    }

    /// `<Redirect>` with Twilio's default method (POST).
    pub fn redirect(self, url: impl Into<String>) -> Self {
        self.push_redirect(url.into(), None)
    }

    pub fn redirect_with_method(self, url: impl Into<String>, method: HttpMethod) -> Self {
        self.push_redirect(url.into(), Some(method))
    }

    fn push_redirect(mut self, url: String, method: Option<HttpMethod>) -> Self {
        let mut el = Element::new("Redirect");
        el.attr("method", method.map(HttpMethod::as_str));
        el.text = url;
        self.verbs.push(el);
        self
    }

    pub fn hangup(mut self) -> Self {
        self.verbs.push(Element::new("Hangup"));
        self
    }

    pub fn reject(mut self, reason: Option<RejectReason>) -> Self {
        let mut el = Element::new("Reject");
        el.attr("reason", reason.map(RejectReason::as_str));
        self.verbs.push(el);
        self
    }

    /// The document with its XML declaration, as served to Twilio.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str(DECLARATION);
        self.write_body(&mut out);
        out
    }

    /// The document without the declaration, as the REST `Twiml` parameter takes it.
    pub fn to_xml_fragment(&self) -> String {
        let mut out = String::with_capacity(256);
        self.write_body(&mut out);
        out
    }

    fn write_body(&self, out: &mut String) {
        if self.verbs.is_empty() {
            out.push_str("<Response />");
            return;
        }
        out.push_str("<Response>");
        for verb in &self.verbs {
            verb.write(out);
        }
        out.push_str("</Response>");
    }
}

fn stream_element(stream: Stream) -> Element {
    let mut el = Element::new("Stream");
    el.attr("url", Some(stream.url));
    el.attr("name", stream.name);
    el.attr("track", stream.track.map(StreamTrack::as_str));
    el.attr("statusCallback", stream.status_callback);
    el.attr(
        "statusCallbackMethod",
        stream.status_callback_method.map(HttpMethod::as_str),
    );
    for (name, value) in stream.parameters {
        let mut param = Element::new("Parameter");
        param.attr("name", Some(name));
        param.attr("value", Some(value));
        el.children.push(param);
    }
    el
}

fn say_element(say: Say) -> Element {
    let mut el = Element::new("Say");
    el.attr("voice", say.voice);
    el.attr("language", say.language);
    el.attr("loop", say.loop_count);
    el.text = say.text;
    el
}

fn play_element(play: Play) -> Element {
    let mut el = Element::new("Play");
    el.attr("loop", play.loop_count);
    el.attr("digits", play.digits);
    el.text = play.url.unwrap_or_default();
    el
}

fn pause_element(length: Option<u32>) -> Element {
    let mut el = Element::new("Pause");
    el.attr("length", length);
    el
}

/// Attribute value rendering: booleans in lowercase like the SDK.
trait AttrValue {
    fn render(self) -> String;
}

impl AttrValue for String {
    fn render(self) -> String {
        self
    }
}

impl AttrValue for &str {
    fn render(self) -> String {
        self.to_owned()
    }
}

impl AttrValue for u32 {
    fn render(self) -> String {
        self.to_string()
    }
}

impl AttrValue for bool {
    fn render(self) -> String {
        if self { "true" } else { "false" }.to_owned()
    }
}

#[derive(Debug, Clone)]
struct Element {
    name: &'static str,
    attrs: Vec<(&'static str, String)>,
    /// Empty text renders nothing, as the SDK skips falsy values.
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            attrs: Vec::new(),
            text: String::new(),
            children: Vec::new(),
        }
    }

    fn attr(&mut self, name: &'static str, value: Option<impl AttrValue>) {
        if let Some(value) = value {
            self.attrs.push((name, value.render()));
        }
    }

    fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(self.name);
        let mut attrs: Vec<&(&str, String)> = self.attrs.iter().collect();
        attrs.sort_unstable_by_key(|(name, _)| *name);
        for (name, value) in attrs {
            let _ = write!(out, " {name}=\"");
            escape_attr(value, out);
            out.push('"');
        }
        if self.text.is_empty() && self.children.is_empty() {
            out.push_str(" />");
            return;
        }
        out.push('>');
        escape_text(&self.text, out);
        for child in &self.children {
            child.write(out);
        }
        out.push_str("</");
        out.push_str(self.name);
        out.push('>');
    }
}

/// Characters XML 1.0 allows at all (§2.2); anything else would make the
/// document ill-formed, so it is dropped, never escaped.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// ElementTree's text escaping: only `&`, `<`, `>`.
fn escape_text(text: &str, out: &mut String) {
    for c in text.chars().filter(|c| xml_char(*c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
}

/// ElementTree's attribute escaping: also quotes and the whitespace that
/// attribute-value normalisation would otherwise destroy.
fn escape_attr(value: &str, out: &mut String) {
    for c in value.chars().filter(|c| xml_char(*c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#09;"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference samples with their inter-element whitespace removed.
    fn compact(pretty: &str) -> String {
        pretty.lines().map(str::trim).collect()
    }

    #[test]
    fn connect_stream_sample() {
        let xml = Response::new()
            .connect(
                Connect {
                    action: Some("https://app.example.com/after-stream".into()),
                    ..Connect::default()
                },
                Stream {
                    url: "wss://bridge.example.com/media".into(),
                    status_callback: Some("https://app.example.com/stream-status".into()),
                    status_callback_method: Some(HttpMethod::Post),
                    parameters: vec![
                        ("tenant".into(), "acme".into()),
                        ("callerId".into(), "+15551230000".into()),
                    ],
                    ..Stream::default()
                },
            )
            .to_xml();
        assert_eq!(
            xml,
            compact(
                r#"<?xml version="1.0" encoding="UTF-8"?>
                <Response>
                  <Connect action="https://app.example.com/after-stream">
                    <Stream statusCallback="https://app.example.com/stream-status" statusCallbackMethod="POST" url="wss://bridge.example.com/media">
                      <Parameter name="tenant" value="acme" />
                      <Parameter name="callerId" value="+15551230000" />
                    </Stream>
                  </Connect>
                </Response>"#
            )
        );
    }

    #[test]
    fn start_stream_sample() {
        let xml = Response::new()
            .start_stream(Stream {
                url: "wss://bridge.example.com/listen".into(),
                name: Some("fork1".into()),
                track: Some(StreamTrack::Both),
                ..Stream::default()
            })
            .say("This call may be recorded.")
            .pause(1)
            .redirect_with_method("https://app.example.com/next", HttpMethod::Post)
            .to_xml();
        assert_eq!(
            xml,
            compact(
                r#"<?xml version="1.0" encoding="UTF-8"?>
                <Response>
                  <Start>
                    <Stream name="fork1" track="both_tracks" url="wss://bridge.example.com/listen" />
                  </Start>
                  <Say>This call may be recorded.</Say>
                  <Pause length="1" />
                  <Redirect method="POST">https://app.example.com/next</Redirect>
                </Response>"#
            )
        );
    }

    #[test]
    fn gather_sample() {
        let xml = Response::new()
            .gather(Gather {
                action: Some("https://app.example.com/gather".into()),
                method: Some(HttpMethod::Post),
                input: Some("speech dtmf".into()),
                num_digits: Some(1),
                timeout: Some(5),
                speech_timeout: Some("auto".into()),
                action_on_empty_result: Some(true),
                hints: Some("billing, support".into()),
                language: Some("en-US".into()),
                children: vec![Prompt::Say("Press 1 or say billing.".into())],
                ..Gather::default()
            })
            .say("No input received. Goodbye.")
            .hangup()
            .to_xml();
        assert_eq!(
            xml,
            compact(
                r#"<?xml version="1.0" encoding="UTF-8"?>
                <Response>
                  <Gather action="https://app.example.com/gather" actionOnEmptyResult="true" hints="billing, support" input="speech dtmf" language="en-US" method="POST" numDigits="1" speechTimeout="auto" timeout="5">
                    <Say>Press 1 or say billing.</Say>
                  </Gather>
                  <Say>No input received. Goodbye.</Say>
                  <Hangup />
                </Response>"#
            )
        );
    }

    #[test]
    fn record_sample() {
        let xml = Response::new()
            .say("Leave a message after the beep.")
            .record(Record {
                action: Some("https://app.example.com/recorded".into()),
                finish_on_key: Some("#".into()),
                max_length: Some(120),
                play_beep: Some(true),
                recording_status_callback: Some("https://app.example.com/rec-status".into()),
                recording_status_callback_event: Some("completed".into()),
                transcribe: Some(true),
                transcribe_callback: Some("https://app.example.com/transcribed".into()),
                ..Record::default()
            })
            .to_xml();
        assert_eq!(
            xml,
            compact(
                r##"<?xml version="1.0" encoding="UTF-8"?>
                <Response>
                  <Say>Leave a message after the beep.</Say>
                  <Record action="https://app.example.com/recorded" finishOnKey="#" maxLength="120" playBeep="true" recordingStatusCallback="https://app.example.com/rec-status" recordingStatusCallbackEvent="completed" transcribe="true" transcribeCallback="https://app.example.com/transcribed" />
                </Response>"##
            )
        );
    }

    #[test]
    fn dial_number_sample() {
        let xml = Response::new()
            .dial(Dial {
                action: Some("https://app.example.com/dial-done".into()),
                answer_on_bridge: Some(true),
                caller_id: Some("+15550001111".into()),
                timeout: Some(20),
                ..Dial::number("+15552223333")
            })
            .to_xml();
        assert_eq!(
            xml,
            compact(
                r#"<?xml version="1.0" encoding="UTF-8"?>
                <Response>
                  <Dial action="https://app.example.com/dial-done" answerOnBridge="true" callerId="+15550001111" timeout="20">
                    <Number>+15552223333</Number>
                  </Dial>
                </Response>"#
            )
        );
    }

    #[test]
    fn one_liner_samples() {
        let sip = Response::new()
            .dial(Dial {
                timeout: Some(30),
                ..Dial::sip("sip:agent@pbx.example.com;transport=tls")
            })
            .to_xml();
        assert_eq!(
            sip,
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial timeout="30"><Sip>sip:agent@pbx.example.com;transport=tls</Sip></Dial></Response>"#
        );
        let play = Response::new()
            .play(Play {
                url: Some("https://cdn.example.com/hold.mp3".into()),
                loop_count: Some(2),
                ..Play::default()
            })
            .play(Play {
                digits: Some("ww1234#".into()),
                ..Play::default()
            })
            .hangup()
            .to_xml();
        assert_eq!(
            play,
            r##"<?xml version="1.0" encoding="UTF-8"?><Response><Play loop="2">https://cdn.example.com/hold.mp3</Play><Play digits="ww1234#" /><Hangup /></Response>"##
        );
    }

    #[test]
    fn escaping_matches_element_tree() {
        // Expected output produced by the twilio SDK 9.13 for the same input.
        let xml = Response::new()
            .say(Say {
                text: "a&b<c>d\"e'f\n\tg\r".into(),
                voice: Some("x&\"<>'\n\t\rz".into()),
                ..Say::default()
            })
            .say("")
            .to_xml();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say voice=\"x&amp;&quot;&lt;&gt;'&#10;&#09;&#13;z\">a&amp;b&lt;c&gt;d\"e'f\n\tg\r</Say><Say /></Response>"
        );
    }

    #[test]
    fn characters_xml_forbids_are_dropped() {
        let xml = Response::new()
            .say(Say {
                text: "a\u{0}b\u{1b}c\u{FFFE}d".into(),
                voice: Some("v\u{7}w".into()),
                ..Say::default()
            })
            .to_xml();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say voice=\"vw\">abcd</Say></Response>"
        );
    }

    #[test]
    fn misc_verbs_and_fragment() {
        let r = Response::new()
            .say(Say {
                text: "Hola".into(),
                voice: Some("Polly.Lupe".into()),
                language: Some("es-US".into()),
                loop_count: Some(0),
            })
            .redirect("https://app.example.com/again")
            .stop_stream("fork1")
            .reject(Some(RejectReason::Busy))
            .gather(Gather {
                input: Some("dtmf".into()),
                barge_in: Some(false),
                children: vec![
                    Prompt::Pause(None),
                    Prompt::Play(Play {
                        url: Some("u".into()),
                        ..Play::default()
                    }),
                ],
                ..Gather::default()
            });
        let body = r#"<Response><Say language="es-US" loop="0" voice="Polly.Lupe">Hola</Say><Redirect>https://app.example.com/again</Redirect><Stop><Stream name="fork1" /></Stop><Reject reason="busy" /><Gather bargeIn="false" input="dtmf"><Pause /><Play>u</Play></Gather></Response>"#;
        assert_eq!(r.to_xml_fragment(), body);
        assert_eq!(r.to_xml(), format!("{DECLARATION}{body}"));
        assert_eq!(
            Response::new().to_xml(),
            format!("{DECLARATION}<Response />")
        );
    }
}
