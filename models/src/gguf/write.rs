//! `anneal model quantize`: a safetensors checkpoint written as one GGUF file in llama.cpp's
//! layout, streamed. The file's header says every tensor's name, shape, type and offset before
//! any data, and all of that follows from the checkpoint's header alone, so the header is
//! written first and each tensor is quantized and written in turn: memory holds one tensor (a
//! layer's stacked experts at most), never the quantized model.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};

use super::{architecture_of, interleaved_from_halves, llama_cpp_vocabulary, CONFIG_KEY, GGUF_FILE};
use crate::config::{Config, Family};
use crate::precision::Precision;
use crate::transformer::TensorNames;

/// What `anneal model quantize` wrote, for its report.
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
    pub tensors: usize,
    pub quantized: usize,
}

/// GGUF aligns each tensor's data to this many bytes (`general.alignment`).
const ALIGNMENT: usize = 32;
/// The GGUF version written (llama.cpp reads 2 and 3; they differ only for big-endian files).
const VERSION: u32 = 2;

/// One tensor of the file: where its values come from and what it is stored as.
struct Planned {
    gguf: String,
    /// Checkpoint tensors: one, or a layer's experts in order (stacked on a first axis).
    sources: Vec<String>,
    /// Candle's order (llama.cpp's reversed): `[outputs, inputs]`, `[experts, outputs, inputs]`.
    shape: Vec<usize>,
    dtype: GgmlDType,
}

impl Planned {
    fn bytes(&self) -> usize {
        self.shape.iter().product::<usize>() / self.dtype.block_size() * self.dtype.type_size()
    }
}

/// Writes the checkpoint in `dir` (safetensors) to `out/model.gguf` at `precision`, with
/// `config.json`, the tokenizer and the chat template copied beside it. Tensors are quantized
/// one at a time from the memory-mapped files and written as they are made. The embedding keeps
/// the checkpoint's float type, norms, biases and routers are f32, linear layers take the block
/// types quantize-on-load picks: the file loads to the same model, and llama.cpp runs it too
/// (Dream and LLaDA; the other families are in llama.cpp's layout, under architectures only
/// Anneal reads).
pub fn quantize_checkpoint(dir: &Path, out: &Path, precision: Precision, progress: &mut dyn FnMut(usize, usize)) -> Result<Written> {
    if !precision.is_quantized() {
        bail!("`{precision}` is not a quantized dtype (q8_0, q4k)");
    }
    let config = crate::checkpoint::read_config(dir)?;
    let family = config.family()?;
    let files = crate::checkpoint::weight_files(dir)?;
    crate::checkpoint::stored_dtypes(&files)?;
    #[allow(unsafe_code)]
    // SAFETY: read-only maps of files this command does not write (it writes `out`, checked
    // below to be another folder).
    let tensors = unsafe { MmapedSafetensors::multi(&files)? };
    if out.canonicalize().ok().is_some_and(|o| dir.canonicalize().is_ok_and(|d| d == o)) {
        bail!("the output folder must differ from the checkpoint's");
    }
    let planned = plan(&tensors, &config, precision).with_context(|| format!("in {}", dir.display()))?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut metadata = metadata(&config, precision);
    // The tokenizer travels inside the file too, so the file alone is the model.
    let tokenizer_file = dir.join(crate::checkpoint::TOKENIZER_FILE);
    let tokenizer = std::fs::read_to_string(&tokenizer_file).with_context(|| format!("cannot read {}", tokenizer_file.display()))?;
    metadata.extend(llama_cpp_vocabulary(&tokenizer, config.vocab_size)?);
    metadata.push(("tokenizer.huggingface.json".into(), Value::String(tokenizer)));
    // And the chat template, under the key llama.cpp reads, so an instruct model stays one.
    if let Some(template) = crate::prompt::ChatTemplate::from_dir(dir)? {
        metadata.push(("tokenizer.chat_template".into(), Value::String(template.source().to_string())));
    }
    // Written under a temporary name and renamed: an interrupted run leaves no half file that
    // a later load would take for the model.
    let path = out.join(GGUF_FILE);
    let partial = out.join(format!("{GGUF_FILE}.partial"));
    {
        let mut w = BufWriter::new(File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?);
        write_header(&mut w, &metadata, &planned)?;
        for (i, tensor) in planned.iter().enumerate() {
            progress(i, planned.len());
            let data = make(&tensors, tensor, &config, family)?;
            if data.len() != tensor.bytes() {
                bail!("{} came to {} bytes, not the {} planned", tensor.gguf, data.len(), tensor.bytes());
            }
            w.write_all(&data)?;
            w.write_all(&[0u8; ALIGNMENT][..padding(data.len())])?;
        }
        w.flush()?;
    }
    progress(planned.len(), planned.len());
    for extra in [crate::checkpoint::CONFIG_FILE, crate::checkpoint::TOKENIZER_FILE, crate::prompt::TOKENIZER_CONFIG_FILE] {
        if dir.join(extra).is_file() {
            std::fs::copy(dir.join(extra), out.join(extra)).with_context(|| format!("cannot copy {extra}"))?;
        }
    }
    std::fs::rename(&partial, &path)?;
    let quantized = planned.iter().filter(|t| !super::is_float(t.dtype)).count();
    Ok(Written { bytes: std::fs::metadata(&path)?.len(), path, tensors: planned.len(), quantized })
}

/// Every tensor of the file, in name order, from the checkpoint's header alone.
fn plan(tensors: &MmapedSafetensors, config: &Config, precision: Precision) -> Result<Vec<Planned>> {
    let family = config.family()?;
    let names = TensorNames::of(family);
    let mut slots: Vec<(String, Option<usize>, String)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, _)| match names.gguf_slot(&name) {
            Some((gguf, expert)) => Ok((gguf, expert, name)),
            None => bail!("tensor {name} is not one of a {family:?} model's"),
        })
        .collect::<Result<_>>()?;
    slots.sort();
    let (lm_head, _) = names.gguf_slot(&format!("{}.weight", names.lm_head_name())).unwrap_or_default();
    let mut planned: Vec<Planned> = vec![];
    for group in slots.chunk_by(|a, b| a.0 == b.0) {
        let gguf = group[0].0.clone();
        let experts: Vec<Option<usize>> = group.iter().map(|(_, expert, _)| *expert).collect();
        let stacked = experts.iter().all(Option::is_some);
        if (!stacked && group.len() > 1) || (stacked && experts.iter().enumerate().any(|(i, e)| *e != Some(i))) {
            bail!("{gguf}: the checkpoint's experts are not 0..{} each once", group.len());
        }
        let view = tensors.get(&group[0].2)?;
        let (shape, stored) = (view.shape().to_vec(), DType::try_from(view.dtype())?);
        // A mixture's router is a matrix under `blk.` that stays f32, as the model runs it.
        let router = gguf.contains(".ffn_gate_inp.");
        let blocks = match shape[..] {
            [_, inputs] if gguf == lm_head => precision.output_blocks(inputs),
            [_, inputs] if gguf.starts_with("blk.") && !router => precision.linear_blocks(inputs),
            _ => None,
        };
        // Matrices left in floats keep the checkpoint's type; vectors (norms, biases) and
        // routers are f32, as llama.cpp's kernels want them.
        let float = match (stored, shape.len(), router) {
            (DType::BF16, 2, false) => GgmlDType::BF16,
            (DType::F16, 2, false) => GgmlDType::F16,
            _ => GgmlDType::F32,
        };
        let sources: Vec<String> = group.iter().map(|(_, _, name)| name.clone()).collect();
        let full_shape = if stacked { [vec![group.len()], shape.clone()].concat() } else { shape.clone() };
        // A tied output layer is quantized from the embedding too, so that a load does not
        // spend seconds on it (the embedding is the largest matrix of a small model).
        if config.tie_word_embeddings && gguf == "token_embd.weight" {
            if let Some(t) = precision.output_blocks(shape[1]) {
                planned.push(Planned { gguf: lm_head.clone(), sources: sources.clone(), shape: shape.clone(), dtype: t });
            }
        }
        planned.push(Planned { gguf, sources, shape: full_shape, dtype: blocks.unwrap_or(float) });
    }
    planned.sort_by(|a, b| a.gguf.cmp(&b.gguf));
    for tensor in &planned {
        if tensor.shape.last().is_none_or(|&inputs| !inputs.is_multiple_of(tensor.dtype.block_size())) {
            bail!("{}: shape {:?} does not divide into {:?} blocks", tensor.gguf, tensor.shape, tensor.dtype);
        }
    }
    Ok(planned)
}

/// The bytes of one planned tensor: each source read, put in llama.cpp's row order, and
/// quantized or converted.
fn make(tensors: &MmapedSafetensors, tensor: &Planned, config: &Config, family: Family) -> Result<Vec<u8>> {
    let mut data = Vec::with_capacity(tensor.bytes());
    for source in &tensor.sources {
        let view = tensors.load(source, &Device::Cpu)?;
        let view = match (family, tensor.gguf.rsplit('.').nth(1)) {
            (Family::Llada, Some("attn_q")) => interleave(&view, config.num_attention_heads)?,
            (Family::Llada, Some("attn_k")) => interleave(&view, config.num_key_value_heads)?,
            _ => view,
        };
        let view = if super::is_float(tensor.dtype) { view } else { view.to_dtype(DType::F32)? };
        data.extend_from_slice(&QTensor::quantize(&view, tensor.dtype)?.data()?);
    }
    Ok(data)
}

/// Zero bytes after `len` bytes up to the next multiple of [`ALIGNMENT`].
fn padding(len: usize) -> usize {
    (ALIGNMENT - len % ALIGNMENT) % ALIGNMENT
}

/// The header: magic, version, counts, metadata, then each tensor's name, dimensions
/// (llama.cpp's order: innermost first), type and offset into the aligned data that follows.
fn write_header(w: &mut impl Write, metadata: &[(String, Value)], planned: &[Planned]) -> Result<()> {
    let mut header = vec![];
    header.extend(b"GGUF");
    header.extend(VERSION.to_le_bytes());
    header.extend((planned.len() as u64).to_le_bytes());
    header.extend((metadata.len() as u64).to_le_bytes());
    for (key, value) in metadata {
        write_string(&mut header, key);
        header.extend(value_type(value).to_le_bytes());
        write_value(&mut header, value)?;
    }
    let mut offset = 0;
    for tensor in planned {
        write_string(&mut header, &tensor.gguf);
        header.extend((tensor.shape.len() as u32).to_le_bytes());
        for &dim in tensor.shape.iter().rev() {
            header.extend((dim as u64).to_le_bytes());
        }
        header.extend(ggml_type(tensor.dtype).to_le_bytes());
        header.extend((offset as u64).to_le_bytes());
        offset += tensor.bytes() + padding(tensor.bytes());
    }
    header.resize(header.len() + padding(header.len()), 0);
    w.write_all(&header)?;
    Ok(())
}

/// ggml's type codes (`enum ggml_type` in ggml.h).
fn ggml_type(dtype: GgmlDType) -> u32 {
    match dtype {
        GgmlDType::F32 => 0,
        GgmlDType::F16 => 1,
        GgmlDType::Q4_0 => 2,
        GgmlDType::Q4_1 => 3,
        GgmlDType::Q5_0 => 6,
        GgmlDType::Q5_1 => 7,
        GgmlDType::Q8_0 => 8,
        GgmlDType::Q8_1 => 9,
        GgmlDType::Q2K => 10,
        GgmlDType::Q3K => 11,
        GgmlDType::Q4K => 12,
        GgmlDType::Q5K => 13,
        GgmlDType::Q6K => 14,
        GgmlDType::Q8K => 15,
        GgmlDType::BF16 => 30,
    }
}

fn write_string(out: &mut Vec<u8>, text: &str) {
    out.extend((text.len() as u64).to_le_bytes());
    out.extend(text.as_bytes());
}

/// GGUF's type codes for metadata values.
fn value_type(value: &Value) -> u32 {
    match value {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

fn write_value(out: &mut Vec<u8>, value: &Value) -> Result<()> {
    match value {
        Value::U8(v) => out.push(*v),
        Value::I8(v) => out.extend(v.to_le_bytes()),
        Value::U16(v) => out.extend(v.to_le_bytes()),
        Value::I16(v) => out.extend(v.to_le_bytes()),
        Value::U32(v) => out.extend(v.to_le_bytes()),
        Value::I32(v) => out.extend(v.to_le_bytes()),
        Value::U64(v) => out.extend(v.to_le_bytes()),
        Value::I64(v) => out.extend(v.to_le_bytes()),
        Value::F32(v) => out.extend(v.to_le_bytes()),
        Value::F64(v) => out.extend(v.to_le_bytes()),
        Value::Bool(v) => out.push(u8::from(*v)),
        Value::String(v) => write_string(out, v),
        Value::Array(values) => {
            // Elements carry no type of their own: the array's one type is stated first.
            let element = values.first().map_or(4, value_type);
            if values.iter().any(|v| value_type(v) != element) {
                bail!("a GGUF array holds values of one type");
            }
            out.extend(element.to_le_bytes());
            out.extend((values.len() as u64).to_le_bytes());
            for v in values {
                write_value(out, v)?;
            }
        }
    }
    Ok(())
}

/// llama.cpp's LLaDA layout: each head's rows reordered from rotating halves to rotating
/// interleaved pairs (what its converter does before writing).
fn interleave(weight: &Tensor, heads: usize) -> Result<Tensor> {
    let rows = weight.dim(0)?;
    let index: Vec<u32> = (0..rows).map(|r| interleaved_from_halves(r, rows / heads) as u32).collect();
    Ok(weight.index_select(&Tensor::new(index, weight.device())?, 0)?)
}

/// llama.cpp's metadata keys for the config (those its diffusion runner reads), and Anneal's
/// own for what it alone uses.
fn metadata(config: &Config, precision: Precision) -> Vec<(String, Value)> {
    let arch = architecture_of(config.family().unwrap_or(Family::Anneal));
    let u32_of = |n: usize| Value::U32(n as u32);
    // llama.cpp's file types: 7 is mostly Q8_0, 15 mostly Q4_K (medium).
    let file_type = if precision == Precision::Q8_0 { 7 } else { 15 };
    let mut m: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        ("general.name".into(), Value::String(format!("anneal quantize ({precision})"))),
        ("general.file_type".into(), Value::U32(file_type)),
        ("general.quantization_version".into(), Value::U32(2)),
        ("general.alignment".into(), Value::U32(32)),
    ];
    let keyed: [(&str, Value); 11] = [
        ("vocab_size", u32_of(config.vocab_size)),
        ("context_length", u32_of(config.max_position_embeddings)),
        ("embedding_length", u32_of(config.hidden_size)),
        ("feed_forward_length", u32_of(config.intermediate_size)),
        ("block_count", u32_of(config.num_hidden_layers)),
        ("attention.head_count", u32_of(config.num_attention_heads)),
        ("attention.head_count_kv", u32_of(config.num_key_value_heads)),
        ("attention.layer_norm_rms_epsilon", Value::F32(config.rms_norm_eps as f32)),
        ("attention.causal", Value::Bool(false)),
        ("rope.freq_base", Value::F32(config.rope_theta as f32)),
        ("rope.dimension_count", u32_of(config.head_dim())),
    ];
    m.extend(keyed.into_iter().map(|(k, v)| (format!("{arch}.{k}"), v)));
    // llama.cpp's keys for a head width the hidden size does not imply (Qwen3's).
    if config.head_dim.is_some() {
        m.push((format!("{arch}.attention.key_length"), u32_of(config.head_dim())));
        m.push((format!("{arch}.attention.value_length"), u32_of(config.head_dim())));
    }
    if let Some(block) = config.block_size {
        m.push((format!("{arch}.diffusion.block_size"), u32_of(block)));
    }
    if let Some(moe) = &config.moe {
        m.push((format!("{arch}.expert_count"), u32_of(moe.num_experts)));
        m.push((format!("{arch}.expert_used_count"), u32_of(moe.num_experts_per_tok)));
        m.push((format!("{arch}.expert_feed_forward_length"), u32_of(moe.moe_intermediate_size)));
    }
    m.push(("tokenizer.ggml.mask_token_id".into(), Value::U32(config.mask_token_id)));
    m.push(("tokenizer.ggml.eos_token_id".into(), Value::U32(config.eos_token_id)));
    m.push(("tokenizer.ggml.padding_token_id".into(), Value::U32(config.pad_token_id)));
    m.push(("diffusion.shift_logits".into(), Value::Bool(config.family().is_ok_and(Family::shifts_logits))));
    m.push(("anneal.edit_trained".into(), Value::Bool(config.anneal_edit_trained)));
    // The whole config as Anneal reads it: llama.cpp's keys have no place for what only
    // some families have (LLaDA2's experts, partial rotary positions, output bias).
    m.push((CONFIG_KEY.into(), Value::String(serde_json::to_string(config).expect("a config serializes"))));
    m
}
