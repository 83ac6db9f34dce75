//! Folders of the Qwen3-bodied and Qwen2-configured families that are not what they claim:
//! each is a clear error naming the file, field or tensor, before any decoding.

use std::path::{Path, PathBuf};

use anneal_models::Model;
use candle_core::{DType, Device, Tensor};

fn fixture(family: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity").join(family)
}

/// A copy of a parity fixture's folder to spoil.
fn copy_of(family: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(family)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

fn load_error(dir: &Path) -> String {
    match Model::load_as(dir, &Device::Cpu, DType::F32) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => format!("{e:#}"),
    }
}

/// Rewrites the folder's weights through `edit` (name → tensor).
fn edit_weights(dir: &Path, edit: impl FnOnce(&mut std::collections::HashMap<String, Tensor>)) {
    let file = dir.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
    edit(&mut tensors);
    candle_core::safetensors::save(&tensors, &file).unwrap();
}

#[test]
fn an_autoregressive_qwen2_folder_is_refused_with_how_to_mark_a_diffusion_one() {
    // Open-dCoder's folder without the `<M>` token its training added: a plain Qwen2.5.
    let dir = copy_of("open-dcoder");
    let tokenizer = std::fs::read_to_string(dir.path().join("tokenizer.json")).unwrap();
    std::fs::write(dir.path().join("tokenizer.json"), tokenizer.replace("\"<M>\"", "\"<unused>\"")).unwrap();
    let err = load_error(dir.path());
    assert!(err.contains("config.json") && err.contains("`qwen2` is an autoregressive"), "{err}");
    assert!(err.contains(r#""model_type": "Dream""#) && err.contains("mask_token_id"), "says how to mark it: {err}");
}

#[test]
fn a_qwen3_folder_without_its_query_norm_names_the_tensor() {
    let dir = copy_of("sdar");
    edit_weights(dir.path(), |t| {
        t.remove("model.layers.1.self_attn.q_norm.weight");
    });
    let err = load_error(dir.path());
    assert!(err.contains("model.layers.1.self_attn.q_norm.weight"), "{err}");
}

#[test]
fn a_key_norm_of_the_wrong_width_names_the_tensor_and_both_shapes() {
    let dir = copy_of("coda");
    edit_weights(dir.path(), |t| {
        t.insert("model.layers.0.self_attn.k_norm.weight".into(), Tensor::ones(16, DType::F32, &Device::Cpu).unwrap());
    });
    let err = load_error(dir.path());
    assert!(err.contains("model.layers.0.self_attn.k_norm.weight") && err.contains("[16]") && err.contains("[32]"), "{err}");
}

#[test]
fn a_shard_index_naming_a_missing_file_says_which() {
    let dir = copy_of("sdar");
    std::fs::rename(dir.path().join("model.safetensors"), dir.path().join("model-00001-of-00002.safetensors")).unwrap();
    let index = r#"{"weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors",
        "lm_head.weight": "model-00002-of-00002.safetensors"}}"#;
    std::fs::write(dir.path().join("model.safetensors.index.json"), index).unwrap();
    let err = load_error(dir.path());
    assert!(err.contains("model-00002-of-00002.safetensors") && err.contains("missing"), "{err}");
}

/// Rewrites the folder's config.json through `edit`.
fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let file = dir.join("config.json");
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(&file, config.to_string()).unwrap();
}

#[test]
fn a_llada2_router_of_another_kind_is_refused_by_its_field() {
    let dir = copy_of("llada2");
    edit_config(dir.path(), |c| c["score_function"] = "softmax".into());
    let err = load_error(dir.path());
    assert!(err.contains(r#"score_function "softmax" is not supported (supported: "sigmoid")"#), "{err}");
    let dir = copy_of("llada2");
    edit_config(dir.path(), |c| c["use_qk_norm"] = false.into());
    assert!(load_error(dir.path()).contains("use_qk_norm false is not supported"));
    let dir = copy_of("llada2");
    edit_config(dir.path(), |c| c["n_group"] = 3.into());
    let err = load_error(dir.path());
    assert!(err.contains("num_experts 8 in n_group 3"), "{err}");
}

#[test]
fn a_llada2_folder_missing_an_expert_names_the_tensor() {
    let dir = copy_of("llada2");
    edit_weights(dir.path(), |t| {
        t.remove("model.layers.2.mlp.experts.5.down_proj.weight");
    });
    let err = load_error(dir.path());
    assert!(err.contains("model.layers.2.mlp.experts.5.down_proj.weight"), "{err}");
}

#[test]
fn a_llada2_folder_without_shared_experts_where_its_config_has_them_names_the_tensor() {
    let dir = copy_of("llada2");
    edit_weights(dir.path(), |t| {
        t.retain(|name, _| !name.contains("shared_experts"));
    });
    let err = load_error(dir.path());
    assert!(err.contains("shared_experts") && err.contains("model.layers.1.mlp"), "{err}");
}

#[test]
fn a_config_anneal_writes_reads_back_as_itself_in_every_family() {
    // `anneal model random` writes config.json from the struct, in its own field names, under
    // the family's `model_type` and classes: read back, it must be the same config and not go
    // through the family's translation of its published names (LLaDA's OLMo names,
    // LLaDA-MoE's expert widths), which it does not have.
    for family in ["dream", "llada", "sdar", "coda", "open-dcoder", "llada2", "llada-moe"] {
        let config = Model::load_as(&fixture(family), &Device::Cpu, DType::F32).unwrap().config;
        let written = serde_json::to_string_pretty(&config).unwrap();
        let read = anneal_models::Config::from_json(&written).unwrap_or_else(|e| panic!("{family}: {e}"));
        assert_eq!(read, config, "{family}");
    }
}
