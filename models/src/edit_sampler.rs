//! Edit-mode sampling, for models trained with the edit stage: the canvas starts as the
//! existing tokens plus slack, and each step may change any of them. Two thresholds, as in
//! LLaDA 2.1's joint decoding: a mask becomes a token (M2T) when the model's choice is
//! confident, and a visible token is replaced by another (T2T) when the model no longer
//! believes it and is confident in the replacement. Stops at a fixed point or the step limit.
//! Most tokens are already right, so an edit costs few steps.

use std::ops::ControlFlow;

use crate::sampler::{canvas_logits, choices, Confidence, KvReuse, Outcome, SampleError, StepReport};
use crate::Denoiser;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct EditConfig {
    /// Confidence at which a mask is committed (at least one per step).
    pub mask_threshold: f32,
    /// Confidence the replacement of a visible token needs.
    pub replace_threshold: f32,
    /// A visible token is kept while the model gives it at least this probability.
    pub keep_threshold: f32,
    pub max_steps: usize,
    /// As [`crate::sampler::MaskConfig::cache`].
    pub cache: KvReuse,
}

impl Default for EditConfig {
    fn default() -> Self {
        Self { mask_threshold: 0.9, replace_threshold: 0.6, keep_threshold: 0.1, max_steps: 16, cache: KvReuse::None }
    }
}

/// One region to revise: fixed context around the tokens of the span, followed by `slack`
/// pads so the span can grow.
pub struct EditRequest<'a> {
    pub prefix: &'a [u32],
    pub span: &'a [u32],
    pub slack: usize,
    pub suffix: &'a [u32],
}

pub fn decode_edit(
    model: &dyn Denoiser,
    request: &EditRequest,
    config: &EditConfig,
    observe: &mut dyn FnMut(&StepReport) -> ControlFlow<()>,
) -> Result<Outcome, SampleError> {
    let sp = model.specials();
    let start = request.prefix.len();
    let mut canvas: Vec<u32> = request.span.to_vec();
    canvas.extend(std::iter::repeat_n(sp.pad, request.slack));
    let n = canvas.len();
    let mut ids: Vec<u32> = request.prefix.to_vec();
    ids.extend_from_slice(&canvas);
    ids.extend_from_slice(request.suffix);

    let mut steps = 0;
    while steps < config.max_steps.max(1) {
        let logits = canvas_logits(model, &ids, start, n, config.cache, steps == 0)?;
        let (best, best_p) = choices(&logits, sp.mask, Confidence::MaxProb)?;
        let current_p = probability_of(&logits, &canvas)?;
        steps += 1;
        let last = steps >= config.max_steps.max(1);
        let mut changed = 0;
        let masked: Vec<usize> = (0..n).filter(|&i| canvas[i] == sp.mask).collect();
        let mut commits: Vec<usize> = masked.iter().copied().filter(|&i| last || best_p[i] >= config.mask_threshold).collect();
        if commits.is_empty() {
            if let Some(&i) = masked.iter().max_by(|&&a, &&b| best_p[a].total_cmp(&best_p[b])) {
                commits.push(i);
            }
        }
        for i in commits {
            canvas[i] = best[i];
            changed += 1;
        }
        for i in 0..n {
            if canvas[i] != sp.mask
                && best[i] != canvas[i]
                && current_p[i] < config.keep_threshold
                && best_p[i] >= config.replace_threshold
            {
                canvas[i] = best[i];
                changed += 1;
            }
        }
        ids[start..start + n].copy_from_slice(&canvas);
        let view: Vec<Option<u32>> = canvas.iter().map(|&t| (t != sp.mask).then_some(t)).collect();
        let remaining = view.iter().filter(|t| t.is_none()).count();
        if observe(&StepReport { step: steps, committed: changed, remaining, canvas: &view }).is_break() {
            return Err(SampleError::Cancelled);
        }
        if changed == 0 && remaining == 0 {
            break; // fixed point
        }
    }
    let tokens = canvas.into_iter().filter(|&t| t != sp.pad && t != sp.eos && t != sp.mask).collect();
    Ok(Outcome { tokens, steps, forward_passes: steps })
}

/// The model's probability of each position's current token.
fn probability_of(logits: &candle_core::Tensor, tokens: &[u32]) -> candle_core::Result<Vec<f32>> {
    let probs = candle_nn::ops::softmax_last_dim(&logits.to_dtype(candle_core::DType::F32)?)?;
    let index = candle_core::Tensor::from_slice(tokens, (tokens.len(), 1), probs.device())?;
    probs.gather(&index, 1)?.squeeze(1)?.to_vec1::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Specials;
    use candle_core::{Device, Tensor};

    const SP: Specials = Specials { eos: 0, pad: 1, mask: 2 };

    /// Believes in `answer` at every canvas position with probability 0.95.
    struct Corrector {
        answer: Vec<u32>,
        vocab: usize,
    }

    impl Denoiser for Corrector {
        fn specials(&self) -> Specials {
            SP
        }
        fn logits(&self, ids: &[u32]) -> candle_core::Result<Tensor> {
            let mut rows = vec![(0.05f32 / self.vocab as f32).ln(); ids.len() * self.vocab];
            for i in 0..ids.len() {
                rows[i * self.vocab + self.answer[i] as usize] = 0.95f32.ln();
            }
            Tensor::from_vec(rows, (ids.len(), self.vocab), &Device::Cpu)
        }
    }

    #[test]
    fn disbelieved_tokens_are_replaced_and_the_fixed_point_stops_early() {
        // The span [5, 9, 7] should be [5, 6, 7]; the slack decodes to pad (deletion).
        let model = Corrector { answer: vec![4, 5, 6, 7, SP.pad, 8], vocab: 12 };
        let req = EditRequest { prefix: &[4], span: &[5, 9, 7], slack: 1, suffix: &[8] };
        let out = decode_edit(&model, &req, &EditConfig::default(), &mut |_| ControlFlow::Continue(())).unwrap();
        assert_eq!(out.tokens, vec![5, 6, 7]);
        assert_eq!(out.steps, 2, "one step corrects, the next confirms the fixed point");
    }

    #[test]
    fn slack_lets_the_span_grow() {
        let model = Corrector { answer: vec![5, 6, 7, 8], vocab: 12 };
        let req = EditRequest { prefix: &[], span: &[5, 6], slack: 2, suffix: &[] };
        let out = decode_edit(&model, &req, &EditConfig::default(), &mut |_| ControlFlow::Continue(())).unwrap();
        assert_eq!(out.tokens, vec![5, 6, 7, 8]);
    }

    #[test]
    fn believed_tokens_are_kept() {
        let model = Corrector { answer: vec![5, 6, 7], vocab: 12 };
        let req = EditRequest { prefix: &[], span: &[5, 6, 7], slack: 0, suffix: &[] };
        let out = decode_edit(&model, &req, &EditConfig::default(), &mut |_| ControlFlow::Continue(())).unwrap();
        assert_eq!(out.tokens, vec![5, 6, 7]);
        assert_eq!(out.steps, 1);
    }
}
