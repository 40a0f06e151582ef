//! What only `strict` redacts: email addresses (written or spoken), dates
//! of birth (by what is said around them), street addresses (number, name,
//! street type; the European orders too).

use super::detect::{near_before, Finding, Kind, Mentions, Topic};
use super::tokens::{teen, tens, unit, Token};

fn push(out: &mut Vec<Finding>, kind: Kind, start: usize, end: usize) {
    out.push(Finding {
        kind,
        start,
        end,
        last4: None,
    });
}

const TLDS: &[&str] = &[
    "com", "org", "net", "edu", "gov", "io", "co", "uk", "de", "fr", "es", "it", "ca", "us",
    "info", "me", "biz", "nl", "ch", "at", "mx",
];

const DOT_WORDS: &[&str] = &["dot", "punto", "point", "punkt"];
const AT_WORDS: &[&str] = &["at", "arroba"];

/// `a.b@example.com` as written, and "ada dot lovelace at gmail dot com"
/// as spoken.
pub fn emails(text: &str, toks: &[Token], out: &mut Vec<Finding>) {
    let bytes = text.as_bytes();
    for (at, _) in text.match_indices('@') {
        let local = |b: u8| b.is_ascii_alphanumeric() || b"._%+-".contains(&b);
        let domain = |b: u8| b.is_ascii_alphanumeric() || b".-".contains(&b);
        let mut s = at;
        while s > 0 && local(bytes[s - 1]) {
            s -= 1;
        }
        let mut e = at + 1;
        while e < bytes.len() && domain(bytes[e]) {
            e += 1;
        }
        while e > at + 1 && bytes[e - 1] == b'.' {
            e -= 1;
        }
        let host = &text[at + 1..e];
        let tld_ok = host
            .rsplit_once('.')
            .is_some_and(|(_, tld)| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
        if s < at && tld_ok {
            push(out, Kind::Email, s, e);
        }
    }
    // Spoken: LOCAL (dot LOCAL)* at DOMAIN (dot DOMAIN)* with a known TLD last.
    let joins = |i: usize, j: usize| {
        // Tokens i and j (= i + 1) are parts of one name when written with a
        // dot or underscore between them.
        let gap = &text[toks[i].end..toks[j].start];
        gap == "." || gap == "_" || gap == "-"
    };
    for k in 1..toks.len().saturating_sub(1) {
        if !toks[k].is_any(AT_WORDS) {
            continue;
        }
        // Forward: the domain, up to its TLD.
        let mut j = k + 1;
        let mut end = None;
        loop {
            let next = if j + 1 < toks.len() && joins(j, j + 1) {
                Some(j + 1)
            } else if j + 2 < toks.len() && toks[j + 1].is_any(DOT_WORDS) {
                Some(j + 2)
            } else {
                None
            };
            match next {
                Some(n) => {
                    if toks[n].is_any(TLDS) {
                        end = Some(n);
                    }
                    j = n;
                }
                None => break,
            }
        }
        let Some(end) = end else { continue };
        // Backward: the local part.
        let mut s = k - 1;
        loop {
            if s >= 1 && joins(s - 1, s) {
                s -= 1;
            } else if s >= 2 && toks[s - 1].is_any(&["dot", "underscore", "punto", "point"]) {
                s -= 2;
            } else {
                break;
            }
        }
        push(out, Kind::Email, toks[s].start, toks[end].end);
    }
}

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
    "januar",
    "februar",
    "märz",
    "juni",
    "juli",
    "oktober",
    "dezember",
    "gennaio",
    "febbraio",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "settembre",
    "ottobre",
    "dicembre",
];

const ORDINALS: &[&str] = &[
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
    "thirtieth",
    "primero",
    "premier",
];

fn is_month(t: &Token) -> bool {
    if t.text.is_ascii() {
        t.is_any(MONTHS)
    } else {
        let l = t.text.to_lowercase();
        MONTHS.contains(&l.as_str())
    }
}

/// A word that can be part of a date: numbers, ordinals, months.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DatePart {
    Month,
    /// A four-digit year, or a spoken one ("nineteen eighty-five").
    Year(u32),
    Number,
    /// "of", "the", "de": only inside a date.
    Glue,
}

fn date_part(t: &Token) -> Option<DatePart> {
    if is_month(t) {
        return Some(DatePart::Month);
    }
    if t.is_ascii_digits() {
        return match t.text.len() {
            1 | 2 => Some(DatePart::Number),
            4 => t.text.parse().ok().map(DatePart::Year),
            _ => None,
        };
    }
    let lower = t.text.to_ascii_lowercase();
    let ordinal_digits = ["st", "nd", "rd", "th"].iter().any(|s| {
        lower
            .strip_suffix(s)
            .is_some_and(|d| !d.is_empty() && d.len() <= 2 && d.bytes().all(|b| b.is_ascii_digit()))
    });
    if ordinal_digits || t.is_any(ORDINALS) || unit(t).is_some() || tens(t).is_some() {
        return Some(DatePart::Number);
    }
    if teen(t).is_some() || t.is_any(&["thousand", "hundred"]) {
        // "nineteen" starts a spoken year as often as it is a day.
        return Some(DatePart::Year(0));
    }
    if t.is_any(&["of", "the", "de", "del", "di", "le", "el", "im", "am", "in"]) {
        return Some(DatePart::Glue);
    }
    None
}

fn date_gap(gap: &str) -> bool {
    gap.chars().count() <= 3
        && gap
            .chars()
            .all(|c| c.is_whitespace() || matches!(c, '/' | '.' | '-' | ','))
}

/// The oldest year a date is taken for a birth date without being told:
/// appointments and invoices are recent, callers are older.
const BIRTH_YEAR_MAX: u32 = 2012;

/// Dates said where a birth date is asked for or named ("born on …", "my
/// date of birth is …", or right after the receptionist asked), and any full
/// date with a year before 2013 (an appointment is never that old).
pub fn birth_dates(text: &str, toks: &[Token], m: &Mentions, topic: Topic, out: &mut Vec<Finding>) {
    let mut i = 0;
    while i < toks.len() {
        if !matches!(date_part(&toks[i]), Some(p) if p != DatePart::Glue) {
            i += 1;
            continue;
        }
        let mut parts = vec![date_part(&toks[i]).unwrap_or(DatePart::Glue)];
        let mut j = i + 1;
        while j < toks.len() && date_gap(&text[toks[j - 1].end..toks[j].start]) {
            match date_part(&toks[j]) {
                Some(p) => parts.push(p),
                None => break,
            }
            j += 1;
        }
        // Trailing glue ("… of") is not part of the date.
        while parts.last() == Some(&DatePart::Glue) {
            parts.pop();
            j -= 1;
        }
        let (start, end) = (toks[i].start, toks[j - 1].end);
        let meaningful = parts.iter().filter(|p| **p != DatePart::Glue).count();
        let month = parts.contains(&DatePart::Month);
        let year = parts.iter().any(|p| matches!(p, DatePart::Year(_)));
        let old_year = parts
            .iter()
            .any(|p| matches!(p, DatePart::Year(y) if (1900..=BIRTH_YEAR_MAX).contains(y)));
        let numeric_date =
            meaningful == 3 && !month && text[start..end].contains(['/', '.', '-']) && old_year;
        let said_birth = topic.birth
            || near_before(&m.birth, start)
            // "… is my birthday" after the date.
            || m.birth.iter().any(|&p| p >= end && p - end <= 30);
        let dated = month || year || meaningful >= 2;
        let full_old = old_year && (month || numeric_date);
        if (said_birth && dated && (meaningful >= 2 || year)) || full_old {
            push(out, Kind::DateOfBirth, start, end);
        }
        i = j.max(i + 1);
    }
}

const STREET_TYPES: &[&str] = &[
    "street",
    "avenue",
    "road",
    "boulevard",
    "lane",
    "drive",
    "court",
    "way",
    "place",
    "terrace",
    "circle",
    "parkway",
    "highway",
    "square",
    "trail",
    "crescent",
];
const STREET_ABBREVIATIONS: &[&str] = &[
    "st", "ave", "rd", "blvd", "ln", "dr", "ct", "pl", "pkwy", "hwy", "ter",
];
const UNIT_WORDS: &[&str] = &["apt", "apartment", "suite", "unit", "floor"];
const ROMANCE_STREETS: &[&str] = &[
    "rue", "calle", "avenida", "via", "viale", "piazza", "corso", "chemin", "carrer", "rua",
    "plaza", "paseo", "allée",
];
const GERMAN_ENDINGS: &[&str] = &["straße", "strasse", "str", "weg", "gasse", "allee", "platz"];
const NAME_GLUE: &[&str] = &[
    "de", "la", "del", "du", "des", "di", "della", "le", "los", "las",
];

fn house_number(t: &Token) -> bool {
    let digits = t.text.bytes().take_while(u8::is_ascii_digit).count();
    (1..=6).contains(&digits) && t.text.len() - digits <= 1
}

fn spoken_number(t: &Token) -> bool {
    unit(t).is_some() || teen(t).is_some() || tens(t).is_some()
}

/// Extends an address over "apt 4B" / "suite 200".
fn with_unit(toks: &[Token], last: usize) -> usize {
    match (toks.get(last + 1), toks.get(last + 2)) {
        (Some(w), Some(n))
            if w.is_any(UNIT_WORDS) && n.text.bytes().any(|b| b.is_ascii_digit()) =>
        {
            last + 2
        }
        _ => last,
    }
}

pub fn addresses(text: &str, toks: &[Token], out: &mut Vec<Finding>) {
    // An all-lowercase transcript gives no capital letters to go by.
    let cased = text.chars().any(char::is_uppercase);
    let name_ok = |t: &Token| {
        t.text.chars().all(char::is_alphabetic) && (!cased || t.starts_upper())
            || t.text.ends_with("th") && t.text.bytes().next().is_some_and(|b| b.is_ascii_digit())
    };
    for i in 0..toks.len() {
        let t = &toks[i];
        // "12 Harbor View Drive", "fourteen Elm St".
        if house_number(t) || spoken_number(t) {
            for n in 1..=3 {
                let Some(kind) = toks.get(i + n + 1) else {
                    break;
                };
                if !toks[i + 1..=i + n].iter().all(name_ok) {
                    break;
                }
                let full = kind.is_any(STREET_TYPES);
                let abbrev = kind.is_any(STREET_ABBREVIATIONS) && cased;
                if full || abbrev {
                    let last = with_unit(toks, i + n + 1);
                    push(out, Kind::Address, t.start, toks[last].end);
                    break;
                }
            }
        }
        // "Hauptstraße 5", "Lindenweg 12a".
        let lower = t.text.to_lowercase();
        let german = GERMAN_ENDINGS
            .iter()
            .any(|e| lower.ends_with(e) && lower.len() >= e.len() + 3)
            && t.starts_upper();
        if german {
            if let Some(n) = toks.get(i + 1).filter(|n| house_number(n)) {
                push(out, Kind::Address, t.start, n.end);
            }
        }
        // "12 rue de la Paix", "calle Mayor 5", "via Roma 12".
        if t.is_any(ROMANCE_STREETS) || ROMANCE_STREETS.contains(&lower.as_str()) {
            let before = i > 0 && house_number(&toks[i - 1]);
            let mut j = i + 1;
            let mut named = false;
            while j < toks.len() && j <= i + 5 {
                let w = &toks[j];
                if w.is_any(NAME_GLUE) {
                    j += 1;
                } else if w.starts_upper() && w.text.chars().all(char::is_alphabetic) {
                    named = true;
                    j += 1;
                } else {
                    break;
                }
            }
            let after = named && toks.get(j).is_some_and(house_number);
            if named && (before || after) {
                let start = if before { toks[i - 1].start } else { t.start };
                let end = if after { toks[j].end } else { toks[j - 1].end };
                push(out, Kind::Address, start, end);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::detect::{apply, find, Level, Topic};

    fn s(text: &str) -> String {
        apply(text, &find(text, Level::Strict, Topic::default()))
    }

    #[test]
    fn strict_kinds() {
        assert_eq!(s("mail me at ada.l@example.co.uk."), "mail me at [email].");
        assert_eq!(s("it's ada dot king at gmail dot com"), "it's [email]");
        assert_eq!(
            s("I was born on March 3rd, 1985."),
            "I was born on [date of birth]."
        );
        assert_eq!(
            s("Can we do March 3rd at 10?"),
            "Can we do March 3rd at 10?"
        );
        assert_eq!(
            s("I live at 12 Harbor View Drive, apt 4B"),
            "I live at [address]"
        );
        assert_eq!(
            s("Ich wohne in der Hauptstraße 5."),
            "Ich wohne in der [address]."
        );
        assert_eq!(s("J'habite 12 rue de la Paix"), "J'habite [address]");
        assert_eq!(s("Vivo en calle Mayor 5"), "Vivo en [address]");
    }

    #[test]
    fn the_question_makes_the_answer_a_birth_date() {
        let t = Topic::of("And what's your date of birth?");
        let a = "March third, nineteen eighty-five";
        assert_eq!(apply(a, &find(a, Level::Strict, t)), "[date of birth]");
        assert_eq!(
            apply(a, &find(a, Level::Standard, t)),
            a,
            "standard keeps dates"
        );
    }
}
