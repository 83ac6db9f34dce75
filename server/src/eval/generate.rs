//! Candidates for a sample: from the model through the engine (the LSP's own code path), or
//! the benchmark's reference or the text before, which check the harness itself (the
//! reference should pass, the text before should fail).

use std::ops::ControlFlow;
use std::time::Instant;

use anneal_models::Model;

use super::{Sample, Task};
use anneal_engine::{self as engine, EditSettings, EngineError, FillRequest, RewriteRequest};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CandidateSource {
    Model,
    Reference,
    Before,
}

impl CandidateSource {
    pub fn name(self) -> &'static str {
        match self {
            CandidateSource::Model => "model",
            CandidateSource::Reference => "reference",
            CandidateSource::Before => "before",
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Generated {
    pub text: String,
    pub forward_passes: usize,
    pub generated_tokens: usize,
    pub model_seconds: f64,
    pub engine_error: Option<String>,
}

/// How big a hole is, in tokens: `fixed`, or the reference's own length plus the engine's
/// slack (the oracle length, as fill-in-the-middle evaluations of diffusion models use;
/// unused positions decode to pad).
pub fn hole_tokens(model: &Model, reference: &str, settings: &EditSettings, fixed: Option<usize>) -> anyhow::Result<usize> {
    if let Some(n) = fixed {
        return Ok(n);
    }
    let n = model.tokenizer.encode(reference)?.len();
    Ok(((n as f32 * (1.0 + settings.slack)).ceil() as usize).max(1))
}

/// The model's candidate. An engine that declines (its proposal would add syntax errors, as
/// the LSP reports instead of editing) leaves the text as it was, which is what a user gets.
pub fn from_model(model: &Model, sample: &Sample, settings: &EditSettings, fixed_hole: Option<usize>) -> anyhow::Result<Generated> {
    let started = Instant::now();
    // Forward passes are counted here, one per step report, so a declined proposal still costs.
    let mut passes = 0;
    let mut count = |_: &engine::EngineProgress| {
        passes += 1;
        ControlFlow::Continue(())
    };
    let outcome: Result<(String, usize), EngineError> = match &sample.task {
        Task::Rewrite { selection, instruction } => {
            let request = RewriteRequest {
                text: &sample.source_before,
                selection: selection.clone(),
                language: sample.lang.grammar(),
                syntax: None,
                instruction: Some(instruction),
            };
            engine::rewrite(model, &request, settings, &mut count).map(|p| {
                let mut text = sample.source_before.clone();
                text.replace_range(p.span, &p.replacement);
                (text, p.generated_tokens)
            })
        }
        Task::Fill { at, reference } => {
            let tokens = hole_tokens(model, reference, settings, fixed_hole)?;
            let request = FillRequest { text: &sample.source_before, at: *at, tokens };
            engine::fill(model, &request, settings, &mut count).map(|f| {
                let mut text = sample.source_before.clone();
                text.insert_str(*at, &f.text);
                (text, f.generated_tokens)
            })
        }
    };
    let model_seconds = started.elapsed().as_secs_f64();
    Ok(match outcome {
        Ok((text, generated_tokens)) => Generated { text, forward_passes: passes, generated_tokens, model_seconds, engine_error: None },
        Err(EngineError::Model(e)) => return Err(e.context(format!("the model failed on {}", sample.id))),
        Err(e) => Generated {
            text: sample.source_before.clone(),
            forward_passes: passes,
            generated_tokens: 0,
            model_seconds,
            engine_error: Some(e.to_string()),
        },
    })
}

pub fn fixed(source: CandidateSource, sample: &Sample) -> Generated {
    let text = match source {
        CandidateSource::Reference => sample.reference.clone(),
        _ => sample.source_before.clone(),
    };
    Generated { text, ..Default::default() }
}
