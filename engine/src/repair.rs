//! Syntax repair: the parser proposes and checks, the model ranks.
//!
//! For each syntax error in the requested range, in document order, the grammars crate
//! enumerates small token edits near it and keeps those the parser accepts
//! ([`SyntaxTree::repair_candidates`]); the model adds its own top choices at a mask in each
//! gap to what is tried ([`ModelSuggest`]), then scores every valid candidate by the
//! pseudo-log-likelihood of the tokens around its change, each masked in turn, all in a few
//! batched passes ([`pll`]). The best candidate is applied and the next error searched in the
//! repaired text. Without a model (the parser-only arm of `anneal eval syntax-repair`), the
//! candidate with the fewest edits wins, ties by position.

use std::ops::{ControlFlow, Range};
use std::time::{Duration, Instant};

use anneal_grammars::{Candidate, Change, Language, NoSuggestions, SearchLimits, Suggest, SyntaxTree};
use anneal_models::{Denoiser, Model};
use candle_core::{DType, Tensor, D};

use super::{EngineError, EngineProgress};

/// How a repair is made (the `repair` setting).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepairMode {
    /// Parser-checked candidates ranked by the model, where the range has syntax errors.
    #[default]
    Search,
    /// Edit mode's leave-one-out rounds over the widened span (a rewrite).
    Locate,
    /// No repair by search; a range with errors is rewritten like any other.
    Off,
}

/// Who picks among the valid candidates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ranker {
    /// The fewest edits, then the earliest change: the grammar alone.
    Parser,
    /// The model's pseudo-log-likelihood of the changed window, minus `prior` nats per unit of
    /// the candidate's weight (an edit weighs 1 to 3, see [`Candidate::weight`]).
    Model { prior: f32 },
}

/// Log-likelihood charged per token edit: an edit the model finds only slightly more likely
/// than a smaller one should not win. Chosen on seed 1 of `anneal eval syntax-repair` (the
/// reported figures are seed 0).
pub const EDIT_PRIOR: f32 = 2.0;

/// Errors repaired in one request at most: more is not a typo.
const MAX_ERRORS: usize = 8;
/// Tokens of context on each side of a scored window. A typo's repair is judged by the few
/// tokens around it: on `anneal eval syntax-repair --languages python,rust,go,javascript`,
/// 8 restored as many files exactly as 32 within one in 400 (seed 0: 79.0% against 79.2%;
/// seed 1: 76.2% against 76.5%) in two thirds of the time (p50 212 against 333 ms, seed 0).
const SCORE_CONTEXT: usize = 8;
/// Candidates the model scores for one error at most (the likeliest by edit count, weight and
/// the sources of their tokens): the cost of ranking grows with each, and on seed 1 of `anneal
/// eval syntax-repair` 12 restored more files exactly than 24 (71.9% against 70.0%).
const MAX_SCORED: usize = 12;
/// Tokens on each side of a change that are scored with it, so that a deletion (which leaves no
/// token of its own) is judged by how its neighbours read.
const SCORE_NEIGHBOURS: usize = 1;
/// The model's top choices proposed at each gap and token.
const SUGGESTIONS: usize = 4;

pub struct RepairRequest<'a> {
    pub text: &'a str,
    /// Errors touching this range are repaired.
    pub target: Range<usize>,
    pub language: Language,
    /// The parse of `text`, when the caller keeps one.
    pub syntax: Option<&'a SyntaxTree>,
}

/// One way to repair an error, with the model's score where it ranked.
#[derive(Clone, Debug)]
pub struct Scored {
    pub candidate: Candidate,
    pub score: f32,
}

/// What a repair did.
#[derive(Clone, Debug, Default)]
pub struct Repaired {
    /// The whole change (one replacement of the input's bytes); `None` when nothing was found.
    pub change: Option<Change>,
    /// What was done, one entry per error repaired.
    pub steps: Vec<String>,
    /// For the first error: the ranked candidates, best first.
    pub alternatives: Vec<Scored>,
    /// Errors in the target before and after.
    pub errors_before: usize,
    pub errors_after: usize,
    /// Reparses and forward passes spent.
    pub parses: usize,
    pub forward_passes: usize,
    /// An error the search could not repair within its limits, in bytes of the input.
    pub unrepaired: Option<Range<usize>>,
}

impl Repaired {
    /// A title for an editor: `insert ':'`, or the steps joined.
    pub fn title(&self) -> Option<String> {
        (!self.steps.is_empty()).then(|| self.steps.join("; "))
    }
}

/// Repairs the syntax errors of `request.target`, first to last.
pub fn repair(
    model: Option<&Model>,
    request: &RepairRequest,
    ranker: Ranker,
    deadline: Option<Duration>,
    observe: &mut dyn FnMut(&EngineProgress) -> ControlFlow<()>,
) -> Result<Repaired, EngineError> {
    anneal_grammars::check_range(request.text, &request.target)?;
    let started = Instant::now();
    let mut text = request.text.to_string();
    let mut tree = match request.syntax {
        Some(tree) => tree.clone(),
        None => SyntaxTree::new(&text, Some(request.language)),
    };
    let mut target = request.target.clone();
    let mut out = Repaired { errors_before: tree.syntax_errors(&text, target.clone()), ..Default::default() };
    let mut passes = 0;
    // The repaired text with the fewest errors in the target so far (the earliest of equals),
    // its steps and its errors.
    let mut fewest_errors: Option<(String, usize, usize)> = None;
    // The first error searched, in the input's bytes.
    let mut first_error: Option<Range<usize>> = None;
    // Errors left in the target, counted once a round after its change.
    let mut errors_left = out.errors_before;
    for round in 0..MAX_ERRORS {
        if errors_left == 0 {
            break;
        }
        // Each error gets the deadline, the whole request at most three times it.
        let limits = SearchLimits { deadline: deadline.map(|d| (Instant::now() + d).min(started + 3 * d)), ..SearchLimits::default() };
        // In a large file the search reparses a window around the error, not the file: a
        // reparse after a fix re-reads everything the error had thrown off, and in 10,000 lines
        // that cost ~10 ms a candidate. The winner is then checked on the whole file.
        let errors_now = tree.errors(&text, 1000);
        let first = errors_now.iter().find(|e| e.range.start <= target.end && target.start <= e.range.end);
        let local = match &first {
            Some(error) if text.len() > LOCAL_ABOVE => local_window(&tree, &text, &error.range),
            _ => 0..text.len(),
        };
        let local_tree;
        let (search_text, search_tree, search_target) = if local == (0..text.len()) {
            (text.as_str(), &tree, target.clone())
        } else {
            let at = first.expect("a window only around an error").range.start - local.start;
            local_tree = SyntaxTree::new(&text[local.clone()], Some(request.language));
            (&text[local.clone()], &local_tree, at..at)
        };
        let (mut outcome, cancelled) = {
            let mut progress = Progress { observe: &mut *observe, round, last: None, cancelled: false };
            // The grammar's own tokens first. The model's top choices at each gap are asked
            // for only when those find nothing: where the grammar has candidates, adding the
            // model's made repairs slower and no better (seed 1 of `anneal eval
            // syntax-repair`: exact 68.1% with them, 70.0% without, p50 341 → 157 ms).
            let mut outcome = search_tree.repair_candidates(search_text, search_target.clone(), &limits, &mut ProgressOnly(&mut progress));
            if let (Some(model), Ranker::Model { .. }, true, false) = (model, ranker, outcome.candidates.is_empty(), progress.cancelled) {
                let mut suggest = ModelSuggest { model, progress: &mut progress, passes: 0, asked: false };
                let parses = outcome.parses;
                outcome = search_tree.repair_candidates(search_text, search_target.clone(), &limits, &mut suggest);
                outcome.parses += parses;
                passes += suggest.passes;
            }
            (outcome, progress.cancelled)
        };
        out.parses += outcome.parses;
        if cancelled {
            return Err(EngineError::Cancelled);
        }
        let Some(error) = outcome.error else { break };
        for candidate in &mut outcome.candidates {
            candidate.change.range = candidate.change.range.start + local.start..candidate.change.range.end + local.start;
        }
        let unrepaired = error.range.start + local.start..error.range.end + local.start;
        first_error.get_or_insert(unrepaired.clone());
        let searched = Searched { text: search_text, tree: search_tree, offset: local.start };
        let mut ranked = rank(model, ranker, &text, &searched, outcome.candidates, &mut passes, observe, round)?;
        // Of the model's first four, the candidate that leaves the fewest errors in the whole
        // file (in a window, one could have thrown off the code past its end), the better
        // ranked of equals; it must leave fewer errors than there are, or as many but fewer
        // tokens the parse cannot place (one of several mistakes in one error mended). Fewest,
        // not the first that leaves fewer: a Bash `case` that lost its `esac` was "mended" by
        // a `|` that left one error no later round could mend, where the model's second
        // choice, the `esac`, left none.
        let unplaced_now = tree.unplaced_tokens(&text, 0..text.len());
        let mut chosen: Option<(usize, usize, String, SyntaxTree)> = None;
        for (i, scored) in ranked.iter().enumerate().take(4) {
            let (new_text, next) = changed(&tree, &text, &scored.candidate.change);
            let errors_next = next.errors(&new_text, 1000).len();
            let mends = errors_next < errors_now.len()
                || (errors_next <= errors_now.len() + 1 && next.unplaced_tokens(&new_text, 0..new_text.len()) < unplaced_now);
            if mends && chosen.as_ref().is_none_or(|c| errors_next < c.1) {
                chosen = Some((i, errors_next, new_text, next));
                if errors_next == 0 {
                    break;
                }
            }
        }
        let Some((i, _, new_text, new_tree)) = chosen else {
            out.unrepaired = Some(unrepaired);
            break;
        };
        let best = ranked.remove(i);
        if round == 0 {
            out.alternatives = std::iter::once(best.clone()).chain(ranked).collect();
        }
        let Change { range, text: inserted } = &best.candidate.change;
        text = new_text;
        tree = new_tree;
        let delta = inserted.len() as isize - range.len() as isize;
        target = target.start.min(range.start)
            ..((target.end as isize + delta).max(0) as usize).max(range.start + inserted.len()).min(text.len());
        out.steps.push(best.candidate.description.clone());
        errors_left = tree.syntax_errors(&text, target.clone());
        if fewest_errors.as_ref().is_none_or(|(_, _, fewest)| errors_left < *fewest) {
            fewest_errors = Some((text.clone(), out.steps.len(), errors_left));
        }
    }
    out.forward_passes = passes;
    out.errors_after = errors_left;
    // Mending one of several mistakes in an error can split it in two, or leave it; if the rest
    // could not be mended, go back to the text with the fewest errors, and to the input where no
    // round left fewer than it had: edits that leave as many errors mend nothing a user can see
    // (in a Ruby file whose one ERROR runs from the top, they were `end`s closing modules early).
    if out.errors_after > 0 {
        let (kept, steps, errors) = fewest_errors
            .filter(|(_, _, errors)| *errors < out.errors_before)
            .unwrap_or_else(|| (request.text.to_string(), 0, out.errors_before));
        text = kept;
        out.steps.truncate(steps);
        out.errors_after = errors;
        if steps == 0 {
            out.unrepaired = first_error;
        }
    }
    if text != request.text {
        out.change = Some(Change::between(request.text, &text));
    }
    Ok(out)
}

/// Texts larger than this are searched in a window around each error.
const LOCAL_ABOVE: usize = 32 << 10;

/// A window around `error`: 1 KiB before it and after it (after at most 64 KiB of it: an
/// ERROR can run to the end of the file), grown to whole top-level nodes of the file's parse and
/// to whole lines, so that near the error the window parses as the file does. Every candidate
/// reparses the window, and its cost grows with it: on 10,000-line files, 1 KiB against 4 KiB
/// took the median repair from 839 to 441 ms (Python) and 761 to 466 ms (Rust), the same files
/// fixed and restored (`anneal eval syntax-repair --large`, seeds 0 and 1, 64 files).
fn local_window(tree: &SyntaxTree, text: &str, error: &Range<usize>) -> Range<usize> {
    const MARGIN: usize = 1 << 10;
    let b = text.as_bytes();
    let from = floor_boundary(text, error.start.saturating_sub(MARGIN));
    let to = ceil_boundary(text, (error.end.min(error.start + (64 << 10)) + MARGIN).min(text.len()));
    let bounds = tree.top_level_bounds(text, from..to);
    let start = b[..bounds.start].iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
    let end = b[bounds.end..].iter().position(|&c| c == b'\n').map_or(b.len(), |i| bounds.end + i + 1);
    start..end
}

/// Orders the valid candidates, best first. The model ranks the ones it scores by the lines
/// each leaves at odds with the file's indentation (fewest first; see
/// [`SyntaxTree::misnested_lines`]), then by its score: where a small model cannot tell a lost
/// `end` put back where the indentation stops from one put at the end of the file, the
/// author's indentation can.
#[allow(clippy::too_many_arguments)]
fn rank(
    model: Option<&Model>,
    ranker: Ranker,
    text: &str,
    searched: &Searched,
    candidates: Vec<Candidate>,
    passes: &mut usize,
    observe: &mut dyn FnMut(&EngineProgress) -> ControlFlow<()>,
    round: usize,
) -> Result<Vec<Scored>, EngineError> {
    let fewest = |c: &Candidate| (c.edits, c.change.range.start, c.change.text.len());
    let mut scored: Vec<(usize, Scored)> = match (model, ranker) {
        (Some(model), Ranker::Model { prior }) if candidates.len() > 1 => {
            // The model scores the likeliest [`MAX_SCORED`]; the rest rank below them.
            let mut candidates = candidates;
            candidates.sort_by_key(|c| (c.edits, c.weight, c.sources));
            let unscored = candidates.split_off(candidates.len().min(MAX_SCORED));
            let scores = pll(model, text, &candidates, passes)?;
            if observe(&progress(round, 1, 1)).is_break() {
                return Err(EngineError::Cancelled);
            }
            let floor = scores.iter().copied().fold(f32::INFINITY, f32::min);
            let scored = candidates.into_iter().zip(scores).map(|(candidate, s)| {
                (searched.misnested(&candidate.change), Scored { score: s - prior * candidate.weight as f32, candidate })
            });
            scored
                .chain(
                    unscored
                        .into_iter()
                        .map(|candidate| (usize::MAX, Scored { score: floor - 1.0 - prior * candidate.weight as f32, candidate })),
                )
                .collect()
        }
        _ => candidates.into_iter().map(|candidate| (0, Scored { score: -(candidate.edits as f32), candidate })).collect(),
    };
    scored.sort_by(|(ma, a), (mb, b)| {
        ma.cmp(mb).then_with(|| b.score.total_cmp(&a.score)).then_with(|| fewest(&a.candidate).cmp(&fewest(&b.candidate)))
    });
    Ok(scored.into_iter().map(|(_, s)| s).collect())
}

/// The text a search ran on (a window around the error in a large file) and its parse.
struct Searched<'a> {
    text: &'a str,
    tree: &'a SyntaxTree,
    /// Where `text` starts in the document.
    offset: usize,
}

impl Searched<'_> {
    /// Lines at odds with the indentation after `change` (in document offsets), within
    /// [`NESTING_REACH`] of it: the search's text is reparsed, not the whole document.
    fn misnested(&self, change: &Change) -> usize {
        if self.tree.language().is_none_or(Language::indentation_is_syntax) {
            return 0;
        }
        let range = change.range.start - self.offset..change.range.end - self.offset;
        let (repaired, next) = changed(self.tree, self.text, &Change { range: range.clone(), text: change.text.clone() });
        let end = range.start + change.text.len();
        next.misnested_lines(&repaired, range.start.saturating_sub(NESTING_REACH)..(end + NESTING_REACH).min(repaired.len()))
    }
}

/// `text` with `change` applied, and `tree` (its parse) reparsed incrementally to match.
fn changed(tree: &SyntaxTree, text: &str, change: &Change) -> (String, SyntaxTree) {
    let mut next = tree.clone();
    let new_text = change.apply(text);
    next.edit(&anneal_grammars::TextEdit::replace(text, change.range.clone(), &change.text));
    next.reparse(&new_text);
    (new_text, next)
}

/// Bytes on each side of a change whose lines' indentation is checked against the parse: a lost
/// closer put back at the wrong place misnests the blocks that follow it, a few screens away.
const NESTING_REACH: usize = 16 << 10;

fn progress(round: usize, step: usize, remaining: usize) -> EngineProgress {
    EngineProgress { attempt: 0, block: round, blocks: round + 1, step, remaining, preview: None }
}

/// Reports progress and checks for cancellation while the parser searches, at most every
/// 50 ms (each report is a message to the editor).
struct Progress<'a> {
    observe: &'a mut dyn FnMut(&EngineProgress) -> ControlFlow<()>,
    round: usize,
    last: Option<Instant>,
    cancelled: bool,
}

impl Progress<'_> {
    fn check(&mut self) -> bool {
        if !self.cancelled && self.last.is_none_or(|t| t.elapsed() >= Duration::from_millis(50)) {
            self.last = Some(Instant::now());
            self.cancelled = (self.observe)(&progress(self.round, 0, 1)).is_break();
        }
        self.cancelled
    }
}

struct ProgressOnly<'a, 'b>(&'a mut Progress<'b>);

impl Suggest for ProgressOnly<'_, '_> {
    fn suggest(&mut self, text: &str, sites: &[Range<usize>]) -> Vec<Vec<String>> {
        NoSuggestions.suggest(text, sites)
    }
    fn cancelled(&mut self) -> bool {
        self.0.check()
    }
}

/// The model's top choices at a mask put in each gap, or over each token.
struct ModelSuggest<'a, 'b> {
    model: &'a Model,
    progress: &'a mut Progress<'b>,
    passes: usize,
    /// Asked once, for the error as found: deeper states differ by an edit or two, and what the
    /// model would put in their gaps is nearly the same.
    asked: bool,
}

impl Suggest for ModelSuggest<'_, '_> {
    fn suggest(&mut self, text: &str, sites: &[Range<usize>]) -> Vec<Vec<String>> {
        if self.asked || sites.is_empty() {
            return vec![vec![]; sites.len()];
        }
        self.asked = true;
        match self.top_choices(text, sites) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!("model suggestions failed: {e}");
                vec![vec![]; sites.len()]
            }
        }
    }
    fn cancelled(&mut self) -> bool {
        self.progress.check()
    }
}

impl ModelSuggest<'_, '_> {
    fn top_choices(&mut self, text: &str, sites: &[Range<usize>]) -> anyhow::Result<Vec<Vec<String>>> {
        let model = self.model;
        let mask = model.config.mask_token_id;
        let mut canvases = vec![];
        let mut at = vec![];
        for site in sites {
            let left = super::tail_tokens(model, &text[..site.start], SCORE_CONTEXT)?;
            let right = super::head_tokens(model, &text[site.end..], SCORE_CONTEXT)?;
            at.push(left.len());
            canvases.push([left, vec![mask], right].concat());
        }
        let (canvases, at) = equal_lengths(canvases, at);
        let logits = model.logits_at(&canvases, &at)?;
        self.passes += canvases.len().div_ceil(64).max(1);
        let specials = model.specials();
        let mut out = vec![];
        for row in 0..sites.len() {
            let row = logits.get(row)?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
            let mut ids: Vec<u32> =
                (0..row.len() as u32).filter(|&i| i != specials.mask && i != specials.pad && i != specials.eos).collect();
            ids.sort_by(|&a, &b| row[b as usize].total_cmp(&row[a as usize]));
            let texts = ids
                .iter()
                .take(SUGGESTIONS)
                .filter_map(|&i| model.tokenizer.decode(&[i]).ok())
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect();
            out.push(texts);
        }
        Ok(out)
    }
}

/// Canvases cut to one length (the shortest), so that one batch holds them all: the right
/// context is shortened first, then the left, keeping each asked position inside.
fn equal_lengths(canvases: Vec<Vec<u32>>, at: Vec<usize>) -> (Vec<Vec<u32>>, Vec<usize>) {
    let len = canvases.iter().map(Vec::len).min().unwrap_or(0);
    canvases
        .into_iter()
        .zip(at)
        .map(|(mut c, i)| {
            let keep_right = (c.len() - i - 1).min(len.saturating_sub(i + 1));
            c.truncate(i + 1 + keep_right);
            let drop_left = c.len() - len;
            (c[drop_left..].to_vec(), i - drop_left)
        })
        .unzip()
}

/// Each candidate's pseudo-log-likelihood: the repaired text around its change is tokenized
/// once; every token overlapping the change, and [`SCORE_NEIGHBOURS`] on each side, is masked in
/// turn and scored by the model's log-probability of it; the sum is the score. All masked
/// canvases of all candidates go through [`Denoiser::logits_at`] in one batch (chunked by
/// size), so ranking ten candidates costs a few passes, not a hundred.
pub fn pll(model: &Model, text: &str, candidates: &[Candidate], passes: &mut usize) -> anyhow::Result<Vec<f32>> {
    let mask = model.config.mask_token_id;
    let mut canvases: Vec<Vec<u32>> = vec![];
    let mut at = vec![];
    let mut truth = vec![];
    // Who adds (or subtracts) each canvas's log-probability: candidates near one error share
    // most of the broken text's canvases, which are asked once.
    let mut owners: Vec<Vec<(usize, f32)>> = vec![];
    let mut asked: std::collections::HashMap<(Vec<u32>, usize, u32), usize> = std::collections::HashMap::new();
    for (index, candidate) in candidates.iter().enumerate() {
        let repaired = candidate.change.apply(text);
        let change = &candidate.change;
        let reach = (SCORE_CONTEXT + 8) * 16;
        let from = floor_boundary(text, change.range.start.saturating_sub(reach));
        let to = ceil_boundary(text, (change.range.end + reach).min(text.len()));
        let new_to = to + change.text.len() - change.range.len();
        let before = model.tokenizer.encode(&text[from..to])?;
        let ids = model.tokenizer.encode(&repaired[from..new_to])?;
        // The tokens the change made, and their neighbours: a multi-edit candidate is scored
        // where it edits, not over the unchanged code between its edits.
        let (mut scored, mut replaced) = (std::collections::BTreeSet::new(), std::collections::BTreeSet::new());
        for op in similar::capture_diff_slices(similar::Algorithm::Myers, &before, &ids) {
            if op.tag() == similar::DiffTag::Equal {
                continue;
            }
            let (new, old) = (op.new_range(), op.old_range());
            scored.extend(new.start.saturating_sub(SCORE_NEIGHBOURS)..(new.end + SCORE_NEIGHBOURS).min(ids.len()));
            replaced.extend(old.start.saturating_sub(SCORE_NEIGHBOURS)..(old.end + SCORE_NEIGHBOURS).min(before.len()));
        }
        // The repaired tokens count for the candidate, the tokens they replaced against it: the
        // score is the log-likelihood ratio of the change, so that a deletion pays for the
        // token it takes away as an insertion pays for the tokens it adds.
        // A change of indentation alone is scored on what it makes: the small model reads
        // white space poorly, and weighing the indentation a line had against the one it gets
        // let a dedent elsewhere win over the re-indent that was lost (a 10,000-line file
        // then took three rounds to its time limit).
        let whitespace = |s: &str| s.chars().all(char::is_whitespace);
        let against = if whitespace(&change.text) && whitespace(&text[change.range.clone()]) { 0.0 } else { -1.0 };
        for (tokens, positions, sign) in [(&ids, scored, 1.0), (&before, replaced, against)] {
            if sign == 0.0 {
                continue;
            }
            for position in positions {
                let window = position.saturating_sub(SCORE_CONTEXT)..(position + 1 + SCORE_CONTEXT).min(tokens.len());
                let mut canvas = tokens[window.clone()].to_vec();
                let i = position - window.start;
                let token = std::mem::replace(&mut canvas[i], mask);
                let next = canvases.len();
                let slot = *asked.entry((canvas.clone(), i, token)).or_insert(next);
                if slot == next {
                    canvases.push(canvas);
                    at.push(i);
                    truth.push(token);
                    owners.push(vec![]);
                }
                owners[slot].push((index, sign));
            }
        }
    }
    let mut scores = vec![0f32; candidates.len()];
    if canvases.is_empty() {
        return Ok(scores);
    }
    // Windows near the start or end of the file are shorter: batch by length.
    let mut order: Vec<usize> = (0..canvases.len()).collect();
    order.sort_by_key(|&i| canvases[i].len());
    for group in order.chunk_by(|&a, &b| canvases[a].len() == canvases[b].len()) {
        let batch: Vec<Vec<u32>> = group.iter().map(|&i| canvases[i].clone()).collect();
        let positions: Vec<usize> = group.iter().map(|&i| at[i]).collect();
        let logits = model.logits_at(&batch, &positions)?.to_dtype(DType::F32)?;
        *passes += 1;
        let log_probs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let ids = Tensor::new(group.iter().map(|&i| truth[i]).collect::<Vec<u32>>(), log_probs.device())?.unsqueeze(1)?;
        let picked = log_probs.gather(&ids, 1)?.squeeze(1)?.to_vec1::<f32>()?;
        for (&i, lp) in group.iter().zip(picked) {
            for &(candidate, sign) in &owners[i] {
                scores[candidate] += sign * lp;
            }
        }
    }
    Ok(scores)
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, language: Language, ranker: Ranker) -> Repaired {
        let model = Model::load_default(&candle_core::Device::Cpu).unwrap();
        let request = RepairRequest { text, target: 0..text.len(), language, syntax: None };
        repair(Some(&model), &request, ranker, None, &mut |_| ControlFlow::Continue(())).unwrap()
    }

    #[test]
    fn the_readme_example_is_repaired_and_parses() {
        let text = "def total(values):\n    result = 0\n    for v in values\n        result += v\n    print(result\n    return result\n";
        let repaired = run(text, Language::Python, Ranker::Model { prior: EDIT_PRIOR });
        let change = repaired.change.clone().expect("a repair");
        let fixed = change.apply(text);
        assert_eq!(anneal_grammars::syntax_errors(&fixed, 0..fixed.len(), Language::Python), 0, "{fixed}");
        assert_eq!(repaired.errors_after, 0);
        assert!(repaired.errors_before >= 2, "{repaired:?}");
        // tree-sitter holds both mistakes in one ERROR node: one step of two edits.
        let steps = repaired.steps.join("; ");
        assert!(steps.contains("insert ':'") && steps.contains("insert ')'"), "{steps}");
        assert!(fixed.contains("for v in values:\n"), "{fixed}");
        assert!(fixed.contains("print(result)\n"), "{fixed}");
        assert!(repaired.forward_passes > 0);
    }

    #[test]
    fn several_mistakes_in_one_error_are_repaired_one_after_another() {
        let original = "from typing import List, Tuple\n\n\ndef sum_product(numbers: List[int]) -> Tuple[int, int]:\n    sum_value = 0\n    prod_value = 1\n\n    for n in numbers:\n        sum_value += n\n        prod_value *= n\n    return sum_value, prod_value\n";
        let broken = original.replace("int])", "int)]").replace("numbers:\n", "numbers\n").replace("return", "retrun");
        for ranker in [Ranker::Parser, Ranker::Model { prior: EDIT_PRIOR }] {
            let repaired = run(&broken, Language::Python, ranker);
            let fixed = repaired.change.clone().expect("a repair").apply(&broken);
            assert_eq!(anneal_grammars::syntax_errors(&fixed, 0..fixed.len(), Language::Python), 0, "{ranker:?}: {fixed}");
            assert!(fixed.contains("List[int])"), "{ranker:?}: {fixed}");
            assert_eq!(repaired.errors_after, 0, "{ranker:?}");
        }
    }

    #[test]
    fn a_clean_text_is_left_alone() {
        let text = "def f(x):\n    return x\n";
        let repaired = run(text, Language::Python, Ranker::Parser);
        assert!(repaired.change.is_none() && repaired.steps.is_empty() && repaired.errors_before == 0);
    }

    #[test]
    fn cancellation_stops_the_repair() {
        let model = Model::load_default(&candle_core::Device::Cpu).unwrap();
        let text = "def f(x)\n    return x\n";
        let request = RepairRequest { text, target: 0..text.len(), language: Language::Python, syntax: None };
        let result = repair(Some(&model), &request, Ranker::Model { prior: EDIT_PRIOR }, None, &mut |_| ControlFlow::Break(()));
        assert!(matches!(result, Err(EngineError::Cancelled)), "{result:?}");
    }

    #[test]
    fn equal_lengths_keep_the_asked_position() {
        let (c, at) = equal_lengths(vec![vec![1, 2, 9, 3, 4], vec![5, 9, 6], vec![7, 8, 8, 9]], vec![2, 1, 3]);
        assert!(c.iter().all(|c| c.len() == 3));
        for (c, i) in c.iter().zip(at) {
            assert_eq!(c[i], 9);
        }
    }
}
