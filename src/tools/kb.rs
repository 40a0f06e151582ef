//! `answer_question`: the practice's FAQ. Retrieval is local (BM25 over the
//! markdown pages in `knowledge.dir`); the model gets the best passages with
//! their sources and is told to answer from them alone.

mod index;

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};

pub use index::{split_page, Answer, Hit, KnowledgeBase, Passage};

use super::{opt_str, Tool, ToolContext, ToolError, ToolFuture, ToolOutput};

/// Passages handed to the model: enough to cover a question that spans two
/// sections, few enough to keep the reply short.
const TOP_PASSAGES: usize = 3;
/// When the passages answer the question: together they hold at least half
/// of its weight, or the best one matches strongly (a long question in the
/// caller's own words) and holds a quarter. Tuned on the sample pages: the
/// questions they answer pass, unrelated ones ("what is the capital of
/// France?", which shares only "capitation") do not.
pub const MIN_COVERAGE: f32 = 0.5;
pub const STRONG_SCORE: f32 = 4.0;
pub const MIN_COVERAGE_STRONG: f32 = 0.25;

fn answers(found: &Answer<'_>) -> bool {
    let strong = found
        .hits
        .first()
        .is_some_and(|h| h.score >= STRONG_SCORE && h.coverage >= MIN_COVERAGE_STRONG);
    !found.hits.is_empty() && (found.coverage >= MIN_COVERAGE || strong)
}

const MAX_QUESTION: usize = 500;

pub struct AnswerQuestion {
    kb: Arc<KnowledgeBase>,
}

impl AnswerQuestion {
    pub fn new(kb: Arc<KnowledgeBase>) -> Self {
        AnswerQuestion { kb }
    }

    /// Indexes the pages in `dir` (see [`KnowledgeBase::load`]).
    pub fn load(dir: &Path) -> Self {
        AnswerQuestion::new(Arc::new(KnowledgeBase::load(dir)))
    }

    pub fn answer(&self, args: &Value) -> Result<Value, ToolError> {
        let question = opt_str(args, "question")?
            .map(str::trim)
            .unwrap_or_default();
        if question.is_empty() {
            return Err(ToolError::InvalidArguments(
                "question is missing; pass the caller's question".into(),
            ));
        }
        if question.chars().count() > MAX_QUESTION {
            return Err(ToolError::InvalidArguments(format!(
                "question is longer than {MAX_QUESTION} characters; ask it in a short sentence"
            )));
        }
        if self.kb.is_empty() {
            return Ok(json!({
                "found": false,
                "reason": "no knowledge base",
                "next": "This practice has no knowledge base set up. Do not answer from general knowledge: say you don't have that information and offer to take a message."
            }));
        }
        let found = self.kb.search(question, TOP_PASSAGES);
        let hits = if answers(&found) {
            found.hits
        } else {
            Vec::new()
        };
        if hits.is_empty() {
            return Ok(json!({
                "found": false,
                "reason": "not in the knowledge base",
                "next": "The knowledge base does not cover this. Do not guess: say you don't have that information and offer to take a message."
            }));
        }
        let passages: Vec<Value> = hits
            .iter()
            .map(|h| {
                json!({
                    "source": h.passage.source(),
                    "title": h.passage.title,
                    "section": h.passage.section,
                    "text": h.passage.text,
                    "score": (f64::from(h.score) * 100.0).round() / 100.0,
                    "coverage": (f64::from(h.coverage) * 100.0).round() / 100.0
                })
            })
            .collect();
        Ok(json!({
            "found": true,
            "passages": passages,
            "next": "Answer only from these passages, briefly, in your own spoken words, and mention where it comes from (for example \"our insurance page says…\"). If they do not answer the question, say you don't know and offer to take a message."
        }))
    }
}

impl Tool for AnswerQuestion {
    fn name(&self) -> &'static str {
        "answer_question"
    }

    fn description(&self) -> &'static str {
        "Search the practice's own FAQ pages (insurance, new patients, emergencies, location and \
         parking, payments, cancellations and similar) for the caller's question. Use it for any \
         question about the practice's policies or facts, and answer only from what it returns."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "question": {"type": "string", "description": "The caller's question, in a full sentence."}
            },
            "required": ["question"],
            "additionalProperties": false
        })
    }

    fn run(&self, args: Value, _ctx: ToolContext) -> ToolFuture {
        let result = self.answer(&args).map(ToolOutput::data);
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AnswerQuestion {
        AnswerQuestion::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/kb"))
    }

    fn best(tool: &AnswerQuestion, q: &str) -> Value {
        let out = tool.answer(&json!({ "question": q })).unwrap();
        assert_eq!(out["found"], true, "{q}: {out}");
        out["passages"][0].clone()
    }

    #[test]
    fn questions_find_the_right_page() {
        let t = sample();
        let cases = [
            ("Do you take Delta Dental insurance?", "Dental Insurance"),
            ("Where can I park my car?", "Location and Parking"),
            (
                "Do you have payment plans for a crown?",
                "Payments and Payment Plans",
            ),
            (
                "What is the fee if I miss my appointment?",
                "Cancellation and Missed Appointment Policy",
            ),
            ("I knocked out a tooth, what do I do?", "Dental Emergencies"),
            (
                "What should I bring to my first visit as a new patient?",
                "New Patients",
            ),
            ("Do you accept Medicaid?", "Dental Insurance"),
            (
                "Is your office wheelchair accessible?",
                "Location and Parking",
            ),
            ("What is your address?", "Location and Parking"),
            ("Do you see kids?", "New Patients"),
            (
                "Which credit cards do you take?",
                "Payments and Payment Plans",
            ),
            (
                "My tooth hurts really badly, can I come in today?",
                "Dental Emergencies",
            ),
            (
                "How do I cancel my appointment?",
                "Cancellation and Missed Appointment Policy",
            ),
        ];
        for (q, title) in cases {
            let p = best(&t, q);
            assert_eq!(p["title"], title, "{q}: {p}");
            assert!(p["source"].as_str().unwrap().starts_with(title), "{p}");
            assert!(p["score"].as_f64().unwrap() > 0.0);
        }
        let p = best(&t, "Where do I park?");
        assert_eq!(p["source"], "Location and Parking — Where do I park?");
    }

    #[test]
    fn at_most_three_passages_best_first() {
        let out = sample()
            .answer(&json!({"question": "insurance plans accepted in network claims"}))
            .unwrap();
        let passages = out["passages"].as_array().unwrap();
        assert!(!passages.is_empty() && passages.len() <= TOP_PASSAGES);
        let scores: Vec<f64> = passages
            .iter()
            .map(|p| p["score"].as_f64().unwrap())
            .collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    }

    #[test]
    fn unrelated_questions_are_not_answered() {
        let t = sample();
        for q in [
            "What is the capital of France?",
            "Can you recommend a good pizza place?",
            "Who won the football game last night?",
            "What's the weather like tomorrow?",
            "Do you sell cars?",
            "Can I bring my dog?",
            "Do you offer teeth whitening?",
        ] {
            let out = t.answer(&json!({ "question": q })).unwrap();
            assert_eq!(out["found"], false, "{q}: {out}");
            assert_eq!(out["reason"], "not in the knowledge base");
        }
    }

    #[test]
    fn no_knowledge_base_and_bad_arguments() {
        let t = AnswerQuestion::load(Path::new("/nonexistent/frontdesk-kb"));
        let out = t.answer(&json!({"question": "parking?"})).unwrap();
        assert_eq!(out["reason"], "no knowledge base");
        for bad in [
            json!({}),
            json!({"question": "  "}),
            json!({"question": 3}),
            json!({"question": "x".repeat(501)}),
        ] {
            assert!(
                matches!(t.answer(&bad), Err(ToolError::InvalidArguments(_))),
                "{bad}"
            );
        }
    }
}
