//! Validation on held-out windows: masked-token recovery at fixed masking rates, and (at the
//! end of a run) block fill — forward passes per block and accuracy — the ablation's measure of
//! steps. Windows come from fixed seeds, so every run and every arm sees the same ones.

use anyhow::Result;
use candle_core::{Device, Tensor, D};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::data::Example;
use super::{distill, loss, TrainConfig};
use crate::transformer::Transformer;
use crate::Specials;

/// Masked-token accuracy at 25/50/75% masking, and the validation loss.
pub fn masked_accuracy(model: &Transformer, cfg: &TrainConfig, valid: &[u32], sp: Specials, device: &Device) -> Result<(f64, [f64; 3])> {
    let mut accuracy = [0f64; 3];
    let mut loss_total = 0f64;
    for (k, rate) in [0.25, 0.5, 0.75].into_iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(7 + k as u64);
        let (mut right, mut total) = (0usize, 0usize);
        for chunk in (0..cfg.eval_windows).collect::<Vec<_>>().chunks(cfg.batch_size) {
            let batch: Vec<Example> = chunk
                .iter()
                .map(|_| {
                    let start = rng.random_range(0..valid.len() - cfg.window);
                    let target = valid[start..start + cfg.window].to_vec();
                    let mut input = target.clone();
                    let mut weight = vec![0f32; cfg.window];
                    for i in 0..cfg.window {
                        if rng.random_bool(rate) {
                            input[i] = sp.mask;
                            weight[i] = 1.0;
                        }
                    }
                    Example { input, target, weight }
                })
                .collect();
            loss_total += loss(model, &batch, device)?.to_scalar::<f32>()? as f64 / rate;
            let (b, len) = (batch.len(), cfg.window);
            let input = Tensor::from_vec(batch.iter().flat_map(|e| e.input.clone()).collect::<Vec<_>>(), (b, len), device)?;
            let pred = model.forward(&input)?.argmax(D::Minus1)?.flatten_all()?.to_vec1::<u32>()?;
            for (i, e) in batch.iter().flat_map(|e| e.input.iter().zip(&e.target)).enumerate() {
                if *e.0 == sp.mask {
                    total += 1;
                    right += (pred[i] == *e.1) as usize;
                }
            }
        }
        accuracy[k] = right as f64 / total.max(1) as f64;
    }
    let batches = 3.0 * (cfg.eval_windows as f64 / cfg.batch_size as f64).ceil();
    Ok((loss_total / batches, accuracy))
}

/// Threshold of the block-fill measurement: the mask sampler's default.
pub const FILL_THRESHOLD: f32 = 0.9;

/// Block fill on `eval_windows / 2` held-out windows: (forward passes per block, accuracy).
pub fn block_fill(model: &Transformer, cfg: &TrainConfig, valid: &[u32], sp: Specials, device: &Device) -> Result<(f64, f64)> {
    let mut rng = StdRng::seed_from_u64(11);
    let tasks: Vec<distill::BlockTask> =
        (0..(cfg.eval_windows / 2).max(1)).map(|_| distill::block_task(&mut rng, valid, cfg.window, cfg.distill.block, 0, sp)).collect();
    let mut passes = 0.0;
    let mut accuracy = 0.0;
    for chunk in tasks.chunks(cfg.batch_size * 2) {
        let (p, a) = distill::block_fill(model, chunk, FILL_THRESHOLD, cfg.distill.block, sp, device)?;
        passes += p * chunk.len() as f64;
        accuracy += a * chunk.len() as f64;
    }
    Ok((passes / tasks.len() as f64, accuracy / tasks.len() as f64))
}
