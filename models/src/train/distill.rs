//! Stages 3 and 4 of the recipe learn from the model's own decoding of a block:
//!
//! - **Constrained order** (the seed's §3.2): for each example, sample a pool of denoising
//!   trajectories of one block with the model (orders drawn from its confidence, perturbed
//!   with Gumbel noise), score each by the log-likelihood of the true tokens along its order —
//!   the ELBO of x₀ under that order — and train on an intermediate state of the best one.
//! - **On-policy** (§3.3): decode the block with an aggressive sampler (a few steps, many
//!   commits each) and train the model to map every state it visits — its own, possibly wrong,
//!   tokens included — to the true block, so it becomes confident in fewer steps.
//!
//! - **Self-distillation** (certainty forcing, after dParallel, arXiv 2509.26488): the model
//!   being distilled, frozen as a teacher, decodes the block one token a pass, most confident
//!   first — the slow decode that a fast sampler must reproduce — and the student learns to
//!   predict *that output* from the states along the way. On-policy training towards the true
//!   block cannot make a small model confident (it does not know the true block); towards its
//!   own settled answer it can, so a threshold sampler commits many tokens a pass and still
//!   writes what the slow decode writes. The teacher stays frozen because a student that
//!   writes its own targets drifts towards whatever it is surest of (pads, here).
//!
//! All share the batched block statistics below; so does the block-fill measurement of
//! forward passes per block that the ablation reports.

use std::ops::Range;

use candle_core::{DType, Device, Tensor, D};
use rand::rngs::StdRng;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::data::{self, Example};
use crate::transformer::Transformer;
use crate::Specials;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistillConfig {
    /// Tokens in the block a trajectory decodes; the rest of the window is its context.
    pub block: usize,
    /// Trajectories sampled per example for constrained-order selection.
    pub pool: usize,
    /// Steps of a constrained-order trajectory (block / steps tokens revealed per step).
    pub order_steps: usize,
    /// Gumbel temperature that makes the pool's orders differ; the first trajectory is greedy.
    pub order_noise: f32,
    /// Steps of the aggressive on-policy sampler.
    pub on_policy_steps: usize,
    /// Training states taken from each self-distilled trajectory (its decode costs a pass a
    /// token, so each is used more than once).
    pub self_states: usize,
}

impl Default for DistillConfig {
    fn default() -> Self {
        Self { block: 32, pool: 3, order_steps: 3, order_noise: 1.0, on_policy_steps: 2, self_states: 2 }
    }
}

/// A clean window and the block inside it that a trajectory decodes.
#[derive(Clone, Debug)]
pub struct BlockTask {
    pub target: Vec<u32>,
    pub block: Range<usize>,
}

impl BlockTask {
    /// The window with its block fully masked: where every trajectory starts.
    fn masked(&self, sp: Specials) -> Vec<u32> {
        let mut row = self.target.clone();
        row[self.block.clone()].fill(sp.mask);
        row
    }
}

pub fn block_task(rng: &mut StdRng, stream: &[u32], len: usize, block: usize, max_slack: usize, sp: Specials) -> BlockTask {
    let (target, _, _) = data::clean_window(rng, stream, len, max_slack, sp.pad);
    let block = block.min(len);
    let start = rng.random_range(0..=len - block);
    BlockTask { target, block: start..start + block }
}

/// Per row and block position: the model's top token, its probability, and the log-probability
/// of the row's true token. One forward pass for all rows; only these small vectors reach the
/// host.
pub struct BlockStats {
    pub top: Vec<Vec<u32>>,
    pub confidence: Vec<Vec<f32>>,
    pub logp_target: Vec<Vec<f32>>,
}

pub fn block_stats(
    model: &Transformer,
    rows: &[Vec<u32>],
    blocks: &[Range<usize>],
    targets: &[&[u32]],
    sp: Specials,
    device: &Device,
) -> candle_core::Result<BlockStats> {
    let (n, len) = (rows.len(), rows[0].len());
    let block_len = blocks[0].len();
    let ids = Tensor::from_vec(rows.concat(), (n, len), device)?;
    let starts: Vec<usize> = blocks.iter().map(|b| b.start).collect();
    let logits = model.forward_blocks(&ids, &starts, block_len)?.detach().to_dtype(DType::F32)?;
    let vocab = logits.dim(D::Minus1)?;
    // A mask is never an answer.
    let forbid: Vec<f32> = (0..vocab).map(|i| if i as u32 == sp.mask { f32::NEG_INFINITY } else { 0.0 }).collect();
    let logp = candle_nn::ops::log_softmax(&logits.broadcast_add(&Tensor::from_vec(forbid, vocab, device)?)?, D::Minus1)?;
    let top = logp.argmax(D::Minus1)?.to_vec2::<u32>()?;
    let confidence = logp.max(D::Minus1)?.exp()?.to_vec2::<f32>()?;
    let target_ids: Vec<u32> = targets.iter().zip(blocks).flat_map(|(t, b)| t[b.clone()].iter().copied()).collect();
    let target_ids = Tensor::from_vec(target_ids, (n, block_len, 1), device)?;
    let logp_target = logp.gather(&target_ids, 2)?.squeeze(2)?.to_vec2::<f32>()?;
    Ok(BlockStats { top, confidence, logp_target })
}

/// The `k` unrevealed positions with the highest key.
fn pick(keys: &[f32], revealed: &[bool], k: usize) -> Vec<usize> {
    let mut open: Vec<usize> = (0..keys.len()).filter(|&i| !revealed[i]).collect();
    open.sort_by(|&a, &b| keys[b].total_cmp(&keys[a]).then(a.cmp(&b)));
    open.truncate(k);
    open
}

fn gumbel(rng: &mut StdRng) -> f32 {
    let u: f32 = rng.random_range(1e-6..1.0);
    -(-u.ln()).ln()
}

/// One trajectory of constrained-order sampling: the step at which each block position is
/// revealed, and the ELBO of the true block under that order.
#[derive(Clone, Debug)]
pub struct Trajectory {
    pub reveal_step: Vec<usize>,
    pub elbo: f32,
}

/// Samples `cfg.pool` orders for each task and returns them, batched in one forward pass per
/// step over every (task, trajectory) row. The state a trajectory sees is the true tokens at
/// the positions it has revealed and masks elsewhere (teacher forcing, as the ELBO needs).
pub fn sample_orders(
    model: &Transformer,
    tasks: &[BlockTask],
    cfg: &DistillConfig,
    rng: &mut StdRng,
    sp: Specials,
    device: &Device,
) -> candle_core::Result<Vec<Vec<Trajectory>>> {
    let pool = cfg.pool.max(1);
    let block_len = tasks[0].block.len();
    let steps = cfg.order_steps.clamp(1, block_len.max(1));
    let per_step = block_len.div_ceil(steps);
    let mut rows: Vec<Vec<u32>> = vec![];
    let (mut blocks, mut targets) = (vec![], vec![]);
    for t in tasks {
        for _ in 0..pool {
            rows.push(t.masked(sp));
            blocks.push(t.block.clone());
            targets.push(t.target.as_slice());
        }
    }
    let mut revealed = vec![vec![false; block_len]; rows.len()];
    let mut out: Vec<Trajectory> = (0..rows.len()).map(|_| Trajectory { reveal_step: vec![usize::MAX; block_len], elbo: 0.0 }).collect();
    for step in 0..steps {
        let stats = block_stats(model, &rows, &blocks, &targets, sp, device)?;
        for r in 0..rows.len() {
            let noise = if r % pool == 0 { 0.0 } else { cfg.order_noise };
            let keys: Vec<f32> = stats.confidence[r].iter().map(|c| c.max(1e-9).ln() + noise * gumbel(rng)).collect();
            let k = if step + 1 == steps { block_len } else { per_step };
            for i in pick(&keys, &revealed[r], k) {
                revealed[r][i] = true;
                out[r].reveal_step[i] = step;
                out[r].elbo += stats.logp_target[r][i];
                rows[r][blocks[r].start + i] = targets[r][blocks[r].start + i];
            }
        }
    }
    Ok(out.chunks(pool).map(<[Trajectory]>::to_vec).collect())
}

/// A training example from the best trajectory: the state before a uniformly drawn step, with
/// loss on the still-masked positions weighted 1/t (t the masked share, the mask stage's λ);
/// then the augmentation f of the seed's L_c, a few revealed tokens substituted (edit
/// corruption), learnt with weight 1 so that visible tokens stay open to correction.
pub fn order_example(task: &BlockTask, best: &Trajectory, steps: usize, stream: &[u32], rng: &mut StdRng, sp: Specials) -> Example {
    let from = rng.random_range(0..steps.max(1));
    let mut input = task.target.clone();
    let mut weight = vec![0f32; input.len()];
    let masked: Vec<usize> = (0..task.block.len()).filter(|&i| best.reveal_step[i] >= from).collect();
    let t = masked.len() as f32 / task.block.len().max(1) as f32;
    for &i in &masked {
        input[task.block.start + i] = sp.mask;
        weight[task.block.start + i] = 1.0 / t;
    }
    let visible: Vec<usize> = (0..task.block.len()).filter(|&i| best.reveal_step[i] < from).collect();
    if !visible.is_empty() && rng.random_bool(0.5) {
        let k = ((visible.len() as f64 * rng.random_range(0.0..0.1)).floor() as usize).max(1);
        for _ in 0..k {
            let i = task.block.start + visible[rng.random_range(0..visible.len())];
            input[i] = stream[rng.random_range(0..stream.len())];
            weight[i] = 1.0;
        }
    }
    Example { input, target: task.target.clone(), weight }
}

/// Constrained-order examples: a pool of orders per task, the best by ELBO kept.
pub fn order_examples(
    model: &Transformer,
    tasks: &[BlockTask],
    cfg: &DistillConfig,
    stream: &[u32],
    rng: &mut StdRng,
    sp: Specials,
    device: &Device,
) -> candle_core::Result<Vec<Example>> {
    let pools = sample_orders(model, tasks, cfg, rng, sp, device)?;
    Ok(tasks
        .iter()
        .zip(pools)
        .map(|(task, pool)| {
            let best = pool.iter().max_by(|a, b| a.elbo.total_cmp(&b.elbo)).expect("a non-empty pool");
            order_example(task, best, cfg.order_steps.clamp(1, task.block.len().max(1)), stream, rng, sp)
        })
        .collect())
}

/// On-policy examples: the aggressive sampler (the model's own top tokens, `block / steps`
/// most confident committed per step) runs on every task in one batch; each task's example is
/// one of the states it visited after the first step, with the true block as target and loss
/// on every block position — masks and the model's own commits alike.
pub fn on_policy_examples(
    model: &Transformer,
    tasks: &[BlockTask],
    cfg: &DistillConfig,
    rng: &mut StdRng,
    sp: Specials,
    device: &Device,
) -> candle_core::Result<Vec<Example>> {
    let block_len = tasks[0].block.len();
    let steps = cfg.on_policy_steps.clamp(1, block_len.max(1));
    let per_step = block_len.div_ceil(steps);
    let keep: Vec<usize> = tasks.iter().map(|_| rng.random_range(1..=steps)).collect();
    let mut rows: Vec<Vec<u32>> = tasks.iter().map(|t| t.masked(sp)).collect();
    let blocks: Vec<Range<usize>> = tasks.iter().map(|t| t.block.clone()).collect();
    let targets: Vec<&[u32]> = tasks.iter().map(|t| t.target.as_slice()).collect();
    let mut revealed = vec![vec![false; block_len]; rows.len()];
    let mut kept: Vec<Option<Vec<u32>>> = vec![None; rows.len()];
    for step in 1..=steps {
        let stats = block_stats(model, &rows, &blocks, &targets, sp, device)?;
        for r in 0..rows.len() {
            let k = if step == steps { block_len } else { per_step };
            for i in pick(&stats.confidence[r], &revealed[r], k) {
                revealed[r][i] = true;
                rows[r][blocks[r].start + i] = stats.top[r][i];
            }
            if keep[r] == step {
                kept[r] = Some(rows[r].clone());
            }
        }
    }
    Ok(tasks
        .iter()
        .zip(kept)
        .map(|(task, input)| {
            let mut weight = vec![0f32; task.target.len()];
            weight[task.block.clone()].fill(1.0);
            Example { input: input.expect("every kept step is visited"), target: task.target.clone(), weight }
        })
        .collect())
}

/// Self-distillation examples for `slots` batch slots: `slots / self_states` tasks (rounded
/// up) are decoded one token a pass, most confident first, and each gives `self_states`
/// states of its own trajectory — the block masked where the slow decode had not yet
/// committed, its own tokens elsewhere — with the slow decode's tokens as target, loss on the
/// masked positions weighted 1/t. The context outside the block stays true and unweighted.
pub fn self_distill_examples(
    model: &Transformer,
    tasks: &[BlockTask],
    slots: usize,
    rng: &mut StdRng,
    sp: Specials,
    device: &Device,
) -> candle_core::Result<Vec<Example>> {
    let block_len = tasks[0].block.len();
    // A threshold above 1 is never met: one token a pass, most confident first.
    let Filled { rows, reveal_pass, .. } = fill_blocks(model, tasks, f32::INFINITY, block_len, sp, device)?;
    let mut out = Vec::with_capacity(slots);
    for (r, task) in tasks.iter().enumerate().cycle().take(slots) {
        let from = rng.random_range(0..block_len);
        let masked: Vec<usize> = (0..block_len).filter(|&i| reveal_pass[r][i] >= from).collect();
        let t = masked.len() as f32 / block_len as f32;
        let mut target = task.target.clone();
        target[task.block.clone()].copy_from_slice(&rows[r][task.block.clone()]);
        let mut input = target.clone();
        let mut weight = vec![0f32; input.len()];
        for &i in &masked {
            input[task.block.start + i] = sp.mask;
            weight[task.block.start + i] = 1.0 / t;
        }
        out.push(Example { input, target, weight });
    }
    Ok(out)
}

/// Blocks decoded from fully masked: each task's row at the end, the pass (from 0) at which
/// each block position was committed, and the passes each block took.
struct Filled {
    rows: Vec<Vec<u32>>,
    reveal_pass: Vec<Vec<usize>>,
    passes: Vec<usize>,
}

/// Decodes each task's block with the mask-mode rule: commit every position at least
/// `threshold` confident, at least one per pass, all that are left at pass `max_steps`.
fn fill_blocks(
    model: &Transformer,
    tasks: &[BlockTask],
    threshold: f32,
    max_steps: usize,
    sp: Specials,
    device: &Device,
) -> candle_core::Result<Filled> {
    let block_len = tasks[0].block.len();
    let mut rows: Vec<Vec<u32>> = tasks.iter().map(|t| t.masked(sp)).collect();
    let mut reveal_pass = vec![vec![usize::MAX; block_len]; rows.len()];
    let mut passes = vec![0usize; rows.len()];
    let mut active: Vec<usize> = (0..rows.len()).collect();
    while !active.is_empty() {
        let batch: Vec<Vec<u32>> = active.iter().map(|&r| rows[r].clone()).collect();
        let blocks: Vec<Range<usize>> = active.iter().map(|&r| tasks[r].block.clone()).collect();
        let targets: Vec<&[u32]> = active.iter().map(|&r| tasks[r].target.as_slice()).collect();
        let stats = block_stats(model, &batch, &blocks, &targets, sp, device)?;
        for (a, &r) in active.iter().enumerate() {
            let revealed: Vec<bool> = reveal_pass[r].iter().map(|&p| p != usize::MAX).collect();
            let conf = &stats.confidence[a];
            let open = revealed.iter().filter(|&&v| !v).count();
            let sure = (0..block_len).filter(|&i| !revealed[i] && conf[i] >= threshold).count();
            let k = if passes[r] + 1 >= max_steps { open } else { sure.max(1) };
            for i in pick(conf, &revealed, k) {
                reveal_pass[r][i] = passes[r];
                rows[r][tasks[r].block.start + i] = stats.top[a][i];
            }
            passes[r] += 1;
        }
        active.retain(|&r| reveal_pass[r].contains(&usize::MAX));
    }
    Ok(Filled { rows, reveal_pass, passes })
}

/// Block fill, the ablation's measure of steps: each task's block starts fully masked and is
/// decoded with the mask-mode rule (see [`fill_blocks`]). Returns mean forward passes per
/// block and the share of block tokens decoded right.
pub fn block_fill(
    model: &Transformer,
    tasks: &[BlockTask],
    threshold: f32,
    max_steps: usize,
    sp: Specials,
    device: &Device,
) -> candle_core::Result<(f64, f64)> {
    let Filled { rows, passes, .. } = fill_blocks(model, tasks, threshold, max_steps, sp, device)?;
    let right: usize = tasks.iter().zip(&rows).map(|(t, row)| t.block.clone().filter(|&i| row[i] == t.target[i]).count()).sum();
    let mean_passes = passes.iter().sum::<usize>() as f64 / tasks.len() as f64;
    Ok((mean_passes, right as f64 / (tasks.len() * tasks[0].block.len()) as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::transformer::Mode;
    use candle_nn::{VarBuilder, VarMap};
    use rand::SeedableRng;

    const SP: Specials = Specials { eos: 0, pad: 1, mask: 2 };

    fn fixture() -> (Transformer, Vec<BlockTask>, Vec<u32>) {
        let config = Config::tiny(64, SP.mask, SP.pad, SP.eos);
        let varmap = VarMap::new();
        let model = Transformer::new(&config, Mode::Infer, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
        crate::random::init_seeded(&varmap, 5).unwrap();
        let stream: Vec<u32> = (0..2000).map(|i| 3 + (i * 7 % 61) as u32).collect();
        let mut rng = StdRng::seed_from_u64(1);
        let tasks = (0..3).map(|_| block_task(&mut rng, &stream, 32, 8, 4, SP)).collect();
        (model, tasks, stream)
    }

    #[test]
    fn every_trajectory_reveals_each_position_once_within_the_steps() {
        let (model, tasks, _) = fixture();
        let cfg = DistillConfig { block: 8, pool: 3, order_steps: 3, ..Default::default() };
        let pools = sample_orders(&model, &tasks, &cfg, &mut StdRng::seed_from_u64(2), SP, &Device::Cpu).unwrap();
        assert_eq!(pools.len(), 3);
        for pool in &pools {
            assert_eq!(pool.len(), 3);
            for t in pool {
                assert!(t.reveal_step.iter().all(|&s| s < 3), "{:?}", t.reveal_step);
                assert!(t.elbo < 0.0 && t.elbo.is_finite());
            }
        }
        // The noisy orders differ from the greedy one somewhere in the batch.
        assert!(pools.iter().any(|p| p[1..].iter().any(|t| t.reveal_step != p[0].reveal_step)));
    }

    #[test]
    fn order_examples_mask_only_inside_the_block_and_weigh_masks_by_inverse_share() {
        let (model, tasks, stream) = fixture();
        let cfg = DistillConfig { block: 8, pool: 2, order_steps: 4, ..Default::default() };
        let examples = order_examples(&model, &tasks, &cfg, &stream, &mut StdRng::seed_from_u64(3), SP, &Device::Cpu).unwrap();
        for (task, ex) in tasks.iter().zip(&examples) {
            let masked: Vec<usize> = (0..32).filter(|&i| ex.input[i] == SP.mask).collect();
            assert!(!masked.is_empty(), "the state before a step always has masks");
            assert!(masked.iter().all(|i| task.block.contains(i)));
            let expected = 8.0 / masked.len() as f32;
            assert!(masked.iter().all(|&i| (ex.weight[i] - expected).abs() < 1e-5));
            assert!((0..32).filter(|i| !task.block.contains(i)).all(|i| ex.weight[i] == 0.0 && ex.input[i] == ex.target[i]));
        }
    }

    #[test]
    fn on_policy_states_hold_the_models_own_tokens() {
        let (model, tasks, _) = fixture();
        let cfg = DistillConfig { block: 8, on_policy_steps: 2, ..Default::default() };
        let examples = on_policy_examples(&model, &tasks, &cfg, &mut StdRng::seed_from_u64(4), SP, &Device::Cpu).unwrap();
        for (task, ex) in tasks.iter().zip(&examples) {
            let committed = task.block.clone().filter(|&i| ex.input[i] != SP.mask).count();
            assert!(committed >= 4, "at least one aggressive step of block/steps commits");
            assert!(task.block.clone().all(|i| ex.weight[i] == 1.0));
            assert_eq!(ex.weight.iter().filter(|&&w| w > 0.0).count(), 8);
        }
    }

    #[test]
    fn self_distilled_states_target_the_models_own_slow_decode() {
        let (model, tasks, _) = fixture();
        let examples = self_distill_examples(&model, &tasks[..2], 4, &mut StdRng::seed_from_u64(6), SP, &Device::Cpu).unwrap();
        assert_eq!(examples.len(), 4);
        for (k, ex) in examples.iter().enumerate() {
            let task = &tasks[k % 2];
            let masked: Vec<usize> = task.block.clone().filter(|&i| ex.input[i] == SP.mask).collect();
            assert!(!masked.is_empty() && masked.len() <= 8);
            assert!(masked.iter().all(|&i| (ex.weight[i] - 8.0 / masked.len() as f32).abs() < 1e-5));
            // Committed positions show the target's own token; outside the block, the truth.
            assert!(task.block.clone().filter(|i| !masked.contains(i)).all(|i| ex.input[i] == ex.target[i] && ex.weight[i] == 0.0));
            assert!((0..32).filter(|i| !task.block.contains(i)).all(|i| ex.target[i] == task.target[i] && ex.weight[i] == 0.0));
        }
        // Both states of a trajectory share its target, and it is what the one-token-a-pass
        // block fill writes: with that target, its accuracy is exact.
        assert_eq!(examples[0].target, examples[2].target);
        let own: Vec<BlockTask> = (0..2).map(|k| BlockTask { target: examples[k].target.clone(), block: tasks[k].block.clone() }).collect();
        assert_eq!(block_fill(&model, &own, 2.0, 8, SP, &Device::Cpu).unwrap(), (8.0, 1.0));
        assert!(block_fill(&model, &tasks[..2], 2.0, 8, SP, &Device::Cpu).unwrap().1 < 1.0, "a random model does not write the truth");
    }

    #[test]
    fn block_fill_counts_passes_between_one_and_the_limit() {
        let (model, tasks, _) = fixture();
        let (passes, accuracy) = block_fill(&model, &tasks, 0.9, 5, SP, &Device::Cpu).unwrap();
        assert!((1.0..=5.0).contains(&passes), "{passes}");
        assert!((0.0..=1.0).contains(&accuracy));
        // An untrained model is never 90% sure: it commits one position per pass until the limit.
        assert_eq!(passes, 5.0);
    }
}
