//! Mask-mode sampling: the canvas starts as masks and each step commits, in parallel, every
//! masked position the model is confident about (at least one, so decoding always ends).
//! Two fixed schedules reproduce the open families' reference samplers step for step at
//! temperature 0 ([`Schedule`]), tested against fixtures their algorithms produced.
//!
//! A position decoded as pad or end-of-text is a deletion: the canvas carries slack beyond the
//! original length, and whatever the span does not need decodes to pad.

use std::ops::ControlFlow;

use candle_core::{Tensor, D};

use crate::Denoiser;

mod aligned_blocks;

/// How a masked position's confidence is scored (Dream's `maskgit_plus`, `topk_margin`,
/// `entropy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    MaxProb,
    Margin,
    NegEntropy,
}

/// How many masked positions each step commits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Schedule {
    /// Anneal's: every position at least `threshold` confident (and the entropy bound), at
    /// least one; a block ends as soon as only pad and end-of-text are left.
    #[default]
    Threshold,
    /// Dream's `diffusion_generate`: `max_steps` passes over the whole canvas; with noise
    /// levels t falling linearly from 1 to 10⁻³, the pass from t to s commits
    /// ⌊masked·(1 − s/t)⌋ of the most confident positions, the last pass the rest.
    Linear,
    /// LLaDA's `generate`: the canvas in blocks of `block_length`, left to right, `max_steps`
    /// shared equally among them; each pass commits the same count of the block's most
    /// confident masked positions (the remainder spread over its first passes).
    Blocks,
    /// SDAR's block decode (`generate.py`, `low_confidence_static` and `_dynamic`): blocks of
    /// `block_length` counted from position 0 of the whole canvas, prefix included, as a
    /// block-causal model's attention counts them (the block the prefix ends in is the first
    /// decoded), left to right, each in at most `max_steps` passes. A pass commits every masked
    /// position of the block more than `threshold` confident, or if fewer, the
    /// `block_length / max_steps` most confident (one more in the first `block_length %
    /// max_steps` passes); a threshold of 1 or more commits exactly that many.
    AlignedBlocks,
    /// Open-dLLM's `p2` as Open-dCoder was evaluated with (the version of September 2, 2025):
    /// of the N positions masked at the start, ⌊N·(1 − (i+1)/`max_steps`)⌋ stay masked after
    /// pass i; the most confident of the others commit.
    Proportional,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct MaskConfig {
    pub schedule: Schedule,
    /// The block length of [`Schedule::Blocks`].
    pub block_length: usize,
    /// Commit every masked position whose confidence is at least this.
    pub threshold: f32,
    /// At the last allowed step every remaining mask is committed.
    pub max_steps: usize,
    pub confidence: Confidence,
    /// Which context keys and values are kept from step to step instead of re-encoded.
    pub cache: KvReuse,
    /// Also commit, most confident first, every position while their summed entropy (nats)
    /// stays within this bound (the entropy-bounded sampler of Ben-Hamu et al., 2025): many
    /// near-certain positions go together even below `threshold`. 0 turns it off.
    pub entropy_bound: f32,
    /// With [`Schedule::AlignedBlocks`], also rewrite the block's committed positions whose
    /// most likely token differs and is more than this confident, in the same passes that
    /// unmask (LLaDA 2.1's token-to-token editing; SGLang's `JointThreshold`). `None`: off.
    pub edit_threshold: Option<f32>,
    /// Passes of editing alone a block may take once it has no masks left (SGLang's
    /// `max_post_edit_steps`); the block ends sooner when a pass changes nothing.
    pub max_post_edit_steps: usize,
}

impl Default for MaskConfig {
    fn default() -> Self {
        Self {
            schedule: Schedule::Threshold,
            block_length: 32,
            threshold: 0.9,
            max_steps: 32,
            confidence: Confidence::MaxProb,
            cache: KvReuse::None,
            entropy_bound: 0.0,
            edit_threshold: None,
            max_post_edit_steps: 16,
        }
    }
}

/// Which keys and values of the context a decode keeps from step to step. Both caches are
/// exact for a block-causal model and approximate for a bidirectional one, whose context would
/// attend to the block as it fills.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KvReuse {
    /// Every step encodes the whole canvas.
    #[default]
    None,
    /// The prefix is encoded once, attending to itself alone
    /// ([`crate::Denoiser::logits_after_prefix`]); the block and the suffix run every step.
    Prefix,
    /// Fast-dLLM's dual cache: the block's first step encodes the whole canvas and keeps the
    /// prefix's and the suffix's keys and values; later steps run only the block's queries
    /// ([`crate::Denoiser::logits_in_window`]).
    Dual,
}

/// The logits of the `n` canvas positions after `ids[..start]`, through the cache `reuse`
/// names; `first` is a block's first step.
pub(crate) fn canvas_logits(
    model: &dyn Denoiser,
    ids: &[u32],
    start: usize,
    n: usize,
    reuse: KvReuse,
    first: bool,
) -> candle_core::Result<Tensor> {
    match reuse {
        KvReuse::None => model.logits_of_rows(ids, start, start + n),
        KvReuse::Prefix => model.logits_after_prefix(ids, start)?.narrow(0, 0, n),
        KvReuse::Dual => model.logits_in_window(ids, start, start + n, first),
    }
}

/// One region to decode: fixed context around a canvas of `canvas_len` masks.
pub struct MaskRequest<'a> {
    pub prefix: &'a [u32],
    pub canvas_len: usize,
    pub suffix: &'a [u32],
}

/// What an observer sees after each step (progress, previews, cancellation).
pub struct StepReport<'a> {
    pub step: usize,
    pub committed: usize,
    pub remaining: usize,
    /// `None` is a position still masked.
    pub canvas: &'a [Option<u32>],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The decoded canvas with pad and end-of-text removed.
    pub tokens: Vec<u32>,
    pub steps: usize,
    pub forward_passes: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Model(#[from] candle_core::Error),
}

/// Per canvas position: the entropy (nats) of the model's distribution, masks excluded.
pub fn entropies(logits: &Tensor, mask_id: u32) -> candle_core::Result<Vec<f32>> {
    let logits = logits.to_dtype(candle_core::DType::F32)?;
    let vocab = logits.dim(D::Minus1)?;
    let forbid: Vec<f32> = (0..vocab).map(|i| if i as u32 == mask_id { f32::NEG_INFINITY } else { 0.0 }).collect();
    let probs = candle_nn::ops::softmax_last_dim(&logits.broadcast_add(&Tensor::from_vec(forbid, vocab, logits.device())?)?)?;
    let logp = (probs.clone() + 1e-10)?.log()?;
    (probs * logp)?.sum(D::Minus1)?.neg()?.to_vec1::<f32>()
}

/// Per canvas position: the model's choice and its confidence, computed on the model's device
/// so that only two small vectors come back to the host. A mask is never an answer: it is
/// forbidden before normalising.
pub fn choices(logits: &Tensor, mask_id: u32, confidence: Confidence) -> candle_core::Result<(Vec<u32>, Vec<f32>)> {
    choices_among(logits, Some(mask_id), confidence, None)
}

/// [`choices`] with the token to forbid, if any (the reference samplers forbid none), and on
/// the CPU only for the rows `wanted` marks (the others get token 0 and score −∞): a decode
/// needs its masked positions alone.
fn choices_among(
    logits: &Tensor,
    forbid: Option<u32>,
    confidence: Confidence,
    wanted: Option<&[bool]>,
) -> candle_core::Result<(Vec<u32>, Vec<f32>)> {
    if logits.device().is_cpu() {
        // One pass over each row in place of six tensor ops and their temporaries: at a small
        // model's speed those were a tenth of a step.
        let vocab = logits.dim(D::Minus1)?;
        let flat = logits.to_dtype(candle_core::DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let choose = |(i, row): (usize, &[f32])| match wanted.is_none_or(|w| w[i]) {
            true => row_choice(row, forbid, confidence),
            false => (0, f32::NEG_INFINITY),
        };
        return Ok(flat.chunks(vocab).enumerate().map(choose).unzip());
    }
    choices_on_device(logits, forbid, confidence)
}

/// [`choices_among`] as tensor ops on the logits' device, so that only two vectors come back.
fn choices_on_device(logits: &Tensor, forbid: Option<u32>, confidence: Confidence) -> candle_core::Result<(Vec<u32>, Vec<f32>)> {
    let mut logits = logits.to_dtype(candle_core::DType::F32)?;
    if let Some(forbid) = forbid {
        let vocab = logits.dim(D::Minus1)?;
        let bias: Vec<f32> = (0..vocab).map(|i| if i as u32 == forbid { f32::NEG_INFINITY } else { 0.0 }).collect();
        logits = logits.broadcast_add(&Tensor::from_vec(bias, vocab, logits.device())?)?;
    }
    let probs = candle_nn::ops::softmax_last_dim(&logits)?;
    let tokens = probs.argmax(D::Minus1)?.to_vec1::<u32>()?;
    let score = match confidence {
        Confidence::MaxProb => probs.max(D::Minus1)?,
        Confidence::Margin => {
            let sorted = probs.sort_last_dim(false)?.0;
            (sorted.narrow(D::Minus1, 0, 1)? - sorted.narrow(D::Minus1, 1, 1)?)?.squeeze(D::Minus1)?
        }
        Confidence::NegEntropy => {
            let logp = (probs.clone() + 1e-10)?.log()?;
            (probs * logp)?.sum(D::Minus1)?
        }
    };
    Ok((tokens, score.to_vec1::<f32>()?))
}

/// One row's choice and confidence, as the tensor path computes them.
fn row_choice(row: &[f32], forbid: Option<u32>, confidence: Confidence) -> (u32, f32) {
    let allowed = |j: usize| forbid != Some(j as u32);
    let (mut best, mut max) = (0, f32::NEG_INFINITY);
    for (j, &l) in row.iter().enumerate() {
        if l > max && allowed(j) {
            (best, max) = (j, l);
        }
    }
    let z: f32 = row.iter().enumerate().filter(|&(j, _)| allowed(j)).map(|(_, &l)| (l - max).exp()).sum();
    let score = match confidence {
        Confidence::MaxProb => 1.0 / z,
        Confidence::Margin => {
            let second =
                row.iter().enumerate().filter(|&(j, _)| j != best && allowed(j)).map(|(_, &l)| l).fold(f32::NEG_INFINITY, f32::max);
            (1.0 - (second - max).exp()) / z
        }
        Confidence::NegEntropy => row
            .iter()
            .enumerate()
            .filter(|&(j, _)| allowed(j))
            .map(|(_, &l)| {
                let p = (l - max).exp() / z;
                p * (p + 1e-10).ln()
            })
            .sum(),
    };
    (best as u32, score)
}

/// Decode one masked region. `observe` runs after every step; returning `Break` cancels.
pub fn decode_masked(
    model: &dyn Denoiser,
    request: &MaskRequest,
    config: &MaskConfig,
    observe: &mut dyn FnMut(&StepReport) -> ControlFlow<()>,
) -> Result<Outcome, SampleError> {
    if config.schedule == Schedule::AlignedBlocks {
        return aligned_blocks::decode(model, request, config, observe);
    }
    let specials = model.specials();
    let start = request.prefix.len();
    let n = request.canvas_len;
    let mut canvas: Vec<Option<u32>> = vec![None; n];
    let mut ids: Vec<u32> = request.prefix.to_vec();
    ids.extend(std::iter::repeat_n(specials.mask, n));
    ids.extend_from_slice(request.suffix);

    let mut plan = StepPlan::new(config, n);
    let mut steps = 0;
    while canvas.iter().any(Option::is_none) && plan.allows(steps) {
        let logits = canvas_logits(model, &ids, start, n, config.cache, steps == 0)?;
        let forbid = (config.schedule == Schedule::Threshold).then_some(specials.mask);
        let still_masked: Vec<bool> = canvas.iter().map(Option::is_none).collect();
        let (tokens, scores) = choices_among(&logits, forbid, config.confidence, Some(&still_masked))?;
        let masked: Vec<usize> = (0..n).filter(|&i| still_masked[i]).collect();
        let commit = match config.schedule {
            Schedule::Threshold => threshold_commits(config, &logits, specials, &masked, &tokens, &scores, steps + 1)?,
            Schedule::Linear | Schedule::Blocks | Schedule::Proportional => {
                let (eligible, count) = plan.quota(steps, &masked);
                most_confident(&eligible, &scores, count)
            }
            Schedule::AlignedBlocks => unreachable!("decoded by decode_aligned_blocks"),
        };
        steps += 1;
        for &i in &commit {
            // Where a reference sampler's choice is the mask itself, the position stays masked.
            if tokens[i] != specials.mask {
                canvas[i] = Some(tokens[i]);
                ids[start + i] = tokens[i];
            }
        }
        let remaining = canvas.iter().filter(|c| c.is_none()).count();
        let report = StepReport { step: steps, committed: commit.len(), remaining, canvas: &canvas };
        if observe(&report).is_break() {
            return Err(SampleError::Cancelled);
        }
    }
    Ok(outcome(canvas, specials, steps))
}

/// The decoded canvas as an [`Outcome`]: pad and end-of-text dropped.
fn outcome(canvas: Vec<Option<u32>>, specials: crate::Specials, steps: usize) -> Outcome {
    let tokens = canvas.into_iter().flatten().filter(|&t| t != specials.pad && t != specials.eos).collect();
    Outcome { tokens, steps, forward_passes: steps }
}

/// Anneal's commits: the confident positions, those within the entropy bound, at least one;
/// everything at the step limit or when only ends are left.
fn threshold_commits(
    config: &MaskConfig,
    logits: &Tensor,
    specials: crate::Specials,
    masked: &[usize],
    tokens: &[u32],
    scores: &[f32],
    step: usize,
) -> candle_core::Result<Vec<usize>> {
    let last_step = step >= config.max_steps.max(1);
    // Nothing but pad or end-of-text left to write: the block is done, in this pass.
    let only_ends = masked.iter().all(|&i| tokens[i] == specials.pad || tokens[i] == specials.eos);
    if last_step || only_ends {
        return Ok(masked.to_vec());
    }
    let mut commit: Vec<usize> = masked.iter().copied().filter(|&i| scores[i] >= config.threshold).collect();
    if config.entropy_bound > 0.0 {
        let entropy = entropies(logits, specials.mask)?;
        let mut spent = 0.0;
        for i in most_confident(masked, scores, masked.len()) {
            spent += entropy[i];
            if spent > config.entropy_bound {
                break;
            }
            if !commit.contains(&i) {
                commit.push(i);
            }
        }
    }
    if commit.is_empty() {
        // At least one commit per step, the most confident, so decoding always terminates.
        commit = most_confident(masked, scores, 1);
    }
    Ok(commit)
}

/// The `count` highest-scoring of `positions`, ties to the leftmost.
fn most_confident(positions: &[usize], scores: &[f32], count: usize) -> Vec<usize> {
    let mut ranked = positions.to_vec();
    ranked.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    ranked.truncate(count);
    ranked
}

/// The fixed schedules' arithmetic: how many passes, and per pass which positions may commit
/// and how many.
struct StepPlan {
    schedule: Schedule,
    steps: usize,
    /// [`Schedule::Linear`]: noise levels, as `torch.linspace(1, 1e-3, steps + 1)` in f32.
    levels: Vec<f32>,
    /// [`Schedule::Blocks`]: block length, blocks, passes per block, and the per-pass counts
    /// of the block in progress (set at its first pass).
    block_length: usize,
    passes_per_block: usize,
    counts: Vec<usize>,
    /// [`Schedule::Proportional`]: the positions masked at the start.
    initially_masked: usize,
}

impl StepPlan {
    fn new(config: &MaskConfig, n: usize) -> StepPlan {
        let steps = config.max_steps.max(1);
        let block_length = config.block_length.max(1);
        let blocks = n.div_ceil(block_length).max(1);
        let passes_per_block = (steps / blocks).max(1);
        let levels = if config.schedule == Schedule::Linear { torch_linspace(1.0, 1e-3, steps + 1) } else { vec![] };
        let steps = match config.schedule {
            Schedule::Threshold | Schedule::AlignedBlocks => usize::MAX,
            Schedule::Linear | Schedule::Proportional => steps,
            Schedule::Blocks => blocks * passes_per_block,
        };
        StepPlan {
            schedule: config.schedule,
            steps,
            levels,
            block_length,
            passes_per_block,
            counts: Default::default(),
            initially_masked: n,
        }
    }

    fn allows(&self, step: usize) -> bool {
        step < self.steps
    }

    /// Pass `step` (from 0): the positions that may commit and how many do.
    fn quota(&mut self, step: usize, masked: &[usize]) -> (Vec<usize>, usize) {
        match self.schedule {
            Schedule::Threshold | Schedule::AlignedBlocks => (masked.to_vec(), masked.len()),
            Schedule::Proportional => {
                // As PyTorch computes it: the fraction in f64 (Python's float), the product in f32.
                let fraction = (1.0 - (step + 1) as f64 / self.steps as f64) as f32;
                let stay = (self.initially_masked as f32 * fraction) as usize;
                (masked.to_vec(), masked.len().saturating_sub(stay))
            }
            Schedule::Linear => {
                let count = if step + 1 < self.steps {
                    let (t, s) = (self.levels[step], self.levels[step + 1]);
                    (masked.len() as f32 * (1.0 - s / t)) as usize
                } else {
                    masked.len()
                };
                (masked.to_vec(), count)
            }
            Schedule::Blocks => {
                let (block, pass) = (step / self.passes_per_block, step % self.passes_per_block);
                let (begin, end) = (block * self.block_length, (block + 1) * self.block_length);
                if pass == 0 {
                    let in_block = masked.iter().filter(|&&i| i >= begin && i < end).count();
                    let (base, extra) = (in_block / self.passes_per_block, in_block % self.passes_per_block);
                    self.counts = (0..self.passes_per_block).map(|p| base + usize::from(p < extra)).collect();
                }
                // Earlier blocks' positions stay eligible (a pass may leave one masked);
                // later blocks wait.
                let eligible: Vec<usize> = masked.iter().copied().filter(|&i| i < end).collect();
                let count = self.counts[pass].min(eligible.len());
                (eligible, count)
            }
        }
    }
}

/// `torch.linspace(start, end, count)` in f32, bit for bit: PyTorch steps from the start for
/// the first half and back from the end for the second.
fn torch_linspace(start: f32, end: f32, count: usize) -> Vec<f32> {
    if count == 1 {
        return vec![start];
    }
    let step = (end - start) / (count - 1) as f32;
    let half = count / 2;
    (0..count).map(|i| if i < half { start + step * i as f32 } else { end - step * (count - i - 1) as f32 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Specials;
    use candle_core::Device;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn choices_on_the_host_are_those_of_the_tensor_path() {
        use candle_core::{Device, Tensor};
        let values: Vec<f32> = (0..6 * 50).map(|i| ((i * 37 % 101) as f32 * 0.13).sin() * 4.0).collect();
        let logits = Tensor::from_vec(values, (6, 50), &Device::Cpu).unwrap();
        for confidence in [super::Confidence::MaxProb, super::Confidence::Margin, super::Confidence::NegEntropy] {
            for forbid in [None, Some(7)] {
                let (host_tokens, host_scores) = super::choices_among(&logits, forbid, confidence, None).unwrap();
                let (tokens, scores) = super::choices_on_device(&logits, forbid, confidence).unwrap();
                assert_eq!(host_tokens, tokens, "{confidence:?}");
                for (a, b) in host_scores.iter().zip(&scores) {
                    assert!((a - b).abs() < 1e-5, "{confidence:?} {forbid:?}: {a} against {b}");
                }
                let wanted = [true, false, true, false, false, true];
                let (some_tokens, some_scores) = super::choices_among(&logits, forbid, confidence, Some(&wanted)).unwrap();
                for i in 0..6 {
                    match wanted[i] {
                        true => assert_eq!((some_tokens[i], some_scores[i]), (host_tokens[i], host_scores[i])),
                        false => assert_eq!(some_scores[i], f32::NEG_INFINITY),
                    }
                }
            }
        }
    }

    /// A denoiser that knows the answer: at canvas position i it puts probability `conf[i]` on
    /// `answer[i]` (if the position is masked) and spreads the rest uniformly.
    struct Oracle {
        answer: Vec<u32>,
        conf: Vec<f32>,
        vocab: usize,
        calls: AtomicUsize,
    }

    const SPECIALS: Specials = Specials { eos: 0, pad: 1, mask: 2 };

    impl Denoiser for Oracle {
        fn specials(&self) -> Specials {
            SPECIALS
        }
        fn logits(&self, ids: &[u32]) -> candle_core::Result<Tensor> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let mut rows = vec![0f32; ids.len() * self.vocab];
            for (i, _) in ids.iter().enumerate() {
                let (tok, p) = (self.answer[i], self.conf[i]);
                let rest = (1.0 - p) / (self.vocab - 1) as f32;
                for v in 0..self.vocab {
                    let q = if v as u32 == tok { p } else { rest };
                    rows[i * self.vocab + v] = q.max(1e-9).ln();
                }
            }
            Tensor::from_vec(rows, (ids.len(), self.vocab), &Device::Cpu)
        }
    }

    fn run(answer: &[u32], conf: &[f32], cfg: &MaskConfig) -> (Outcome, Vec<usize>) {
        let oracle = Oracle { answer: answer.to_vec(), conf: conf.to_vec(), vocab: 8, calls: AtomicUsize::new(0) };
        let mut per_step = vec![];
        let req = MaskRequest { prefix: &[], canvas_len: answer.len(), suffix: &[] };
        let out = decode_masked(&oracle, &req, cfg, &mut |r| {
            per_step.push(r.committed);
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(oracle.calls.load(Ordering::Relaxed), out.forward_passes);
        (out, per_step)
    }

    #[test]
    fn confident_positions_commit_together() {
        let cfg = MaskConfig { threshold: 0.8, ..Default::default() };
        let (out, per_step) = run(&[3, 4, 5, 6], &[0.95, 0.9, 0.3, 0.2], &cfg);
        assert_eq!(out.tokens, vec![3, 4, 5, 6]);
        // Step 1 commits the two confident ones, then one per step.
        assert_eq!(per_step, vec![2, 1, 1]);
    }

    #[test]
    fn at_least_one_commit_per_step() {
        let cfg = MaskConfig { threshold: 0.99, ..Default::default() };
        let (out, per_step) = run(&[3, 4, 5], &[0.3, 0.5, 0.4], &cfg);
        assert_eq!(out.steps, 3);
        assert_eq!(per_step, vec![1, 1, 1]);
    }

    #[test]
    fn step_limit_commits_the_rest() {
        let cfg = MaskConfig { threshold: 0.99, max_steps: 2, ..Default::default() };
        let (out, per_step) = run(&[3, 4, 5, 6, 7], &[0.3; 5], &cfg);
        assert_eq!(out.steps, 2);
        assert_eq!(per_step, vec![1, 4]);
        assert_eq!(out.tokens.len(), 5);
    }

    #[test]
    fn an_entropy_bound_commits_near_certain_positions_together() {
        // None reaches the threshold; the two at 0.97 are near-certain (entropy ≈ 0.19 nats
        // each over 8 tokens), the 0.5 one is not (≈ 1.67).
        let cfg = MaskConfig { threshold: 0.99, entropy_bound: 0.5, ..Default::default() };
        let (out, per_step) = run(&[3, 4, 5], &[0.97, 0.97, 0.5], &cfg);
        assert_eq!(out.tokens, vec![3, 4, 5]);
        assert_eq!(per_step, vec![2, 1]);
        let off = MaskConfig { threshold: 0.99, ..Default::default() };
        assert_eq!(run(&[3, 4, 5], &[0.97, 0.97, 0.5], &off).1, vec![1, 1, 1]);
    }

    #[test]
    fn a_block_with_only_ends_left_finishes_in_that_pass() {
        let cfg = MaskConfig { threshold: 0.99, ..Default::default() };
        let (out, per_step) = run(&[3, 4, SPECIALS.pad, SPECIALS.pad, SPECIALS.eos], &[0.5, 0.4, 0.3, 0.3, 0.3], &cfg);
        assert_eq!(out.tokens, vec![3, 4]);
        assert_eq!(per_step, vec![1, 1, 3], "once only pads and end-of-text remain, they go at once");
    }

    #[test]
    fn pad_and_eos_are_deletions() {
        let cfg = MaskConfig::default();
        let (out, _) = run(&[3, SPECIALS.pad, 4, SPECIALS.eos], &[0.95; 4], &cfg);
        assert_eq!(out.tokens, vec![3, 4]);
    }

    #[test]
    fn mask_is_never_decoded() {
        let cfg = MaskConfig::default();
        let (out, _) = run(&[SPECIALS.mask, 3], &[0.99, 0.99], &cfg);
        assert!(!out.tokens.contains(&SPECIALS.mask));
    }

    #[test]
    fn observer_can_cancel() {
        let oracle = Oracle { answer: vec![3; 6], conf: vec![0.3; 6], vocab: 8, calls: AtomicUsize::new(0) };
        let req = MaskRequest { prefix: &[], canvas_len: 6, suffix: &[] };
        let err = decode_masked(&oracle, &req, &MaskConfig::default(), &mut |r| {
            if r.step == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap_err();
        assert!(matches!(err, SampleError::Cancelled));
        assert_eq!(oracle.calls.load(Ordering::Relaxed), 2, "cancellation takes effect within one step");
    }
}
