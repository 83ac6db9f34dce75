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
        loop {
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
            let logits = canvas_logits(model, &ids, start, n, config.cache, pass == 0)?;
            // The block's rows only: its masks, and with editing its committed tokens too.
            let wanted: Vec<bool> =
                (0..n).map(|i| in_block.contains(&i) && (canvas[i].is_none() || config.edit_threshold.is_some())).collect();
            let (tokens, scores) = choices_among(&logits, None, Confidence::MaxProb, Some(&wanted))?;
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
