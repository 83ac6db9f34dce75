//! `anneal eval BENCH`: the benchmarks of `crate::eval`, each a subcommand with the same
//! options, plus `repair` on the project's own held-out corpus.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::eval::exec::Limits;
use crate::eval::generate::CandidateSource;
use crate::eval::record::RunKey;
use crate::eval::runner::{self, RunConfig};
use crate::eval::{canitedit, editeval, humaneval_fill, humanevalfix, mbpp_fill, repair, Lang, Loaded};
use anneal_engine::ModelSource;
use anneal_engine::{EditSettings, SamplingMode};

#[derive(Subcommand)]
pub enum EvalCommand {
    /// CanItEdit: instructed edits of Python files (descriptive and lazy instructions).
    #[command(name = "canitedit")]
    CanItEdit(BenchArgs),
    /// HumanEvalFix: repair a planted bug, in python, js, java, go, cpp and rust.
    #[command(name = "humanevalfix")]
    HumanEvalFix {
        #[command(flatten)]
        args: BenchArgs,
        /// Languages to run (comma-separated); all six when absent.
        #[arg(long, value_enum, value_delimiter = ',')]
        lang: Vec<Lang>,
    },
    /// EditEval: instructed edits of Python snippets.
    #[command(name = "editeval")]
    EditEval(BenchArgs),
    /// HumanEval with the function body as a hole to fill.
    #[command(name = "humaneval-fill")]
    HumanEvalFill(BenchArgs),
    /// MBPP (test split) with the function body as a hole to fill.
    #[command(name = "mbpp-fill")]
    MbppFill(BenchArgs),
    /// Repair of corrupted held-out snippets of the training corpus (no tests).
    Repair(repair::RepairArgs),
    /// Syntax repair: files broken by one to three typos, repaired by the parser alone, by the
    /// model ranking the parser's candidates, and by leave-one-out rounds.
    #[command(name = "syntax-repair")]
    SyntaxRepair(crate::eval::syntax_repair::SyntaxRepairArgs),
}

#[derive(Args)]
pub struct BenchArgs {
    /// The benchmark's file (for humanevalfix, the folder of humanevalpack_LANG.jsonl); the
    /// default is its place in ../shared/data/eval, relative to the current directory.
    #[arg(long)]
    data: Option<PathBuf>,
    /// A checkpoint folder; the embedded default model when absent.
    #[arg(long)]
    model: Option<String>,
    #[command(flatten)]
    dtype: super::DtypeArg,
    /// Per-sample results (JSONL); a rerun with the same file skips the samples it holds.
    /// Default: eval-results/BENCH-MODEL.jsonl.
    #[arg(long)]
    out: Option<PathBuf>,
    /// At most this many problems, drawn at random by --seed (all, in file order, when absent).
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Candidates per sample; pass@k is reported for k up to this. The samplers decode
    /// greedily today, so more than one repeats the same candidate.
    #[arg(long, default_value_t = 1)]
    samples: usize,
    /// Wall-time limit for one candidate's tests, in seconds.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Memory limit for one candidate's tests, in MiB.
    #[arg(long, default_value_t = 1024)]
    memory_mb: u64,
    /// Where candidates come from: the model, or (to check the harness) the benchmark's
    /// reference solution or the unchanged text before.
    #[arg(long, value_enum, default_value_t = CandidateSource::Model)]
    candidates: CandidateSource,
    /// How rewrite benchmarks decode blocks (fill benchmarks always use mask mode).
    #[arg(long, value_enum, default_value_t = Mode::Auto)]
    mode: Mode,
    /// Tokens per hole in fill benchmarks; default: the reference body's length plus 25% slack.
    #[arg(long)]
    hole_tokens: Option<usize>,
    /// Where the prepared Rust crate and Go module keep their builds between runs.
    #[arg(long)]
    cache: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Mode {
    Auto,
    Edit,
    Mask,
}

pub fn run(cmd: EvalCommand) -> Result<()> {
    let (bench, loaded, args) = match cmd {
        EvalCommand::Repair(args) => return repair::run(args),
        EvalCommand::SyntaxRepair(args) => return crate::eval::syntax_repair::run(args),
        EvalCommand::CanItEdit(a) => ("canitedit", load(&a, canitedit::DEFAULT_DATA, canitedit::load)?, a),
        EvalCommand::EditEval(a) => ("editeval", load(&a, editeval::DEFAULT_DATA, editeval::load)?, a),
        EvalCommand::HumanEvalFill(a) => ("humaneval-fill", load(&a, humaneval_fill::DEFAULT_DATA, humaneval_fill::load)?, a),
        EvalCommand::MbppFill(a) => ("mbpp-fill", load(&a, mbpp_fill::DEFAULT_DATA, mbpp_fill::load)?, a),
        EvalCommand::HumanEvalFix { args, lang } => {
            let langs = if lang.is_empty() { Lang::ALL.to_vec() } else { lang };
            let loaded = load(&args, humanevalfix::DEFAULT_DATA, |dir| humanevalfix::load(dir, &langs))?;
            ("humanevalfix", loaded, args)
        }
    };
    let model = ModelSource::parse(args.model.as_deref());
    let model_name = match &model {
        ModelSource::Default => "default".to_string(),
        ModelSource::Dir(dir) => dir.file_name().map_or("model".into(), |n| n.to_string_lossy().into_owned()),
        ModelSource::Hub(id) => id.replace(['/', '@'], "--"),
    };
    let candidates = args.candidates.name();
    let label = if args.candidates == CandidateSource::Model { model_name.clone() } else { candidates.to_string() };
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from(format!("eval-results/{bench}-{label}.jsonl")));
    anyhow::ensure!(args.timeout > 0.0, "--timeout must be positive");
    let mode = match args.mode {
        Mode::Auto => SamplingMode::Auto,
        Mode::Edit => SamplingMode::Edit,
        Mode::Mask => SamplingMode::Mask,
    };
    let config = RunConfig {
        key: RunKey { bench: bench.into(), model: model_name, source: candidates.into() },
        model,
        precision: args.dtype.precision(),
        source: args.candidates,
        out: out.clone(),
        limit: args.limit,
        seed: args.seed,
        samples: args.samples,
        settings: EditSettings { mode, ..Default::default() },
        hole_tokens: args.hole_tokens,
        limits: Limits { wall: Duration::from_secs_f64(args.timeout), memory_mb: args.memory_mb },
        cache: args.cache.clone().unwrap_or_else(|| std::env::temp_dir().join("anneal-eval-cache")),
    };
    let report = runner::run(&config, loaded)?;
    // As a user would type it, whatever the binary's path.
    let command: Vec<String> = std::iter::once("anneal".to_string()).chain(std::env::args().skip(1)).collect();
    let from = match args.candidates {
        CandidateSource::Model => format!("the model `{}`", config.key.model),
        _ => format!("the benchmark's `{candidates}` text"),
    };
    let summary = format!("{bench}, candidates from {from}: `{}`\n\n{report}", command.join(" "));
    print!("{summary}");
    let summary_path = out.with_extension("summary.md");
    std::fs::write(&summary_path, &summary).with_context(|| format!("cannot write {}", summary_path.display()))?;
    eprintln!("results: {} · summary: {}", out.display(), summary_path.display());
    Ok(())
}

fn load(args: &BenchArgs, default: &str, loader: impl FnOnce(&std::path::Path) -> Result<Loaded>) -> Result<Loaded> {
    let path = args.data.clone().unwrap_or_else(|| PathBuf::from(default));
    loader(&path)
}
