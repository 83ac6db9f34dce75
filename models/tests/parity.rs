//! Logit and sampler parity with the open families' reference implementations, on tiny random
//! models that `scripts/parity_fixtures.py` built with PyTorch (transformers' Qwen2 for Dream,
//! LLaMA for LLaDA, both made bidirectional) and saved in each family's checkpoint layout.

use std::ops::ControlFlow;
use std::path::PathBuf;

use anneal_models::sampler::{decode_masked, Confidence, MaskConfig, MaskRequest, Schedule};
use anneal_models::{Denoiser, Family, Model};
use candle_core::Device;

struct Fixture {
    model: Model,
    reference: serde_json::Value,
}

fn fixture(family: &str) -> Fixture {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity").join(family);
    let model = Model::load(&dir, &Device::Cpu).unwrap_or_else(|e| panic!("{family} fixture: {e:#}"));
    let text = std::fs::read_to_string(dir.join("reference.json")).unwrap();
    Fixture { model, reference: serde_json::from_str(&text).unwrap() }
}

fn ids(value: &serde_json::Value) -> Vec<u32> {
    value.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect()
}

/// Relative error at each position: the largest difference over the largest reference logit.
fn assert_logits_match(family: &str) {
    let Fixture { model, reference } = fixture(family);
    let input = ids(&reference["ids"]);
    let ours = model.logits(&input).unwrap().to_vec2::<f32>().unwrap();
    let theirs: Vec<Vec<f32>> = serde_json::from_value(reference["logits"].clone()).unwrap();
    assert_eq!(ours.len(), theirs.len());
    for (pos, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a.len(), b.len(), "vocabulary at position {pos}");
        let scale = b.iter().fold(0f32, |m, x| m.max(x.abs()));
        let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(diff / scale <= 1e-4, "{family}: position {pos} relative error {:.2e}", diff / scale);
    }
}

#[test]
fn dream_logits_match_qwen2_made_bidirectional_and_shifted() {
    assert_logits_match("dream");
    assert_eq!(fixture("dream").model.config.family().unwrap(), Family::Dream);
}

#[test]
fn llada_logits_match_llama_made_bidirectional_from_olmo_names() {
    assert_logits_match("llada");
    assert_eq!(fixture("llada").model.config.family().unwrap(), Family::Llada);
}

/// Every intermediate canvas of Anneal's decode, masks as the mask id, as the reference keeps
/// its state.
fn decode_states(model: &Model, prompt: &[u32], gen_length: usize, config: &MaskConfig) -> Vec<Vec<u32>> {
    let mask = model.specials().mask;
    let mut states = vec![];
    decode_masked(model, &MaskRequest { prefix: prompt, canvas_len: gen_length, suffix: &[] }, config, &mut |r| {
        states.push(r.canvas.iter().map(|c| c.unwrap_or(mask)).collect());
        ControlFlow::Continue(())
    })
    .unwrap();
    states
}

fn assert_sampler_matches(family: &str, algorithm: &str, schedule: Schedule, confidence: Confidence) {
    let Fixture { model, reference } = fixture(family);
    let steps = reference["steps"].as_u64().unwrap() as usize;
    let config = MaskConfig {
        schedule,
        max_steps: steps,
        block_length: reference["block_length"].as_u64().unwrap() as usize,
        confidence,
        ..MaskConfig::default()
    };
    let gen_length = reference["gen_length"].as_u64().unwrap() as usize;
    let ours = decode_states(&model, &ids(&reference["prompt"]), gen_length, &config);
    let theirs: Vec<Vec<u32>> = reference["samples"][algorithm].as_array().unwrap().iter().map(ids).collect();
    assert_eq!(theirs.len(), steps);
    // Anneal stops once nothing is masked; the reference runs its remaining passes idle.
    assert!(!ours.is_empty() && ours.len() <= steps);
    for (step, expected) in theirs.iter().enumerate() {
        let got = ours.get(step).or(ours.last()).unwrap();
        assert_eq!(got, expected, "{family} {algorithm}: canvas after step {}", step + 1);
    }
    // The test means something only if the decode really fills the canvas over several passes.
    let mask = model.specials().mask;
    assert!(theirs[0].contains(&mask) && !theirs[steps - 1].contains(&mask));
}

#[test]
fn dream_maskgit_plus_decode_matches_step_for_step() {
    assert_sampler_matches("dream", "maskgit_plus", Schedule::Linear, Confidence::MaxProb);
}

#[test]
fn dream_topk_margin_decode_matches_step_for_step() {
    assert_sampler_matches("dream", "topk_margin", Schedule::Linear, Confidence::Margin);
}

#[test]
fn dream_entropy_decode_matches_step_for_step() {
    assert_sampler_matches("dream", "entropy", Schedule::Linear, Confidence::NegEntropy);
}

#[test]
fn llada_low_confidence_block_decode_matches_step_for_step() {
    assert_sampler_matches("llada", "low_confidence", Schedule::Blocks, Confidence::MaxProb);
}

#[test]
fn with_the_prefix_cache_dream_reads_the_first_position_from_the_prefix() {
    // Shifted logits put the prefix's last output at the first position after it: that row
    // must come from the cached prefix alone, whatever the rest holds, and the rows after it
    // from the rest.
    let Fixture { model, reference } = fixture("dream");
    let input = ids(&reference["ids"]);
    let start = 8;
    let mut other = input.clone();
    for t in &mut other[start..] {
        *t = (*t + 7) % 90;
    }
    let a = model.logits_after_prefix(&input, start).unwrap();
    let b = model.logits_after_prefix(&other, start).unwrap();
    let diff =
        |x: candle_core::Tensor, y: candle_core::Tensor| (x - y).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert_eq!(a.dims(), &[input.len() - start, 96]);
    assert!(diff(a.get(0).unwrap(), b.get(0).unwrap()) < 1e-6, "row 0 depends on the prefix only");
    assert!(diff(a.get(1).unwrap(), b.get(1).unwrap()) > 1e-3, "row 1 reads the rest");
}

#[test]
fn with_the_dual_cache_a_current_context_gives_the_full_pass_in_every_family() {
    // While the context's keys and values are those of the current canvas, running only the
    // window's queries must give the whole pass's rows, shift included (Dream's window reads
    // the row before it from the refresh pass).
    for family in ["dream", "llada"] {
        let Fixture { model, reference } = fixture(family);
        let input = ids(&reference["ids"]);
        let (start, end) = (5, input.len() - 4);
        let full = model.logits(&input).unwrap().narrow(0, start, end - start).unwrap();
        let diff = |x: &candle_core::Tensor| (x - &full).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        let rows = model.logits_of_rows(&input, start, end).unwrap();
        assert!(diff(&rows) < 1e-5, "{family}: the output layer on the window's rows alone");
        let from_zero = model.logits_of_rows(&input, 0, 3).unwrap();
        let head = model.logits(&input).unwrap().narrow(0, 0, 3).unwrap();
        assert!((from_zero - head).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap() < 1e-5, "{family}: rows from 0");
        let refreshed = model.logits_in_window(&input, start, end, true).unwrap();
        assert!(diff(&refreshed) < 1e-5, "{family}: the refresh pass is the full pass");
        let cached = model.logits_in_window(&input, start, end, false).unwrap();
        assert!(diff(&cached) < 1e-4, "{family}: window queries over the cached context: {}", diff(&cached));
        // The window's left end moves on (a left-to-right decode) over an unchanged canvas:
        // the two tokens it leaves join the cached prefix, still exactly.
        let moved = model.logits_in_window(&input, start + 2, end, false).unwrap();
        let tail = full.narrow(0, 2, end - start - 2).unwrap();
        let moved_diff = (moved - &tail).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(moved_diff < 1e-4, "{family}: after the prefix grew: {moved_diff}");
        let again = model.logits_in_window(&input, start + 3, end, false).unwrap();
        let again_diff =
            (again - full.narrow(0, 3, end - start - 3).unwrap()).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(again_diff < 1e-4, "{family}: and again: {again_diff}");
        // From an empty prefix: the first growth must give Dream's window the row before it.
        model.logits_in_window(&input, 0, end, true).unwrap();
        model.logits_in_window(&input, 1, end, false).unwrap();
        model.logits_in_window(&input, 2, end, false).unwrap();
        let grown = model.logits_in_window(&input, 2, end, false).unwrap(); // the cached row before it
        let expected = model.logits(&input).unwrap().narrow(0, 2, end - 2).unwrap();
        let grown_diff = (grown - expected).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(grown_diff < 1e-4, "{family}: grown from nothing: {grown_diff}");
    }
}
