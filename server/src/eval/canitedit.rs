//! CanItEdit (Cassano et al. 2024): instructed edits of whole Python files with hidden tests.
//! Every problem has a descriptive and a lazy instruction; each is one sample, reported as its
//! own group. The model may change the whole file, as the benchmark intends.

use std::path::Path;

use anyhow::Result;

use super::{rows, Harness, Lang, Loaded, Sample, Task};

#[derive(serde::Deserialize)]
struct Row {
    full_name: String,
    before: String,
    after: String,
    tests: String,
    instruction_descriptive: String,
    instruction_lazy: String,
}

pub const DEFAULT_DATA: &str = "../shared/data/eval/canitedit/CanItEdit.jsonl";

pub fn load(path: &Path) -> Result<Loaded> {
    let rows: Vec<Row> = rows::read_rows(path, "CanItEdit")?;
    let mut samples = vec![];
    for row in rows {
        for (kind, instruction) in [("descriptive", &row.instruction_descriptive), ("lazy", &row.instruction_lazy)] {
            samples.push(Sample {
                id: format!("{}/{kind}", row.full_name),
                problem: row.full_name.clone(),
                group: kind.to_string(),
                lang: Lang::Python,
                source_before: row.before.clone(),
                task: Task::Rewrite { selection: 0..row.before.len(), instruction: instruction.clone() },
                reference: row.after.clone(),
                // The benchmark's own rule: the candidate, a blank line, then the tests.
                harness: Harness { prelude: String::new(), epilogue: format!("\n\n{}", row.tests), quote: None },
            });
        }
    }
    Ok(Loaded { samples, unusable: vec![] })
}
