//! Phone numbers as the business reads them: E.164 normalisation (with
//! the national forms callers say in the North American Numbering Plan) and
//! the caller IDs that are not numbers at all.

use crate::config::business::is_e164;
use crate::config::Config;

/// Spoken or typed separators a model or an operator may leave in a number.
const SEPARATORS: &[char] = &[' ', '-', '(', ')', '.', '/', '\u{a0}'];

/// `raw` as E.164, or `None` when it is not a phone number. A business in
/// the North American Numbering Plan (its own number starts with `+1`, or
/// is not set) also accepts the ten- and eleven-digit national forms that
/// callers say, such as "(555) 123-4567".
pub fn normalize_phone(raw: &str, nanp: bool) -> Option<String> {
    let compact: String = raw
        .trim()
        .chars()
        .filter(|c| !SEPARATORS.contains(c))
        .collect();
    let candidate = if compact.starts_with('+') {
        compact
    } else if let Some(rest) = compact.strip_prefix("00") {
        format!("+{rest}")
    } else if nanp && compact.len() == 10 {
        format!("+1{compact}")
    } else if nanp && compact.len() == 11 && compact.starts_with('1') {
        format!("+{compact}")
    } else {
        return None;
    };
    is_e164(&candidate).then_some(candidate)
}

/// What Twilio puts in `From` when the caller ID is blocked or missing:
/// "ANONYMOUS", "RESTRICTED", "UNKNOWN" and "UNAVAILABLE" spelled on a
/// keypad. They look like numbers but must never be called back.
const WITHHELD: &[&str] = &["+266696687", "+7378742833", "+8656696", "+86282452253"];

/// The caller's own number as E.164, or `None` when the caller ID is
/// withheld or unreadable.
pub fn caller_number(from: &str, nanp: bool) -> Option<String> {
    normalize_phone(from, nanp).filter(|n| !WITHHELD.contains(&n.as_str()))
}

/// Whether the business dials in the North American Numbering Plan.
pub fn business_is_nanp(config: &Config) -> bool {
    is_nanp(&config.business.business.phone)
}

/// Whether a business with this number of its own dials in the North
/// American Numbering Plan (no number: assumed so).
pub fn is_nanp(own_phone: &str) -> bool {
    own_phone.is_empty() || own_phone.starts_with("+1")
}
