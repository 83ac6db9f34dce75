//! [`Model`], a checkpoint loaded for inference, and [`Denoiser`], what the samplers ask of
//! one: logits for a canvas, with or without a cached prefix.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};

use crate::transformer::{Mode, Transformer};
use crate::{batch, checkpoint, default_model, gguf, prompt, transformer, Config, Family, Precision, Tokenizer};

/// The special token ids a sampler needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Specials {
    pub eos: u32,
    pub pad: u32,
    pub mask: u32,
}

/// Anything that maps a token canvas to logits at every position. Samplers are written
/// against this, so they can be tested with a scripted oracle and run on any family.
pub trait Denoiser: Sync {
    fn specials(&self) -> Specials;
    /// `ids`: the whole canvas (context and masks). Returns `[len, vocab]` logits.
    fn logits(&self, ids: &[u32]) -> candle_core::Result<Tensor>;

    /// The logits of `ids[start..]`, where `ids[..start]` is a finished prefix that a decode
    /// passes unchanged at every step, so an implementation may keep its keys and values from
    /// one call to the next rather than recompute them (see [`transformer::KvCache`] for what
    /// that approximates). By default: the whole canvas, every time.
    fn logits_after_prefix(&self, ids: &[u32], start: usize) -> candle_core::Result<Tensor> {
        self.logits(ids)?.narrow(0, start, ids.len() - start)
    }

    /// `logits(ids)` at rows `start..end` only, from a pass over the whole canvas; an
    /// implementation may skip the output layer elsewhere.
    fn logits_of_rows(&self, ids: &[u32], start: usize, end: usize) -> candle_core::Result<Tensor> {
        self.logits(ids)?.narrow(0, start, end - start)
    }

    /// The logits of the window `ids[start..end]`, where the context on both sides stays fixed
    /// while a block is decoded, so an implementation may keep the context's keys and values
    /// and run only the window's queries (Fast-dLLM's dual cache). `refresh` starts a block:
    /// the whole canvas is encoded and its context's keys and values kept for the calls that
    /// follow, which see the context as it was then. A prefix that grew at the window's left
    /// end (tokens committed by a left-to-right decode) keeps the cache: the new tokens are
    /// encoded once, with the window, and join it. By default: the whole canvas, every time.
    fn logits_in_window(&self, ids: &[u32], start: usize, end: usize, refresh: bool) -> candle_core::Result<Tensor> {
        let _ = refresh;
        self.logits(ids)?.narrow(0, start, end - start)
    }

    /// For each canvas of `canvases` (all of one length), the logits at its own position
    /// `at[r]`, as `[canvases, vocab]`: leave-one-out scoring asks many canvases that differ in
    /// one place one question each, which a batch answers in one pass. By default: one pass a
    /// canvas.
    fn logits_at(&self, canvases: &[Vec<u32>], at: &[usize]) -> candle_core::Result<Tensor> {
        logits_at_each(self, canvases, at)
    }

    /// For a block-causal model, its attention block: a position sees its own block of this
    /// many and the blocks before it, counted from position 0. `None`: bidirectional.
    fn attention_block(&self) -> Option<usize> {
        None
    }
}

/// [`Denoiser::logits_at`], one pass a canvas.
fn logits_at_each<D: Denoiser + ?Sized>(model: &D, canvases: &[Vec<u32>], at: &[usize]) -> candle_core::Result<Tensor> {
    let rows = canvases.iter().zip(at).map(|(ids, &i)| model.logits(ids)?.narrow(0, i, 1)).collect::<candle_core::Result<Vec<_>>>()?;
    Tensor::cat(&rows, 0)
}

/// A loaded checkpoint: config, tokenizer and weights on a device.
pub struct Model {
    pub config: Config,
    pub tokenizer: Tokenizer,
    pub device: Device,
    /// Where the weights came from, for logs and the status bar.
    pub source: String,
    /// How the weights are held: a float dtype or quantized linear layers.
    pub precision: Precision,
    /// The dtype activations run in (and every weight, at a float precision).
    pub dtype: DType,
    /// The chat template of an instruct checkpoint; `None` for base and native models.
    pub chat_template: Option<prompt::ChatTemplate>,
    transformer: Transformer,
    /// Set on the views [`Model::batched`] makes: their forward passes join a shared batch.
    batch: Option<Arc<batch::Membership>>,
    /// Whether logits are shifted one position (Dream): fixed by the family, read every pass.
    shift: bool,
    /// The last prefix [`Denoiser::logits_after_prefix`] encoded.
    prefix: std::sync::Mutex<Option<EncodedPrefix>>,
    /// The context [`Denoiser::logits_in_window`] encoded at the start of the current block.
    context: std::sync::Mutex<Option<EncodedContext>>,
}

/// Both sides of a window, encoded in one pass over the whole canvas at a block's start.
struct EncodedContext {
    prefix: Vec<u32>,
    suffix: Vec<u32>,
    past: Option<transformer::KvCache>,
    future: Option<transformer::KvCache>,
    /// For a family with shifted logits: the raw logits of the position before the window.
    last_logits: Option<Tensor>,
}

/// A finished prefix's keys and values, and for a family with shifted logits the raw logits
/// of its last position, which the first position after it reads.
struct EncodedPrefix {
    ids: Vec<u32>,
    kv: transformer::KvCache,
    last_logits: Option<Tensor>,
}

impl Model {
    /// Loads a Hugging Face-style checkpoint folder, in the device's default dtype.
    pub fn load(dir: &Path, device: &Device) -> Result<Model> {
        Model::load_as(dir, device, dtype_for(device))
    }

    /// [`Model::load`] with the weights at `precision` (a float dtype, or quantized as they
    /// load). A folder holding a GGUF file loads from it, at the precision the file stores.
    pub fn load_as(dir: &Path, device: &Device, precision: impl Into<Precision>) -> Result<Model> {
        if let Some(file) = gguf::find(dir)? {
            return Model::load_gguf(dir, &file, device);
        }
        let precision = precision.into();
        let config = checkpoint::read_config(dir)?;
        let tokenizer = Tokenizer::from_file(&dir.join(checkpoint::TOKENIZER_FILE))?;
        checkpoint::check_tokenizer(&config, &tokenizer)?;
        let files = checkpoint::weight_files(dir)?;
        checkpoint::check_fits(&config, precision, device)?;
        let vb = checkpoint::var_builder(&files, precision.dtype(), device)?;
        let transformer = Transformer::with_precision(&config, Mode::Infer, precision, vb)
            .with_context(|| format!("weights in {} do not match config.json", dir.display()))?;
        let chat_template = Model::chat_template(&config, dir, None)?;
        Model::assemble(config, tokenizer, device, dir.display().to_string(), precision, chat_template, transformer)
    }

    /// A GGUF file's model: the config from `config.json` beside it, else from its metadata;
    /// the tokenizer from `tokenizer.json` beside it, else from the file.
    fn load_gguf(dir: &Path, file: &Path, device: &Device) -> Result<Model> {
        let (weights, config) = gguf::GgufWeights::open_in(dir, file)?;
        let weights = Arc::new(weights);
        let tokenizer_file = dir.join(checkpoint::TOKENIZER_FILE);
        let tokenizer = if tokenizer_file.is_file() {
            Tokenizer::from_file(&tokenizer_file)?
        } else {
            weights.tokenizer()?.with_context(|| {
                format!(
                    "{} carries no tokenizer and {} has no {} beside it: copy the original checkpoint's there",
                    file.display(),
                    dir.display(),
                    checkpoint::TOKENIZER_FILE
                )
            })?
        };
        checkpoint::check_tokenizer(&config, &tokenizer)?;
        let precision = weights.precision();
        checkpoint::check_bytes_fit(weights.memory_needed(), precision, "a GGUF file of fewer bits, ", device)?;
        let chat_template = Model::chat_template(&config, dir, weights.chat_template(&config, &tokenizer)?)?;
        let transformer = Transformer::from_gguf(&config, weights, device)
            .with_context(|| format!("weights in {} do not match its config", file.display()))?;
        Model::assemble(config, tokenizer, device, file.display().to_string(), precision, chat_template, transformer)
    }

    /// A model of `config` with random weights made as they load ([`crate::random::RandomWeights`]):
    /// a real shape's speed and memory at `precision`, without its checkpoint.
    pub fn random(config: Config, tokenizer: Tokenizer, device: &Device, precision: Precision, seed: u64) -> Result<Model> {
        config.validate()?;
        checkpoint::check_tokenizer(&config, &tokenizer)?;
        let vb = crate::random::RandomWeights::new(seed).var_builder(precision.dtype(), device);
        let transformer = Transformer::with_precision(&config, Mode::Infer, precision, vb)?;
        Model::assemble(config, tokenizer, device, "random weights".into(), precision, None, transformer)
    }

    /// The small default model compiled into the binary, so Anneal works offline on a fresh
    /// clone with no set-up.
    pub fn load_default(device: &Device) -> Result<Model> {
        Model::load_default_as(device, dtype_for(device))
    }

    /// [`Model::load_default`] with the weights at `precision`.
    pub fn load_default_as(device: &Device, precision: impl Into<Precision>) -> Result<Model> {
        let precision = precision.into();
        let config = checkpoint::parse_config(default_model::CONFIG).context("embedded default model")?;
        let tokenizer = Tokenizer::from_bytes(default_model::TOKENIZER)?;
        checkpoint::check_tokenizer(&config, &tokenizer)?;
        let weights = default_model::weights().context("default model")?;
        let vb = candle_nn::VarBuilder::from_slice_safetensors(&weights, precision.dtype(), device)?;
        let transformer = Transformer::with_precision(&config, Mode::Infer, precision, vb).context("embedded default model")?;
        Model::assemble(config, tokenizer, device, "default".into(), precision, None, transformer)
    }

    /// The chat template of a checkpoint folder: one in `dir` wins over `carried`, the one its
    /// weights file holds (a GGUF's). Only the open families were tuned on a chat format; a
    /// native checkpoint has none.
    pub fn chat_template(config: &Config, dir: &Path, carried: Option<prompt::ChatTemplate>) -> Result<Option<prompt::ChatTemplate>> {
        // Open-dCoder (a Dream-layout folder whose config still names the autoregressive class
        // it was trained from) is a base model: its tokenizer merely kept Qwen2.5's template.
        if config.architectures.iter().any(|a| a == "Qwen2ForCausalLM") {
            return Ok(None);
        }
        Ok(match config.family()? {
            Family::Dream | Family::Llada | Family::Sdar | Family::Coda | Family::Llada2 | Family::LladaMoe => {
                prompt::ChatTemplate::from_dir(dir)?.or(carried)
            }
            Family::Anneal => None,
        })
    }

    /// A model from its parts (a tokenizer already checked against the config).
    fn assemble(
        config: Config,
        tokenizer: Tokenizer,
        device: &Device,
        source: String,
        precision: Precision,
        chat_template: Option<prompt::ChatTemplate>,
        transformer: Transformer,
    ) -> Result<Model> {
        let tokenizer = tokenizer.with_specials(&config);
        Ok(Model {
            shift: config.family()?.shifts_logits(),
            config,
            tokenizer,
            device: device.clone(),
            source,
            precision,
            dtype: precision.dtype(),
            chat_template,
            transformer,
            batch: None,
            prefix: Default::default(),
            context: Default::default(),
        })
    }

    pub fn parameter_count(&self) -> usize {
        config_parameter_count(&self.config)
    }

    /// Whether an instruction reaches the model: only checkpoints with a prompt format for one
    /// (the instruct variants of the open families, which ship a chat template). The native
    /// models learn code alone.
    pub fn follows_instructions(&self) -> bool {
        self.chat_template.is_some()
    }

    /// `n` views of this model whose forward passes are batched together (see [`batch`]): give
    /// each to one worker thread. A view must be dropped when its worker is done, or the other
    /// views wait for it. The handle reports what the group did.
    pub fn batched(&self, n: usize) -> (Vec<Model>, BatchHandle) {
        let batcher = Arc::new(batch::Batcher::new(self.transformer.clone(), self.device.clone(), self.config.pad_token_id, n));
        let views = (0..n)
            .map(|_| Model {
                config: self.config.clone(),
                tokenizer: self.tokenizer.clone(),
                device: self.device.clone(),
                source: self.source.clone(),
                precision: self.precision,
                dtype: self.dtype,
                chat_template: self.chat_template.clone(),
                shift: self.shift,
                transformer: self.transformer.clone(),
                batch: Some(Arc::new(batch::Membership(batcher.clone()))),
                prefix: Default::default(),
                context: Default::default(),
            })
            .collect();
        (views, BatchHandle(batcher))
    }
}

/// Reports what a group of batched views did.
pub struct BatchHandle(Arc<batch::Batcher>);

impl BatchHandle {
    pub fn stats(&self) -> batch::BatchStats {
        self.0.stats()
    }
}

/// The float dtype weights load in by default: f32 on CPU (no fast half-precision matmul
/// there); bf16 on GPUs.
pub fn dtype_for(device: &Device) -> DType {
    Precision::default_for(device).dtype()
}

/// Parameters implied by a config, without loading anything (for `model info` and memory
/// estimates).
pub fn config_parameter_count(c: &Config) -> usize {
    config_parameter_counts(c).0
}

/// Parameters implied by a config: all of them, and those one token runs through (fewer for a
/// mixture of experts, whose unchosen experts it skips).
pub fn config_parameter_counts(c: &Config) -> (usize, usize) {
    let (h, i, v, d) = (c.hidden_size, c.intermediate_size, c.vocab_size, c.head_dim());
    let (q, kv) = (c.num_attention_heads * d, c.num_key_value_heads * d);
    let bias = if c.attention_bias { q + 2 * kv } else { 0 } + if c.attention_output_bias { h } else { 0 };
    let qk_norms = if c.family().is_ok_and(Family::norms_queries_and_keys) { 2 * d } else { 0 };
    let attn = h * q + 2 * h * kv + q * h + bias + qk_norms + 2 * h;
    let (mut total, mut active) = (0, 0);
    for layer in 0..c.num_hidden_layers {
        let (all, used) = match &c.moe {
            Some(moe) if layer >= moe.first_k_dense_replace => transformer::moe_parameters(c, moe),
            _ => (3 * h * i, 3 * h * i),
        };
        total += attn + all;
        active += attn + used;
    }
    let outside = v * h + h + if c.tie_word_embeddings { 0 } else { v * h };
    (total + outside, active + outside)
}

impl Denoiser for Model {
    fn specials(&self) -> Specials {
        Specials { eos: self.config.eos_token_id, pad: self.config.pad_token_id, mask: self.config.mask_token_id }
    }

    fn attention_block(&self) -> Option<usize> {
        self.config.block_size
    }

    fn logits(&self, ids: &[u32]) -> candle_core::Result<Tensor> {
        let raw = match &self.batch {
            Some(member) => member.0.logits(ids)?,
            None => self.transformer.forward(&Tensor::new(ids, &self.device)?.unsqueeze(0)?)?.squeeze(0)?,
        };
        self.shifted(raw, None)
    }

    fn logits_of_rows(&self, ids: &[u32], start: usize, end: usize) -> candle_core::Result<Tensor> {
        if self.batch.is_some() {
            return self.logits(ids)?.narrow(0, start, end - start);
        }
        // With the shift, row i reads the output at i - 1: one more row on the left.
        let first = if self.shift { start.saturating_sub(1) } else { start };
        let all = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
        let raw = self.transformer.forward_rows(&all, first..end)?.squeeze(0)?;
        match (self.shift, start) {
            (false, _) => Ok(raw),
            (true, 0) => self.shifted(raw, None),
            (true, _) => raw.narrow(0, 0, end - start),
        }
    }

    fn logits_in_window(&self, ids: &[u32], start: usize, end: usize, refresh: bool) -> candle_core::Result<Tensor> {
        let n = end - start;
        if self.batch.is_some() || (start == 0 && end == ids.len()) {
            return self.logits(ids)?.narrow(0, start, n);
        }
        let mut cached = self.context.lock().unwrap_or_else(|e| e.into_inner());
        let suffix_kept = cached.as_ref().is_some_and(|c| c.suffix == ids[end..]);
        let current = suffix_kept && cached.as_ref().is_some_and(|c| c.prefix == ids[..start]);
        // Tokens committed since, at the window's left end (a left-to-right decode): encode
        // them once, with the window, and keep their keys and values as part of the prefix.
        let grown = suffix_kept && cached.as_ref().is_some_and(|c| start > c.prefix.len() && ids.starts_with(&c.prefix));
        if refresh || !(current || grown) {
            let all = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
            // The output layer runs on the window's rows alone, and with the shift the row
            // before it, which the window's first position reads.
            let before = self.shift && start > 0;
            let first = if before { start - 1 } else { start };
            let (raw, kv) = self.transformer.forward_between_rows(&all, None, None, first..end)?;
            let raw = raw.squeeze(0)?;
            *cached = Some(EncodedContext {
                prefix: ids[..start].to_vec(),
                suffix: ids[end..].to_vec(),
                past: (start > 0).then(|| kv.narrow(0, start)).transpose()?,
                future: (end < ids.len()).then(|| kv.narrow(end, ids.len() - end)).transpose()?,
                last_logits: before.then(|| raw.narrow(0, 0, 1)?.copy()).transpose()?,
            });
            // This pass saw the current canvas: its window rows are exact.
            return match before {
                true => raw.narrow(0, 0, n),
                false => self.shifted(raw, None)?.narrow(0, 0, n),
            };
        }
        let context = cached.as_mut().expect("checked above");
        let from = context.prefix.len();
        let window = Tensor::new(&ids[from..end], &self.device)?.unsqueeze(0)?;
        let (raw, own) = self.transformer.forward_between(&window, context.past.as_ref(), context.future.as_ref())?;
        let raw = self.shifted(raw.squeeze(0)?, context.last_logits.as_ref())?;
        if from < start {
            let added = own.narrow(0, start - from)?;
            context.past = Some(match &context.past {
                Some(past) => past.extended(&added)?,
                None => added,
            });
            if self.shift {
                // Shifted row `start` is the raw output at `start - 1`: the new last prefix row.
                context.last_logits = Some(raw.narrow(0, start - from, 1)?.copy()?);
            }
            context.prefix = ids[..start].to_vec();
        }
        raw.narrow(0, start - from, n)
    }

    fn logits_at(&self, canvases: &[Vec<u32>], at: &[usize]) -> candle_core::Result<Tensor> {
        // With the shift, position i reads the output at i - 1; position 0 has no row before.
        if self.batch.is_some() || canvases.is_empty() || (self.shift && at.contains(&0)) {
            return logits_at_each(self, canvases, at);
        }
        let len = canvases[0].len();
        if canvases.iter().any(|c| c.len() != len) || at.len() != canvases.len() || at.iter().any(|&i| i >= len) {
            candle_core::bail!("logits_at: {} canvases of unequal length or positions out of range", canvases.len());
        }
        let starts: Vec<usize> = at.iter().map(|&i| if self.shift { i - 1 } else { i }).collect();
        // Chunks bound the activations (and attention scores) a large model holds at once.
        let per_chunk = (LOGITS_AT_TOKENS / len).max(1);
        let mut out = Vec::new();
        for (chunk, starts) in canvases.chunks(per_chunk).zip(starts.chunks(per_chunk)) {
            let flat: Vec<u32> = chunk.iter().flatten().copied().collect();
            let ids = Tensor::from_vec(flat, (chunk.len(), len), &self.device)?;
            out.push(self.transformer.forward_blocks(&ids, starts, 1)?.squeeze(1)?);
        }
        Tensor::cat(&out, 0)
    }

    fn logits_after_prefix(&self, ids: &[u32], start: usize) -> candle_core::Result<Tensor> {
        // Batched views share their passes with other sequences; there the whole canvas runs.
        if self.batch.is_some() || start == 0 {
            return self.logits(ids)?.narrow(0, start, ids.len() - start);
        }
        let (prefix, rest) = ids.split_at(start);
        let mut cached = self.prefix.lock().unwrap_or_else(|e| e.into_inner());
        // The same prefix: reuse. A longer one that starts with it (tokens committed since, as
        // in a left-to-right decode): encode only the new tokens, attending to the rest.
        let reusable = cached.as_ref().map_or(0, |p| if prefix.starts_with(&p.ids) { p.ids.len() } else { 0 });
        if reusable < prefix.len() || cached.is_none() {
            let past = cached.take().filter(|_| reusable > 0).map(|p| p.kv);
            let input = Tensor::new(&prefix[reusable..], &self.device)?.unsqueeze(0)?;
            // Only the prefix's last row is ever read (with the shift, by the first position
            // after it): the output layer runs on it alone.
            let last = prefix.len() - reusable - 1;
            let (logits, more) = self.transformer.forward_between_rows(&input, past.as_ref(), None, last..last + 1)?;
            let kv = match past {
                Some(past) => past.extended(&more)?,
                None => more,
            };
            let last_logits = match self.shift {
                true => Some(logits.squeeze(0)?),
                false => None,
            };
            *cached = Some(EncodedPrefix { ids: prefix.to_vec(), kv, last_logits });
        }
        let encoded = cached.as_ref().expect("just filled");
        let input = Tensor::new(rest, &self.device)?.unsqueeze(0)?;
        let logits = self.transformer.forward_cached(&input, Some(&encoded.kv))?.0.squeeze(0)?;
        match &encoded.last_logits {
            Some(last) => Tensor::cat(&[last, &logits.narrow(0, 0, rest.len() - 1)?], 0),
            None => Ok(logits),
        }
    }
}

impl Model {
    /// Raw logits as the family reads them: with Dream's shift, position *i* takes row *i*−1,
    /// and the first position the row `before` it (encoded earlier), else its own row, as
    /// Dream's sampler does.
    fn shifted(&self, raw: Tensor, before: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let len = raw.dim(0)?;
        if !self.shift || (len < 2 && before.is_none()) {
            return Ok(raw);
        }
        let first = match before {
            Some(row) => row.clone(),
            None => raw.narrow(0, 0, 1)?,
        };
        Tensor::cat(&[first, raw.narrow(0, 0, len - 1)?], 0)
    }
}

/// Tokens [`Denoiser::logits_at`] encodes in one batch: 35 canvases of the default repair's
/// 230 tokens, 4 of the largest canvas the engine allows by default.
const LOGITS_AT_TOKENS: usize = 8192;
