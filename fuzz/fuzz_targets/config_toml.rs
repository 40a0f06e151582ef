//! Configuration text (engine defaults and a business file): anything either
//! loads into a valid configuration or is refused with an error — hours,
//! holidays, timezones and departments included.
#![no_main]

use frontdesk::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::from_toml(text);
    }
});
