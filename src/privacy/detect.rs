//! Finding sensitive data in one line of text: cards, national ids, bank
//! numbers (every level but `off`), and in `strict` also dates of birth,
//! email addresses and street addresses (`strict.rs`).

use serde::{Deserialize, Serialize};

use super::digits::{card_like, runs, ssn_valid, Run};
use super::strict;
use super::tokens::{tokenize, Token};

pub use crate::config::RedactionLevel as Level;

/// What a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Card,
    Ssn,
    Iban,
    BankAccount,
    DateOfBirth,
    Email,
    Address,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Card,
        Kind::Ssn,
        Kind::Iban,
        Kind::BankAccount,
        Kind::DateOfBirth,
        Kind::Email,
        Kind::Address,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Card => "card",
            Kind::Ssn => "ssn",
            Kind::Iban => "iban",
            Kind::BankAccount => "bank account",
            Kind::DateOfBirth => "date of birth",
            Kind::Email => "email",
            Kind::Address => "address",
        }
    }
}

/// One piece of sensitive data: its kind and byte span in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    /// The last four digits, kept in the placeholder for cards and accounts.
    pub last4: Option<String>,
}

impl Finding {
    pub fn placeholder(&self) -> String {
        match &self.last4 {
            Some(l) => format!("[{} ••••{l}]", self.kind.name()),
            None => format!("[{}]", self.kind.name()),
        }
    }
}

/// What the conversation around a line is about: the receptionist asking
/// "and your date of birth?" makes the caller's bare answer one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Topic {
    pub card: bool,
    pub ssn: bool,
    pub account: bool,
    pub birth: bool,
}

const CARD_WORDS: &[&str] = &[
    "card",
    "visa",
    "mastercard",
    "amex",
    "american express",
    "discover",
    "credit",
    "debit",
    "tarjeta",
    "carte",
    "karte",
    "carta",
];
const SSN_WORDS: &[&str] = &[
    "social security",
    "national insurance",
    "dni",
    "nie",
    "ssn",
    "social",
    "seguro social",
    "sécurité sociale",
    "sozialversicherung",
    "tax id",
    "itin",
];
const ACCOUNT_WORDS: &[&str] = &[
    "account",
    "routing",
    "bank account",
    "acct",
    "sort code",
    "checking",
    "savings account",
    "kontonummer",
    "konto",
    "numéro de compte",
    "número de cuenta",
    "cuenta",
];
pub(super) const BIRTH_WORDS: &[&str] = &[
    "born",
    "birth",
    "dob",
    "d.o.b",
    "geboren",
    "geburt",
    "naissance",
    "né le",
    "née le",
    "nacimiento",
    "nací",
    "nacido",
    "nacida",
    "cumpleaños",
    "nascita",
    "nato il",
    "nata il",
];

/// Where in a (lowercased) line each topic's words occur.
pub(super) struct Mentions {
    card: Vec<usize>,
    ssn: Vec<usize>,
    account: Vec<usize>,
    pub(super) birth: Vec<usize>,
}

/// German compounds carry the word inside ("Kreditkarte", "Geburtsdatum").
const COMPOUNDED: &[&str] = &["karte", "konto", "geburt"];

/// Where `words` occur as words: not inside another ("associated" is not
/// "social", "denied" not "nie"); short ones may take a plural `s`.
fn positions(lower: &str, words: &[&str]) -> Vec<usize> {
    let mut out = Vec::new();
    for w in words {
        for (i, _) in lower.match_indices(w) {
            let before = lower[..i].chars().next_back();
            let after = lower[i + w.len()..].chars().next();
            let starts = COMPOUNDED.contains(w) || !before.is_some_and(char::is_alphanumeric);
            let ends =
                w.chars().count() > 4 || !after.is_some_and(|c| c.is_alphanumeric() && c != 's');
            if starts && ends {
                out.push(i);
            }
        }
    }
    out
}

impl Mentions {
    fn of(text: &str) -> Mentions {
        let lower = text.to_lowercase();
        Mentions {
            card: positions(&lower, CARD_WORDS),
            ssn: positions(&lower, SSN_WORDS),
            account: positions(&lower, ACCOUNT_WORDS),
            birth: positions(&lower, BIRTH_WORDS),
        }
    }
}

/// How far before a number its topic word may be ("my card number is …").
const NEAR: usize = 80;

pub(super) fn near_before(at: &[usize], start: usize) -> bool {
    at.iter().any(|&p| p <= start && start - p <= NEAR)
}

/// "…, that's my social security number" after the number.
pub(super) fn near_after(at: &[usize], end: usize) -> bool {
    at.iter().any(|&p| p >= end && p - end <= 40)
}

impl Topic {
    /// The topics a line talks about, to prime the next caller line.
    pub fn of(text: &str) -> Topic {
        let m = Mentions::of(text);
        Topic {
            card: !m.card.is_empty(),
            ssn: !m.ssn.is_empty(),
            account: !m.account.is_empty(),
            birth: !m.birth.is_empty(),
        }
    }

    pub fn any(&self) -> bool {
        self.card || self.ssn || self.account || self.birth
    }
}

fn last4(digits: &str) -> Option<String> {
    Some(digits[digits.len().saturating_sub(4)..].to_string())
}

fn finding(kind: Kind, start: usize, end: usize, digits: Option<&str>) -> Finding {
    Finding {
        kind,
        start,
        end,
        last4: digits.and_then(last4),
    }
}

/// A card inside a longer run: a prefix or suffix of whole groups (an
/// expiry or CVV read on, a "my number is" read before).
fn card_within(run: &Run) -> Option<Finding> {
    let d = run.digits.as_str();
    for &(at, _, byte_end) in &run.groups {
        if at < d.len() && card_like(&d[..at]) {
            return Some(finding(Kind::Card, run.start, byte_end, Some(&d[..at])));
        }
    }
    for pair in run.groups.windows(2) {
        let (at, (_, byte_start, _)) = (pair[0].0, pair[1]);
        if card_like(&d[at..]) {
            return Some(finding(Kind::Card, byte_start, run.end, Some(&d[at..])));
        }
    }
    None
}

fn classify(run: &Run, m: &Mentions, topic: Topic) -> Option<Finding> {
    let n = run.digits.len();
    let d = run.digits.as_str();
    let ssn_shape = run.written == [3, 2, 4];
    let ssn_said = topic.ssn || near_before(&m.ssn, run.start) || near_after(&m.ssn, run.end);
    if n == 9 && ssn_valid(d) && (ssn_shape && run.dashed || ssn_said) {
        return Some(finding(Kind::Ssn, run.start, run.end, None));
    }
    if card_like(d) || (13..=19).contains(&n) && (topic.card || near_before(&m.card, run.start)) {
        return Some(finding(Kind::Card, run.start, run.end, Some(d)));
    }
    if n > 13 {
        if let Some(f) = card_within(run) {
            return Some(f);
        }
    }
    if (6..=17).contains(&n) && (topic.account || near_before(&m.account, run.start)) {
        return Some(finding(Kind::BankAccount, run.start, run.end, Some(d)));
    }
    None
}

/// Spanish DNI/NIE (8 digits and a check letter; X/Y/Z and 7 digits) and
/// UK National Insurance numbers (two letters, six digits, A–D), written
/// as one word or in groups. Reported as `ssn`: a national identifier.
fn national_ids(text: &str, toks: &[Token], out: &mut Vec<Finding>) {
    let mut i = 0;
    while i < toks.len() {
        match national_id_at(text, toks, i) {
            Some(last) => {
                out.push(finding(Kind::Ssn, toks[i].start, toks[last].end, None));
                i = last + 1;
            }
            None => i += 1,
        }
    }
}

/// The last token of a national id starting at `toks[i]`: up to five
/// tokens joined by spaces or dashes ("QQ 12 34 56 C").
fn national_id_at(text: &str, toks: &[Token], i: usize) -> Option<usize> {
    const DNI_LETTERS: &[u8] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let dni = |digits: &[u8], letter: u8| {
        let n: u64 = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        DNI_LETTERS[(n % 23) as usize] == letter
    };
    let mut compact = String::new();
    for j in i..toks.len().min(i + 5) {
        if j > i && !matches!(&text[toks[j - 1].end..toks[j].start], " " | "-") {
            return None;
        }
        compact.push_str(&toks[j].text.to_ascii_uppercase());
        let b = compact.as_bytes();
        let found = match b.len() {
            9 if b[..8].iter().all(u8::is_ascii_digit) => dni(&b[..8], b[8]),
            9 if matches!(b[0], b'X' | b'Y' | b'Z') && b[1..8].iter().all(u8::is_ascii_digit) => {
                let mut d = vec![b"012"[(b[0] - b'X') as usize]];
                d.extend_from_slice(&b[1..8]);
                dni(&d, b[8])
            }
            _ => false,
        } || b.len() == 9
            && b[..2].iter().all(u8::is_ascii_alphabetic)
            && b[2..8].iter().all(u8::is_ascii_digit)
            && matches!(b[8], b'A'..=b'D');
        if found {
            return Some(j);
        }
        if b.len() >= 9 {
            return None;
        }
    }
    None
}

/// IBANs: two letters, two check digits, up to 30 more letters or digits
/// (grouped by fours or not), valid by ISO 7064 mod 97.
fn ibans(text: &str, toks: &[Token], out: &mut Vec<Finding>) {
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i].text.as_bytes();
        let head = t.len() >= 4
            && t[..2].iter().all(u8::is_ascii_alphabetic)
            && t[2..4].iter().all(u8::is_ascii_digit);
        if !head {
            i += 1;
            continue;
        }
        let mut compact = toks[i].text.to_ascii_uppercase();
        let mut ends = vec![(compact.len(), toks[i].end, i)];
        let mut j = i + 1;
        while let Some(next) = toks.get(j) {
            let gap = &text[toks[j - 1].end..next.start];
            if gap != " " && gap != "-" || !next.text.bytes().all(|b| b.is_ascii_alphanumeric()) {
                break;
            }
            if compact.len() + next.text.len() > 34 {
                break;
            }
            compact.push_str(&next.text.to_ascii_uppercase());
            ends.push((compact.len(), next.end, j));
            j += 1;
        }
        let found = ends
            .iter()
            .rev()
            .find(|(len, _, _)| *len >= 15 && iban_valid(&compact[..*len]));
        match found {
            Some(&(len, end, last)) => {
                out.push(finding(
                    Kind::Iban,
                    toks[i].start,
                    end,
                    Some(&compact[..len]),
                ));
                i = last + 1;
            }
            None => i += 1,
        }
    }
}

fn iban_valid(iban: &str) -> bool {
    let (head, rest) = iban.split_at(4);
    let mut rem: u32 = 0;
    for c in rest.chars().chain(head.chars()) {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rem = if v < 10 {
            (rem * 10 + v) % 97
        } else {
            (rem * 100 + v) % 97
        };
    }
    rem == 1
}

/// Everything sensitive in `text` at `level`, given what the conversation
/// is about, sorted and without overlaps.
pub fn find(text: &str, level: Level, topic: Topic) -> Vec<Finding> {
    if level == Level::Off || text.is_empty() {
        return Vec::new();
    }
    let toks = tokenize(text);
    let m = Mentions::of(text);
    let mut out = Vec::new();
    ibans(text, &toks, &mut out);
    national_ids(text, &toks, &mut out);
    for run in runs(text, &toks) {
        if let Some(f) = classify(&run, &m, topic) {
            out.push(f);
        }
    }
    if level == Level::Strict {
        strict::emails(text, &toks, &mut out);
        strict::birth_dates(text, &toks, &m, topic, &mut out);
        strict::addresses(text, &toks, &mut out);
    }
    // Links are kept whole: a recording URL holds a port and
    // `/2010-04-01/` (Twilio's API version), which are neither cards nor
    // birth dates, and a broken link helps nobody.
    let links = links(text);
    if !links.is_empty() {
        out.retain(|f| !links.iter().any(|&(s, e)| f.start < e && f.end > s));
    }
    merge(out)
}

/// Byte spans of `http(s)://…` links, up to the next whitespace.
fn links(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for scheme in ["http://", "https://"] {
        for (i, _) in text.match_indices(scheme) {
            let end = text[i..]
                .find(char::is_whitespace)
                .map_or(text.len(), |n| i + n);
            out.push((i, end));
        }
    }
    out
}

/// Sorted by start; of two overlapping findings the earlier (then longer)
/// wins and the later one's span is folded into it.
fn merge(mut v: Vec<Finding>) -> Vec<Finding> {
    v.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
    let mut out: Vec<Finding> = Vec::with_capacity(v.len());
    for f in v {
        match out.last_mut() {
            Some(last) if f.start < last.end => last.end = last.end.max(f.end),
            _ => out.push(f),
        }
    }
    out
}

/// `text` with every finding replaced by its placeholder.
pub fn apply(text: &str, findings: &[Finding]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in findings {
        out.push_str(&text[at..f.start]);
        out.push_str(&f.placeholder());
        at = f.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str, level: Level) -> String {
        apply(text, &find(text, level, Topic::default()))
    }

    #[test]
    fn cards_written_and_spoken() {
        assert_eq!(
            r("my card is 4242 4242 4242 4242 thanks", Level::Standard),
            "my card is [card ••••4242] thanks"
        );
        assert_eq!(
            r(
                "four two four two four two four two four two four two four two four two",
                Level::Standard
            ),
            "[card ••••4242]"
        );
        assert_eq!(
            r("order 1234 5678 9012 3456", Level::Standard),
            "order 1234 5678 9012 3456"
        );
        assert_eq!(r("4242 4242 4242 4242", Level::Off), "4242 4242 4242 4242");
    }

    #[test]
    fn ssn_iban_and_account() {
        assert_eq!(r("SSN 123-45-6789.", Level::Standard), "SSN [ssn].");
        assert_eq!(r("call 555-123-4567", Level::Standard), "call 555-123-4567");
        assert_eq!(
            r("IBAN DE89 3704 0044 0532 0130 00 please", Level::Standard),
            "IBAN [iban ••••3000] please"
        );
        assert_eq!(
            r("account number 00123456789", Level::Standard),
            "account number [bank account ••••6789]"
        );
    }

    #[test]
    fn links_are_kept_whole() {
        // Port 40005 and 20100401 make a Luhn-valid 13-digit run.
        let url = "Recording: http://127.0.0.1:40005/2010-04-01/Accounts/AC1/Recordings/RE1 card 4242 4242 4242 4242";
        assert_eq!(
            r(url, Level::Strict),
            "Recording: http://127.0.0.1:40005/2010-04-01/Accounts/AC1/Recordings/RE1 card [card ••••4242]"
        );
    }

    #[test]
    fn topic_words_are_whole_words() {
        let denied = "my card was denied, number 123 45 6789";
        assert!(find(denied, Level::Standard, Topic::default()).is_empty());
        assert!(!Topic::of("it's associated with my plan").ssn);
        assert!(Topic::of("die Kreditkarte").card);
        assert!(Topic::of("my cards").card);
    }

    #[test]
    fn topic_of_the_question_primes_the_answer() {
        let t = Topic::of("Could I have your social security number?");
        assert!(t.ssn);
        assert_eq!(
            apply("123 45 6789", &find("123 45 6789", Level::Standard, t)),
            "[ssn]"
        );
    }
}
