//! EditEval (InstructCoder): instructed edits of a Python snippet, sometimes inside a context
//! that marks the snippet's place with `{{Code}}`. The snippet is the selection; the tests
//! define `check()`, which the harness calls. A third of the contexts mark a second place,
//! inside a string the tests read (`edited_code`); it stays marked in the text the model sees
//! and is filled with the candidate's snippet when the test program is made.

use std::path::Path;

use anyhow::Result;

use super::{rows, Harness, Lang, Loaded, Quote, Sample, Task};

#[derive(serde::Deserialize)]
struct Row {
    task_id: String,
    instruction: String,
    #[serde(default)]
    context: Option<String>,
    input: String,
    output: String,
    test: String,
}

pub const DEFAULT_DATA: &str = "../shared/data/eval/editeval/edit_eval.jsonl";
const PLACEHOLDER: &str = "{{Code}}";

pub fn load(path: &Path) -> Result<Loaded> {
    let rows: Vec<Row> = rows::read_rows(path, "EditEval")?;
    let mut loaded = Loaded::default();
    for row in rows {
        let context = row.context.as_deref().unwrap_or("");
        let (head, tail) = if context.trim().is_empty() {
            ("", "")
        } else if let Some((head, tail)) = context.split_once(PLACEHOLDER) {
            (head, tail)
        } else {
            loaded.unusable.push(format!("{}: a context without {PLACEHOLDER}", row.task_id));
            continue;
        };
        let source_before = format!("{head}{}{tail}", row.input);
        loaded.samples.push(Sample {
            id: row.task_id.clone(),
            problem: row.task_id,
            group: "python".into(),
            lang: Lang::Python,
            task: Task::Rewrite { selection: head.len()..head.len() + row.input.len(), instruction: row.instruction },
            reference: format!("{head}{}{tail}", row.output),
            source_before,
            harness: Harness {
                prelude: String::new(),
                epilogue: format!("\n\n{}\n\ncheck()\n", row.test),
                quote: tail.contains(PLACEHOLDER).then(|| Quote { placeholder: PLACEHOLDER.into(), head: head.into(), tail: tail.into() }),
            },
        });
    }
    Ok(loaded)
}
