//! Property-based fuzzing of the planner (issue 9, in place of `cargo fuzz`): on arbitrary text
//! — code-like fragments, brackets left open, strings and comments cut anywhere, astral
//! characters, CRLF and lone CR — and any selection on character boundaries, in every language
//! and with none, `plan` never panics and its plan keeps the invariants the engine relies on;
//! `verify` and `syntax_errors` never panic either. CI runs proptest's default case count; a
//! long run is `PROPTEST_CASES=20000 cargo test -p anneal-grammars --test plan_properties`.

use anneal_grammars::{plan, syntax_errors, verify, BlockBudget, Language};
use proptest::prelude::*;

fn language() -> impl Strategy<Value = Option<Language>> {
    let mut choices: Vec<Option<Language>> = Language::ALL.iter().copied().map(Some).collect();
    choices.push(None);
    proptest::sample::select(choices)
}

/// Text made of code-like pieces, so that grammars build real trees (and broken ones).
fn code() -> impl Strategy<Value = String> {
    let piece = proptest::sample::select(vec![
        "fn ",
        "def ",
        "class ",
        "let x = ",
        "return ",
        "if ",
        "else",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        ":",
        ";",
        ",",
        "\"",
        "'",
        "\"\"\"",
        "/*",
        "*/",
        "//",
        "#",
        "\n",
        "\r\n",
        "\r",
        "\t",
        "    ",
        " ",
        "a",
        "b1",
        "é",
        "😀",
        "= 1",
        "import os",
        "use std::io;",
        "x.y()",
        "0x1F",
        "'\\''",
        "\\",
    ]);
    proptest::collection::vec(piece, 0..60).prop_map(|p| p.concat())
}

/// A selection on character boundaries of `text`, possibly empty, in order.
fn with_selection() -> impl Strategy<Value = (String, std::ops::Range<usize>)> {
    code()
        .prop_flat_map(|text| {
            let bounds: Vec<usize> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
            let n = bounds.len();
            (Just(text), Just(bounds), 0..n, 0..n)
        })
        .prop_map(|(text, bounds, a, b)| {
            let (a, b) = (bounds[a.min(b)], bounds[a.max(b)]);
            (text, a..b)
        })
}

proptest! {
    #[test]
    fn plans_keep_their_invariants_on_arbitrary_text(
        (text, selection) in with_selection(),
        language in language(),
        max_len in 1usize..40,
    ) {
        let measure = |s: &str| s.len().div_ceil(3);
        let budget = BlockBudget { max_len, measure: &measure };
        let plan = plan(&text, selection.clone(), language, &budget).expect("a valid selection always plans");
        prop_assert!(plan.span.start <= selection.start && selection.end <= plan.span.end, "span {:?} holds {:?}", plan.span, selection);
        prop_assert!(text.is_char_boundary(plan.span.start) && text.is_char_boundary(plan.span.end));
        // Blocks tile the span in document order.
        let mut at = plan.span.start;
        for block in &plan.blocks {
            prop_assert_eq!(block.range.start, at);
            prop_assert!(block.range.end > block.range.start);
            at = block.range.end;
        }
        prop_assert_eq!(at, plan.span.end);
        prop_assert_eq!(plan.blocks.is_empty(), plan.span.is_empty());
        let mut order = plan.order.clone();
        order.sort_unstable();
        prop_assert_eq!(order, (0..plan.blocks.len()).collect::<Vec<_>>(), "the order is a permutation");
        if let Some(language) = language {
            // Rewriting the span with its own text changes nothing, so adds no error.
            let verdict = verify(&text, plan.span.clone(), &text[plan.span.clone()], language);
            prop_assert_eq!(verdict.errors_after, verdict.errors_before);
            syntax_errors(&text, plan.span.clone(), language);
        }
    }

    #[test]
    fn bad_ranges_are_errors_not_panics(text in code(), a in 0usize..200, b in 0usize..200, language in language()) {
        let measure = |s: &str| s.len();
        let budget = BlockBudget { max_len: 8, measure: &measure };
        let ok = a <= b && b <= text.len() && text.is_char_boundary(a) && text.is_char_boundary(b);
        prop_assert_eq!(plan(&text, a..b, language, &budget).is_ok(), ok);
    }
}
