//! Words of a transcript line with their byte spans, and what a word means
//! as a digit: callers read card numbers as "four two four two", "double
//! four" or "forty-two", in more than one language.

/// One maximal run of alphanumeric characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub text: &'a str,
    pub start: usize,
    pub end: usize,
}

impl Token<'_> {
    /// Case-insensitive comparison without allocating (ASCII words only).
    pub fn is(&self, word: &str) -> bool {
        self.text.eq_ignore_ascii_case(word)
    }

    pub fn is_any(&self, words: &[&str]) -> bool {
        words.iter().any(|w| self.is(w))
    }

    pub fn is_ascii_digits(&self) -> bool {
        self.text.bytes().all(|b| b.is_ascii_digit())
    }

    pub fn starts_upper(&self) -> bool {
        self.text.chars().next().is_some_and(char::is_uppercase)
    }
}

/// Splits `text` into words; everything that is not alphanumeric separates.
pub fn tokenize(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            out.push(Token {
                text: &text[s..i],
                start: s,
                end: i,
            });
        }
    }
    if let Some(s) = start {
        out.push(Token {
            text: &text[s..],
            start: s,
            end: text.len(),
        });
    }
    out
}

/// Single digits as words (English, Spanish, French, German, Italian).
const UNITS: &[(&str, u8)] = &[
    ("zero", 0),
    ("oh", 0),
    ("nought", 0),
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("cero", 0),
    ("uno", 1),
    ("dos", 2),
    ("tres", 3),
    ("cuatro", 4),
    ("cinco", 5),
    ("seis", 6),
    ("siete", 7),
    ("ocho", 8),
    ("nueve", 9),
    ("zéro", 0),
    ("deux", 2),
    ("trois", 3),
    ("quatre", 4),
    ("cinq", 5),
    ("sept", 7),
    ("huit", 8),
    ("neuf", 9),
    ("null", 0),
    ("eins", 1),
    ("zwei", 2),
    ("zwo", 2),
    ("drei", 3),
    ("vier", 4),
    ("fünf", 5),
    ("sechs", 6),
    ("sieben", 7),
    ("acht", 8),
    ("neun", 9),
    ("due", 2),
    ("tre", 3),
    ("quattro", 4),
    ("cinque", 5),
    ("sei", 6),
    ("sette", 7),
    ("otto", 8),
    ("nove", 9),
];

const TEENS: &[(&str, u8)] = &[
    ("ten", 10),
    ("eleven", 11),
    ("twelve", 12),
    ("thirteen", 13),
    ("fourteen", 14),
    ("fifteen", 15),
    ("sixteen", 16),
    ("seventeen", 17),
    ("eighteen", 18),
    ("nineteen", 19),
];

const TENS: &[(&str, u8)] = &[
    ("twenty", 2),
    ("thirty", 3),
    ("forty", 4),
    ("fifty", 5),
    ("sixty", 6),
    ("seventy", 7),
    ("eighty", 8),
    ("ninety", 9),
];

fn lookup(table: &[(&str, u8)], t: &Token) -> Option<u8> {
    // Non-ASCII words ("zéro", "fünf") compare exactly after lowercasing
    // the first letter's case only when needed; ASCII ones without allocating.
    table.iter().find_map(|(w, d)| {
        let same = if t.text.is_ascii() {
            t.is(w)
        } else {
            t.text.to_lowercase() == *w
        };
        same.then_some(*d)
    })
}

pub fn unit(t: &Token) -> Option<u8> {
    lookup(UNITS, t)
}

pub fn teen(t: &Token) -> Option<u8> {
    lookup(TEENS, t)
}

pub fn tens(t: &Token) -> Option<u8> {
    lookup(TENS, t)
}

/// Words that repeat the next digit: "double four" is 44.
pub fn repeat(t: &Token) -> Option<usize> {
    if t.is("double") || t.is("doble") || t.is("doppel") {
        Some(2)
    } else if t.is("triple") || t.is("tripel") {
        Some(3)
    } else {
        None
    }
}

/// Words a caller says between digit groups without ending the number.
pub fn filler(t: &Token) -> bool {
    t.is_any(&["uh", "um", "umm", "er", "erm", "ah", "dash", "and", "then"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_spans() {
        let t = tokenize("Card: 4242-4242, fünf!");
        let words: Vec<_> = t.iter().map(|t| t.text).collect();
        assert_eq!(words, ["Card", "4242", "4242", "fünf"]);
        assert_eq!(&"Card: 4242-4242, fünf!"[t[3].start..t[3].end], "fünf");
        assert_eq!(unit(&t[3]), Some(5));
        assert!(tokenize("").is_empty());
        assert!(tokenize(" ,. ").is_empty());
    }
}
