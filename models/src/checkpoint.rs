//! Loading a checkpoint folder (Hugging Face layout): `config.json`, `tokenizer.json`, and
//! `model.safetensors` or shards listed in `model.safetensors.index.json`. Safetensors only:
//! a pickle can run code, a safetensors file cannot.
//!
//! Every way a folder can be wrong becomes an error that names the file and the problem,
//! because a server that loads a model must report it and stay up.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use crate::config::Config;
use crate::tokenizer::{Tokenizer, EOT, MASK, PAD};

pub const CONFIG_FILE: &str = "config.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const WEIGHTS_INDEX_FILE: &str = "model.safetensors.index.json";

pub fn read_config(dir: &Path) -> Result<Config> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_config(&text).with_context(|| format!("in {}", path.display()))
}

pub fn parse_config(text: &str) -> Result<Config> {
    let config: Config = serde_json::from_str(text)?;
    config.family()?;
    config.validate()?;
    Ok(config)
}

/// The safetensors files of a folder: the single file, or every shard the index names.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join(WEIGHTS_FILE);
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join(WEIGHTS_INDEX_FILE);
    if index.is_file() {
        let text = std::fs::read_to_string(&index)?;
        let json: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("cannot parse {}", index.display()))?;
        let map = json["weight_map"]
            .as_object()
            .with_context(|| format!("{} has no weight_map", index.display()))?;
        let mut files: Vec<PathBuf> = map.values().filter_map(|v| v.as_str()).map(|f| dir.join(f)).collect();
        files.sort();
        files.dedup();
        for f in &files {
            if !f.is_file() {
                bail!("shard {} named in {} is missing", f.display(), index.display());
            }
        }
        return Ok(files);
    }
    if dir.read_dir()?.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name.ends_with(".bin") || name.ends_with(".pt") || name.ends_with(".pth")
    }) {
        bail!("{} holds only PyTorch pickle weights; Anneal loads safetensors only (convert them first)", dir.display());
    }
    bail!("{} has neither {WEIGHTS_FILE} nor {WEIGHTS_INDEX_FILE}", dir.display())
}

/// Checks that the tokenizer and the config agree, before any weight is read.
pub fn check_tokenizer(config: &Config, tokenizer: &Tokenizer) -> Result<()> {
    // The largest id, not the count: a sparse vocabulary can have few tokens and still index
    // past the embedding.
    let largest = tokenizer.hf().get_vocab(true).into_values().max().unwrap_or(0) as usize;
    if largest >= config.vocab_size {
        bail!(
            "tokenizer has token id {largest} but the model's embedding has only {} rows: they do not belong together",
            config.vocab_size
        );
    }
    for (name, token, id) in [
        ("mask", MASK, config.mask_token_id),
        ("pad", PAD, config.pad_token_id),
        ("eos", EOT, config.eos_token_id),
    ] {
        match tokenizer.token_id(token) {
            Some(t) if t == id => {}
            Some(t) => bail!("config says {name}_token_id is {id} but the tokenizer maps {token} to {t}"),
            None => bail!("tokenizer has no {token} token ({name})"),
        }
    }
    Ok(())
}

/// Memory-maps the weights: a 7B checkpoint must not be copied into RAM before use.
pub fn var_builder(files: &[PathBuf], dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
    for f in files {
        // Read the header now so a truncated or corrupt file is reported by name, not as a
        // shape error three layers later.
        let bytes = std::fs::File::open(f).with_context(|| format!("cannot open {}", f.display()))?;
        check_safetensors_header(bytes, f)?;
    }
    #[allow(unsafe_code)]
    // SAFETY: the files are mapped read-only; Anneal never writes a checkpoint it has loaded
    // (training writes new files and renames them into place).
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(files, dtype, device)? };
    Ok(vb)
}

fn check_safetensors_header(mut file: std::fs::File, path: &Path) -> Result<()> {
    use std::io::Read;
    let len = file.metadata()?.len();
    let mut n = [0u8; 8];
    file.read_exact(&mut n).with_context(|| format!("{} is too short to be safetensors", path.display()))?;
    let header = u64::from_le_bytes(n);
    if header > len.saturating_sub(8) || header > 100 << 20 {
        bail!("{} is not a valid safetensors file (header of {header} bytes in a {len}-byte file)", path.display());
    }
    let mut buf = vec![0u8; header as usize];
    file.read_exact(&mut buf)?;
    let json: serde_json::Value = serde_json::from_slice(&buf)
        .with_context(|| format!("{} has a corrupt safetensors header", path.display()))?;
    let mut end = 0u64;
    for (name, info) in json.as_object().into_iter().flatten() {
        if name == "__metadata__" {
            continue;
        }
        if let Some(off) = info["data_offsets"].as_array().and_then(|a| a.get(1)).and_then(|v| v.as_u64()) {
            end = end.max(off);
        }
    }
    if 8 + header + end > len {
        bail!("{} is truncated: it holds {len} bytes but its tensors need {}", path.display(), 8 + header + end);
    }
    Ok(())
}
