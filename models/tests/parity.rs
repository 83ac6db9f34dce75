//! Logit and sampler parity with the open families' reference implementations, on tiny random
//! models that `models/tests/fixtures/parity_fixtures.py` built with PyTorch (transformers' Qwen2
//! for Dream and Open-dCoder, LLaMA for LLaDA, Qwen3 for CoDA, all made bidirectional, Qwen3
//! with SDAR's block-causal mask, and LLaDA2's own modeling code) and saved in each family's
//! checkpoint layout.

use std::ops::ControlFlow;
use std::path::PathBuf;

use anneal_models::mask_sampler::{decode_masked, Confidence, MaskConfig, MaskRequest, Schedule};
use anneal_models::{Denoiser, Family, Model};
use candle_core::{DType, Device};

/// Where the tests run: the CPU in f32, unless `ANNEAL_TEST_DEVICE` (`cuda`, `cuda:N`) and
/// `ANNEAL_TEST_DTYPE` (`f32`, `bf16`) say otherwise — scripts/gpu/device-check.sh runs this file
/// on a GPU in both dtypes.
fn test_device() -> (Device, DType) {
    let device = match std::env::var("ANNEAL_TEST_DEVICE").as_deref() {
        Err(_) | Ok("cpu") => Device::Cpu,
        Ok(name) if name.starts_with("cuda") => {
            let ordinal = name.strip_prefix("cuda:").map_or(0, |n| n.parse().expect("ANNEAL_TEST_DEVICE=cuda:N"));
            Device::new_cuda(ordinal).unwrap_or_else(|e| panic!("ANNEAL_TEST_DEVICE={name}: {e} (build with --features cuda)"))
        }
        Ok(other) => panic!("ANNEAL_TEST_DEVICE={other}: expected cpu, cuda or cuda:N"),
    };
    let dtype = match std::env::var("ANNEAL_TEST_DTYPE").as_deref() {
        Err(_) | Ok("f32") => DType::F32,
        Ok("bf16") => DType::BF16,
        Ok(other) => panic!("ANNEAL_TEST_DTYPE={other}: expected f32 or bf16"),
    };
    (device, dtype)
}

/// The largest relative logit error allowed in `dtype`.
///
/// f32: 1e-4, the reference's own float32 against ours (different summation orders).
///
/// bf16: twice the error the same model in bf16 makes on the CPU against the same reference
/// (`cpu_bf16_error`, measured in the test). Both devices round the same weights and
/// activations to bf16's 8 significant bits; they differ only in the order they sum and in which
/// operations they fuse, so the device's own difference from the CPU is a rounding error of the
/// same size, and error(device) ≤ error(CPU) + |device − CPU| ≤ 2·error(CPU). A bound from the
/// format alone (u = 2^-8 per rounding) does not hold here: the fixtures are random models whose
/// logits are sums that cancel, and cancellation multiplies the relative error (the dream
/// fixture's bf16 logits are 35% off on the CPU, the trained default model's 2.4%).
fn logit_tolerance(dtype: DType, cpu_bf16_error: impl FnOnce() -> f32) -> f32 {
    match dtype {
        DType::BF16 => 2.0 * cpu_bf16_error(),
        _ => 1e-4,
    }
}

struct Fixture {
    model: Model,
    reference: serde_json::Value,
}

fn fixture(family: &str) -> Fixture {
    let (device, dtype) = test_device();
    fixture_on(family, &device, dtype)
}

fn fixture_on(family: &str, device: &Device, dtype: DType) -> Fixture {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity").join(family);
    let model = Model::load_as(&dir, device, dtype).unwrap_or_else(|e| panic!("{family} fixture: {e:#}"));
    let text = std::fs::read_to_string(dir.join("reference.json")).unwrap();
    Fixture { model, reference: serde_json::from_str(&text).unwrap() }
}

fn ids(value: &serde_json::Value) -> Vec<u32> {
    value.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect()
}

/// The largest relative error over the positions: at each, the largest difference over the
/// largest logit of `theirs`.
fn relative_error(ours: &[Vec<f32>], theirs: &[Vec<f32>]) -> f32 {
    assert_eq!(ours.len(), theirs.len());
    let mut worst = 0f32;
    for (pos, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert_eq!(a.len(), b.len(), "vocabulary at position {pos}");
        let scale = b.iter().fold(0f32, |m, x| m.max(x.abs()));
        let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        worst = worst.max(diff / scale);
    }
    worst
}

fn logits_f32(model: &Model, input: &[u32]) -> Vec<Vec<f32>> {
    model.logits(input).unwrap().to_dtype(DType::F32).unwrap().to_vec2::<f32>().unwrap()
}

fn assert_logits_match(family: &str) {
    let Fixture { model, reference } = fixture(family);
    let theirs: Vec<Vec<f32>> = serde_json::from_value(reference["logits"].clone()).unwrap();
    let input = ids(&reference["ids"]);
    let error = relative_error(&logits_f32(&model, &input), &theirs);
    let tolerance = logit_tolerance(model.dtype, || {
        let cpu = fixture_on(family, &Device::Cpu, DType::BF16).model;
        relative_error(&logits_f32(&cpu, &input), &theirs)
    });
    // Printed for the device check's table (cargo shows it with --nocapture).
    println!("parity {family} {:?} {:?}: relative error {error:.2e} (tolerance {tolerance:.2e})", model.device.location(), model.dtype);
    assert!(error <= tolerance, "{family}: relative error {error:.2e} over {tolerance:.2e}");
}

#[test]
fn the_default_model_gives_the_cpus_logits_on_the_test_device() {
    let (device, dtype) = test_device();
    let here = Model::load_default_as(&device, dtype).unwrap();
    let cpu = Model::load_default_as(&Device::Cpu, DType::F32).unwrap();
    let input = cpu
        .tokenizer
        .encode("def mean(values):\n    total = 0\n    for v in values:\n        total += v\n    return total / len(values)\n")
        .unwrap();
    let reference = logits_f32(&cpu, &input);
    let error = relative_error(&logits_f32(&here, &input), &reference);
    let tolerance = logit_tolerance(dtype, || {
        let cpu_bf16 = Model::load_default_as(&Device::Cpu, DType::BF16).unwrap();
        relative_error(&logits_f32(&cpu_bf16, &input), &reference)
    });
    println!("default model {:?} {dtype:?} against the CPU: relative error {error:.2e} (tolerance {tolerance:.2e})", device.location());
    assert!(error <= tolerance, "relative error {error:.2e} over {tolerance:.2e}");
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
    let reference = fixture(family).reference;
    let steps = reference["steps"].as_u64().unwrap() as usize;
    let config = MaskConfig {
        schedule,
        max_steps: steps,
        block_length: reference["block_length"].as_u64().unwrap() as usize,
        confidence,
        ..MaskConfig::default()
    };
    assert_decode_matches(family, algorithm, &config);
}

/// Anneal's decode with `config` gives every canvas the reference's `algorithm` went through.
fn assert_decode_matches(family: &str, algorithm: &str, config: &MaskConfig) {
    let Fixture { model, reference } = fixture(family);
    let gen_length = reference["gen_length"].as_u64().unwrap() as usize;
    let ours = decode_states(&model, &ids(&reference["prompt"]), gen_length, config);
    let theirs: Vec<Vec<u32>> = reference["samples"][algorithm].as_array().unwrap().iter().map(ids).collect();
    // Anneal stops once nothing is masked; a reference may run its remaining passes idle.
    assert!(!ours.is_empty() && ours.len() <= theirs.len(), "{family} {algorithm}: {} passes, the reference {}", ours.len(), theirs.len());
    for (step, expected) in theirs.iter().enumerate() {
        let got = ours.get(step).or(ours.last()).unwrap();
        assert_eq!(got, expected, "{family} {algorithm}: canvas after step {}", step + 1);
    }
    // The test means something only if the decode really fills the canvas over several passes.
    let mask = model.specials().mask;
    assert!(theirs[0].contains(&mask) && !theirs.last().unwrap().contains(&mask));
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
fn sdar_logits_match_qwen3_with_block_causal_attention() {
    assert_logits_match("sdar");
    let config = fixture("sdar").model.config;
    assert_eq!((config.family().unwrap(), config.block_size, config.head_dim()), (Family::Sdar, Some(4), 32));
}

#[test]
fn coda_logits_match_qwen3_made_bidirectional_and_shifted() {
    assert_logits_match("coda");
    assert_eq!(fixture("coda").model.config.family().unwrap(), Family::Coda);
}

#[test]
fn open_dcoder_loads_from_its_qwen2_config_as_dream_with_its_mask_token() {
    // config.json is Qwen2.5-Coder's, unchanged; the tokenizer's `<M>` is what marks it.
    assert_logits_match("open-dcoder");
    let model = fixture("open-dcoder").model;
    assert_eq!((model.config.family().unwrap(), model.specials().mask), (Family::Dream, 91));
}

#[test]
fn sdar_static_block_decode_matches_step_for_step() {
    // A threshold of 1 never fires: one commit a pass, the block's most confident.
    assert_sdar_decode_matches("low_confidence_static", 1.0);
}

#[test]
fn sdar_dynamic_block_decode_matches_step_for_step() {
    let threshold = fixture("sdar").reference["dynamic_threshold"].as_f64().unwrap() as f32;
    assert_sdar_decode_matches("low_confidence_dynamic", threshold);
}

fn assert_sdar_decode_matches(algorithm: &str, threshold: f32) {
    let steps = fixture("sdar").reference["steps_per_block"].as_u64().unwrap() as usize;
    assert_decode_matches("sdar", algorithm, &aligned_blocks("sdar", steps, threshold, None));
}

/// The aligned-blocks schedule at the fixture's block length.
fn aligned_blocks(family: &str, max_steps: usize, threshold: f32, edit_threshold: Option<f32>) -> MaskConfig {
    let reference = fixture(family).reference;
    MaskConfig {
        schedule: Schedule::AlignedBlocks,
        block_length: reference["block_length"].as_u64().unwrap() as usize,
        max_steps,
        threshold,
        edit_threshold,
        // Only the editing fixture states it.
        max_post_edit_steps: reference["max_post_edit_steps"].as_u64().map_or(MaskConfig::default().max_post_edit_steps, |n| n as usize),
        ..MaskConfig::default()
    }
}

#[test]
fn coda_decodes_as_dreams_sampler_does() {
    assert_sampler_matches("coda", "entropy", Schedule::Linear, Confidence::NegEntropy);
    assert_sampler_matches("coda", "maskgit_plus", Schedule::Linear, Confidence::MaxProb);
    assert_sampler_matches("coda", "topk_margin", Schedule::Linear, Confidence::Margin);
}

#[test]
fn open_dcoder_p2_decode_matches_step_for_step() {
    assert_sampler_matches("open-dcoder", "p2", Schedule::Proportional, Confidence::MaxProb);
}

#[test]
fn llada_moe_logits_match_its_modeling_code_with_softmax_routed_experts() {
    assert_logits_match("llada-moe");
    // Its config says `model_type` `llada`, as the published one does.
    let config = fixture("llada-moe").model.config;
    assert_eq!(config.family().unwrap(), Family::LladaMoe);
    let moe = config.moe.as_ref().unwrap();
    assert_eq!((moe.num_experts, moe.num_experts_per_tok, moe.softmax_router, moe.norm_topk_prob), (8, 2, true, false));
}

#[test]
fn llada_moe_low_confidence_block_decode_matches_step_for_step() {
    assert_sampler_matches("llada-moe", "low_confidence", Schedule::Blocks, Confidence::MaxProb);
}

#[test]
fn llada2_logits_match_its_modeling_code_with_experts_and_block_causal_attention() {
    assert_logits_match("llada2");
    let config = fixture("llada2").model.config;
    assert_eq!((config.family().unwrap(), config.block_size, config.rotary_dim()), (Family::Llada2, Some(8), 16));
    assert_eq!(config.moe.as_ref().map(|m| (m.num_experts, m.num_experts_per_tok)), Some((8, 2)));
}

fn llada2_config(edit_threshold: Option<f32>) -> MaskConfig {
    let reference = fixture("llada2").reference;
    // SGLang's quota: one a pass when none passes the threshold.
    let block = reference["block_length"].as_u64().unwrap() as usize;
    aligned_blocks("llada2", block, reference["threshold"].as_f64().unwrap() as f32, edit_threshold)
}

#[test]
fn llada2_low_confidence_decode_matches_sglang_step_for_step() {
    assert_decode_matches("llada2", "low_confidence", &llada2_config(None));
}

#[test]
fn llada2_joint_threshold_decode_edits_as_sglang_does_step_for_step() {
    let edit = fixture("llada2").reference["edit_threshold"].as_f64().unwrap() as f32;
    assert_decode_matches("llada2", "joint_threshold", &llada2_config(Some(edit)));
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
    for family in ["dream", "llada", "sdar", "coda", "llada2", "llada-moe"] {
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
