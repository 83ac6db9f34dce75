//! Checkpoint folders for end-to-end tests, made from the repo's own fixtures.

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
    let mut model = Surgery::new(binary);
    let id = model.token(token);
    model.set("model.embed_tokens.weight", &|v, columns| v.iter_mut().step_by(columns).for_each(|x| *x = 1.0));
    for layer in 0..model.layers() {
        for projection in ["self_attn.o_proj", "mlp.down_proj"] {
            model.set(&format!("model.layers.{layer}.{projection}.weight"), &|v, columns| v[..columns].fill(0.0));
        }
    }
    model.set("model.norm.weight", &|v, _| {
        v.fill(0.0);
        v[0] = 1.0;
    });
    model.set("lm_head.weight", &|v, columns| {
        v.fill(0.0);
        v[id * columns] = 20.0;
    });
    model.save()
}

/// A checkpoint that believes every token where it stands except `from`, which it wants
/// replaced by `to` (single entries of the byte-level vocabulary, e.g. `5` and `7`): in edit
/// mode it changes exactly those characters.
///
/// How: no layer writes to the residual stream (every output projection is zero), so the
/// final hidden state is the token's own embedding, normalised; the output layer is the
/// embedding scaled up (random vectors in 64 dimensions are far closer to themselves than to
/// each other), with `to`'s row reading `from`'s embedding as well as its own and `from`'s row
/// the opposite of its own.
pub fn substitutes(binary: &str, from: &str, to: &str) -> tempfile::TempDir {
    let mut model = Surgery::new(binary);
    let (from, to) = (model.token(from), model.token(to));
    for layer in 0..model.layers() {
        for projection in ["self_attn.o_proj", "mlp.down_proj"] {
            model.set(&format!("model.layers.{layer}.{projection}.weight"), &|v, _| v.fill(0.0));
        }
    }
    let embedding: Vec<f32> = model.values("model.embed_tokens.weight");
    model.set("lm_head.weight", &|v, columns| {
        for (out, e) in v.iter_mut().zip(&embedding) {
            *out = 50.0 * e;
        }
        for c in 0..columns {
            v[to * columns + c] = 50.0 * (embedding[to * columns + c] + embedding[from * columns + c]);
            v[from * columns + c] = -50.0 * embedding[from * columns + c];
        }
    });
    model.save()
}

/// A tiny random checkpoint whose weights a test changes before saving them.
struct Surgery {
    dir: tempfile::TempDir,
    tensors: std::collections::HashMap<String, candle_core::Tensor>,
}

impl Surgery {
    fn new(binary: &str) -> Surgery {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new(binary).args(["model", "random"]).arg(dir.path()).status().unwrap();
        assert!(status.success());
        let tensors = candle_core::safetensors::load(dir.path().join("model.safetensors"), &candle_core::Device::Cpu).unwrap();
        Surgery { dir, tensors }
    }

    fn json(&self, file: &str) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.dir.path().join(file)).unwrap()).unwrap()
    }

    /// The id of `token`, an entry of the tokenizer's vocabulary.
    fn token(&self, token: &str) -> usize {
        self.json("tokenizer.json")["model"]["vocab"][token].as_u64().unwrap_or_else(|| panic!("{token:?} is not in the vocabulary"))
            as usize
    }

    fn layers(&self) -> usize {
        self.json("config.json")["num_hidden_layers"].as_u64().unwrap() as usize
    }

    fn values(&self, name: &str) -> Vec<f32> {
        self.tensors.get(name).unwrap_or_else(|| panic!("no tensor {name}")).flatten_all().unwrap().to_vec1().unwrap()
    }

    /// Changes tensor `name` in place: `change` gets its values, row-major, and its row length.
    fn set(&mut self, name: &str, change: &dyn Fn(&mut [f32], usize)) {
        let tensor = &self.tensors[name];
        let (shape, columns) = (tensor.shape().clone(), *tensor.dims().last().unwrap());
        let mut values = self.values(name);
        change(&mut values, columns);
        self.tensors.insert(name.to_string(), candle_core::Tensor::from_vec(values, shape, &candle_core::Device::Cpu).unwrap());
    }

    fn save(self) -> tempfile::TempDir {
        candle_core::safetensors::save(&self.tensors, self.dir.path().join("model.safetensors")).unwrap();
        self.dir
    }
}
