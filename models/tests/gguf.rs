//! GGUF folders: what `anneal model quantize` writes loads to the very model quantize-on-load
//! gives (same blocks, same floats), with the config from `config.json` or from the file's
//! metadata, and a folder that cannot load says why.

use std::path::{Path, PathBuf};

use anneal_models::gguf::{self, GgufWeights};
use anneal_models::{default_model, Model, Precision};
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

fn fixture(family: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity").join(family)
}

fn quantize(dir: &Path, out: &Path, precision: Precision) {
    gguf::quantize_checkpoint(dir, out, precision, &mut |_, _| {}).unwrap_or_else(|e| panic!("{}: {e:#}", dir.display()));
}

fn ids(model: &Model) -> Vec<u32> {
    (0..40u32).map(|i| (i * 37 + 5) % model.config.vocab_size as u32).collect()
}

fn max_difference(a: &Model, b: &Model) -> f32 {
    let ids = ids(a);
    let (x, y) = (a.logits(&ids).unwrap(), b.logits(&ids).unwrap());
    (x - y).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
}

use anneal_models::Denoiser;

#[test]
fn a_quantized_cache_loads_to_the_model_quantize_on_load_gives() {
    let tmp = tempfile::tempdir().unwrap();
    let default_dir = tmp.path().join("default");
    default_model::write_to(&default_dir).unwrap();
    // The parity fixtures cover the other two families: Dream's biases and tied embedding,
    // LLaDA's names and llama.cpp's interleaved rows for its queries and keys.
    for (name, dir) in [("default", default_dir), ("dream", fixture("dream")), ("llada", fixture("llada"))] {
        for precision in [Precision::Q8_0, Precision::Q4K] {
            let out = tmp.path().join(format!("{name}-{precision}"));
            quantize(&dir, &out, precision);
            let on_load = Model::load_as(&dir, &Device::Cpu, precision).unwrap();
            let cached = Model::load_as(&out, &Device::Cpu, Precision::F32).unwrap_or_else(|e| panic!("{name} {precision}: {e:#}"));
            assert!(cached.source.ends_with(gguf::GGUF_FILE), "{}", cached.source);
            assert_eq!(cached.precision, precision, "{name}: the file's precision, whatever was asked");
            assert_eq!(cached.config, on_load.config);
            let difference = max_difference(&on_load, &cached);
            assert!(difference == 0.0, "{name} {precision}: logits differ by {difference}");
        }
    }
}

#[test]
fn without_config_json_the_metadata_describes_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    for family in ["dream", "llada"] {
        let out = tmp.path().join(family);
        quantize(&fixture(family), &out, Precision::Q8_0);
        let with_config = Model::load_as(&out, &Device::Cpu, Precision::F32).unwrap();
        std::fs::remove_file(out.join("config.json")).unwrap();
        let from_metadata = Model::load_as(&out, &Device::Cpu, Precision::F32).unwrap_or_else(|e| panic!("{family}: {e:#}"));
        let (a, b) = (&with_config.config, &from_metadata.config);
        assert_eq!(
            (a.vocab_size, a.hidden_size, a.intermediate_size, a.num_hidden_layers, a.num_attention_heads, a.num_key_value_heads),
            (b.vocab_size, b.hidden_size, b.intermediate_size, b.num_hidden_layers, b.num_attention_heads, b.num_key_value_heads),
            "{family}"
        );
        assert_eq!((a.mask_token_id, a.eos_token_id, a.pad_token_id), (b.mask_token_id, b.eos_token_id, b.pad_token_id), "{family}");
        assert_eq!(
            (a.tie_word_embeddings, a.attention_bias, a.family().unwrap()),
            (b.tie_word_embeddings, b.attention_bias, b.family().unwrap())
        );
        assert!((a.rope_theta - b.rope_theta).abs() < 1e-3 && (a.rms_norm_eps - b.rms_norm_eps).abs() < 1e-9, "{family}");
        assert_eq!(max_difference(&with_config, &from_metadata), 0.0, "{family}");
    }
}

#[test]
fn a_folder_that_cannot_load_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dream");
    quantize(&fixture("dream"), &out, Precision::Q8_0);
    let load = |dir: &Path| Model::load_as(dir, &Device::Cpu, Precision::F32).map(|_| ()).unwrap_err().to_string();

    // No tokenizer beside the file.
    let no_tokenizer = tmp.path().join("no-tokenizer");
    std::fs::create_dir(&no_tokenizer).unwrap();
    std::fs::copy(out.join("model.gguf"), no_tokenizer.join("model.gguf")).unwrap();
    let err = load(&no_tokenizer);
    assert!(err.contains("tokenizer.json") && err.contains("model.gguf"), "{err}");

    // Two GGUF files: which one was meant cannot be guessed.
    std::fs::copy(out.join("model.gguf"), out.join("other.gguf")).unwrap();
    let err = load(&out);
    assert!(err.contains("2 GGUF files") && err.contains("other.gguf"), "{err}");
    std::fs::remove_file(out.join("other.gguf")).unwrap();

    // A truncated file is named.
    let truncated = tmp.path().join("truncated");
    std::fs::create_dir(&truncated).unwrap();
    let bytes = std::fs::read(out.join("model.gguf")).unwrap();
    std::fs::write(truncated.join("model.gguf"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::copy(out.join("tokenizer.json"), truncated.join("tokenizer.json")).unwrap();
    let err = format!("{:#}", Model::load_as(&truncated, &Device::Cpu, Precision::F32).map(|_| ()).unwrap_err());
    assert!(err.contains("truncated") || err.contains("model.gguf"), "{err}");

    // An autoregressive model's GGUF (llama.cpp's `qwen2`) is not taken for a diffusion model.
    let qwen = tmp.path().join("qwen2.gguf");
    let weight = QTensor::quantize(&Tensor::zeros((4, 32), candle_core::DType::F32, &Device::Cpu).unwrap(), GgmlDType::Q8_0).unwrap();
    let arch = Value::String("qwen2".into());
    gguf_file::write(&mut std::fs::File::create(&qwen).unwrap(), &[("general.architecture", &arch)], &[("token_embd.weight", &weight)])
        .unwrap();
    let err = GgufWeights::open(&qwen, None).unwrap_err().to_string();
    assert!(err.contains("`qwen2`") && err.contains("dream") && err.contains("llada"), "{err}");
}

#[test]
fn the_memory_check_counts_the_file_at_its_stored_size() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dream");
    quantize(&fixture("dream"), &out, Precision::Q4K);
    let weights = GgufWeights::open(&out.join("model.gguf"), None).unwrap();
    let file = std::fs::metadata(out.join("model.gguf")).unwrap().len();
    // Stored bytes, the embedding expanded to f32, a tenth for activations: between the
    // file's size and twice it for this small-vocabulary fixture.
    let needed = weights.memory_needed();
    assert!(needed > file && needed < 3 * file, "{needed} for a file of {file}");
    assert_eq!(weights.precision(), Precision::Q4K);
    assert!(weights.stored_types().contains(&GgmlDType::Q4K) || weights.stored_types().contains(&GgmlDType::Q5_0));
}

#[test]
fn llama_cpps_layout_loads_to_the_model_it_was_converted_from() {
    // Written by llama.cpp's own Python package (scripts/gguf_fixtures.py): its tensor names,
    // its Q8_0 quantizer (embedding and output layer included), LLaDA's interleaved query and
    // key rows, the config only as metadata. Its Q8_0 blocks are bit for bit candle's, so the
    // file loads to exactly the model Anneal's quantize-on-load makes of the source.
    for family in ["dream", "llada"] {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf").join(family);
        assert!(!dir.join("config.json").exists());
        let converted = Model::load_as(&dir, &Device::Cpu, Precision::F32).unwrap_or_else(|e| panic!("{family}: {e:#}"));
        assert_eq!(converted.precision, Precision::Q8_0);
        let source = Model::load_as(&fixture(family), &Device::Cpu, Precision::Q8_0).unwrap();
        assert_eq!(converted.config.family().unwrap(), source.config.family().unwrap());
        let ids = ids(&source);
        let (a, b) = (source.logits(&ids).unwrap(), converted.logits(&ids).unwrap());
        let scale = a.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        let relative = max_difference(&source, &converted) / scale;
        let top = |t: &Tensor| t.argmax(candle_core::D::Minus1).unwrap().to_vec1::<u32>().unwrap();
        let agreement = top(&a).iter().zip(top(&b)).filter(|(x, y)| **x == *y).count() as f64 / ids.len() as f64;
        println!("{family}: llama.cpp's layout against quantize-on-load: max difference {relative:.4} of the largest logit, top-1 agreement {agreement}");
        assert!(relative < 1e-6 && agreement == 1.0, "{family}: {relative} {agreement}");
    }
}
