//! Leave-one-out belief: for held-out spans with 1–3 substitutions or insertions (aligned
//! targets), what the model believes at each position with that position masked — so a wrong
//! token cannot vouch for itself — against what it believes with the token in view. Writes one
//! tab-separated row per position, for choosing the thresholds of edit mode's `locate` rounds:
//! sample, position, kind (0 clean, 1 substituted, 2 inserted), p(seen) masked, p(best) masked,
//! best is the target, best is pad, p(target) masked, p(seen) in view.
//!
//! cargo run --example locate_probe -- CHECKPOINT_DIR|default corpus/valid.jsonl N OUT.tsv

use std::io::Write;

use anneal_models::train::data::corrupt_aligned;
use anneal_models::Denoiser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

mod probe;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (model, stream) = probe::model_and_stream(&args[1], &args[2])?;
    let n: usize = args[3].parse()?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args[4])?);
    let sp = model.specials();
    let mut rng = StdRng::seed_from_u64(7);
    let (ctx, span_len) = (96, 32);
    for sample in 0..n {
        let at = rng.random_range(0..stream.len() - 2 * ctx - span_len - 2);
        let span = &stream[at + ctx..at + ctx + span_len];
        let k = rng.random_range(1..=3);
        // No deletions: they shift what follows, and leave-one-out scoring cannot see a gap.
        let (input, target) = corrupt_aligned(&mut rng, span, k, k, span.len(), span, sp.pad);
        let mut ids = stream[at..at + ctx].to_vec();
        ids.extend_from_slice(&input);
        ids.extend_from_slice(&stream[at + ctx + span_len..at + 2 * ctx + span_len]);
        let in_view = candle_nn::ops::softmax_last_dim(&model.logits(&ids)?)?.to_vec2::<f32>()?;
        let canvases: Vec<Vec<u32>> = (0..input.len())
            .map(|j| {
                let mut c = ids.clone();
                c[ctx + j] = sp.mask;
                c
            })
            .collect();
        let positions: Vec<usize> = (0..input.len()).map(|j| ctx + j).collect();
        let masked = candle_nn::ops::softmax_last_dim(&model.logits_at(&canvases, &positions)?)?.to_vec2::<f32>()?;
        for j in 0..input.len() {
            let row = &masked[j];
            let best = (0..row.len()).filter(|&t| t as u32 != sp.mask).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap_or(0) as u32;
            let kind = if input[j] == target[j] {
                0
            } else if target[j] == sp.pad {
                2
            } else {
                1
            };
            writeln!(
                out,
                "{sample}\t{j}\t{kind}\t{}\t{}\t{}\t{}\t{}\t{}",
                row[input[j] as usize],
                row[best as usize],
                (best == target[j]) as u8,
                (best == sp.pad) as u8,
                row[target[j] as usize],
                in_view[ctx + j][input[j] as usize]
            )?;
        }
    }
    Ok(())
}
