//! LLaDA2's mixture-of-experts MLP (`LLaDA2MoeSparseMoeBlock` and `LLaDA2MoeGate` in
//! `modeling_llada2_moe.py`; SGLang's `biased_grouped_topk`): a sigmoid router in f32 picks
//! each token's experts, and only those experts' matmuls run, each over the rows routed to it.
//! LLaDA-MoE's (`LLaDAMoESparseMoeBlock` in `modeling_lladamoe.py`) is the same block with a
//! softmax router, one group, no shared expert, and weights neither renormalised nor scaled.
//!
//! Routing is decided on the host: a canvas is at most a few thousand tokens by a few hundred
//! experts, and the choice is a handful of sorts per token that a tensor op would not speed up.

use candle_core::{DType, Result, Tensor};
use candle_nn::VarBuilder;

use super::{Linears, Mlp};
use crate::config::{Config, Moe};

#[derive(Debug, Clone)]
pub(super) struct MoeBlock {
    /// `[experts, hidden]`, f32 as the reference's `router_dtype`.
    router: Tensor,
    /// Added to the scores to choose experts, never to weigh them (`expert_bias`).
    expert_bias: Vec<f32>,
    experts: Vec<Mlp>,
    /// Experts every token goes through, unweighted (one MLP `num_shared_experts` wide).
    shared: Option<Mlp>,
    moe: Moe,
}

impl MoeBlock {
    pub(super) fn new(cfg: &Config, moe: &Moe, linears: &Linears, vb: VarBuilder) -> Result<Self> {
        let (h, experts) = (cfg.hidden_size, moe.num_experts);
        let gate = vb.pp("gate");
        let router = gate.get((experts, h), "weight")?.to_dtype(DType::F32)?;
        let expert_bias = match gate.contains_tensor("expert_bias") {
            true => gate.get(experts, "expert_bias")?.to_dtype(DType::F32)?.to_vec1()?,
            false => vec![0.0; experts],
        };
        let mlp = |width: usize, vb: VarBuilder| Mlp::with_width(h, width, linears, vb);
        let experts = (0..experts).map(|e| mlp(moe.moe_intermediate_size, vb.pp(format!("experts.{e}")))).collect::<Result<_>>()?;
        let shared = (moe.num_shared_experts > 0)
            .then(|| mlp(moe.moe_intermediate_size * moe.num_shared_experts, vb.pp("shared_experts")))
            .transpose()?;
        Ok(Self { router, expert_bias, experts, shared, moe: moe.clone() })
    }

    /// `x`: `[batch, len, hidden]`.
    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, len, h) = x.dims3()?;
        let flat = x.reshape((b * len, h))?;
        let logits = flat.to_dtype(DType::F32)?.matmul(&self.router.t()?)?.to_vec2::<f32>()?;
        let mut routed: Vec<(Vec<u32>, Vec<f32>)> = vec![(vec![], vec![]); self.experts.len()];
        for (token, row) in logits.iter().enumerate() {
            for (expert, weight) in self.route(row) {
                routed[expert].0.push(token as u32);
                routed[expert].1.push(weight);
            }
        }
        let device = x.device();
        let mut out = flat.zeros_like()?;
        for (expert, (tokens, weights)) in routed.iter().enumerate().filter(|(_, (t, _))| !t.is_empty()) {
            let rows = Tensor::new(tokens.as_slice(), device)?;
            let y = self.experts[expert].forward(&flat.index_select(&rows, 0)?)?;
            let weights = Tensor::new(weights.as_slice(), device)?.to_dtype(y.dtype())?.unsqueeze(1)?;
            out = out.index_add(&rows, &y.broadcast_mul(&weights)?, 0)?;
        }
        if let Some(shared) = &self.shared {
            out = (out + shared.forward(&flat)?)?;
        }
        out.reshape((b, len, h))
    }

    /// One token's experts and their weights, from its router logits: sigmoid scores (softmax
    /// for LLaDA-MoE, `LLaDAMoESparseMoeBlock`); the
    /// `topk_group` groups whose two best bias-corrected scores sum highest; in them, the
    /// `num_experts_per_tok` best bias-corrected scores; weighed by the uncorrected scores,
    /// normalised to sum to one (plus 1e-20, as the reference) and scaled.
    fn route(&self, logits: &[f32]) -> Vec<(usize, f32)> {
        let moe = &self.moe;
        let scores: Vec<f32> = if moe.softmax_router {
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exp: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
            let sum: f32 = exp.iter().sum();
            exp.into_iter().map(|e| e / sum).collect()
        } else {
            logits.iter().map(|&l| 1.0 / (1.0 + (-l).exp())).collect()
        };
        let choice: Vec<f32> = scores.iter().zip(&self.expert_bias).map(|(s, b)| s + b).collect();
        let group_size = scores.len() / moe.n_group;
        let group_score = |g: usize| {
            let mut members: Vec<f32> = choice[g * group_size..(g + 1) * group_size].to_vec();
            members.sort_by(|a, b| b.total_cmp(a));
            members.iter().take(2).sum::<f32>()
        };
        let groups = best(&(0..moe.n_group).map(group_score).collect::<Vec<_>>(), moe.topk_group);
        let allowed: Vec<f32> =
            choice.iter().enumerate().map(|(e, &c)| if groups.contains(&(e / group_size)) { c } else { f32::NEG_INFINITY }).collect();
        let picked = best(&allowed, moe.num_experts_per_tok);
        let mut weights: Vec<f32> = picked.iter().map(|&e| scores[e]).collect();
        if moe.norm_topk_prob && picked.len() > 1 {
            let sum = weights.iter().sum::<f32>() + 1e-20;
            weights.iter_mut().for_each(|w| *w /= sum);
        }
        let scale = moe.routed_scaling_factor as f32;
        picked.into_iter().zip(weights).map(|(e, w)| (e, w * scale)).collect()
    }
}

/// The indices of the `k` largest values, ties to the lower index (as `torch.topk` on a CPU).
fn best(values: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

/// Parameters of the MoE layers: all of them, and those one token runs through.
pub fn parameters(cfg: &Config, moe: &Moe) -> (usize, usize) {
    let h = cfg.hidden_size;
    let expert = 3 * h * moe.moe_intermediate_size;
    // LLaDA2's router has a bias per expert; LLaDA-MoE's softmax router none.
    let router = moe.num_experts * h + if moe.softmax_router { 0 } else { moe.num_experts };
    let shared = moe.num_shared_experts * expert;
    (moe.num_experts * expert + shared + router, moe.num_experts_per_tok * expert + shared + router)
}
