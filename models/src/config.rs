//! `config.json` of a checkpoint folder, Hugging Face style.
//!
//! The native `anneal` family and the Qwen2-bodied open models (`dream`) share these fields;
//! LLaDA's OLMo-style config is read by [`Config::from_json`] into the same struct. The
//! `anneal_*` fields are ours and default to values that describe a mask-only model.

use serde::{Deserialize, Serialize};

/// Which reference implementation a checkpoint follows. Decides the tensor names, the logit
/// shift, the attention pattern and the special token ids, so that one transformer body
/// serves every family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Anneal's own models: no logit shift, tokenizer with mask/pad/end-of-text.
    Anneal,
    /// Dream-v0, Dream-Coder-v0, DiffuCoder, Open-dCoder: a Qwen2 body made bidirectional,
    /// trained to predict the token at position i from the output at i−1 (logits shifted).
    Dream,
    /// LLaDA: a LLaMA body made bidirectional, OLMo tensor names, no shift.
    Llada,
    /// JetLM's SDAR: a Qwen3 body (per-head query and key norms) that attends block-causally
    /// — a position sees its own block of [`Config::block_size`] and every block before it —
    /// and predicts each position's own token (no shift).
    Sdar,
    /// Salesforce's CoDA: a Qwen3 body made bidirectional, logits shifted as Dream's.
    Coda,
    /// inclusionAI's LLaDA 2.x (`LLaDA2MoeModelLM`): fused q/k/v, per-head query and key
    /// norms, rotary positions on part of each head, mixture-of-experts MLPs with a sigmoid
    /// router and shared experts, block-causal attention in blocks of 32, no shift.
    Llada2,
    /// inclusionAI's LLaDA-MoE (`LLaDAMoEModelLM`, 7B with 1B active): an OLMoE body —
    /// Qwen3's tensor names and per-head query and key norms, every MLP a mixture of experts
    /// under a softmax router — made bidirectional, no shift. Its published `config.json`
    /// says `model_type` `llada`; the class in `architectures` tells it from LLaDA.
    LladaMoe,
}

impl Family {
    /// The `model_type` a config of this family is read back by (a config Anneal makes).
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Anneal => "anneal",
            Family::Dream => "dream",
            Family::Llada => "llada",
            Family::Sdar => "sdar",
            Family::Coda => "coda",
            Family::Llada2 => "llada2_moe",
            Family::LladaMoe => "lladamoe",
        }
    }

    /// Dream keeps the autoregressive model it was adapted from's habit: the output at
    /// position i predicts token i+1, so a canvas position reads its logits one to the left.
    pub fn shifts_logits(self) -> bool {
        matches!(self, Family::Dream | Family::Coda)
    }

    /// Whether a checkpoint of this family may rewrite tokens it has already written as it
    /// unmasks (LLaDA 2.1's token-to-token editing): its edit mode is its own joint sampler.
    pub fn edits_as_it_unmasks(self) -> bool {
        self == Family::Llada2
    }

    /// Qwen3 bodies normalise each head's queries and keys (RMSNorm over the head's width)
    /// before the rotary positions.
    pub fn norms_queries_and_keys(self) -> bool {
        matches!(self, Family::Sdar | Family::Coda | Family::Llada2 | Family::LladaMoe)
    }

    /// Where the family's mask id lives when `config.json` does not say.
    pub(crate) fn default_mask_token_id(self) -> Option<u32> {
        match self {
            Family::Anneal => None,
            Family::Dream => Some(151_666),
            Family::Llada => Some(126_336),
            // SGLang's dLLM config for `SDARForCausalLM`; the published config.json omits it.
            Family::Sdar => Some(151_669),
            Family::Coda => Some(151_669),
            // SGLang's dLLM config and the reference `generate` for `LLaDA2MoeModelLM`.
            Family::Llada2 => Some(156_895),
            // The same tokenizer's: llama.cpp's converter writes it for `LLaDAMoEModelLM`.
            Family::LladaMoe => Some(156_895),
        }
    }

    /// CoDA's config.json names no end of text; its tokenizer's is `<|im_end|>`.
    fn default_eos_token_id(self) -> Option<u32> {
        match self {
            Family::Coda => Some(151_645),
            // LLaDA2's `generate(eos_id=156892)`, also its pad id.
            Family::Llada2 => Some(156_892),
            _ => None,
        }
    }

    /// The block a block-causal family was trained with, when `config.json` does not say
    /// (SDAR-1.7B-Chat: 4; its `-b8` … `-b64` siblings state theirs).
    pub(crate) fn default_block_size(self) -> Option<usize> {
        match self {
            Family::Sdar => Some(4),
            Family::Llada2 => Some(32),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub model_type: String,
    /// The reference classes (`DreamModel`, `LLaDAModelLM`); a second way to tell the family.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    /// Qwen3 states the head width, which need not be `hidden_size / num_attention_heads`
    /// (Qwen3-0.6B: 1024 wide, 16 heads of 128). Absent: that quotient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
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
    /// A block-causal family's block: attention sees the query's own block and the blocks
    /// before it, blocks counted from position 0. `None`: every position sees every other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_size: Option<usize>,
    /// The share of each head's width that rotary positions turn (LLaDA2: 0.5, the first
    /// half); the rest passes unturned. `None`: all of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_rotary_factor: Option<f64>,
    /// A bias on the attention's output projection (LLaDA2's `use_bias`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub attention_output_bias: bool,
    /// Mixture-of-experts MLPs (LLaDA2), under Hugging Face's field names.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub moe: Option<Moe>,
    /// True when the checkpoint went through the edit stage and may correct visible tokens;
    /// the engine then samples in edit mode instead of mask mode.
    #[serde(default)]
    pub anneal_edit_trained: bool,
}

/// The mixture-of-experts MLP of LLaDA2's layers from `first_k_dense_replace` on: a sigmoid
/// router picks `num_experts_per_tok` of `num_experts` (among the `topk_group` best of `n_group`
/// groups, by a bias-corrected score), weighs them by their normalised scores times
/// `routed_scaling_factor`, and `num_shared_experts` always run beside them. LLaDA-MoE's
/// router scores with a softmax instead ([`Moe::softmax_router`]), in one group, weights as
/// they come.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Moe {
    pub num_experts: usize,
    pub num_experts_per_tok: usize,
    pub moe_intermediate_size: usize,
    #[serde(default, deserialize_with = "null_as_zero")]
    pub num_shared_experts: usize,
    #[serde(default = "one")]
    pub n_group: usize,
    #[serde(default = "one")]
    pub topk_group: usize,
    #[serde(default = "one_f64")]
    pub routed_scaling_factor: f64,
    #[serde(default)]
    pub first_k_dense_replace: usize,
    #[serde(default = "default_true")]
    pub norm_topk_prob: bool,
    /// Scores are a softmax over every expert's router logit (LLaDA-MoE), not sigmoids.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub softmax_router: bool,
}

fn one() -> usize {
    1
}
fn one_f64() -> f64 {
    1.0
}
fn null_as_zero<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    Ok(Option::<usize>::deserialize(d)?.unwrap_or(0))
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
    #[error("config.json: model_type `{0}` is not supported (supported: anneal, dream — Dream, Dream-Coder, DiffuCoder, Open-dCoder — llada, sdar, coda, llada2_moe and lladamoe)")]
    UnsupportedFamily(String),
    #[error("config.json: {0}")]
    Invalid(String),
}

impl Config {
    pub fn family(&self) -> Result<Family, ConfigError> {
        family_of(&self.model_type, &self.architectures)
    }

    /// Parses any supported family's `config.json`: LLaDA's own field names are translated,
    /// and special ids a family fixes are filled in where the file leaves them out.
    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        let invalid = |e: serde_json::Error| ConfigError::Invalid(e.to_string());
        let mut json: serde_json::Value = serde_json::from_str(text).map_err(invalid)?;
        let model_type = json["model_type"].as_str().unwrap_or_default().to_string();
        let architectures: Vec<String> = serde_json::from_value(json["architectures"].clone()).unwrap_or_default();
        let family = family_of(&model_type, &architectures)?;
        // A config Anneal wrote (`model random`, a run folder) is this struct as it is, in its
        // own field names, whatever the family's published ones (LLaDA's OLMo names,
        // LLaDA-MoE's expert widths); only Anneal writes `anneal_edit_trained`.
        if json.get("anneal_edit_trained").is_some() {
            let config: Config = serde_json::from_value(json).map_err(invalid)?;
            config.validate()?;
            return Ok(config);
        }
        if family == Family::Llada {
            let llada: LladaConfig = serde_json::from_value(json).map_err(invalid)?;
            return llada.into_config(architectures);
        }
        if let (Some(object), Some(mask)) = (json.as_object_mut(), family.default_mask_token_id()) {
            object.entry("mask_token_id").or_insert(mask.into());
            if let Some(eos) = family.default_eos_token_id() {
                object.entry("eos_token_id").or_insert(eos.into());
            }
            let eos = object.get("eos_token_id").cloned().unwrap_or(serde_json::Value::Null);
            object.entry("pad_token_id").or_insert(eos);
        }
        if family.norms_queries_and_keys() {
            check_qwen3_variant(&json)?;
        }
        if family == Family::Llada2 {
            llada2_fields(&mut json)?;
        }
        if family == Family::LladaMoe {
            llada_moe_fields(&mut json)?;
        }
        if let Some(object) = json.as_object_mut() {
            if let Some(block) = family.default_block_size() {
                object.entry("block_size").or_insert(block.into());
            }
            // Qwen3 bodies have no q/k/v biases; their configs say so, but not always.
            if family.norms_queries_and_keys() {
                object.entry("attention_bias").or_insert(false.into());
            }
        }
        serde_json::from_value(json).map_err(invalid)
    }

    /// How much of each head rotary positions turn: all of it unless the config says a share.
    pub fn rotary_dim(&self) -> usize {
        match self.partial_rotary_factor {
            Some(factor) => (self.head_dim() as f64 * factor) as usize,
            None => self.head_dim(),
        }
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Catch a config that would fail deep inside a matmul with an unhelpful shape error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.num_attention_heads == 0 || (self.head_dim.is_none() && !self.hidden_size.is_multiple_of(self.num_attention_heads)) {
            return bad(format!("hidden_size {} is not a multiple of num_attention_heads {}", self.hidden_size, self.num_attention_heads));
        }
        if self.num_key_value_heads == 0 || !self.num_attention_heads.is_multiple_of(self.num_key_value_heads) {
            return bad(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.num_attention_heads, self.num_key_value_heads
            ));
        }
        if !self.rotary_dim().is_multiple_of(2) || self.rotary_dim() == 0 || self.rotary_dim() > self.head_dim() {
            return bad(format!("rotary dimension {} of a head of {} must be even and within it", self.rotary_dim(), self.head_dim()));
        }
        if let Some(moe) = &self.moe {
            let grouped = moe.n_group >= 1 && moe.num_experts.is_multiple_of(moe.n_group) && (1..=moe.n_group).contains(&moe.topk_group);
            if !grouped || moe.num_experts_per_tok == 0 || moe.num_experts_per_tok > moe.num_experts / moe.n_group * moe.topk_group {
                return bad(format!(
                    "num_experts {} in n_group {} keeping topk_group {} cannot give num_experts_per_tok {}",
                    moe.num_experts, moe.n_group, moe.topk_group, moe.num_experts_per_tok
                ));
            }
        }
        if self.block_size == Some(0) {
            return bad("block_size 0: a block-causal model's block holds at least one position".into());
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
            architectures: vec![],
            vocab_size,
            hidden_size: 64,
            intermediate_size: 128,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            head_dim: None,
            max_position_embeddings: 4096,
            rope_theta: 10_000.0,
            rms_norm_eps: 1e-6,
            tie_word_embeddings: false,
            attention_bias: true,
            mask_token_id: mask,
            pad_token_id: pad,
            eos_token_id: eos,
            block_size: None,
            partial_rotary_factor: None,
            attention_output_bias: false,
            moe: None,
            anneal_edit_trained: false,
        }
    }
}

/// Qwen3 options the body does not implement: a config that sets one would load and compute
/// something else, so it is refused by the field's name.
fn check_qwen3_variant(json: &serde_json::Value) -> Result<(), ConfigError> {
    let field = |name: &str| json.get(name).filter(|v| !v.is_null());
    if let Some(act) = field("hidden_act").filter(|v| v.as_str() != Some("silu")) {
        return Err(ConfigError::Invalid(format!("hidden_act {act} is not supported (supported: \"silu\")")));
    }
    if let Some(scaling) = field("rope_scaling") {
        return Err(ConfigError::Invalid(format!("rope_scaling {scaling} is not supported (supported: null)")));
    }
    if field("use_sliding_window").is_some_and(|v| v.as_bool() == Some(true)) {
        return Err(ConfigError::Invalid("use_sliding_window true is not supported (supported: false)".into()));
    }
    Ok(())
}

/// LLaDA2's `config.json` under this struct's names: `use_qkv_bias` and `use_bias` (which
/// its config class defaults to true) become the attention biases, and the variants its
/// reference code has but no released checkpoint uses are refused by name.
fn llada2_fields(json: &mut serde_json::Value) -> Result<(), ConfigError> {
    let refuse = |field: &str, value: &serde_json::Value, supported: &str| {
        Err(ConfigError::Invalid(format!("{field} {value} is not supported (supported: {supported})")))
    };
    let object = json.as_object_mut().ok_or_else(|| ConfigError::Invalid("not a JSON object".into()))?;
    if let Some(v) = object.get("use_qk_norm").filter(|v| v.as_bool() == Some(false)) {
        return refuse("use_qk_norm", v, "true");
    }
    if let Some(v) = object.get("norm_head").filter(|v| v.as_bool() == Some(true)) {
        return refuse("norm_head", v, "false");
    }
    if let Some(v) = object.get("score_function").filter(|v| !v.is_null() && v.as_str() != Some("sigmoid")) {
        return refuse("score_function", v, "\"sigmoid\"");
    }
    if object.get("num_experts").is_some_and(|v| !v.is_null()) && object.get("moe_intermediate_size").is_none_or(|v| v.is_null()) {
        return Err(ConfigError::Invalid("num_experts is set but moe_intermediate_size is not".into()));
    }
    let qkv_bias = object.get("use_qkv_bias").and_then(|v| v.as_bool()).unwrap_or(false);
    let output_bias = object.get("use_bias").and_then(|v| v.as_bool()).unwrap_or(true);
    object.insert("attention_bias".into(), qkv_bias.into());
    object.insert("attention_output_bias".into(), output_bias.into());
    object.entry("rms_norm_eps").or_insert(1e-5.into());
    Ok(())
}

/// LLaDA-MoE's `config.json` (`configuration_lladamoe.py`) under this struct's names. The
/// reference's forward fixes what some fields would vary: softmax scores whatever
/// `moe_router_score_function` says, weights never renormalised or scaled, every head turned
/// whole. Variants of the config class that no released checkpoint uses, and llama.cpp's
/// `llada-moe` does not run either, are refused by name: a shared expert, dense layers, a
/// router bias, clipped q/k/v, no query and key norms.
fn llada_moe_fields(json: &mut serde_json::Value) -> Result<(), ConfigError> {
    let refuse = |field: &str, value: &serde_json::Value, supported: &str| {
        Err(ConfigError::Invalid(format!("{field} {value} is not supported (supported: {supported})")))
    };
    let object = json.as_object_mut().ok_or_else(|| ConfigError::Invalid("not a JSON object".into()))?;
    let set = |name: &str| object.get(name).filter(|v| !v.is_null());
    if let Some(v) = set("shared_expert_intermediate_size").filter(|v| v.as_u64() != Some(0)) {
        return refuse("shared_expert_intermediate_size", v, "null");
    }
    // A layer list of 1s (every layer a mixture), or OLMoE's single frequency 1.
    let every_layer = |v: &serde_json::Value| match v.as_array() {
        Some(each) => each.iter().all(|x| x.as_u64() == Some(1)),
        None => v.as_u64() == Some(1),
    };
    if let Some(v) = set("moe_layer_freq").filter(|v| !every_layer(v)) {
        return refuse("moe_layer_freq", v, "1 for every layer");
    }
    if let Some(v) = set("moe_router_enable_expert_bias").filter(|v| v.as_bool() == Some(true)) {
        return refuse("moe_router_enable_expert_bias", v, "false");
    }
    if let Some(v) = set("clip_qkv") {
        return refuse("clip_qkv", v, "null");
    }
    if let Some(v) = object.get("qk_layernorm").filter(|v| v.as_bool() != Some(true)) {
        return refuse("qk_layernorm", v, "true");
    }
    if let Some(v) = set("partial_rotary_factor").filter(|v| v.as_f64() != Some(1.0)) {
        return refuse("partial_rotary_factor", v, "1.0");
    }
    let expert =
        set("expert_intermediate_size").cloned().ok_or_else(|| ConfigError::Invalid("expert_intermediate_size is not set".into()))?;
    // Unused while every layer is a mixture; the field must hold a width all the same.
    let dense = set("dense_intermediate_size").filter(|v| v.as_i64().is_some_and(|n| n > 0)).cloned().unwrap_or(expert.clone());
    object.remove("partial_rotary_factor");
    object.insert("moe_intermediate_size".into(), expert);
    object.insert("intermediate_size".into(), dense);
    for (field, value) in [
        ("softmax_router", true.into()),
        ("norm_topk_prob", false.into()),
        ("num_shared_experts", 0.into()),
        ("n_group", 1.into()),
        ("topk_group", 1.into()),
        ("routed_scaling_factor", 1.0.into()),
        ("first_k_dense_replace", 0.into()),
    ] {
        object.insert(field.into(), value);
    }
    object.entry("attention_bias").or_insert(false.into());
    object.entry("rms_norm_eps").or_insert(1e-5.into());
    Ok(())
}

fn family_of(model_type: &str, architectures: &[String]) -> Result<Family, ConfigError> {
    let arch = |name: &str| architectures.iter().any(|a| a == name);
    // Before the model types: LLaDA-MoE's published config says `llada`.
    if arch("LLaDAMoEModelLM") || arch("LLaDAMoEModel") {
        return Ok(Family::LladaMoe);
    }
    match model_type.to_ascii_lowercase().as_str() {
        "anneal" => Ok(Family::Anneal),
        "dream" => Ok(Family::Dream),
        "llada" => Ok(Family::Llada),
        "sdar" => Ok(Family::Sdar),
        "coda" => Ok(Family::Coda),
        "llada2_moe" => Ok(Family::Llada2),
        "lladamoe" => Ok(Family::LladaMoe),
        _ if arch("DreamModel") => Ok(Family::Dream),
        _ if arch("LLaDAModelLM") => Ok(Family::Llada),
        _ if arch("SDARForCausalLM") => Ok(Family::Sdar),
        _ if arch("CoDALanguageModel") => Ok(Family::Coda),
        _ if arch("LLaDA2MoeModelLM") => Ok(Family::Llada2),
        other => Err(ConfigError::UnsupportedFamily(other.to_string())),
    }
}

/// LLaDA's `config.json`, as its OLMo-derived `configuration_llada.py` names things.
#[derive(Deserialize)]
struct LladaConfig {
    model_type: String,
    d_model: usize,
    n_heads: usize,
    #[serde(default)]
    n_kv_heads: Option<usize>,
    n_layers: usize,
    #[serde(default)]
    mlp_hidden_size: Option<usize>,
    #[serde(default = "default_mlp_ratio")]
    mlp_ratio: usize,
    vocab_size: usize,
    /// The embedding's rows, padded past the vocabulary.
    #[serde(default)]
    embedding_size: Option<usize>,
    max_sequence_length: usize,
    #[serde(default = "default_rope_theta")]
    rope_theta: f64,
    #[serde(default = "default_llada_eps")]
    rms_norm_eps: f64,
    #[serde(default)]
    include_bias: bool,
    #[serde(default)]
    include_qkv_bias: Option<bool>,
    #[serde(default)]
    weight_tying: bool,
    #[serde(default = "default_llama_block")]
    block_type: String,
    #[serde(default = "default_silu")]
    activation_type: String,
    #[serde(default = "default_rms")]
    layer_norm_type: String,
    #[serde(default = "default_true")]
    rope: bool,
    #[serde(default)]
    attention_layer_norm: bool,
    #[serde(default)]
    mask_token_id: Option<u32>,
    #[serde(default)]
    pad_token_id: Option<u32>,
    eos_token_id: u32,
}

fn default_mlp_ratio() -> usize {
    4
}
fn default_llada_eps() -> f64 {
    1e-5
}
fn default_llama_block() -> String {
    "llama".into()
}
fn default_silu() -> String {
    "silu".into()
}
fn default_rms() -> String {
    "rms".into()
}

impl LladaConfig {
    fn into_config(self, architectures: Vec<String>) -> Result<Config, ConfigError> {
        // Only the variant LLaDA's released checkpoints use; any other would load without
        // error and compute something else.
        let supported = self.block_type == "llama"
            && self.activation_type == "silu"
            && self.layer_norm_type == "rms"
            && self.rope
            && !self.include_bias
            && !self.attention_layer_norm;
        if !supported {
            return Err(ConfigError::Invalid(format!(
                "LLaDA variant not supported (block_type {}, activation_type {}, layer_norm_type {}, rope {}, include_bias {}, attention_layer_norm {}); supported: llama, silu, rms, rope, no biases",
                self.block_type, self.activation_type, self.layer_norm_type, self.rope, self.include_bias, self.attention_layer_norm
            )));
        }
        Ok(Config {
            model_type: self.model_type,
            architectures,
            vocab_size: self.embedding_size.unwrap_or(self.vocab_size).max(self.vocab_size),
            hidden_size: self.d_model,
            intermediate_size: self.mlp_hidden_size.unwrap_or(self.mlp_ratio * self.d_model),
            num_hidden_layers: self.n_layers,
            num_attention_heads: self.n_heads,
            num_key_value_heads: self.n_kv_heads.unwrap_or(self.n_heads),
            head_dim: None,
            max_position_embeddings: self.max_sequence_length,
            rope_theta: self.rope_theta,
            rms_norm_eps: self.rms_norm_eps,
            tie_word_embeddings: self.weight_tying,
            attention_bias: self.include_qkv_bias.unwrap_or(false),
            mask_token_id: self.mask_token_id.unwrap_or(126_336),
            pad_token_id: self.pad_token_id.unwrap_or(self.eos_token_id),
            eos_token_id: self.eos_token_id,
            block_size: None,
            partial_rotary_factor: None,
            attention_output_bias: false,
            moe: None,
            anneal_edit_trained: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dream_config_gets_its_mask_id_and_pad_from_eos() {
        let text = r#"{"architectures": ["DreamModel"], "model_type": "Dream", "vocab_size": 152064,
            "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
            "num_attention_heads": 14, "num_key_value_heads": 2, "max_position_embeddings": 131072,
            "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": true, "eos_token_id": 151643}"#;
        let c = Config::from_json(text).unwrap();
        assert_eq!(c.family().unwrap(), Family::Dream);
        assert_eq!((c.mask_token_id, c.pad_token_id, c.eos_token_id), (151_666, 151_643, 151_643));
        assert!(c.attention_bias, "Qwen2 bodies have q/k/v biases");
    }

    #[test]
    fn llada_config_is_translated() {
        let text = r#"{"architectures": ["LLaDAModelLM"], "model_type": "llada", "d_model": 4096, "n_heads": 32,
            "n_kv_heads": 32, "n_layers": 32, "mlp_hidden_size": 12288, "vocab_size": 126464,
            "embedding_size": 126464, "max_sequence_length": 4096, "rope_theta": 500000.0,
            "include_bias": false, "weight_tying": false, "eos_token_id": 126081, "pad_token_id": 126081,
            "mask_token_id": 126336, "block_type": "llama", "activation_type": "silu", "layer_norm_type": "rms"}"#;
        let c = Config::from_json(text).unwrap();
        assert_eq!(c.family().unwrap(), Family::Llada);
        assert_eq!((c.hidden_size, c.intermediate_size, c.num_hidden_layers), (4096, 12288, 32));
        assert_eq!((c.mask_token_id, c.eos_token_id, c.rms_norm_eps), (126_336, 126_081, 1e-5));
        assert!(!c.attention_bias && !c.tie_word_embeddings);
        let sequential = text.replace(r#""block_type": "llama""#, r#""block_type": "sequential""#);
        let err = Config::from_json(&sequential).unwrap_err().to_string();
        assert!(err.contains("block_type sequential"), "{err}");
    }

    /// SDAR-4B-Chat's published config.json with its body shrunk: no mask id, no block size.
    const SDAR: &str = r#"{"architectures": ["SDARForCausalLM"], "model_type": "sdar", "vocab_size": 151936,
        "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 2, "num_attention_heads": 16,
        "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 32768, "rope_theta": 1000000,
        "rms_norm_eps": 1e-06, "rope_scaling": null, "hidden_act": "silu", "use_sliding_window": false,
        "tie_word_embeddings": false, "bos_token_id": 151643, "eos_token_id": 151643}"#;

    #[test]
    fn sdar_config_gets_sglangs_mask_id_and_block_and_its_own_head_width() {
        let c = Config::from_json(SDAR).unwrap();
        assert_eq!(c.family().unwrap(), Family::Sdar);
        assert_eq!((c.mask_token_id, c.block_size, c.head_dim()), (151_669, Some(4), 128));
        assert!(!c.attention_bias, "Qwen3 bodies have no q/k/v biases");
        c.validate().unwrap();
        let b8 = Config::from_json(&SDAR.replace(r#""head_dim": 128"#, r#""head_dim": 128, "block_size": 8"#)).unwrap();
        assert_eq!(b8.block_size, Some(8), "a -b8 checkpoint's own block wins");
    }

    #[test]
    fn a_qwen3_option_the_body_lacks_is_refused_by_name() {
        let yarn = SDAR.replace(r#""rope_scaling": null"#, r#""rope_scaling": {"type": "yarn", "factor": 4.0}"#);
        let err = Config::from_json(&yarn).unwrap_err().to_string();
        assert!(err.contains("rope_scaling") && err.contains("yarn"), "{err}");
        let gelu = SDAR.replace(r#""hidden_act": "silu""#, r#""hidden_act": "gelu""#);
        assert!(Config::from_json(&gelu).unwrap_err().to_string().contains("hidden_act \"gelu\""));
        let sliding = SDAR.replace(r#""use_sliding_window": false"#, r#""use_sliding_window": true"#);
        assert!(Config::from_json(&sliding).unwrap_err().to_string().contains("use_sliding_window"));
    }

    #[test]
    fn coda_config_ends_at_im_end_and_pads_with_end_of_text() {
        // CoDA's config.json names no end of text and no bos.
        let text = r#"{"architectures": ["CoDALanguageModel"], "model_type": "CoDA", "vocab_size": 151936,
            "hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 28, "num_attention_heads": 16,
            "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 40960, "rope_theta": 1000000.0,
            "rms_norm_eps": 1e-06, "attention_bias": false, "mask_token_id": 151669, "pad_token_id": 151643}"#;
        let c = Config::from_json(text).unwrap();
        assert_eq!(c.family().unwrap(), Family::Coda);
        assert_eq!((c.mask_token_id, c.pad_token_id, c.eos_token_id, c.block_size), (151_669, 151_643, 151_645, None));
        assert!(c.family().unwrap().shifts_logits() && !c.tie_word_embeddings);
    }

    /// LLaDA-MoE-7B-A1B's config in its published layout, its body shrunk: `model_type` says
    /// `llada`, only the class tells the mixture apart.
    const LLADA_MOE: &str = r#"{"architectures": ["LLaDAMoEModelLM"], "model_type": "llada", "vocab_size": 157184,
        "hidden_size": 256, "dense_intermediate_size": 8192, "expert_intermediate_size": 128,
        "shared_expert_intermediate_size": null, "num_experts": 64, "num_experts_per_tok": 8,
        "moe_layer_freq": [1, 1], "num_hidden_layers": 2, "num_attention_heads": 16, "num_key_value_heads": 16,
        "qk_layernorm": true, "moe_router_enable_expert_bias": false, "moe_router_score_function": "softmax",
        "partial_rotary_factor": 1.0, "rope_theta": 50000, "max_position_embeddings": 8192,
        "rms_norm_eps": 1e-5, "attention_bias": false, "hidden_act": "silu", "rope_scaling": null,
        "tie_word_embeddings": false, "eos_token_id": 156892, "pad_token_id": 156892}"#;

    #[test]
    fn llada_moe_config_is_told_from_llada_by_its_class() {
        let c = Config::from_json(LLADA_MOE).unwrap();
        assert_eq!(c.family().unwrap(), Family::LladaMoe);
        assert_eq!((c.mask_token_id, c.eos_token_id, c.rotary_dim(), c.head_dim()), (156_895, 156_892, 16, 16));
        let moe = c.moe.as_ref().unwrap();
        assert_eq!((moe.num_experts, moe.num_experts_per_tok, moe.moe_intermediate_size), (64, 8, 128));
        assert!(moe.softmax_router && !moe.norm_topk_prob && moe.num_shared_experts == 0 && moe.first_k_dense_replace == 0);
        assert!(!c.attention_bias && c.family().unwrap().norms_queries_and_keys());
        c.validate().unwrap();
        // As Anneal writes it into a GGUF and reads it back.
        let again: Config = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn a_llada_moe_variant_no_checkpoint_uses_is_refused_by_name() {
        for (from, to, field) in [
            (r#""shared_expert_intermediate_size": null"#, r#""shared_expert_intermediate_size": 1024"#, "shared_expert_intermediate_size"),
            (r#""moe_layer_freq": [1, 1]"#, r#""moe_layer_freq": [0, 1]"#, "moe_layer_freq"),
            (r#""moe_layer_freq": [1, 1]"#, r#""moe_layer_freq": 2"#, "moe_layer_freq"),
            (r#""moe_router_enable_expert_bias": false"#, r#""moe_router_enable_expert_bias": true"#, "moe_router_enable_expert_bias"),
            (r#""qk_layernorm": true"#, r#""qk_layernorm": false"#, "qk_layernorm"),
            (r#""partial_rotary_factor": 1.0"#, r#""partial_rotary_factor": 0.5"#, "partial_rotary_factor"),
            (r#""rope_scaling": null"#, r#""rope_scaling": {"type": "linear", "factor": 2.0}"#, "rope_scaling"),
        ] {
            let text = LLADA_MOE.replace(from, to);
            assert_ne!(text, LLADA_MOE, "{field}: the test's config changed");
            let err = Config::from_json(&text).unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn an_unknown_family_names_the_supported_ones() {
        let err = Config::from_json(r#"{"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}"#).unwrap_err();
        assert!(err.to_string().contains("`gpt2` is not supported (supported: anneal, dream"), "{err}");
    }
}
