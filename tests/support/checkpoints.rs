//! Checkpoint folders for end-to-end tests, made from the repo's own fixtures.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// One of the tiny random parity checkpoints (`dream`, `llada`) in its family's layout.
pub fn parity_fixture(family: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tests/fixtures/parity").join(family)
}

/// The Dream-layout fixture with a chat template: an instruct checkpoint, as far as the
/// server can tell.
pub fn instruct_checkpoint() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(parity_fixture("dream").join(f), dir.path().join(f)).unwrap();
    }
    let template = "{% for m in messages %}t1 {{ m.content }} t2 {% endfor %}{% if add_generation_prompt %}t3 {% endif %}";
    std::fs::write(dir.path().join("tokenizer_config.json"), serde_json::json!({"chat_template": template}).to_string()).unwrap();
    dir
}

/// A checkpoint that writes one token wherever it decodes, whatever the text around: the tiny
/// random model of `anneal model random` with its weights set so that `token` (an entry of its
/// byte-level vocabulary, e.g. `Ċ` for a newline) wins every position by a wide margin. For
/// tests that must know what the model will write.
///
/// How: one dimension of the residual stream is 1 for every token (the embedding sets it and no
/// layer writes to it, that row of every output projection being zero), the final norm keeps
/// only that dimension, and the output layer reads it into `token`'s logit alone.
pub fn writes_only(binary: &str, token: &str) -> tempfile::TempDir {
    use candle_core::{Device, Tensor};
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(binary).args(["model", "random"]).arg(dir.path()).status().unwrap();
    assert!(status.success());
    let tokenizer: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("tokenizer.json")).unwrap()).unwrap();
    let id = tokenizer["model"]["vocab"][token].as_u64().unwrap_or_else(|| panic!("{token:?} is not in the vocabulary")) as usize;
    let weights = dir.path().join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&weights, &Device::Cpu).unwrap();
    let mut set = |name: &str, change: &dyn Fn(&mut [f32], usize)| {
        let tensor = tensors.get(name).unwrap_or_else(|| panic!("no tensor {name}"));
        let (shape, columns) = (tensor.shape().clone(), *tensor.dims().last().unwrap());
        let mut values: Vec<f32> = tensor.flatten_all().unwrap().to_vec1().unwrap();
        change(&mut values, columns);
        tensors.insert(name.to_string(), Tensor::from_vec(values, shape, &Device::Cpu).unwrap());
    };
    set("model.embed_tokens.weight", &|v, columns| v.iter_mut().step_by(columns).for_each(|x| *x = 1.0));
    let layers = layers_of(dir.path());
    for layer in 0..layers {
        for projection in ["self_attn.o_proj", "mlp.down_proj"] {
            set(&format!("model.layers.{layer}.{projection}.weight"), &|v, columns| v[..columns].fill(0.0));
        }
    }
    set("model.norm.weight", &|v, _| {
        v.fill(0.0);
        v[0] = 1.0;
    });
    set("lm_head.weight", &|v, columns| {
        v.fill(0.0);
        v[id * columns] = 20.0;
    });
    candle_core::safetensors::save(&tensors, &weights).unwrap();
    dir
}

/// The number of layers `config.json` in `dir` states.
fn layers_of(dir: &Path) -> usize {
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    config["num_hidden_layers"].as_u64().unwrap() as usize
}
