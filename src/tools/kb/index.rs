//! The knowledge base: markdown pages cut into passages (by heading, then
//! by paragraph) and ranked with BM25. Built once at start-up, in memory —
//! a practice's FAQ is a few dozen pages at most.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use bm25::{DefaultTokenizer, Language, SearchEngine, SearchEngineBuilder, Tokenizer};

/// A passage longer than this is cut at a paragraph boundary, so one hit
/// is something the model can read out in a breath or two.
const MAX_PASSAGE_CHARS: usize = 700;

/// A piece of a page, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    /// The page's title: its first `# ` heading (else its file name).
    pub title: String,
    /// The heading the passage sits under; empty for a page's introduction.
    pub section: String,
    pub text: String,
    /// The markdown file, relative to the knowledge directory.
    pub file: String,
}

impl Passage {
    /// "Title — Section", what the model cites.
    pub fn source(&self) -> String {
        if self.section.is_empty() {
            self.title.clone()
        } else {
            format!("{} — {}", self.title, self.section)
        }
    }
}

/// A passage and how well it matched.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<'a> {
    pub passage: &'a Passage,
    /// BM25 score.
    pub score: f32,
    /// Share of the question's weight (IDF) found in this passage, 0 to 1.
    pub coverage: f32,
}

pub struct KnowledgeBase {
    passages: Vec<Passage>,
    engine: Option<SearchEngine<u32>>,
    tokenizer: DefaultTokenizer,
    /// The distinct terms of each passage, by passage index.
    terms: Vec<HashSet<String>>,
    /// In how many passages each term occurs.
    document_frequency: HashMap<String, usize>,
}

impl std::fmt::Debug for KnowledgeBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnowledgeBase")
            .field("passages", &self.passages.len())
            .finish()
    }
}

impl KnowledgeBase {
    /// Indexes every `*.md` file directly in `dir`. Never fails: a missing
    /// directory or an unreadable file is logged and left out, so a broken
    /// knowledge base costs the FAQ answers, not the phone line.
    pub fn load(dir: &Path) -> Self {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "no knowledge base: the FAQ tool will say so");
                return KnowledgeBase::from_passages(Vec::new());
            }
        };
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x.eq_ignore_ascii_case("md")))
            .collect();
        files.sort();
        let mut passages = Vec::new();
        for path in files {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match std::fs::read_to_string(&path) {
                Ok(text) => passages.extend(split_page(&name, &text)),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "knowledge page skipped")
                }
            }
        }
        tracing::info!(dir = %dir.display(), passages = passages.len(), "knowledge base indexed");
        KnowledgeBase::from_passages(passages)
    }

    pub fn from_passages(passages: Vec<Passage>) -> Self {
        let docs: Vec<String> = passages.iter().map(indexed_text).collect();
        let tokenizer = DefaultTokenizer::new(Language::English);
        let terms: Vec<HashSet<String>> = docs
            .iter()
            .map(|d| tokenizer.tokenize(d).into_iter().collect())
            .collect();
        let mut document_frequency = HashMap::new();
        for t in terms.iter().flatten() {
            *document_frequency.entry(t.clone()).or_insert(0) += 1;
        }
        let engine = (!passages.is_empty())
            .then(|| SearchEngineBuilder::<u32>::with_corpus(Language::English, docs).build());
        KnowledgeBase {
            passages,
            engine,
            tokenizer,
            terms,
            document_frequency,
        }
    }

    /// BM25's inverse document frequency: rare terms weigh more, and a term
    /// the pages never use weighs most.
    fn idf(&self, term: &str) -> f32 {
        let n = self.passages.len() as f32;
        let df = self.document_frequency.get(term).copied().unwrap_or(0) as f32;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// How much of the question's weight the passages hold between them,
    /// 0 to 1. BM25 alone rewards a single rare shared word, so "the capital
    /// of France" finds the section on capitation plans; weighing what the
    /// passages leave out tells such near misses from answers.
    fn coverage(&self, question_terms: &HashSet<String>, passages: &[usize]) -> f32 {
        let total: f32 = question_terms.iter().map(|t| self.idf(t)).sum();
        if total <= 0.0 {
            return 0.0;
        }
        let found: f32 = question_terms
            .iter()
            .filter(|t| {
                passages
                    .iter()
                    .filter_map(|&i| self.terms.get(i))
                    .any(|terms| terms.contains(*t))
            })
            .map(|t| self.idf(t))
            .sum();
        found / total
    }

    pub fn is_empty(&self) -> bool {
        self.passages.is_empty()
    }

    pub fn passages(&self) -> &[Passage] {
        &self.passages
    }

    /// The `limit` passages with the best BM25 scores, best first, each
    /// with its own coverage of the question, and their coverage together.
    pub fn search(&self, question: &str, limit: usize) -> Answer<'_> {
        let Some(engine) = &self.engine else {
            return Answer::default();
        };
        let question_terms: HashSet<String> =
            self.tokenizer.tokenize(question).into_iter().collect();
        let found: Vec<(usize, f32)> = engine
            .search(question, limit)
            .into_iter()
            .filter_map(|r| Some((usize::try_from(r.document.id).ok()?, r.score)))
            .filter(|(i, _)| *i < self.passages.len())
            .collect();
        let indices: Vec<usize> = found.iter().map(|(i, _)| *i).collect();
        let hits = found
            .iter()
            .filter_map(|&(index, score)| {
                Some(Hit {
                    passage: self.passages.get(index)?,
                    score,
                    coverage: self.coverage(&question_terms, &[index]),
                })
            })
            .collect();
        Answer {
            hits,
            coverage: self.coverage(&question_terms, &indices),
        }
    }
}

/// The best passages for a question.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Answer<'a> {
    pub hits: Vec<Hit<'a>>,
    /// The share of the question's weight the hits hold together.
    pub coverage: f32,
}

/// What is indexed for a passage: the heading twice, because callers ask
/// in the words of the headings ("Where do I park?") more than of the text.
fn indexed_text(p: &Passage) -> String {
    format!("{}. {}. {}. {}", p.title, p.section, p.section, p.text)
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|&b| b == b'#').count();
    let rest = line.get(level..)?;
    ((1..=6).contains(&level) && rest.starts_with(' ')).then(|| (level, rest.trim()))
}

/// Markdown emphasis and list markers read badly when spoken.
fn plain(line: &str) -> String {
    let t = line.trim();
    let t = t
        .strip_prefix("- ")
        .or_else(|| t.strip_prefix("* "))
        .unwrap_or(t);
    t.replace("**", "").replace("__", "").replace('`', "")
}

/// Cuts one page into passages: a new passage at every heading, and within
/// a section at paragraph boundaries once it grows past the limit.
pub fn split_page(file: &str, text: &str) -> Vec<Passage> {
    let title = text
        .lines()
        .find_map(|l| {
            heading(l)
                .filter(|(level, _)| *level == 1)
                .map(|(_, t)| t.to_string())
        })
        .unwrap_or_else(|| {
            file.trim_end_matches(".md")
                .replace(['-', '_'], " ")
                .trim()
                .to_string()
        });
    let mut out = Vec::new();
    let mut section = String::new();
    let mut paragraphs: Vec<String> = Vec::new();
    let mut current = String::new();

    let flush_paragraph = |current: &mut String, paragraphs: &mut Vec<String>| {
        if !current.trim().is_empty() {
            paragraphs.push(current.trim().to_string());
        }
        current.clear();
    };
    let flush_section = |section: &str, paragraphs: &mut Vec<String>, out: &mut Vec<Passage>| {
        let mut chunk = String::new();
        for p in paragraphs.drain(..) {
            if !chunk.is_empty() && chunk.len() + p.len() + 1 > MAX_PASSAGE_CHARS {
                out.push(passage(&title, section, &chunk, file));
                chunk.clear();
            }
            if !chunk.is_empty() {
                chunk.push('\n');
            }
            chunk.push_str(&p);
        }
        if !chunk.is_empty() {
            out.push(passage(&title, section, &chunk, file));
        }
    };

    for line in text.lines() {
        if let Some((level, h)) = heading(line) {
            flush_paragraph(&mut current, &mut paragraphs);
            flush_section(&section, &mut paragraphs, &mut out);
            section = if level == 1 {
                String::new()
            } else {
                h.to_string()
            };
        } else if line.trim().is_empty() {
            flush_paragraph(&mut current, &mut paragraphs);
        } else {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(&plain(line));
        }
    }
    flush_paragraph(&mut current, &mut paragraphs);
    flush_section(&section, &mut paragraphs, &mut out);
    out
}

fn passage(title: &str, section: &str, text: &str, file: &str) -> Passage {
    Passage {
        title: title.to_string(),
        section: section.to_string(),
        text: text.to_string(),
        file: file.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "\
# Location and Parking

We are on **Wharf Street**.

## Where do I park?

- Free lot behind the building.
- Street parking is metered.

## Is there a bus?

Bus 4 stops outside.
";

    #[test]
    fn pages_split_by_heading_with_their_titles() {
        let p = split_page("location.md", PAGE);
        assert_eq!(p.len(), 3, "{p:#?}");
        assert_eq!(p[0].section, "");
        assert_eq!(p[0].text, "We are on Wharf Street.");
        assert_eq!(p[0].source(), "Location and Parking");
        assert_eq!(p[1].source(), "Location and Parking — Where do I park?");
        assert_eq!(
            p[1].text,
            "Free lot behind the building. Street parking is metered."
        );
        assert_eq!(p[2].file, "location.md");
    }

    #[test]
    fn long_sections_are_cut_at_paragraphs_and_untitled_pages_use_the_file_name() {
        let para = "word ".repeat(100);
        let text = format!("## Big\n\n{para}\n\n{para}\n\n{para}\n");
        let p = split_page("long-page.md", &text);
        assert_eq!(p.len(), 3, "{p:#?}");
        assert!(p
            .iter()
            .all(|x| x.title == "long page" && x.section == "Big"));
        assert!(split_page("empty.md", "\n\n").is_empty());
    }

    #[test]
    fn search_ranks_and_thresholds() {
        let kb = KnowledgeBase::from_passages(split_page("location.md", PAGE));
        let found = kb.search("where can I park my car", 3);
        let hits = &found.hits;
        assert_eq!(hits[0].passage.section, "Where do I park?");
        assert!(hits[0].coverage > 0.0 && hits[0].coverage < 1.0, "{hits:?}");
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(kb.search("pizza delivery menu", 3).hits.is_empty());
        // One shared word of four covers little of the question.
        let found = kb.search("bus tickets prices refunds", 3);
        assert_eq!(found.hits.len(), 1);
        assert!(found.coverage < 0.3, "{found:?}");
        assert_eq!(kb.search("bus", 3).coverage, 1.0);
        assert_eq!(kb.search("parking bus", 1).hits.len(), 1);
    }

    #[test]
    fn missing_directory_is_an_empty_base() {
        let kb = KnowledgeBase::load(Path::new("/nonexistent/frontdesk-kb"));
        assert!(kb.is_empty());
        assert_eq!(kb.search("parking", 3), Answer::default());
    }
}
