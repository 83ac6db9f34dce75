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
    // The parity fixtures cover the other families: Dream's biases and tied embedding,
    // LLaDA's names and llama.cpp's interleaved rows for its queries and keys, Qwen3's head
    // norms (SDAR, CoDA), Open-dCoder's Qwen2 config, LLaDA2's fused projections and experts
    // (stacked in one tensor a layer, as llama.cpp stacks them), LLaDA-MoE's softmax router.
    let families = ["dream", "llada", "sdar", "coda", "open-dcoder", "llada2", "llada-moe"].map(|f| (f, fixture(f)));
    for (name, dir) in [("default", default_dir)].into_iter().chain(families) {
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
            // The file alone is the model: it carries its tokenizer and its config.
            std::fs::remove_file(out.join("tokenizer.json")).unwrap();
            std::fs::remove_file(out.join("config.json")).unwrap();
            let alone = Model::load_as(&out, &Device::Cpu, Precision::F32).unwrap_or_else(|e| panic!("{name} {precision}: {e:#}"));
            let text = "def f(x):\n    return x + 1\n";
            assert_eq!(alone.tokenizer.encode(text).unwrap(), on_load.tokenizer.encode(text).unwrap(), "{name}");
            assert_eq!(alone.config, on_load.config, "{name}");
            assert_eq!(max_difference(&on_load, &alone), 0.0, "{name} {precision}");
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

    // No tokenizer beside a file that carries none (llama.cpp's layout without a vocabulary).
    let no_tokenizer = tmp.path().join("no-tokenizer");
    std::fs::create_dir(&no_tokenizer).unwrap();
    let llama_cpps = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf/dream/model.gguf");
    std::fs::copy(llama_cpps, no_tokenizer.join("model.gguf")).unwrap();
    let err = load(&no_tokenizer);
    assert!(err.contains("carries no tokenizer") && err.contains("tokenizer.json") && err.contains("model.gguf"), "{err}");

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
    // Stored bytes, the embedding expanded to f16, a tenth for activations: between the
    // file's size and twice it for this small-vocabulary fixture.
    let needed = weights.memory_needed();
    assert!(needed > file && needed < 3 * file, "{needed} for a file of {file}");
    assert_eq!(weights.precision(), Precision::Q4K);
    assert!(weights.stored_types().contains(&GgmlDType::Q4K) || weights.stored_types().contains(&GgmlDType::Q5_0));
}

#[test]
fn llama_cpps_layout_loads_to_the_model_it_was_converted_from() {
    // Written by llama.cpp's own Python package (models/tests/fixtures/gguf_fixtures.py): its tensor names,
    // its Q8_0 quantizer (embedding and output layer included), LLaDA's interleaved query and
    // key rows, LLaDA-MoE's stacked experts, the config only as metadata (LLaDA-MoE's experts
    // from llama.cpp's expert keys). Its Q8_0 blocks are bit for bit candle's, so the file
    // loads to exactly the model Anneal's quantize-on-load makes of the source.
    for family in ["dream", "llada", "llada-moe"] {
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

#[test]
fn llama_cpps_qwen2_vocabulary_tokenizes_as_the_checkpoints_tokenizer_json() {
    // The vocabulary as llama.cpp's converter stores Qwen2.5's (Dream's): every id's token,
    // its type (normal, control for special added tokens, user-defined for the others, unused
    // for the gaps up to the embedding's rows), the merges as "a b", pre-tokenizer `qwen2`.
    use std::io::Read;
    let qwen = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/qwen");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(qwen.join("tokenizer.json.gz")).unwrap()).read_to_string(&mut text).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rows = 151_936;
    let mut tokens = vec![String::new(); rows];
    let mut types = vec![5i32; rows];
    for (token, id) in json["model"]["vocab"].as_object().unwrap() {
        tokens[id.as_u64().unwrap() as usize] = token.clone();
        types[id.as_u64().unwrap() as usize] = 1;
    }
    for added in json["added_tokens"].as_array().unwrap() {
        let id = added["id"].as_u64().unwrap() as usize;
        tokens[id] = added["content"].as_str().unwrap().to_string();
        types[id] = if added["special"].as_bool().unwrap() { 3 } else { 4 };
    }
    for (id, token) in tokens.iter_mut().enumerate() {
        if token.is_empty() {
            *token = format!("[PAD{id}]");
        }
    }
    let merges: Vec<Value> = json["model"]["merges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| Value::String(format!("{} {}", m[0].as_str().unwrap(), m[1].as_str().unwrap())))
        .collect();
    let strings = |v: &[String]| Value::Array(v.iter().map(|t| Value::String(t.clone())).collect());
    let metadata = [
        ("general.architecture", Value::String("dream".into())),
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.pre", Value::String("qwen2".into())),
        ("tokenizer.ggml.tokens", strings(&tokens)),
        ("tokenizer.ggml.token_type", Value::Array(types.iter().map(|&t| Value::I32(t)).collect())),
        ("tokenizer.ggml.merges", Value::Array(merges)),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vocab.gguf");
    let weight = QTensor::quantize(&Tensor::zeros((4, 32), candle_core::DType::F32, &Device::Cpu).unwrap(), GgmlDType::Q8_0).unwrap();
    let refs: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    gguf_file::write(&mut std::fs::File::create(&path).unwrap(), &refs, &[("token_embd.weight", &weight)]).unwrap();
    let config = anneal_models::checkpoint::parse_config(
        r#"{"model_type": "dream", "vocab_size": 151936, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 64, "eos_token_id": 151643}"#,
    )
    .unwrap();
    let from_gguf = GgufWeights::open(&path, Some(&config)).unwrap().tokenizer().unwrap().expect("a vocabulary");
    let original = anneal_models::Tokenizer::from_bytes(text.as_bytes()).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(qwen.join("reference.json")).unwrap()).unwrap();
    let samples = reference["samples"].as_array().unwrap();
    assert!(samples.len() >= 4);
    for sample in samples {
        let text = sample["text"].as_str().unwrap();
        let ids = from_gguf.encode(text).unwrap();
        assert_eq!(ids, original.encode(text).unwrap(), "{text:?}");
        assert_eq!(from_gguf.decode(&ids).unwrap(), original.decode(&ids).unwrap());
    }
    assert_eq!(from_gguf.token_id("<|endoftext|>"), Some(151_643));

    // Another pre-tokenizer is refused by name rather than guessed.
    let other = tmp.path().join("other.gguf");
    let mut metadata = metadata;
    metadata[2].1 = Value::String("llama-bpe".into());
    let refs: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    gguf_file::write(&mut std::fs::File::create(&other).unwrap(), &refs, &[("token_embd.weight", &weight)]).unwrap();
    let err = format!("{:#}", GgufWeights::open(&other, Some(&config)).unwrap().tokenizer().map(|_| ()).unwrap_err());
    assert!(err.contains("`llama-bpe`") && err.contains("tokenizer.json"), "{err}");
}

#[test]
fn the_vocabulary_written_for_llama_cpp_tokenizes_as_the_checkpoint() {
    // A Dream-layout checkpoint with the Qwen2.5 tokenizer: `anneal model quantize` writes
    // llama.cpp's vocabulary keys beside the embedded tokenizer.json. With the embedded JSON
    // taken out, what is left (what llama.cpp reads) must tokenize as the checkpoint does.
    use std::io::Read;
    let qwen = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/qwen");
    let mut json = vec![];
    flate2::read::GzDecoder::new(std::fs::File::open(qwen.join("tokenizer.json.gz")).unwrap()).read_to_end(&mut json).unwrap();
    let tokenizer = anneal_models::Tokenizer::from_bytes(&json).unwrap();
    let config = anneal_models::checkpoint::parse_config(
        r#"{"model_type": "dream", "architectures": ["DreamModel"], "vocab_size": 151936, "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 64,
            "tie_word_embeddings": true, "eos_token_id": 151643, "mask_token_id": 151665}"#,
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (dir, out) = (tmp.path().join("dream"), tmp.path().join("q8"));
    anneal_models::random::write_random_checkpoint(&dir, &config, &tokenizer, 3).unwrap();
    quantize(&dir, &out, Precision::Q8_0);

    // The same file without tokenizer.huggingface.json.
    let path = out.join("model.gguf");
    let mut file = std::fs::File::open(&path).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    assert!(content.metadata.contains_key("tokenizer.huggingface.json"));
    let metadata: Vec<(&str, &Value)> =
        content.metadata.iter().filter(|(k, _)| *k != "tokenizer.huggingface.json").map(|(k, v)| (k.as_str(), v)).collect();
    let tensors: Vec<(String, QTensor)> =
        content.tensor_infos.keys().map(|name| (name.clone(), content.tensor(&mut file, name, &Device::Cpu).unwrap())).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let bare = tmp.path().join("bare.gguf");
    gguf_file::write(&mut std::fs::File::create(&bare).unwrap(), &metadata, &tensor_refs).unwrap();

    let from_vocabulary = GgufWeights::open(&bare, Some(&config)).unwrap().tokenizer().unwrap().expect("llama.cpp's vocabulary");
    let reference: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(qwen.join("reference.json")).unwrap()).unwrap();
    for sample in reference["samples"].as_array().unwrap() {
        let text = sample["text"].as_str().unwrap();
        assert_eq!(from_vocabulary.encode(text).unwrap(), tokenizer.encode(text).unwrap(), "{text:?}");
    }
}

/// An instruct checkpoint's chat template goes into the GGUF file (`tokenizer.chat_template`,
/// the key llama.cpp reads), so the file alone is still an instruct model; one beside the file
/// wins, as for a folder of safetensors.
#[test]
fn the_chat_template_travels_inside_the_file() {
    use anneal_models::prompt::Message;
    let tmp = tempfile::tempdir().unwrap();
    let instruct = tmp.path().join("instruct");
    std::fs::create_dir(&instruct).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(fixture("dream").join(f), instruct.join(f)).unwrap();
    }
    let template = "{% for m in messages %}t1 {{ m.content }} t2 {{ eos_token }}{% endfor %}{% if add_generation_prompt %}t3 {% endif %}";
    let config = serde_json::json!({"chat_template": template, "eos_token": "<|endoftext|>"}).to_string();
    std::fs::write(instruct.join("tokenizer_config.json"), config).unwrap();
    let out = tmp.path().join("q8_0");
    quantize(&instruct, &out, Precision::Q8_0);
    let _ = std::fs::remove_file(out.join("tokenizer_config.json"));
    let _ = std::fs::remove_file(out.join("chat_template.jinja"));
    let from_file = Model::load(&out, &Device::Cpu).unwrap();
    let from_folder = Model::load(&instruct, &Device::Cpu).unwrap();
    let messages = [Message::new("user", "fix it")];
    let render = |m: &Model| m.chat_template.as_ref().expect("an instruct model").render(&messages, true).unwrap();
    assert_eq!(render(&from_file), render(&from_folder));
    assert!(render(&from_file).ends_with("t3 "), "{}", render(&from_file));
    // The base checkpoint's file carries none.
    let base = tmp.path().join("base");
    quantize(&fixture("dream"), &base, Precision::Q8_0);
    assert!(Model::load(&base, &Device::Cpu).unwrap().chat_template.is_none());
}
