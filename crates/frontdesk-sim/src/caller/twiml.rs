//! TwiML as Twilio reads it: a `<Response>` holding verbs executed in order.
//!
//! Only what the simulated caller acts on is modelled; other verbs are kept by
//! name so they show up in the call timeline instead of vanishing.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// HTTP method Twilio uses for a verb's callback (`method` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackMethod {
    Get,
    Post,
}

impl CallbackMethod {
    fn from_attr(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            Some(m) if m.eq_ignore_ascii_case("GET") => Self::Get,
            _ => Self::Post,
        }
    }
}

/// `<Stream>` inside `<Connect>` or `<Start>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    pub url: String,
    pub name: Option<String>,
    pub parameters: Vec<(String, String)>,
}

/// One TwiML verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    Say(String),
    Play(String),
    Pause {
        length_secs: u32,
    },
    Gather {
        action: Option<String>,
        method: CallbackMethod,
        input: String,
        action_on_empty_result: bool,
        prompts: Vec<Verb>,
    },
    Record {
        action: Option<String>,
        method: CallbackMethod,
        status_callback: Option<String>,
        status_callback_method: CallbackMethod,
    },
    Dial {
        action: Option<String>,
        method: CallbackMethod,
        target: String,
    },
    Redirect {
        url: String,
        method: CallbackMethod,
    },
    Connect {
        action: Option<String>,
        method: CallbackMethod,
        stream: Option<StreamSpec>,
    },
    /// `<Start><Stream>`: a receive-only fork the caller does not serve.
    StartStream(StreamSpec),
    Hangup,
    Reject {
        reason: Option<String>,
    },
    /// A verb the simulator does not act on (`<Enqueue>`, `<Stop>`, …).
    Other(String),
}

/// Why a TwiML document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwimlError {
    #[error("not well-formed XML: {0}")]
    Xml(String),
    #[error("root element is <{0}>, expected <Response>")]
    WrongRoot(String),
    #[error("document has no <Response> element")]
    Empty,
    #[error("<{verb}> is missing required {what}")]
    Missing {
        verb: &'static str,
        what: &'static str,
    },
}

/// A generic element tree; verbs are derived from it afterwards.
#[derive(Debug, Clone, Default)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn non_empty_attr(&self, name: &str) -> Option<String> {
        self.attr(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    fn content(&self) -> String {
        self.text.trim().to_owned()
    }
}

/// Parses a TwiML document into its verbs.
pub fn parse(document: &str) -> Result<Vec<Verb>, TwimlError> {
    let root = parse_tree(document)?;
    if root.name != "Response" {
        return Err(TwimlError::WrongRoot(root.name));
    }
    root.children.iter().map(to_verb).collect()
}

fn parse_tree(document: &str) -> Result<Element, TwimlError> {
    let mut reader = Reader::from_str(document);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| TwimlError::Xml(format!("{e} at byte {}", reader.buffer_position())))?;
        match event {
            Event::Start(start) => stack.push(element_from(&reader, &start)?),
            Event::Empty(start) => {
                let element = element_from(&reader, &start)?;
                attach(&mut stack, &mut root, element)?;
            }
            Event::End(_) => {
                let element = stack
                    .pop()
                    .ok_or_else(|| TwimlError::Xml("unbalanced end tag".into()))?;
                attach(&mut stack, &mut root, element)?;
            }
            Event::Text(text) => {
                let text = text.decode().map_err(|e| TwimlError::Xml(e.to_string()))?;
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&text);
                }
            }
            Event::CData(data) => {
                let text = data.decode().map_err(|e| TwimlError::Xml(e.to_string()))?;
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&text);
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference
                    .resolve_char_ref()
                    .map_err(|e| TwimlError::Xml(e.to_string()))?
                {
                    Some(c) => c.to_string(),
                    None => {
                        let name = reference
                            .decode()
                            .map_err(|e| TwimlError::Xml(e.to_string()))?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| TwimlError::Xml(format!("unknown entity &{name};")))?
                            .to_owned()
                    }
                };
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(TwimlError::Xml(format!("<{}> is never closed", open.name)));
    }
    root.ok_or(TwimlError::Empty)
}

fn element_from(reader: &Reader<&[u8]>, start: &BytesStart<'_>) -> Result<Element, TwimlError> {
    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| TwimlError::Xml(e.to_string()))?;
        let key = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
        let value = attribute
            .decode_and_unescape_value(reader.decoder())
            .map_err(|e| TwimlError::Xml(e.to_string()))?
            .into_owned();
        attributes.push((key, value));
    }
    Ok(Element {
        name,
        attributes,
        ..Element::default()
    })
}

fn attach(
    stack: &mut [Element],
    root: &mut Option<Element>,
    element: Element,
) -> Result<(), TwimlError> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None if root.is_none() => *root = Some(element),
        None => return Err(TwimlError::Xml("more than one root element".into())),
    }
    Ok(())
}

fn to_verb(element: &Element) -> Result<Verb, TwimlError> {
    let method = CallbackMethod::from_attr(element.attr("method"));
    let verb = match element.name.as_str() {
        "Say" => Verb::Say(element.content()),
        "Play" => Verb::Play(element.content()),
        "Pause" => Verb::Pause {
            length_secs: element
                .attr("length")
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(1),
        },
        "Gather" => Verb::Gather {
            action: element.non_empty_attr("action"),
            method,
            input: element
                .non_empty_attr("input")
                .unwrap_or_else(|| "dtmf".to_owned()),
            action_on_empty_result: element
                .attr("actionOnEmptyResult")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
            prompts: element
                .children
                .iter()
                .map(to_verb)
                .collect::<Result<_, _>>()?,
        },
        "Record" => Verb::Record {
            action: element.non_empty_attr("action"),
            method,
            status_callback: element.non_empty_attr("recordingStatusCallback"),
            status_callback_method: CallbackMethod::from_attr(
                element.attr("recordingStatusCallbackMethod"),
            ),
        },
        "Dial" => {
            let target = if element.children.is_empty() {
                element.content()
            } else {
                element
                    .children
                    .iter()
                    .map(|noun| format!("{}:{}", noun.name, noun.content()))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            Verb::Dial {
                action: element.non_empty_attr("action"),
                method,
                target,
            }
        }
        "Redirect" => {
            let url = element.content();
            if url.is_empty() {
                return Err(TwimlError::Missing {
                    verb: "Redirect",
                    what: "URL text",
                });
            }
            Verb::Redirect { url, method }
        }
        "Connect" => Verb::Connect {
            action: element.non_empty_attr("action"),
            method,
            stream: element
                .children
                .iter()
                .find(|c| c.name == "Stream")
                .map(stream_spec)
                .transpose()?,
        },
        "Start" => match element.children.iter().find(|c| c.name == "Stream") {
            Some(stream) => Verb::StartStream(stream_spec(stream)?),
            None => Verb::Other("Start".to_owned()),
        },
        "Hangup" => Verb::Hangup,
        "Reject" => Verb::Reject {
            reason: element.non_empty_attr("reason"),
        },
        other => Verb::Other(other.to_owned()),
    };
    Ok(verb)
}

fn stream_spec(element: &Element) -> Result<StreamSpec, TwimlError> {
    let url = element.non_empty_attr("url").ok_or(TwimlError::Missing {
        verb: "Stream",
        what: "url attribute",
    })?;
    let parameters = element
        .children
        .iter()
        .filter(|c| c.name == "Parameter")
        .filter_map(|p| Some((p.attr("name")?.to_owned(), p.attr("value")?.to_owned())))
        .collect();
    Ok(StreamSpec {
        url,
        name: element.non_empty_attr("name"),
        parameters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_connect_stream_with_parameters() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Connect action="https://app.example.com/after-stream?x=1&amp;y=2">
    <Stream statusCallback="https://app.example.com/stream-status" statusCallbackMethod="POST" url="wss://bridge.example.com/media">
      <Parameter name="tenant" value="acme" />
      <Parameter name="callerId" value="+15551230000" />
    </Stream>
  </Connect>
</Response>"#;
        let verbs = parse(doc).unwrap();
        assert_eq!(
            verbs,
            vec![Verb::Connect {
                action: Some("https://app.example.com/after-stream?x=1&y=2".into()),
                method: CallbackMethod::Post,
                stream: Some(StreamSpec {
                    url: "wss://bridge.example.com/media".into(),
                    name: None,
                    parameters: vec![
                        ("tenant".into(), "acme".into()),
                        ("callerId".into(), "+15551230000".into()),
                    ],
                }),
            }]
        );
    }

    #[test]
    fn parses_gather_with_prompts_and_fallthrough() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="https://app.example.com/gather" actionOnEmptyResult="true" hints="billing, support" input="speech dtmf" language="en-US" method="POST" numDigits="1" speechTimeout="auto" timeout="5"><Say>Press 1 or say billing &amp; accounts.</Say><Pause length="2"/></Gather><Say>No input received. Goodbye.</Say><Hangup /></Response>"#;
        let verbs = parse(doc).unwrap();
        assert_eq!(verbs.len(), 3);
        assert_eq!(
            verbs[0],
            Verb::Gather {
                action: Some("https://app.example.com/gather".into()),
                method: CallbackMethod::Post,
                input: "speech dtmf".into(),
                action_on_empty_result: true,
                prompts: vec![
                    Verb::Say("Press 1 or say billing & accounts.".into()),
                    Verb::Pause { length_secs: 2 },
                ],
            }
        );
        assert_eq!(verbs[1], Verb::Say("No input received. Goodbye.".into()));
        assert_eq!(verbs[2], Verb::Hangup);
    }

    #[test]
    fn parses_record_dial_redirect_and_unknown_verbs() {
        let doc = r##"<Response>
  <Say>Leave a message after the beep.</Say>
  <Record action="https://app.example.com/recorded" finishOnKey="#" maxLength="120" playBeep="true" recordingStatusCallback="https://app.example.com/rec-status" recordingStatusCallbackEvent="completed" transcribe="true" />
  <Dial action="/dial-done" method="GET" answerOnBridge="true" timeout="20"><Number>+15552223333</Number></Dial>
  <Dial>+15550001111</Dial>
  <Redirect method="GET">  https://app.example.com/next  </Redirect>
  <Enqueue>support</Enqueue>
  <Start><Stream name="fork1" track="both_tracks" url="wss://bridge.example.com/listen" /></Start>
  <Reject reason="busy"/>
</Response>"##;
        let verbs = parse(doc).unwrap();
        assert_eq!(
            verbs[1],
            Verb::Record {
                action: Some("https://app.example.com/recorded".into()),
                method: CallbackMethod::Post,
                status_callback: Some("https://app.example.com/rec-status".into()),
                status_callback_method: CallbackMethod::Post,
            }
        );
        assert_eq!(
            verbs[2],
            Verb::Dial {
                action: Some("/dial-done".into()),
                method: CallbackMethod::Get,
                target: "Number:+15552223333".into(),
            }
        );
        assert_eq!(
            verbs[3],
            Verb::Dial {
                action: None,
                method: CallbackMethod::Post,
                target: "+15550001111".into(),
            }
        );
        assert_eq!(
            verbs[4],
            Verb::Redirect {
                url: "https://app.example.com/next".into(),
                method: CallbackMethod::Get,
            }
        );
        assert_eq!(verbs[5], Verb::Other("Enqueue".into()));
        assert!(matches!(&verbs[6], Verb::StartStream(s) if s.name.as_deref() == Some("fork1")));
        assert_eq!(
            verbs[7],
            Verb::Reject {
                reason: Some("busy".into())
            }
        );
    }

    #[test]
    fn rejects_malformed_documents() {
        assert!(matches!(
            parse("<Response><Say>hi</Response>"),
            Err(TwimlError::Xml(_))
        ));
        assert!(
            matches!(parse("<Reply><Hangup/></Reply>"), Err(TwimlError::WrongRoot(r)) if r == "Reply")
        );
        assert_eq!(parse(""), Err(TwimlError::Empty));
        assert!(matches!(
            parse("<Response><Say>hi"),
            Err(TwimlError::Xml(_))
        ));
        assert_eq!(
            parse("<Response><Connect><Stream/></Connect></Response>"),
            Err(TwimlError::Missing {
                verb: "Stream",
                what: "url attribute"
            })
        );
        assert!(matches!(
            parse("<Response><Redirect/></Response>"),
            Err(TwimlError::Missing {
                verb: "Redirect",
                ..
            })
        ));
        assert!(parse("<Response><Say>&bogus;</Say></Response>").is_err());
    }

    #[test]
    fn empty_response_has_no_verbs() {
        assert_eq!(parse("<Response/>").unwrap(), vec![]);
        assert_eq!(
            parse("<Response><Say>caf&#233;</Say></Response>").unwrap(),
            vec![Verb::Say("café".into())]
        );
    }
}
