//! Server events from the model endpoint, which the threat model treats as
//! possibly compromised: any text parses to an event or a typed error.
#![no_main]

use frontdesk::realtime::events::parse_server_event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_server_event(text);
    }
});
