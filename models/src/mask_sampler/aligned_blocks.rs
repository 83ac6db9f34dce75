//! [`Schedule::AlignedBlocks`]: the block decode of the block-causal families, as their
//! references run it — SDAR's `generate.py` (`low_confidence_static` and `_dynamic`), SGLang's
//! `LowConfidence` for LLaDA 2.0 and its `JointThreshold` for LLaDA 2.1, which also rewrites
//! tokens it committed earlier in the block.
//!
//! Blocks are counted from position 0 of the whole canvas, prefix included, as the model's
//! attention counts them: the block the prefix ends in is decoded first, from its first masked
//! position. Each block is finished before the next starts, so a later block never attends to
//! a masked earlier one.

use std::ops::ControlFlow;

use super::{canvas_logits, choices_among, most_confident, outcome, Confidence, MaskConfig, MaskRequest, Outcome, SampleError, StepReport};
use crate::Denoiser;

pub(super) fn decode(
    model: &dyn Denoiser,
    request: &MaskRequest,
    config: &MaskConfig,
    observe: &mut dyn FnMut(&StepReport) -> ControlFlow<()>,
) -> Result<Outcome, SampleError> {
    let specials = model.specials();
    let (start, n) = (request.prefix.len(), request.canvas_len);
    let block = config.block_length.max(1);
    let passes = config.max_steps.max(1);
    let mut canvas: Vec<Option<u32>> = vec![None; n];
    let mut ids: Vec<u32> = request.prefix.to_vec();
    ids.extend(std::iter::repeat_n(specials.mask, n));
    ids.extend_from_slice(request.suffix);

    let mut steps = 0;
    // Canvas positions of each block: from the canvas's start to the next block boundary, then
    // whole blocks.
    let mut from = 0;
    while from < n {
        let to = ((start + from) / block + 1) * block - start;
        let in_block = from..to.min(n);
        let (mut pass, mut post_edit) = (0, 0);
        // A position whose most likely token is the mask stays masked, however often it is
        // committed: bound the block's passes so that it still ends.
        while pass < passes + config.max_post_edit_steps {
            let masked: Vec<usize> = in_block.clone().filter(|&i| canvas[i].is_none()).collect();
            if masked.is_empty() {
                if config.edit_threshold.is_none() {
                    break;
                }
                post_edit += 1;
                if post_edit > config.max_post_edit_steps {
                    break;
                }
            }
            // The block's rows only: its masks, and with editing its committed tokens too.
            let wanted: Vec<bool> =
                (0..n).map(|i| in_block.contains(&i) && (canvas[i].is_none() || config.edit_threshold.is_some())).collect();
            let (tokens, scores) = match model.attention_block() == Some(block) {
                true => block_choices(model, &ids, start, &in_block, &wanted)?,
                false => {
                    let logits = canvas_logits(model, &ids, start, n, config.cache, pass == 0)?;
                    choices_among(&logits, None, Confidence::MaxProb, Some(&wanted))?
                }
            };
            let unmask = match masked.is_empty() {
                true => vec![],
                false => unmasked_this_pass(&masked, &scores, block, passes, pass, config.threshold),
            };
            let edits: Vec<usize> = match config.edit_threshold {
                Some(edit) => in_block
                    .clone()
                    .filter(|&i| canvas[i].is_some_and(|t| t != tokens[i]) && scores[i] > edit && tokens[i] != specials.mask)
                    .collect(),
                None => vec![],
            };
            if unmask.is_empty() && edits.is_empty() {
                break;
            }
            pass += 1;
            steps += 1;
            for &i in unmask.iter().chain(&edits) {
                // Where the most likely token is the mask itself, the position stays masked.
                if tokens[i] != specials.mask {
                    canvas[i] = Some(tokens[i]);
                    ids[start + i] = tokens[i];
                }
            }
            let remaining = canvas.iter().filter(|c| c.is_none()).count();
            let report = StepReport { step: steps, committed: unmask.len() + edits.len(), remaining, canvas: &canvas };
            if observe(&report).is_break() {
                return Err(SampleError::Cancelled);
            }
        }
        from = in_block.end;
    }
    Ok(outcome(canvas, specials, steps))
}

/// Choices and confidences over the canvas (length `wanted.len()`) from a pass over the current
/// attention block alone, as SDAR's and SGLang's decodes run it: the canvas up to the block's
/// end (no later position is visible to it), with every finished block before it as a cached
/// prefix ([`Denoiser::logits_after_prefix`], exact for a block-causal model, and extended as
/// blocks finish). Rows outside the block get token 0 and score −∞.
fn block_choices(
    model: &dyn Denoiser,
    ids: &[u32],
    start: usize,
    in_block: &std::ops::Range<usize>,
    wanted: &[bool],
) -> candle_core::Result<(Vec<u32>, Vec<f32>)> {
    let block = model.attention_block().expect("checked by the caller");
    let first = (start + in_block.start) / block * block;
    let end = (first + block).min(ids.len());
    let logits = model.logits_after_prefix(&ids[..end], first)?;
    let rows = (start + in_block.start - first)..(start + in_block.end - first);
    let logits = logits.narrow(0, rows.start, rows.len())?;
    let (block_tokens, block_scores) = choices_among(&logits, None, Confidence::MaxProb, Some(&wanted[in_block.clone()]))?;
    let (mut tokens, mut scores) = (vec![0; wanted.len()], vec![f32::NEG_INFINITY; wanted.len()]);
    tokens[in_block.clone()].copy_from_slice(&block_tokens);
    scores[in_block.clone()].copy_from_slice(&block_scores);
    Ok((tokens, scores))
}

/// The masked positions of a block a pass commits: every one more than `threshold` confident,
/// or if fewer than the pass's quota — `block / passes`, one more in the first `block % passes`
/// passes (SDAR's `num_transfer_tokens`), at least one — that many of the most confident. The
/// block's last allowed pass commits what is left.
fn unmasked_this_pass(masked: &[usize], scores: &[f32], block: usize, passes: usize, pass: usize, threshold: f32) -> Vec<usize> {
    if pass + 1 >= passes {
        return masked.to_vec();
    }
    let quota = (block / passes + usize::from(pass < block % passes)).max(1);
    let confident: Vec<usize> = masked.iter().copied().filter(|&i| scores[i] > threshold).collect();
    match confident.len() >= quota {
        true => confident,
        false => most_confident(masked, scores, quota),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use candle_core::{Device, Tensor};

    use crate::mask_sampler::{decode_masked, MaskConfig, MaskRequest, Schedule};
    use crate::{Denoiser, Specials};

    /// Logits over a vocabulary of 10 that put `token` first, confidently, at every position.
    fn answering(ids: &[u32], token: usize) -> candle_core::Result<Tensor> {
        let rows: Vec<f32> = ids.iter().flat_map(|_| (0..10).map(|v| if v == token { 5.0 } else { 0.0 })).collect();
        Tensor::from_vec(rows, (ids.len(), 10), &Device::Cpu)
    }

    /// A block-causal stand-in that answers token 7 everywhere, confidently, and records what
    /// each pass was asked: the canvas's length and where its cached prefix ends.
    struct BlockCausal {
        asked: Mutex<Vec<(usize, usize)>>,
    }

    impl Denoiser for BlockCausal {
        fn specials(&self) -> Specials {
            Specials { eos: 0, pad: 1, mask: 2 }
        }
        fn logits(&self, ids: &[u32]) -> candle_core::Result<Tensor> {
            answering(ids, 7)
        }
        fn logits_after_prefix(&self, ids: &[u32], start: usize) -> candle_core::Result<Tensor> {
            self.asked.lock().unwrap().push((ids.len(), start));
            self.logits(ids)?.narrow(0, start, ids.len() - start)
        }
        fn attention_block(&self) -> Option<usize> {
            Some(4)
        }
    }

    #[test]
    fn a_block_whose_answer_is_the_mask_still_ends() {
        // Token 2 (the mask) is the stand-in's answer everywhere: nothing can be committed.
        struct AlwaysMask;
        impl Denoiser for AlwaysMask {
            fn specials(&self) -> Specials {
                Specials { eos: 0, pad: 1, mask: 2 }
            }
            fn logits(&self, ids: &[u32]) -> candle_core::Result<Tensor> {
                answering(ids, 2)
            }
        }
        let config = MaskConfig {
            schedule: Schedule::AlignedBlocks,
            block_length: 4,
            max_steps: 4,
            edit_threshold: Some(0.0),
            ..Default::default()
        };
        let request = MaskRequest { prefix: &[3; 2], canvas_len: 6, suffix: &[] };
        let outcome = decode_masked(&AlwaysMask, &request, &config, &mut |_| std::ops::ControlFlow::Continue(())).unwrap();
        assert!(outcome.tokens.is_empty() && outcome.steps <= 2 * (4 + 16), "{outcome:?}");
    }

    #[test]
    fn a_block_causal_model_runs_each_block_alone_against_the_finished_ones() {
        // Prefix of 6 (the second block of 4 ends in it), 8 masks, a suffix of 3.
        let model = BlockCausal { asked: Mutex::new(vec![]) };
        let config = MaskConfig { schedule: Schedule::AlignedBlocks, block_length: 4, max_steps: 4, threshold: 0.5, ..Default::default() };
        let request = MaskRequest { prefix: &[3; 6], canvas_len: 8, suffix: &[4; 3] };
        let outcome = decode_masked(&model, &request, &config, &mut |_| std::ops::ControlFlow::Continue(())).unwrap();
        assert_eq!(outcome.tokens, vec![7; 8]);
        // Every position is confident: one pass a block, each over the canvas up to the
        // block's end, the blocks before it cached; the suffix's block (12..16) is the last's.
        assert_eq!(*model.asked.lock().unwrap(), [(8, 4), (12, 8), (16, 12)]);
    }
}
