//! What an edit-trained checkpoint believes at corrupted positions: for held-out spans with one
//! substitution or insertion (aligned targets), the probability the model gives the token it
//! sees, the right token (the original, or pad for an inserted one), and how often the right
//! token is its first choice; and for clean positions, how often it disbelieves the token
//! (p < 0.1). Separating the two is what edit-mode repair needs.
//!
//! cargo run --example repair_probe -- CHECKPOINT_DIR|default corpus/valid.jsonl [N]

use anneal_models::train::data::corrupt_aligned;
use anneal_models::Denoiser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

mod probe;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (model, stream) = probe::model_and_stream(&args[1], &args[2])?;
    let n: usize = args.get(3).map_or(Ok(300), |s| s.parse())?;
    let sp = model.specials();
    let mut rng = StdRng::seed_from_u64(7);
    let (ctx, span_len) = (96, 32);
    // [kind][0: p(seen), 1: p(right), 2: right is argmax, 3: count]
    let mut figures = [[0f64; 4]; 2];
    let (mut clean_low, mut clean) = (0usize, 0usize);
    // p(seen) at clean and at corrupted positions, for how well one separates the other.
    let (mut clean_p, mut corrupt_p) = (vec![], vec![]);
    for _ in 0..n {
        let at = rng.random_range(0..stream.len() - 2 * ctx - span_len - 2);
        let span = &stream[at + ctx..at + ctx + span_len];
        let kind = rng.random_range(0..2usize); // 0 substitution, 1 insertion
        let (input, target) = loop {
            let (i, t) = corrupt_aligned(&mut rng, span, 1, 1, 0, span, sp.pad);
            if i.len() == t.len() && (t.contains(&sp.pad) == (kind == 1)) && i != t {
                break (i, t);
            }
        };
        let mut ids = stream[at..at + ctx].to_vec();
        ids.extend_from_slice(&input);
        ids.extend_from_slice(&stream[at + ctx + span_len..at + 2 * ctx + span_len]);
        let probs = candle_nn::ops::softmax_last_dim(&model.logits(&ids)?)?.to_vec2::<f32>()?;
        for j in 0..input.len() {
            let row = &probs[ctx + j];
            if input[j] == target[j] {
                clean += 1;
                clean_low += (row[input[j] as usize] < 0.1) as usize;
                clean_p.push(row[input[j] as usize]);
                continue;
            }
            let best = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as u32;
            corrupt_p.push(row[input[j] as usize]);
            let f = &mut figures[kind];
            f[0] += row[input[j] as usize] as f64;
            f[1] += row[target[j] as usize] as f64;
            f[2] += (best == target[j]) as usize as f64;
            f[3] += 1.0;
        }
    }
    for (name, f) in ["substituted", "inserted"].iter().zip(figures) {
        println!(
            "{name}: p(seen) {:.3}, p(right) {:.3}, right is first choice {:.1}% (n={})",
            f[0] / f[3],
            f[1] / f[3],
            100.0 * f[2] / f[3],
            f[3]
        );
    }
    println!("clean positions with p(seen) < 0.1: {:.1}% (n={clean})", 100.0 * clean_low as f64 / clean as f64);
    // The chance that a corrupted position is believed less than a clean one (ROC AUC).
    clean_p.sort_by(f32::total_cmp);
    let below = |p: f32| clean_p.partition_point(|&c| c <= p) as f64;
    let auc = corrupt_p.iter().map(|&p| 1.0 - below(p) / clean_p.len() as f64).sum::<f64>() / corrupt_p.len() as f64;
    println!(
        "mean p(seen): clean {:.3}, corrupted {:.3}; AUC of p(seen) separating them: {auc:.3}",
        clean_p.iter().sum::<f32>() / clean_p.len() as f32,
        corrupt_p.iter().sum::<f32>() / corrupt_p.len() as f32
    );
    Ok(())
}
