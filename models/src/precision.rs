//! How a model's weights are held in memory: a float dtype, or quantized linear layers.
//!
//! Quantized precisions follow llama.cpp: the linear layers' weights become GGML blocks
//! (multiplied without dequantizing), while the embedding stays in f16 and norms in f32, and
//! activations run in f32. A checkpoint is quantized as it loads, one tensor at
//! a time, so memory never holds the model in f32.

use candle_core::quantized::GgmlDType;
use candle_core::{DType, Device};

use crate::config::Config;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    F16,
    BF16,
    /// 8-bit blocks of 32 with an f16 scale: 8.5 bits a weight.
    Q8_0,
    /// 4-bit k-quant super-blocks of 256: 4.5 bits a weight (the output layer at Q8_0, finer
    /// still than llama.cpp's Q4_K_M keeps it).
    Q4K,
}

impl Precision {
    /// Every precision, as settings and `--dtype` name them.
    pub const ALL: [Precision; 5] = [Precision::F32, Precision::F16, Precision::BF16, Precision::Q8_0, Precision::Q4K];

    /// f32 on CPU (no fast half-precision matmul there); bf16 on GPUs.
    pub fn default_for(device: &Device) -> Precision {
        if device.is_cpu() {
            Precision::F32
        } else {
            Precision::BF16
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::BF16 => "bf16",
            Precision::Q8_0 => "q8_0",
            Precision::Q4K => "q4k",
        }
    }

    /// The precision a setting names (`q4_k` is accepted for `q4k`).
    pub fn parse(name: &str) -> Option<Precision> {
        let name = name.to_ascii_lowercase();
        let name = if name == "q4_k" { "q4k" } else { name.as_str() };
        Precision::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The dtype of activations, embeddings and norms; for a float precision, of everything.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 | Precision::Q8_0 | Precision::Q4K => DType::F32,
            Precision::F16 => DType::F16,
            Precision::BF16 => DType::BF16,
        }
    }

    pub fn of_dtype(dtype: DType) -> Precision {
        match dtype {
            DType::F16 => Precision::F16,
            DType::BF16 => Precision::BF16,
            _ => Precision::F32,
        }
    }

    pub fn is_quantized(self) -> bool {
        matches!(self, Precision::Q8_0 | Precision::Q4K)
    }

    /// The block type of a linear layer with `columns` inputs: a layer whose width the block
    /// does not divide falls back as llama.cpp falls back (Q4_K to Q5_0, Q8_0 to floats).
    pub fn linear_blocks(self, columns: usize) -> Option<GgmlDType> {
        let fits = |t: GgmlDType| columns.is_multiple_of(t.block_size()).then_some(t);
        match self {
            Precision::Q8_0 => fits(GgmlDType::Q8_0),
            Precision::Q4K => fits(GgmlDType::Q4K).or_else(|| fits(GgmlDType::Q5_0)).or_else(|| fits(GgmlDType::Q8_0)),
            _ => None,
        }
    }

    /// The block type of the output layer, which llama.cpp keeps finer than the rest: the
    /// logits every sampler reads come from it. q4k keeps it at Q8_0 where llama.cpp's Q4_K_M
    /// keeps Q6_K: candle multiplies Q6_K through a repacked copy 1.5 times its size, kept
    /// beside it (0.4 GB more for LLaDA2.0-mini's 157k-row output layer), while Q8_0 runs
    /// Anneal's tiled kernel on its stored bytes, for 0.4 bits a weight more (and finer logits).
    pub fn output_blocks(self, columns: usize) -> Option<GgmlDType> {
        let fits = |t: GgmlDType| columns.is_multiple_of(t.block_size()).then_some(t);
        match self {
            Precision::Q8_0 | Precision::Q4K => fits(GgmlDType::Q8_0),
            _ => None,
        }
    }

    /// Bytes the weights of `config` take in memory at this precision (block types as
    /// [`Precision::linear_blocks`] picks them), without activations.
    pub fn weight_bytes(self, config: &Config) -> u64 {
        let c = config;
        let (h, i, v) = (c.hidden_size as u64, c.intermediate_size as u64, c.vocab_size as u64);
        let q = (c.num_attention_heads * c.head_dim()) as u64;
        let kv = (c.num_key_value_heads * c.head_dim()) as u64;
        let float = self.dtype().size_in_bytes() as f64;
        let bytes = |elements: u64, blocks: Option<GgmlDType>| -> f64 {
            match blocks {
                Some(t) => elements as f64 * t.type_size() as f64 / t.block_size() as f64,
                None => elements as f64 * float,
            }
        };
        // Inputs of hidden_size: q, k, v, gate, up. Inputs of intermediate_size: down. Inputs
        // of heads × head_dim (hidden_size unless the config says otherwise): o.
        let mlp =
            |width: u64| bytes(2 * h * width, self.linear_blocks(c.hidden_size)) + bytes(h * width, self.linear_blocks(width as usize));
        let attention = bytes(h * q + 2 * h * kv, self.linear_blocks(c.hidden_size))
            + bytes(q * h, self.linear_blocks(q as usize))
            + float * (2 * h + if c.attention_bias { q + 2 * kv } else { 0 }) as f64;
        let layers: f64 = (0..c.num_hidden_layers)
            .map(|layer| match &c.moe {
                // Every expert is held, routed or not; the router stays in f32.
                Some(moe) if layer >= moe.first_k_dense_replace => {
                    let width = moe.moe_intermediate_size as u64;
                    (moe.num_experts + moe.num_shared_experts) as f64 * mlp(width) + 4.0 * ((moe.num_experts as u64 + 1) * h) as f64
                }
                _ => mlp(i),
            })
            .sum::<f64>()
            + c.num_hidden_layers as f64 * attention;
        // The embedding stays in floats (f16 beside quantized layers); the output layer is
        // quantized too, tied or not.
        let embedding = if self.is_quantized() { 2.0 } else { float } * (v * h) as f64;
        let head = match (self.is_quantized(), c.tie_word_embeddings) {
            (true, _) => bytes(v * h, self.output_blocks(c.hidden_size)),
            (false, true) => 0.0,
            (false, false) => float * (v * h) as f64,
        };
        (embedding + head + float * h as f64 + layers) as u64
    }
}

impl From<DType> for Precision {
    fn from(dtype: DType) -> Precision {
        Precision::of_dtype(dtype)
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_q4_k_is_accepted() {
        for p in Precision::ALL {
            assert_eq!(Precision::parse(p.name()), Some(p));
        }
        assert_eq!(Precision::parse("Q4_K"), Some(Precision::Q4K));
        assert_eq!(Precision::parse("fp8"), None);
    }

    #[test]
    fn a_width_the_blocks_do_not_divide_falls_back_as_llama_cpp_does() {
        assert_eq!(Precision::Q4K.linear_blocks(512), Some(GgmlDType::Q4K));
        assert_eq!(Precision::Q4K.linear_blocks(896), Some(GgmlDType::Q5_0)); // Qwen2.5 0.5B
        assert_eq!(Precision::Q8_0.linear_blocks(896), Some(GgmlDType::Q8_0));
        assert_eq!(Precision::Q8_0.linear_blocks(20), None);
        assert_eq!(Precision::Q4K.output_blocks(512), Some(GgmlDType::Q8_0));
        assert_eq!(Precision::F32.linear_blocks(512), None);
    }

    #[test]
    fn quantized_weights_take_about_their_bits_a_weight() {
        // A 7B-like shape: nearly all of it is linear layers.
        let mut c = Config::tiny(152_064, 2, 1, 0);
        (c.hidden_size, c.intermediate_size, c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads) = (3584, 18944, 28, 28, 4);
        let f32_bytes = Precision::F32.weight_bytes(&c) as f64;
        let q8 = Precision::Q8_0.weight_bytes(&c) as f64;
        let q4 = Precision::Q4K.weight_bytes(&c) as f64;
        assert!((f32_bytes / 4.0 - crate::config_parameter_count(&c) as f64).abs() < 1e6, "{f32_bytes}");
        // The f16 embedding keeps the ratios above the bare bits: 8.5 / 32 and 4.5 / 32.
        assert!((0.27..0.36).contains(&(q8 / f32_bytes)), "{}", q8 / f32_bytes);
        assert!((0.15..0.25).contains(&(q4 / f32_bytes)), "{}", q4 / f32_bytes);
    }
}
