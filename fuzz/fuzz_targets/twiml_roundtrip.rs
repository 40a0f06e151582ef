//! TwiML with caller-controlled text (a From number, a spoken name, a
//! department) is always well-formed XML, and every attribute and text that
//! XML can carry comes back unchanged when an independent reader parses it.
#![no_main]

use frontdesk::twilio::twiml::{Connect, Response, Say, Stream};
use libfuzzer_sys::fuzz_target;
use quick_xml::events::Event;
use quick_xml::Reader;

/// What XML 1.0 can carry at all (the writer drops the rest).
fn representable(s: &str) -> String {
    s.chars()
        .filter(|c| {
            matches!(*c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut fields = text.splitn(3, '\u{1}');
    let (a, b, c) = (
        fields.next().unwrap_or_default(),
        fields.next().unwrap_or_default(),
        fields.next().unwrap_or_default(),
    );
    let xml = Response::new()
        .say(Say {
            text: a.to_owned(),
            voice: Some(b.to_owned()),
            ..Say::default()
        })
        .connect(
            Connect {
                action: Some(format!("https://example.com/{c}")),
                method: None,
            },
            Stream {
                url: "wss://example.com/stream".into(),
                parameters: vec![("from".into(), c.to_owned())],
                ..Stream::default()
            },
        )
        .to_xml();

    let mut reader = Reader::from_str(&xml);
    let mut texts = String::new();
    let mut attrs = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(Event::Start(e) | Event::Empty(e)) => {
                for attr in e.attributes() {
                    let attr = attr.unwrap_or_else(|err| panic!("bad attribute in {xml:?}: {err}"));
                    let value = attr
                        .unescape_value()
                        .unwrap_or_else(|err| panic!("bad escape in {xml:?}: {err}"));
                    attrs.push(value.into_owned());
                }
            }
            Ok(Event::Text(t)) => {
                let t = t.decode().unwrap_or_else(|err| panic!("bad text in {xml:?}: {err}"));
                texts.push_str(&t);
            }
            // quick-xml reports `&amp;` and `&#10;` in text as references.
            Ok(Event::GeneralRef(r)) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    texts.push(c);
                } else {
                    let name = r.decode().unwrap_or_else(|err| panic!("bad ref in {xml:?}: {err}"));
                    let entity = quick_xml::escape::resolve_predefined_entity(&name)
                        .unwrap_or_else(|| panic!("unknown entity {name:?} in {xml:?}"));
                    texts.push_str(entity);
                }
            }
            Ok(_) => {}
            Err(err) => panic!("ill-formed TwiML {xml:?}: {err}"),
        }
    }
    assert_eq!(texts, representable(a), "{xml:?}");
    assert!(attrs.contains(&representable(b)), "{xml:?}");
    assert!(attrs.contains(&representable(c)), "{xml:?}");
});
