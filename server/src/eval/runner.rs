//! One benchmark run: pick the samples, skip those already in the results file, generate and
//! test the rest one by one (appending a line each), then summarise the whole file's share of
//! this run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::exec::{Executor, Limits, Verdict};
use super::generate::{self, CandidateSource};
use super::metrics::{self, exact_match};
use super::record::{self, CandidateResult, Record, RunKey};
use super::report::Report;
use super::{Loaded, Sample};
use anneal_engine::EditSettings;
use anneal_engine::ModelSource;

pub struct RunConfig {
    pub key: RunKey,
    pub model: ModelSource,
    /// How the weights are held; the device's default when `None`.
    pub precision: Option<anneal_models::Precision>,
    pub source: CandidateSource,
    pub out: PathBuf,
    /// At most this many problems, chosen at random by `seed`.
    pub limit: Option<usize>,
    pub seed: u64,
    /// Candidates per sample (pass@k for k up to this).
    pub samples: usize,
    pub settings: EditSettings,
    pub hole_tokens: Option<usize>,
    pub limits: Limits,
    /// Where Rust's and Go's prepared builds are kept between runs.
    pub cache: PathBuf,
}

/// The samples of `limit` problems drawn by `seed` (all of them without a limit), in file order.
pub fn select(samples: Vec<Sample>, limit: Option<usize>, seed: u64) -> Vec<Sample> {
    let Some(limit) = limit else { return samples };
    let mut problems: Vec<&str> = vec![];
    for s in &samples {
        if !problems.contains(&s.problem.as_str()) {
            problems.push(&s.problem);
        }
    }
    problems.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let chosen: BTreeSet<String> = problems.into_iter().take(limit).map(String::from).collect();
    samples.into_iter().filter(|s| chosen.contains(&s.problem)).collect()
}

pub fn run(config: &RunConfig, loaded: Loaded) -> Result<Report> {
    anyhow::ensure!(config.samples >= 1, "--samples must be at least 1");
    let samples = select(loaded.samples, config.limit, config.seed);
    let mut records = record::load(&config.out, &config.key)?;
    let todo: Vec<&Sample> = samples.iter().filter(|s| records.get(&s.id).is_none_or(|r| r.candidates.len() < config.samples)).collect();
    if samples.len() > todo.len() {
        eprintln!("resuming: {} of {} samples already in {}", samples.len() - todo.len(), samples.len(), config.out.display());
    }
    let langs: Vec<_> = todo.iter().map(|s| s.lang).collect::<BTreeSet<_>>().into_iter().collect();
    let executor = Executor::new(&langs, config.limits, &config.cache);
    let model = match (config.source, todo.is_empty()) {
        (CandidateSource::Model, false) => Some(config.model.load(&candle_core::Device::Cpu, config.precision)?),
        _ => None,
    };
    if let Some(parent) = config.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&config.out)
        .with_context(|| format!("cannot open {}", config.out.display()))?;
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let bar = ProgressBar::new(todo.len() as u64).with_style(ProgressStyle::with_template("{bar:30} {pos}/{len} · {msg} · ETA {eta}")?);
    let (mut passed, mut done) = (0usize, 0usize);
    let runnable: Vec<&Sample> = todo
        .into_iter()
        .filter(|s| match executor.unavailable(s.lang) {
            Some(why) => {
                bar.inc(1);
                *skipped.entry(why.to_string()).or_default() += 1;
                false
            }
            None => true,
        })
        .collect();
    // The model's candidates for `edit.batch` samples at a time are decoded as one batch
    // (`engine::batched`): a forward pass for all of them per step. Each candidate's time is
    // then its batch's, since its steps waited for the others'.
    for chunk in runnable.chunks(config.settings.batch.max(1)) {
        let jobs: Vec<&Sample> = chunk.iter().flat_map(|s| std::iter::repeat_n(*s, config.samples)).collect();
        let mut generated: std::collections::VecDeque<generate::Generated> = match &model {
            Some(model) => anneal_engine::batched(model, jobs.len(), config.settings.batch, |view, i| {
                generate::from_model(view, jobs[i], &config.settings, config.hole_tokens)
            })
            .0
            .into_iter()
            .collect::<Result<_>>()?,
            None => jobs.iter().map(|s| generate::fixed(config.source, s)).collect(),
        };
        for sample in chunk {
            bar.inc(1);
            let mut candidates = vec![];
            for _ in 0..config.samples {
                let generated = generated.pop_front().expect("a candidate per job");
                candidates.push(test_candidate(&executor, sample, generated)?);
            }
            let record = Record {
                key: config.key.clone(),
                id: sample.id.clone(),
                problem: sample.problem.clone(),
                group: sample.group.clone(),
                lang: sample.lang,
                candidates,
            };
            record::append(&mut out, &record)?;
            done += 1;
            passed += (record.passed() > 0) as usize;
            bar.set_message(format!("{} · any pass {passed}/{done}", sample.id));
            records.insert(record.id.clone(), record);
        }
    }
    bar.finish_and_clear();
    let ours: Vec<&Record> = samples.iter().filter_map(|s| records.get(&s.id)).collect();
    Ok(Report {
        rows: metrics::summarize(&ours),
        skipped,
        unusable: loaded.unusable,
        network_isolated: executor.sandbox.network_isolated,
        limits: config.limits,
    })
}

fn test_candidate(executor: &Executor, sample: &Sample, generated: generate::Generated) -> Result<CandidateResult> {
    let program = sample.harness.program(&generated.text);
    let execution = executor.execute(sample.lang, &program)?;
    let parse_valid = sample.lang.grammar().map(|language| {
        let errors = |text: &str| anneal_grammars::syntax_errors(text, 0..text.len(), language);
        errors(&generated.text) <= errors(&sample.reference)
    });
    Ok(CandidateResult {
        verdict: execution.verdict,
        exact_match: exact_match(&generated.text, &sample.reference),
        parse_valid,
        forward_passes: generated.forward_passes,
        generated_tokens: generated.generated_tokens,
        model_seconds: generated.model_seconds,
        exec_seconds: execution.seconds,
        engine_error: generated.engine_error,
        output_tail: if execution.verdict == Verdict::Passed { String::new() } else { execution.output_tail },
        text: generated.text,
    })
}
