//! Mask-mode sampling: the canvas starts as masks and each step commits, in parallel, every
//! masked position the model is confident about (at least one, so decoding always ends).
//!
//! A position decoded as pad or end-of-text is a deletion: the canvas carries slack beyond the
//! original length, and whatever the span does not need decodes to pad.

use std::ops::ControlFlow;

use candle_core::{Tensor, D};

use crate::Denoiser;

/// How a masked position's confidence is scored (Dream's `maskgit_plus`, `topk_margin`,
/// `entropy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    MaxProb,
    Margin,
    NegEntropy,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct MaskConfig {
    /// Commit every masked position whose confidence is at least this.
    pub threshold: f32,
    /// At the last allowed step every remaining mask is committed.
    pub max_steps: usize,
    pub confidence: Confidence,
    /// Keep the prefix's keys and values from step to step instead of re-encoding it (see
    /// [`crate::Denoiser::logits_after_prefix`]): faster, approximate for bidirectional models.
    pub prefix_cache: bool,
    /// Also commit, most confident first, every position while their summed entropy (nats)
    /// stays within this bound (the entropy-bounded sampler of Ben-Hamu et al., 2025): many
    /// near-certain positions go together even below `threshold`. 0 turns it off.
    pub entropy_bound: f32,
}

impl Default for MaskConfig {
    fn default() -> Self {
        Self { threshold: 0.9, max_steps: 32, confidence: Confidence::MaxProb, prefix_cache: false, entropy_bound: 0.0 }
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
/// so that only two small vectors come back to the host.
pub fn choices(logits: &Tensor, mask_id: u32, confidence: Confidence) -> candle_core::Result<(Vec<u32>, Vec<f32>)> {
    let logits = logits.to_dtype(candle_core::DType::F32)?;
    let vocab = logits.dim(D::Minus1)?;
    // A mask is never an answer: forbid it before normalising.
    let forbid: Vec<f32> = (0..vocab).map(|i| if i as u32 == mask_id { f32::NEG_INFINITY } else { 0.0 }).collect();
    let logits = logits.broadcast_add(&Tensor::from_vec(forbid, vocab, logits.device())?)?;
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

/// Decode one masked region. `observe` runs after every step; returning `Break` cancels.
pub fn decode_masked(
    model: &dyn Denoiser,
    request: &MaskRequest,
    config: &MaskConfig,
    observe: &mut dyn FnMut(&StepReport) -> ControlFlow<()>,
) -> Result<Outcome, SampleError> {
    let specials = model.specials();
    let start = request.prefix.len();
    let n = request.canvas_len;
    let mut canvas: Vec<Option<u32>> = vec![None; n];
    let mut ids: Vec<u32> = request.prefix.to_vec();
    ids.extend(std::iter::repeat_n(specials.mask, n));
    ids.extend_from_slice(request.suffix);

    let mut steps = 0;
    while canvas.iter().any(Option::is_none) {
        let logits = if config.prefix_cache { model.logits_after_prefix(&ids, start)? } else { model.logits(&ids)?.narrow(0, start, ids.len() - start)? };
        let logits = logits.narrow(0, 0, n)?;
        let (tokens, scores) = choices(&logits, specials.mask, config.confidence)?;
        steps += 1;
        let masked: Vec<usize> = (0..n).filter(|&i| canvas[i].is_none()).collect();
        let last_step = steps >= config.max_steps.max(1);
        // Nothing but pad or end-of-text left to write: the block is done, in this pass.
        let only_ends = masked.iter().all(|&i| tokens[i] == specials.pad || tokens[i] == specials.eos);
        let mut commit: Vec<usize> = if last_step || only_ends {
            masked.clone()
        } else {
            masked.iter().copied().filter(|&i| scores[i] >= config.threshold).collect()
        };
        if config.entropy_bound > 0.0 && !last_step && !only_ends {
            let entropy = entropies(&logits, specials.mask)?;
            let mut by_confidence = masked.clone();
            by_confidence.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
            let mut spent = 0.0;
            for i in by_confidence {
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
            let best = masked
                .iter()
                .copied()
                .max_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(b.cmp(&a)))
                .expect("a masked position remains");
            commit.push(best);
        }
        for &i in &commit {
            canvas[i] = Some(tokens[i]);
            ids[start + i] = tokens[i];
        }
        let remaining = canvas.iter().filter(|c| c.is_none()).count();
        let report = StepReport { step: steps, committed: commit.len(), remaining, canvas: &canvas };
        if observe(&report).is_break() {
            return Err(SampleError::Cancelled);
        }
    }
    let tokens = canvas
        .into_iter()
        .flatten()
        .filter(|&t| t != specials.pad && t != specials.eos)
        .collect();
    Ok(Outcome { tokens, steps, forward_passes: steps })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Specials;
    use candle_core::Device;
    use std::sync::atomic::{AtomicUsize, Ordering};

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
            if r.step == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })
        .unwrap_err();
        assert!(matches!(err, SampleError::Cancelled));
        assert_eq!(oracle.calls.load(Ordering::Relaxed), 2, "cancellation takes effect within one step");
    }
}
