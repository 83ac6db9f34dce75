//! The edit engine: joins the grammars (where and in which order to edit) and the models (what
//! to write). It sees text and byte ranges only; LSP and the command line both call it.
//!
//! One rewrite: plan the span (widened to whole syntax nodes, cut into blocks, ordered), then
//! decode each block in the plan's order on a canvas between the code before and after it,
//! then verify that the new span adds no syntax error; otherwise retry with more steps and
//! smaller blocks, and report rather than return a broken edit.

// The engine serves the language server, whose stdout is the LSP channel.
#![deny(clippy::print_stdout)]

use std::ops::{ControlFlow, Range};

use anneal_grammars::{self as grammars, BlockBudget, Language, SyntaxTree, Verdict};
use anneal_models::edit_sampler::{decode_edit, EditConfig, EditRequest};
use anneal_models::mask_sampler::{decode_masked, MaskConfig, MaskRequest, Outcome, SampleError, Schedule, StepReport};
use anneal_models::{Family, Model};

mod fill;
mod frame;
mod instruct;
mod many;
mod model_source;
pub mod repair;
pub use fill::{fill, FillRequest};
pub use frame::frame;
pub use many::{batched, rewrite_many};
pub use model_source::ModelSource;

/// How a block is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SamplingMode {
    /// Edit mode when the checkpoint was edit-trained, mask mode otherwise.
    Auto,
    /// Regenerate each block from masks.
    Mask,
    /// Start from the existing tokens and correct them.
    Edit,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct EditSettings {
    /// Largest block, in model tokens.
    pub block_tokens: usize,
    /// Tokens of context kept on each side of a block.
    pub context_tokens: usize,
    /// Extra canvas positions beyond the original length, as a fraction of it, so a span can
    /// grow; unused slack decodes to pad.
    pub slack: f32,
    pub mode: SamplingMode,
    pub mask: MaskConfig,
    pub edit: EditConfig,
    /// Attempts after the first when a proposal adds syntax errors.
    pub retries: usize,
    /// Return a proposal even when it adds syntax errors (plumbing tests on random weights).
    pub accept_syntax_errors: bool,
    /// Largest canvas (context, block and slack) one forward pass may see. Attention memory
    /// grows with its square, so this bounds what one request can allocate, whatever the
    /// model allows; a block that does not fit (a huge string literal) is a clear error.
    pub max_canvas_tokens: usize,
    /// Report the span's text after every step (`anneal/preview` over LSP).
    pub preview: bool,
    /// Regions decoded together, one forward pass for all of them per step (*Apply to every
    /// function*); memory grows with it, up to this many canvases of `maxCanvasTokens`.
    pub batch: usize,
    /// How *Repair syntax error* repairs: `search` (small edits the parser accepts, ranked by
    /// the model), `locate` (a rewrite of the error's lines by edit mode's leave-one-out
    /// rounds) or `off` (a rewrite like any other).
    pub repair: repair::RepairMode,
}

impl EditSettings {
    /// Values serde accepts but the engine cannot use; `None` when all are in range.
    pub fn out_of_range(&self) -> Option<String> {
        let checks: [(bool, &str); 10] = [
            ((1..=64).contains(&self.batch), "batch must be 1..=64"),
            ((1..=4096).contains(&self.block_tokens), "blockTokens must be 1..=4096"),
            (self.context_tokens <= 8192, "contextTokens must be at most 8192"),
            ((0.0..=4.0).contains(&self.slack), "slack must be 0..=4"),
            ((16..=32768).contains(&self.max_canvas_tokens), "maxCanvasTokens must be 16..=32768"),
            (
                (0.0..=1.0).contains(&self.mask.threshold) && self.mask.max_steps >= 1,
                "mask.threshold must be 0..=1 and mask.maxSteps at least 1",
            ),
            (self.mask.edit_threshold.is_none_or(|t| (0.0..=1.0).contains(&t)), "mask.editThreshold must be 0..=1 or null"),
            (self.edit.max_steps >= 1, "edit.maxSteps must be at least 1"),
            (self.edit.locate_odds >= 1.0 && self.edit.locate_odds.is_finite(), "edit.locateOdds must be at least 1"),
            ((0.0..=1.0).contains(&self.edit.delete_threshold), "edit.deleteThreshold must be 0..=1"),
        ];
        checks.iter().find(|(ok, _)| !ok).map(|(_, why)| why.to_string())
    }
}

impl Default for EditSettings {
    fn default() -> Self {
        Self {
            block_tokens: 64,
            // With a 64-token block this keeps a canvas within the 256 positions the default
            // model was trained on; longer canvases are out of its distribution.
            context_tokens: 96,
            slack: 0.25,
            mode: SamplingMode::Auto,
            mask: MaskConfig::default(),
            edit: EditConfig::default(),
            retries: 2,
            accept_syntax_errors: false,
            max_canvas_tokens: 2048,
            preview: false,
            batch: 4,
            repair: repair::RepairMode::Search,
        }
    }
}

pub struct RewriteRequest<'a> {
    pub text: &'a str,
    pub selection: Range<usize>,
    pub language: Option<Language>,
    /// The parse of `text` in `language`, when the caller keeps one (an open document); without
    /// it the engine parses the text, or its window.
    pub syntax: Option<&'a SyntaxTree>,
    pub instruction: Option<&'a str>,
}

/// What the engine proposes: replace `span` of the text with `replacement`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub span: Range<usize>,
    pub replacement: String,
    pub syntax_errors_before: usize,
    pub syntax_errors_after: usize,
    pub blocks: usize,
    pub steps: usize,
    pub forward_passes: usize,
    pub generated_tokens: usize,
}

/// Progress as the engine reports it to its caller (LSP work-done progress, a CLI bar).
pub struct EngineProgress {
    pub attempt: usize,
    pub block: usize,
    pub blocks: usize,
    pub step: usize,
    pub remaining: usize,
    /// With `EditSettings::preview`: the whole span as it stands after this step — blocks
    /// done, the current canvas (a masked position shows as [`MASK_GLYPH`]), blocks to come.
    pub preview: Option<Preview>,
}

/// The span being rewritten (byte offsets of the original text) and its text right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    pub span: Range<usize>,
    pub text: String,
}

/// How a still-masked canvas position appears in a preview.
pub const MASK_GLYPH: char = '░';

/// The text of a canvas: runs of tokens decoded (pad and end-of-text vanish, as they will in
/// the result), each mask a [`MASK_GLYPH`].
fn canvas_text(model: &Model, canvas: &[Option<u32>]) -> anyhow::Result<String> {
    let mut out = String::new();
    for run in canvas.chunk_by(|a, b| a.is_some() == b.is_some()) {
        if run[0].is_some() {
            out.push_str(&model.tokenizer.decode(&run.iter().flatten().copied().collect::<Vec<_>>())?);
        } else {
            out.extend(std::iter::repeat_n(MASK_GLYPH, run.len()));
        }
    }
    Ok(out)
}

impl std::fmt::Display for EngineProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.attempt > 0 {
            write!(f, "retry {} · ", self.attempt)?;
        }
        write!(f, "block {}/{} · step {} · {} masked", self.block + 1, self.blocks, self.step, self.remaining)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Plan(#[from] grammars::PlanError),
    #[error("the proposal would add syntax errors ({before} before, {after} after) after {attempts} attempts; nothing was changed")]
    AddsSyntaxErrors { before: usize, after: usize, attempts: usize },
    #[error("a block needs a canvas of {tokens} tokens, over the limit of {limit} (edit.maxCanvasTokens); select less, or cut a long line or literal")]
    CanvasTooLarge { tokens: usize, limit: usize },
    #[error("model: {0}")]
    Model(#[from] anyhow::Error),
}

impl From<SampleError> for EngineError {
    fn from(e: SampleError) -> Self {
        match e {
            SampleError::Cancelled => EngineError::Cancelled,
            SampleError::Model(e) => EngineError::Model(e.into()),
        }
    }
}

pub fn rewrite(
    model: &Model,
    request: &RewriteRequest,
    settings: &EditSettings,
    observe: &mut dyn FnMut(&EngineProgress) -> ControlFlow<()>,
) -> Result<Proposal, EngineError> {
    test_panic_hook(request.instruction, "", || request.text);
    if request.instruction.is_some_and(|i| !i.trim().is_empty()) && !model.follows_instructions() {
        // The native models are trained on code alone; they have no prompt to put it in.
        tracing::info!("model {} follows no instructions; rewriting from context alone", model.source);
    }
    if let Some(instruction) = instruction_for(model, request) {
        tracing::info!(chars = instruction.len(), "prompting with the checkpoint's chat template");
    }
    let mut attempt_settings = settings.clone();
    let mut last = None;
    for attempt in 0..=settings.retries {
        let proposal = rewrite_once(model, request, &attempt_settings, attempt, observe)?;
        let ok = proposal.syntax_errors_after <= proposal.syntax_errors_before;
        if ok || settings.accept_syntax_errors {
            return Ok(proposal);
        }
        tracing::debug!(attempt, "proposal adds syntax errors; retrying with more steps and smaller blocks");
        last = Some(proposal);
        // More steps commit fewer tokens per step, each with more context; smaller blocks give
        // each decode more finished neighbours.
        attempt_settings.mask.max_steps *= 2;
        attempt_settings.mask.threshold = (attempt_settings.mask.threshold + 1.0) / 2.0;
        attempt_settings.edit.max_steps *= 2;
        attempt_settings.edit.replace_threshold = (attempt_settings.edit.replace_threshold + 1.0) / 2.0;
        attempt_settings.block_tokens = (attempt_settings.block_tokens / 2).max(8);
    }
    let p = last.expect("at least one attempt");
    Err(EngineError::AddsSyntaxErrors { before: p.syntax_errors_before, after: p.syntax_errors_after, attempts: settings.retries + 1 })
}

/// The instruction, where the model has a prompt to put it in.
fn instruction_for<'a>(model: &Model, request: &RewriteRequest<'a>) -> Option<&'a str> {
    request.instruction.filter(|i| !i.trim().is_empty() && model.follows_instructions())
}

/// A fault-injection hook for the end-to-end tests of panic handling (`server/tests/bad_input.rs`):
/// with `ANNEAL_TEST_PANIC_ON_INSTRUCTION=TEXT` in the environment, a rewrite whose instruction
/// is `TEXT` panics in [`rewrite`] (on the blocking worker), and one whose instruction is
/// `TEXT@handler` panics in the LSP handler (`lsp::rewrite_job`). Nothing else can make the
/// engine panic from outside, and the server's promise — a panic fails one request, not the
/// server — needs testing. Unset, it costs an environment lookup per instructed rewrite.
///
/// The panic is a slice of `text` past its end, as a real bug would make: Rust's message for it
/// quotes the text, so a test can check that no log repeats it.
pub fn test_panic_hook<T: AsRef<str>>(instruction: Option<&str>, site: &str, text: impl FnOnce() -> T) {
    let Some(instruction) = instruction else { return };
    if let Ok(trigger) = std::env::var("ANNEAL_TEST_PANIC_ON_INSTRUCTION") {
        if !trigger.is_empty() && instruction.strip_suffix(site) == Some(trigger.as_str()) {
            let text = text();
            let text = text.as_ref();
            let past_the_end = text.len() + 1;
            let _ = std::hint::black_box(&text[..std::hint::black_box(past_the_end)]);
        }
    }
}

/// A test hook for the end-to-end tests of cancellation and of results that go stale
/// (`server/tests/stress.rs`, `server/tests/lsp_fill_status.rs`): with `ANNEAL_TEST_STEP_DELAY=MS` in the
/// environment, a job waits MS milliseconds after each decode step, before it looks at its
/// cancel flag; with `MS:TEXT`, only a rewrite whose instruction is `TEXT` does. The tiny random
/// checkpoints those tests run can end a job in one step, sooner than a test can act on it
/// while it runs; a slow step lets a test act on a job it knows is running, where a sleep could
/// only hope so. Unset, it costs an environment lookup per job.
pub fn test_step_delay(instruction: Option<&str>) -> Option<std::time::Duration> {
    let value = std::env::var("ANNEAL_TEST_STEP_DELAY").ok()?;
    let (ms, only) = match value.split_once(':') {
        Some((ms, only)) => (ms, Some(only)),
        None => (value.as_str(), None),
    };
    let ms: u64 = ms.parse().ok()?;
    (only.is_none() || only == instruction).then(|| std::time::Duration::from_millis(ms))
}

/// Texts larger than this are parsed only in a window around the selection (and open documents
/// this large keep no syntax tree).
pub const WINDOW_ABOVE: usize = 1 << 20;
/// The window reaches this far on each side of the selection, and then on to a line that
/// starts at column 0 (at most this much further).
const WINDOW_MARGIN: usize = 256 << 10;

/// The part of `text` the grammars see for a rewrite of `selection`: all of it, or for a large
/// text a window of whole lines around the selection.
///
/// Parsing is linear in the text and the grammars parse three times per attempt (the plan, and
/// the verdict before and after). A rewrite of one statement at the end of a 50 MB file took
/// 30 s and 3 GB, nearly all of it tree-sitter; with the window it costs what it does in a small
/// file. The window starts and ends at a line beginning at column 0 with neither a blank nor a
/// closing bracket — in Python and Rust, almost always a top-level item — so that near the
/// selection the window parses as the whole file does. What is lost: a span can no longer
/// widen past the window (a single syntax node of more than 256 KiB around the selection), and
/// syntax errors are counted in the window only, before and after alike.
fn grammar_window(text: &str, selection: &Range<usize>) -> Range<usize> {
    let (bytes, len) = (text.as_bytes(), text.len());
    if len <= WINDOW_ABOVE {
        return 0..len;
    }
    let line_start = |at: usize| bytes[..at].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let next_line = |at: usize| bytes[at..].iter().position(|&b| b == b'\n').map_or(len, |i| at + i + 1);
    let top_level = |at: usize| at == 0 || at == len || !(bytes[at].is_ascii_whitespace() || b")]}".contains(&bytes[at]));

    let want = selection.start.saturating_sub(WINDOW_MARGIN);
    let (mut start, floor) = (line_start(want), want.saturating_sub(WINDOW_MARGIN));
    let mut at = start;
    while !top_level(at) && at > floor {
        at = line_start(at - 1);
    }
    if top_level(at) {
        start = at;
    }
    let want = (selection.end + WINDOW_MARGIN).min(len);
    let (mut end, ceiling) = (if want == len { len } else { next_line(want) }, (want + WINDOW_MARGIN).min(len));
    let mut at = end;
    while !top_level(at) && at < ceiling {
        at = next_line(at);
    }
    if top_level(at) {
        end = at;
    }
    start..end
}

fn rewrite_once(
    model: &Model,
    request: &RewriteRequest,
    settings: &EditSettings,
    attempt: usize,
    observe: &mut dyn FnMut(&EngineProgress) -> ControlFlow<()>,
) -> Result<Proposal, EngineError> {
    let text = request.text;
    let tokenizer = &model.tokenizer;
    let measure = |s: &str| tokenizer.encode(s).map(|t| t.len()).unwrap_or(s.len());
    let budget = BlockBudget { max_len: settings.block_tokens, measure: &measure };
    grammars::check_range(text, &request.selection)?;
    let window = grammar_window(text, &request.selection);
    let local = &text[window.clone()];
    let to_local = |r: &Range<usize>| r.start - window.start..r.end - window.start;
    let to_text = |r: &Range<usize>| r.start + window.start..r.end + window.start;
    // The caller's tree describes the whole text; a window is parsed on its own.
    let fresh;
    let tree = match request.syntax.filter(|_| window == (0..text.len())) {
        Some(tree) => tree,
        None => {
            fresh = SyntaxTree::new(local, request.language);
            &fresh
        }
    };
    let mut plan = tree.plan(local, to_local(&request.selection), &budget)?;
    plan.span = to_text(&plan.span);
    for block in &mut plan.blocks {
        block.range = to_text(&block.range);
    }
    tracing::debug!(attempt, span = ?plan.span, blocks = plan.blocks.len(), parsed = ?window, "planned");

    // Context: only the bytes `tail_tokens` and `head_tokens` look at, not copies of the whole
    // text before and after the span for every block.
    let reach = settings.context_tokens.saturating_mul(CONTEXT_BYTES_PER_TOKEN);
    let mut context_start = plan.span.start.saturating_sub(reach);
    while !text.is_char_boundary(context_start) {
        context_start -= 1;
    }
    let mut context_end = plan.span.end.saturating_add(reach).min(text.len());
    while !text.is_char_boundary(context_end) {
        context_end += 1;
    }

    // Each block's current text; blocks decoded later see the new text of earlier ones.
    let mut blocks: Vec<String> = plan.blocks.iter().map(|b| text[b.range.clone()].to_string()).collect();
    let (mut steps, mut passes, mut generated) = (0, 0, 0);
    for (done, &index) in plan.order.iter().enumerate() {
        let before = format!("{}{}", &text[context_start..plan.span.start], blocks[..index].concat());
        let after = format!("{}{}", blocks[index + 1..].concat(), &text[plan.span.end..context_end]);
        let framed = frame(&before, &blocks[index], &after);
        let original = tokenizer.encode(&framed.block)?;
        let mut slack = ((original.len() as f32 * settings.slack).ceil() as usize).max(2);
        let (prefix, suffix) = match (instruction_for(model, request), &model.chat_template) {
            (Some(instruction), Some(template)) => {
                // An instruction may ask for more code (docstrings, annotations): room to grow.
                slack = slack.max(original.len() / 2 + 8);
                let parts = (framed.before, framed.block.as_str(), framed.after.as_str());
                instruct::context(model, template, instruction, request.language, parts, settings.context_tokens)?
            }
            _ => (tail_tokens(model, framed.before, settings.context_tokens)?, head_tokens(model, &framed.after, settings.context_tokens)?),
        };
        let canvas = prefix.len() + original.len() + slack + suffix.len();
        if canvas > settings.max_canvas_tokens {
            return Err(EngineError::CanvasTooLarge { tokens: canvas, limit: settings.max_canvas_tokens });
        }
        let mut report = |r: &StepReport| {
            let preview = settings.preview.then(|| {
                let canvas = framed.unframe(&canvas_text(model, r.canvas).unwrap_or_default());
                let text = format!("{}{canvas}{}", blocks[..index].concat(), blocks[index + 1..].concat());
                Preview { span: plan.span.clone(), text }
            });
            observe(&EngineProgress { attempt, block: done, blocks: plan.blocks.len(), step: r.step, remaining: r.remaining, preview })
        };
        let outcome = decode_block(model, settings, &prefix, &original, slack, &suffix, &mut report)?;
        let canvas_len = original.len() + slack;
        steps += outcome.steps;
        passes += outcome.forward_passes;
        generated += canvas_len;
        // Blocks are whole lines: unframing keeps the line break that ends one, or the next
        // block would be glued onto this one's last line.
        blocks[index] = framed.unframe(&tokenizer.decode(&outcome.tokens)?);
    }
    let replacement = blocks.concat();
    let Verdict { errors_before, errors_after } =
        tree.verify(local, to_local(&plan.span), &replacement).unwrap_or(Verdict { errors_before: 0, errors_after: 0 });
    Ok(Proposal {
        span: plan.span,
        replacement,
        syntax_errors_before: errors_before,
        syntax_errors_after: errors_after,
        blocks: plan.blocks.len(),
        steps,
        forward_passes: passes,
        generated_tokens: generated,
    })
}

pub fn decode_block(
    model: &Model,
    settings: &EditSettings,
    prefix: &[u32],
    original: &[u32],
    slack: usize,
    suffix: &[u32],
    report: &mut dyn FnMut(&StepReport) -> ControlFlow<()>,
) -> Result<Outcome, SampleError> {
    let edit = match settings.mode {
        SamplingMode::Auto => model.config.anneal_edit_trained,
        SamplingMode::Mask => false,
        SamplingMode::Edit => true,
    };
    if edit && model.config.family().is_ok_and(Family::edits_as_it_unmasks) {
        // LLaDA 2.1 edits as it decodes: its own joint sampler, not Anneal's edit mode.
        let request = MaskRequest { prefix, canvas_len: original.len() + slack, suffix };
        let config = MaskConfig { edit_threshold: Some(settings.mask.edit_threshold.unwrap_or(0.0)), ..settings.mask.clone() };
        return decode_masked(model, &request, &mask_config(model, &config), report);
    }
    if edit {
        let request = EditRequest { prefix, span: original, slack, suffix };
        decode_edit(model, &request, &settings.edit, report)
    } else {
        let request = MaskRequest { prefix, canvas_len: original.len() + slack, suffix };
        decode_masked(model, &request, &mask_config(model, &settings.mask), report)
    }
}

/// The mask sampler's settings for `model`. A block-causal model (SDAR, LLaDA2) decodes as its
/// authors run it, block after block of its own size, each in at most as many passes: with
/// Anneal's threshold schedule it takes their threshold one (SDAR's `low_confidence_dynamic`,
/// SGLang's `LowConfidence`) at the same threshold — any position of a later block would
/// otherwise be committed while the blocks it attends to are still masked. In edit mode a
/// LLaDA2 checkpoint also rewrites its own tokens (`JointThreshold`; edit threshold 0, SGLang's
/// default, unless `mask.editThreshold` says otherwise).
pub fn mask_config(model: &Model, settings: &MaskConfig) -> MaskConfig {
    match (model.config.block_size, settings.schedule) {
        (Some(block), Schedule::Threshold) => {
            MaskConfig { schedule: Schedule::AlignedBlocks, block_length: block, max_steps: block, ..settings.clone() }
        }
        _ => settings.clone(),
    }
}

/// Bytes of text looked at per token of context: far above any real tokenizer's average.
const CONTEXT_BYTES_PER_TOKEN: usize = 16;

/// The last `n` tokens of `text`. Tokenizes only a bounded tail so a long file costs the same
/// as a short one.
pub fn tail_tokens(model: &Model, text: &str, n: usize) -> anyhow::Result<Vec<u32>> {
    let mut start = text.len().saturating_sub(n.saturating_mul(CONTEXT_BYTES_PER_TOKEN));
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let ids = model.tokenizer.encode(&text[start..])?;
    Ok(ids[ids.len().saturating_sub(n)..].to_vec())
}

pub fn head_tokens(model: &Model, text: &str, n: usize) -> anyhow::Result<Vec<u32>> {
    let mut end = text.len().min(n.saturating_mul(CONTEXT_BYTES_PER_TOKEN));
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut ids = model.tokenizer.encode(&text[..end])?;
    ids.truncate(n);
    Ok(ids)
}

/// The replacements that turn `old` into `new`, as byte ranges of `old`: the lines that differ,
/// each run of them less the characters it starts and ends with unchanged. The editor then
/// moves only what changed: cursors, marks and folds elsewhere, even earlier on the same line,
/// stay put.
pub fn minimal_edits(old: &str, new: &str) -> Vec<(Range<usize>, String)> {
    use similar::{DiffTag, TextDiff};
    let diff = TextDiff::from_lines(old, new);
    let old_lines: Vec<&str> = diff.old_slices().to_vec();
    let new_lines: Vec<&str> = diff.new_slices().to_vec();
    let offset = |lines: &[&str], i: usize| lines[..i].iter().map(|l| l.len()).sum::<usize>();
    let mut edits: Vec<(Range<usize>, String)> = vec![];
    for op in diff.ops() {
        if op.tag() == DiffTag::Equal {
            continue;
        }
        let (o, n) = (op.old_range(), op.new_range());
        let range = offset(&old_lines, o.start)..offset(&old_lines, o.end);
        let text = new_lines[n].concat();
        // Adjacent delete + insert ops become one replacement.
        match edits.last_mut() {
            Some((last, t)) if last.end == range.start => {
                last.end = range.end;
                t.push_str(&text);
            }
            _ => edits.push((range, text)),
        }
    }
    edits.into_iter().map(|(range, text)| trim_unchanged(old, range, text)).collect()
}

/// `range` of `old` replaced by `text`, less the characters both begin with and then both end
/// with.
fn trim_unchanged(old: &str, range: Range<usize>, text: String) -> (Range<usize>, String) {
    let before = &old[range.clone()];
    let same = |a: (char, char)| a.0 == a.1;
    let head: usize = before.chars().zip(text.chars()).take_while(|&p| same(p)).map(|(c, _)| c.len_utf8()).sum();
    let (before, after) = (&before[head..], &text[head..]);
    let tail: usize = before.chars().rev().zip(after.chars().rev()).take_while(|&p| same(p)).map(|(c, _)| c.len_utf8()).sum();
    (range.start + head..range.end - tail, after[..after.len() - tail].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(old: &str, edits: &[(Range<usize>, String)]) -> String {
        let mut out = old.to_string();
        for (r, t) in edits.iter().rev() {
            out.replace_range(r.clone(), t);
        }
        out
    }

    #[test]
    fn minimal_edits_touch_only_changed_lines() {
        let old = "a\nb\nc\nd\n";
        let new = "a\nB\nc\nd\ne\n";
        let edits = minimal_edits(old, new);
        assert_eq!(edits, vec![(2..3, "B".to_string()), (8..8, "e\n".to_string())]);
        assert_eq!(apply(old, &edits), new);
    }

    #[test]
    fn minimal_edits_start_mid_line_at_a_character_boundary() {
        let old = "s = '😀😀'; y = 5\nz = 1\n";
        let new = "s = '😀😀'; y = 7\nz = 1\n";
        let edits = minimal_edits(old, new);
        assert_eq!(edits, vec![(old.find('5').unwrap()..old.find('5').unwrap() + 1, "7".to_string())]);
        // Two emoji that share their first three bytes: the edit starts at a character.
        let (old, new) = ("a😀b\n", "a😁b\n");
        assert_eq!(minimal_edits(old, new), vec![(1..5, "😁".to_string())]);
        assert_eq!(apply(old, &minimal_edits(old, new)), new);
    }

    #[test]
    fn minimal_edits_of_identical_texts_are_empty() {
        assert!(minimal_edits("x\ny", "x\ny").is_empty());
    }

    /// In a large file the grammars see a window; near the selection it must plan exactly as
    /// the whole file does.
    #[test]
    fn the_grammar_window_plans_as_the_whole_text_does() {
        use std::fmt::Write;
        let mut text = String::new();
        let mut i = 0;
        while text.len() < 3 << 20 {
            write!(text, "def f{i}(a, b):\n    total = a + b\n    if total:\n        return [\n            total,\n        ]\n\n\nclass C{i}:\n    x = \"\"\"\ndoc\n\"\"\"\n\n").unwrap();
            i += 1;
        }
        let words = |s: &str| s.split_whitespace().count();
        let budget = BlockBudget { max_len: 8, measure: &words };
        assert_eq!(grammar_window("x = 1\n", &(2..3)), 0..6, "small texts are parsed whole");
        for at in [3, 1 << 20, text.len() / 2, text.len()] {
            let at = text[..at].rfind("total").unwrap_or_else(|| text.find("total").unwrap());
            let selection = at..at + 12;
            let window = grammar_window(&text, &selection);
            assert!(window.start <= selection.start && selection.end <= window.end, "{window:?}");
            assert!(window.len() <= 4 * WINDOW_MARGIN + selection.len(), "{window:?}");
            assert!(window.start == 0 || text[..window.start].ends_with('\n'));
            assert!(window.end == text.len() || text[..window.end].ends_with('\n'));
            let whole = grammars::plan(&text, selection.clone(), Some(Language::Python), &budget).unwrap();
            let local = grammars::plan(
                &text[window.clone()],
                selection.start - window.start..selection.end - window.start,
                Some(Language::Python),
                &budget,
            )
            .unwrap();
            assert_eq!(whole.span, local.span.start + window.start..local.span.end + window.start);
            let ranges = |p: &grammars::Plan, by: usize| p.blocks.iter().map(|b| b.range.start + by..b.range.end + by).collect::<Vec<_>>();
            assert_eq!(ranges(&whole, 0), ranges(&local, window.start));
            assert_eq!(whole.order, local.order);
        }
    }

    #[test]
    fn minimal_edits_without_trailing_newline() {
        let (old, new) = ("x = 1\ny = 2", "x = 1\ny = 3");
        assert_eq!(apply(old, &minimal_edits(old, new)), new);
    }
}
