//! `anneal model`: make random-weight checkpoints and describe checkpoint folders.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use anneal_models::{checkpoint, config_parameter_count, hub_cache, random};

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Write a random-weight checkpoint (for plumbing tests and benchmarks of a real shape).
    Random {
        /// Output folder.
        dir: PathBuf,
        /// Seed for the weights: the same seed gives the same file.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Show a checkpoint folder's family, size and memory needs.
    Info { dir: PathBuf },
    /// List the checkpoints in the local Hugging Face cache (usable as `--model ORG/NAME`).
    List,
}

pub fn run(cmd: ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Random { dir, seed } => {
            random::write_tiny_checkpoint(&dir, seed)?;
            println!("wrote a tiny random-weight checkpoint to {}", dir.display());
        }
        ModelCommand::List => {
            let Some(cache) = hub_cache::cache_dir() else { anyhow::bail!("no Hugging Face cache folder (set HF_HOME)") };
            let models = hub_cache::list(&cache)?;
            if models.is_empty() {
                println!("no models in {}", cache.display());
            }
            println!("default\tembedded\t{:.2} M parameters", config_parameter_count(&checkpoint::parse_config(anneal_models::default_model::CONFIG)?) as f64 / 1e6);
            for (id, dir) in models {
                match checkpoint::read_config(&dir) {
                    Ok(c) => println!("{id}\t{}\t{:.2} M parameters", c.model_type, config_parameter_count(&c) as f64 / 1e6),
                    Err(e) => println!("{id}\tunreadable: {e:#}"),
                }
            }
        }
        ModelCommand::Info { dir } => {
            let config = checkpoint::read_config(&dir)?;
            let params = config_parameter_count(&config);
            println!("family: {:?}", config.family()?);
            println!("parameters: {:.2} M", params as f64 / 1e6);
            println!("layers {} · hidden {} · heads {}/{} · vocab {}", config.num_hidden_layers, config.hidden_size, config.num_attention_heads, config.num_key_value_heads, config.vocab_size);
            println!("edit-trained: {}", config.anneal_edit_trained);
            println!("memory for weights: {:.1} MiB in f32, {:.1} MiB in bf16", params as f64 * 4.0 / 1048576.0, params as f64 * 2.0 / 1048576.0);
        }
    }
    Ok(())
}
