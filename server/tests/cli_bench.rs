//! `anneal bench` end to end on the embedded default model, at a size that runs in seconds: it
//! prints its tables and writes a JSON report whose figures hang together. (What the figures
//! are is the benchmark's business; see docs/benchmarks.md. Here: that they are measured, not their size.)

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_anneal");

#[test]
fn bench_measures_every_arm_in_one_run_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.json");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let run = std::process::Command::new(BIN)
        .current_dir(root)
        .args(["bench", "--tasks", "2", "--block", "8", "--context", "16", "--sizes", "8,16", "--files", "examples", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("| ar |") && stdout.contains("speed-up over ar"), "{stdout}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let arms = r["arms"].as_array().unwrap();
    let names: Vec<&str> = arms.iter().map(|a| a["arm"].as_str().unwrap()).collect();
    assert_eq!(names, ["ar", "one per pass", "diffusion", "diffusion+cache", "diffusion+dual", "4 per pass+dual"]);
    // Autoregressive decoding is one forward pass per token, by construction.
    assert_eq!(arms[0]["forward_passes"], json!(16), "{r}");
    assert_eq!(arms[1]["same_as_slow"], 1.0);
    for a in arms {
        assert_eq!(a["tokens"], 16);
        let passes = a["forward_passes"].as_u64().unwrap();
        assert!((2..=16).contains(&passes), "at least one pass per block, at most one per token: {a}");
        // Speed counts the tokens written, not the positions a model left as pads.
        let written = a["written"].as_u64().unwrap();
        assert!(written <= 16, "{a}");
        let per_second = written as f64 / a["seconds"].as_f64().unwrap();
        assert!((a["tokens_per_second"].as_f64().unwrap() - per_second).abs() < 1e-6 * per_second.max(1.0), "{a}");
    }
    // Four commits a pass: two passes per 8-token block, plus the dual cache's refreshes.
    let four = &arms[5];
    assert!(four["forward_passes"].as_u64().unwrap() <= 2 * 4, "{four}");
    for a in arms {
        let ratio = a["tokens_per_second"].as_f64().unwrap() / arms[0]["tokens_per_second"].as_f64().unwrap();
        assert!((a["speedup_over_ar"].as_f64().unwrap() - ratio).abs() < 1e-9, "the speed-up is the ratio of the arms' tokens/s: {a}");
    }
    let timing = r["pass_timing"].as_array().unwrap();
    assert_eq!(timing.len(), 2);
    assert!(timing.iter().all(|t| t["dual_ms"].as_f64().unwrap() > 0.0), "{timing:?}");
    assert!(r["reuse_512_ratio"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_compares_precisions_against_the_first_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("precisions.json");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let run = std::process::Command::new(BIN)
        .current_dir(root)
        .args(["bench", "--dtype", "f32,q8_0,q4k", "--tasks", "2", "--block", "8", "--context", "16", "--files", "examples", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("| q4k |") && stdout.contains("top-1 agreement"), "{stdout}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let p = r["precisions"].as_array().unwrap();
    let names: Vec<&str> = p.iter().map(|x| x["precision"].as_str().unwrap()).collect();
    assert_eq!(names, ["f32", "q8_0", "q4k"]);
    let f = |i: usize, k: &str| p[i][k].as_f64().unwrap();
    // The baseline against itself, and ratios that are ratios of the figures printed.
    assert_eq!((f(0, "top1_agreement"), f(0, "pass_speedup"), f(0, "kl_mean")), (1.0, 1.0, 0.0));
    for i in 1..3 {
        assert!((f(i, "pass_speedup") - f(0, "pass_ms") / f(i, "pass_ms")).abs() < 1e-9, "{r}");
        assert!(f(i, "kl_mean") >= 0.0 && f(i, "kl_max") >= f(i, "kl_mean"), "{r}");
        assert!(f(i, "top1_agreement") > 0.8, "a quantized layer loaded wrongly agrees by chance: {r}");
    }
    // Fewer bits, fewer bytes.
    assert!(f(0, "weight_mib") > f(1, "weight_mib") && f(1, "weight_mib") > f(2, "weight_mib"), "{r}");

    let bad = std::process::Command::new(BIN).current_dir(root).args(["bench", "--dtype", "f32,fp8"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && stderr.contains("unknown dtype `fp8`"), "{stderr}");
}

/// `--llama-cpp`: the peer runs on the very GGUF file and its `time per step` is read back. A
/// stand-in peer (a script that records its arguments and prints llama.cpp's timing line)
/// checks the plumbing here; the real runner is built by scripts/bench/llama-cpp.sh.
#[test]
fn the_llama_cpp_comparison_runs_the_peer_on_the_same_gguf_and_reads_its_step_time() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let cache = dir.path().join("q8");
    let run =
        std::process::Command::new(BIN).args(["model", "quantize", "default", "--dtype", "q8_0", "--out"]).arg(&cache).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let peer = dir.path().join("llama-diffusion-cli");
    let args = dir.path().join("args.txt");
    std::fs::write(
        &peer,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\necho 'total time: 800.00ms, time per step: 100.00ms, sampling time per step: 1.00ms' >&2\n", args.display()),
    )
    .unwrap();
    std::fs::set_permissions(&peer, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = dir.path().join("side.json");
    let run = std::process::Command::new(BIN)
        .current_dir(root)
        .args(["bench", "--block", "8", "--context", "16", "--files", "examples", "--model"])
        .arg(&cache)
        .arg("--llama-cpp")
        .arg(&peer)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("| one pass over the canvas (ms) | 100 |"), "{stdout}");
    let peer_args = std::fs::read_to_string(&args).unwrap();
    assert!(peer_args.contains(&cache.join("model.gguf").display().to_string()), "the same file: {peer_args}");
    assert!(peer_args.contains("\n40\n"), "a canvas of 16 + 8 + 16 tokens: {peer_args}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(r["llama_cpp_step_ms"], 100.0);
    let (full, window) = (r["anneal_full_ms"].as_f64().unwrap(), r["anneal_window_ms"].as_f64().unwrap());
    assert!(full > 0.0 && window > 0.0, "{r}");
    let block = (full + 7.0 * window) / 1000.0;
    assert!((r["anneal_block_seconds"].as_f64().unwrap() - block).abs() < 1e-9, "{r}");

    // A folder without a GGUF file is refused, saying how to make one.
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/tests/fixtures/parity/dream");
    let run = std::process::Command::new(BIN)
        .current_dir(root)
        .args(["bench", "--files", "examples", "--model", fixture, "--llama-cpp"])
        .arg(&peer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("anneal model quantize"), "{stderr}");
}

/// `--shape` makes random weights in memory at the precision asked, layer by layer (nothing is
/// written): a mixture-of-experts shape at q4k, as LLaDA2.0-mini's is measured.
#[test]
fn bench_makes_a_shapes_random_weights_at_a_quantized_precision() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.json");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    // The parity fixture's LLaDA2 layout, with the default model's vocabulary the bench feeds it.
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/tests/fixtures/parity/llada2/config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    config["vocab_size"] = json!(4096);
    config["mask_token_id"] = json!(4000);
    config["max_position_embeddings"] = json!(1024);
    let shapes = tempfile::tempdir().unwrap();
    let shape = shapes.path().join("llada2.json");
    std::fs::write(&shape, config.to_string()).unwrap();
    let shape = shape.to_str().unwrap();
    let run = std::process::Command::new(BIN)
        .current_dir(root)
        .env("TMPDIR", dir.path())
        .args(["bench", "--shape", shape, "--dtype", "q4k", "--tasks", "1", "--block", "8", "--context", "16", "--sizes", "8"])
        .args(["--files", "examples", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("making random weights of") && stderr.contains("M active a token) at q4k"), "{stderr}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(r["dtype"], "q4k", "{r}");
    assert!(r["active_parameters"].as_u64().unwrap() < r["parameters"].as_u64().unwrap(), "{r}");
    assert_eq!(r["arms"].as_array().unwrap().len(), 6);
    // Only the report was written: no checkpoint in the temporary folder.
    let written: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(written, [std::ffi::OsString::from("bench.json")], "{written:?}");

    // Several precisions: the same seed makes the same floats at each, so f32 against itself
    // agrees exactly and the quantized ones nearly.
    let run = std::process::Command::new(BIN)
        .current_dir(root)
        .env("TMPDIR", dir.path())
        .args(["bench", "--shape", shape, "--dtype", "f32,f32,q8_0", "--tasks", "1", "--block", "8", "--context", "16"])
        .args(["--files", "examples", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let rows = r["precisions"].as_array().unwrap_or_else(|| panic!("{r}"));
    assert_eq!(rows[1]["top1_agreement"], 1.0, "the same floats: {r}");
    assert!(rows[2]["top1_agreement"].as_f64().unwrap() > 0.5, "{r}");
}
