//! Anneal's grammars: which code a rewrite replaces, and in which pieces and order.
//!
//! This crate knows tree-sitter, languages and text. It knows nothing of models, tokens or
//! LSP: a token budget arrives as a caller's `measure` function, and every position, in and out,
//! is a UTF-8 byte offset into the document text.
//!
//! - [`plan`] widens a selection to whole syntax nodes and lines ([`Plan::span`]), cuts it into
//!   blocks within a budget ([`Plan::blocks`]) and orders them so that definitions are decoded
//!   before their uses ([`Plan::order`]).
//! - [`verify`] tells whether a replacement adds syntax errors where it lands.

mod blocks;
mod language;
mod order;
mod span;
mod verify;

use std::ops::Range;

pub use language::Language;
pub use span::check_range;
pub use verify::{syntax_errors, verify, Verdict};

/// A contiguous piece of a span, decoded as a unit.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Block {
    pub range: Range<usize>,
    /// The tree-sitter node kinds it holds, comma-separated in document order, or `lines` when
    /// the text was cut by lines. Pieces of a node cut in parts (a function's header and closing
    /// brace) carry that node's kind.
    pub kind: String,
}

/// Block `before` must be decoded before block `after`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OrderEdge {
    pub before: usize,
    pub after: usize,
    /// Why, e.g. "defines `foo` used by block 2".
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    /// The selection widened to whole lines of whole syntax nodes; what the rewrite replaces.
    pub span: Range<usize>,
    /// Contiguous, in document order, covering exactly `span`; empty only when `span` is.
    pub blocks: Vec<Block>,
    /// Decode order: a permutation of `0..blocks.len()`.
    pub order: Vec<usize>,
    /// The dependencies that shaped `order`. In a cycle some edge is necessarily broken.
    pub edges: Vec<OrderEdge>,
}

/// How large a block may be, in the caller's unit (tokens, say).
pub struct BlockBudget<'a> {
    pub max_len: usize,
    pub measure: &'a dyn Fn(&str) -> usize,
}

/// A range that cannot slice the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("range {start}..{end} is reversed: its start is after its end")]
    Reversed { start: usize, end: usize },
    #[error("range ends at byte {end}, past the end of the text ({len} bytes)")]
    OutOfBounds { end: usize, len: usize },
    #[error("byte offset {offset} is not on a UTF-8 character boundary")]
    NotCharBoundary { offset: usize },
}

/// Plans a rewrite of `selection` (byte offsets into `text`).
///
/// - The span is the smallest run of whole block-level nodes (items, statements, match arms,
///   fields, comments) holding the selection, widened to whole lines, and grown until it cuts
///   no node. A cursor means the statement it touches; on a blank line, that line. The span
///   always holds the selection's own lines.
/// - Blocks split a node that exceeds the budget at its children's boundaries, preferring line
///   breaks, and pack neighbours greedily while they fit. What cannot be split (a string, a
///   comment, a line whose overflow is one such node) stays one block, over the budget.
/// - The order puts a block that defines a name before the blocks that use it, else keeps
///   document order.
///
/// With no language, or when the grammar recognises nothing, the span is the selection's whole
/// lines and blocks are runs of lines.
pub fn plan(
    text: &str,
    selection: Range<usize>,
    language: Option<Language>,
    budget: &BlockBudget,
) -> Result<Plan, PlanError> {
    check_range(text, &selection)?;
    let tree = language.and_then(|l| l.parse(text).map(|tree| (l, tree)));
    // A root that is one ERROR node means the grammar recognised nothing: lines serve better.
    let tree = tree.filter(|(_, tree)| !tree.root_node().is_error());
    let syntax = tree.as_ref().map(|(l, tree)| (l.grammar(), tree));
    let span = span::widen(text, &selection, syntax);
    let blocks = blocks::blocks(text, &span, syntax, budget);
    let (order, edges) = order::order(text, &span, &blocks, tree.as_ref().map(|(l, t)| (*l, t)));
    Ok(Plan {
        span,
        blocks,
        order,
        edges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn words(s: &str) -> usize {
        s.split_whitespace().count()
    }

    fn budget(max_len: usize) -> BlockBudget<'static> {
        BlockBudget {
            max_len,
            measure: &words,
        }
    }

    #[test]
    fn language_detection() {
        assert_eq!(Language::from_language_id("rust"), Some(Language::Rust));
        assert_eq!(Language::from_language_id("python"), Some(Language::Python));
        assert_eq!(Language::from_language_id("Rust"), None);
        assert_eq!(Language::from_language_id("typescript"), None);
        assert_eq!(
            Language::from_path(Path::new("src/main.rs")),
            Some(Language::Rust)
        );
        assert_eq!(
            Language::from_path(Path::new("a/b.py")),
            Some(Language::Python)
        );
        assert_eq!(
            Language::from_path(Path::new("stubs.pyi")),
            Some(Language::Python)
        );
        assert_eq!(
            Language::from_path(Path::new("LOUD.PY")),
            Some(Language::Python)
        );
        assert_eq!(Language::from_path(Path::new("Makefile")), None);
        assert_eq!(Language::from_path(Path::new("rs")), None);
        assert_eq!(Language::from_path(Path::new("x.rs.bak")), None);
        for language in Language::ALL {
            assert_eq!(Language::from_language_id(language.name()), Some(language));
            assert_eq!(language.to_string(), language.name());
        }
    }

    #[test]
    fn plan_errors() {
        let text = "fn é() {}\n";
        let b = budget(40);
        assert_eq!(
            plan(text, 5..2, None, &b),
            Err(PlanError::Reversed { start: 5, end: 2 })
        );
        assert_eq!(
            plan(text, 0..99, None, &b),
            Err(PlanError::OutOfBounds { end: 99, len: 11 })
        );
        assert_eq!(
            plan(text, 4..5, Some(Language::Rust), &b),
            Err(PlanError::NotCharBoundary { offset: 4 })
        );
        assert_eq!(
            plan(text, 99..99, None, &b),
            Err(PlanError::OutOfBounds { end: 99, len: 11 })
        );
        assert_eq!(
            PlanError::NotCharBoundary { offset: 4 }.to_string(),
            "byte offset 4 is not on a UTF-8 character boundary"
        );
        assert!(plan(text, 3..5, None, &b).is_ok());
        assert!(plan(text, 11..11, None, &b).is_ok());
    }

    /// Leaves, strings and comments of `text`, which no block boundary may fall inside.
    fn unbreakable(text: &str, language: Language) -> Vec<Range<usize>> {
        let tree = language.parse(text).unwrap();
        let mut out = Vec::new();
        let mut stack = vec![tree.root_node()];
        while let Some(node) = stack.pop() {
            if node.child_count() == 0 || language.grammar().is_atomic(node.kind()) {
                out.push(node.byte_range());
            } else {
                stack.extend(node.children(&mut node.walk()));
            }
        }
        out
    }

    #[test]
    fn tiny_budgets_never_cut_a_token_string_or_comment() {
        let cases = [
            (Language::Rust, "fn f(x: u8) -> u8 {\n    let s = \"a b c d\"; // e f g\n    g(s, \"h i\", x) /* j\n k */ + 1\n}\n"),
            (Language::Python, "def f(x):\n    s = '''a b\n c d'''  # e f g\n    return g(s, 'h i', x) + 1\n"),
        ];
        for (language, text) in cases {
            let unbreakable = unbreakable(text, language);
            for max_len in [0, 1, 2, 3, 5] {
                let plan = plan(text, 0..text.len(), Some(language), &budget(max_len)).unwrap();
                // At least a block per line; a line holding something larger than the budget
                // stays whole (see blocks::line_pieces).
                assert!(
                    plan.blocks.len() >= 3,
                    "{language} {max_len}: {:?}",
                    plan.blocks
                );
                for block in &plan.blocks[1..] {
                    let cut = block.range.start;
                    let inside = unbreakable.iter().find(|r| r.start < cut && cut < r.end);
                    assert!(
                        inside.is_none(),
                        "{language} {max_len}: cut at {cut} inside {inside:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn without_a_language_blocks_are_lines() {
        let text = "one two\nthree four five\n\nsix\nseven eight nine ten";
        let plan = plan(text, 4..4, None, &budget(3)).unwrap();
        assert_eq!(plan.span, 0..8);
        let plan = super::plan(text, 0..text.len(), None, &budget(3)).unwrap();
        let blocks: Vec<&str> = plan.blocks.iter().map(|b| &text[b.range.clone()]).collect();
        assert_eq!(
            blocks,
            [
                "one two\n",
                "three four five\n\n",
                "six\n",
                "seven eight nine ten"
            ]
        );
        assert!(plan.blocks.iter().all(|b| b.kind == "lines"));
        assert_eq!(plan.order, [0, 1, 2, 3]);
    }

    #[test]
    fn whole_file_selection_keeps_blank_edges() {
        let text = "\n\n# lead\nx = 1\n\n\n";
        let plan = plan(text, 0..text.len(), Some(Language::Python), &budget(40)).unwrap();
        assert_eq!(plan.span, 0..text.len());
        assert_eq!(plan.blocks.len(), 1);
    }

    #[test]
    fn deep_nesting_is_handled() {
        // A left-deep chain 10,000 nodes deep: recursion would overflow the stack and
        // walking parents would be quadratic.
        let text = format!(
            "fn f() -> u32 {{\n    let x = 1{};\n    x\n}}\n",
            " + 1".repeat(10_000)
        );
        let at = text.find("let").unwrap();
        let plan = plan(&text, at + 30..at + 30, Some(Language::Rust), &budget(40)).unwrap();
        assert_eq!(
            &text[plan.span.clone()],
            &text[at - 4..text.find("\n    x").unwrap() + 1]
        );
        // The chain is cut no deeper than blocks::MAX_SPLIT_DEPTH, so its line stays whole.
        assert_eq!(plan.blocks.len(), 1);
        let whole = super::plan(&text, 0..text.len(), Some(Language::Rust), &budget(40)).unwrap();
        assert_eq!(whole.span, 0..text.len());
        assert_eq!(syntax_errors(&text, 0..text.len(), Language::Rust), 0);
        let broken = text.replacen("+ 1", "+", 1);
        assert!(syntax_errors(&broken, 0..text.len(), Language::Rust) > 0);
    }

    #[test]
    fn empty_text_plans_nothing() {
        for language in [None, Some(Language::Rust), Some(Language::Python)] {
            let plan = plan("", 0..0, language, &budget(40)).unwrap();
            assert_eq!(
                plan,
                Plan {
                    span: 0..0,
                    blocks: vec![],
                    order: vec![],
                    edges: vec![]
                }
            );
        }
    }
}
