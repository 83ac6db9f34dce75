//! Random-weight checkpoints: a complete folder (config, tokenizer, safetensors) with
//! freshly initialised weights. Plumbing tests, parity tests and benchmarks of a real shape use
//! them; nothing a user sees is judged on one.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};

use crate::checkpoint::{CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};
use crate::config::Config;
use crate::tokenizer::Tokenizer;
use crate::transformer::{Mode, Transformer};

/// Initialises a model of `config` and writes it with `tokenizer` into `dir`.
pub fn write_random_checkpoint(dir: &Path, config: &Config, tokenizer: &Tokenizer, seed: u64) -> Result<()> {
    write_random_checkpoint_as(dir, config, tokenizer, seed, DType::F32)
}

/// [`write_random_checkpoint`] with the weights stored as `dtype`: a 7B shape in bf16 is half
/// the file to write and to read, and what a GPU loads anyway.
pub fn write_random_checkpoint_as(dir: &Path, config: &Config, tokenizer: &Tokenizer, seed: u64, dtype: DType) -> Result<()> {
    config.validate()?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let device = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    Transformer::new(config, Mode::Train, vb)?;
    init_seeded(&varmap, seed)?;
    if dtype == DType::F32 {
        varmap.save(dir.join(WEIGHTS_FILE))?;
    } else {
        let data = varmap.data().lock().expect("varmap lock");
        let tensors = data.iter().map(|(name, var)| Ok((name.clone(), var.to_dtype(dtype)?))).collect::<Result<HashMap<_, _>>>()?;
        candle_core::safetensors::save(&tensors, dir.join(WEIGHTS_FILE))?;
    }
    std::fs::write(dir.join(CONFIG_FILE), serde_json::to_string_pretty(config)?)?;
    tokenizer.save(&dir.join(TOKENIZER_FILE))?;
    Ok(())
}

/// Re-initialises every variable from `seed`, as Hugging Face does for Qwen2: norms at one,
/// biases at zero, other weights with standard deviation 0.02. candle cannot seed its CPU
/// generator, and a checkpoint that differs on every run makes tests flaky.
pub fn init_seeded(varmap: &VarMap, seed: u64) -> Result<()> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let data = varmap.data().lock().expect("varmap lock");
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    // Uniform on [-a, a] with a = 0.02·√3 has standard deviation 0.02.
    let a = 0.02f32 * 3f32.sqrt();
    for name in names {
        let var = &data[name];
        let shape = var.shape().clone();
        let n = shape.elem_count();
        let values: Vec<f32> = if name.ends_with("norm.weight") {
            vec![1.0; n]
        } else if name.ends_with(".bias") {
            vec![0.0; n]
        } else {
            (0..n).map(|_| rng.random_range(-a..a)).collect()
        };
        var.set(&candle_core::Tensor::from_vec(values, shape, var.device())?)?;
    }
    Ok(())
}

/// The tiny byte-level model the plumbing tests use.
pub fn write_tiny_checkpoint(dir: &Path, seed: u64) -> Result<()> {
    let tokenizer = crate::tokenizer::byte_level()?;
    let config = Config::tiny(tokenizer.vocab_size(), 2, 1, 0);
    write_random_checkpoint(dir, &config, &tokenizer, seed)
}

/// Random weights made as the model asks for each tensor, never a whole model in floats: a
/// quantized precision quantizes each layer as it is made, so LLaDA2.0-mini's 16B shape at q4k
/// fits a 24 GB machine, and no checkpoint is written to disk. The same seed gives the same
/// floats whatever the precision. Values as [`init_seeded`] draws them (norms at one, biases at
/// zero, the rest uniform with standard deviation 0.02), from a generator per tensor name.
pub struct RandomWeights {
    seed: u64,
}

impl RandomWeights {
    pub fn new(seed: u64) -> RandomWeights {
        RandomWeights { seed }
    }

    /// A [`VarBuilder`] over these weights, in `dtype` on `device`.
    pub fn var_builder(self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self), dtype, device.clone())
    }
}

impl candle_nn::var_builder::SimpleBackend for RandomWeights {
    fn get(
        &self,
        shape: candle_core::Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<candle_core::Tensor> {
        let n = shape.elem_count();
        let values: Vec<f32> = if name.ends_with("norm.weight") {
            vec![1.0; n]
        } else if name.ends_with(".bias") || name.ends_with("expert_bias") {
            vec![0.0; n]
        } else {
            // SplitMix64 from the seed and the name: fast enough for billions of values.
            let mut state = name.bytes().fold(self.seed ^ 0x9e37_79b9_7f4a_7c15, |h, b| (h ^ b as u64).wrapping_mul(0x1000_0000_01b3));
            let a = 0.02f32 * 3f32.sqrt();
            (0..n)
                .map(|_| {
                    state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                    let mut z = state;
                    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                    let unit = ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32;
                    (2.0 * unit - 1.0) * a
                })
                .collect()
        };
        candle_core::Tensor::from_vec(values, shape, device)?.to_dtype(dtype)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<candle_core::Tensor> {
        candle_core::bail!("random weights are made to a shape: {name} was asked for without one")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}
