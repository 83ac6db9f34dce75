//! HumanEval in fill form: the prompt (imports, signature, docstring) is given and the body is
//! the hole. The tests define `check(candidate)`, called on the entry point.

use std::path::Path;

use anyhow::Result;

use super::{rows, Harness, Lang, Loaded, Sample, Task};

#[derive(serde::Deserialize)]
struct Row {
    task_id: String,
    prompt: String,
    canonical_solution: String,
    test: String,
    entry_point: String,
}

pub const DEFAULT_DATA: &str = "../shared/data/eval/humaneval/HumanEval.jsonl.gz";

pub fn load(path: &Path) -> Result<Loaded> {
    let rows: Vec<Row> = rows::read_rows(path, "HumanEval")?;
    let samples = rows
        .into_iter()
        .map(|row| Sample {
            id: row.task_id.clone(),
            problem: row.task_id,
            group: "python".into(),
            lang: Lang::Python,
            task: Task::Fill { at: row.prompt.len(), reference: row.canonical_solution.clone() },
            reference: format!("{}{}", row.prompt, row.canonical_solution),
            source_before: row.prompt,
            harness: Harness { prelude: String::new(), epilogue: format!("\n\n{}\n\ncheck({})\n", row.test, row.entry_point), quote: None },
        })
        .collect();
    Ok(Loaded { samples, unusable: vec![] })
}
