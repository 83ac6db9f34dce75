//! `anneal train`: Seed Diffusion's recipe at a size two CPU cores can train.
//!
//! Stage 1 is mask diffusion; for the last `edit_fraction` of steps, half of each batch is
//! edit-corrupted (stage 2); post stages add constrained-order distillation (3) and on-policy
//! training (4) (see `stages` and `distill`). Checkpoints hold the optimiser state and the
//! step, and batches are a function of (seed, step, weights): a run killed at any moment
//! resumes from its last checkpoint and continues as if it had never stopped.

mod checkpoint;
pub mod data;
pub mod distill;
pub mod evaluate;
pub mod optim;
pub mod stages;

pub use checkpoint::latest as latest_checkpoint;
pub use stages::{PostStage, StageKind};

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{TOKENIZER_FILE, WEIGHTS_FILE};
use crate::config::Config;
use crate::tokenizer::Tokenizer;
use crate::transformer::{Mode, Transformer};
use crate::Specials;
use checkpoint::{write_atomic, State};
use data::Example;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Folder with `train.jsonl` and `valid.jsonl` (scripts/train/corpus.py).
    pub corpus: PathBuf,
    /// Where checkpoints, logs and the tokenizer go.
    pub out: PathBuf,
    pub vocab_size: usize,
    /// Bytes of training text the BPE is learnt from.
    pub tokenizer_sample_bytes: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub window: usize,
    pub max_slack: usize,
    pub batch_size: usize,
    pub steps: usize,
    pub lr: f64,
    pub warmup_steps: usize,
    pub weight_decay: f64,
    pub grad_clip: f64,
    /// Last fraction of the steps that adds edit corruption (the seed: 0.2).
    pub edit_fraction: f64,
    /// Largest share of a span's tokens edited (the seed: 0.1).
    pub edit_alpha: f64,
    /// Where the edits go and how their targets align (data::EditCorruption).
    #[serde(default)]
    pub edit_corruption: data::EditCorruption,
    /// Loss weight of a visible token that differs from its target.
    #[serde(default = "one")]
    pub edit_weight: f32,
    pub seed: u64,
    pub eval_every: usize,
    pub eval_windows: usize,
    pub checkpoint_every_secs: u64,
    /// Stages after the main run, at its final learning rate (constrained order, on-policy).
    #[serde(default)]
    pub post: Vec<PostStage>,
    #[serde(default)]
    pub distill: distill::DistillConfig,
    /// Start from the weights (and tokenizer) of this checkpoint folder instead of random
    /// ones, with a fresh optimiser and this config's own schedule: a continued run. The
    /// shapes and vocabulary must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<PathBuf>,
}

fn one() -> f32 {
    1.0
}

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Metrics {
    pub step: usize,
    pub tokens_seen: usize,
    pub elapsed_secs: f64,
    pub lr: f64,
    pub train_loss: f64,
    pub valid_loss: Option<f64>,
    /// Masked-token recovery accuracy at 25/50/75% masking on validation windows.
    pub valid_accuracy: Option<[f64; 3]>,
    /// At the end of a run: block fill's forward passes per block and accuracy (evaluate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill_passes_per_block: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill_accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<StageKind>,
}

/// What the caller shows while training runs (the CLI draws a progress bar).
pub struct TrainProgress<'a> {
    pub step: usize,
    pub steps: usize,
    pub loss: f64,
    pub tokens_per_sec: f64,
    pub last_eval: Option<&'a Metrics>,
}

pub fn specials(tokenizer: &Tokenizer) -> Result<Specials> {
    let id = |t: &str| tokenizer.token_id(t).with_context(|| format!("tokenizer lacks {t}"));
    Ok(Specials { eos: id(crate::tokenizer::EOT)?, pad: id(crate::tokenizer::PAD)?, mask: id(crate::tokenizer::MASK)? })
}

fn read_texts(path: &Path, max_bytes: usize) -> Result<Vec<String>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {} (run scripts/train/corpus.py)", path.display()))?;
    let mut texts = vec![];
    let mut total = 0;
    for line in std::io::BufRead::lines(std::io::BufReader::new(file)) {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        let text = v["text"].as_str().unwrap_or_default().to_string();
        total += text.len();
        texts.push(text);
        if total >= max_bytes {
            break;
        }
    }
    Ok(texts)
}

/// Files shuffled deterministically before sampling, so a byte cap takes both languages.
fn interleave(mut texts: Vec<String>, seed: u64) -> Vec<String> {
    use rand::seq::SliceRandom;
    texts.shuffle(&mut StdRng::seed_from_u64(seed));
    texts
}

/// Tokenizes a split into one stream, documents separated by end-of-text; cached as
/// little-endian u32 next to the run.
fn token_stream(texts: &[String], tokenizer: &Tokenizer, cache: &Path, eos: u32) -> Result<Vec<u32>> {
    if let Ok(bytes) = std::fs::read(cache) {
        return Ok(bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect());
    }
    let encodings = tokenizer
        .hf()
        .encode_batch(texts.iter().map(String::as_str).collect::<Vec<_>>(), false)
        .map_err(|e| anyhow::anyhow!("tokenize corpus: {e}"))?;
    let mut stream = vec![];
    for e in encodings {
        stream.extend_from_slice(e.get_ids());
        stream.push(eos);
    }
    let bytes: Vec<u8> = stream.iter().flat_map(|t| t.to_le_bytes()).collect();
    write_atomic(cache, &bytes)?;
    Ok(stream)
}

pub fn model_config(cfg: &TrainConfig, tokenizer: &Tokenizer, sp: Specials) -> Config {
    Config {
        model_type: "anneal".into(),
        architectures: vec![],
        vocab_size: tokenizer.vocab_size(),
        hidden_size: cfg.hidden_size,
        intermediate_size: cfg.intermediate_size,
        num_hidden_layers: cfg.num_hidden_layers,
        num_attention_heads: cfg.num_attention_heads,
        num_key_value_heads: cfg.num_key_value_heads,
        head_dim: None,
        max_position_embeddings: 4096,
        rope_theta: 10_000.0,
        rms_norm_eps: 1e-6,
        tie_word_embeddings: true,
        attention_bias: true,
        mask_token_id: sp.mask,
        pad_token_id: sp.pad,
        eos_token_id: sp.eos,
        block_size: None,
        partial_rotary_factor: None,
        attention_output_bias: false,
        moe: None,
        anneal_edit_trained: false,
    }
}

/// Weighted cross-entropy: Σ w·(−log p(target)) / number of positions.
pub fn loss(model: &Transformer, batch: &[Example], device: &Device) -> candle_core::Result<Tensor> {
    loss_with_shift(model, batch, false, device)
}

/// [`loss`] for any family: with `shift` (Dream's habit, [`crate::Family::shifts_logits`]) the
/// output at position i is scored against the target at i+1.
pub fn loss_with_shift(model: &Transformer, batch: &[Example], shift: bool, device: &Device) -> candle_core::Result<Tensor> {
    let (b, len) = (batch.len(), batch[0].input.len());
    let from = usize::from(shift);
    let rows = len - from;
    let flat = |f: &dyn Fn(&Example) -> &[u32], skip: usize| batch.iter().flat_map(|e| f(e)[skip..].iter().copied()).collect::<Vec<u32>>();
    let input = Tensor::from_vec(flat(&|e| &e.input, 0), (b, len), device)?;
    let target = Tensor::from_vec(flat(&|e| &e.target, from), (b * rows, 1), device)?;
    let weight: Vec<f32> = batch.iter().flat_map(|e| e.weight[from..].iter().copied()).collect();
    let weight = Tensor::from_vec(weight, b * rows, device)?;
    let logits = model.forward(&input)?.narrow(1, 0, rows)?;
    let vocab = logits.dim(D::Minus1)?;
    let logp = candle_nn::ops::log_softmax(&logits.reshape((b * rows, vocab))?, D::Minus1)?;
    let picked = logp.gather(&target, 1)?.squeeze(1)?;
    (picked * weight)?.sum_all()?.neg()? / (b * rows) as f64
}

/// Linear warmup over the run's first `warmup_steps`, towards the rate the step would
/// otherwise have: cosine over the main run to a tenth of the peak, where the post stages stay.
/// A config of post stages alone (`steps: 0`, a fine-tune from `init`) so warms up to the
/// post rate rather than taking fresh Adam steps at full size.
fn lr_at(cfg: &TrainConfig, step: usize) -> f64 {
    let warmup = ((step + 1) as f64 / cfg.warmup_steps.max(1) as f64).min(1.0);
    let progress = if step >= cfg.steps {
        1.0
    } else {
        step.saturating_sub(cfg.warmup_steps) as f64 / cfg.steps.saturating_sub(cfg.warmup_steps).max(1) as f64
    };
    warmup * cfg.lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos()))
}

/// The data-only part of a step's batch, a function of (seed, step): all masked in stage 1;
/// otherwise edit corruption in the odd slots (the even ones are masked, and replaced by the
/// model-driven stages in `batch_at`).
pub fn batch_for_step(cfg: &TrainConfig, step: usize, stream: &[u32], sp: Specials) -> Vec<Example> {
    let mut rng = StdRng::seed_from_u64(cfg.seed.wrapping_mul(1_000_003).wrapping_add(step as u64));
    let edits = cfg.stage_at(step) != StageKind::Mask;
    (0..cfg.batch_size)
        .map(|i| {
            if edits && i % 2 == 1 {
                data::edit_example(&mut rng, stream, cfg.window, cfg.max_slack, cfg.edit_alpha, cfg.edit_corruption, cfg.edit_weight, sp)
            } else {
                data::mask_example(&mut rng, stream, cfg.window, cfg.max_slack, sp)
            }
        })
        .collect()
}

/// A step's batch; in the constrained-order and on-policy stages the even slots come from
/// the current weights' own decoding, in self-distillation from the teacher's (`init`, frozen:
/// with the student's own decode as target, the first run collapsed within 100 steps into
/// confidently writing pads — each step's easiest sure answer fed the next step's targets).
fn batch_at(
    cfg: &TrainConfig,
    step: usize,
    stream: &[u32],
    sp: Specials,
    model: impl FnOnce() -> Result<Transformer>,
    teacher: Option<&Transformer>,
    device: &Device,
) -> Result<Vec<Example>> {
    let mut batch = batch_for_step(cfg, step, stream, sp);
    let kind = cfg.stage_at(step);
    if !matches!(kind, StageKind::Order | StageKind::OnPolicy | StageKind::SelfDistill) {
        return Ok(batch);
    }
    let mut rng = StdRng::seed_from_u64(cfg.seed.wrapping_mul(7_000_003).wrapping_add(step as u64));
    let slots: Vec<usize> = (0..batch.len()).step_by(2).collect();
    // A self-distilled trajectory fills `self_states` slots: its decode costs a pass a token.
    let n_tasks = if kind == StageKind::SelfDistill { slots.len().div_ceil(cfg.distill.self_states.max(1)) } else { slots.len() };
    // Self-distillation fills blocks of code as the engine does, in context without a pad
    // run: with the training windows' slack, the teacher wrote pads where a run might be, and
    // within 100 steps the student wrote 19% of a block, the rest pads.
    let slack = if kind == StageKind::SelfDistill { 0 } else { cfg.max_slack };
    let tasks: Vec<distill::BlockTask> =
        (0..n_tasks).map(|_| distill::block_task(&mut rng, stream, cfg.window, cfg.distill.block, slack, sp)).collect();
    let examples = match kind {
        StageKind::Order => distill::order_examples(&model()?, &tasks, &cfg.distill, stream, &mut rng, sp, device)?,
        StageKind::SelfDistill => distill::self_distill_examples(
            teacher.context("self-distillation needs a teacher: set `init`")?,
            &tasks,
            slots.len(),
            &mut rng,
            sp,
            device,
        )?,
        _ => distill::on_policy_examples(&model()?, &tasks, &cfg.distill, &mut rng, sp, device)?,
    };
    for (slot, example) in slots.into_iter().zip(examples) {
        batch[slot] = example;
    }
    Ok(batch)
}

pub fn train(cfg: &TrainConfig, on_progress: &mut dyn FnMut(&TrainProgress)) -> Result<PathBuf> {
    train_on(cfg, &Device::Cpu, None, on_progress)
}

/// [`train`] on `device`, ending early (with the final evaluation and a checkpoint, as at the
/// last step) once `stop_after` has passed: a run sized to a machine lent for minutes.
pub fn train_on(
    cfg: &TrainConfig,
    device: &Device,
    stop_after: Option<std::time::Duration>,
    on_progress: &mut dyn FnMut(&TrainProgress),
) -> Result<PathBuf> {
    if cfg.total_steps() == 0 || cfg.batch_size == 0 || cfg.window < 16 {
        bail!("steps and batch_size must be positive and window at least 16");
    }
    std::fs::create_dir_all(&cfg.out)?;
    std::fs::write(cfg.out.join("train-config.json"), serde_json::to_string_pretty(cfg)?)?;
    let device = device.clone();

    let tok_path = cfg.out.join(TOKENIZER_FILE);
    if let (false, Some(init)) = (tok_path.is_file(), &cfg.init) {
        std::fs::copy(init.join(TOKENIZER_FILE), &tok_path).with_context(|| format!("init: no tokenizer in {}", init.display()))?;
    }
    let tokenizer = if tok_path.is_file() {
        Tokenizer::from_file(&tok_path)?
    } else {
        tracing::info!("training a {}-token BPE", cfg.vocab_size);
        let sample = interleave(read_texts(&cfg.corpus.join("train.jsonl"), usize::MAX)?, cfg.seed);
        let mut taken = 0;
        let sample: Vec<&String> = sample
            .iter()
            .take_while(|t| {
                taken += t.len();
                taken < cfg.tokenizer_sample_bytes
            })
            .collect();
        let tk = Tokenizer::from_hf(crate::bpe::train_bpe(sample.into_iter(), cfg.vocab_size)?);
        tk.save(&tok_path)?;
        tk
    };
    let sp = specials(&tokenizer)?;
    let train_texts = read_texts(&cfg.corpus.join("train.jsonl"), usize::MAX)?;
    let train = token_stream(&train_texts, &tokenizer, &cfg.out.join("train.tokens"), sp.eos)?;
    drop(train_texts);
    let valid_texts = read_texts(&cfg.corpus.join("valid.jsonl"), usize::MAX)?;
    let valid = token_stream(&valid_texts, &tokenizer, &cfg.out.join("valid.tokens"), sp.eos)?;
    tracing::info!(train_tokens = train.len(), valid_tokens = valid.len(), "corpus tokenized");

    let config = model_config(cfg, &tokenizer, sp);
    let mut varmap = VarMap::new();
    let model = Transformer::new(&config, Mode::Train, VarBuilder::from_varmap(&varmap, DType::F32, &device))?;
    let params: Vec<(String, candle_core::Var)> =
        varmap.data().lock().expect("varmap").iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut opt = optim::AdamW::new(params, cfg.weight_decay)?;
    let mut state = State { step: 0, tokens_seen: 0, elapsed_secs: 0.0 };
    if let Some(dir) = latest_checkpoint(&cfg.out) {
        varmap.load(dir.join(WEIGHTS_FILE))?;
        state = serde_json::from_str(&std::fs::read_to_string(dir.join("state.json"))?)?;
        let moments = candle_core::safetensors::load(dir.join("optimizer.safetensors"), &device)?;
        opt.load_state(&moments, state.step)?;
        tracing::info!(step = state.step, "resumed from {}", dir.display());
    } else if let Some(init) = &cfg.init {
        varmap
            .load(init.join(WEIGHTS_FILE))
            .with_context(|| format!("init: cannot load the weights of {} into this config's shapes", init.display()))?;
        tracing::info!("initialised from {}", init.display());
    } else {
        crate::random::init_seeded(&varmap, cfg.seed)?;
    }

    let metrics_path = cfg.out.join("metrics.jsonl");
    let mut last_eval: Option<Metrics> = None;
    let started = std::time::Instant::now();
    let elapsed_before = state.elapsed_secs;
    let mut last_save = std::time::Instant::now();
    let mut window_tokens = 0usize;
    let mut window_start = std::time::Instant::now();
    let mut loss_avg = None::<f64>;
    let total = cfg.total_steps();
    let infer_model =
        || Transformer::new(&config, Mode::Infer, VarBuilder::from_varmap(&varmap, DType::F32, &device)).map_err(anyhow::Error::from);
    let teacher = match &cfg.init {
        Some(init) if cfg.post.iter().any(|p| p.kind == StageKind::SelfDistill) => {
            let weights = candle_core::safetensors::load(init.join(WEIGHTS_FILE), &device)?;
            Some(Transformer::new(&config, Mode::Infer, VarBuilder::from_tensors(weights, DType::F32, &device))?)
        }
        _ => None,
    };
    while state.step < total {
        let batch = batch_at(cfg, state.step, &train, sp, infer_model, teacher.as_ref(), &device)?;
        let loss_t = loss(&model, &batch, &device)?;
        let grads = loss_t.backward()?;
        let norm = opt.grad_norm(&grads)?;
        let scale = if norm > cfg.grad_clip { cfg.grad_clip / norm } else { 1.0 };
        let lr = lr_at(cfg, state.step);
        opt.step(&grads, lr, scale)?;
        let l = loss_t.to_scalar::<f32>()? as f64;
        loss_avg = Some(loss_avg.map_or(l, |a| 0.98 * a + 0.02 * l));
        let stage = cfg.stage_at(state.step);
        state.step += 1;
        state.tokens_seen += cfg.batch_size * cfg.window;
        window_tokens += cfg.batch_size * cfg.window;
        state.elapsed_secs = elapsed_before + started.elapsed().as_secs_f64();

        let out_of_time = stop_after.is_some_and(|limit| started.elapsed() >= limit);
        let finished = state.step == total || out_of_time;
        if state.step.is_multiple_of(cfg.eval_every) || finished {
            let eval_model = infer_model()?;
            let (valid_loss, acc) = evaluate::masked_accuracy(&eval_model, cfg, &valid, sp, &device)?;
            // Block fill decodes up to a block's worth of passes: only once, at the end.
            let fill = if finished { Some(evaluate::block_fill(&eval_model, cfg, &valid, sp, &device)?) } else { None };
            let m = Metrics {
                step: state.step,
                tokens_seen: state.tokens_seen,
                elapsed_secs: state.elapsed_secs,
                lr,
                train_loss: loss_avg.unwrap_or(l),
                valid_loss: Some(valid_loss),
                valid_accuracy: Some(acc),
                fill_passes_per_block: fill.map(|f| f.0),
                fill_accuracy: fill.map(|f| f.1),
                stage: Some(stage),
            };
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&metrics_path)?;
            writeln!(f, "{}", serde_json::to_string(&m)?)?;
            last_eval = Some(m);
        }
        // A checkpoint where a stage begins lets an ablation arm branch from exactly there.
        if finished || cfg.is_stage_boundary(state.step) || last_save.elapsed().as_secs() >= cfg.checkpoint_every_secs {
            let mut cfg_out = config.clone();
            cfg_out.anneal_edit_trained = cfg.edit_trained_after(state.step);
            checkpoint::save(&cfg.out, state.step, &varmap, &opt, &state, &cfg_out, &tokenizer)?;
            last_save = std::time::Instant::now();
        }
        let tps = window_tokens as f64 / window_start.elapsed().as_secs_f64().max(1e-9);
        if window_start.elapsed().as_secs() > 30 {
            window_tokens = 0;
            window_start = std::time::Instant::now();
        }
        if state.step.is_multiple_of(100) {
            tracing::info!(step = state.step, ?stage, loss = loss_avg.unwrap_or(l), tokens_per_sec = tps as u64, "training");
        }
        on_progress(&TrainProgress {
            step: state.step,
            steps: total,
            loss: loss_avg.unwrap_or(l),
            tokens_per_sec: tps,
            last_eval: last_eval.as_ref(),
        });
        if finished {
            break;
        }
    }
    latest_checkpoint(&cfg.out).context("training ended without a checkpoint")
}

/// Every parameter gets a gradient from one step: the guard against norms or kernels that
/// silently stop gradients (candle's fused norm, rope and softmax have no backward).
pub fn parameters_without_gradient(config: &Config, batch: &[Example]) -> Result<Vec<String>> {
    let device = Device::Cpu;
    let varmap = VarMap::new();
    let model = Transformer::new(config, Mode::Train, VarBuilder::from_varmap(&varmap, DType::F32, &device))?;
    crate::random::init_seeded(&varmap, 0)?;
    let grads = loss(&model, batch, &device)?.backward()?;
    let data = varmap.data().lock().expect("varmap");
    let mut missing = vec![];
    for (name, var) in data.iter() {
        let nonzero = match grads.get(var) {
            Some(g) => g.abs()?.sum_all()?.to_scalar::<f32>()? > 0.0,
            None => false,
        };
        if !nonzero {
            missing.push(name.clone());
        }
    }
    missing.sort();
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rate_warms_up_then_decays_to_the_post_stage_rate() {
        let mut c: TrainConfig = serde_json::from_str(include_str!("../../train/default.json")).unwrap();
        (c.lr, c.steps, c.warmup_steps) = (1e-3, 100, 10);
        assert!((lr_at(&c, 0) - 1e-4).abs() < 1e-12);
        assert!((lr_at(&c, 9) - 1e-3).abs() < 1e-12);
        assert!(lr_at(&c, 50) < 1e-3 && lr_at(&c, 50) > 1e-4);
        assert!((lr_at(&c, 100) - 1e-4).abs() < 1e-12 && (lr_at(&c, 500) - 1e-4).abs() < 1e-12);
        // Post stages alone: the warmup climbs to the post rate, never to the peak.
        c.steps = 0;
        assert!((lr_at(&c, 0) - 1e-5).abs() < 1e-12);
        assert!((lr_at(&c, 9) - 1e-4).abs() < 1e-12 && (lr_at(&c, 300) - 1e-4).abs() < 1e-12);
    }

    #[test]
    fn every_parameter_gets_a_gradient() {
        let tk = crate::tokenizer::byte_level().unwrap();
        let sp = specials(&tk).unwrap();
        let config = Config::tiny(tk.vocab_size(), sp.mask, sp.pad, sp.eos);
        let stream: Vec<u32> = tk.encode(&"def f(x):\n    return x + 1\n".repeat(50)).unwrap();
        let mut rng = StdRng::seed_from_u64(0);
        let batch: Vec<Example> = (0..4).map(|_| data::mask_example(&mut rng, &stream, 32, 4, sp)).collect();
        let missing = parameters_without_gradient(&config, &batch).unwrap();
        assert!(missing.is_empty(), "no gradient reaches {missing:?}");
    }

    #[test]
    fn fused_inference_matches_differentiable_training_ops() {
        let tk = crate::tokenizer::byte_level().unwrap();
        let sp = specials(&tk).unwrap();
        let config = Config::tiny(tk.vocab_size(), sp.mask, sp.pad, sp.eos);
        let varmap = VarMap::new();
        let device = Device::Cpu;
        let train = Transformer::new(&config, Mode::Train, VarBuilder::from_varmap(&varmap, DType::F32, &device)).unwrap();
        crate::random::init_seeded(&varmap, 3).unwrap();
        let infer = Transformer::new(&config, Mode::Infer, VarBuilder::from_varmap(&varmap, DType::F32, &device)).unwrap();
        let ids = Tensor::new(&[[5u32, 9, 2, 2, 40, 7, 2, 11]], &device).unwrap();
        let a = train.forward(&ids).unwrap();
        let b = infer.forward(&ids).unwrap();
        let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-4, "max difference {diff}");
    }
}
