//! `anneal bench --dtypes f32,q8_0,q4k`: the same checkpoint at several precisions in one run,
//! each against the first (the baseline, normally f32):
//!
//! - drift: on every task's canvas (context, the block masked, context), the share of
//!   positions whose most likely token is the baseline's (top-1 agreement), and the KL
//!   divergence of the baseline's distribution from this one's, mean and max over positions;
//! - the decode: blocks decoded exactly as the baseline decodes them, and tokens in agreement;
//! - speed: one forward pass over context + block + context, and decode tokens/s with both
//!   sides' keys and values cached (the editor's default decode), as ratios to the baseline's.
//!
//! The baseline stays loaded while each other precision runs, so drift is measured position
//! by position without keeping logits around.

use std::ops::ControlFlow;
use std::time::Instant;

use anneal_models::mask_sampler::{decode_masked, KvReuse, MaskConfig, MaskRequest};
use anneal_models::{Denoiser, Model, Precision};
use anyhow::Result;
use candle_core::{DType, Tensor, D};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::bench::{peak_rss_mib, tasks, time_pass, BenchArgs, RunInfo, Task};

#[derive(Serialize)]
struct PrecisionFigures {
    precision: String,
    /// The weights' bytes in memory, from the config (quantized layers at their block size).
    weight_mib: f64,
    load_seconds: f64,
    /// One pass over context + block + context.
    pass_ms: f64,
    decode_tokens_per_second: f64,
    /// Positions whose most likely token is the baseline's.
    top1_agreement: f64,
    /// KL(baseline ‖ this) per position, in nats.
    kl_mean: f64,
    kl_max: f64,
    /// Blocks decoded exactly as the baseline decodes them.
    same_decode: f64,
    /// Decoded tokens equal to the baseline's, position by position.
    decode_token_agreement: f64,
    /// Baseline time over this time.
    pass_speedup: f64,
    decode_speedup: f64,
}

#[derive(Serialize)]
struct PrecisionReport {
    #[serde(flatten)]
    run: RunInfo,
    precisions: Vec<PrecisionFigures>,
    peak_rss_mib: Option<f64>,
}

/// Runs the comparison on the model `load_at` gives at each precision, named `source` in the
/// report.
pub fn run(args: &BenchArgs, precisions: &[Precision], load_at: &dyn Fn(Precision) -> Result<Model>, source: &str) -> Result<()> {
    let load = |p: Precision| -> Result<(Model, f64)> {
        let started = Instant::now();
        let mut model = load_at(p)?;
        model.source = source.to_string();
        Ok((model, started.elapsed().as_secs_f64()))
    };
    let (baseline, baseline_load) = load(precisions[0])?;
    let tasks = tasks(&baseline, args)?;
    let bar = ProgressBar::new((precisions.len() * 2 * tasks.len()) as u64)
        .with_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} · ETA {eta}")?);
    let config = MaskConfig { threshold: args.threshold, max_steps: args.block, cache: KvReuse::Dual, ..MaskConfig::default() };
    bar.set_message(precisions[0].name());
    let (baseline_outputs, baseline_speed) = decode_all(&baseline, &tasks, &config, &bar)?;
    let baseline_pass = time_pass(&baseline, &tasks[0], args.context, args.block, args.context)?.full_ms;
    let mut figures = vec![figures_of(&baseline, precisions[0], baseline_load, baseline_pass, baseline_speed)];
    figures[0].same_decode = 1.0;
    figures[0].decode_token_agreement = 1.0;
    figures[0].top1_agreement = 1.0;
    bar.inc(tasks.len() as u64);
    for &precision in &precisions[1..] {
        bar.set_message(precision.name());
        let (model, load_seconds) = load(precision)?;
        let (outputs, speed) = decode_all(&model, &tasks, &config, &bar)?;
        let pass_ms = time_pass(&model, &tasks[0], args.context, args.block, args.context)?.full_ms;
        let mut f = figures_of(&model, precision, load_seconds, pass_ms, speed);
        f.pass_speedup = baseline_pass / pass_ms;
        f.decode_speedup = speed / baseline_speed;
        let (mut agree, mut positions, mut kl_sum, mut kl_max) = (0usize, 0usize, 0f64, 0f64);
        for task in &tasks {
            let canvas = masked_canvas(&baseline, task);
            let (a, k) = drift(&baseline.logits(&canvas)?, &model.logits(&canvas)?)?;
            agree += a.iter().filter(|&&x| x).count();
            positions += a.len();
            kl_sum += k.iter().map(|&x| x as f64).sum::<f64>();
            kl_max = k.iter().fold(kl_max, |m, &x| m.max(x as f64));
            bar.inc(1);
        }
        f.top1_agreement = agree as f64 / positions as f64;
        f.kl_mean = kl_sum / positions as f64;
        f.kl_max = kl_max;
        f.same_decode = outputs.iter().zip(&baseline_outputs).filter(|(a, b)| a == b).count() as f64 / tasks.len() as f64;
        let (same, all) = outputs
            .iter()
            .zip(&baseline_outputs)
            .fold((0, 0), |(s, n), (a, b)| (s + a.iter().zip(b).filter(|(x, y)| x == y).count(), n + a.len().max(b.len())));
        f.decode_token_agreement = same as f64 / all.max(1) as f64;
        figures.push(f);
    }
    bar.finish_and_clear();
    let report = PrecisionReport { run: RunInfo::new(&baseline, tasks.len(), args), precisions: figures, peak_rss_mib: peak_rss_mib() };
    print(&report);
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?)?;
    println!("\nwrote {}", args.out.display());
    Ok(())
}

fn figures_of(model: &Model, precision: Precision, load_seconds: f64, pass_ms: f64, speed: f64) -> PrecisionFigures {
    PrecisionFigures {
        precision: precision.name().into(),
        weight_mib: precision.weight_bytes(&model.config) as f64 / (1u64 << 20) as f64,
        load_seconds,
        pass_ms,
        decode_tokens_per_second: speed,
        top1_agreement: 0.0,
        kl_mean: 0.0,
        kl_max: 0.0,
        same_decode: 0.0,
        decode_token_agreement: 0.0,
        pass_speedup: 1.0,
        decode_speedup: 1.0,
    }
}

/// Context, the block as masks, context: what a decode's first pass reads.
fn masked_canvas(model: &Model, task: &Task) -> Vec<u32> {
    let mut canvas = task.prefix.clone();
    canvas.extend(std::iter::repeat_n(model.specials().mask, task.truth.len()));
    canvas.extend_from_slice(&task.suffix);
    canvas
}

/// Every task's block decoded; the blocks and tokens written per second.
fn decode_all(model: &Model, tasks: &[Task], config: &MaskConfig, bar: &ProgressBar) -> Result<(Vec<Vec<u32>>, f64)> {
    let started = Instant::now();
    let mut outputs = vec![];
    for task in tasks {
        let request = MaskRequest { prefix: &task.prefix, canvas_len: task.truth.len(), suffix: &task.suffix };
        outputs.push(decode_masked(model, &request, config, &mut |_| ControlFlow::Continue(()))?.tokens);
        bar.inc(1);
    }
    let written: usize = outputs.iter().map(Vec::len).sum();
    Ok((outputs, written as f64 / started.elapsed().as_secs_f64()))
}

/// Per position of two `[len, vocab]` logits: whether their most likely tokens agree, and
/// KL(p ‖ q) in nats.
fn drift(p: &Tensor, q: &Tensor) -> Result<(Vec<bool>, Vec<f32>)> {
    let (p, q) = (p.to_dtype(DType::F32)?, q.to_dtype(DType::F32)?);
    let top = |t: &Tensor| t.argmax(D::Minus1)?.to_vec1::<u32>();
    let agree = top(&p)?.into_iter().zip(top(&q)?).map(|(a, b)| a == b).collect();
    let (log_p, log_q) = (candle_nn::ops::log_softmax(&p, D::Minus1)?, candle_nn::ops::log_softmax(&q, D::Minus1)?);
    let kl = (log_p.exp()? * (&log_p - &log_q)?)?.sum(D::Minus1)?.to_vec1::<f32>()?;
    Ok((agree, kl))
}

fn print(r: &PrecisionReport) {
    println!("{}; baseline {}", r.run, r.precisions[0].precision);
    println!(
        "\n| precision | weights (MiB) | top-1 agreement | KL mean | KL max | same decode | decode tokens agree | pass (ms) | pass speed-up | decode tokens/s | decode speed-up |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for p in &r.precisions {
        println!(
            "| {} | {:.1} | {:.2}% | {:.2e} | {:.2e} | {:.0}% | {:.1}% | {:.2} | {:.2}x | {:.1} | {:.2}x |",
            p.precision,
            p.weight_mib,
            p.top1_agreement * 100.0,
            p.kl_mean,
            p.kl_max,
            p.same_decode * 100.0,
            p.decode_token_agreement * 100.0,
            p.pass_ms,
            p.pass_speedup,
            p.decode_tokens_per_second,
            p.decode_speedup
        );
    }
    if let Some(m) = r.peak_rss_mib {
        println!("\npeak memory: {m:.0} MiB");
    }
}
