//! `anneal eval` end to end on the fixtures in server/tests/fixtures/eval: every benchmark runs on
//! the default model and writes the JSONL and summary it promises; the benchmarks' reference
//! solutions pass and the unchanged text fails (the harness measures what it claims); a rerun
//! resumes; bad input gets a clear error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_anneal");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eval").join(name)
}

/// The benchmarks, each with its fixture and the options that keep it to fast toolchains.
fn benches() -> Vec<(&'static str, PathBuf, Vec<&'static str>)> {
    vec![
        ("canitedit", fixture("canitedit.jsonl"), vec![]),
        ("humanevalfix", fixture("humanevalpack"), vec!["--lang", humanevalfix_langs()]),
        ("editeval", fixture("editeval.jsonl"), vec![]),
        ("humaneval-fill", fixture("humaneval.jsonl"), vec![]),
        ("mbpp-fill", fixture("mbpp.jsonl"), vec![]),
    ]
}

/// Python and JavaScript, or Python alone (said on stderr) where there is no node.
fn humanevalfix_langs() -> &'static str {
    if Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success()) {
        "python,js"
    } else {
        eprintln!("skipped: HumanEvalFix's JavaScript samples (no node)");
        "python"
    }
}

fn eval(bench: &str, data: &Path, out: &Path, extra: &[&str]) -> Output {
    let output = Command::new(BIN)
        .args(["eval", bench, "--data"])
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(["--limit", "2"])
        .args(extra)
        .output()
        .unwrap();
    assert!(output.status.success(), "{bench}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn mean_pass(records: &[Value]) -> f64 {
    let passed = records.iter().filter(|r| r["candidates"][0]["verdict"] == "passed").count();
    passed as f64 / records.len() as f64
}

#[test]
fn every_benchmark_runs_on_the_default_model_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    for (bench, data, extra) in benches() {
        let out = dir.path().join(format!("{bench}.jsonl"));
        let run = eval(bench, &data, &out, &extra);
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            stdout.contains("| group | samples | pass@1 | parse-valid | exact match | tokens/s | forward passes / sample |"),
            "{bench}: {stdout}"
        );
        assert!(stdout.contains("network"), "{bench}: {stdout}");
        let records = lines(&out);
        // Two problems: CanItEdit has two instructions each, HumanEvalFix one or two languages.
        let expected = match bench {
            "canitedit" => 4,
            "humanevalfix" => 2 * humanevalfix_langs().split(',').count(),
            _ => 2,
        };
        assert_eq!(records.len(), expected, "{bench}: {records:?}");
        for r in &records {
            assert_eq!(r["bench"], bench);
            assert_eq!(r["model"], "default");
            let c = &r["candidates"][0];
            assert!(["passed", "failed", "compile_error", "timeout"].contains(&c["verdict"].as_str().unwrap()), "{c}");
            assert!(c["forward_passes"].as_u64().unwrap() > 0, "{bench}: the model ran: {c}");
            assert!(c["text"].as_str().is_some_and(|t| !t.is_empty()));
            assert!(c["exact_match"].is_boolean());
        }
        let summary = std::fs::read_to_string(out.with_extension("summary.md")).unwrap();
        assert!(summary.contains(&format!("| {} |", records[0]["group"].as_str().unwrap())), "{summary}");

        // The same command again finds every sample done and appends nothing.
        let again = eval(bench, &data, &out, &extra);
        assert!(String::from_utf8_lossy(&again.stderr).contains(&format!("resuming: {expected} of {expected} samples")));
        assert_eq!(lines(&out).len(), expected);
    }
}

#[test]
fn reference_solutions_pass_and_the_text_before_fails() {
    let dir = tempfile::tempdir().unwrap();
    for (bench, data, extra) in benches() {
        let reference = dir.path().join(format!("{bench}-reference.jsonl"));
        let run = eval(bench, &data, &reference, &[extra.as_slice(), &["--candidates", "reference"]].concat());
        let records = lines(&reference);
        assert_eq!(mean_pass(&records), 1.0, "{bench}: {records:?}");
        assert!(records.iter().all(|r| r["candidates"][0]["exact_match"] == true));
        assert!(String::from_utf8_lossy(&run.stdout).contains("| 100.0% |"));
        let before = dir.path().join(format!("{bench}-before.jsonl"));
        eval(bench, &data, &before, &[extra.as_slice(), &["--candidates", "before"]].concat());
        assert_eq!(mean_pass(&lines(&before)), 0.0, "{bench}: the unchanged text must fail its tests");
    }
}

#[test]
fn missing_files_malformed_rows_and_foreign_results_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let run =
        |data: &Path, out: &Path| Command::new(BIN).args(["eval", "canitedit", "--data"]).arg(data).arg("--out").arg(out).output().unwrap();
    let out = dir.path().join("r.jsonl");
    let missing = run(&dir.path().join("nope.jsonl"), &out);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read the CanItEdit file"));
    let bad = dir.path().join("bad.jsonl");
    let first = std::fs::read_to_string(fixture("canitedit.jsonl")).unwrap().lines().next().unwrap().to_string();
    std::fs::write(&bad, format!("{first}\n{{\"full_name\": 3}}\n")).unwrap();
    let malformed = run(&bad, &out);
    assert!(
        String::from_utf8_lossy(&malformed.stderr).contains("bad.jsonl:2: not a CanItEdit row"),
        "{}",
        String::from_utf8_lossy(&malformed.stderr)
    );
    // A results file of another benchmark is not resumed into.
    eval("editeval", &fixture("editeval.jsonl"), &out, &["--candidates", "reference"]);
    let foreign = run(&fixture("canitedit.jsonl"), &out);
    assert!(String::from_utf8_lossy(&foreign.stderr).contains("holds results of another run"));
}

/// `anneal eval repair` on a small held-out corpus made here from the repo's own examples:
/// it corrupts, repairs and reports every snippet, and refuses bad engine settings by name.
#[test]
fn repair_reports_every_snippet_and_refuses_bad_settings() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("valid.jsonl");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files = vec![];
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        let lang = match path.extension().and_then(|e| e.to_str()) {
            Some("py") => "python",
            Some("rs") => "rust",
            _ => continue,
        };
        let text = std::fs::read_to_string(&path).unwrap();
        files.push(serde_json::json!({"lang": lang, "text": text}).to_string());
    }
    assert!(!files.is_empty(), "examples/ has Python or Rust files");
    std::fs::write(&corpus, files.join("\n")).unwrap();
    let out = dir.path().join("repair.jsonl");
    let run = Command::new(BIN)
        .args(["eval", "repair", "--limit", "4", "--corpus"])
        .arg(&corpus)
        .arg("--out")
        .arg(&out)
        .args(["--settings", r#"{"edit":{"keepThreshold":0.2}}"#])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("| exact match |"), "{stdout}");
    let rows = lines(&out);
    assert_eq!(rows.len(), 4);
    for r in &rows {
        assert_ne!(r["corrupted"], r["target"], "every snippet is corrupted: {r}");
        assert!(r["forward_passes"].as_u64().unwrap() >= 1);
    }
    let bad = Command::new(BIN)
        .args(["eval", "repair", "--corpus"])
        .arg(&corpus)
        .args(["--settings", r#"{"edit":{"keepThreshold":"high"}}"#])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("--settings"), "{stderr}");
}

/// `anneal eval syntax-repair` end to end on the HumanEvalPack fixtures: the arms run on the
/// same broken files, every file gets a row per arm, the summary has its tables, and the
/// weights can be quantized (`--dtype`), a bad dtype refused by name.
#[test]
fn syntax_repair_runs_its_arms_on_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    let (out, summary) = (dir.path().join("rows.jsonl"), dir.path().join("summary.md"));
    let run = Command::new(BIN)
        .args(["eval", "syntax-repair", "--data"])
        .arg(fixture("humanevalpack"))
        .args(["--languages", "python,rust", "--arms", "parser,model", "--large", "0", "--dtype", "q8_0", "--extra"])
        .arg(dir.path().join("none"))
        .arg("--out")
        .arg(&out)
        .arg("--summary")
        .arg(&summary)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    let rows = lines(&out);
    let count = |arm: &str| rows.iter().filter(|r| r["arm"] == arm).count();
    assert!(count("parser") >= 2 && count("parser") == count("model"), "{rows:?}");
    for r in &rows {
        assert!(r["fixed"].is_boolean() && r["exact"].is_boolean() && r["worse"].is_boolean(), "{r}");
    }
    assert!(rows.iter().filter(|r| r["arm"] == "model").all(|r| r["forward_passes"].as_u64().is_some()));
    let written = std::fs::read_to_string(&summary).unwrap();
    assert!(written.contains("| python | model |") && written.contains("| rust | parser |"), "{written}");
    assert!(written.contains("McNemar"), "{written}");
    let bad = Command::new(BIN).args(["eval", "syntax-repair", "--dtype", "fp8"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && stderr.contains("unknown dtype `fp8`"), "{stderr}");
}
