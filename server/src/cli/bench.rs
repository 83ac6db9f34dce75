//! `anneal bench`: how fast diffusion decoding is, measured against autoregressive decoding of
//! the same blocks with the same weights in the same run.
//!
//! Each task is a block of real code (held out: Anneal's own sources, which no checkpoint was
//! trained on) between `--context` tokens on each side, fully masked. Arms:
//! - `ar`: one token per forward pass, left to right, the committed tokens' keys and values
//!   kept (the prefix grows by one cached token a pass) — what an autoregressive decoder does;
//! - `one per pass`: the mask sampler committing one token per pass, most confident first —
//!   the slow decode whose output the fast settings should keep;
//! - `diffusion`: the mask sampler at `--threshold`, the whole canvas every pass;
//! - `diffusion+cache`: the same with the prefix's keys and values kept between passes.
//!
//! Reported per arm: tokens/s and forward passes per token (tokens written: pads and
//! end-of-text do not count), the share of block positions written, time outside the forward pass, exact
//! agreement with `one per pass` and accuracy against the true block; then forward-pass time against
//! block size (`scripts/bench/plot_bench.py` plots it), prefix-cache reuse against recomputing a
//! 512-token context, and peak memory. Ratios only mean something within one run.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anneal_models::mask_sampler::{choices, decode_masked, Confidence, KvReuse, MaskConfig, MaskRequest, Outcome};
use anneal_models::{Denoiser, Model, Precision, Specials};
use anyhow::{bail, Context, Result};
use candle_core::Tensor;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use anneal_engine::ModelSource;

#[derive(Args)]
pub struct BenchArgs {
    /// A checkpoint folder or id; the embedded default model when absent.
    #[arg(long, conflicts_with = "shape")]
    model: Option<String>,
    /// Instead of a checkpoint, random weights of this shape (a config.json, e.g.
    /// models/shapes/qwen2.5-coder-0.5b.json), fed the default model's token ids: the speed of
    /// a real architecture. Its accuracy figures mean nothing.
    #[arg(long)]
    shape: Option<PathBuf>,
    /// A Python with torch and transformers (e.g. .venv-ref/bin/python): also time the same
    /// forward pass in PyTorch eager mode, same weights and threads (scripts/bench/torch_forward.py).
    #[arg(long)]
    torch: Option<PathBuf>,
    /// llama.cpp's diffusion runner (`llama-diffusion-cli`, built by scripts/bench/llama-cpp.sh):
    /// instead of the arms, time a block's decode there and here on the same GGUF file
    /// (`--model` a folder `anneal model quantize` wrote), same canvas, steps and threads.
    #[arg(long, requires = "model")]
    llama_cpp: Option<PathBuf>,
    /// Where the model runs: cpu, cuda, cuda:N or metal (GPU builds only).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// How the weights are held: auto (f32 on a CPU, bf16 on a GPU), f32, bf16, f16, q8_0 or
    /// q4k. Several (`f32,q8_0,q4k`) compare them in one run instead, each against the
    /// first: logit drift, decode agreement, pass time and decode speed.
    #[arg(long, value_delimiter = ',', default_value = "auto")]
    pub(super) dtype: Vec<String>,
    /// Source files the blocks are cut from (Anneal's own, held out from every training run).
    #[arg(long, default_values = ["server/src", "models/src", "grammars/src"])]
    pub(super) files: Vec<PathBuf>,
    #[arg(long, default_value_t = 24)]
    pub(super) tasks: usize,
    /// Tokens per block.
    #[arg(long, default_value_t = 32)]
    pub(super) block: usize,
    /// Tokens of context on each side.
    #[arg(long, default_value_t = 96)]
    pub(super) context: usize,
    /// The diffusion arms' confidence threshold.
    #[arg(long, default_value_t = 0.9)]
    pub(super) threshold: f32,
    /// Block sizes for the forward-pass timing.
    #[arg(long, value_delimiter = ',', default_values_t = [8, 16, 32, 64, 128])]
    sizes: Vec<usize>,
    /// Where the figures go as JSON.
    #[arg(long, default_value = "bench-results/bench.json")]
    pub(super) out: PathBuf,
}

/// Counts forward passes and the time spent in them, around a model.
struct Timed<'a> {
    inner: &'a Model,
    spent: Mutex<(usize, Duration)>,
}

impl<'a> Timed<'a> {
    fn new(inner: &'a Model) -> Self {
        Timed { inner, spent: Mutex::new((0, Duration::ZERO)) }
    }

    fn time(&self, f: impl FnOnce() -> candle_core::Result<Tensor>) -> candle_core::Result<Tensor> {
        let started = Instant::now();
        // A GPU runs the pass after the call returns: wait for it, or the time lands outside.
        let out = f().and_then(|t| self.inner.device.synchronize().map(|()| t));
        let mut spent = self.spent.lock().expect("timer lock");
        spent.0 += 1;
        spent.1 += started.elapsed();
        out
    }
}

impl Denoiser for Timed<'_> {
    fn specials(&self) -> Specials {
        self.inner.specials()
    }
    fn logits(&self, ids: &[u32]) -> candle_core::Result<Tensor> {
        self.time(|| self.inner.logits(ids))
    }
    fn logits_after_prefix(&self, ids: &[u32], start: usize) -> candle_core::Result<Tensor> {
        self.time(|| self.inner.logits_after_prefix(ids, start))
    }
    fn logits_in_window(&self, ids: &[u32], start: usize, end: usize, refresh: bool) -> candle_core::Result<Tensor> {
        self.time(|| self.inner.logits_in_window(ids, start, end, refresh))
    }
    fn logits_of_rows(&self, ids: &[u32], start: usize, end: usize) -> candle_core::Result<Tensor> {
        self.time(|| self.inner.logits_of_rows(ids, start, end))
    }
}

pub(super) struct Task {
    pub(super) prefix: Vec<u32>,
    pub(super) truth: Vec<u32>,
    pub(super) suffix: Vec<u32>,
}

#[derive(Serialize, Default, Clone)]
struct ArmFigures {
    arm: String,
    seconds: f64,
    /// Block positions decoded.
    tokens: usize,
    /// Tokens written: pads and end-of-text are dropped, so a model that leaves a block short
    /// gets no credit for the positions it left empty. Speed counts these.
    written: usize,
    forward_passes: usize,
    tokens_per_second: f64,
    passes_per_token: f64,
    /// Share of the decode spent outside forward passes (sampling, bookkeeping).
    overhead: f64,
    /// Blocks decoded exactly as `one per pass` decodes them.
    same_as_slow: f64,
    /// Tokens equal to the true block's.
    accuracy: f64,
    /// The `ar` arm's time over this arm's.
    speedup_over_ar: f64,
    #[serde(skip)]
    outputs: Vec<Vec<u32>>,
}

#[derive(Serialize)]
pub(super) struct PassTiming {
    block: usize,
    /// Milliseconds for one pass over context + block + context.
    pub(super) full_ms: f64,
    /// With the prefix's keys and values kept: block + suffix only.
    cached_ms: f64,
    /// With both sides' keys and values kept (dual cache): the block's queries only.
    pub(super) dual_ms: f64,
}

/// What a run measured: the model, the threads and the blocks.
#[derive(Serialize)]
pub(super) struct RunInfo {
    model: String,
    parameters: usize,
    /// Fewer than `parameters` for a mixture of experts: those one token runs through.
    active_parameters: usize,
    /// How the weights are held (`f32`, `q4k`, …).
    dtype: String,
    threads: usize,
    tasks: usize,
    block: usize,
    context: usize,
}

impl RunInfo {
    pub(super) fn new(model: &Model, tasks: usize, args: &BenchArgs) -> RunInfo {
        RunInfo {
            model: model.source.clone(),
            parameters: model.parameter_count(),
            active_parameters: anneal_models::config_parameter_counts(&model.config).1,
            dtype: model.precision.to_string(),
            threads: candle_core::utils::get_num_threads(),
            tasks,
            block: args.block,
            context: args.context,
        }
    }
}

impl std::fmt::Display for RunInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "model {} ({:.1} M parameters{}, {}), {} threads; {} blocks of {} tokens between {} tokens of context each side",
            self.model,
            self.parameters as f64 / 1e6,
            match self.active_parameters < self.parameters {
                true => format!(", {:.1} M active a token", self.active_parameters as f64 / 1e6),
                false => String::new(),
            },
            self.dtype,
            self.threads,
            self.tasks,
            self.block,
            self.context
        )
    }
}

#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    run: RunInfo,
    threshold: f32,
    arms: Vec<ArmFigures>,
    pass_timing: Vec<PassTiming>,
    /// One pass over 512 tokens of context + a 32-token block, against the block attending to
    /// the cached context.
    reuse_512_ratio: f64,
    /// With `--torch`: one pass over context + block + context, here and in PyTorch eager.
    torch: Option<TorchComparison>,
    peak_rss_mib: Option<f64>,
}

#[derive(Serialize)]
struct TorchComparison {
    tokens: usize,
    anneal_ms: f64,
    torch_ms: f64,
    /// How many times faster Anneal's pass is (above 1: faster than PyTorch).
    speedup: f64,
    torch_version: String,
    /// PyTorch's own peak (`torch.cuda.max_memory_allocated`) on a GPU.
    torch_peak_gpu_mib: Option<f64>,
}

pub fn run(args: BenchArgs) -> Result<()> {
    let device = crate::settings::parse_device(&args.device).map_err(anyhow::Error::msg)?;
    let precisions = args
        .dtype
        .iter()
        .map(|d| crate::settings::parse_precision(d).map(|p| p.unwrap_or_else(|| Precision::default_for(&device))))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    // A random shape and, for the PyTorch comparison, the embedded model are written to a
    // temporary folder: both sides then read the same safetensors.
    let scratch = tempfile::tempdir()?;
    if precisions.len() > 1 {
        return compare_precisions(&args, &precisions, scratch.path(), &device);
    }
    let precision = precisions.first().copied().unwrap_or_else(|| Precision::default_for(&device));
    let folder = match (&args.shape, &args.model, &args.torch) {
        // Nothing else reads the weights: make them in memory, each layer at its precision as
        // it is made, so a 16B shape at q4k needs about its quantized size.
        (Some(_), _, None) if args.llama_cpp.is_none() => None,
        (Some(shape), _, _) => {
            let config = anneal_models::checkpoint::read_config_file(shape)?;
            let tokenizer = anneal_models::Tokenizer::from_bytes(anneal_models::default_model::TOKENIZER)?;
            eprintln!(
                "writing random weights of {} ({:.0} M parameters)…",
                shape.display(),
                anneal_models::config_parameter_count(&config) as f64 / 1e6
            );
            // The weights in the dtype the device loads: half the bytes of a 7B shape on a GPU.
            let dtype = anneal_models::dtype_for(&device);
            anneal_models::random::write_random_checkpoint_as(scratch.path(), &config, &tokenizer, 0, dtype)?;
            Some(scratch.path().to_path_buf())
        }
        (None, None, Some(_)) => {
            anneal_models::default_model::write_to(scratch.path())?;
            Some(scratch.path().to_path_buf())
        }
        (None, Some(dir), _) if std::path::Path::new(dir).is_dir() => Some(PathBuf::from(dir)),
        _ => None,
    };
    let started = std::time::Instant::now();
    let mut model = match (&folder, &args.shape, &args.model) {
        (Some(dir), _, _) => Model::load_as(dir, &device, precision)?,
        (None, Some(shape), _) => random_shape_model(shape, &device, precision)?,
        (None, None, spec) => ModelSource::parse(spec.as_deref()).load(&device, Some(precision))?,
    };
    // The memory of the weights as loaded, before any pass adds activations or caches.
    eprintln!("loaded in {:.1} s, peak memory so far {:.0} MiB", started.elapsed().as_secs_f64(), peak_rss_mib().unwrap_or(f64::NAN));
    // Name what was measured, not the temporary folder it was read from.
    if let Some(shape) = &args.shape {
        model.source = format!("random weights of {}", shape.display());
    } else if args.model.is_none() {
        model.source = "default".into();
    }
    if let (Some(llama_cpp), Some(dir)) = (&args.llama_cpp, &folder) {
        return super::bench_llama_cpp::run(&args, llama_cpp, dir, &model);
    }
    let tasks = tasks(&model, &args)?;
    let bar = ProgressBar::new((6 * tasks.len() + args.sizes.len() + 1) as u64)
        .with_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} · ETA {eta}")?);
    let mut arms = vec![];
    for (arm, config) in [
        ("ar", None),
        ("one per pass", Some(MaskConfig { threshold: f32::INFINITY, max_steps: usize::MAX, ..MaskConfig::default() })),
        ("diffusion", Some(MaskConfig { threshold: args.threshold, max_steps: args.block, ..MaskConfig::default() })),
        (
            "diffusion+cache",
            Some(MaskConfig { threshold: args.threshold, max_steps: args.block, cache: KvReuse::Prefix, ..MaskConfig::default() }),
        ),
        (
            "diffusion+dual",
            Some(MaskConfig { threshold: args.threshold, max_steps: args.block, cache: KvReuse::Dual, ..MaskConfig::default() }),
        ),
        // Four tokens a pass whatever the confidence: the speed a model that commits four a
        // pass would get, which random weights (`--shape`) never reach by threshold.
        (
            "4 per pass+dual",
            Some(MaskConfig { threshold: f32::INFINITY, max_steps: args.block.div_ceil(4), cache: KvReuse::Dual, ..MaskConfig::default() }),
        ),
    ] {
        bar.set_message(arm);
        arms.push(run_arm(&model, arm, config.as_ref(), &tasks, &bar)?);
    }
    let (slow, ar_speed) = (arms[1].outputs.clone(), arms[0].tokens_per_second);
    for a in &mut arms {
        a.same_as_slow = a.outputs.iter().zip(&slow).filter(|(x, y)| x == y).count() as f64 / tasks.len() as f64;
        a.speedup_over_ar = a.tokens_per_second / ar_speed;
    }
    bar.set_message("pass timing");
    let mut pass_timing = vec![];
    for &size in &args.sizes {
        pass_timing.push(time_pass(&model, &tasks[0], args.context, size, args.context)?);
        bar.inc(1);
    }
    let reuse = time_pass(&model, &tasks[0], 512, 32, 0)?;
    bar.finish_and_clear();
    let torch = match (&args.torch, &folder) {
        (Some(python), Some(dir)) => Some(torch_comparison(python, dir, &model, &tasks[0], &args)?),
        (Some(_), None) => bail!("--torch needs a checkpoint folder (--model DIR, --shape, or the default model)"),
        _ => None,
    };
    let report = Report {
        run: RunInfo::new(&model, tasks.len(), &args),
        threshold: args.threshold,
        arms,
        pass_timing,
        reuse_512_ratio: reuse.full_ms / reuse.cached_ms,
        torch,
        peak_rss_mib: peak_rss_mib(),
    };
    print(&report);
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?)?;
    println!("\nwrote {} (plot: python3 scripts/bench/plot_bench.py {})", args.out.display(), args.out.display());
    Ok(())
}

/// `--dtype` with several precisions: the checkpoint (a folder, the default model, or random
/// weights of `--shape`, written in f32 so that every precision starts from the same floats)
/// at each, against the first.
fn compare_precisions(args: &BenchArgs, precisions: &[Precision], scratch: &std::path::Path, device: &candle_core::Device) -> Result<()> {
    if args.torch.is_some() {
        bail!("--torch times one precision: give --dtype one value");
    }
    // Random weights are made anew at each precision, from the same seed: the same floats.
    if let Some(shape) = &args.shape {
        let load = |p: Precision| random_shape_model(shape, device, p);
        return super::bench_precision::run(args, precisions, &load, &format!("random weights of {}", shape.display()));
    }
    let (dir, source) = match ModelSource::parse(args.model.as_deref()) {
        ModelSource::Default => {
            anneal_models::default_model::write_to(scratch)?;
            (scratch.to_path_buf(), "default".to_string())
        }
        ModelSource::Dir(dir) => (dir.clone(), dir.display().to_string()),
        ModelSource::Hub(id) => {
            let cache = anneal_models::hub_cache::cache_dir().context("no Hugging Face cache folder (set HF_HOME)")?;
            (anneal_models::hub_cache::snapshot(&cache, &id)?, id)
        }
    };
    super::bench_precision::run(args, precisions, &|p| Model::load_as(&dir, device, p), &source)
}

/// Random weights of the shape in `shape` (a config.json), made in memory as the model loads,
/// each layer at `precision` ([`Model::random`]). The bench feeds the default model's token
/// ids, so its special ids stand in for the shape's (a family's mask id is past the default
/// vocabulary; the speed is the same).
fn random_shape_model(shape: &std::path::Path, device: &candle_core::Device, precision: Precision) -> Result<Model> {
    let mut config = anneal_models::checkpoint::read_config_file(shape)?;
    let default = anneal_models::checkpoint::parse_config(anneal_models::default_model::CONFIG)?;
    (config.mask_token_id, config.pad_token_id, config.eos_token_id) = (default.mask_token_id, default.pad_token_id, default.eos_token_id);
    let (total, active) = anneal_models::config_parameter_counts(&config);
    eprintln!(
        "making random weights of {} ({:.0} M parameters, {:.0} M active a token) at {precision}…",
        shape.display(),
        total as f64 / 1e6,
        active as f64 / 1e6
    );
    let tokenizer = anneal_models::Tokenizer::from_bytes(anneal_models::default_model::TOKENIZER)?;
    Model::random(config, tokenizer, device, precision, 0)
}

/// Blocks of held-out code, spread evenly over the files' token streams.
pub(super) fn tasks(model: &Model, args: &BenchArgs) -> Result<Vec<Task>> {
    tasks_of(model, args, args.tasks)
}

/// `count` tasks (blocks with their context) spread over the files of `args`.
pub(super) fn tasks_of(model: &Model, args: &BenchArgs, count: usize) -> Result<Vec<Task>> {
    let mut files = vec![];
    for root in &args.files {
        collect(root, &mut files)?;
    }
    files.sort();
    let mut stream = vec![];
    for f in &files {
        stream.extend(model.tokenizer.encode(&std::fs::read_to_string(f)?)?);
    }
    let width = 2 * args.context + args.block;
    if count == 0 || stream.len() < width * count {
        bail!("{} tokens in {:?} are too few for {} tasks of {width} tokens", stream.len(), args.files, count);
    }
    let stride = stream.len() / count;
    Ok((0..count)
        .map(|i| {
            let at = i * stride;
            let (p, b) = (at + args.context, at + args.context + args.block);
            Task { prefix: stream[at..p].to_vec(), truth: stream[p..b].to_vec(), suffix: stream[b..b + args.context].to_vec() }
        })
        .collect())
}

fn collect(path: &std::path::Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))? {
        let p = entry?.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "rs" || e == "py") {
            out.push(p);
        }
    }
    Ok(())
}

fn run_arm(model: &Model, arm: &str, config: Option<&MaskConfig>, tasks: &[Task], bar: &ProgressBar) -> Result<ArmFigures> {
    let timed = Timed::new(model);
    let started = Instant::now();
    let mut figures = ArmFigures { arm: arm.into(), ..Default::default() };
    let mut right = 0;
    for task in tasks {
        let tokens = match config {
            Some(config) => {
                let request = MaskRequest { prefix: &task.prefix, canvas_len: task.truth.len(), suffix: &task.suffix };
                let Outcome { tokens, .. } = decode_masked(&timed, &request, config, &mut |_| ControlFlow::Continue(()))?;
                tokens
            }
            None => autoregressive(&timed, task)?,
        };
        right += tokens.iter().zip(&task.truth).filter(|(a, b)| a == b).count();
        figures.tokens += task.truth.len();
        figures.written += tokens.len();
        figures.outputs.push(tokens);
        bar.inc(1);
    }
    let (passes, in_forward) = *timed.spent.lock().expect("timer lock");
    figures.seconds = started.elapsed().as_secs_f64();
    figures.forward_passes = passes;
    figures.tokens_per_second = figures.written as f64 / figures.seconds;
    figures.passes_per_token = passes as f64 / figures.written.max(1) as f64;
    figures.overhead = 1.0 - in_forward.as_secs_f64() / figures.seconds;
    figures.accuracy = right as f64 / figures.tokens as f64;
    Ok(figures)
}

/// One token per forward pass, left to right, with everything cacheable cached: the committed
/// tokens' keys and values join the prefix's as they are written, the suffix's are encoded
/// once, and a pass runs only the new token and the rest of the block, still masked (the
/// model reads its positions from them). Tokens are chosen as the
/// mask sampler chooses them, and pads and end-of-text dropped as it drops them.
fn autoregressive(model: &dyn Denoiser, task: &Task) -> Result<Vec<u32>> {
    let sp = model.specials();
    let n = task.truth.len();
    let mut ids = task.prefix.clone();
    ids.extend(std::iter::repeat_n(sp.mask, n));
    ids.extend_from_slice(&task.suffix);
    let end = task.prefix.len() + n;
    for i in 0..n {
        // The committed tokens join the cached prefix one by one and the suffix stays cached,
        // so a pass runs the new token and the block's remaining masks.
        let start = task.prefix.len() + i;
        let logits = model.logits_in_window(&ids, start, end, i == 0)?.narrow(0, 0, 1)?;
        ids[start] = choices(&logits, sp.mask, Confidence::MaxProb)?.0[0];
    }
    Ok(ids[task.prefix.len()..task.prefix.len() + n].iter().copied().filter(|&t| t != sp.pad && t != sp.eos).collect())
}

/// One pass over `before` tokens of context, `block` masks and `after` tokens of context.
pub(super) fn time_pass(model: &Model, task: &Task, before: usize, block: usize, after: usize) -> Result<PassTiming> {
    let sp = model.specials();
    let repeat = |src: &[u32], n: usize| -> Vec<u32> { src.iter().copied().cycle().take(n).collect() };
    let mut ids = repeat(&task.prefix, before);
    ids.extend(std::iter::repeat_n(sp.mask, block));
    ids.extend(repeat(&task.suffix, after));
    let mean = |f: &dyn Fn() -> candle_core::Result<Tensor>| -> Result<f64> {
        let f = || f().and_then(|t| model.device.synchronize().map(|()| t));
        f()?; // warm-up; for the cached arm it also encodes the prefix once
        let runs = 5;
        let started = Instant::now();
        for _ in 0..runs {
            f()?;
        }
        Ok(started.elapsed().as_secs_f64() * 1000.0 / runs as f64)
    };
    let full_ms = mean(&|| model.logits(&ids))?;
    let cached_ms = mean(&|| model.logits_after_prefix(&ids, before))?;
    let dual_ms = mean(&|| model.logits_in_window(&ids, before, before + block, false))?;
    Ok(PassTiming { block, full_ms, cached_ms, dual_ms })
}

/// One pass over context + block + context here, then the same length in PyTorch eager mode
/// on the same weights and threads.
fn torch_comparison(
    python: &std::path::Path,
    dir: &std::path::Path,
    model: &Model,
    task: &Task,
    args: &BenchArgs,
) -> Result<TorchComparison> {
    let ours = time_pass(model, task, args.context, args.block, args.context)?;
    let tokens = 2 * args.context + args.block;
    // The script travels inside the binary: a release binary carried to a GPU machine has no
    // source tree beside it.
    let scripts = tempfile::tempdir()?;
    let script = scripts.path().join("torch_forward.py");
    std::fs::write(&script, include_str!("../../../scripts/bench/torch_forward.py"))?;
    let threads = candle_core::utils::get_num_threads();
    let torch_device = if model.device.is_cuda() { "cuda" } else { "cpu" };
    let dtype = if model.dtype == candle_core::DType::BF16 { "bf16" } else { "f32" };
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(dir)
        .args(["--tokens", &tokens.to_string(), "--runs", "5", "--threads", &threads.to_string()])
        .args(["--device", torch_device, "--dtype", dtype])
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !out.status.success() {
        bail!("{} failed: {}", script.display(), String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default());
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).context("torch_forward.py printed no JSON")?;
    let torch_ms = json["ms"].as_f64().context("torch_forward.py printed no timing")?;
    Ok(TorchComparison {
        tokens,
        anneal_ms: ours.full_ms,
        torch_ms,
        speedup: torch_ms / ours.full_ms,
        torch_version: json["torch"].as_str().unwrap_or_default().to_string(),
        torch_peak_gpu_mib: json["peak_gpu_mib"].as_f64(),
    })
}

pub(super) fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn print(r: &Report) {
    println!("{}, threshold {}", r.run, r.threshold);
    println!("\n| arm | tokens/s | passes/token | written | outside the pass | same as one per pass | accuracy |");
    println!("|---|---|---|---|---|---|---|");
    for a in &r.arms {
        let written = a.written as f64 / a.tokens.max(1) as f64 * 100.0;
        println!(
            "| {} | {:.1} | {:.3} | {written:.0}% | {:.1}% | {:.0}% | {:.1}% |",
            a.arm,
            a.tokens_per_second,
            a.passes_per_token,
            a.overhead * 100.0,
            a.same_as_slow * 100.0,
            a.accuracy * 100.0
        );
    }
    let speedups: Vec<String> = r.arms.iter().skip(1).map(|a| format!("{:.2}x ({})", a.speedup_over_ar, a.arm)).collect();
    println!("\nspeed-up over ar: {}", speedups.join(", "));
    println!("\n| block | one pass, whole canvas (ms) | prefix cached (ms) | prefix and suffix cached (ms) |");
    println!("|---|---|---|---|");
    for t in &r.pass_timing {
        println!("| {} | {:.2} | {:.2} | {:.2} |", t.block, t.full_ms, t.cached_ms, t.dual_ms);
    }
    println!("\nprefix reuse, 512 tokens of context + 32: {:.2}x faster than recomputing", r.reuse_512_ratio);
    if let Some(t) = &r.torch {
        println!(
            "one pass over {} tokens: {:.2} ms here, {:.2} ms in PyTorch {} eager: {:.2}x",
            t.tokens, t.anneal_ms, t.torch_ms, t.torch_version, t.speedup
        );
        if let Some(peak) = t.torch_peak_gpu_mib {
            println!("PyTorch's peak GPU memory: {peak:.0} MiB");
        }
    }
    if let Some(m) = r.peak_rss_mib {
        println!("peak memory: {m:.0} MiB");
    }
}
