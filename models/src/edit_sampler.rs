//! Edit-mode sampling, for models trained with the edit stage: the canvas starts as the
//! existing tokens plus slack, and each step may change any of them. Two thresholds, as in
//! LLaDA 2.1's joint decoding: a mask becomes a token (M2T) when the model's choice is
//! confident, and a visible token is replaced by another (T2T) when the model no longer
//! believes it and is confident in the replacement. Stops at a fixed point or the step limit.
//! Most tokens are already right, so an edit costs few steps.

use std::ops::ControlFlow;

use crate::mask_sampler::{canvas_logits, choices, Confidence, KvReuse, Outcome, SampleError, StepReport};
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
    /// As [`crate::mask_sampler::MaskConfig::cache`].
    pub cache: KvReuse,
    /// Repair by leave-one-out rounds ([`locate`]) in place of joint decoding: each round
    /// scores every token of the span with itself masked, and makes the one change the model
    /// wants most, if it wants it `locate_odds` times more than the token it sees (and with
    /// `replace_threshold` confidence).
    pub locate: bool,
    pub locate_odds: f32,
    /// Confidence a `locate` round's deletion needs: the model's probability that nothing
    /// (pad or end-of-text) belongs where a token is, when nothing is its first choice. Apart
    /// from `replace_threshold` because the two trade differently: on the default model, 0.3
    /// repairs half as many snippets again as 0.6 but makes three times as many worse, most
    /// of them by deleting tokens that belong (docs/experiments/locate-stage.md).
    pub delete_threshold: f32,
    /// Whether `locate` rounds also ask each gap for a missing token. Off by default: it
    /// doubles a round's passes, the default model proposes no insertion at the default bars,
    /// and the model before it, which saw pads mid-code only where a token was inserted,
    /// stuttered (`mut mut mut`) when a mask sat beside a token.
    pub locate_insertions: bool,
}

impl Default for EditConfig {
    fn default() -> Self {
        Self {
            mask_threshold: 0.9,
            replace_threshold: 0.6,
            keep_threshold: 0.1,
            max_steps: 16,
            cache: KvReuse::None,
            locate: true,
            locate_odds: 3000.0,
            delete_threshold: 0.6,
            locate_insertions: false,
        }
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
    if config.locate {
        return locate(model, request, config, observe);
    }
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
            if canvas[i] != sp.mask && best[i] != canvas[i] && current_p[i] < config.keep_threshold && best_p[i] >= config.replace_threshold
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

/// Leave-one-out repair. In view, a token vouches for itself: a model that learnt to copy
/// visible tokens believes most of them, wrong ones included. So each round asks the model,
/// in one batch of canvases, what belongs at each token of the span with that token masked
/// (another token, or nothing: pad or end-of-text), and with `locate_insertions` what belongs
/// in each gap between two tokens with a mask put there (a missing token, or nothing). It makes the single change the
/// model prefers most over what is there — at least `locate_odds` times, and with
/// `replace_threshold` confidence (`delete_threshold` for nothing) — and stops when it wants none. One change a round, because
/// changes judged apart can contradict each other (two neighbours each "fixed" towards the
/// other's old value). `forward_passes` counts canvases encoded.
fn locate(
    model: &dyn Denoiser,
    request: &EditRequest,
    config: &EditConfig,
    observe: &mut dyn FnMut(&StepReport) -> ControlFlow<()>,
) -> Result<Outcome, SampleError> {
    let sp = model.specials();
    let start = request.prefix.len();
    // What a masked position wants: its best real token with that token's probability, and
    // the probability that nothing (pad or end-of-text) belongs there.
    let read = |row: &[f32]| {
        let (best, p) = argmax_except(row, &[sp.mask, sp.pad, sp.eos]);
        (best, p, row[sp.pad as usize] + row[sp.eos as usize])
    };
    let mut tokens = request.span.to_vec();
    let (mut steps, mut passes) = (0, 0);
    while steps < config.max_steps.max(1) {
        // Each token masked in turn, then a mask in each gap (one pad less of slack, so that
        // both sets keep the canvas's length where there is slack).
        let mut canvases = Vec::with_capacity(2 * tokens.len() + 1);
        for j in 0..tokens.len() {
            let mut span = tokens.clone();
            span[j] = sp.mask;
            canvases.push(canvas_of(request, &span, request.slack, sp.pad));
        }
        for g in (0..=tokens.len()).filter(|_| config.locate_insertions) {
            let mut span = tokens.clone();
            span.insert(g, sp.mask);
            canvases.push(canvas_of(request, &span, request.slack.saturating_sub(1), sp.pad));
        }
        // Both sets ask positions start, start + 1, … in order: token j's, or gap g's.
        let at: Vec<usize> = (start..=start + tokens.len()).collect();
        let (replaced, gaps) = canvases.split_at(tokens.len());
        let mut probs = Vec::with_capacity(canvases.len());
        for set in [replaced, gaps] {
            if !set.is_empty() {
                let logits = model.logits_at(set, &at[..set.len()])?.to_dtype(candle_core::DType::F32)?;
                probs.extend(candle_nn::ops::softmax_last_dim(&logits)?.to_vec2::<f32>()?);
            }
        }
        steps += 1;
        passes += canvases.len();
        let (replaced, gaps) = probs.split_at(tokens.len());
        let mut wanted: Option<(f32, Change)> = None;
        let mut propose = |odds: f32, change: Change| {
            if odds >= config.locate_odds && wanted.as_ref().is_none_or(|w| odds > w.0) {
                wanted = Some((odds, change));
            }
        };
        for (j, row) in replaced.iter().enumerate() {
            let seen = row[tokens[j] as usize].max(f32::MIN_POSITIVE);
            let (best, p, none) = read(row);
            if none > p {
                if none >= config.delete_threshold {
                    propose(none / seen, Change::Delete(j));
                }
            } else if best != tokens[j] && p >= config.replace_threshold {
                propose(p / seen, Change::Replace(j, best));
            }
        }
        for (g, row) in gaps.iter().enumerate() {
            let (best, p, none) = read(row);
            if p >= config.replace_threshold {
                propose(p / none.max(f32::MIN_POSITIVE), Change::Insert(g, best));
            }
        }
        match wanted {
            Some((_, Change::Replace(j, t))) => tokens[j] = t,
            Some((_, Change::Delete(j))) => drop(tokens.remove(j)),
            Some((_, Change::Insert(g, t))) => tokens.insert(g, t),
            None => {}
        }
        let view: Vec<Option<u32>> = tokens.iter().map(|&t| Some(t)).collect();
        if observe(&StepReport { step: steps, committed: wanted.is_some() as usize, remaining: 0, canvas: &view }).is_break() {
            return Err(SampleError::Cancelled);
        }
        if wanted.is_none() {
            break; // fixed point
        }
    }
    Ok(Outcome { tokens, steps, forward_passes: passes })
}

/// A change leave-one-out scoring proposes, at a token or at a gap before token `g`.
enum Change {
    Replace(usize, u32),
    Delete(usize),
    Insert(usize, u32),
}

fn canvas_of(request: &EditRequest, span: &[u32], slack: usize, pad: u32) -> Vec<u32> {
    request.prefix.iter().chain(span).copied().chain(std::iter::repeat_n(pad, slack)).chain(request.suffix.iter().copied()).collect()
}

/// The most probable token of `row` other than `except`, and its probability.
fn argmax_except(row: &[f32], except: &[u32]) -> (u32, f32) {
    row.iter().enumerate().filter(|(t, _)| !except.contains(&(*t as u32))).fold((0, f32::NEG_INFINITY), |best, (t, &p)| {
        if p > best.1 {
            (t as u32, p)
        } else {
            best
        }
    })
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

    fn joint() -> EditConfig {
        EditConfig { locate: false, ..EditConfig::default() }
    }

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
        let out = decode_edit(&model, &req, &joint(), &mut |_| ControlFlow::Continue(())).unwrap();
        assert_eq!(out.tokens, vec![5, 6, 7]);
        assert_eq!(out.steps, 2, "one step corrects, the next confirms the fixed point");
    }

    #[test]
    fn slack_lets_the_span_grow() {
        let model = Corrector { answer: vec![5, 6, 7, 8], vocab: 12 };
        let req = EditRequest { prefix: &[], span: &[5, 6], slack: 2, suffix: &[] };
        let out = decode_edit(&model, &req, &joint(), &mut |_| ControlFlow::Continue(())).unwrap();
        assert_eq!(out.tokens, vec![5, 6, 7, 8]);
    }

    /// Knows the right canvas and reads a masked position from its two neighbours: the token
    /// that belongs between them, pad where they are already adjacent, and no opinion
    /// (uniform) otherwise. Visible tokens are believed as they are. It is 0.95 sure of a
    /// token and `sure_of_nothing` sure that nothing belongs.
    struct Neighbours {
        right: Vec<u32>,
        vocab: usize,
        sure_of_nothing: f32,
    }

    impl Denoiser for Neighbours {
        fn specials(&self) -> Specials {
            SP
        }
        fn logits(&self, ids: &[u32]) -> candle_core::Result<Tensor> {
            let v = self.vocab;
            let mut rows = vec![0f32; ids.len() * v];
            let r = &self.right;
            for i in 0..ids.len() {
                let (left, next) = (i.checked_sub(1).map(|k| ids[k]), ids.get(i + 1).copied());
                let belief = if ids[i] != SP.mask {
                    Some(ids[i])
                } else if let Some(k) = (1..r.len().saturating_sub(1)).find(|&k| Some(r[k - 1]) == left && Some(r[k + 1]) == next) {
                    Some(r[k])
                } else if r.windows(2).any(|w| Some(w[0]) == left && Some(w[1]) == next) {
                    Some(SP.pad)
                } else {
                    None
                };
                if let Some(t) = belief {
                    let sure = if t == SP.pad { self.sure_of_nothing } else { 0.95 };
                    rows[i * v..(i + 1) * v].fill(((1.0 - sure) / v as f32).ln());
                    rows[i * v + t as usize] = sure.ln();
                }
            }
            Tensor::from_vec(rows, (ids.len(), v), &Device::Cpu)
        }
    }

    fn locate_repair(span: &[u32], config: &EditConfig) -> (Outcome, Vec<usize>) {
        locate_repair_with(span, config, 0.95)
    }

    fn locate_repair_with(span: &[u32], config: &EditConfig, sure_of_nothing: f32) -> (Outcome, Vec<usize>) {
        let model = Neighbours { right: vec![4, 5, 6, 7, SP.pad, 8], vocab: 12, sure_of_nothing };
        let req = EditRequest { prefix: &[4], span, slack: 1, suffix: &[8] };
        let mut committed = vec![];
        let out = decode_edit(&model, &req, config, &mut |r| {
            committed.push(r.committed);
            ControlFlow::Continue(())
        })
        .unwrap();
        (out, committed)
    }

    fn locating() -> EditConfig {
        // The oracle's odds are 228 (0.95 against 0.05 / 12): below the default's.
        EditConfig { locate: true, locate_insertions: true, locate_odds: 100.0, ..EditConfig::default() }
    }

    #[test]
    fn locate_replaces_a_wrong_token_then_stops() {
        let (out, committed) = locate_repair(&[5, 9, 7], &locating());
        assert_eq!(out.tokens, vec![5, 6, 7]);
        assert_eq!(committed, vec![1, 0], "one change, then a round that wants none");
        assert_eq!(out.forward_passes, 2 * 7, "each round encodes a canvas per token and per gap");
    }

    #[test]
    fn locate_deletes_a_stray_token_and_inserts_a_missing_one() {
        assert_eq!(locate_repair(&[5, 9, 6, 7], &locating()).0.tokens, vec![5, 6, 7]);
        assert_eq!(locate_repair(&[5, 7], &locating()).0.tokens, vec![5, 6, 7]);
        let without = EditConfig { locate_insertions: false, ..locating() };
        assert_eq!(locate_repair(&[5, 7], &without).0.tokens, vec![5, 7], "no gap asked, nothing inserted");
    }

    #[test]
    fn locate_keeps_tokens_the_model_prefers_less_than_the_odds_ask() {
        // p(choice) = 0.95 against p(seen) = 0.05 / 12: odds of 228, short of 1,000.
        let (out, committed) = locate_repair(&[5, 9, 7], &EditConfig { locate_odds: 1000.0, ..locating() });
        assert_eq!(out.tokens, vec![5, 9, 7]);
        assert_eq!(committed, vec![0]);
    }

    #[test]
    fn a_deletion_needs_the_delete_threshold_not_the_replace_threshold() {
        // The oracle is 0.3 sure the stray 9 should go (odds 0.3 / (0.7 / 12) = 5), below the
        // 0.6 a replacement needs.
        let unsure = EditConfig { locate_odds: 2.0, locate_insertions: false, ..locating() };
        let deleted = locate_repair_with(&[5, 9, 6, 7], &EditConfig { delete_threshold: 0.2, ..unsure.clone() }, 0.3);
        assert_eq!(deleted.0.tokens, vec![5, 6, 7]);
        let kept = locate_repair_with(&[5, 9, 6, 7], &EditConfig { delete_threshold: 0.5, ..unsure }, 0.3);
        assert_eq!(kept.0.tokens, vec![5, 9, 6, 7]);
    }

    /// Wants every position changed at every pass, 0.95 sure, to a token that depends on how
    /// many passes it has run: a decode that never reaches a fixed point. Counts its passes.
    struct Restless {
        passes: std::sync::atomic::AtomicUsize,
    }

    impl Denoiser for Restless {
        fn specials(&self) -> Specials {
            SP
        }
        fn logits(&self, ids: &[u32]) -> candle_core::Result<Tensor> {
            let vocab = 12;
            let pass = self.passes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // 3.. are the real tokens: the wanted one differs from the one wanted a pass ago.
            let wanted = 3 + (pass % (vocab - 3)) as u32;
            let mut rows = vec![(0.05f32 / vocab as f32).ln(); ids.len() * vocab];
            for i in 0..ids.len() {
                rows[i * vocab + wanted as usize] = 0.95f32.ln();
            }
            Tensor::from_vec(rows, (ids.len(), vocab), &Device::Cpu)
        }
    }

    /// Cancellation is checked after every step of the joint decode and every leave-one-out
    /// round, and nothing more runs after the observer says stop: the server's promise that a
    /// cancelled rewrite stops within one step rests on it.
    #[test]
    fn a_cancelled_edit_stops_at_the_step_that_sees_it_in_joint_and_leave_one_out_decoding() {
        for (name, config) in [("joint", joint()), ("leave-one-out", locating())] {
            let config = EditConfig { max_steps: 1000, ..config };
            let req = EditRequest { prefix: &[4], span: &[5, 6, 7], slack: 1, suffix: &[8] };
            let passes = |m: &Restless| m.passes.load(std::sync::atomic::Ordering::SeqCst);
            // Uncancelled, the model never lets the decode rest: it runs to its step limit.
            let model = Restless { passes: 0.into() };
            let few = EditConfig { max_steps: 6, ..config.clone() };
            let out = decode_edit(&model, &req, &few, &mut |_| ControlFlow::Continue(())).unwrap();
            assert_eq!(out.steps, 6, "{name}: the stand-in never converges");

            let model = Restless { passes: 0.into() };
            let mut at_break = None;
            let result = decode_edit(&model, &req, &config, &mut |report| {
                if report.step == 3 {
                    at_break = Some(passes(&model));
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            });
            assert!(matches!(result, Err(SampleError::Cancelled)), "{name}: not cancelled");
            let at_break = at_break.expect("the observer saw step 3");
            assert!(at_break > 0);
            assert_eq!(passes(&model), at_break, "{name}: a forward pass ran after the observer said stop");
        }
    }

    #[test]
    fn believed_tokens_are_kept() {
        let model = Corrector { answer: vec![5, 6, 7], vocab: 12 };
        let req = EditRequest { prefix: &[], span: &[5, 6, 7], slack: 0, suffix: &[] };
        let out = decode_edit(&model, &req, &joint(), &mut |_| ControlFlow::Continue(())).unwrap();
        assert_eq!(out.tokens, vec![5, 6, 7]);
        assert_eq!(out.steps, 1);
    }
}
