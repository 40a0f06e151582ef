//! Media Streams frames as Twilio (or anyone holding a stream socket) sends
//! them, and the frames the engine writes back: parsing never panics, and a
//! frame the engine builds always parses back to what was put in.
#![no_main]

use frontdesk::twilio::media::{self, Outbound};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = media::parse_inbound(text);
    let _ = media::parse_outbound(text);

    // Whatever the strings, the builders write valid frames.
    let mid = (0..=text.len() / 2)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    let (sid, rest) = text.split_at(mid);
    let frame = media::parse_outbound_frame(&media::media_json(sid, rest))
        .unwrap_or_else(|e| panic!("media frame did not parse: {e}"));
    assert_eq!(frame.stream_sid, sid);
    assert_eq!(
        frame.message,
        Outbound::Media {
            payload: rest.to_owned()
        }
    );
    let frame = media::parse_outbound_frame(&media::mark_json(sid, rest))
        .unwrap_or_else(|e| panic!("mark frame did not parse: {e}"));
    assert_eq!(frame.stream_sid, sid);
    assert_eq!(
        frame.message,
        Outbound::Mark {
            name: rest.to_owned()
        }
    );
    let _ = media::parse_inbound(&media::dtmf_json(sid, 1, rest));
});
