//! Milliseconds per forward pass of the embedded default model over 224 tokens (96 of context
//! each side and a 32-token block, as `anneal bench` cuts them): a quick check of how a build
//! profile or a change to the transformer moves the cost of one pass.
//!
//!     cargo run -p anneal-models --example forward_probe [--release]

use anneal_models::{Denoiser, Model};
use candle_core::Device;

fn main() -> anyhow::Result<()> {
    let model = Model::load_default(&Device::Cpu)?;
    let ids: Vec<u32> = (0..224u32).map(|i| 3 + (i * 37) % 4000).collect();
    model.logits(&ids)?; // warm-up
    let reps = 20;
    let started = std::time::Instant::now();
    for _ in 0..reps {
        model.logits(&ids)?;
    }
    println!("224 tokens: {:.2} ms per pass", started.elapsed().as_secs_f64() * 1e3 / reps as f64);
    Ok(())
}
