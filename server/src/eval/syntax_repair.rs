//! `anneal eval syntax-repair`: files that parse, broken on purpose by one to three realistic
//! typos drawn by seed, repaired by three arms on the same files:
//!
//! - `parser`: the valid candidate with the fewest edits, ties by position, no model;
//! - `model`: the same candidates ranked by the model ([`engine::repair`]);
//! - `locate`: the repair quick fix as it was before, a rewrite of the errors' lines in edit
//!   mode (leave-one-out rounds), refused when it adds errors.
//!
//! The files are HumanEvalPack's canonical solutions (evaluation data: never trained on) in
//! the six languages it has; TypeScript gets its JavaScript files, C the C++ files that parse
//! as C. C, Ruby and Bash get held-out files from pinned sources as well
//! (`scripts/eval/syntax-repair-data.sh`, the `--extra` folder). Reported per language and per kind of breakage: fixed (the result parses and is within
//! four token edits a breakage of the broken file, Break-It-Fix-It's metric), exact (the
//! original restored), made worse (more syntax errors than the broken file, or a change
//! outside the lines of the errors), time per file (p50, p95) and forward passes.

use std::collections::BTreeMap;
use std::io::Write;
use std::ops::{ControlFlow, Range};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use anneal_grammars::{syntax_errors, tokens, Language, Token};

use anneal_engine::repair::{self, Ranker, RepairRequest};
use anneal_engine::ModelSource;
use anneal_engine::{self as engine, EditSettings, RewriteRequest, SamplingMode};

#[derive(Args)]
pub struct SyntaxRepairArgs {
    /// The folder of humanevalpack_LANG.jsonl.
    #[arg(long, default_value = "../shared/data/eval/humanevalpack")]
    data: PathBuf,
    /// A checkpoint folder, or `default`.
    #[arg(long, default_value = "default")]
    model: String,
    #[command(flatten)]
    dtype: crate::cli::DtypeArg,
    /// Files per language at most.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Breakages per file.
    #[arg(long, default_value_t = 1)]
    breakages: usize,
    /// Arms to run (comma-separated): parser, model, locate.
    #[arg(long, value_delimiter = ',', default_value = "parser,model,locate")]
    arms: Vec<String>,
    /// A folder of held-out files in the languages HumanEvalPack lacks (`c/`, `ruby/`,
    /// `bash/`), made by `scripts/eval/syntax-repair-data.sh`; files over 300 lines are cut at
    /// top-level nodes. Those languages are left out, and the run says so, when it is absent.
    #[arg(long, default_value = "target/syntax-repair-data")]
    extra: PathBuf,
    /// Languages to repair (comma-separated names, as `--language` takes them); all when
    /// absent. The breakages drawn are the same as in a run of every language.
    #[arg(long, value_delimiter = ',')]
    languages: Vec<String>,
    /// The locate arm on the first N files of each language only (it is slow); all when absent.
    #[arg(long)]
    locate_limit: Option<usize>,
    /// Log-likelihood charged per edit by the model arm.
    #[arg(long, default_value_t = repair::EDIT_PRIOR)]
    prior: f32,
    /// Files of 10,000 lines or more (the language's files joined) broken once each, per
    /// language, to time the model arm on a large file; 0 for none.
    #[arg(long, default_value_t = 5)]
    large: usize,
    /// Per-file results (JSONL).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Files an arm did not restore exactly (JSONL: the lines around the breakages as they
    /// were, as broken, and as repaired), to read what went wrong.
    #[arg(long)]
    failures: Option<PathBuf>,
    /// The summary (Markdown); printed to stdout as well.
    #[arg(long)]
    summary: Option<PathBuf>,
}

/// A file and its broken copy.
struct Case {
    language: Language,
    original: String,
    broken: String,
    kinds: Vec<&'static str>,
    /// Bytes of `broken` on the lines the breakages touched.
    lines: Range<usize>,
}

const PUNCTUATION: [&str; 8] = [":", ",", ";", ")", "]", "}", "(", "="];

/// One breakage of `text`, drawn by `rng`; `None` when the kind drawn has no place to go.
fn break_once(rng: &mut StdRng, text: &str, language: Language) -> Option<(String, &'static str, usize)> {
    let toks = tokens(text, language);
    let punct: Vec<&Token> = toks.iter().filter(|t| t.literal && PUNCTUATION.contains(&t.kind.as_str())).collect();
    let word = |t: &Token| t.literal && t.kind.len() >= 3 && t.kind.bytes().all(|b| b.is_ascii_alphabetic());
    let mut kinds = vec!["delete", "insert", "double", "swap", "misspell", "unclosed string"];
    if language == Language::Python {
        kinds.extend(["dedent", "indent"]);
    }
    if matches!(language, Language::Ruby | Language::Bash) {
        kinds.push("missing end");
    }
    let kind = *kinds.choose(rng)?;
    let splice = |r: Range<usize>, s: &str| format!("{}{s}{}", &text[..r.start], &text[r.end..]);
    let b = text.as_bytes();
    let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    match kind {
        "delete" => {
            let t = punct.choose(rng)?;
            let r = t.range.clone();
            // Deleting it must not glue two words into one.
            if r.start > 0 && r.end < b.len() && is_word(b[r.start - 1]) && is_word(b[r.end]) {
                return None;
            }
            Some((splice(r.clone(), ""), kind, r.start))
        }
        "insert" => {
            let t = toks.choose(rng)?;
            let p = *PUNCTUATION.choose(rng)?;
            Some((splice(t.range.end..t.range.end, p), kind, t.range.end))
        }
        "double" => {
            let t = punct.choose(rng)?;
            Some((splice(t.range.end..t.range.end, &t.kind), kind, t.range.end))
        }
        "swap" => {
            let pairs: Vec<(&Token, &Token)> = toks
                .windows(2)
                .filter(|w| {
                    w[0].literal
                        && w[1].literal
                        && w[0].range.end == w[1].range.start
                        && w[0].kind != w[1].kind
                        && !word(&w[0])
                        && !word(&w[1])
                })
                .map(|w| (&w[0], &w[1]))
                .collect();
            let (a, c) = pairs.choose(rng)?;
            let swapped = format!("{}{}", &text[c.range.clone()], &text[a.range.clone()]);
            Some((splice(a.range.start..c.range.end, &swapped), kind, a.range.start))
        }
        "misspell" => {
            let keywords: Vec<&Token> = toks.iter().filter(|t| word(t)).collect();
            let t = keywords.choose(rng)?;
            let mut w: Vec<u8> = text[t.range.clone()].bytes().collect();
            let i = rng.random_range(0..w.len() - 1);
            match rng.random_range(0..3) {
                0 => w.swap(i, i + 1),
                1 => {
                    w.remove(i);
                }
                _ => w.insert(i, w[i]),
            }
            Some((splice(t.range.clone(), std::str::from_utf8(&w).ok()?), kind, t.range.start))
        }
        "unclosed string" => {
            let closing: Vec<&Token> = toks
                .iter()
                .filter(|t| {
                    t.parent.contains("string")
                        && t.range.end > t.range.start
                        && text[t.range.clone()].ends_with(['"', '\''])
                        && toks.iter().any(|o| o.range.end <= t.range.start && o.parent == t.parent)
                })
                .collect();
            let strings: Vec<&Token> = toks
                .iter()
                .filter(|t| {
                    t.kind.contains("string")
                        && !t.literal
                        && text[t.range.clone()].len() >= 2
                        && text[t.range.clone()].ends_with(['"', '\''])
                })
                .collect();
            let end = match (closing.choose(rng), strings.choose(rng)) {
                (Some(t), _) | (None, Some(t)) => t.range.end,
                _ => return None,
            };
            Some((splice(end - 1..end, ""), kind, end - 1))
        }
        "missing end" => {
            // A closing keyword deleted, with its line when it stands alone there.
            let closers: Vec<&Token> =
                toks.iter().filter(|t| t.literal && matches!(t.kind.as_str(), "end" | "fi" | "done" | "esac")).collect();
            let t = closers.choose(rng)?;
            let line_start = b[..t.range.start].iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
            let line_end = b[t.range.end..].iter().position(|&c| c == b'\n').map_or(b.len(), |i| t.range.end + i + 1);
            let alone = text[line_start..line_end].trim() == &text[t.range.clone()];
            let r = if alone { line_start..line_end } else { t.range.clone() };
            Some((splice(r.clone(), ""), kind, r.start))
        }
        "dedent" | "indent" => {
            let starts: Vec<usize> = std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .filter(|&i| i < text.len() && text[i..].starts_with("    ") && !text[i..].trim_start().starts_with('#'))
                .collect();
            let at = *starts.choose(rng)?;
            if kind == "dedent" {
                Some((splice(at..at + 4, ""), kind, at))
            } else {
                Some((splice(at..at, "    "), kind, at))
            }
        }
        _ => None,
    }
}

/// `original` with `count` breakages, each of which adds a syntax error; `None` when the draws
/// run out.
fn break_file(rng: &mut StdRng, original: &str, language: Language, count: usize) -> Option<Case> {
    let mut text = original.to_string();
    let mut kinds = vec![];
    let mut at = vec![];
    for _ in 0..count {
        let errors = syntax_errors(&text, 0..text.len(), language);
        let mut done = false;
        for _ in 0..40 {
            let Some((broken, kind, where_)) = break_once(rng, &text, language) else { continue };
            if syntax_errors(&broken, 0..broken.len(), language) > errors {
                text = broken;
                kinds.push(kind);
                at.push(where_);
                done = true;
                break;
            }
        }
        if !done {
            return None;
        }
    }
    let b = text.as_bytes();
    let lo = at.iter().min().copied().unwrap_or(0).min(b.len());
    let hi = at.iter().max().copied().unwrap_or(0).min(b.len());
    let start = b[..lo].iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
    let end = b[hi..].iter().position(|&c| c == b'\n').map_or(b.len(), |i| hi + i + 1);
    Some(Case { language, original: original.to_string(), broken: text, kinds, lines: start..end })
}

/// Files that parse cleanly, per language.
fn load(dir: &std::path::Path) -> Result<Vec<(Language, Vec<String>)>> {
    let read = |name: &str| -> Result<Vec<String>> {
        let path = dir.join(format!("humanevalpack_{name}.jsonl"));
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|r| Some(format!("{}{}", r["prompt"].as_str()?, r["canonical_solution"].as_str()?)))
            .collect())
    };
    let clean = |language: Language, files: Vec<String>| -> (Language, Vec<String>) {
        (language, files.into_iter().filter(|f| syntax_errors(f, 0..f.len(), language) == 0).collect())
    };
    Ok(vec![
        clean(Language::Python, read("python")?),
        clean(Language::Rust, read("rust")?),
        clean(Language::Go, read("go")?),
        clean(Language::JavaScript, read("js")?),
        clean(Language::TypeScript, read("js")?),
        clean(Language::Java, read("java")?),
        clean(Language::Cpp, read("cpp")?),
        clean(Language::C, read("cpp")?),
    ])
}

/// Files of `dir`'s `c/`, `ruby/` and `bash/` folders that parse cleanly, whole when they are
/// short, else cut into pieces of whole top-level nodes, three a file at most.
fn load_extra(dir: &std::path::Path) -> Result<Vec<(Language, Vec<String>)>> {
    let mut out = vec![];
    for (folder, language) in [("c", Language::C), ("ruby", Language::Ruby), ("bash", Language::Bash)] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join(folder))
            .with_context(|| format!("cannot read {}", dir.join(folder).display()))?
            .filter_map(|e| Some(e.ok()?.path()))
            .collect();
        paths.sort();
        let mut files = vec![];
        for path in paths {
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            files.extend(pieces(&text, language).into_iter().take(3));
        }
        out.push((language, files));
    }
    Ok(out)
}

/// `text` itself when it has at most 300 lines, else runs of whole top-level nodes of at most
/// 150 lines; only what parses cleanly on its own.
fn pieces(text: &str, language: Language) -> Vec<String> {
    let clean = |t: &str| t.lines().count() >= 5 && syntax_errors(t, 0..t.len(), language) == 0;
    if text.lines().count() <= 300 {
        return if clean(text) { vec![text.to_string()] } else { vec![] };
    }
    let tree = anneal_grammars::SyntaxTree::new(text, Some(language));
    let b = text.as_bytes();
    let line_end = |at: usize| b[at.min(b.len())..].iter().position(|&c| c == b'\n').map_or(b.len(), |i| at + i + 1);
    let mut out = vec![];
    let mut at = 0;
    while at < b.len() {
        let mut guess = at;
        for _ in 0..100 {
            guess = line_end(guess);
        }
        let bounds = tree.top_level_bounds(text, at..guess.max(at + 1).min(b.len()));
        let end = bounds.end.max(at + 1).min(b.len());
        let end = if b[end - 1] == b'\n' { end } else { line_end(end).min(b.len()) };
        let piece = text[at..end].trim_start_matches('\n');
        if piece.lines().count() <= 150 && clean(piece) {
            out.push(piece.to_string());
        }
        at = end;
    }
    out
}

/// What one arm made of one case.
#[derive(serde::Serialize)]
struct Outcome {
    arm: String,
    language: String,
    kinds: Vec<&'static str>,
    fixed: bool,
    exact: bool,
    worse: bool,
    ms: f64,
    forward_passes: usize,
    rank_of_original: Option<usize>,
}

/// Token edit distance between two texts (Levenshtein over their lexemes).
///
/// Lexemes, not the parse's leaves: Break-It-Fix-It counts the tokens of a lexer, which reads a
/// broken file and its repair alike, while a parse's leaves depend on the errors. An unclosed
/// string made the broken file's leaves differ from the repair's by dozens, so a one-quote
/// repair that parses was not counted fixed. A lexeme is a run of letters, digits and `_`, or
/// one other character; whitespace separates them. (A two-character operator is two lexemes,
/// which can only make this stricter than a language's own lexer.)
fn token_distance(a: &str, b: &str) -> usize {
    let (ta, tb) = (lexemes(a), lexemes(b));
    // Common prefix and suffix first: the files differ in a few places.
    let p = ta.iter().zip(&tb).take_while(|(x, y)| x == y).count();
    let s = ta[p..].iter().rev().zip(tb[p..].iter().rev()).take_while(|(x, y)| x == y).count();
    let (x, y) = (&ta[p..ta.len() - s], &tb[p..tb.len() - s]);
    if x.len() * y.len() > 4_000_000 {
        return usize::MAX;
    }
    let mut prev: Vec<usize> = (0..=y.len()).collect();
    for i in 1..=x.len() {
        let mut cur = vec![i; y.len() + 1];
        for j in 1..=y.len() {
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + usize::from(x[i - 1] != y[j - 1]));
        }
        prev = cur;
    }
    prev[y.len()]
}

/// The lexemes of `text`, in order (see [`token_distance`]).
fn lexemes(text: &str) -> Vec<&str> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = vec![];
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        let mut end = i + c.len_utf8();
        if word(c) {
            while let Some(&(j, d)) = chars.peek().filter(|&&(_, d)| word(d)) {
                end = j + d.len_utf8();
                chars.next();
            }
        }
        out.push(&text[i..end]);
    }
    out
}

fn judge(case: &Case, arm: &str, result: &str, ms: f64, forward_passes: usize, rank_of_original: Option<usize>) -> Outcome {
    let language = case.language;
    let before = syntax_errors(&case.broken, 0..case.broken.len(), language);
    let after = syntax_errors(result, 0..result.len(), language);
    let changed = diff_range(&case.broken, result);
    let outside = changed.is_some_and(|r| r.start < case.lines.start.saturating_sub(400) || r.end > case.lines.end + 400);
    let distance = token_distance(&case.broken, result);
    Outcome {
        arm: arm.into(),
        language: language.name().into(),
        kinds: case.kinds.clone(),
        // The original is fixed by definition.
        fixed: result == case.original || after == 0 && (1..=4 * case.kinds.len()).contains(&distance),
        exact: result == case.original,
        worse: after > before || (outside && result != case.original),
        ms,
        forward_passes,
        rank_of_original,
    }
}

/// The bytes of `old` that differ from `new` (common prefix and suffix removed).
fn diff_range(old: &str, new: &str) -> Option<Range<usize>> {
    (old != new).then(|| anneal_grammars::Change::between(old, new).range)
}

pub fn run(args: SyntaxRepairArgs) -> Result<()> {
    let model = ModelSource::parse(Some(&args.model)).load(&candle_core::Device::Cpu, args.dtype.precision())?;
    let mut corpus = load(&args.data)?;
    if args.extra.is_dir() {
        for (language, files) in load_extra(&args.extra)? {
            match corpus.iter_mut().find(|(l, _)| *l == language) {
                Some((_, known)) => known.extend(files),
                None => corpus.push((language, files)),
            }
        }
    } else {
        eprintln!(
            "no {}: C gets only the C++ files that parse as C, and Ruby and Bash are left out (make it with scripts/eval/syntax-repair-data.sh)",
            args.extra.display()
        );
    }
    if let Some(unknown) = args.languages.iter().find(|l| !corpus.iter().any(|(language, _)| language.name() == *l)) {
        let names: Vec<&str> = corpus.iter().map(|(l, _)| l.name()).collect();
        anyhow::bail!("--languages: no files for {unknown:?}; choose from {}", names.join(", "));
    }
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut cases = vec![];
    for (language, files) in &corpus {
        let mut taken = 0;
        for file in files {
            if taken >= args.limit {
                break;
            }
            if let Some(case) = break_file(&mut rng, file, *language, args.breakages) {
                if args.languages.is_empty() || args.languages.iter().any(|l| l == language.name()) {
                    cases.push(case);
                }
                taken += 1;
            }
        }
    }
    eprintln!(
        "{} broken files in {} languages, {} breakage(s) each; arms: {}",
        cases.len(),
        cases.iter().map(|c| c.language).collect::<std::collections::HashSet<_>>().len(),
        args.breakages,
        args.arms.join(", ")
    );
    let mut out = args.out.as_ref().map(std::fs::File::create).transpose()?;
    let mut failures = args.failures.as_ref().map(std::fs::File::create).transpose()?;
    let mut results: Vec<Outcome> = vec![];
    let mut per_language_locate: std::collections::HashMap<Language, usize> = Default::default();
    let bar = indicatif::ProgressBar::new(cases.len() as u64);
    for case in &cases {
        bar.inc(1);
        for arm in &args.arms {
            let last_result: String;
            let outcome = match arm.as_str() {
                "parser" | "model" => {
                    let ranker = if arm == "parser" { Ranker::Parser } else { Ranker::Model { prior: args.prior } };
                    let started = Instant::now();
                    let request = RepairRequest { text: &case.broken, target: 0..case.broken.len(), language: case.language, syntax: None };
                    let repaired =
                        repair::repair(Some(&model), &request, ranker, Some(Duration::from_secs(5)), &mut |_| ControlFlow::Continue(()))?;
                    let ms = started.elapsed().as_secs_f64() * 1e3;
                    let result = repaired.change.as_ref().map_or(case.broken.clone(), |c| c.apply(&case.broken));
                    let rank = (case.kinds.len() == 1)
                        .then(|| repaired.alternatives.iter().position(|a| a.candidate.change.apply(&case.broken) == case.original))
                        .flatten();
                    last_result = result.clone();
                    judge(case, arm, &result, ms, repaired.forward_passes, rank)
                }
                "locate" => {
                    let n = per_language_locate.entry(case.language).or_default();
                    *n += 1;
                    if args.locate_limit.is_some_and(|l| *n > l) {
                        continue;
                    }
                    let started = Instant::now();
                    let settings = EditSettings { mode: SamplingMode::Edit, ..Default::default() };
                    let request = RewriteRequest {
                        text: &case.broken,
                        selection: case.lines.clone(),
                        language: Some(case.language),
                        syntax: None,
                        instruction: None,
                    };
                    let (result, passes) = match engine::rewrite(&model, &request, &settings, &mut |_| ControlFlow::Continue(())) {
                        Ok(p) => {
                            let mut t = case.broken.clone();
                            t.replace_range(p.span.clone(), &p.replacement);
                            (t, p.forward_passes)
                        }
                        Err(_) => (case.broken.clone(), 0),
                    };
                    last_result = result.clone();
                    judge(case, arm, &result, started.elapsed().as_secs_f64() * 1e3, passes, None)
                }
                other => anyhow::bail!("unknown arm {other:?}: choose from parser, model, locate"),
            };
            if let Some(out) = &mut out {
                writeln!(out, "{}", serde_json::to_string(&outcome)?)?;
            }
            if let (Some(failures), false) = (&mut failures, outcome.exact) {
                let lines = |t: &str| t.get(case.lines.start.min(t.len())..(case.lines.end + 200).min(t.len())).unwrap_or("").to_string();
                let row = serde_json::json!({"arm": arm, "language": case.language.name(), "kinds": case.kinds, "fixed": outcome.fixed,
                    "worse": outcome.worse, "change": anneal_grammars::Change::between(&case.broken, &last_result),
                    "original": lines(&case.original), "broken": lines(&case.broken), "result": lines(&last_result), "broken_file": case.broken});
                writeln!(failures, "{row}")?;
            }
            results.push(outcome);
        }
    }
    bar.finish_and_clear();
    let mut summary = summarize(&args, &results);
    if args.large > 0 && args.arms.iter().any(|a| a == "model") {
        summary += &large_files(&args, &model, &corpus)?;
    }
    print!("{summary}");
    if let Some(path) = &args.summary {
        std::fs::write(path, &summary).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The model arm's time on files of 10,000 lines or more with one breakage (Python and Rust).
fn large_files(args: &SyntaxRepairArgs, model: &anneal_models::Model, corpus: &[(Language, Vec<String>)]) -> Result<String> {
    let mut rng = StdRng::seed_from_u64(args.seed ^ 0x1a7e);
    let mut s = format!("\nFiles of 10,000 lines or more, one breakage each, model arm ({} a language):\n\n| language | files | lines | fixed | exact | p50 ms | max ms |\n|---|---|---|---|---|---|---|\n", args.large);
    for (language, files) in corpus.iter().filter(|(l, f)| matches!(l, Language::Python | Language::Rust) && !f.is_empty()) {
        let mut big = String::new();
        for file in files.iter().cycle() {
            if big.lines().count() >= 10_000 {
                break;
            }
            big.push_str(file);
            big.push_str("\n\n");
        }
        let (mut ms, mut fixed, mut exact, mut n) = (vec![], 0, 0, 0);
        while n < args.large {
            // The breakage is drawn anywhere in the file.
            let Some(case) = break_file(&mut rng, &big, *language, 1) else { continue };
            n += 1;
            let started = Instant::now();
            let request = RepairRequest { text: &case.broken, target: 0..case.broken.len(), language: case.language, syntax: None };
            let ranker = Ranker::Model { prior: args.prior };
            let repaired = repair::repair(Some(model), &request, ranker, Some(Duration::from_secs(5)), &mut |_| ControlFlow::Continue(()))?;
            ms.push(started.elapsed().as_secs_f64() * 1e3);
            let result = repaired.change.as_ref().map_or(case.broken.clone(), |c| c.apply(&case.broken));
            let outcome = judge(&case, "model", &result, 0.0, 0, None);
            fixed += usize::from(outcome.fixed);
            exact += usize::from(outcome.exact);
        }
        let max = ms.iter().copied().fold(0.0, f64::max);
        s += &format!("| {language} | {n} | {} | {fixed} | {exact} | {:.0} | {max:.0} |\n", big.lines().count(), quantile(&mut ms, 0.5));
    }
    Ok(s)
}

fn percent(n: usize, of: usize) -> String {
    if of == 0 {
        "–".into()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / of as f64)
    }
}

fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

fn table(title: &str, rows: &BTreeMap<(String, String), Vec<&Outcome>>) -> String {
    let mut s = format!(
        "\n| {title} | arm | files | fixed | exact | made worse | p50 ms | p95 ms | passes/file |\n|---|---|---|---|---|---|---|---|---|\n"
    );
    for ((key, arm), outcomes) in rows {
        let n = outcomes.len();
        let count = |f: &dyn Fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
        let mut ms: Vec<f64> = outcomes.iter().map(|o| o.ms).collect();
        let passes = outcomes.iter().map(|o| o.forward_passes).sum::<usize>() as f64 / n.max(1) as f64;
        s += &format!(
            "| {key} | {arm} | {n} | {} | {} | {} | {:.0} | {:.0} | {passes:.1} |\n",
            percent(count(&|o| o.fixed), n),
            percent(count(&|o| o.exact), n),
            percent(count(&|o| o.worse), n),
            quantile(&mut ms, 0.5),
            quantile(&mut ms, 0.95)
        );
    }
    s
}

/// McNemar's exact test (two-sided) on paired successes.
fn mcnemar(only_a: usize, only_b: usize) -> f64 {
    let n = only_a + only_b;
    if n == 0 {
        return 1.0;
    }
    let k = only_a.min(only_b);
    // P(X <= k) for X ~ Binomial(n, 1/2), doubled.
    let mut p = 0.0;
    let mut c = 1.0f64; // C(n, 0)
    for i in 0..=k {
        if i > 0 {
            c *= (n - i + 1) as f64 / i as f64;
        }
        p += c;
    }
    (2.0 * p / 2f64.powi(n as i32)).min(1.0)
}

fn summarize(args: &SyntaxRepairArgs, results: &[Outcome]) -> String {
    let mut s = format!(
        "# anneal eval syntax-repair\n\n`anneal eval syntax-repair --model {} --limit {} --seed {} --breakages {} --arms {}{}` (prior {}).\n",
        args.model,
        args.limit,
        args.seed,
        args.breakages,
        args.arms.join(","),
        args.locate_limit.map_or(String::new(), |l| format!(" --locate-limit {l}")),
        args.prior
    );
    let mut by_language: BTreeMap<(String, String), Vec<&Outcome>> = BTreeMap::new();
    let mut by_kind: BTreeMap<(String, String), Vec<&Outcome>> = BTreeMap::new();
    let mut all: BTreeMap<(String, String), Vec<&Outcome>> = BTreeMap::new();
    for o in results {
        by_language.entry((o.language.clone(), o.arm.clone())).or_default().push(o);
        by_kind.entry((o.kinds.join("+"), o.arm.clone())).or_default().push(o);
        all.entry(("all".into(), o.arm.clone())).or_default().push(o);
    }
    s += &table("all", &all);
    s += &table("language", &by_language);
    if args.breakages == 1 {
        s += &table("breakage", &by_kind);
    }
    // Paired: model against parser on exact match, file by file.
    let parser: Vec<&Outcome> = results.iter().filter(|o| o.arm == "parser").collect();
    let model: Vec<&Outcome> = results.iter().filter(|o| o.arm == "model").collect();
    if parser.len() == model.len() && !parser.is_empty() {
        let only_model = parser.iter().zip(&model).filter(|(p, m)| m.exact && !p.exact).count();
        let only_parser = parser.iter().zip(&model).filter(|(p, m)| p.exact && !m.exact).count();
        let gain = 100.0 * (only_model as f64 - only_parser as f64) / parser.len() as f64;
        s += &format!(
            "\nModel-ranked against parser-only, exact match on the same {} files: {:+.1} points ({} files only the model restored, {} only the parser; McNemar exact p = {:.2e}).\n",
            parser.len(),
            gain,
            only_model,
            only_parser,
            mcnemar(only_model, only_parser)
        );
        let ranks: Vec<usize> = model.iter().filter_map(|o| o.rank_of_original).collect();
        let found = model.iter().filter(|o| o.kinds.len() == 1).count();
        if found > 0 {
            let at = |k: usize| ranks.iter().filter(|&&r| r < k).count();
            s += &format!(
                "The original was among the model's valid candidates in {} of {} single-breakage files: ranked first {}, in the top 3 {}.\n",
                ranks.len(),
                found,
                at(1),
                at(3)
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breakages_add_errors_and_are_reproducible() {
        let file = "def f(values):\n    total = 0\n    for v in values:\n        total += v\n    return total\n";
        let draw = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            break_file(&mut rng, file, Language::Python, 2).map(|c| c.broken)
        };
        let broken = draw(3).expect("a breakage");
        assert!(syntax_errors(&broken, 0..broken.len(), Language::Python) > 0);
        assert_eq!(draw(3), Some(broken));
    }

    #[test]
    fn a_missing_end_is_drawn_in_ruby_and_bash() {
        for (file, language, closer) in [
            ("def f(x)\n  if x\n    1\n  end\nend\n", Language::Ruby, "end"),
            ("if true; then\n  for i in 1 2; do\n    echo $i\n  done\nfi\n", Language::Bash, "done"),
        ] {
            let found = (0..200).find_map(|seed| {
                let case = break_file(&mut StdRng::seed_from_u64(seed), file, language, 1)?;
                (case.kinds == ["missing end"]).then_some(case.broken)
            });
            let broken = found.unwrap_or_else(|| panic!("{language}: no missing end drawn"));
            assert!(
                broken.matches(closer).count() < file.matches(closer).count() || broken.matches("fi").count() < file.matches("fi").count(),
                "{broken}"
            );
            assert!(syntax_errors(&broken, 0..broken.len(), language) > 0, "{broken}");
        }
    }

    #[test]
    fn long_files_are_cut_into_pieces_that_parse_alone() {
        let function = |i: usize| format!("static int f{i}(int x) {{\n    int y = x + {i};\n    return y * 2;\n}}\n\n");
        let text: String = (0..120).map(function).collect();
        let pieces = pieces(&text, Language::C);
        assert!(pieces.len() >= 3, "{:?}", pieces.iter().map(|p| p.lines().count()).collect::<Vec<_>>());
        for piece in &pieces {
            assert!(piece.lines().count() <= 150);
            assert_eq!(syntax_errors(piece, 0..piece.len(), Language::C), 0, "{piece}");
            assert!(piece.starts_with("static int f"), "{piece}");
        }
        let short: String = (0..3).map(function).collect();
        assert_eq!(super::pieces(&short, Language::C), vec![short.clone()]);
    }

    #[test]
    fn mcnemar_is_symmetric_and_bounded() {
        assert_eq!(mcnemar(0, 0), 1.0);
        assert!((mcnemar(10, 0) - 2.0 / 1024.0).abs() < 1e-9);
        assert_eq!(mcnemar(3, 7), mcnemar(7, 3));
    }

    #[test]
    fn token_distance_counts_token_edits() {
        assert_eq!(token_distance("x = f(a)\n", "x = f(a\n"), 1);
        assert_eq!(token_distance("x = 1\n", "x = 1\n"), 0);
        assert_eq!(token_distance("x = 1\n", "x  =\t1"), 0, "whitespace separates, and is not counted");
        assert_eq!(token_distance("if a == b_1:\n", "if a = b_1:\n"), 1);
        // A quote that closes a string: one edit, however the unclosed string threw the parse.
        let broken = "f() {\n    cmd=\"${words[i]}\n    break\n}\n";
        assert_eq!(token_distance(broken, &broken.replace("cmd=", "\"cmd=")), 1);
        assert_eq!(lexemes("é😀 ab1_c+=\"x\""), ["é", "😀", "ab1_c", "+", "=", "\"", "x", "\""]);
    }
}
