//! `anneal edit`: the engine from the command line, printing a unified diff.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;

use anneal_models::mask_sampler::{Confidence, Schedule};
use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::position::Position;
use anneal_engine::repair::{self, Ranker, RepairRequest};
use anneal_engine::ModelSource;
use anneal_engine::{self as engine, EditSettings, RewriteRequest, SamplingMode};

#[derive(Args)]
pub struct EditArgs {
    /// The file to edit.
    file: PathBuf,
    /// The range to edit, `LINE:COL-LINE:COL`: 0-based lines, columns in UTF-8 bytes. It is
    /// widened to whole syntax nodes; an empty range means the statement at that point. The
    /// whole file when absent.
    #[arg(long, value_parser = super::parse_range)]
    range: Option<(Position, Position)>,
    /// Without an instruction, syntax errors in the range are repaired first: `search` (small
    /// edits the parser accepts, ranked by the model), `locate` (edit mode's leave-one-out
    /// rounds, a rewrite) or `off`.
    #[arg(long, value_enum, default_value_t = RepairArg::Search)]
    repair: RepairArg,
    /// What to do with the code (models without instruction tuning ignore it).
    #[arg(long)]
    instruction: Option<String>,
    /// Where the model runs: cpu, cuda, cuda:N or metal (GPU builds only).
    #[arg(long, default_value = "cpu")]
    device: String,
    #[command(flatten)]
    dtype: super::DtypeArg,
    /// A checkpoint folder or a Hugging Face id in the local cache (`anneal model list`); the
    /// embedded default model when absent.
    #[arg(long)]
    model: Option<String>,
    /// Apply the edit to the file instead of only printing the diff.
    #[arg(long)]
    write: bool,
    /// Largest block, in tokens.
    #[arg(long, default_value_t = EditSettings::default().block_tokens)]
    block_tokens: usize,
    /// Commit masked positions at or above this confidence in parallel.
    #[arg(long, default_value_t = EditSettings::default().mask.threshold)]
    threshold: f32,
    /// Step limit per block.
    #[arg(long, default_value_t = EditSettings::default().mask.max_steps)]
    max_steps: usize,
    /// How blocks are decoded: edit (correct the existing tokens), mask (regenerate them), or
    /// auto (edit when the checkpoint was edit-trained).
    #[arg(long, value_enum, default_value_t = Mode::Auto)]
    mode: Mode,
    /// How many positions a step commits: threshold (Anneal's: every confident one; a
    /// block-causal model's blocks, left to right), linear (Dream's and CoDA's schedule), blocks
    /// (LLaDA's, with --block-length), aligned-blocks (SDAR's, --max-steps passes a block at
    /// most) or proportional (Open-dCoder's p2); linear, blocks and proportional run exactly
    /// --max-steps passes.
    #[arg(long, value_enum, default_value_t = ScheduleArg::Threshold)]
    schedule: ScheduleArg,
    /// How a position's confidence is scored: max-prob (Dream's maskgit_plus, LLaDA's low
    /// confidence), margin (topk_margin) or neg-entropy (entropy).
    #[arg(long, value_enum, default_value_t = ConfidenceArg::MaxProb)]
    confidence: ConfidenceArg,
    /// With `--schedule aligned-blocks` (or `--mode edit` on a LLaDA2 checkpoint), also rewrite
    /// the block's committed tokens whose most likely token differs and is more than this
    /// confident: LLaDA 2.1's token editing.
    #[arg(long)]
    edit_threshold: Option<f32>,
    /// Block length of `--schedule blocks` and `aligned-blocks`.
    #[arg(long, default_value_t = EditSettings::default().mask.block_length)]
    block_length: usize,
    /// Print the proposal even when it adds syntax errors (never with --write).
    #[arg(long)]
    accept_syntax_errors: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ConfidenceArg {
    MaxProb,
    Margin,
    NegEntropy,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ScheduleArg {
    Threshold,
    Linear,
    Blocks,
    AlignedBlocks,
    Proportional,
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum RepairArg {
    Search,
    Locate,
    Off,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Mode {
    Auto,
    Edit,
    Mask,
}

pub fn run(args: EditArgs) -> Result<()> {
    if args.write && args.accept_syntax_errors {
        bail!("--write and --accept-syntax-errors together would write broken code; choose one");
    }
    let text = super::read_text(&args.file)?;
    let (a, b) = match args.range {
        Some(range) => super::byte_range(&text, range),
        None => (0, text.len()),
    };
    let language = anneal_grammars::Language::from_path(&args.file);

    let started = std::time::Instant::now();
    let device = crate::settings::parse_device(&args.device).map_err(anyhow::Error::msg)?;
    let model = ModelSource::parse(args.model.as_deref()).load(&device, args.dtype.precision())?;
    tracing::info!(source = model.source, load_ms = started.elapsed().as_millis() as u64, "model loaded");

    let mut settings =
        EditSettings { block_tokens: args.block_tokens, accept_syntax_errors: args.accept_syntax_errors, ..Default::default() };
    settings.mode = match args.mode {
        Mode::Auto => SamplingMode::Auto,
        Mode::Edit => SamplingMode::Edit,
        Mode::Mask => SamplingMode::Mask,
    };
    settings.mask.threshold = args.threshold;
    settings.mask.max_steps = args.max_steps;
    settings.mask.block_length = args.block_length;
    settings.mask.edit_threshold = args.edit_threshold;
    if let Some(why) = settings.out_of_range() {
        bail!("{why}");
    }
    settings.mask.confidence = match args.confidence {
        ConfidenceArg::MaxProb => Confidence::MaxProb,
        ConfidenceArg::Margin => Confidence::Margin,
        ConfidenceArg::NegEntropy => Confidence::NegEntropy,
    };
    settings.mask.schedule = match args.schedule {
        ScheduleArg::Threshold => Schedule::Threshold,
        ScheduleArg::Linear => Schedule::Linear,
        ScheduleArg::Blocks => Schedule::Blocks,
        ScheduleArg::AlignedBlocks => Schedule::AlignedBlocks,
        ScheduleArg::Proportional => Schedule::Proportional,
    };
    if let (Some(language), None, RepairArg::Search) = (language, &args.instruction, args.repair) {
        let target = a.min(b)..a.max(b);
        // An empty range means the line it is on, as for a rewrite.
        let target = if target.is_empty() { line_of(&text, target.start) } else { target };
        if anneal_grammars::syntax_errors(&text, target.clone(), language) > 0 {
            return repair(&args, &model, &text, target, language);
        }
        eprintln!("no syntax errors in the range, nothing to repair: rewriting it with the model");
    }
    let bar = ProgressBar::new_spinner().with_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("valid template"));
    let request =
        RewriteRequest { text: &text, selection: a.min(b)..a.max(b), language, syntax: None, instruction: args.instruction.as_deref() };
    let started = std::time::Instant::now();
    let proposal = engine::rewrite(&model, &request, &settings, &mut |p| {
        bar.set_message(p.to_string());
        bar.tick();
        ControlFlow::Continue(())
    });
    bar.finish_and_clear();
    let proposal = proposal?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "rewrote bytes {}..{} in {} block(s): {} steps, {:.0} tokens/s, syntax errors {} → {}",
        proposal.span.start,
        proposal.span.end,
        proposal.blocks,
        proposal.steps,
        proposal.generated_tokens as f64 / seconds,
        proposal.syntax_errors_before,
        proposal.syntax_errors_after
    );
    let mut new_text = text.clone();
    new_text.replace_range(proposal.span.clone(), &proposal.replacement);
    print_and_write(&args, &text, &new_text)
}

fn print_and_write(args: &EditArgs, text: &str, new_text: &str) -> Result<()> {
    let name = args.file.display().to_string();
    let diff = similar::TextDiff::from_lines(text, new_text);
    let mut out = std::io::stdout().lock();
    write!(out, "{}", diff.unified_diff().context_radius(3).header(&name, &name))?;
    if args.write {
        std::fs::write(&args.file, new_text).with_context(|| format!("cannot write {}", args.file.display()))?;
    }
    Ok(())
}

/// The line holding byte `at`, with its line break.
fn line_of(text: &str, at: usize) -> std::ops::Range<usize> {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i + 1);
    start..end
}

/// Repairs the syntax errors of `target` by search (`engine::repair`) and prints the diff.
fn repair(
    args: &EditArgs,
    model: &anneal_models::Model,
    text: &str,
    target: std::ops::Range<usize>,
    language: anneal_grammars::Language,
) -> Result<()> {
    let started = std::time::Instant::now();
    let request = RepairRequest { text, target, language, syntax: None };
    let ranker = Ranker::Model { prior: repair::EDIT_PRIOR };
    let repaired = repair::repair(Some(model), &request, ranker, Some(REPAIR_DEADLINE), &mut |_| ControlFlow::Continue(()))?;
    let ms = started.elapsed().as_millis();
    let Some(change) = &repaired.change else {
        let at = repaired.unrepaired.map(|r| super::line_number(text, r.start)).map_or(String::new(), |l| format!(" (line {l})"));
        bail!(
            "no repair of the {} syntax error(s) in the range{at} within {} token edits that the parser accepts; nothing was changed",
            repaired.errors_before,
            anneal_grammars::SearchLimits::default().max_edits
        );
    };
    eprintln!(
        "repaired: {} · syntax errors {} → {} · {} candidates parsed, {} forward passes, {ms} ms",
        repaired.title().unwrap_or_default(),
        repaired.errors_before,
        repaired.errors_after,
        repaired.parses,
        repaired.forward_passes
    );
    print_and_write(args, text, &change.apply(text))
}

/// The most a repair from the command line searches before it answers with what it found.
const REPAIR_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);
