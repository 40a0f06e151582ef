//! The conversation so far, kept so a fresh model connection can be resumed
//! with it after a failure or a planned recycle.

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    Caller,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Turn {
    pub speaker: Speaker,
    pub text: String,
    /// The model's item id, to match a later truncate or transcript.
    #[serde(skip)]
    pub item_id: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Transcript {
    turns: Vec<Turn>,
    /// Assistant items cut by a barge-in whose transcript has not arrived
    /// yet: (item id, share heard).
    cut: Vec<(String, f32)>,
}

/// A transcript long enough to matter is capped when replayed, so a resumed
/// session stays far below the provider's context window.
const REPLAY_MAX_TURNS: usize = 40;

impl Transcript {
    pub fn turns(&self) -> &[Turn] {
        &self.turns
    }

    /// Adds a turn; an assistant item cut by a barge-in keeps only what the
    /// caller heard. Returns the stored turn.
    pub fn add(&mut self, speaker: Speaker, item_id: &str, text: &str) -> Option<&Turn> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let mut text = text.to_string();
        if let Some(pos) = self.cut.iter().position(|(id, _)| id == item_id) {
            let (_, heard) = self.cut.remove(pos);
            text = cut_to_fraction(&text, heard);
        }
        self.turns.push(Turn {
            speaker,
            text,
            item_id: item_id.to_string(),
        });
        self.turns.last()
    }

    /// A barge-in cut this item: trim its transcript, now or when it arrives.
    pub fn truncated(&mut self, item_id: &str, heard: f32) {
        if let Some(turn) = self.turns.iter_mut().rev().find(|t| t.item_id == item_id) {
            turn.text = cut_to_fraction(&turn.text, heard);
        } else {
            self.cut.push((item_id.to_string(), heard));
        }
    }

    /// The turns to replay into a fresh session (the most recent ones).
    pub fn replay(&self) -> Vec<Turn> {
        let skip = self.turns.len().saturating_sub(REPLAY_MAX_TURNS);
        self.turns[skip..].to_vec()
    }

    /// Did the caller speak last (an answer is owed)?
    pub fn caller_spoke_last(&self) -> bool {
        self.turns
            .last()
            .is_some_and(|t| t.speaker == Speaker::Caller)
    }
}

/// Keeps the first `heard` share of the words, marking the cut.
fn cut_to_fraction(text: &str, heard: f32) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let keep = ((words.len() as f32) * heard.clamp(0.0, 1.0)).round() as usize;
    if keep >= words.len() {
        return text.to_string();
    }
    let mut out = words[..keep].join(" ");
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_what_was_heard() {
        assert_eq!(cut_to_fraction("one two three four", 0.5), "one two…");
        assert_eq!(cut_to_fraction("one two", 1.0), "one two");
        assert_eq!(cut_to_fraction("one two", 0.0), "…");
    }

    #[test]
    fn truncate_before_or_after_the_transcript_arrives() {
        let mut t = Transcript::default();
        t.truncated("a1", 0.5);
        t.add(Speaker::Assistant, "a1", "we open at nine tomorrow");
        assert_eq!(t.turns()[0].text, "we open at…");
        t.add(Speaker::Assistant, "a2", "goodbye now friend");
        t.truncated("a2", 0.34);
        assert_eq!(t.turns()[1].text, "goodbye…");
    }

    #[test]
    fn replay_is_bounded_and_tracks_who_spoke_last() {
        let mut t = Transcript::default();
        for i in 0..50 {
            t.add(Speaker::Caller, &format!("c{i}"), "hello");
        }
        assert_eq!(t.replay().len(), REPLAY_MAX_TURNS);
        assert!(t.caller_spoke_last());
        assert!(t.add(Speaker::Caller, "x", "   ").is_none());
    }
}
