//! Training examples: windows of a token stream corrupted the way each stage of Seed
//! Diffusion's recipe corrupts them.
//!
//! Every window has the layout a decode sees at inference: code, then a run of pad tokens
//! (the slack a rewrite leaves for growth, decoded as deletion), then more code. The pad run
//! sits where an edited span ends, so the model learns to close a span with pads before the
//! context that follows.

use rand::rngs::StdRng;
use rand::Rng;

use crate::Specials;

/// One training example: the corrupted canvas, the clean target and a loss weight per position
/// (zero where nothing is learnt).
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    pub input: Vec<u32>,
    pub target: Vec<u32>,
    pub weight: Vec<f32>,
}

/// The clean window: `len - s` real tokens with a run of `s` pads at position `p`.
pub(crate) fn clean_window(rng: &mut StdRng, stream: &[u32], len: usize, max_slack: usize, pad: u32) -> (Vec<u32>, usize, usize) {
    let s = rng.random_range(0..=max_slack.min(len / 2));
    let start = rng.random_range(0..stream.len() - len);
    let content = &stream[start..start + len - s];
    let p = rng.random_range(0..=content.len());
    let mut window = content[..p].to_vec();
    window.extend(std::iter::repeat_n(pad, s));
    window.extend_from_slice(&content[p..]);
    (window, p, s)
}

/// Masks each position with probability `t`, at least one; masked positions weigh `1/t`
/// (the ELBO weighting of masked diffusion).
fn mask(rng: &mut StdRng, input: &mut [u32], weight: &mut [f32], t: f64, mask_id: u32) {
    let mut any = false;
    for i in 0..input.len() {
        if rng.random_bool(t) {
            input[i] = mask_id;
            weight[i] = (1.0 / t) as f32;
            any = true;
        }
    }
    if !any {
        let i = rng.random_range(0..input.len());
        input[i] = mask_id;
        weight[i] = (1.0 / t) as f32;
    }
}

/// Stage 1, mask diffusion: t ~ U(0,1), each position masked with probability t, loss on the
/// masked positions weighted 1/t.
pub fn mask_example(rng: &mut StdRng, stream: &[u32], len: usize, max_slack: usize, sp: Specials) -> Example {
    let (target, _, _) = clean_window(rng, stream, len, max_slack, sp.pad);
    let mut input = target.clone();
    let mut weight = vec![0f32; len];
    let t = rng.random_range(0.02..1.0);
    mask(rng, &mut input, &mut weight, t, sp.mask);
    Example { input, target, weight }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit {
    Insert,
    Delete,
    Substitute,
}

/// Applies `k` random edits to `span`; inserted and substituted tokens are drawn from the
/// stream so they look like code rather than noise.
pub fn corrupt(rng: &mut StdRng, span: &[u32], k: usize, stream: &[u32]) -> Vec<u32> {
    let mut out = span.to_vec();
    for _ in 0..k {
        let edit = [Edit::Insert, Edit::Delete, Edit::Substitute][rng.random_range(0..3)];
        let random_token = stream[rng.random_range(0..stream.len())];
        match edit {
            Edit::Insert => out.insert(rng.random_range(0..=out.len()), random_token),
            Edit::Delete if !out.is_empty() => {
                out.remove(rng.random_range(0..out.len()));
            }
            Edit::Substitute if !out.is_empty() => {
                let i = rng.random_range(0..out.len());
                out[i] = random_token;
            }
            _ => {}
        }
    }
    out
}

/// How the edit stage corrupts a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditCorruption {
    /// One span of 8–64 tokens before the pad run gets k = ⌊m·α⌋ edits, and the target is the
    /// clean window: after an insertion or deletion the rest of the span must shift. (The
    /// first default model's stage 2.)
    #[default]
    Span,
    /// Everything before the pad run gets k = ⌊p·α⌋ edits, several times the corrected
    /// positions per window, and the target is aligned to the edits: a substituted token's
    /// target is the original, an inserted token's is pad (the decode drops pads, so "delete
    /// this token" is one local prediction). Only a deletion shifts what follows, so deletions
    /// stay in the last 8–32 tokens before the pad run, as in a span a rewrite decodes: spread
    /// over the window, one early deletion misaligned everything after it and taught the model
    /// to disbelieve every visible token.
    Aligned,
    /// `Aligned`, cut to what edit mode's leave-one-out rounds ask (`edit_sampler::locate`):
    /// is this masked token right, and does anything belong in this gap? Besides the edits, up
    /// to 8 masks are put in gaps where nothing is missing, with target pad, and fewer masks go
    /// on top (t < 0.25), since a round masks one position of visible code. Under `Aligned` the
    /// model met a mask where nothing belongs only where an inserted token happened to be
    /// masked (about 1% of the masks), so it named nothing first for 9% of stray tokens and with
    /// little confidence, and asked at a gap it filled the gap with a neighbour (`mut mut`).
    Locate,
}

/// Stage 2, edit-based corruption: edits before the pad run (α ≤ `max_alpha`), the pad run
/// absorbs the change of length, and masks go on top. Every position is learnt — so the model
/// learns to distrust visible tokens, not only to fill masks — and visible tokens that differ
/// from their target weigh `edit_weight`, since they are a few percent of a window.
#[allow(clippy::too_many_arguments, reason = "the stage's knobs, each a training setting; a struct would only rename them")]
pub fn edit_example(
    rng: &mut StdRng,
    stream: &[u32],
    len: usize,
    max_slack: usize,
    max_alpha: f64,
    kind: EditCorruption,
    edit_weight: f32,
    sp: Specials,
) -> Example {
    loop {
        let (clean, p, s) = clean_window(rng, stream, len, max_slack, sp.pad);
        let (mut input, target) = match kind {
            EditCorruption::Span => {
                let m = rng.random_range(8..=64usize).min(p);
                let alpha = rng.random_range(0.0..max_alpha);
                let k = ((m as f64 * alpha).floor() as usize).max(1).min(s);
                if m == 0 || k == 0 {
                    continue;
                }
                let corrupted = corrupt(rng, &clean[p - m..p], k, stream);
                // |Δlength| ≤ k ≤ s, so the pad run can absorb it and the suffix stays aligned.
                let pads = (s as isize - (corrupted.len() as isize - m as isize)) as usize;
                let mut input = clean[..p - m].to_vec();
                input.extend_from_slice(&corrupted);
                input.extend(std::iter::repeat_n(sp.pad, pads));
                input.extend_from_slice(&clean[p + s..]);
                (input, clean)
            }
            EditCorruption::Aligned | EditCorruption::Locate => {
                let k = (p as f64 * rng.random_range(0.0..max_alpha)).floor() as usize;
                let empty_gaps = if kind == EditCorruption::Locate { rng.random_range(0..=s.min(8)) } else { 0 };
                if k + empty_gaps == 0 || p == 0 {
                    continue;
                }
                // Half the time the noise comes from the window itself: plausible tokens, as
                // a slip of the hand or a bad paste would put there.
                let source = if rng.random_bool(0.5) { &clean[..p] } else { stream };
                let deletable_from = p - rng.random_range(8..=32usize).min(p);
                let (mut span_in, mut span_target) = corrupt_aligned(rng, &clean[..p], k, s - empty_gaps, deletable_from, source, sp.pad);
                // Inserted at the same index of both, a (mask, pad) pair keeps every other
                // position's alignment, deletions' shifts included.
                for _ in 0..empty_gaps {
                    let at = rng.random_range(0..=span_in.len());
                    span_in.insert(at, sp.mask);
                    span_target.insert(at, sp.pad);
                }
                let frame = |span: Vec<u32>| {
                    let mut v = span;
                    v.extend(std::iter::repeat_n(sp.pad, p + s - v.len()));
                    v.extend_from_slice(&clean[p + s..]);
                    v
                };
                (frame(span_in), frame(span_target))
            }
        };
        debug_assert_eq!((input.len(), target.len()), (len, len));
        let mut weight: Vec<f32> = input.iter().zip(&target).map(|(i, t)| if i == t { 1.0 } else { edit_weight }).collect();
        let t = rng.random_range(0.0..if kind == EditCorruption::Locate { 0.25 } else { 0.5 });
        if t > 0.0 {
            mask(rng, &mut input, &mut weight, t, sp.mask);
        }
        return Example { input, target, weight };
    }
}

/// `k` random edits to `span`, at most `max_inserts` of them insertions and deletions only of
/// its tokens from `deletable_from` on, returned as the corrupted tokens and the target aligned
/// to them: an inserted token's target is `pad`, a substituted one's is the original; a
/// deletion shifts the targets after it by one. The target is never longer than
/// `span.len() + max_inserts`.
pub fn corrupt_aligned(
    rng: &mut StdRng,
    span: &[u32],
    k: usize,
    max_inserts: usize,
    deletable_from: usize,
    source: &[u32],
    pad: u32,
) -> (Vec<u32>, Vec<u32>) {
    // One cell per token of either side: (what the canvas shows, what it should show, its
    // index in `span` if it came from there).
    let mut cells: Vec<(Option<u32>, Option<u32>, Option<usize>)> =
        span.iter().enumerate().map(|(i, &t)| (Some(t), Some(t), Some(i))).collect();
    let mut inserts = 0;
    for _ in 0..k {
        let token = source[rng.random_range(0..source.len())];
        let visible: Vec<usize> = (0..cells.len()).filter(|&i| cells[i].0.is_some()).collect();
        let deletable: Vec<usize> = visible.iter().copied().filter(|&i| cells[i].2.is_some_and(|o| o >= deletable_from)).collect();
        let edit = [Edit::Insert, Edit::Delete, Edit::Substitute][rng.random_range(0..3)];
        match edit {
            Edit::Insert if inserts < max_inserts => {
                cells.insert(rng.random_range(0..=cells.len()), (Some(token), None, None));
                inserts += 1;
            }
            Edit::Delete if !deletable.is_empty() => cells[deletable[rng.random_range(0..deletable.len())]].0 = None,
            _ if !visible.is_empty() => cells[visible[rng.random_range(0..visible.len())]].0 = Some(token),
            _ => {}
        }
    }
    let input = cells.iter().filter_map(|c| c.0).collect();
    let target = cells.iter().filter(|c| c.0.is_some() || c.1.is_some()).map(|c| c.1.unwrap_or(pad)).collect();
    (input, target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const SP: Specials = Specials { eos: 0, pad: 1, mask: 2 };

    fn stream() -> Vec<u32> {
        (0..5000).map(|i| 3 + (i % 97) as u32).collect()
    }

    #[test]
    fn mask_examples_weigh_only_masked_positions() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..50 {
            let ex = mask_example(&mut rng, &stream(), 64, 8, SP);
            assert_eq!(ex.input.len(), 64);
            assert!(ex.input.contains(&SP.mask));
            for i in 0..64 {
                assert_eq!(ex.weight[i] > 0.0, ex.input[i] == SP.mask);
                if ex.input[i] != SP.mask {
                    assert_eq!(ex.input[i], ex.target[i]);
                }
            }
        }
    }

    #[test]
    fn edit_examples_keep_length_and_suffix_alignment() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut differing = 0;
        for _ in 0..100 {
            let ex = edit_example(&mut rng, &stream(), 64, 8, 0.1, EditCorruption::Span, 1.0, SP);
            assert_eq!(ex.input.len(), 64);
            assert_eq!(ex.target.len(), 64);
            assert!(ex.weight.iter().all(|&w| w >= 1.0), "every position is learnt");
            // The last token is never part of an edited span... unless it is pad or masked:
            // the suffix after the pad run is aligned with the target.
            let last = ex.input.len() - 1;
            if ex.input[last] != SP.mask && ex.target[last] != SP.pad {
                assert_eq!(ex.input[last], ex.target[last]);
            }
            differing += ex.input.iter().zip(&ex.target).filter(|(a, b)| a != b && **a != SP.mask).count().min(1);
        }
        assert!(differing > 50, "edits change visible tokens: {differing}/100");
    }

    #[test]
    fn aligned_corruption_marks_insertions_with_pad_and_keeps_the_text() {
        let mut rng = StdRng::seed_from_u64(4);
        let span: Vec<u32> = (10..60).collect();
        for k in 1..8 {
            for max_inserts in [0, 2, 8] {
                let (input, target) = corrupt_aligned(&mut rng, &span, k, max_inserts, 0, &stream(), SP.pad);
                let text: Vec<u32> = target.iter().copied().filter(|&t| t != SP.pad).collect();
                assert_eq!(text, span, "the target without pads is the clean span");
                let inserts = target.len() - span.len();
                assert!(inserts <= max_inserts && inserts <= k);
                assert!(input.len() + k >= span.len() && input.len() <= target.len());
            }
        }
    }

    #[test]
    fn aligned_substitutions_and_insertions_are_local() {
        // Without deletions the input and target have the same length and differ only where
        // a token was edited.
        let mut rng = StdRng::seed_from_u64(5);
        let span: Vec<u32> = (10..60).collect();
        let mut seen_pad = false;
        for _ in 0..200 {
            let (input, target) = corrupt_aligned(&mut rng, &span, 1, 1, 0, &[200, 201], SP.pad);
            if input.len() == target.len() {
                let differing: Vec<usize> = (0..input.len()).filter(|&i| input[i] != target[i]).collect();
                assert_eq!(differing.len(), 1, "{input:?} / {target:?}");
                let i = differing[0];
                assert!(input[i] == 200 || input[i] == 201);
                seen_pad |= target[i] == SP.pad;
            } else {
                assert_eq!(input.len() + 1, target.len(), "a deletion");
            }
        }
        assert!(seen_pad, "an insertion's target is pad");
    }

    #[test]
    fn aligned_deletions_shift_only_the_tail() {
        let mut rng = StdRng::seed_from_u64(7);
        let span: Vec<u32> = (10..70).collect();
        let mut deletions = 0;
        for _ in 0..200 {
            let (input, target) = corrupt_aligned(&mut rng, &span, 6, 3, 40, &[200, 201], SP.pad);
            deletions += span.len() + (target.len() - span.len()) - input.len();
            // Up to the first deletable token only the k edits themselves differ.
            let head = (0..input.len().min(40)).filter(|&i| input[i] != target[i]).count();
            assert!(head <= 6, "{input:?}\n{target:?}");
        }
        assert!(deletions > 50, "deletions still happen, in the tail: {deletions}");
    }

    #[test]
    fn aligned_edit_examples_weigh_corrected_tokens_and_keep_the_suffix() {
        let mut rng = StdRng::seed_from_u64(6);
        let mut corrected = 0;
        for _ in 0..100 {
            let ex = edit_example(&mut rng, &stream(), 64, 8, 0.1, EditCorruption::Aligned, 4.0, SP);
            assert_eq!((ex.input.len(), ex.target.len()), (64, 64));
            for i in 0..64 {
                if ex.input[i] != SP.mask && ex.input[i] != ex.target[i] {
                    assert_eq!(ex.weight[i], 4.0);
                    corrected += 1;
                } else if ex.input[i] != SP.mask {
                    assert_eq!(ex.weight[i], 1.0);
                }
            }
        }
        assert!(corrected > 100, "several corrected positions per window: {corrected}");
    }

    #[test]
    fn locate_examples_put_masks_in_empty_gaps_with_target_pad() {
        let mut rng = StdRng::seed_from_u64(8);
        let (mut empty_gaps, mut windows) = (0, 0);
        for _ in 0..200 {
            let ex = edit_example(&mut rng, &stream(), 64, 8, 0.1, EditCorruption::Locate, 4.0, SP);
            assert_eq!((ex.input.len(), ex.target.len()), (64, 64));
            let gaps = (0..64).filter(|&i| ex.input[i] == SP.mask && ex.target[i] == SP.pad).count();
            empty_gaps += gaps;
            windows += (gaps > 0) as usize;
            // Without its pads, the target is a window of the stream: the text is kept.
            let text: Vec<u32> = ex.target.iter().copied().filter(|&t| t != SP.pad).collect();
            assert!(stream().windows(text.len()).any(|w| w == text.as_slice()), "{:?}", ex.target);
        }
        assert!(windows > 100 && empty_gaps > 3 * windows / 2, "{empty_gaps} empty gaps in {windows} windows");
    }

    #[test]
    fn corrupt_makes_k_edits_at_most() {
        let mut rng = StdRng::seed_from_u64(3);
        let span: Vec<u32> = (10..40).collect();
        let out = corrupt(&mut rng, &span, 3, &stream());
        assert!(out.len().abs_diff(span.len()) <= 3);
        assert_ne!(out, span);
    }
}
