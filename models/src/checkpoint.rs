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

use crate::config::{Config, Family};
use crate::precision::Precision;
use crate::tokenizer::{Tokenizer, EOT, MASK, PAD};

pub const CONFIG_FILE: &str = "config.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const WEIGHTS_INDEX_FILE: &str = "model.safetensors.index.json";

pub fn read_config(dir: &Path) -> Result<Config> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = open_dcoder_config(dir, &text).with_context(|| format!("in {}", path.display()))?.unwrap_or(text);
    parse_config(&text).with_context(|| format!("in {}", path.display()))
}

/// The mask token Open-dLLM's training adds to Qwen2.5's tokenizer (id 151665).
const OPEN_DCODER_MASK: &str = "<M>";

/// Open-dCoder keeps the `config.json` of the autoregressive Qwen2.5-Coder it was trained from
/// (`model_type` `qwen2`): only the mask token its training added to the tokenizer says it is
/// a diffusion model, Dream's layout. For such a folder, the config marked as Dream with that
/// mask id; an autoregressive Qwen2 folder is refused with how to mark one; `None` for any
/// other model type.
fn open_dcoder_config(dir: &Path, text: &str) -> Result<Option<String>> {
    let mut json: serde_json::Value = serde_json::from_str(text)?;
    if !json["model_type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("qwen2")) {
        return Ok(None);
    }
    let tokenizer = std::fs::read_to_string(dir.join(TOKENIZER_FILE)).ok();
    let tokenizer: Option<serde_json::Value> = tokenizer.and_then(|t| serde_json::from_str(&t).ok());
    let mask = tokenizer
        .as_ref()
        .and_then(|t| t["added_tokens"].as_array())
        .and_then(|added| added.iter().find(|t| t["content"] == OPEN_DCODER_MASK).and_then(|t| t["id"].as_u64()));
    let Some(mask) = mask.or_else(|| json["mask_token_id"].as_u64()) else {
        bail!(
            "model_type `qwen2` is an autoregressive Qwen2 model, which Anneal does not run. If this folder holds a \
             diffusion model in Dream's layout (as Open-dCoder is), mark it in config.json: \"model_type\": \"Dream\" \
             and its \"mask_token_id\""
        );
    };
    let object = json.as_object_mut().context("config.json is not an object")?;
    object.insert("model_type".into(), "Dream".into());
    object.insert("mask_token_id".into(), mask.into());
    Ok(Some(json.to_string()))
}

pub fn read_config_file(path: &Path) -> Result<Config> {
    let path = path.to_path_buf();
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_config(&text).with_context(|| format!("in {}", path.display()))
}

pub fn parse_config(text: &str) -> Result<Config> {
    let config = Config::from_json(text)?;
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
        let json: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("cannot parse {}", index.display()))?;
        let map = json["weight_map"].as_object().with_context(|| format!("{} has no weight_map", index.display()))?;
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
    let specials = [("mask", MASK, config.mask_token_id), ("pad", PAD, config.pad_token_id), ("eos", EOT, config.eos_token_id)];
    if config.family()? != Family::Anneal {
        // The open families name their specials as they like; the ids must exist.
        for (name, _, id) in specials {
            if tokenizer.hf().id_to_token(id).is_none() {
                bail!("config says {name}_token_id is {id} but the tokenizer has no token with that id");
            }
        }
        return Ok(());
    }
    for (name, token, id) in specials {
        match tokenizer.token_id(token) {
            Some(t) if t == id => {}
            Some(t) => bail!("config says {name}_token_id is {id} but the tokenizer maps {token} to {t}"),
            None => bail!("tokenizer has no {token} token ({name})"),
        }
    }
    Ok(())
}

/// The dtypes the weight files store (`BF16`, `F32`, …), read from their headers.
pub fn stored_dtypes(files: &[PathBuf]) -> Result<Vec<String>> {
    let mut all = vec![];
    for f in files {
        // Read the header now so a truncated or corrupt file is reported by name, not as a
        // shape error three layers later.
        let bytes = std::fs::File::open(f).with_context(|| format!("cannot open {}", f.display()))?;
        for dtype in check_safetensors_header(bytes, f)? {
            if !all.contains(&dtype) {
                all.push(dtype);
            }
        }
    }
    Ok(all)
}

/// Bytes the weights take in memory at `precision`, plus a tenth for activations and caches
/// at editor-sized canvases.
pub fn memory_needed(config: &Config, precision: impl Into<Precision>) -> u64 {
    with_activations(precision.into().weight_bytes(config))
}

/// Weights' bytes plus a tenth for activations and caches at editor-sized canvases.
pub fn with_activations(weights: u64) -> u64 {
    weights + weights / 10
}

/// What the system can give without swapping (`MemAvailable`), where the OS says.
pub fn memory_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Refuses, before a byte of weights is read, a model that will not fit in memory: loading
/// it anyway would swap the machine to a halt next to the user's editor.
pub fn check_fits(config: &Config, precision: impl Into<Precision>, device: &Device) -> Result<()> {
    let precision = precision.into();
    let smaller = match precision {
        Precision::Q4K => "",
        Precision::Q8_0 => "`dtype: q4k`, ",
        _ => "`dtype: q8_0` or `q4k`, ",
    };
    check_bytes_fit(memory_needed(config, precision), precision, smaller, device)
}

/// [`check_fits`] for a model whose weights need `needed` bytes at `precision`; `smaller` is
/// the advice that comes before "a smaller model, or a GPU" (a GGUF file's precision is its
/// own: no `dtype` makes it smaller).
pub fn check_bytes_fit(needed: u64, precision: Precision, smaller: &str, device: &Device) -> Result<()> {
    if !device.is_cpu() {
        return Ok(()); // device memory is reported by the device's own allocator error
    }
    if let Some(available) = memory_available() {
        if needed > available {
            bail!(
                "the model needs about {:.1} GiB as {precision} but only {:.1} GiB of memory is available; try {smaller}a smaller model, or a GPU",
                needed as f64 / GIB,
                available as f64 / GIB
            );
        }
    }
    Ok(())
}

const GIB: f64 = (1u64 << 30) as f64;

/// Memory-maps the weights: a 7B checkpoint must not be copied into RAM before use.
pub fn var_builder(files: &[PathBuf], dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
    stored_dtypes(files)?;
    #[allow(unsafe_code)]
    // SAFETY: the files are mapped read-only; Anneal never writes a checkpoint it has loaded
    // (training writes new files and renames them into place).
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(files, dtype, device)? };
    Ok(vb)
}

/// Checks a safetensors header against the file's length; returns the dtypes it names.
fn check_safetensors_header(mut file: std::fs::File, path: &Path) -> Result<Vec<String>> {
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
    let json: serde_json::Value =
        serde_json::from_slice(&buf).with_context(|| format!("{} has a corrupt safetensors header", path.display()))?;
    let mut end = 0u64;
    let mut dtypes = vec![];
    for (name, info) in json.as_object().into_iter().flatten() {
        if name == "__metadata__" {
            continue;
        }
        if let Some(dtype) = info["dtype"].as_str() {
            if !dtypes.iter().any(|d| d == dtype) {
                dtypes.push(dtype.to_string());
            }
        }
        if let Some(off) = info["data_offsets"].as_array().and_then(|a| a.get(1)).and_then(|v| v.as_u64()) {
            end = end.max(off);
        }
    }
    if 8 + header + end > len {
        bail!("{} is truncated: it holds {len} bytes but its tensors need {}", path.display(), 8 + header + end);
    }
    Ok(dtypes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_larger_than_memory_is_refused_before_loading_with_the_figures() {
        // A 1.1-trillion-parameter shape: no machine this runs on has the memory.
        let mut huge = Config::tiny(152_064, 2, 1, 0);
        (huge.hidden_size, huge.intermediate_size, huge.num_hidden_layers) = (16_384, 65_536, 320);
        let err = check_fits(&huge, DType::BF16, &Device::Cpu).unwrap_err().to_string();
        assert!(err.contains("needs about") && err.contains("GiB as bf16") && err.contains("available"), "{err}");
        // The tiny shape fits, and bf16 needs half of f32.
        let tiny = Config::tiny(256, 2, 1, 0);
        check_fits(&tiny, DType::F32, &Device::Cpu).unwrap();
        let (f32_bytes, bf16_bytes) = (memory_needed(&tiny, DType::F32), memory_needed(&tiny, DType::BF16));
        assert!(f32_bytes > bf16_bytes && f32_bytes.abs_diff(2 * bf16_bytes) <= 2, "{f32_bytes} vs {bf16_bytes}");
    }

    #[test]
    fn the_memory_check_counts_quantized_weights_at_their_size_and_names_a_smaller_dtype() {
        let mut huge = Config::tiny(152_064, 2, 1, 0);
        (huge.hidden_size, huge.intermediate_size, huge.num_hidden_layers) = (16_384, 65_536, 320);
        let err = check_fits(&huge, DType::F32, &Device::Cpu).unwrap_err().to_string();
        assert!(err.contains("GiB as f32") && err.contains("`dtype: q8_0` or `q4k`"), "{err}");
        let err = check_fits(&huge, Precision::Q4K, &Device::Cpu).unwrap_err().to_string();
        assert!(err.contains("GiB as q4k") && !err.contains("`dtype:"), "{err}");
        let (f32_bytes, q8, q4) =
            (memory_needed(&huge, DType::F32), memory_needed(&huge, Precision::Q8_0), memory_needed(&huge, Precision::Q4K));
        // Nearly all of this shape is linear layers: close to 8.5 and 4.5 bits a weight.
        let (r8, r4) = (q8 as f64 / f32_bytes as f64, q4 as f64 / f32_bytes as f64);
        assert!((0.26..0.30).contains(&r8) && (0.14..0.18).contains(&r4), "{r8} {r4}");
    }
}
