//! `anneal bench --model GGUF_DIR --llama-cpp BIN`: the peer side by side. llama.cpp's own
//! diffusion runner (`llama-diffusion-cli`, built by scripts/bench/llama-cpp.sh) decodes a canvas as
//! long as the bench's (context + block + context) on the very same GGUF file, with the same
//! threads, and reports its time per step; here the same canvas is timed as Anneal decodes it.
//!
//! llama.cpp runs the whole canvas through the model at every step. Anneal's editor decode
//! encodes the whole canvas once per block and then runs only the block's queries against the
//! context's cached keys and values (the dual cache), so a block of `steps` steps costs one
//! full pass and `steps − 1` window passes. Both per-step figures are printed, and the block's
//! time from them.

use std::path::Path;

use anneal_models::Model;
use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::bench::{peak_rss_mib, tasks_of, time_pass, BenchArgs, RunInfo};

#[derive(Serialize)]
struct LlamaCppReport {
    #[serde(flatten)]
    run: RunInfo,
    gguf: String,
    canvas_tokens: usize,
    steps: usize,
    /// llama.cpp: milliseconds a step (a pass over the whole canvas, and its sampling).
    llama_cpp_step_ms: f64,
    /// Anneal: one pass over the whole canvas.
    anneal_full_ms: f64,
    /// Anneal: the block's queries against the cached context (a step after the first).
    anneal_window_ms: f64,
    /// Seconds for one block of `steps` steps: llama.cpp's `steps` whole passes, Anneal's
    /// one whole pass and `steps − 1` window passes.
    llama_cpp_block_seconds: f64,
    anneal_block_seconds: f64,
    /// llama.cpp's time over Anneal's: above 1, Anneal is faster.
    pass_speedup: f64,
    block_speedup: f64,
    peak_rss_mib: Option<f64>,
}

/// Steps a block is decoded in, on both sides.
const STEPS: usize = 8;

pub fn run(args: &BenchArgs, llama_cpp: &Path, dir: &Path, model: &Model) -> Result<()> {
    let gguf = anneal_models::gguf::find(dir)?.with_context(|| {
        format!("--llama-cpp compares on a GGUF file, and {} has none (make one with anneal model quantize)", dir.display())
    })?;
    let task = tasks_of(model, args, 1)?.swap_remove(0);
    let canvas = 2 * args.context + args.block;
    let threads = candle_core::utils::get_num_threads();
    eprintln!("timing Anneal's passes over {canvas} tokens…");
    let ours = time_pass(model, &task, args.context, args.block, args.context)?;
    // llama.cpp's canvas: the prompt (the task's left context), then masks up to `canvas`.
    let prompt = model.tokenizer.decode(&task.prefix)?;
    eprintln!("running {} for {STEPS} steps…", llama_cpp.display());
    let out = std::process::Command::new(llama_cpp)
        .arg("-m")
        .arg(&gguf)
        .args(["-p", &prompt, "--diffusion-steps", &STEPS.to_string(), "--diffusion-eps", "0.001", "--diffusion-algorithm", "4"])
        .args(["--temp", "0", "-t", &threads.to_string(), "-tb", &threads.to_string()])
        .args(["-ub", &canvas.to_string(), "-b", &canvas.to_string(), "-c", &canvas.to_string()])
        .output()
        .with_context(|| format!("cannot run {}", llama_cpp.display()))?;
    let log = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("{} failed: {}", llama_cpp.display(), log.lines().rev().take(5).collect::<Vec<_>>().join(" / "));
    }
    let step_ms = step_ms(&log).with_context(|| format!("{} printed no `time per step`", llama_cpp.display()))?;
    let llama_cpp_block_seconds = STEPS as f64 * step_ms / 1000.0;
    let anneal_block_seconds = (ours.full_ms + (STEPS - 1) as f64 * ours.dual_ms) / 1000.0;
    let report = LlamaCppReport {
        run: RunInfo::new(model, 1, args),
        gguf: gguf.display().to_string(),
        canvas_tokens: canvas,
        steps: STEPS,
        llama_cpp_step_ms: step_ms,
        anneal_full_ms: ours.full_ms,
        anneal_window_ms: ours.dual_ms,
        llama_cpp_block_seconds,
        anneal_block_seconds,
        pass_speedup: step_ms / ours.full_ms,
        block_speedup: llama_cpp_block_seconds / anneal_block_seconds,
        peak_rss_mib: peak_rss_mib(),
    };
    println!("{}", report.run);
    println!("\n| {canvas}-token canvas, {threads} threads | llama.cpp | Anneal | llama.cpp ÷ Anneal |");
    println!("|---|---|---|---|");
    println!("| one pass over the canvas (ms) | {step_ms:.0} | {:.0} | {:.2}x |", ours.full_ms, report.pass_speedup);
    println!(
        "| a step after the first (ms) | {step_ms:.0} | {:.0} (window of {}) | {:.2}x |",
        ours.dual_ms,
        args.block,
        step_ms / ours.dual_ms
    );
    println!(
        "| a block of {} tokens in {STEPS} steps (s) | {llama_cpp_block_seconds:.2} | {anneal_block_seconds:.2} | {:.2}x |",
        args.block, report.block_speedup
    );
    println!("| tokens/s | {:.2} | {:.2} | |", args.block as f64 / llama_cpp_block_seconds, args.block as f64 / anneal_block_seconds);
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?)?;
    println!("\nwrote {}", args.out.display());
    Ok(())
}

/// llama.cpp's `time per step: 6667.65ms`.
fn step_ms(log: &str) -> Option<f64> {
    let rest = &log[log.find("time per step:")? + "time per step:".len()..];
    rest.trim_start().split("ms").next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_llama_cpps_time_per_step() {
        let log = "0.53.951 I \ntotal time: 53341.18ms, time per step: 6667.65ms, sampling time per step: 44.56ms\n";
        assert_eq!(super::step_ms(log), Some(6667.65));
        assert_eq!(super::step_ms("nothing"), None);
    }
}
