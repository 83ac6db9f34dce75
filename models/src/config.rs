//! `config.json` of a checkpoint folder, Hugging Face style.
//!
//! The native `anneal` family and the Qwen2-bodied open models share these fields; the
//! `anneal_*` fields are ours and default to values that describe a mask-only model.

use serde::{Deserialize, Serialize};

/// Which reference implementation a checkpoint follows. Decides the logit shift and the
/// special token ids, so that one transformer body serves every family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Anneal's own models: no logit shift, tokenizer with mask/pad/end-of-text.
    Anneal,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    #[serde(default = "default_rms_norm_eps")]
    pub rms_norm_eps: f64,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Qwen2 puts biases on the q/k/v projections; LLaMA-style bodies do not.
    #[serde(default = "default_true")]
    pub attention_bias: bool,
    pub mask_token_id: u32,
    pub pad_token_id: u32,
    pub eos_token_id: u32,
    /// True when the checkpoint went through the edit stage and may correct visible tokens;
    /// the engine then samples in edit mode instead of mask mode.
    #[serde(default)]
    pub anneal_edit_trained: bool,
}

fn default_rope_theta() -> f64 {
    10_000.0
}
fn default_rms_norm_eps() -> f64 {
    1e-6
}
fn default_true() -> bool {
    true
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config.json: model_type `{0}` is not supported (supported: anneal)")]
    UnsupportedFamily(String),
    #[error("config.json: {0}")]
    Invalid(String),
}

impl Config {
    pub fn family(&self) -> Result<Family, ConfigError> {
        match self.model_type.as_str() {
            "anneal" => Ok(Family::Anneal),
            other => Err(ConfigError::UnsupportedFamily(other.to_string())),
        }
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Catch a config that would fail deep inside a matmul with an unhelpful shape error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.num_attention_heads == 0 || self.hidden_size % self.num_attention_heads != 0 {
            return bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.num_key_value_heads == 0 || self.num_attention_heads % self.num_key_value_heads != 0 {
            return bad(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.num_attention_heads, self.num_key_value_heads
            ));
        }
        if self.head_dim() % 2 != 0 {
            return bad(format!("head dimension {} must be even for rotary positions", self.head_dim()));
        }
        for (name, id) in [("mask", self.mask_token_id), ("pad", self.pad_token_id), ("eos", self.eos_token_id)] {
            if id as usize >= self.vocab_size {
                return bad(format!("{name}_token_id {id} is outside vocab_size {}", self.vocab_size));
            }
        }
        Ok(())
    }

    /// A tiny shape for plumbing tests: a few hundred thousand parameters, instant on CPU.
    pub fn tiny(vocab_size: usize, mask: u32, pad: u32, eos: u32) -> Config {
        Config {
            model_type: "anneal".into(),
            vocab_size,
            hidden_size: 64,
            intermediate_size: 128,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            max_position_embeddings: 4096,
            rope_theta: 10_000.0,
            rms_norm_eps: 1e-6,
            tie_word_embeddings: false,
            attention_bias: true,
            mask_token_id: mask,
            pad_token_id: pad,
            eos_token_id: eos,
            anneal_edit_trained: false,
        }
    }
}
