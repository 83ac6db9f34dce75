//! What the probes share: a checkpoint (a folder or `default`) and a held-out corpus as one
//! token stream, files joined by end-of-text.

use anneal_models::{Denoiser, Model};
use candle_core::Device;

pub fn model_and_stream(checkpoint: &str, corpus: &str) -> anyhow::Result<(Model, Vec<u32>)> {
    let model = match checkpoint {
        "default" => Model::load_default(&Device::Cpu)?,
        dir => Model::load(std::path::Path::new(dir), &Device::Cpu)?,
    };
    let mut stream = vec![];
    for line in std::fs::read_to_string(corpus)?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        stream.extend(model.tokenizer.encode(v["text"].as_str().unwrap_or_default())?);
        stream.push(model.specials().eos);
    }
    Ok((model, stream))
}
