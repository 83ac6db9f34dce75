//! `anneal train` killed at arbitrary moments resumes from its last checkpoint with nothing
//! lost: a run killed (SIGKILL) twice and restarted ends with weights bit-identical to an
//! uninterrupted run of the same config — through every stage of the recipe, the model-driven
//! constrained-order and on-policy stages included. Also: a fine-tune config self-distils from its `init`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_anneal");

fn write_corpus(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let file = |i: usize| {
        let body = format!(
            "def f{i}(xs):\n    total = 0\n    for x in xs:\n        total += x * {i}\n    return total\n\n\nclass C{i}:\n    def g(self, y):\n        return f{i}([y, {i}])\n"
        );
        serde_json::json!({ "lang": "python", "path": format!("m{i}.py"), "text": body }).to_string()
    };
    let train: Vec<String> = (0..120).map(file).collect();
    let valid: Vec<String> = (1000..1010).map(file).collect();
    std::fs::write(dir.join("train.jsonl"), train.join("\n") + "\n").unwrap();
    std::fs::write(dir.join("valid.jsonl"), valid.join("\n") + "\n").unwrap();
}

fn write_config(root: &Path, corpus: &Path, out: &Path) -> PathBuf {
    write_config_with(root, corpus, out, serde_json::json!({}))
}

/// The test config with `changes`' keys replaced.
fn write_config_with(root: &Path, corpus: &Path, out: &Path, changes: serde_json::Value) -> PathBuf {
    let mut config = serde_json::json!({
        "corpus": corpus, "out": out,
        "vocab_size": 300, "tokenizer_sample_bytes": 100000,
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
        "num_attention_heads": 2, "num_key_value_heads": 1,
        "window": 32, "max_slack": 4, "batch_size": 2, "steps": 30,
        "lr": 0.003, "warmup_steps": 5, "weight_decay": 0.01, "grad_clip": 1.0,
        "edit_fraction": 0.3, "edit_alpha": 0.1, "seed": 3,
        "eval_every": 15, "eval_windows": 4, "checkpoint_every_secs": 0,
        "post": [{ "kind": "order", "steps": 8 }, { "kind": "on_policy", "steps": 8 }],
        "distill": { "block": 8, "pool": 3, "order_steps": 2, "order_noise": 1.0, "on_policy_steps": 2 }
    });
    for (key, value) in changes.as_object().unwrap() {
        config[key] = value.clone();
    }
    let path = root.join(format!("{}.json", out.file_name().unwrap().to_string_lossy()));
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

fn train(config: &Path) -> std::process::Child {
    Command::new(BIN).arg("train").arg(config).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
}

fn latest_step(out: &Path) -> usize {
    std::fs::read_to_string(out.join("latest")).ok().and_then(|n| n.trim().trim_start_matches("step-").parse().ok()).unwrap_or(0)
}

fn final_weights(out: &Path) -> Vec<u8> {
    std::fs::read(out.join("step-0000046/model.safetensors")).unwrap()
}

#[test]
fn a_killed_run_resumes_to_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    write_corpus(&corpus);

    let straight = dir.path().join("straight");
    let out = train(&write_config(dir.path(), &corpus, &straight)).wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let killed = dir.path().join("killed");
    let config = write_config(dir.path(), &corpus, &killed);
    // Kill once in the main run and once inside the model-driven post stages (steps 30..46).
    for kill_after in [12, 36] {
        let mut child = train(&config);
        let started = Instant::now();
        while latest_step(&killed) < kill_after {
            assert!(child.try_wait().unwrap().is_none(), "the run ended before step {kill_after}");
            assert!(started.elapsed() < Duration::from_secs(120), "no progress");
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert!(latest_step(&killed) < 46, "killed before the end");
    let out = train(&config).wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("resumed from"), "the restart resumed rather than starting over");

    assert_eq!(final_weights(&straight), final_weights(&killed), "a resumed run must end where an uninterrupted one does");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(killed.join("step-0000046/config.json")).unwrap()).unwrap();
    assert_eq!(saved["anneal_edit_trained"], true);
    let last = std::fs::read_to_string(killed.join("metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    assert_eq!(last["step"], 46);
    assert!(last["fill_passes_per_block"].as_f64().unwrap() >= 1.0, "the final evaluation measures block fill: {last}");
}

/// A fine-tune config (post stages alone) self-distils a finished model: the teacher is its
/// `init`, and without one the run says so instead of starting.
#[test]
fn self_distillation_fine_tunes_from_its_init_and_refuses_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    write_corpus(&corpus);
    let base = dir.path().join("base");
    let short = serde_json::json!({ "steps": 10, "post": [], "edit_fraction": 0.0 });
    let out = train(&write_config_with(dir.path(), &corpus, &base, short)).wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let post = serde_json::json!([{ "kind": "self_distill", "steps": 4 }]);
    let tuned = dir.path().join("tuned");
    let fine_tune = serde_json::json!({ "steps": 0, "warmup_steps": 2, "post": post, "init": base.join("step-0000010") });
    let out = train(&write_config_with(dir.path(), &corpus, &tuned, fine_tune)).wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before = std::fs::read(base.join("step-0000010/model.safetensors")).unwrap();
    assert_ne!(std::fs::read(tuned.join("step-0000004/model.safetensors")).unwrap(), before, "the student learnt");
    let metrics = std::fs::read_to_string(tuned.join("metrics.jsonl")).unwrap();
    assert!(metrics.lines().last().unwrap().contains("\"stage\":\"self_distill\""), "{metrics}");

    let orphan = dir.path().join("orphan");
    let out = train(&write_config_with(dir.path(), &corpus, &orphan, serde_json::json!({ "steps": 0, "post": post })))
        .wait_with_output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("self-distillation needs a teacher"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_run_given_minutes_stops_when_they_are_up_with_its_evaluation_and_a_checkpoint() {
    // `--max-minutes 0`: the time is up after the first step, which must still end the run as
    // the last step does: final metrics (with the block-fill figures) and a checkpoint there.
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    write_corpus(&corpus);
    let out = dir.path().join("timed");
    let config = write_config_with(dir.path(), &corpus, &out, serde_json::json!({ "post": [] }));
    let run = Command::new(BIN).arg("train").arg(&config).args(["--max-minutes", "0", "--device", "cpu"]).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(latest_step(&out), 1, "stopped after one of its 30 steps");
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(metrics.lines().last().unwrap()).unwrap();
    assert_eq!(last["step"], 1);
    assert!(last["fill_accuracy"].is_number(), "the final evaluation ran: {last}");
    // An unknown device is refused before any work.
    let bad = Command::new(BIN).arg("train").arg(&config).args(["--device", "tpu"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown device `tpu`"), "{}", String::from_utf8_lossy(&bad.stderr));
}
