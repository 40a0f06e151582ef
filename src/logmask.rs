//! Phone numbers never reach the logs in full.

/// `+15551230000` → `+1555***0000`: enough to tell calls apart, not enough
/// to identify the caller. Only digits and `+` of the input are printed, so
/// a forged `From` cannot inject anything into a log line.
pub fn mask_phone(number: &str) -> String {
    let chars: Vec<char> = number
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..5.min(chars.len() - 4)].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}***{tail}")
}

/// An identifier from outside (a CallSid that failed validation, say) made
/// safe for a log line: printable ASCII only, at most 40 characters.
pub fn mask_id(id: &str) -> String {
    let mut out: String = id
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(40)
        .collect();
    if id.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn mask_url_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_url_passwords() {
        assert_eq!(
            mask_url_password("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            mask_url_password("sqlite://data/x.db"),
            "sqlite://data/x.db"
        );
    }

    #[test]
    fn masks_the_middle() {
        assert_eq!(mask_phone("+15551230000"), "+1555***0000");
        assert_eq!(mask_phone("12345"), "*****");
        assert_eq!(mask_phone(""), "");
        assert!(!mask_phone("+447700900123").contains("900"));
        assert_eq!(mask_phone("+1555\x1b[31m1230000\n"), "+1555***0000");
        assert_eq!(mask_id("CA12\u{7}\n<x>"), "CA12<x>");
    }
}
