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
