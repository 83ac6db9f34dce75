//! `anneal eval BENCH`: public edit and fill benchmarks measured by running their tests.
//!
//! Each benchmark module turns its rows into [`Sample`]s — the text before, what to change (a
//! selection and an instruction, or a hole to fill), the reference text after, and a test
//! harness around the candidate. The shared parts then do the rest the same way for all:
//! `generate` asks the engine (the LSP's own code path) for candidates, `exec` runs each in a
//! limited subprocess, `metrics` scores them and `runner` ties it together with resumable JSONL.

pub mod canitedit;
pub mod editeval;
pub mod exec;
pub mod generate;
pub mod humaneval_fill;
pub mod humanevalfix;
pub mod mbpp_fill;
pub mod metrics;
pub mod record;
pub mod repair;
pub mod report;
pub mod rows;
pub mod runner;
pub mod syntax_repair;

use std::ops::Range;

/// A language a benchmark's tests run in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Python,
    Js,
    Java,
    Go,
    Cpp,
    Rust,
}

impl Lang {
    pub const ALL: [Lang; 6] = [Lang::Python, Lang::Js, Lang::Java, Lang::Go, Lang::Cpp, Lang::Rust];

    pub fn name(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::Js => "js",
            Lang::Java => "java",
            Lang::Go => "go",
            Lang::Cpp => "cpp",
            Lang::Rust => "rust",
        }
    }

    /// The grammar that plans edits and checks syntax, when anneal-grammars has one. Asked by
    /// LSP language id, so a grammar added there is used here without a change.
    pub fn grammar(self) -> Option<anneal_grammars::Language> {
        let id = match self {
            Lang::Js => "javascript",
            other => other.name(),
        };
        anneal_grammars::Language::from_language_id(id)
    }
}

/// What the model is asked to do with `Sample::source_before`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Task {
    /// Rewrite `selection` (byte offsets) following `instruction`.
    Rewrite { selection: Range<usize>, instruction: String },
    /// Write code at byte offset `at`; `reference` is what the benchmark's solution puts there
    /// (its length in tokens sizes the hole unless `--hole-tokens` says otherwise).
    Fill { at: usize, reference: String },
}

/// How a candidate becomes a test program: `prelude + candidate + epilogue`, run as the
/// sample's language prescribes (`exec`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Harness {
    pub prelude: String,
    pub epilogue: String,
    pub quote: Option<Quote>,
}

/// A benchmark whose text also quotes the edited snippet (EditEval's contexts write
/// `edited_code = '''{{Code}}'''` so tests can inspect the source): every `placeholder` left in
/// the candidate becomes the candidate's snippet, the text between the fixed `head` and `tail`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    pub placeholder: String,
    pub head: String,
    pub tail: String,
}

impl Harness {
    pub fn program(&self, candidate: &str) -> String {
        let candidate = match &self.quote {
            Some(q) => {
                // An edit that reached into the head or tail has no clean snippet; the whole
                // candidate is the closest thing to one.
                let snippet = candidate.strip_prefix(q.head.as_str()).and_then(|c| c.strip_suffix(q.tail.as_str())).unwrap_or(candidate);
                candidate.replace(&q.placeholder, snippet)
            }
            None => candidate.to_string(),
        };
        format!("{}{}{}", self.prelude, candidate, self.epilogue)
    }
}

/// One benchmark item, in the form every benchmark shares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Unique within a benchmark run; the key for resuming.
    pub id: String,
    /// The benchmark problem it comes from: `--limit` picks problems, so the descriptive and
    /// lazy instructions of a CanItEdit problem, or one HumanEvalFix problem in six languages,
    /// stay together.
    pub problem: String,
    /// The summary's row: the instruction kind, the language.
    pub group: String,
    pub lang: Lang,
    pub source_before: String,
    pub task: Task,
    /// The whole text after a correct edit (exact match compares against it).
    pub reference: String,
    pub harness: Harness,
}

/// A benchmark's samples, and the rows it could not turn into samples (with why), which the
/// runner reports rather than silently dropping.
#[derive(Debug, Default)]
pub struct Loaded {
    pub samples: Vec<Sample>,
    pub unusable: Vec<String>,
}
