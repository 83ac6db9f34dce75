//! The real Qwen2.5 BPE tokenizer (the one Dream, Dream-Coder and DiffuCoder use) and chat
//! templates, against what transformers gives for the same files
//! (`models/tests/fixtures/parity_fixtures.py qwen`).

use std::io::Read;
use std::path::PathBuf;

use anneal_models::prompt::{ChatTemplate, Message};
use anneal_models::Tokenizer;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/qwen")
}

fn reference() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("reference.json")).unwrap()).unwrap()
}

fn tokenizer() -> Tokenizer {
    let mut json = vec![];
    flate2::read::GzDecoder::new(std::fs::File::open(dir().join("tokenizer.json.gz")).unwrap()).read_to_end(&mut json).unwrap();
    Tokenizer::from_bytes(&json).unwrap()
}

#[test]
fn qwen_bpe_encodes_code_as_transformers_does_and_round_trips() {
    let tok = tokenizer();
    assert!(tok.vocab_size() >= 151_643, "the whole Qwen vocabulary: {}", tok.vocab_size());
    assert_eq!(tok.token_id("<|endoftext|>"), Some(151_643));
    for sample in reference()["samples"].as_array().unwrap() {
        let text = sample["text"].as_str().unwrap();
        let expected: Vec<u32> = serde_json::from_value(sample["ids"].clone()).unwrap();
        let ids = tok.encode(text).unwrap();
        assert_eq!(ids, expected, "ids of {text:?}");
        // Decoding drops special tokens (a literal `<|im_start|>` in code is one), so round
        // trips are checked on ordinary text.
        if !text.contains("<|") {
            assert_eq!(tok.decode(&ids).unwrap(), text);
        }
    }
}

#[test]
fn chat_templates_render_as_transformers_renders_them() {
    let reference = reference();
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir().join("tokenizer_config.json")).unwrap()).unwrap();
    let conversations: Vec<Vec<Message>> = reference["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_array().unwrap().iter().map(|m| Message::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap())).collect())
        .collect();
    let renders = reference["renders"].as_array().unwrap();
    assert!(renders.len() >= 12);
    for render in renders {
        let name = render["template"].as_str().unwrap();
        let source = match name {
            "qwen3" => config["chat_template"].as_str().unwrap().to_string(),
            other => reference["templates"][other].as_str().unwrap().to_string(),
        };
        let template = ChatTemplate::new(source, &config).unwrap();
        let conversation = &conversations[render["conversation"].as_u64().unwrap() as usize];
        let generation = render["add_generation_prompt"].as_bool().unwrap();
        let ours = template.render(conversation, generation).unwrap();
        assert_eq!(ours, render["text"].as_str().unwrap(), "template {name}, generation prompt {generation}");
    }
}

#[test]
fn a_checkpoint_folder_with_the_qwen_config_has_a_chat_template() {
    let template = ChatTemplate::from_dir(&dir()).unwrap().expect("tokenizer_config.json has one");
    let prompt = template.render(&[Message::new("user", "Simplify")], true).unwrap();
    assert!(prompt.starts_with("<|im_start|>user\nSimplify<|im_end|>\n<|im_start|>assistant\n"), "{prompt:?}");
}
