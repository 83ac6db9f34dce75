//! GGUF checkpoints: quantized weights as llama.cpp stores them, read without dequantizing.
//!
//! A folder holding one `.gguf` file loads from it: llama.cpp's diffusion conversions of Dream
//! and LLaDA (`convert_hf_to_gguf.py`), and the caches `anneal model quantize` writes in the
//! same layout. Tensor names are llama.cpp's (`blk.N.attn_q.weight`, mapped from each
//! family's own by [`TensorNames::gguf_slot`]; a layer's experts stacked in one tensor each for
//! gate, up and down, as llama.cpp stacks them); the config comes from `config.json` beside the
//! file when there is one, else from the file's metadata; the tokenizer from `tokenizer.json`
//! beside it.
//!
//! llama.cpp rotates LLaDA's queries and keys in interleaved pairs where the checkpoint rotates
//! halves, so its converter permutes the rows of `attn_q` and `attn_k`; this module undoes that
//! on read and does it on write, so that a file means the same to both programs.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use candle_core::quantized::gguf_file::{self, Content, Value};
use candle_core::quantized::{GgmlDType, QStorage, QTensor};
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;

use crate::config::{Config, Family, Moe};
use crate::precision::Precision;
use crate::tokenizer::Tokenizer;
use crate::transformer::TensorNames;

mod write;
pub use write::{quantize_checkpoint, Written};

/// Anneal's metadata key for the whole config, as JSON (`anneal model quantize` writes it).
const CONFIG_KEY: &str = "anneal.config";

/// The file `anneal model quantize` writes.
pub const GGUF_FILE: &str = "model.gguf";

/// The GGUF file of a checkpoint folder, if it has one. Two are an error: which one the user
/// meant cannot be guessed (llama.cpp's split files are not read).
pub fn find(dir: &Path) -> Result<Option<PathBuf>> {
    let Ok(entries) = dir.read_dir() else { return Ok(None) };
    let mut found: Vec<PathBuf> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "gguf") && p.is_file()).collect();
    found.sort();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => bail!(
            "{} holds {} GGUF files ({}); keep one per folder",
            dir.display(),
            found.len(),
            found.iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The architectures Anneal runs, as GGUF's `general.architecture` names them.
fn family_of_architecture(arch: &str) -> Option<Family> {
    match arch {
        "anneal" => Some(Family::Anneal),
        "dream" => Some(Family::Dream),
        "llada" => Some(Family::Llada),
        "sdar" => Some(Family::Sdar),
        "coda" => Some(Family::Coda),
        "llada2" => Some(Family::Llada2),
        "llada-moe" => Some(Family::LladaMoe),
        _ => None,
    }
}

fn architecture_of(family: Family) -> &'static str {
    match family {
        Family::Anneal => "anneal",
        Family::Dream => "dream",
        Family::Llada => "llada",
        Family::Sdar => "sdar",
        Family::Coda => "coda",
        Family::Llada2 => "llada2",
        Family::LladaMoe => "llada-moe",
    }
}

/// An open GGUF file: its header in memory, its tensors read on demand.
pub struct GgufWeights {
    path: PathBuf,
    content: Content,
    file: Mutex<File>,
    family: Family,
    /// Query and key heads, for undoing llama.cpp's LLaDA permutation.
    heads: (usize, usize),
}

impl std::fmt::Debug for GgufWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GgufWeights({})", self.path.display())
    }
}

impl GgufWeights {
    /// Reads the header of `path`; an architecture Anneal does not run is an error that names
    /// it. `config` (from `config.json` beside the file) takes precedence over the metadata.
    pub fn open(path: &Path, config: Option<&Config>) -> Result<GgufWeights> {
        Ok(GgufWeights::open_resolving(path, config.cloned())?.0)
    }

    /// The GGUF `file` of the checkpoint folder `dir` and the config it runs with: the
    /// `config.json` beside the file where there is one, else the file's metadata.
    pub fn open_in(dir: &Path, file: &Path) -> Result<(GgufWeights, Config)> {
        let stated = dir.join(crate::checkpoint::CONFIG_FILE).is_file().then(|| crate::checkpoint::read_config(dir)).transpose()?;
        GgufWeights::open_resolving(file, stated)
    }

    fn open_resolving(path: &Path, config: Option<Config>) -> Result<(GgufWeights, Config)> {
        let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let content = Content::read(&mut file).with_context(|| format!("{} is not a readable GGUF file", path.display()))?;
        let arch = content.metadata.get("general.architecture").and_then(|v| v.to_string().ok()).cloned().unwrap_or_default();
        let Some(family) = family_of_architecture(&arch) else {
            bail!(
                "{} holds a `{arch}` model; Anneal runs the GGUF architectures anneal, dream (Dream, Dream-Coder, DiffuCoder), llada, llada-moe, sdar, coda and llada2",
                path.display()
            )
        };
        let mut weights = GgufWeights { path: path.to_path_buf(), content, file: Mutex::new(file), family, heads: (0, 0) };
        let config = match config {
            Some(c) => c,
            None => weights.config()?,
        };
        if config.family()? != family {
            bail!("{} holds a `{arch}` model but config.json beside it says {:?}", path.display(), config.family()?);
        }
        weights.heads = (config.num_attention_heads, config.num_key_value_heads);
        Ok((weights, config))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn family(&self) -> Family {
        self.family
    }

    fn meta(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    fn arch_u32(&self, key: &str) -> Result<Option<usize>> {
        let key = format!("{}.{key}", architecture_of(self.family));
        self.meta(&key)
            .map(|v| v.to_u32().map(|n| n as usize).with_context(|| format!("{}: {key} is not an integer", self.path.display())))
            .transpose()
    }

    fn arch_f32(&self, key: &str) -> Option<f64> {
        self.meta(&format!("{}.{key}", architecture_of(self.family))).and_then(|v| v.to_f32().ok()).map(f64::from)
    }

    fn token_id(&self, key: &str) -> Option<u32> {
        self.meta(&format!("tokenizer.ggml.{key}")).and_then(|v| v.to_u32().ok())
    }

    /// The config the metadata describes, for a file with no `config.json`: the whole config
    /// where Anneal wrote it, else llama.cpp's keys.
    pub fn config(&self) -> Result<Config> {
        if let Some(json) = self.meta(CONFIG_KEY).and_then(|v| v.to_string().ok()) {
            // Anneal's own fields, as it serializes a config (not a family's config.json).
            let config: Config = serde_json::from_str(json).with_context(|| format!("{CONFIG_KEY} in {}", self.path.display()))?;
            config.validate().with_context(|| format!("{CONFIG_KEY} in {}", self.path.display()))?;
            return Ok(config);
        }
        let need = |key: &str| -> Result<usize> {
            self.arch_u32(key)?.with_context(|| format!("{} has no {}.{key}", self.path.display(), architecture_of(self.family)))
        };
        let heads = need("attention.head_count")?;
        let vocab_size = match self.arch_u32("vocab_size")? {
            Some(n) => n,
            None => self
                .meta("tokenizer.ggml.tokens")
                .and_then(|v| v.to_vec().ok())
                .map(Vec::len)
                .unwrap_or_else(|| self.content.tensor_infos.get("token_embd.weight").map_or(0, |t| t.shape.dims()[0])),
        };
        let eos = self.token_id("eos_token_id").with_context(|| format!("{} has no tokenizer.ggml.eos_token_id", self.path.display()))?;
        let mask = match self.token_id("mask_token_id").or(self.family.default_mask_token_id()) {
            Some(id) => id,
            None => bail!("{} has no tokenizer.ggml.mask_token_id", self.path.display()),
        };
        // llama.cpp's `llada-moe`: every layer's experts, softmax-routed, weights as they come
        // (what its graph runs). Another family's mixture (LLaDA2's grouped sigmoid router and
        // half-turned heads) has no llama.cpp keys to say so: only Anneal's own config does.
        let moe = match self.arch_u32("expert_count")? {
            Some(num_experts) if self.family == Family::LladaMoe => Some(Moe {
                num_experts,
                num_experts_per_tok: need("expert_used_count")?,
                moe_intermediate_size: need("expert_feed_forward_length")?,
                num_shared_experts: 0,
                n_group: 1,
                topk_group: 1,
                routed_scaling_factor: 1.0,
                first_k_dense_replace: 0,
                norm_topk_prob: false,
                softmax_router: true,
            }),
            Some(_) => bail!(
                "{} holds a `{}` mixture of experts without the config Anneal writes ({CONFIG_KEY}); put its config.json beside it",
                self.path.display(),
                architecture_of(self.family)
            ),
            None => None,
        };
        let intermediate_size = match (self.arch_u32("feed_forward_length")?, &moe) {
            (Some(n), _) => n,
            // A converter writes no dense width for a model without dense layers.
            (None, Some(moe)) => moe.moe_intermediate_size,
            (None, None) => need("feed_forward_length")?,
        };
        let config = Config {
            model_type: self.family.model_type().into(),
            architectures: vec![],
            vocab_size,
            hidden_size: need("embedding_length")?,
            intermediate_size,
            num_hidden_layers: need("block_count")?,
            num_attention_heads: heads,
            num_key_value_heads: self.arch_u32("attention.head_count_kv")?.unwrap_or(heads),
            head_dim: self.arch_u32("attention.key_length")?,
            max_position_embeddings: need("context_length")?,
            rope_theta: self.arch_f32("rope.freq_base").unwrap_or(10_000.0),
            rms_norm_eps: self.arch_f32("attention.layer_norm_rms_epsilon").unwrap_or(1e-6),
            tie_word_embeddings: !self.content.tensor_infos.contains_key("output.weight"),
            attention_bias: self.content.tensor_infos.contains_key("blk.0.attn_q.bias"),
            mask_token_id: mask,
            pad_token_id: self.token_id("padding_token_id").unwrap_or(eos),
            eos_token_id: eos,
            block_size: self.arch_u32("diffusion.block_size")?.or(self.family.default_block_size()),
            partial_rotary_factor: None,
            attention_output_bias: false,
            moe,
            anneal_edit_trained: self.meta("anneal.edit_trained").and_then(|v| v.to_bool().ok()).unwrap_or(false),
        };
        config.validate().with_context(|| format!("metadata of {}", self.path.display()))?;
        Ok(config)
    }

    /// The tokenizer the file carries: the whole `tokenizer.json` where Anneal wrote it (the
    /// GGUF spec's `tokenizer.huggingface.json`), else llama.cpp's byte-level BPE vocabulary
    /// (`tokenizer.ggml.model` `gpt2`: tokens, types and merges) with a pre-tokenizer named in
    /// [`pre_tokenizer`]. `None` when it carries none.
    pub fn tokenizer(&self) -> Result<Option<Tokenizer>> {
        if let Some(json) = self.meta("tokenizer.huggingface.json").and_then(|v| v.to_string().ok()) {
            return Tokenizer::from_bytes(json.as_bytes()).map(Some).with_context(|| format!("the tokenizer in {}", self.path.display()));
        }
        let Some(model) = self.meta("tokenizer.ggml.model").and_then(|v| v.to_string().ok()) else { return Ok(None) };
        let strings = |key: &str| -> Result<Vec<String>> {
            let values = self.meta(key).with_context(|| format!("{} has no {key}", self.path.display()))?.to_vec()?;
            Ok(values.iter().map(|v| v.to_string().cloned()).collect::<candle_core::Result<_>>()?)
        };
        if model != "gpt2" {
            bail!(
                "{}: its `{model}` vocabulary is not one Anneal reads (gpt2 only); put the checkpoint's tokenizer.json beside it",
                self.path.display()
            );
        }
        let pre = self.meta("tokenizer.ggml.pre").and_then(|v| v.to_string().ok()).cloned().unwrap_or_default();
        let tokens = strings("tokenizer.ggml.tokens")?;
        let types: Vec<i32> = match self.meta("tokenizer.ggml.token_type") {
            Some(v) => v.to_vec()?.iter().map(Value::to_i32).collect::<candle_core::Result<_>>()?,
            None => vec![NORMAL; tokens.len()],
        };
        let json = byte_level_bpe(&tokens, &types, &strings("tokenizer.ggml.merges")?, &pre)
            .with_context(|| format!("the vocabulary in {}", self.path.display()))?;
        Ok(Some(Tokenizer::from_bytes(json.to_string().as_bytes())?))
    }

    /// The block types the file stores, most weights first (`Q4K, Q6K, F32`).
    /// The chat template the file carries (`tokenizer.chat_template`, as llama.cpp's converter
    /// and `anneal model quantize` write it), with its special tokens spelt by `tokenizer`.
    pub fn chat_template(&self, config: &Config, tokenizer: &Tokenizer) -> Result<Option<crate::prompt::ChatTemplate>> {
        let Some(source) = self.meta("tokenizer.chat_template").and_then(|v| v.to_string().ok()) else { return Ok(None) };
        let spelt = |id: Option<u32>| id.and_then(|id| tokenizer.hf().id_to_token(id)).unwrap_or_default();
        let specials = serde_json::json!({
            "bos_token": spelt(self.token_id("bos_token_id")),
            "eos_token": spelt(Some(config.eos_token_id)),
            "pad_token": spelt(Some(config.pad_token_id)),
        });
        crate::prompt::ChatTemplate::new(source.clone(), &specials)
            .map(Some)
            .with_context(|| format!("{}: its chat template", self.path.display()))
    }

    pub fn stored_types(&self) -> Vec<GgmlDType> {
        let mut counts: Vec<(GgmlDType, usize)> = vec![];
        for info in self.content.tensor_infos.values() {
            match counts.iter_mut().find(|(t, _)| *t == info.ggml_dtype) {
                Some((_, n)) => *n += info.shape.elem_count(),
                None => counts.push((info.ggml_dtype, info.shape.elem_count())),
            }
        }
        counts.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        counts.into_iter().map(|(t, _)| t).collect()
    }

    /// The precision the file's layers run at, named as the `dtype` setting names it: q8_0
    /// where most weights are Q8_0, q4k for the 4-bit k-quant mixes (and any other block
    /// type), f32 for a float file (its weights run in f32).
    pub fn precision(&self) -> Precision {
        match self.stored_types().into_iter().find(|&t| !is_float(t)) {
            None => Precision::F32,
            Some(GgmlDType::Q8_0) => Precision::Q8_0,
            Some(_) => Precision::Q4K,
        }
    }

    /// Bytes the weights take once loaded: as stored, except the token embedding, which is
    /// expanded to an f16 table (the output layer reads the stored blocks when it is tied to it).
    pub fn memory_needed(&self) -> u64 {
        let bytes = |t: &gguf_file::TensorInfo| (t.shape.elem_count() / t.ggml_dtype.block_size() * t.ggml_dtype.type_size()) as u64;
        let stored: u64 = self.content.tensor_infos.values().map(bytes).sum();
        let embedding = self.content.tensor_infos.get("token_embd.weight").map_or(0, |t| 2 * t.shape.elem_count() as u64);
        crate::checkpoint::with_activations(stored + embedding)
    }

    /// Rows of `name` are stored interleaved (llama.cpp's LLaDA queries and keys): the heads
    /// of that tensor, else `None`.
    fn interleaved_heads(&self, name: &str) -> Option<usize> {
        if self.family != Family::Llada {
            return None;
        }
        let base = name.strip_suffix(".weight").or_else(|| name.strip_suffix(".bias"))?;
        match base.rsplit('.').next()? {
            "attn_q" => Some(self.heads.0),
            "attn_k" => Some(self.heads.1),
            _ => None,
        }
    }

    /// The tensor `name` (a GGUF name) as stored, rows in the checkpoint's order.
    fn read(&self, name: &str, device: &Device) -> Result<QTensor> {
        let info = self.content.tensor_infos.get(name).with_context(|| format!("{} has no tensor {name}", self.path.display()))?;
        let tensor = {
            let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
            info.read(&mut *file, self.content.tensor_data_offset, &Device::Cpu)
                .with_context(|| format!("cannot read {name} from {}", self.path.display()))?
        };
        let tensor = match self.interleaved_heads(name) {
            Some(heads) => permute_rows(&tensor, heads, halves_from_interleaved)?,
            None => tensor,
        };
        if device.is_cpu() {
            return Ok(tensor);
        }
        let storage = QStorage::from_data(tensor.data()?, device, tensor.dtype())?;
        Ok(QTensor::new(storage, tensor.shape().clone())?)
    }

    /// The blocks of expert `expert` of the stacked `[experts, outputs, inputs]` tensor `name`
    /// (a GGUF name): its bytes alone are read.
    fn read_expert(&self, name: &str, expert: usize, device: &Device) -> Result<QTensor> {
        let info = self.content.tensor_infos.get(name).with_context(|| format!("{} has no tensor {name}", self.path.display()))?;
        let &[experts, outputs, inputs] = info.shape.dims() else {
            bail!("{}: {name} has shape {:?}, not [experts, outputs, inputs]", self.path.display(), info.shape)
        };
        if expert >= experts {
            bail!("{}: {name} stacks {experts} experts, not expert {expert}", self.path.display());
        }
        let dtype = info.ggml_dtype;
        let bytes = outputs * inputs / dtype.block_size() * dtype.type_size();
        let mut data = vec![0u8; bytes];
        {
            let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
            file.seek(SeekFrom::Start(self.content.tensor_data_offset + info.offset + (expert * bytes) as u64))?;
            file.read_exact(&mut data).with_context(|| format!("cannot read {name} from {}", self.path.display()))?;
        }
        Ok(QTensor::new(QStorage::from_data(data.into(), device, dtype)?, (outputs, inputs))?)
    }

    /// The GGML blocks of the linear weight a family's checkpoint names `name`, when the file
    /// stores it quantized; `None` when it stores floats (which load through the
    /// [`SimpleBackend`]) or lacks it (a tied output layer).
    pub fn blocks(&self, name: &str, device: &Device) -> Result<Option<QTensor>> {
        let Some((gguf, expert)) = TensorNames::of(self.family).gguf_slot(name) else { return Ok(None) };
        match self.content.tensor_infos.get(&gguf) {
            Some(info) if !is_float(info.ggml_dtype) => Ok(Some(self.read_slot(&gguf, expert, device)?)),
            _ => Ok(None),
        }
    }

    fn float(&self, name: &str, dtype: DType, device: &Device) -> Result<Tensor> {
        let (gguf, expert) = TensorNames::of(self.family).gguf_slot(name).with_context(|| format!("no GGUF name for {name}"))?;
        Ok(self.read_slot(&gguf, expert, device)?.dequantize(device)?.to_dtype(dtype)?)
    }

    /// The tensor `gguf`, or one expert of it where it stacks a layer's experts.
    fn read_slot(&self, gguf: &str, expert: Option<usize>, device: &Device) -> Result<QTensor> {
        match expert {
            Some(expert) => self.read_expert(gguf, expert, device),
            None => self.read(gguf, device),
        }
    }
}

/// The floats of a GGUF file (embedding, norms, biases) for a `VarBuilder`, under the
/// family's own tensor names.
pub struct Floats(pub Arc<GgufWeights>);

impl SimpleBackend for Floats {
    fn get(&self, shape: Shape, name: &str, _: candle_nn::Init, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let tensor = self.get_unchecked(name, dtype, dev)?;
        if tensor.shape() != &shape {
            candle_core::bail!("{name} in {} has shape {:?}, the config implies {shape:?}", self.0.path.display(), tensor.shape())
        }
        Ok(tensor)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.0.float(name, dtype, dev).map_err(candle_core::Error::wrap)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        TensorNames::of(self.0.family).gguf_slot(name).is_some_and(|(g, _)| self.0.content.tensor_infos.contains_key(&g))
    }
}

/// llama.cpp's token types (`llama_token_type`).
const NORMAL: i32 = 1;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;
const UNUSED: i32 = 5;

/// Float types a GGUF stores unquantized (loaded as floats, not GGML blocks).
fn is_float(t: GgmlDType) -> bool {
    matches!(t, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16)
}

/// The pre-tokenizer split a llama.cpp `tokenizer.ggml.pre` name stands for: the regular
/// expression of the Hugging Face tokenizer it was detected from, and whether that tokenizer
/// normalizes to NFC first.
fn pre_tokenizer(pre: &str) -> Option<(&'static str, bool)> {
    match pre {
        // Qwen2 and 2.5 (Dream, Dream-Coder, DiffuCoder, Open-dCoder).
        "qwen2" => {
            Some((r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+", true))
        }
        _ => None,
    }
}

/// A `tokenizer.json` for a byte-level BPE vocabulary as llama.cpp stores one: normal tokens
/// form the BPE vocabulary, control and user-defined tokens are added tokens (control ones
/// special), unused ones (llama.cpp's `[PAD…]` fillers) are left out.
fn byte_level_bpe(tokens: &[String], types: &[i32], merges: &[String], pre: &str) -> Result<serde_json::Value> {
    use serde_json::json;
    let Some((pattern, nfc)) = pre_tokenizer(pre) else {
        bail!("its pre-tokenizer `{pre}` is not one Anneal knows (qwen2); put the checkpoint's tokenizer.json beside it")
    };
    if types.len() != tokens.len() {
        bail!("{} tokens but {} token types", tokens.len(), types.len());
    }
    let mut vocab = serde_json::Map::new();
    let mut added = vec![];
    for (id, (token, &kind)) in tokens.iter().zip(types).enumerate() {
        match kind {
            NORMAL => {
                vocab.insert(token.clone(), id.into());
            }
            CONTROL | USER_DEFINED => added.push(json!({
                "id": id, "content": token, "single_word": false, "lstrip": false, "rstrip": false,
                "normalized": kind == USER_DEFINED, "special": kind == CONTROL,
            })),
            _ => {}
        }
    }
    let merges: Vec<serde_json::Value> = merges
        .iter()
        .map(|m| m.split_once(' ').map(|(a, b)| json!([a, b])).with_context(|| format!("merge `{m}` is not two tokens")))
        .collect::<Result<_>>()?;
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false});
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": if nfc { json!({"type": "NFC"}) } else { serde_json::Value::Null },
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false},
            byte_level,
        ]},
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "", "end_of_word_suffix": "",
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": false, "vocab": vocab, "merges": merges,
        },
    }))
}

/// llama.cpp's vocabulary keys for a byte-level BPE `tokenizer.json` whose pre-tokenizer
/// llama.cpp knows by name ([`pre_tokenizer`]), so that llama.cpp runs the file too; none for
/// another tokenizer (Anneal reads the embedded JSON either way). The inverse of
/// [`byte_level_bpe`]: `rows` ids, the gaps filled with unused `[PAD…]` tokens.
fn llama_cpp_vocabulary(tokenizer_json: &str, rows: usize) -> Result<Vec<(String, Value)>> {
    let json: serde_json::Value = serde_json::from_str(tokenizer_json).context("tokenizer.json")?;
    let pattern = json["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"].as_str().unwrap_or_default();
    let Some(pre) = ["qwen2"].into_iter().find(|name| pre_tokenizer(name).is_some_and(|(p, _)| p == pattern)) else {
        return Ok(vec![]);
    };
    let (Some(vocab), Some(merges)) = (json["model"]["vocab"].as_object(), json["model"]["merges"].as_array()) else {
        return Ok(vec![]);
    };
    let mut tokens = vec![String::new(); rows];
    let mut types = vec![UNUSED; rows];
    let mut place = |id: Option<u64>, token: &str, kind: i32| -> Result<()> {
        let id = id.context("a token without an id")? as usize;
        if id >= rows {
            bail!("token {token:?} has id {id}, past the embedding's {rows} rows");
        }
        (tokens[id], types[id]) = (token.to_string(), kind);
        Ok(())
    };
    for (token, id) in vocab {
        place(id.as_u64(), token, NORMAL)?;
    }
    for added in json["added_tokens"].as_array().into_iter().flatten() {
        let kind = if added["special"].as_bool() == Some(true) { CONTROL } else { USER_DEFINED };
        place(added["id"].as_u64(), added["content"].as_str().unwrap_or_default(), kind)?;
    }
    for (id, token) in tokens.iter_mut().enumerate().filter(|(_, t)| t.is_empty()) {
        *token = format!("[PAD{id}]");
    }
    let merges = merges
        .iter()
        .map(|m| match (m.as_str(), m[0].as_str(), m[1].as_str()) {
            (Some(joined), _, _) => Ok(Value::String(joined.to_string())),
            (None, Some(a), Some(b)) => Ok(Value::String(format!("{a} {b}"))),
            _ => bail!("merge {m} is neither \"a b\" nor [a, b]"),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(vec![
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String(pre.into())),
        ("tokenizer.ggml.tokens".into(), Value::Array(tokens.into_iter().map(Value::String).collect())),
        ("tokenizer.ggml.token_type".into(), Value::Array(types.into_iter().map(Value::I32).collect())),
        ("tokenizer.ggml.merges".into(), Value::Array(merges)),
    ])
}

/// Row `r` of the checkpoint (rotating halves of each head) is row `halves_from_interleaved(r)`
/// of llama.cpp's file (rotating interleaved pairs).
fn halves_from_interleaved(row: usize, head_dim: usize) -> usize {
    let (head, r) = (row / head_dim, row % head_dim);
    let (pair, half) = (r % (head_dim / 2), r / (head_dim / 2));
    head * head_dim + 2 * pair + half
}

/// The inverse: row `r` of llama.cpp's file is row `interleaved_from_halves(r)` of the checkpoint.
fn interleaved_from_halves(row: usize, head_dim: usize) -> usize {
    let (head, r) = (row / head_dim, row % head_dim);
    head * head_dim + (r % 2) * (head_dim / 2) + r / 2
}

/// Rows reordered: row `r` of the result is row `source(r, head_dim)` of `tensor`. Rows are whole
/// blocks in every GGML type (blocks run along a row), so quantized data moves as bytes.
fn permute_rows(tensor: &QTensor, heads: usize, source: fn(usize, usize) -> usize) -> Result<QTensor> {
    let rows = tensor.shape().dims()[0];
    if heads == 0 || !rows.is_multiple_of(heads) || !(rows / heads).is_multiple_of(2) {
        bail!("cannot undo the interleaving of {rows} rows in {heads} heads");
    }
    let head_dim = rows / heads;
    let data = tensor.data()?;
    let row_bytes = data.len() / rows;
    let mut out = Vec::with_capacity(data.len());
    for r in 0..rows {
        let from = source(r, head_dim);
        out.extend_from_slice(&data[from * row_bytes..(from + 1) * row_bytes]);
    }
    let storage = QStorage::from_data(std::borrow::Cow::Owned(out), &Device::Cpu, tensor.dtype())?;
    Ok(QTensor::new(storage, tensor.shape().clone())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_llada_row_orders_are_inverse_and_match_llama_cpps_permute() {
        // llama.cpp: w.reshape(heads, 2, d/2, …).swapaxes(1, 2): file row h·d + 2i + j holds
        // checkpoint row h·d + j·d/2 + i.
        let d = 8;
        for h in 0..3 {
            for i in 0..d / 2 {
                for j in 0..2 {
                    let (file, checkpoint) = (h * d + 2 * i + j, h * d + j * d / 2 + i);
                    assert_eq!(interleaved_from_halves(file, d), checkpoint);
                    assert_eq!(halves_from_interleaved(checkpoint, d), file);
                }
            }
        }
    }

    #[test]
    fn quantized_rows_move_as_whole_blocks() {
        let rows: Vec<f32> = (0..4 * 64).map(|i| (i / 64) as f32 + (i % 64) as f32 / 1000.0).collect();
        let t = Tensor::from_vec(rows, (4, 64), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&t, GgmlDType::Q8_0).unwrap();
        let moved = permute_rows(&q, 1, halves_from_interleaved).unwrap().dequantize(&Device::Cpu).unwrap();
        let back = permute_rows(&QTensor::quantize(&moved, GgmlDType::Q8_0).unwrap(), 1, interleaved_from_halves).unwrap();
        let first = |t: &Tensor| t.to_vec2::<f32>().unwrap().iter().map(|r| r[0].round() as i32).collect::<Vec<_>>();
        assert_eq!(first(&moved), [0, 2, 1, 3]);
        assert_eq!(first(&back.dequantize(&Device::Cpu).unwrap()), [0, 1, 2, 3]);
    }
}
