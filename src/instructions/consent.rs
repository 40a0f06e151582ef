//! Which callers must hear that the call is recorded, by area code.
//!
//! Why: in most US states one party's consent is enough to record a call,
//! but in the "all-party" (two-party) consent states everyone on the line
//! must be told. A caller's location is not known, so the area code of the
//! caller ID stands in for it. That is a heuristic (numbers move with their
//! owners), which is why `recording = "always"` exists for businesses that
//! want no doubt.
//!
//! Source: the states are those listed as requiring all-party consent by the
//! Reporters Committee for Freedom of the Press ("Reporter's Recording
//! Guide"); the area codes are NANPA's assignments for those states
//! (nationalnanpa.com, area code maps), including overlays announced for
//! them — a code not yet in service costs nothing here. Check both when the
//! law or the numbering plan changes.

/// The all-party-consent states and their area codes.
const STATES: &[(&str, &[u16])] = &[
    (
        "CA",
        &[
            209, 213, 279, 310, 323, 341, 350, 357, 369, 408, 415, 424, 442, 510, 530, 559, 562,
            619, 626, 628, 650, 657, 661, 669, 707, 714, 738, 747, 760, 805, 818, 820, 831, 837,
            840, 858, 909, 916, 925, 949, 951,
        ],
    ),
    ("CT", &[203, 475, 860, 959]),
    (
        "FL",
        &[
            239, 305, 321, 324, 352, 386, 407, 448, 561, 645, 656, 689, 727, 728, 754, 772, 786,
            813, 850, 863, 904, 941, 954,
        ],
    ),
    (
        "IL",
        &[
            217, 224, 309, 312, 331, 447, 464, 618, 630, 708, 730, 773, 779, 815, 847, 861, 872,
        ],
    ),
    ("MD", &[227, 240, 301, 410, 443, 667]),
    ("MA", &[339, 351, 413, 508, 617, 774, 781, 857, 978]),
    (
        "MI",
        &[
            231, 248, 269, 313, 517, 586, 616, 679, 734, 810, 906, 947, 989,
        ],
    ),
    ("MT", &[406]),
    ("NV", &[702, 725, 775]),
    ("NH", &[603]),
    (
        "PA",
        &[
            215, 223, 267, 272, 412, 445, 484, 570, 582, 610, 717, 724, 814, 835, 878,
        ],
    ),
    ("WA", &[206, 253, 360, 425, 509, 564]),
];

/// The area code of a North American (+1) number in E.164 form.
pub fn area_code(number: &str) -> Option<u16> {
    let digits = number.trim().strip_prefix("+1")?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.get(..3)?.parse().ok()
}

/// The two-party-consent state a number's area code belongs to, if any.
pub fn two_party_state(number: &str) -> Option<&'static str> {
    let code = area_code(number)?;
    STATES
        .iter()
        .find(|(_, codes)| codes.contains(&code))
        .map(|(state, _)| *state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_party_states_by_area_code() {
        let cases = [
            ("+14155550100", Some("CA")),
            ("+13105550100", Some("CA")),
            ("+18605550100", Some("CT")),
            ("+13055550100", Some("FL")),
            ("+13125550100", Some("IL")),
            ("+14105550100", Some("MD")),
            ("+16175550100", Some("MA")),
            ("+13135550100", Some("MI")),
            ("+14065550100", Some("MT")),
            ("+17025550100", Some("NV")),
            ("+16035550100", Some("NH")),
            ("+12155550100", Some("PA")),
            ("+12065550100", Some("WA")),
            // One-party states.
            ("+12125550100", None), // New York
            ("+15125550100", None), // Texas
            ("+14045550100", None), // Georgia
            ("+12075550100", None), // Maine
            // Not a North American number, or not a number at all.
            ("+442079460000", None),
            ("+1415555010", None),
            ("anonymous", None),
            ("", None),
        ];
        for (number, state) in cases {
            assert_eq!(two_party_state(number), state, "{number}");
        }
    }

    #[test]
    fn the_table_has_no_duplicates_and_valid_codes() {
        let mut all: Vec<u16> = STATES.iter().flat_map(|(_, c)| c.iter().copied()).collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "an area code is listed twice");
        // NANP area codes: first digit 2-9, and no N11 service codes.
        assert!(all
            .iter()
            .all(|&c| (200..=999).contains(&c) && c % 100 != 11));
        assert_eq!(STATES.len(), 12);
    }
}
