//! Planning after an edit in a 10,000-line file: the document's tree updated incrementally
//! (`SyntaxTree::edit` + `reparse`) and then `plan`, against a parse from scratch and `plan`.
//!
//! `cargo bench -p anneal-grammars --bench incremental`. The budget counts words (the server's
//! counts tokens, which costs the tokenizer's time on top, the same in both cases).

use std::hint::black_box;
use std::ops::Range;

use anneal_grammars::{plan, BlockBudget, Language, SyntaxTree, TextEdit};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

const LINES: usize = 10_000;

fn words(s: &str) -> usize {
    s.split_whitespace().count()
}

const BUDGET: BlockBudget<'static> = BlockBudget { max_len: 64, measure: &words };

/// A file of `LINES` lines made of one function repeated under new names, each calling the
/// one before it, as a long module does.
fn large_file(language: Language) -> String {
    let (unit, lines) = match language {
        Language::Rust => (
            "/// Sums the squares below `n`, then adds the previous function's result.\n\
             pub fn step_N(n: u64) -> u64 {\n    let mut total = 0;\n    for i in 0..n {\n        \
             total += i * i;\n    }\n    if total % 2 == 0 {\n        total / 2\n    } else {\n        \
             total + step_P(n / 2)\n    }\n}\n\n",
            13,
        ),
        Language::Python => (
            "def step_N(n):\n    \"\"\"Sums the squares below n, then the previous step.\"\"\"\n    \
             total = 0\n    for i in range(n):\n        total += i * i\n    if total % 2 == 0:\n        \
             return total // 2\n    return total + step_P(n // 2)\n\n\n",
            10,
        ),
        _ => unreachable!("benchmarked languages"),
    };
    (0..LINES / lines)
        .map(|i| unit.replace("step_N", &format!("step_{i}")).replace("step_P", &format!("step_{}", i.saturating_sub(1))))
        .collect()
}

/// Typing one character inside the middle function: the edit, and the selection to plan after
/// it (the statement being typed in).
fn keystroke(text: &str) -> (Range<usize>, &'static str, Range<usize>) {
    let middle = text.len() / 2;
    let at = middle + text[middle..].find("total = 0").expect("a statement") + "total = ".len();
    (at..at, "1", at..at + 1)
}

fn bench(c: &mut Criterion) {
    for language in [Language::Rust, Language::Python] {
        let text = large_file(language);
        assert!(text.lines().count() >= LINES - 13, "{language}: {} lines", text.lines().count());
        let tree = SyntaxTree::new(&text, Some(language));
        let (range, typed, selection) = keystroke(&text);
        let mut edited = text.clone();
        edited.replace_range(range.clone(), typed);
        let edit = TextEdit::replace(&text, range.clone(), typed);

        let mut group = c.benchmark_group(format!("plan after a keystroke, {LINES} lines of {language}"));
        group.bench_function("incremental reparse + plan", |b| {
            b.iter_batched(
                || tree.clone(),
                |mut tree| {
                    tree.edit(&edit);
                    tree.reparse(&edited);
                    black_box(tree.plan(&edited, selection.clone(), &BUDGET).unwrap())
                },
                BatchSize::SmallInput,
            )
        });
        group.bench_function("full parse + plan", |b| {
            b.iter(|| black_box(plan(&edited, selection.clone(), Some(language), &BUDGET).unwrap()))
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    // Two cores shared with other work: fewer, longer samples are steadier than the default.
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
