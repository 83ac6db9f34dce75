//! `anneal model`: make random-weight checkpoints and describe checkpoint folders.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

use anneal_engine::ModelSource;
use anneal_models::{checkpoint, config_parameter_count, config_parameter_counts, gguf, hub_cache, random, Precision};

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Write a random-weight checkpoint (for plumbing tests and benchmarks of a real shape).
    Random {
        /// Output folder.
        dir: PathBuf,
        /// Seed for the weights: the same seed gives the same file.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// A real checkpoint's shape (`config.json`, e.g. models/shapes/*.json) instead of the
        /// tiny one: weights stored in bf16 as published checkpoints are, with the embedded
        /// model's tokenizer.
        #[arg(long)]
        shape: Option<PathBuf>,
        /// The tokenizer to write with a `--shape` (a tokenizer.json, or one gzipped): the
        /// checkpoint's own, where a peer must tokenize as the checkpoint would.
        #[arg(long, requires = "shape")]
        tokenizer: Option<PathBuf>,
    },
    /// Show a checkpoint folder's family, size and memory needs.
    Info { dir: PathBuf },
    /// Write a checkpoint's weights quantized, as GGUF (`OUT/model.gguf`, with the config and
    /// tokenizer beside it), so that later loads skip quantizing: `--model OUT`.
    Quantize {
        /// The checkpoint: a folder (safetensors), a Hugging Face id in the local cache, or
        /// `default` (the embedded model).
        model: String,
        /// q8_0 or q4k.
        #[arg(long, value_parser = parse_quantized)]
        dtype: Precision,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// List the checkpoints in the local Hugging Face cache (usable as `--model ORG/NAME`).
    List,
    /// Download a checkpoint (`ORG/NAME[@REVISION]`) into the local Hugging Face cache: the
    /// only command that uses the network (needs the `hub` build feature).
    Pull { id: String },
}

fn parse_quantized(name: &str) -> Result<Precision, String> {
    Precision::parse(name).filter(|p| p.is_quantized()).ok_or_else(|| format!("`{name}` is not a quantized dtype (expected q8_0 or q4k)"))
}

pub fn run(cmd: ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Random { dir, seed, shape: None, .. } => {
            random::write_tiny_checkpoint(&dir, seed)?;
            println!("wrote a tiny random-weight checkpoint to {}", dir.display());
        }
        ModelCommand::Random { dir, seed, shape: Some(shape), tokenizer } => {
            let config = checkpoint::read_config_file(&shape)?;
            let tokenizer = match tokenizer {
                None => anneal_models::Tokenizer::from_bytes(anneal_models::default_model::TOKENIZER)?,
                Some(path) => {
                    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
                    let json = if path.extension().is_some_and(|e| e == "gz") {
                        let mut json = vec![];
                        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes.as_slice()), &mut json)?;
                        json
                    } else {
                        bytes
                    };
                    anneal_models::Tokenizer::from_bytes(&json)?
                }
            };
            checkpoint::check_tokenizer(&config, &tokenizer)?;
            random::write_random_checkpoint_as(&dir, &config, &tokenizer, seed, candle_core::DType::BF16)?;
            println!(
                "wrote random weights of {} ({:.0} M parameters, bf16) to {}",
                shape.display(),
                config_parameter_count(&config) as f64 / 1e6,
                dir.display()
            );
        }
        ModelCommand::Pull { id } => super::pull::pull(&id)?,
        ModelCommand::Quantize { model, dtype, out } => {
            let started = std::time::Instant::now();
            let scratch = tempfile::tempdir()?;
            let dir = match ModelSource::parse(Some(&model)) {
                ModelSource::Default => {
                    anneal_models::default_model::write_to(scratch.path())?;
                    scratch.path().to_path_buf()
                }
                ModelSource::Dir(dir) => dir,
                ModelSource::Hub(id) => {
                    let Some(cache) = hub_cache::cache_dir() else { anyhow::bail!("no Hugging Face cache folder (set HF_HOME)") };
                    hub_cache::snapshot(&cache, &id)?
                }
            };
            let mut shown = 0;
            let written = gguf::quantize_checkpoint(&dir, &out, dtype, &mut |done, total| {
                // A line per tenth: a 7B checkpoint takes minutes.
                if done * 10 / total.max(1) > shown || done == total {
                    shown = done * 10 / total.max(1);
                    eprintln!("quantizing: {done}/{total} tensors");
                }
            })?;
            println!(
                "wrote {} ({:.1} MiB, {} tensors, {} quantized to {dtype}) in {:.1} s; load it with --model {}",
                written.path.display(),
                written.bytes as f64 / (1u64 << 20) as f64,
                written.tensors,
                written.quantized,
                started.elapsed().as_secs_f64(),
                out.display()
            );
        }
        ModelCommand::List => {
            let Some(cache) = hub_cache::cache_dir() else { anyhow::bail!("no Hugging Face cache folder (set HF_HOME)") };
            let models = hub_cache::list(&cache)?;
            if models.is_empty() {
                println!("no models in {}", cache.display());
            }
            println!(
                "default\tembedded\t{:.2} M parameters",
                config_parameter_count(&checkpoint::parse_config(anneal_models::default_model::CONFIG)?) as f64 / 1e6
            );
            for (id, dir) in models {
                match checkpoint::read_config(&dir) {
                    Ok(c) => println!("{id}\t{}\t{:.2} M parameters", c.model_type, config_parameter_count(&c) as f64 / 1e6),
                    Err(e) => println!("{id}\tunreadable: {e:#}"),
                }
            }
        }
        ModelCommand::Info { dir } => {
            let gguf_file = gguf::find(&dir)?;
            let (weights, config) = match gguf_file {
                Some(file) => {
                    let (weights, config) = gguf::GgufWeights::open_in(&dir, &file)?;
                    (Some(weights), config)
                }
                None => (None, checkpoint::read_config(&dir)?),
            };
            let (params, active) = config_parameter_counts(&config);
            println!("family: {:?}", config.family()?);
            match &config.moe {
                Some(moe) => println!(
                    "parameters: {:.2} M, {:.2} M of them active a token ({} of {} experts, {} shared)",
                    params as f64 / 1e6,
                    active as f64 / 1e6,
                    moe.num_experts_per_tok,
                    moe.num_experts,
                    moe.num_shared_experts
                ),
                None => println!("parameters: {:.2} M", params as f64 / 1e6),
            }
            println!(
                "layers {} · hidden {} · heads {}/{} · vocab {}",
                config.num_hidden_layers, config.hidden_size, config.num_attention_heads, config.num_key_value_heads, config.vocab_size
            );
            let family = config.family()?;
            let attention = match config.block_size {
                Some(block) => format!("block-causal in blocks of {block}"),
                None => "bidirectional".into(),
            };
            let shift = if family.shifts_logits() { ", logits shifted" } else { "" };
            println!("attention: {attention}{shift}");
            let edits = match (config.anneal_edit_trained, family.edits_as_it_unmasks()) {
                (true, _) => "yes (edit mode: corrects the tokens it is given)",
                (false, true) => "LLaDA 2.1 yes, 2.0 no (--mode edit: rewrites its own tokens as it unmasks, JointThreshold)",
                (false, false) => "no (mask mode: regenerates a block)",
            };
            println!("edits natively: {edits}");
            let template = anneal_models::Model::chat_template(&config, &dir, None)?;
            println!("follows instructions: {}", if template.is_some() { "yes (chat template)" } else { "no (base model: infill prompt)" });
            let gib = |bytes: u64| bytes as f64 / (1u64 << 30) as f64;
            if let Some(weights) = weights {
                let types: Vec<String> = weights.stored_types().iter().map(|t| format!("{t:?}")).collect();
                println!("stored as: {} ({})", types.join(", "), weights.path().display());
                // A GGUF runs at what it stores: the dtype setting applies to safetensors.
                println!("memory to run it: {:.2} GiB as stored ({})", gib(weights.memory_needed()), weights.precision());
            } else {
                // A folder of config.json alone still says what the model would need.
                match checkpoint::weight_files(&dir) {
                    Ok(files) => println!("stored as: {}", checkpoint::stored_dtypes(&files)?.join(", ")),
                    Err(e) => println!("stored as: no weights ({e})"),
                }
                let each: Vec<String> = [Precision::F32, Precision::BF16, Precision::Q8_0, Precision::Q4K]
                    .into_iter()
                    .map(|p| {
                        format!(
                            "{:.2} GiB as {}",
                            gib(checkpoint::memory_needed(&config, p)),
                            if p == Precision::BF16 { "bf16/f16" } else { p.name() }
                        )
                    })
                    .collect();
                println!("memory to run it (--dtype): {}", each.join(", "));
            }
            if let Some(available) = checkpoint::memory_available() {
                println!("memory available now: {:.2} GiB", available as f64 / (1u64 << 30) as f64);
            }
        }
    }
    Ok(())
}
