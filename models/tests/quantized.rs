//! Quantize-on-load: the default model and the parity fixtures at q8_0 and q4k keep their f32
//! predictions (the figures are measured by `anneal bench --dtype f32,q8_0,q4k`; these tests
//! catch a layer loaded wrongly, which would take agreement to chance), and the paths that
//! must refuse quantized weights do.

use std::path::PathBuf;

use anneal_models::transformer::{Mode, Transformer};
use anneal_models::{Config, Denoiser, Model, Precision};
use candle_core::{DType, Device, Tensor, D};

/// A canvas of real code with a masked stretch in the middle, as a decode's first pass sees it.
fn canvas(model: &Model) -> Vec<u32> {
    let code = include_str!("../src/mask_sampler.rs");
    let ids = model.tokenizer.encode(&code[..6000]).unwrap();
    let mut canvas = ids[..200.min(ids.len())].to_vec();
    canvas[120..152].fill(model.specials().mask);
    canvas
}

/// Positions whose most likely token both models agree on.
fn top1_agreement(a: &Model, b: &Model, ids: &[u32]) -> f64 {
    let top = |m: &Model| m.logits(ids).unwrap().to_dtype(DType::F32).unwrap().argmax(D::Minus1).unwrap().to_vec1::<u32>().unwrap();
    let (x, y) = (top(a), top(b));
    x.iter().zip(&y).filter(|(p, q)| p == q).count() as f64 / x.len() as f64
}

/// The mean over positions of the cosine between two models' centred logit rows.
fn logit_cosine(a: &Model, b: &Model, ids: &[u32]) -> f64 {
    let centred = |m: &Model| {
        let l = m.logits(ids).unwrap().to_dtype(DType::F32).unwrap();
        l.broadcast_sub(&l.mean_keepdim(D::Minus1).unwrap()).unwrap()
    };
    let (x, y) = (centred(a), centred(b));
    let norm = |t: &Tensor| t.sqr().unwrap().sum(D::Minus1).unwrap().sqrt().unwrap();
    let cos = ((&x * &y).unwrap().sum(D::Minus1).unwrap() / (norm(&x) * norm(&y)).unwrap()).unwrap();
    cos.mean_all().unwrap().to_scalar::<f32>().unwrap() as f64
}

#[test]
fn the_default_model_keeps_its_predictions_at_q8_0_and_q4k() {
    let f32_model = Model::load_default_as(&Device::Cpu, Precision::F32).unwrap();
    let ids = canvas(&f32_model);
    for (precision, floor) in [(Precision::Q8_0, 0.97), (Precision::Q4K, 0.9)] {
        let quantized = Model::load_default_as(&Device::Cpu, precision).unwrap();
        assert_eq!(quantized.precision, precision);
        let agreement = top1_agreement(&f32_model, &quantized, &ids);
        println!("default model, {precision}: top-1 agreement with f32 {:.1}%", agreement * 100.0);
        assert!(agreement >= floor, "{precision}: {agreement}");
    }
}

#[test]
fn the_parity_fixtures_load_quantized_whatever_their_widths() {
    // Widths of 64 and 128: Q4_K's blocks of 256 do not divide them, so those layers fall back
    // to Q5_0. The fixtures are random models whose logits are sums that cancel (bf16 is 35%
    // off on them, see parity.rs), so the floors are far below the trained model's; chance
    // agreement is 1 in the vocabulary. Measured: q8_0 85% and cosine 0.988, q4k 52% and
    // 0.85, bf16 94% and 0.996 (dream). The newer families too: Qwen3's head norms, SDAR's
    // blocks, LLaDA2's experts (each expert's three matrices quantized like any layer's).
    // The targets are measured on trained weights: `trained_fixtures_keep_their_predictions…`.
    for family in ["dream", "llada", "sdar", "coda", "llada2", "llada-moe"] {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity").join(family);
        let f32_model = Model::load_as(&dir, &Device::Cpu, Precision::F32).unwrap();
        let ids: Vec<u32> = (0..48u32).map(|i| (i * 37 + 5) % f32_model.config.vocab_size as u32).collect();
        for (precision, agreement_floor, cosine_floor) in [(Precision::Q8_0, 0.7, 0.95), (Precision::Q4K, 0.35, 0.7)] {
            let quantized = Model::load_as(&dir, &Device::Cpu, precision).unwrap_or_else(|e| panic!("{family} {precision}: {e:#}"));
            let agreement = top1_agreement(&f32_model, &quantized, &ids);
            let cosine = logit_cosine(&f32_model, &quantized, &ids);
            println!("{family} fixture, {precision}: top-1 agreement with f32 {:.1}%, logit cosine {cosine:.4}", agreement * 100.0);
            assert!(agreement >= agreement_floor && cosine >= cosine_floor, "{family} {precision}: {agreement} {cosine}");
        }
    }
}

#[test]
fn quantized_weights_are_refused_for_training() {
    let config = Config::tiny(256, 2, 1, 0);
    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let err = Transformer::with_precision(&config, Mode::Train, Precision::Q8_0, vb).unwrap_err().to_string();
    assert!(err.contains("cannot be trained"), "{err}");
}

#[test]
fn a_quantized_layer_multiplies_as_its_float_weights_do() {
    // A float transformer and the same weights quantized at q8_0: every linear layer is close.
    let mut config = Config::tiny(256, 2, 1, 0);
    (config.hidden_size, config.intermediate_size) = (128, 256);
    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let float = Transformer::new(&config, Mode::Infer, vb).unwrap();
    let weights = varmap.data().lock().unwrap().iter().map(|(k, v)| (k.clone(), v.as_tensor().clone())).collect();
    let vb = candle_nn::VarBuilder::from_tensors(weights, DType::F32, &Device::Cpu);
    let quantized = Transformer::with_precision(&config, Mode::Infer, Precision::Q8_0, vb).unwrap();
    let ids = Tensor::new(&[[3u32, 17, 42, 99, 7, 250, 1, 0]], &Device::Cpu).unwrap();
    let (a, b) = (float.forward(&ids).unwrap(), quantized.forward(&ids).unwrap());
    let error = ((&a - &b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap())
        / a.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(error < 0.05, "relative error {error}");
}

/// The families whose parity fixtures' shapes are trained into drift fixtures.
const FAMILIES: [&str; 7] = ["dream", "llada", "sdar", "coda", "open-dcoder", "llada2", "llada-moe"];

fn fixture_dir(kind: &str, family: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(kind).join(family)
}

/// A token stream with structure a two-layer model can learn: a Markov chain over the
/// vocabulary's ordinary tokens (below the specials) where each token has three successors,
/// taken with probabilities 0.6, 0.3 and 0.1. A masked token between known neighbours is
/// nearly certain; one inside a masked stretch is less so (the chain mixes), as in code.
fn markov_stream(ordinary: u32, len: usize, seed: u64) -> Vec<u32> {
    use rand::{Rng, SeedableRng};
    let mut table = rand::rngs::StdRng::seed_from_u64(7);
    let successors: Vec<[u32; 3]> = (0..ordinary).map(|_| std::array::from_fn(|_| table.random_range(0..ordinary))).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut stream = vec![0u32];
    while stream.len() < len {
        let r: f64 = rng.random();
        let pick = usize::from(r >= 0.6) + usize::from(r >= 0.9);
        stream.push(successors[*stream.last().unwrap() as usize][pick]);
    }
    stream
}

fn specials(config: &Config) -> anneal_models::Specials {
    anneal_models::Specials { mask: config.mask_token_id, pad: config.pad_token_id, eos: config.eos_token_id }
}

fn ordinary_tokens(config: &Config) -> u32 {
    config.pad_token_id.min(config.mask_token_id).min(config.eos_token_id)
}

/// Makes `tests/fixtures/drift/`: each parity fixture's shape (its config and tokenizer),
/// trained by mask diffusion on [`markov_stream`] and stored in bf16 as real checkpoints
/// are. Random weights cannot measure quantization drift: their logits are sums that cancel,
/// near ties everywhere, and bf16 alone moves a third of their argmaxes. Run with
/// `cargo test --release -p anneal-models --test quantized -- --ignored make_drift_fixtures`
/// (about 10 minutes on two cores; `DRIFT_FAMILIES=llada,sdar` makes those alone).
#[test]
#[ignore = "writes the drift fixtures; run by hand"]
fn make_drift_fixtures() {
    use anneal_models::train::{data::mask_example, loss_with_shift, optim::AdamW};
    use rand::SeedableRng;
    const STEPS: usize = 1500;
    let only = std::env::var("DRIFT_FAMILIES").ok();
    for family in FAMILIES.into_iter().filter(|f| only.as_ref().is_none_or(|o| o.split(',').any(|x| x == *f))) {
        let started = std::time::Instant::now();
        let parity = fixture_dir("parity", family);
        let config = Model::load_as(&parity, &Device::Cpu, Precision::F32).unwrap().config;
        let shift = config.family().unwrap().shifts_logits();
        let stream = markov_stream(ordinary_tokens(&config), 200_000, 1);
        let varmap = candle_nn::VarMap::new();
        let model = Transformer::new(&config, Mode::Train, candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
        anneal_models::random::init_seeded(&varmap, 3).unwrap();
        let params = varmap.data().lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut optimiser = AdamW::new(params, 0.0).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for step in 0..STEPS {
            let batch: Vec<_> = (0..16).map(|_| mask_example(&mut rng, &stream, 64, 0, specials(&config))).collect();
            let loss = loss_with_shift(&model, &batch, shift, &Device::Cpu).unwrap();
            let lr = 3e-3 * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / STEPS as f64).cos()));
            optimiser.step(&loss.backward().unwrap(), lr, 1.0).unwrap();
            if step % 250 == 0 || step + 1 == STEPS {
                println!("{family}: step {step}, loss {:.3}", loss.to_scalar::<f32>().unwrap());
            }
        }
        let out = fixture_dir("drift", family);
        std::fs::create_dir_all(&out).unwrap();
        let data = varmap.data().lock().unwrap();
        let bf16: std::collections::HashMap<String, Tensor> =
            data.iter().map(|(k, v)| (k.clone(), v.to_dtype(DType::BF16).unwrap())).collect();
        candle_core::safetensors::save(&bf16, out.join("model.safetensors")).unwrap();
        for file in ["config.json", "tokenizer.json"] {
            std::fs::copy(parity.join(file), out.join(file)).unwrap();
        }
        println!("{family}: written in {:.0?}", started.elapsed());
    }
}

#[test]
fn trained_fixtures_keep_their_predictions_at_q8_0_and_q4k() {
    // Top-1 agreement with the f32 forward pass of the same checkpoint, over the masked
    // positions of canvases as a decode sees them (a 16-token stretch in context, half of it
    // still masked), beside bf16's: the precision checkpoints are published in drifts too.
    // Measured here (this machine, December 7): q8_0 99.2–99.8% on the dense families, as bf16;
    // on the two mixtures of experts q8_0 98.8% (LLaDA2) and 98.6% (LLaDA-MoE) where bf16 gives
    // 98.6% and 98.7% — a router's near-tied experts swap under any rounding; q4k 96.1–98.7%.
    // The floors leave room for another CPU's kernels, whose sums round differently (0.6 of a
    // point on LLaDA-MoE's q8_0, a point or more elsewhere). The fixtures are 64 and 128 wide,
    // so q4k takes its Q5_0 fallback on them (the default model, 256 wide, runs Q4_K); the
    // mixtures' routers are not trained (routing is chosen on the host, outside autograd), so
    // they choose as random routers do.
    use rand::{Rng, SeedableRng};
    for family in FAMILIES {
        let dir = fixture_dir("drift", family);
        let f32_model = Model::load_as(&dir, &Device::Cpu, Precision::F32).unwrap();
        let mask = f32_model.config.mask_token_id;
        let held_out = markov_stream(ordinary_tokens(&f32_model.config), 256 * 64, 2);
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let canvases: Vec<(Vec<u32>, Vec<usize>)> = held_out
            .chunks(64)
            .map(|window| {
                let masked: Vec<usize> = (24..40).filter(|_| rng.random_bool(0.5)).collect();
                let mut canvas = window.to_vec();
                masked.iter().for_each(|&p| canvas[p] = mask);
                (canvas, masked)
            })
            .collect();
        let truth: Vec<u32> = held_out.chunks(64).zip(&canvases).flat_map(|(w, (_, m))| m.iter().map(|&p| w[p])).collect();
        // Log-probabilities at the masked positions, one row each.
        let log_probs = |m: &Model| {
            let rows: Vec<Tensor> = canvases
                .iter()
                .map(|(c, masked)| {
                    let logits = m.logits(c).unwrap().to_dtype(DType::F32).unwrap();
                    let at = Tensor::new(masked.iter().map(|&p| p as u32).collect::<Vec<_>>(), &Device::Cpu).unwrap();
                    candle_nn::ops::log_softmax(&logits.index_select(&at, 0).unwrap(), D::Minus1).unwrap()
                })
                .collect();
            Tensor::cat(&rows, 0).unwrap()
        };
        let argmax = |t: &Tensor| t.argmax(D::Minus1).unwrap().to_vec1::<u32>().unwrap();
        let reference = log_probs(&f32_model);
        let expected = argmax(&reference);
        let accuracy = expected.iter().zip(&truth).filter(|(a, b)| a == b).count() as f64 / truth.len() as f64;
        // A fixture that learnt nothing would be random weights again: near ties, no measure.
        assert!(accuracy > 0.4, "{family}: the drift fixture predicts {accuracy} of held-out tokens");
        let mut bf16_agreement = 0.0;
        for precision in [Precision::BF16, Precision::Q8_0, Precision::Q4K] {
            let quantized = log_probs(&Model::load_as(&dir, &Device::Cpu, precision).unwrap());
            let agreement = argmax(&quantized).iter().zip(&expected).filter(|(a, b)| a == b).count() as f64 / expected.len() as f64;
            let kl =
                (reference.exp().unwrap() * (&reference - &quantized).unwrap()).unwrap().sum(D::Minus1).unwrap().to_vec1::<f32>().unwrap();
            let (mean, max) = (kl.iter().sum::<f32>() / kl.len() as f32, kl.iter().copied().fold(0f32, f32::max));
            println!(
                "{family} drift fixture, {precision}: top-1 agreement with f32 {:.1}% over {} masked positions \
                 (f32 predicts {:.1}% of them), KL mean {mean:.1e} max {max:.1e}",
                agreement * 100.0,
                expected.len(),
                accuracy * 100.0
            );
            let floor = match precision {
                Precision::BF16 => {
                    bf16_agreement = agreement;
                    0.97
                }
                Precision::Q8_0 => f64::max(0.98, bf16_agreement - 0.01),
                _ => 0.95,
            };
            assert!(agreement >= floor, "{family} {precision}: top-1 agreement {agreement} below {floor}");
        }
    }
}
