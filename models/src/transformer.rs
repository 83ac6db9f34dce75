//! The transformer body every family shares: Qwen2-style (RMSNorm, rotary positions,
//! grouped-query attention, SwiGLU), with bidirectional attention — a diffusion model sees
//! the whole canvas at every step, so there is no causal mask.
//!
//! Layout follows candle-transformers' qwen2.rs: small blocks with `new(cfg, vb)` and
//! `forward`, then the model. Tensor names match Hugging Face Qwen2 checkpoints, or LLaDA's
//! OLMo names for that family ([`TensorNames`]).
//!
//! `Mode::Train` swaps candle's fused norm/rope/softmax kernels (which have no backward pass
//! and would silently stop gradients) for the same maths written in differentiable ops.

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor, D};
use candle_nn::{linear_b, Linear, VarBuilder};

use crate::config::{Config, Family};
use crate::gguf::GgufWeights;
use crate::precision::Precision;

mod compact;
mod moe;
mod tiled;
pub use moe::parameters as moe_parameters;

/// Where each weight lives in a family's checkpoint. The maths is the same; only the names
/// differ (Qwen2's for `anneal` and `dream`, OLMo's for `llada`).
#[derive(Debug, Clone, Copy)]
pub struct TensorNames {
    embed: &'static str,
    layers: &'static str,
    /// One projection to queries, keys and values, rows in that order (LLaDA2's); `None`:
    /// three, named `q`, `k` and `v`.
    qkv: Option<&'static str>,
    q: &'static str,
    k: &'static str,
    v: &'static str,
    o: &'static str,
    /// Qwen3's per-head query and key norms; families without them never read these.
    q_norm: &'static str,
    k_norm: &'static str,
    gate: &'static str,
    up: &'static str,
    down: &'static str,
    attn_norm: &'static str,
    mlp_norm: &'static str,
    final_norm: &'static str,
    lm_head: &'static str,
    /// Whether layers hold LLaDA2's mixture of experts under `mlp` (`gate`, `experts.N`,
    /// `shared_experts`).
    experts: bool,
}

impl TensorNames {
    pub const QWEN2: TensorNames = TensorNames {
        embed: "model.embed_tokens",
        layers: "model.layers",
        qkv: None,
        q: "self_attn.q_proj",
        k: "self_attn.k_proj",
        v: "self_attn.v_proj",
        o: "self_attn.o_proj",
        q_norm: "self_attn.q_norm",
        k_norm: "self_attn.k_norm",
        gate: "mlp.gate_proj",
        up: "mlp.up_proj",
        down: "mlp.down_proj",
        attn_norm: "input_layernorm",
        mlp_norm: "post_attention_layernorm",
        final_norm: "model.norm",
        lm_head: "lm_head",
        experts: false,
    };

    /// LLaDA (`modeling_llada.py`, `LLaDALlamaBlock`): `ff_proj` is the gate, `ff_out` the
    /// down projection, and the model's own `ff_out` the output head.
    pub const LLADA: TensorNames = TensorNames {
        embed: "model.transformer.wte",
        layers: "model.transformer.blocks",
        qkv: None,
        q: "q_proj",
        k: "k_proj",
        v: "v_proj",
        o: "attn_out",
        q_norm: "q_norm",
        k_norm: "k_norm",
        gate: "ff_proj",
        up: "up_proj",
        down: "ff_out",
        attn_norm: "attn_norm",
        mlp_norm: "ff_norm",
        final_norm: "model.transformer.ln_f",
        lm_head: "model.transformer.ff_out",
        experts: false,
    };

    /// LLaDA2 (`modeling_llada2_moe.py`): `attention.query_key_value` fused, `attention.dense`
    /// the output; the MoE layers' router and experts sit under `mlp` ([`MoeNames`]).
    pub const LLADA2: TensorNames = TensorNames {
        embed: "model.word_embeddings",
        layers: "model.layers",
        qkv: Some("attention.query_key_value"),
        q: "attention.q",
        k: "attention.k",
        v: "attention.v",
        o: "attention.dense",
        q_norm: "attention.query_layernorm",
        k_norm: "attention.key_layernorm",
        gate: "mlp.gate_proj",
        up: "mlp.up_proj",
        down: "mlp.down_proj",
        attn_norm: "input_layernorm",
        mlp_norm: "post_attention_layernorm",
        final_norm: "model.norm",
        lm_head: "lm_head",
        experts: true,
    };

    pub fn of(family: Family) -> TensorNames {
        match family {
            // Qwen3 names its tensors as Qwen2 does, plus the query and key norms.
            Family::Anneal | Family::Dream | Family::Sdar | Family::Coda => TensorNames::QWEN2,
            Family::Llada => TensorNames::LLADA,
            Family::Llada2 => TensorNames::LLADA2,
            Family::LladaMoe => TensorNames { experts: true, ..TensorNames::QWEN2 },
        }
    }

    /// The output layer's name (without `.weight`).
    pub fn lm_head_name(&self) -> &'static str {
        self.lm_head
    }

    /// Where llama.cpp's GGUF layout keeps the tensor this family's checkpoints name `name`:
    /// its GGUF name (`model.layers.3.self_attn.q_proj.weight` is `blk.3.attn_q.weight`) and,
    /// for an expert of a mixture, its index in the tensor that stacks the layer's experts as
    /// llama.cpp stacks them (`model.layers.3.mlp.experts.17.gate_proj.weight` is expert 17 of
    /// `blk.3.ffn_gate_exps.weight`). `None` for a tensor the model does not have.
    pub fn gguf_slot(&self, name: &str) -> Option<(String, Option<usize>)> {
        let (base, suffix) = name.rsplit_once('.')?;
        let whole = [(self.embed, "token_embd"), (self.final_norm, "output_norm"), (self.lm_head, "output")];
        if let Some((_, gguf)) = whole.iter().find(|(own, _)| *own == base) {
            return Some((format!("{gguf}.{suffix}"), None));
        }
        let (layer, role) = base.strip_prefix(self.layers)?.strip_prefix('.')?.split_once('.')?;
        let layer: usize = layer.parse().ok()?;
        let projection = |name: &str| match name {
            "gate_proj" => Some("gate"),
            "up_proj" => Some("up"),
            "down_proj" => Some("down"),
            _ => None,
        };
        if self.experts {
            if let Some((expert, name)) = role.strip_prefix("mlp.experts.").and_then(|rest| rest.split_once('.')) {
                return Some((format!("blk.{layer}.ffn_{}_exps.{suffix}", projection(name)?), Some(expert.parse().ok()?)));
            }
            if let Some(name) = role.strip_prefix("mlp.shared_experts.") {
                return Some((format!("blk.{layer}.ffn_{}_shexp.{suffix}", projection(name)?), None));
            }
            match (role, suffix) {
                ("mlp.gate", "weight") => return Some((format!("blk.{layer}.ffn_gate_inp.weight"), None)),
                ("mlp.gate", "expert_bias") => return Some((format!("blk.{layer}.exp_probs_b.bias"), None)),
                _ => {}
            }
        }
        if self.qkv == Some(role) {
            return Some((format!("blk.{layer}.attn_qkv.{suffix}"), None));
        }
        let roles = [
            (self.q, "attn_q"),
            (self.k, "attn_k"),
            (self.v, "attn_v"),
            (self.o, "attn_output"),
            (self.q_norm, "attn_q_norm"),
            (self.k_norm, "attn_k_norm"),
            (self.gate, "ffn_gate"),
            (self.up, "ffn_up"),
            (self.down, "ffn_down"),
            (self.attn_norm, "attn_norm"),
            (self.mlp_norm, "ffn_norm"),
        ];
        let (_, gguf) = roles.iter().find(|(own, _)| *own == role)?;
        Some((format!("blk.{layer}.{gguf}.{suffix}"), None))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Fused kernels, no gradients.
    Infer,
    /// Differentiable ops everywhere.
    Train,
}

#[derive(Debug, Clone)]
struct RmsNorm {
    weight: Tensor,
    eps: f64,
    mode: Mode,
}

impl RmsNorm {
    fn new(size: usize, eps: f64, mode: Mode, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get_with_hints(size, "weight", candle_nn::Init::Const(1.0))?;
        Ok(Self { weight, eps, mode })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self.mode {
            Mode::Infer => candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps as f32),
            Mode::Train => candle_nn::ops::rms_norm_slow(x, &self.weight, self.eps as f32),
        }
    }
}

/// Rotary tables are kept for at most this many positions: Dream declares 131,072, whose
/// tables would take 64 MB for canvases an editor never sends.
const MAX_POSITIONS_KEPT: usize = 32_768;

fn positions_kept(cfg: &Config) -> usize {
    cfg.max_position_embeddings.min(MAX_POSITIONS_KEPT)
}

#[derive(Debug, Clone)]
struct RotaryEmbedding {
    cos: Tensor,
    sin: Tensor,
}

impl RotaryEmbedding {
    fn new(cfg: &Config, dev: &Device) -> Result<Self> {
        let dim = cfg.rotary_dim();
        let inv_freq: Vec<f32> = (0..dim).step_by(2).map(|i| 1f32 / cfg.rope_theta.powf(i as f64 / dim as f64) as f32).collect();
        let inv_freq = Tensor::from_vec(inv_freq, (1, dim / 2), dev)?;
        let len = positions_kept(cfg);
        let positions = Tensor::arange(0u32, len as u32, dev)?.to_dtype(DType::F32)?.reshape((len, 1))?;
        let freqs = positions.matmul(&inv_freq)?;
        Ok(Self { cos: freqs.cos()?, sin: freqs.sin()? })
    }

    /// `x`: [batch, heads, len, head_dim]; positions `offset..offset+len`. A partial rotary
    /// table turns the head's first dimensions and passes the rest (LLaDA2's `q_pass`).
    fn apply(&self, x: &Tensor, offset: usize, mode: Mode) -> Result<Tensor> {
        let len = x.dim(2)?;
        let cos = self.cos.narrow(0, offset, len)?.to_dtype(x.dtype())?;
        let sin = self.sin.narrow(0, offset, len)?.to_dtype(x.dtype())?;
        let (turned, head) = (2 * cos.dim(1)?, x.dim(3)?);
        let rope = |x: &Tensor| match mode {
            Mode::Infer => candle_nn::rotary_emb::rope(&x.contiguous()?, &cos, &sin),
            Mode::Train => candle_nn::rotary_emb::rope_slow(x, &cos, &sin),
        };
        if turned == head {
            return rope(x);
        }
        Tensor::cat(&[rope(&x.narrow(3, 0, turned)?)?, x.narrow(3, turned, head - turned)?.contiguous()?], 3)
    }
}

/// A linear layer: float weights, or GGML blocks that multiply without being dequantized.
#[derive(Debug, Clone)]
enum Proj {
    Float(Linear),
    Blocks {
        weight: QMatMul,
        bias: Option<Tensor>,
    },
    /// GGML blocks multiplied as stored, never repacked ([`compact`]): an expert's.
    Compact {
        weight: Arc<QTensor>,
        bias: Option<Tensor>,
    },
    /// GGML blocks of 32 laid out in tiles, multiplied by the kernel's form for this CPU
    /// ([`tiled`]).
    Tiled {
        weight: Arc<tiled::TiledBlocks>,
        bias: Option<Tensor>,
        isa: tiled::Isa,
    },
}

impl Proj {
    /// `blocks`: the block type to quantize the weight to as it loads (the float weight is
    /// dropped at once, so a model never sits in memory in floats); `None` keeps floats.
    fn new(inputs: usize, outputs: usize, bias: bool, blocks: Option<GgmlDType>, vb: VarBuilder) -> Result<Self> {
        let Some(blocks) = blocks else { return Ok(Proj::Float(linear_b(inputs, outputs, bias, vb)?)) };
        let weight = vb.get((outputs, inputs), "weight")?;
        Proj::with_blocks(QTensor::quantize(&weight, blocks)?, bias, vb)
    }

    fn with_blocks(weight: QTensor, bias: bool, vb: VarBuilder) -> Result<Self> {
        let outputs = weight.shape().dims()[0];
        let bias = bias.then(|| vb.get(outputs, "bias")).transpose()?;
        Proj::of_blocks(weight, bias)
    }

    /// Blocks in tiles where this CPU has the tiled kernel for them, else candle's `QMatMul`.
    fn of_blocks(weight: QTensor, bias: Option<Tensor>) -> Result<Self> {
        if let Some(isa) = tiled::isa().filter(|_| weight.device().is_cpu()) {
            if let Some(tiles) = tiled::TiledBlocks::new(&weight)? {
                return Ok(Proj::Tiled { weight: Arc::new(tiles), bias, isa });
            }
        }
        Ok(Proj::Blocks { weight: QMatMul::from_qtensor(weight)?, bias })
    }

    /// A float weight `[outputs, inputs]` already loaded (a tied output layer).
    fn from_weight(weight: Tensor, blocks: Option<GgmlDType>) -> Result<Self> {
        Ok(match blocks {
            None => Proj::Float(Linear::new(weight, None)),
            Some(blocks) => Proj::of_blocks(QTensor::quantize(&weight, blocks)?, None)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Proj::Float(linear) => linear.forward(x),
            // The quantized kernels read their input as one contiguous f32 buffer.
            Proj::Blocks { weight, bias } => add_bias(weight.forward(&x.contiguous()?)?, bias.as_ref()),
            Proj::Compact { weight, bias } => add_bias(compact::matmul(weight, x)?, bias.as_ref()),
            Proj::Tiled { weight, bias, isa } => add_bias(tiled::matmul(*isa, weight, x)?, bias.as_ref()),
        }
    }
}

fn add_bias(y: Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    match bias {
        Some(bias) => y.broadcast_add(bias),
        None => Ok(y),
    }
}

/// How the linear layers load: from floats, kept or quantized at a precision as they load, or
/// as the GGML blocks a GGUF file stores (taken as they are).
#[derive(Clone, Copy)]
struct Linears<'a> {
    precision: Precision,
    stored: Option<&'a GgufWeights>,
}

impl Linears<'_> {
    /// A hidden layer's projection of `inputs` to `outputs`.
    fn proj(&self, inputs: usize, outputs: usize, bias: bool, vb: VarBuilder) -> Result<Proj> {
        self.load(inputs, outputs, bias, self.precision.linear_blocks(inputs), vb)
    }

    /// The output layer, which a quantized precision keeps finer.
    fn output(&self, inputs: usize, outputs: usize, vb: VarBuilder) -> Result<Proj> {
        self.load(inputs, outputs, false, self.precision.output_blocks(inputs), vb)
    }

    /// The output layer tied to the embedding: a GGUF's stored blocks of it where it has them
    /// (under the output layer's name, as `anneal model quantize` writes them, or the
    /// embedding's, as llama.cpp does), else the embedding's weights quantized as a precision
    /// says — read again in the activations' dtype when the table is kept in f16, so the blocks
    /// come from the checkpoint's values, not the table's rounding of them.
    fn tied_output(&self, embedding: &TokenEmbedding, names: &TensorNames, vb: &VarBuilder) -> Result<Proj> {
        if let Some(stored) = self.stored {
            for name in [names.lm_head, names.embed] {
                if let Some(blocks) = stored.blocks(&format!("{name}.weight"), vb.device()).map_err(candle_core::Error::wrap)? {
                    return Proj::of_blocks(blocks, None);
                }
            }
        }
        let weight = match embedding.table.dtype() == embedding.dtype {
            true => embedding.table.clone(),
            false => vb.pp(names.embed).get(embedding.table.shape(), "weight")?,
        };
        Proj::from_weight(weight, self.precision.output_blocks(embedding.table.dim(1)?))
    }

    fn load(&self, inputs: usize, outputs: usize, bias: bool, blocks: Option<GgmlDType>, vb: VarBuilder) -> Result<Proj> {
        let Some(stored) = self.stored else { return Proj::new(inputs, outputs, bias, blocks, vb) };
        match stored.blocks(&format!("{}.weight", vb.prefix()), vb.device()).map_err(candle_core::Error::wrap)? {
            Some(weight) if weight.shape().dims() == [outputs, inputs] => Proj::with_blocks(weight, bias, vb),
            Some(weight) => {
                candle_core::bail!("{} has shape {:?}, the config implies {:?}", vb.prefix(), weight.shape(), (outputs, inputs))
            }
            // Stored as floats: they stay floats.
            None => Proj::new(inputs, outputs, bias, None, vb),
        }
    }
}

#[derive(Debug, Clone)]
struct Mlp {
    gate_proj: Proj,
    up_proj: Proj,
    down_proj: Proj,
}

impl Mlp {
    fn new(cfg: &Config, linears: &Linears, names: &TensorNames, vb: VarBuilder) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(Self {
            gate_proj: linears.proj(h, i, false, vb.pp(names.gate))?,
            up_proj: linears.proj(h, i, false, vb.pp(names.up))?,
            down_proj: linears.proj(i, h, false, vb.pp(names.down))?,
        })
    }

    /// An MLP `width` wide under `gate_proj`, `up_proj` and `down_proj` (an expert's), its
    /// quantized matrices multiplied as stored on a CPU ([`compact`]).
    fn with_width(h: usize, width: usize, linears: &Linears, vb: VarBuilder) -> Result<Self> {
        let proj = |inputs: usize, outputs: usize, name: &str| -> Result<Proj> {
            Ok(match linears.proj(inputs, outputs, false, vb.pp(name))? {
                Proj::Blocks { weight: QMatMul::QTensor(weight), bias } if vb.device().is_cpu() => Proj::Compact { weight, bias },
                other => other,
            })
        };
        Ok(Self { gate_proj: proj(h, width, "gate_proj")?, up_proj: proj(h, width, "up_proj")?, down_proj: proj(width, h, "down_proj")? })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let gate = candle_nn::ops::silu(&self.gate_proj.forward(x)?)?;
        self.down_proj.forward(&(gate * self.up_proj.forward(x)?)?)
    }
}

/// The projections to queries, keys and values: three, or one whose output rows are the
/// three in that order (LLaDA2's `query_key_value`).
#[derive(Debug, Clone)]
enum QkvProj {
    Separate { q: Proj, k: Proj, v: Proj },
    Fused(Proj),
}

#[derive(Debug, Clone)]
struct Attention {
    qkv: QkvProj,
    o_proj: Proj,
    /// Qwen3's RMSNorm of each head's queries and keys, before the rotary positions.
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    mode: Mode,
}

impl Attention {
    fn new(cfg: &Config, mode: Mode, linears: &Linears, names: &TensorNames, vb: VarBuilder) -> Result<Self> {
        let (h, d) = (cfg.hidden_size, cfg.head_dim());
        let (heads, kv_heads) = (cfg.num_attention_heads, cfg.num_key_value_heads);
        let proj = |out: usize, name: &str| linears.proj(h, out, cfg.attention_bias, vb.pp(name));
        let head_norms = cfg.family().map_err(candle_core::Error::wrap)?.norms_queries_and_keys();
        let norm = |name: &str| head_norms.then(|| RmsNorm::new(d, cfg.rms_norm_eps, mode, vb.pp(name))).transpose();
        let qkv = match names.qkv {
            Some(name) => QkvProj::Fused(proj((heads + 2 * kv_heads) * d, name)?),
            None => QkvProj::Separate { q: proj(heads * d, names.q)?, k: proj(kv_heads * d, names.k)?, v: proj(kv_heads * d, names.v)? },
        };
        Ok(Self {
            q_norm: norm(names.q_norm)?,
            k_norm: norm(names.k_norm)?,
            qkv,
            o_proj: linears.proj(heads * d, h, cfg.attention_output_bias, vb.pp(names.o))?,
            heads,
            kv_heads,
            head_dim: d,
            mode,
        })
    }

    fn split_heads(&self, x: &Tensor, heads: usize) -> Result<Tensor> {
        let (b, len, _) = x.dims3()?;
        x.reshape((b, len, heads, self.head_dim))?.transpose(1, 2)
    }

    /// Grouped-query attention shares each K/V head among `heads / kv_heads` query heads.
    fn repeat_kv(&self, x: Tensor) -> Result<Tensor> {
        let rep = self.heads / self.kv_heads;
        if rep == 1 {
            return Ok(x);
        }
        let (b, kv, len, d) = x.dims4()?;
        Tensor::cat(&vec![&x; rep], 2)?.reshape((b, kv * rep, len, d))
    }

    /// `key_mask`: added to the attention scores, `[batch or 1, 1, queries or 1, keys]`
    /// (−∞ at padding, and at later blocks for a block-causal family).
    /// Attention of `x` (positions after `past`'s) to the keys of `past` and of `x` itself;
    /// returns the output and `x`'s own keys and values (rotated, before sharing among heads),
    /// which a later call can take as its past.
    fn forward(&self, x: &Tensor, rotary: &RotaryEmbedding, key_mask: Option<&Tensor>) -> Result<Tensor> {
        Ok(self.forward_cached(x, rotary, key_mask, None, None)?.0)
    }

    /// Attention of `x`'s positions, which follow `past`'s and precede `future`'s, to all
    /// three. Returns the output and `x`'s own keys and values.
    fn forward_cached(
        &self,
        x: &Tensor,
        rotary: &RotaryEmbedding,
        key_mask: Option<&Tensor>,
        past: Option<&LayerKv>,
        future: Option<&LayerKv>,
    ) -> Result<(Tensor, LayerKv)> {
        let (b, len, _) = x.dims3()?;
        let offset = past.map_or(0, |p| p.k.dim(2).unwrap_or(0));
        let (q, k, v) = match &self.qkv {
            QkvProj::Fused(qkv) => {
                let qkv = qkv.forward(x)?;
                let (q_width, kv_width) = (self.heads * self.head_dim, self.kv_heads * self.head_dim);
                (qkv.narrow(2, 0, q_width)?, qkv.narrow(2, q_width, kv_width)?, qkv.narrow(2, q_width + kv_width, kv_width)?)
            }
            QkvProj::Separate { q, k, v } => (q.forward(x)?, k.forward(x)?, v.forward(x)?),
        };
        let q = self.split_heads(&q, self.heads)?;
        let k = self.split_heads(&k, self.kv_heads)?;
        let v = self.split_heads(&v, self.kv_heads)?;
        let q = match &self.q_norm {
            Some(norm) => norm.forward(&q)?,
            None => q,
        };
        let k = match &self.k_norm {
            Some(norm) => norm.forward(&k)?,
            None => k,
        };
        let q = rotary.apply(&q, offset, self.mode)?;
        let own = LayerKv { k: rotary.apply(&k, offset, self.mode)?, v };
        let (k, v) = match (past, future) {
            (None, None) => (own.k.clone(), own.v.clone()),
            _ => {
                let keys: Vec<&Tensor> = past.iter().map(|p| &p.k).chain([&own.k]).chain(future.iter().map(|f| &f.k)).collect();
                let values: Vec<&Tensor> = past.iter().map(|p| &p.v).chain([&own.v]).chain(future.iter().map(|f| &f.v)).collect();
                (Tensor::cat(&keys, 2)?, Tensor::cat(&values, 2)?)
            }
        };
        let k = self.repeat_kv(k)?.contiguous()?;
        let v = self.repeat_kv(v)?.contiguous()?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let mut scores = (q.contiguous()?.matmul(&k.t()?)? * scale)?;
        if let Some(mask) = key_mask {
            scores = scores.broadcast_add(mask)?;
        }
        let probs = match self.mode {
            Mode::Infer => candle_nn::ops::softmax_last_dim(&scores)?,
            Mode::Train => candle_nn::ops::softmax(&scores, D::Minus1)?,
        };
        let out = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, len, self.heads * self.head_dim))?;
        Ok((self.o_proj.forward(&out)?, own))
    }
}

/// A layer's MLP: one, or LLaDA2's experts (from layer `first_k_dense_replace` on).
#[derive(Debug, Clone)]
enum FeedForward {
    Dense(Mlp),
    Experts(moe::MoeBlock),
}

impl FeedForward {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            FeedForward::Dense(mlp) => mlp.forward(x),
            FeedForward::Experts(experts) => experts.forward(x),
        }
    }
}

#[derive(Debug, Clone)]
struct DecoderLayer {
    self_attn: Attention,
    mlp: FeedForward,
    input_layernorm: RmsNorm,
    post_attention_layernorm: RmsNorm,
}

impl DecoderLayer {
    fn new(cfg: &Config, index: usize, mode: Mode, linears: &Linears, names: &TensorNames, vb: VarBuilder) -> Result<Self> {
        let norm = |name: &str| RmsNorm::new(cfg.hidden_size, cfg.rms_norm_eps, mode, vb.pp(name));
        let mlp = match &cfg.moe {
            Some(moe) if index >= moe.first_k_dense_replace => FeedForward::Experts(moe::MoeBlock::new(cfg, moe, linears, vb.pp("mlp"))?),
            _ => FeedForward::Dense(Mlp::new(cfg, linears, names, vb.clone())?),
        };
        Ok(Self {
            self_attn: Attention::new(cfg, mode, linears, names, vb.clone())?,
            mlp,
            input_layernorm: norm(names.attn_norm)?,
            post_attention_layernorm: norm(names.mlp_norm)?,
        })
    }

    fn forward(&self, x: &Tensor, rotary: &RotaryEmbedding, key_mask: Option<&Tensor>) -> Result<Tensor> {
        let h = (x + self.self_attn.forward(&self.input_layernorm.forward(x)?, rotary, key_mask)?)?;
        &h + self.mlp.forward(&self.post_attention_layernorm.forward(&h)?)?
    }

    fn forward_cached(
        &self,
        x: &Tensor,
        rotary: &RotaryEmbedding,
        mask: Option<&Tensor>,
        past: Option<&LayerKv>,
        future: Option<&LayerKv>,
    ) -> Result<(Tensor, LayerKv)> {
        let (attn, kv) = self.self_attn.forward_cached(&self.input_layernorm.forward(x)?, rotary, mask, past, future)?;
        let h = (x + attn)?;
        Ok(((&h + self.mlp.forward(&self.post_attention_layernorm.forward(&h)?)?)?, kv))
    }
}

/// One layer's keys and values: `[batch, kv_heads, len, head_dim]`, keys rotated.
#[derive(Debug, Clone)]
struct LayerKv {
    k: Tensor,
    v: Tensor,
}

/// The keys and values of a run of positions from 0, every layer: a finished prefix that
/// later positions attend to without recomputing it. For a bidirectional model this is the
/// prefix as encoded alone — it does not see what follows it — which is the approximation
/// Fast-dLLM's prefix cache makes; exact only for a block-causal model.
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<LayerKv>,
}

impl KvCache {
    /// Positions covered.
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, |l| l.k.dim(2).unwrap_or(0))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// This cache followed by `more` (the keys and values of the positions right after).
    /// Positions `start..start + len` of the cache (views, no copy).
    pub fn narrow(&self, start: usize, len: usize) -> Result<KvCache> {
        let layers = self
            .layers
            .iter()
            .map(|l| Ok(LayerKv { k: l.k.narrow(2, start, len)?, v: l.v.narrow(2, start, len)? }))
            .collect::<Result<_>>()?;
        Ok(KvCache { layers })
    }

    pub fn extended(&self, more: &KvCache) -> Result<KvCache> {
        let layers = self
            .layers
            .iter()
            .zip(&more.layers)
            .map(|(a, b)| Ok(LayerKv { k: Tensor::cat(&[&a.k, &b.k], 2)?, v: Tensor::cat(&[&a.v, &b.v], 2)? }))
            .collect::<Result<_>>()?;
        Ok(KvCache { layers })
    }
}

/// The token embedding: a table looked up, not multiplied, so a quantized precision keeps it
/// in f16 — half of f32's memory (0.6 GiB of LLaDA2.0-mini's), as llama.cpp keeps it in a
/// float type; the rows looked up run in the activations' dtype.
#[derive(Debug, Clone)]
struct TokenEmbedding {
    table: Tensor,
    /// The activations' dtype.
    dtype: DType,
}

impl TokenEmbedding {
    fn new(cfg: &Config, precision: Precision, vb: VarBuilder) -> Result<Self> {
        let dtype = vb.dtype();
        let stored = if precision.is_quantized() { DType::F16 } else { dtype };
        // candle_nn's `embedding` initialisation, for a model made from nothing to be trained.
        let init = candle_nn::Init::Randn { mean: 0.0, stdev: 1.0 };
        let table = vb.get_with_hints_dtype((cfg.vocab_size, cfg.hidden_size), "weight", init, stored)?;
        Ok(Self { table, dtype })
    }

    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let mut dims = ids.dims().to_vec();
        dims.push(self.table.dim(1)?);
        self.table.index_select(&ids.flatten_all()?, 0)?.reshape(dims)?.to_dtype(self.dtype)
    }
}

/// The bidirectional transformer: token ids `[batch, len]` to logits `[batch, len, vocab]`.
#[derive(Debug, Clone)]
pub struct Transformer {
    embed_tokens: TokenEmbedding,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    lm_head: Proj,
    rotary: RotaryEmbedding,
    max_len: usize,
    /// A block-causal family's block ([`Config::block_size`]).
    block_size: Option<usize>,
}

impl Transformer {
    /// The weights in `vb`'s dtype.
    pub fn new(cfg: &Config, mode: Mode, vb: VarBuilder) -> Result<Self> {
        let precision = Precision::of_dtype(vb.dtype());
        Transformer::with_precision(cfg, mode, precision, vb)
    }

    /// The weights at `precision`: a quantized one quantizes the linear layers as they load
    /// (`vb` then gives f32, the dtype of everything else). Training needs float weights.
    pub fn with_precision(cfg: &Config, mode: Mode, precision: Precision, vb: VarBuilder) -> Result<Self> {
        if mode == Mode::Train && precision.is_quantized() {
            candle_core::bail!("quantized weights ({precision}) cannot be trained");
        }
        Transformer::load(cfg, mode, Linears { precision, stored: None }, vb)
    }

    /// The weights of a GGUF file: linear layers as the GGML blocks it stores, the rest
    /// (embedding, norms, biases) in f32.
    pub fn from_gguf(cfg: &Config, weights: Arc<GgufWeights>, device: &Device) -> Result<Self> {
        let linears = Linears { precision: weights.precision(), stored: Some(&weights) };
        let vb = VarBuilder::from_backend(Box::new(crate::gguf::Floats(weights.clone())), DType::F32, device.clone());
        Transformer::load(cfg, Mode::Infer, linears, vb)
    }

    fn load(cfg: &Config, mode: Mode, linears: Linears, vb: VarBuilder) -> Result<Self> {
        let names = TensorNames::of(cfg.family().map_err(candle_core::Error::wrap)?);
        let embed_tokens = TokenEmbedding::new(cfg, linears.precision, vb.pp(names.embed))?;
        // The output layer loads before the layers: quantizing it holds its floats a moment
        // (1.3 GB of LLaDA2.0-mini's), which then sit beside no layer.
        let lm_head = if cfg.tie_word_embeddings {
            linears.tied_output(&embed_tokens, &names, &vb)?
        } else {
            linears.output(cfg.hidden_size, cfg.vocab_size, vb.pp(names.lm_head))?
        };
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| DecoderLayer::new(cfg, i, mode, &linears, &names, vb.pp(format!("{}.{i}", names.layers))))
            .collect::<Result<Vec<_>>>()?;
        let norm = RmsNorm::new(cfg.hidden_size, cfg.rms_norm_eps, mode, vb.pp(names.final_norm))?;
        let rotary = RotaryEmbedding::new(cfg, vb.device())?;
        Ok(Self { embed_tokens, layers, norm, lm_head, rotary, max_len: positions_kept(cfg), block_size: cfg.block_size })
    }

    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        self.forward_masked(ids, None)
    }

    /// [`Transformer::forward`] for a batch of sequences right-padded to one length: the keys
    /// past each sequence's length are masked out, so every sequence's logits are what it
    /// would get alone (positions start at 0 for each). Rows past a length are meaningless.
    pub fn forward_padded(&self, ids: &Tensor, lens: &[usize]) -> Result<Tensor> {
        let (b, len) = ids.dims2()?;
        if lens.len() != b || lens.iter().any(|&l| l == 0 || l > len) {
            candle_core::bail!("forward_padded: lengths {lens:?} for a batch of {b} × {len}");
        }
        if lens.iter().all(|&l| l == len) {
            return self.forward_masked(ids, None);
        }
        let mask: Vec<f32> = lens.iter().flat_map(|&l| (0..len).map(move |j| if j < l { 0.0 } else { f32::NEG_INFINITY })).collect();
        let dtype = self.embed_tokens.dtype;
        let mask = Tensor::from_vec(mask, (b, 1, 1, len), ids.device())?.to_dtype(dtype)?;
        self.forward_masked(ids, Some(&mask))
    }

    /// Logits of `ids` (positions after `past`'s), attending to `past` and to each other, and
    /// the keys and values of `ids` themselves. `past: None` encodes a prefix from position 0.
    pub fn forward_cached(&self, ids: &Tensor, past: Option<&KvCache>) -> Result<(Tensor, KvCache)> {
        self.forward_between(ids, past, None)
    }

    /// `ids` between a cached `past` and a cached `future` (Fast-dLLM's dual cache): only
    /// these positions' queries run, attending to their own keys and the cached ones. Exact
    /// when the cached keys and values are what a full pass over the current canvas would
    /// give; otherwise the approximation that cache makes. Returns `ids`' logits, keys and
    /// values.
    pub fn forward_between(&self, ids: &Tensor, past: Option<&KvCache>, future: Option<&KvCache>) -> Result<(Tensor, KvCache)> {
        self.forward_between_rows(ids, past, future, 0..ids.dim(1)?)
    }

    /// [`Transformer::forward_between`] with the output layer run on positions `rows` of `ids`
    /// alone: a pass that refreshes caches reads a block's logits, not every position's, and
    /// the output layer is the largest matmul of a small model or a large vocabulary
    /// (LLaDA2.0-mini's 157k rows: 0.3 GB of logits for a 512-token prefix).
    pub fn forward_between_rows(
        &self,
        ids: &Tensor,
        past: Option<&KvCache>,
        future: Option<&KvCache>,
        rows: std::ops::Range<usize>,
    ) -> Result<(Tensor, KvCache)> {
        let len = ids.dim(1)? + past.map_or(0, KvCache::len) + future.map_or(0, KvCache::len);
        if len > self.max_len {
            candle_core::bail!("canvas of {len} tokens exceeds the model's {} positions", self.max_len);
        }
        let offset = past.map_or(0, KvCache::len);
        let mask = self.block_mask(offset, ids.dim(1)?, len, ids.device())?;
        let mut x = self.embed_tokens.forward(ids)?;
        let mut layers = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let (h, kv) =
                layer.forward_cached(&x, &self.rotary, mask.as_ref(), past.map(|p| &p.layers[i]), future.map(|f| &f.layers[i]))?;
            x = h;
            layers.push(kv);
        }
        let x = x.narrow(1, rows.start, rows.len())?;
        Ok((self.lm_head.forward(&self.norm.forward(&x)?)?, KvCache { layers }))
    }

    /// The logits of positions `rows` of a pass over all of `ids`: the output layer, the
    /// largest matmul of a small model or a large vocabulary, runs only where a sampler reads.
    pub fn forward_rows(&self, ids: &Tensor, rows: std::ops::Range<usize>) -> Result<Tensor> {
        let x = self.hidden(ids, None)?;
        self.lm_head.forward(&self.norm.forward(&x.narrow(1, rows.start, rows.len())?)?)
    }

    /// Logits of `len` rows of each sequence, from its own start: the output layer runs only
    /// on the blocks a caller reads (the distillation stages read one block a sequence).
    pub fn forward_blocks(&self, ids: &Tensor, starts: &[usize], len: usize) -> Result<Tensor> {
        let x = self.hidden(ids, None)?;
        let picked = starts.iter().enumerate().map(|(r, &s)| x.i(r)?.narrow(0, s, len)).collect::<Result<Vec<_>>>()?;
        self.lm_head.forward(&self.norm.forward(&Tensor::stack(&picked, 0)?)?)
    }

    fn forward_masked(&self, ids: &Tensor, key_mask: Option<&Tensor>) -> Result<Tensor> {
        self.lm_head.forward(&self.norm.forward(&self.hidden(ids, key_mask)?)?)
    }

    /// The last layer's output at every position, before the final norm.
    fn hidden(&self, ids: &Tensor, key_mask: Option<&Tensor>) -> Result<Tensor> {
        let len = ids.dim(1)?;
        if len > self.max_len {
            candle_core::bail!("canvas of {len} tokens exceeds the model's {} positions", self.max_len);
        }
        let mask = match (self.block_mask(0, len, len, ids.device())?, key_mask) {
            (Some(blocks), Some(keys)) => Some(keys.broadcast_add(&blocks)?),
            (blocks, keys) => blocks.or_else(|| keys.cloned()),
        };
        let mut x = self.embed_tokens.forward(ids)?;
        for layer in &self.layers {
            x = layer.forward(&x, &self.rotary, mask.as_ref())?;
        }
        Ok(x)
    }

    /// For a block-causal family, the scores mask of queries at positions
    /// `queries..queries + len` over keys at `0..keys`: −∞ where the key's block comes after the
    /// query's, blocks counted from position 0 as the family was trained. `None` for a
    /// bidirectional family.
    fn block_mask(&self, queries: usize, len: usize, keys: usize, device: &Device) -> Result<Option<Tensor>> {
        let Some(block) = self.block_size else { return Ok(None) };
        let mask: Vec<f32> = (queries..queries + len)
            .flat_map(|q| (0..keys).map(move |k| if k / block > q / block { f32::NEG_INFINITY } else { 0.0 }))
            .collect();
        let dtype = self.embed_tokens.dtype;
        Ok(Some(Tensor::from_vec(mask, (1, 1, len, keys), device)?.to_dtype(dtype)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;

    fn model() -> Transformer {
        let varmap = VarMap::new();
        let cfg = Config::tiny(64, 2, 1, 0);
        let model = Transformer::new(&cfg, Mode::Infer, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
        crate::random::init_seeded(&varmap, 11).unwrap();
        model
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
    }

    #[test]
    fn a_cached_prefix_gives_what_a_prefix_that_cannot_see_ahead_gives() {
        let model = model();
        let ids: Vec<u32> = (0..20).map(|i| 3 + (i * 5) % 60).collect();
        let p = 12;
        // Reference: the whole canvas in one pass, with the prefix's queries kept from the
        // positions after it (block-causal), which is what encoding the prefix alone means.
        let mask: Vec<f32> = (0..20).flat_map(|q| (0..20).map(move |k| if q < p && k >= p { f32::NEG_INFINITY } else { 0.0 })).collect();
        let mask = Tensor::from_vec(mask, (1, 1, 20, 20), &Device::Cpu).unwrap();
        let all = Tensor::new(ids.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let reference = model.forward_masked(&all, Some(&mask)).unwrap().squeeze(0).unwrap();

        let prefix = Tensor::new(&ids[..p], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let rest = Tensor::new(&ids[p..], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let (prefix_logits, cache) = model.forward_cached(&prefix, None).unwrap();
        assert_eq!(cache.len(), p);
        let (rest_logits, own) = model.forward_cached(&rest, Some(&cache)).unwrap();
        assert_eq!(own.len(), 20 - p);
        assert!(max_diff(&prefix_logits.squeeze(0).unwrap(), &reference.narrow(0, 0, p).unwrap()) < 1e-5);
        assert!(max_diff(&rest_logits.squeeze(0).unwrap(), &reference.narrow(0, p, 20 - p).unwrap()) < 1e-5);
        // And without a past, forward_cached is forward.
        let plain = model.forward(&all).unwrap();
        assert!(max_diff(&model.forward_cached(&all, None).unwrap().0, &plain) < 1e-6);
    }

    #[test]
    fn a_window_between_cached_neighbours_gives_the_full_pass_when_they_are_current() {
        let model = model();
        let ids: Vec<u32> = (0..24).map(|i| 3 + (i * 7) % 60).collect();
        let all = Tensor::new(ids.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let (reference, kv) = model.forward_cached(&all, None).unwrap();
        let (start, end) = (9, 15);
        let window = Tensor::new(&ids[start..end], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let (past, future) = (kv.narrow(0, start).unwrap(), kv.narrow(end, 24 - end).unwrap());
        let (logits, own) = model.forward_between(&window, Some(&past), Some(&future)).unwrap();
        assert_eq!(own.len(), end - start);
        let expected = reference.narrow(1, start, end - start).unwrap();
        assert!(max_diff(&logits, &expected) < 1e-5, "exact while the cache is current");
    }
}
