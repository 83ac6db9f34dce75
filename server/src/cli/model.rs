//! `anneal model`: make random-weight checkpoints and describe checkpoint folders.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use anneal_models::{checkpoint, config_parameter_count, hub_cache, random, Precision};

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
    /// Download a checkpoint (`ORG/NAME[@REVISION]`) into the local Hugging Face cache: the
    /// only command that uses the network (needs the `hub` build feature).
    Pull { id: String },
}

pub fn run(cmd: ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Random { dir, seed } => {
            random::write_tiny_checkpoint(&dir, seed)?;
            println!("wrote a tiny random-weight checkpoint to {}", dir.display());
        }
        ModelCommand::Pull { id } => super::pull::pull(&id)?,
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
            let config = checkpoint::read_config(&dir)?;
            let params = config_parameter_count(&config);
            println!("family: {:?}", config.family()?);
            println!("parameters: {:.2} M", params as f64 / 1e6);
            println!(
                "layers {} · hidden {} · heads {}/{} · vocab {}",
                config.num_hidden_layers, config.hidden_size, config.num_attention_heads, config.num_key_value_heads, config.vocab_size
            );
            println!("edit-trained: {}", config.anneal_edit_trained);
            let template = anneal_models::prompt::ChatTemplate::from_dir(&dir)?;
            println!("follows instructions: {}", if template.is_some() { "yes (chat template)" } else { "no (base model: infill prompt)" });
            println!("stored as: {}", checkpoint::stored_dtypes(&checkpoint::weight_files(&dir)?)?.join(", "));
            let gib = |p: Precision| checkpoint::memory_needed(&config, p) as f64 / (1u64 << 30) as f64;
            let each: Vec<String> = [Precision::F32, Precision::BF16, Precision::Q8_0, Precision::Q4K]
                .into_iter()
                .map(|p| format!("{:.2} GiB as {}", gib(p), if p == Precision::BF16 { "bf16/f16" } else { p.name() }))
                .collect();
            println!("memory to run it (--dtype): {}", each.join(", "));
            if let Some(available) = checkpoint::memory_available() {
                println!("memory available now: {:.2} GiB", available as f64 / (1u64 << 30) as f64);
            }
        }
    }
    Ok(())
}
