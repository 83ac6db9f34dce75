//! `anneal plan` end to end: the binary on a small Go file prints, as JSON, the widened span,
//! blocks that cover it within the token budget, and an order that puts a definition first.

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_anneal");

/// `helper` is used by `Run` above its definition, so its block must be decoded first.
const SOURCE: &str = "package main

// Run prints the helper's answer.
func Run() {
\tfmt.Println(helper(2))
}

func helper(n int) int {
\treturn n * 21
}
";

fn plan(file: &std::path::Path, range: &str, extra: &[&str]) -> std::process::Output {
    Command::new(BIN).arg("plan").arg(file).args(["--range", range]).args(extra).output().unwrap()
}

#[test]
fn json_plan_of_two_functions() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("main.go");
    std::fs::write(&file, SOURCE).unwrap();
    // From inside `Run`'s body to inside `helper`'s: both functions, whole.
    let out = plan(&file, "4:5-8:3", &["--json", "--block-tokens", "12"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(json["language"], "go");
    let doc_comment = SOURCE.find("// Run").unwrap();
    assert_eq!(json["span"]["start"], doc_comment, "the doc comment belongs to Run");
    assert_eq!(json["span"]["end"], SOURCE.len());
    assert_eq!(json["span"]["lines"], serde_json::json!([2, 9]));

    let blocks = json["blocks"].as_array().unwrap();
    assert!(blocks.len() >= 2, "{blocks:?}");
    let mut at = doc_comment;
    for block in blocks {
        assert_eq!(block["start"], at, "blocks are contiguous: {blocks:?}");
        at = block["end"].as_u64().unwrap() as usize;
    }
    assert_eq!(at, SOURCE.len());
    let block_of = |at: usize| {
        blocks.iter().position(|b| b["start"].as_u64().unwrap() as usize <= at && at < b["end"].as_u64().unwrap() as usize).unwrap()
    };
    let helper_block = block_of(SOURCE.find("func helper").unwrap());
    let run_block = block_of(SOURCE.find("helper(2)").unwrap());
    assert!(run_block < helper_block);

    let order: Vec<u64> = json["order"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(order.len(), blocks.len());
    let position = |block: usize| order.iter().position(|&b| b as usize == block).unwrap();
    assert!(position(helper_block) < position(run_block), "order {order:?}");
    let edges = json["edges"].as_array().unwrap();
    assert!(
        edges.iter().any(|e| e["before"] == helper_block && e["after"] == run_block && e["reason"].as_str().unwrap().contains("`helper`")),
        "{edges:?}"
    );
}

#[test]
fn text_plan_and_a_file_without_grammar() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.cfg");
    std::fs::write(&file, "[server]\n  port = 80\n  host = here\n[client]\n  retries = 3\n").unwrap();
    let out = plan(&file, "1:0-1:0", &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("no grammar"), "{stdout}");
    assert!(stdout.contains("span: lines 1–1"), "{stdout}");
    assert!(stdout.contains("order: 0"), "{stdout}");
    let out = plan(&file, "1:0", &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("LINE:COL-LINE:COL"));
}
