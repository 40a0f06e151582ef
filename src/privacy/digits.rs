//! Numbers read out in a transcript line, written ("4242 4242") or spoken
//! ("four two four two", "double four", "forty-two"), joined into runs of
//! digits with the byte span they cover; and the checks on them (Luhn,
//! SSN shape).

use super::tokens::{filler, repeat, teen, tens, unit, Token};

/// Digits read out together: one token or a few make a group, groups with
/// only light separators between them make a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub digits: String,
    pub start: usize,
    pub end: usize,
    /// Each group: (digits so far at its end, its byte start, its byte end).
    pub groups: Vec<(usize, usize, usize)>,
    /// Digits per written token, e.g. `[3, 2, 4]` for `123-45-6789`
    /// (empty once a spoken word is part of the run).
    pub written: Vec<usize>,
    /// The separator text between written tokens, all `-` for `123-45-6789`.
    pub dashed: bool,
}

/// The digits of the number word(s) at `toks[i]`, and how many tokens they use.
fn digits_at(toks: &[Token], i: usize) -> Option<(String, usize, bool)> {
    let t = &toks[i];
    if t.is_ascii_digits() {
        return Some((t.text.to_string(), 1, true));
    }
    if let Some(n) = repeat(t) {
        let d = toks.get(i + 1).and_then(unit)?;
        return Some((char::from(b'0' + d).to_string().repeat(n), 2, false));
    }
    if let Some(n) = teen(t) {
        return Some((n.to_string(), 1, false));
    }
    if let Some(n) = tens(t) {
        if let Some(u) = toks.get(i + 1).and_then(unit).filter(|u| *u > 0) {
            return Some((format!("{n}{u}"), 2, false));
        }
        return Some((format!("{n}0"), 1, false));
    }
    unit(t).map(|d| (char::from(b'0' + d).to_string(), 1, false))
}

/// Separators that keep a number going: spaces, dashes, dots, commas.
fn light_gap(gap: &str) -> bool {
    gap.chars().count() <= 3
        && gap
            .chars()
            .all(|c| c.is_whitespace() || matches!(c, '-' | '.' | ',' | '/' | '(' | ')' | '…'))
}

/// Every run of digits in `text` (given its tokens), in order.
pub fn runs(text: &str, toks: &[Token]) -> Vec<Run> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let Some((first, used, written)) = digits_at(toks, i) else {
            i += 1;
            continue;
        };
        let mut run = Run {
            digits: first,
            start: toks[i].start,
            end: toks[i + used - 1].end,
            groups: Vec::new(),
            written: Vec::new(),
            dashed: true,
        };
        let mut all_written = written;
        if written {
            run.written.push(run.digits.len());
        }
        run.groups.push((run.digits.len(), run.start, run.end));
        let mut j = i + used;
        while let Some(next) = toks.get(j) {
            let gap = &text[run.end..next.start];
            if !light_gap(gap) {
                break;
            }
            // One filler word ("uh", "and then") may sit between groups.
            let (k, gap2) = if filler(next) {
                match toks.get(j + 1) {
                    Some(after) if light_gap(&text[next.end..after.start]) => (j + 1, ""),
                    _ => break,
                }
            } else {
                (j, gap)
            };
            let Some((more, used, written)) = digits_at(toks, k) else {
                break;
            };
            if written && all_written {
                run.written.push(more.len());
                run.dashed &= gap2.trim() == "-";
            } else {
                all_written = false;
            }
            run.digits.push_str(&more);
            run.end = toks[k + used - 1].end;
            run.groups.push((run.digits.len(), toks[k].start, run.end));
            j = k + used;
        }
        if !all_written {
            run.written.clear();
            run.dashed = false;
        }
        out.push(run);
        i = j;
    }
    out
}

/// The Luhn checksum of payment card numbers.
pub fn luhn(digits: &str) -> bool {
    let mut sum = 0;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum % 10 == 0
}

/// A card number by length, issuer prefix (2–6) and checksum.
pub fn card_like(digits: &str) -> bool {
    (13..=19).contains(&digits.len()) && matches!(digits.as_bytes()[0], b'2'..=b'6') && luhn(digits)
}

/// The parts of an SSN that are never issued (000, 666, 9xx; 00; 0000).
pub fn ssn_valid(digits: &str) -> bool {
    digits.len() == 9
        && !matches!(&digits[..3], "000" | "666")
        && !digits.starts_with('9')
        && &digits[3..5] != "00"
        && &digits[5..] != "0000"
}

#[cfg(test)]
mod tests {
    use super::super::tokens::tokenize;
    use super::*;

    fn run_digits(text: &str) -> Vec<String> {
        runs(text, &tokenize(text))
            .into_iter()
            .map(|r| r.digits)
            .collect()
    }

    #[test]
    fn spoken_and_written_numbers_make_runs() {
        assert_eq!(
            run_digits("it's four two four two, uh, double four forty-two"),
            ["42424442"]
        );
        assert_eq!(run_digits("4242-4242 4242 4242"), ["4242424242424242"]);
        assert_eq!(run_digits("at 3 pm, not 4"), ["3", "4"]);
        let r = &runs("123-45-6789", &tokenize("123-45-6789"))[0];
        assert_eq!(r.written, [3, 2, 4]);
        assert!(r.dashed);
    }

    #[test]
    fn checksums() {
        assert!(luhn("4242424242424242"));
        assert!(!luhn("4242424242424241"));
        assert!(card_like("378282246310005"));
        assert!(!card_like("1234567812345670"), "no issuer starts with 1");
        assert!(ssn_valid("123456789"));
        assert!(!ssn_valid("666121234"));
        assert!(!ssn_valid("900121234"));
    }
}
