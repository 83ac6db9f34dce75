//! `anneal train CONFIG`: runs the training recipe with a progress bar; resumes on its own
//! from the run folder's last checkpoint.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use anneal_models::train::{train_on, TrainConfig};

#[derive(Args)]
pub struct TrainArgs {
    /// A JSON training config (see models/train/default.json).
    config: PathBuf,
    /// Override the number of steps (e.g. for a short trial run).
    #[arg(long)]
    steps: Option<usize>,
    /// Override the output folder.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Override the corpus folder (train.jsonl and valid.jsonl).
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Where training runs: cpu, cuda or cuda:N (CUDA builds only).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Stop after this many minutes with the final evaluation and a checkpoint, as if the last
    /// step had come (a machine lent for a fixed time).
    #[arg(long)]
    max_minutes: Option<f64>,
}

pub fn run(args: TrainArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.config).with_context(|| format!("cannot read {}", args.config.display()))?;
    let mut cfg: TrainConfig = serde_json::from_str(&text).with_context(|| format!("in {}", args.config.display()))?;
    if let Some(steps) = args.steps {
        cfg.steps = steps;
    }
    if let Some(out) = args.out {
        cfg.out = out;
    }
    if let Some(corpus) = args.corpus {
        cfg.corpus = corpus;
    }
    let bar = ProgressBar::new(cfg.total_steps() as u64)
        .with_style(ProgressStyle::with_template("{bar:30} {pos}/{len} steps · {msg} · ETA {eta}").expect("valid template"));
    let device = crate::settings::parse_device(&args.device).map_err(anyhow::Error::msg)?;
    let stop_after = args.max_minutes.map(|m| std::time::Duration::from_secs_f64(m.max(0.0) * 60.0));
    let done = train_on(&cfg, &device, stop_after, &mut |p| {
        bar.set_position(p.step as u64);
        let eval = p.last_eval.and_then(|m| m.valid_accuracy.map(|a| format!(" · valid acc@50% {:.1}%", a[1] * 100.0))).unwrap_or_default();
        bar.set_message(format!("loss {:.3} · {:.0} tok/s{eval}", p.loss, p.tokens_per_sec));
    })?;
    bar.finish();
    println!("checkpoint: {}", done.display());
    Ok(())
}
