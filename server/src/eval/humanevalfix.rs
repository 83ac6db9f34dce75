//! HumanEvalFix (HumanEvalPack, Muennighoff et al. 2023): repair a planted bug, in six
//! languages. The model sees the function with its buggy body and the benchmark's repair
//! instruction ("Fix bugs in NAME."); the body is the selection. Tests are the benchmark's
//! own, laid out per language as its harness does.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{rows, Harness, Lang, Loaded, Sample, Task};

#[derive(serde::Deserialize)]
struct Row {
    task_id: String,
    declaration: String,
    canonical_solution: String,
    buggy_solution: String,
    test: String,
    entry_point: String,
    /// Go only: the package's imports the function needs.
    #[serde(default, rename = "import")]
    imports: String,
    /// Go only: `package main` and the test file's imports.
    #[serde(default)]
    test_setup: String,
}

pub const DEFAULT_DATA: &str = "../shared/data/eval/humanevalpack";

/// `console.assert` only prints; the tests use it for every check, so a failed one must end
/// the program with an error for the exit code to mean anything.
pub const JS_STRICT_ASSERT: &str =
    "console.assert = (ok, ...message) => { if (!ok) { throw new Error('Assertion failed: ' + message.join(' ')); } };\n";

pub fn file_for(dir: &Path, lang: Lang) -> PathBuf {
    dir.join(format!("humanevalpack_{}.jsonl", lang.name()))
}

pub fn load(dir: &Path, langs: &[Lang]) -> Result<Loaded> {
    let mut samples = vec![];
    for &lang in langs {
        let rows: Vec<Row> = rows::read_rows(&file_for(dir, lang), &format!("HumanEvalFix ({})", lang.name()))?;
        samples.extend(rows.into_iter().map(|row| sample(lang, row)));
    }
    Ok(Loaded { samples, unusable: vec![] })
}

fn sample(lang: Lang, row: Row) -> Sample {
    // What comes before the body: the declaration, and in Go the imports it needs.
    let head = match lang {
        Lang::Go => format!("{}\n{}", row.imports, row.declaration),
        _ => row.declaration.clone(),
    };
    let (prelude, epilogue) = match lang {
        Lang::Python => (String::new(), format!("\n{}\ncheck({})\n", row.test, row.entry_point)),
        Lang::Js => (JS_STRICT_ASSERT.to_string(), format!("\n{}\n", row.test)),
        Lang::Go => (row.test_setup.clone(), format!("\n{}\n", row.test)),
        Lang::Java | Lang::Cpp | Lang::Rust => (String::new(), format!("\n{}\n", row.test)),
    };
    let harness = Harness { prelude, epilogue, quote: None };
    // "Problem N" is shared by the six languages, so `--limit` picks the same problems in each.
    let number = row.task_id.rsplit('/').next().unwrap_or(&row.task_id).to_string();
    Sample {
        id: row.task_id.clone(),
        problem: format!("HumanEvalFix/{number}"),
        group: lang.name().into(),
        lang,
        source_before: format!("{head}{}", row.buggy_solution),
        task: Task::Rewrite {
            selection: head.len()..head.len() + row.buggy_solution.len(),
            instruction: format!("Fix bugs in {}.", row.entry_point),
        },
        reference: format!("{head}{}", row.canonical_solution),
        harness,
    }
}
