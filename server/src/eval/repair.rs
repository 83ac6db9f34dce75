//! `anneal eval repair`: the one benchmark without tests, made from the project's own corpus:
//! held-out snippets corrupted with k ≤ 10% random token edits (insertions, deletions,
//! substitutions — the edit stage's corruption), repaired by the model from their context.
//! It decodes the corrupted span itself (`engine::decode_block`), not a widened one, so that
//! it measures the sampler's repair alone. Reports exact-match and parse-valid rates and forward passes per
//! snippet, and writes one JSON line per sample.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use anneal_grammars::{syntax_errors, Language};
use anneal_models::train::data::corrupt;

use anneal_engine::ModelSource;
use anneal_engine::{self as engine, EditSettings, SamplingMode};

#[derive(Args)]
pub struct RepairArgs {
    /// A checkpoint folder, or `default`.
    #[arg(long, default_value = "default")]
    model: String,
    #[command(flatten)]
    dtype: crate::cli::DtypeArg,
    /// Held-out files, one JSON object per line with `lang` and `text` (scripts/train/corpus.py's
    /// valid.jsonl).
    #[arg(long, default_value = "corpus/valid.jsonl")]
    corpus: PathBuf,
    #[arg(long, default_value_t = 200)]
    limit: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Largest share of a snippet's tokens edited.
    #[arg(long, default_value_t = 0.1)]
    alpha: f64,
    /// edit, mask or auto (as the checkpoint says).
    #[arg(long, default_value = "edit")]
    mode: String,
    /// Per-sample results (JSONL).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Engine settings as the `anneal.edit` setting's JSON, e.g.
    /// '{"edit":{"replaceThreshold":0.3}}'; `--mode` still decides the mode.
    #[arg(long, default_value = "{}")]
    settings: String,
}

struct Snippet {
    language: Language,
    text: String,
    span: std::ops::Range<usize>,
}

/// A random run of 1–3 non-blank lines from a random held-out file.
fn pick_snippet(rng: &mut StdRng, files: &[(Language, String)]) -> Option<Snippet> {
    let (language, text) = &files[rng.random_range(0..files.len())];
    let starts: Vec<usize> = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).filter(|&i| i < text.len()).collect();
    if starts.len() < 8 {
        return None;
    }
    let first = rng.random_range(0..starts.len() - 4);
    let lines = rng.random_range(1..=3);
    let (start, end) = (starts[first], starts[first + lines]);
    let span_text = &text[start..end];
    if span_text.trim().len() < 8 || span_text.lines().any(|l| l.trim().is_empty()) {
        return None;
    }
    Some(Snippet { language: *language, text: text.clone(), span: start..end })
}

pub fn run(args: RepairArgs) -> Result<()> {
    let model = ModelSource::parse(Some(&args.model)).load(&candle_core::Device::Cpu, args.dtype.precision())?;
    let files: Vec<(Language, String)> = std::fs::read_to_string(&args.corpus)
        .with_context(|| format!("cannot read {}", args.corpus.display()))?
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Some((Language::from_language_id(v["lang"].as_str()?)?, v["text"].as_str()?.to_string())))
        .collect();
    anyhow::ensure!(!files.is_empty(), "no Python or Rust files in {}", args.corpus.display());
    let mode = match args.mode.as_str() {
        "edit" => SamplingMode::Edit,
        "mask" => SamplingMode::Mask,
        "auto" => SamplingMode::Auto,
        m => anyhow::bail!("unknown mode `{m}` (edit, mask or auto)"),
    };
    let settings: EditSettings = serde_json::from_str(&args.settings).context("--settings is not the JSON of the anneal.edit setting")?;
    if let Some(why) = settings.out_of_range() {
        anyhow::bail!("--settings: {why}");
    }
    let settings = EditSettings { mode, ..settings };
    let mut out = args.out.as_ref().map(std::fs::File::create).transpose()?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let bar = ProgressBar::new(args.limit as u64).with_style(ProgressStyle::with_template("{bar:30} {pos}/{len} · {msg} · ETA {eta}")?);
    let (mut exact, mut changed, mut parse_valid, mut input_valid, mut passes, mut n) = (0usize, 0usize, 0usize, 0usize, 0usize, 0usize);
    let tk = &model.tokenizer;
    let mut misses = 0;
    while n < args.limit {
        // Files too short or blank-lined for a snippet would otherwise keep this loop going.
        misses += 1;
        anyhow::ensure!(
            misses < 100_000,
            "no usable snippets in {} (1–3 non-blank lines from files of 8 lines or more)",
            args.corpus.display()
        );
        let Some(s) = pick_snippet(&mut rng, &files) else { continue };
        // Cut as the engine cuts a block from its context.
        let framed = engine::frame(&s.text[..s.span.start], &s.text[s.span.clone()], &s.text[s.span.end..]);
        let original = tk.encode(&framed.block)?;
        let k = ((original.len() as f64 * rng.random_range(0.0..args.alpha)).floor() as usize).max(1);
        let corrupted = corrupt(&mut rng, &original, k, &original);
        let corrupted_text = framed.unframe(&tk.decode(&corrupted)?);
        // A corruption that decodes to the same text (a token swapped for an equal spelling,
        // or a change only to trailing whitespace, which exact match ignores) would count as a
        // free repair.
        if corrupted_text.trim_end() == s.text[s.span.clone()].trim_end() {
            continue;
        }
        let prefix = engine::tail_tokens(&model, framed.before, settings.context_tokens)?;
        let suffix = engine::head_tokens(&model, &framed.after, settings.context_tokens)?;
        let slack = ((corrupted.len() as f32 * settings.slack).ceil() as usize).max(2);
        let outcome = engine::decode_block(&model, &settings, &prefix, &corrupted, slack, &suffix, &mut |_| ControlFlow::Continue(()))?;
        let repaired = framed.unframe(&tk.decode(&outcome.tokens)?);
        let target = &s.text[s.span.clone()];
        let is_exact = repaired.trim_end() == target.trim_end();
        let errors = |span_text: &str| {
            let mut t = s.text.clone();
            t.replace_range(s.span.clone(), span_text);
            syntax_errors(&t, 0..t.len(), s.language)
        };
        let baseline = errors(target);
        let valid = errors(&repaired) <= baseline;
        let corrupted_valid = errors(&corrupted_text) <= baseline;
        n += 1;
        misses = 0;
        exact += is_exact as usize;
        changed += (repaired != corrupted_text) as usize;
        parse_valid += valid as usize;
        input_valid += corrupted_valid as usize;
        passes += outcome.forward_passes;
        if let Some(f) = out.as_mut() {
            let line = serde_json::json!({
                "language": s.language.name(), "edits": k, "target": target, "corrupted": corrupted_text,
                "repaired": repaired, "exact": is_exact, "parse_valid": valid, "forward_passes": outcome.forward_passes,
            });
            writeln!(f, "{line}")?;
        }
        bar.set_position(n as u64);
        bar.set_message(format!("exact {:.1}%", 100.0 * exact as f64 / n as f64));
    }
    bar.finish_and_clear();
    let pct = |x: usize| 100.0 * x as f64 / n as f64;
    println!(
        "repair of {n} held-out snippets (1–3 lines, k ≤ {:.0}% token edits), model {}, {} mode",
        args.alpha * 100.0,
        model.source,
        args.mode
    );
    println!("| exact match | changed | parse-valid | parse-valid before repair | forward passes / snippet |");
    println!("|---|---|---|---|---|");
    println!(
        "| {:.1}% | {:.1}% | {:.1}% | {:.1}% | {:.2} |",
        pct(exact),
        pct(changed),
        pct(parse_valid),
        pct(input_valid),
        passes as f64 / n as f64
    );
    Ok(())
}
