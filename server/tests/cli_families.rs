//! `anneal edit --model DIR`, `anneal eval` and `anneal model info DIR` on a folder of each
//! open family's layout: the tiny random checkpoints of the parity fixtures (Dream's Qwen2
//! names, LLaDA's OLMo names and config, SDAR's and CoDA's Qwen3, Open-dCoder's unchanged
//! qwen2 config), and the same Dream folder with a chat template, which turns on the instruct
//! prompt. Random weights write nonsense: these check the plumbing, the parity tests
//! (`models/tests/parity.rs`) the numbers.

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_anneal");

use anneal_test_support::checkpoints;

fn fixture(family: &str) -> PathBuf {
    checkpoints::parity_fixture(family)
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env("ANNEAL_LOG", "debug").output().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn each_family_folder_edits_with_each_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "alpha beta gamma\ndelta epsilon zeta\neta theta\n").unwrap();
    let cases = [
        ("dream", "linear"),
        ("dream", "threshold"),
        ("llada", "blocks"),
        ("llada", "linear"),
        ("sdar", "threshold"),
        ("sdar", "aligned-blocks"),
        ("coda", "linear"),
        ("open-dcoder", "proportional"),
        ("llada2", "threshold"),
        ("llada-moe", "blocks"),
    ];
    for (family, schedule) in cases {
        let model = fixture(family);
        let out = run(&[
            "edit",
            file.to_str().unwrap(),
            "--range",
            "1:0-1:5",
            "--model",
            model.to_str().unwrap(),
            "--schedule",
            schedule,
            "--max-steps",
            "4",
            "--block-length",
            "4",
        ]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{family} {schedule}: {stderr}");
        assert!(stdout.contains("@@") || stdout.trim().is_empty() || stdout.contains("no change"), "{family} {schedule}: {stdout}");
    }
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "alpha beta gamma\ndelta epsilon zeta\neta theta\n",
        "edit never writes without --write"
    );
}

#[test]
fn model_info_names_the_family_and_an_instruct_folder_prompts_with_its_template() {
    let families = [
        ("dream", "Dream", "bidirectional, logits shifted"),
        ("llada", "Llada", "bidirectional"),
        ("sdar", "Sdar", "block-causal in blocks of 4"),
        ("coda", "Coda", "bidirectional, logits shifted"),
        ("open-dcoder", "Dream", "bidirectional, logits shifted"),
        ("llada2", "Llada2", "block-causal in blocks of 8"),
        ("llada-moe", "LladaMoe", "bidirectional"),
    ];
    for (family, name, attention) in families {
        let out = run(&["model", "info", fixture(family).to_str().unwrap()]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        assert!(stdout.contains(&format!("family: {name}")) && stdout.contains("stored as: F32"), "{stdout}");
        assert!(stdout.contains(&format!("attention: {attention}")), "{family}: {stdout}");
        assert!(stdout.contains("GiB as q8_0") && stdout.contains("GiB as q4k"), "{stdout}");
        assert!(stdout.contains("follows instructions: no"), "{stdout}");
        let edits = if family == "llada2" { "edits natively: LLaDA 2.1 yes" } else { "edits natively: no" };
        assert!(stdout.contains(edits), "{family}: {stdout}");
    }
    // Open-dCoder's tokenizer keeps Qwen2.5's chat template; it is a base model all the same.
    let open_dcoder = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture("open-dcoder")).unwrap().flatten() {
        std::fs::copy(entry.path(), open_dcoder.path().join(entry.file_name())).unwrap();
    }
    let chatml = r#"{"chat_template": "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"}"#;
    std::fs::write(open_dcoder.path().join("tokenizer_config.json"), chatml).unwrap();
    let out = run(&["model", "info", open_dcoder.path().to_str().unwrap()]);
    assert!(text(&out).0.contains("follows instructions: no"), "{}", text(&out).0);
    let out = run(&["model", "info", fixture("llada2").to_str().unwrap()]);
    assert!(text(&out).0.contains("M of them active a token (2 of 8 experts, 1 shared)"), "{}", text(&out).0);
    let out = run(&["model", "info", fixture("llada-moe").to_str().unwrap()]);
    assert!(text(&out).0.contains("M of them active a token (2 of 8 experts, 0 shared)"), "{}", text(&out).0);
    let instruct = checkpoints::instruct_checkpoint();
    let out = run(&["model", "info", instruct.path().to_str().unwrap()]);
    assert!(text(&out).0.contains("follows instructions: yes"), "{}", text(&out).0);

    let file = instruct.path().join("notes.txt");
    std::fs::write(&file, "alpha beta\ngamma delta\n").unwrap();
    let out = run(&[
        "edit",
        file.to_str().unwrap(),
        "--range",
        "0:0-0:5",
        "--model",
        instruct.path().to_str().unwrap(),
        "--instruction",
        "shorter",
        "--schedule",
        "linear",
        "--max-steps",
        "4",
    ]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("prompting with the checkpoint's chat template"), "{stderr}");
}

#[test]
fn llada2_in_edit_mode_rewrites_its_own_tokens_as_it_unmasks() {
    // `--mode edit` on LLaDA2 is its joint sampler: the log shows more passes than masks would
    // need alone (edits, then passes of editing alone), and the file is untouched.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "alpha beta gamma\ndelta epsilon zeta\n").unwrap();
    let model = fixture("llada2");
    let edit = |extra: &[&str]| {
        let mut args = vec!["edit", file.to_str().unwrap(), "--range", "0:0-0:16", "--model", model.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert!(out.status.success(), "{}", text(&out).1);
        text(&out).1
    };
    // "rewrote bytes 0..16 in 1 block(s): 9 steps, …"
    let steps = |log: &str| log.lines().find_map(|l| l.split("block(s): ").nth(1)?.split(' ').next()?.parse::<usize>().ok());
    let mask = edit(&["--mode", "mask"]);
    let joint = edit(&["--mode", "edit", "--edit-threshold", "0"]);
    let (mask_steps, joint_steps) = (steps(&mask).expect(&mask), steps(&joint).expect(&joint));
    assert!(joint_steps > mask_steps, "editing adds passes: {joint_steps} against {mask_steps}");
    let out = run(&["edit", file.to_str().unwrap(), "--model", model.to_str().unwrap(), "--edit-threshold", "1.5"]);
    assert!(!out.status.success() && text(&out).1.contains("mask.editThreshold must be 0..=1"), "{}", text(&out).1);
}

#[test]
fn each_new_family_runs_humanevalfix_end_to_end() {
    // Random weights fix nothing; the harness must still decode, run and score every sample.
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/eval/humanevalpack");
    for family in ["sdar", "coda", "open-dcoder", "llada2", "llada-moe"] {
        let out_dir = tempfile::tempdir().unwrap();
        let model = fixture(family);
        let args = ["eval", "humanevalfix", "--data", data, "--lang", "python", "--limit", "3", "--model", model.to_str().unwrap()];
        let results = out_dir.path().join("humanevalfix.jsonl");
        let out = Command::new(BIN).args(args).arg("--out").arg(&results).output().unwrap();
        let (_, stderr) = text(&out);
        assert!(out.status.success(), "{family}: {stderr}");
        let records = std::fs::read_to_string(&results).unwrap();
        // `--limit 3` of the fixture's two Python samples.
        assert_eq!(records.lines().count(), 2, "{family}: one record a sample");
        assert!(records.lines().all(|l| l.contains("\"verdict\"")), "{family}: every sample run: {records}");
    }
}

#[test]
fn a_folder_of_an_unsupported_family_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["model.safetensors", "tokenizer.json"] {
        std::fs::copy(fixture("dream").join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(dir.path().join("config.json"), r#"{"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}"#).unwrap();
    let file = dir.path().join("x.txt");
    std::fs::write(&file, "a b\n").unwrap();
    let out = run(&["edit", file.to_str().unwrap(), "--range", "0:0-0:1", "--model", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("`gpt2` is not supported (supported: anneal, dream"), "{}", text(&out).1);
}

/// `anneal model quantize` writes a GGUF cache that `--model` loads and `model info` describes;
/// the README's repair comes out the same from the cache of the embedded model.
#[test]
fn a_quantized_gguf_cache_loads_edits_and_describes_itself() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("dream-q4k");
    let out = run(&["model", "quantize", fixture("dream").to_str().unwrap(), "--dtype", "q4k", "--out", cache.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("model.gguf") && stdout.contains("quantized to q4k"), "{stdout}");
    assert!(stderr.contains("quantizing: ") && stderr.contains("tensors"), "progress is shown: {stderr}");
    let out = run(&["model", "info", cache.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("family: Dream") && stdout.contains("stored as: ") && stdout.contains("model.gguf"), "{stdout}");
    assert!(stdout.contains("as stored (q4k)"), "{stdout}");

    let default_cache = dir.path().join("default-q8");
    let out = run(&["model", "quantize", "default", "--dtype", "q8_0", "--out", default_cache.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out).1);
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/broken.py");
    let out = run(&["edit", example, "--model", default_cache.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("model.gguf"), "the log names the file: {stderr}");
    assert!(stdout.contains("+    for value in values:\n") && stdout.contains("+    return total / len(values)\n"), "{stdout}");

    let out = run(&["model", "quantize", "default", "--dtype", "bf16", "--out", dir.path().join("x").to_str().unwrap()]);
    assert!(!out.status.success() && text(&out).1.contains("not a quantized dtype (expected q8_0 or q4k)"), "{}", text(&out).1);
}

/// `model random --shape --tokenizer`: a real shape's random weights with the checkpoint's own
/// tokenizer (here gzipped, as the repo ships Qwen2.5's), which the quantized GGUF then carries
/// for llama.cpp too.
#[test]
fn a_random_shape_takes_its_own_tokenizer() {
    let dir = tempfile::tempdir().unwrap();
    let shape = dir.path().join("shape.json");
    std::fs::write(
        &shape,
        r#"{"model_type": "Dream", "architectures": ["DreamModel"], "vocab_size": 151936, "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 64,
            "tie_word_embeddings": true, "mask_token_id": 151666, "eos_token_id": 151643}"#,
    )
    .unwrap();
    let qwen = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/tests/fixtures/qwen/tokenizer.json.gz");
    let model = dir.path().join("dream");
    let out = run(&["model", "random", model.to_str().unwrap(), "--shape", shape.to_str().unwrap(), "--tokenizer", qwen]);
    assert!(out.status.success(), "{}", text(&out).1);
    let out = run(&["model", "info", model.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success() && stdout.contains("family: Dream") && stdout.contains("stored as: BF16"), "{stdout}{stderr}");
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(model.join("tokenizer.json")).unwrap()).unwrap();
    assert_eq!(written["model"]["type"], "BPE", "Qwen2.5's BPE, not the default model's tokenizer");
    assert!(written["model"]["vocab"].as_object().unwrap().len() >= 151_643);
}
