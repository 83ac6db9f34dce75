//! Unit tests of `plan` that need the crate's internals (the parse, the atomic kinds).

use super::*;

fn words(s: &str) -> usize {
    s.split_whitespace().count()
}

fn budget(max_len: usize) -> BlockBudget<'static> {
    BlockBudget { max_len, measure: &words }
}

#[test]
// A reversed range is what this test feeds in.
#[allow(clippy::reversed_empty_ranges)]
fn plan_errors() {
    let text = "fn é() {}\n";
    let b = budget(40);
    assert_eq!(plan(text, 5..2, None, &b), Err(PlanError::Reversed { start: 5, end: 2 }));
    assert_eq!(plan(text, 0..99, None, &b), Err(PlanError::OutOfBounds { end: 99, len: 11 }));
    assert_eq!(plan(text, 4..5, Some(Language::Rust), &b), Err(PlanError::NotCharBoundary { offset: 4 }));
    assert_eq!(plan(text, 99..99, None, &b), Err(PlanError::OutOfBounds { end: 99, len: 11 }));
    assert_eq!(PlanError::NotCharBoundary { offset: 4 }.to_string(), "byte offset 4 is not on a UTF-8 character boundary");
    assert!(plan(text, 3..5, None, &b).is_ok());
    assert!(plan(text, 11..11, None, &b).is_ok());
}

/// Leaves, strings and comments of `text`, which no block boundary may fall inside.
fn unbreakable(text: &str, language: Language) -> Vec<Range<usize>> {
    let tree = language.parse(text).unwrap();
    let mut out = Vec::new();
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        if node.child_count() == 0 || language.queries().unwrap().is_atomic(node) {
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
            assert!(plan.blocks.len() >= 3, "{language} {max_len}: {:?}", plan.blocks);
            for block in &plan.blocks[1..] {
                let cut = block.range.start;
                let inside = unbreakable.iter().find(|r| r.start < cut && cut < r.end);
                assert!(inside.is_none(), "{language} {max_len}: cut at {cut} inside {inside:?}");
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
    assert_eq!(blocks, ["one two\n", "three four five\n", "\nsix\n", "seven eight nine ten"]);
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
    let text = format!("fn f() -> u32 {{\n    let x = 1{};\n    x\n}}\n", " + 1".repeat(10_000));
    let at = text.find("let").unwrap();
    let plan = plan(&text, at + 30..at + 30, Some(Language::Rust), &budget(40)).unwrap();
    assert_eq!(&text[plan.span.clone()], &text[at - 4..text.find("\n    x").unwrap() + 1]);
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
        assert_eq!(plan, Plan { span: 0..0, blocks: vec![], order: vec![], edges: vec![] });
    }
}

/// tree-sitter-ruby 0.23.1's scanner truncates a heredoc word of 256 bytes or more when it
/// saves its state and asserts on reading it back (upstream issue #269): with that assert live,
/// parsing this file aborted the whole process. `.cargo/config.toml` builds C with NDEBUG.
#[test]
fn a_long_unterminated_heredoc_word_does_not_abort_the_ruby_parser() {
    let line = "  if the string inside is too short it doesn't crash\n  but I haven't found exactly how many chars is the problem\n\n";
    let text = format!("<<~\"BASH\n{line}{line}  it needs this line\nBASH\n");
    let mut tree = SyntaxTree::new(&text, Some(Language::Ruby));
    assert!(tree.tree_for(&text).is_some());
    // And incrementally, as the repair search and every keystroke reparse.
    let at = text.find("needs").expect("the word");
    let edited = text.replace("needs", "needs still");
    tree.edit(&TextEdit::replace(&text, at..at + 5, "needs still"));
    tree.reparse(&edited);
    assert!(tree.tree_for(&edited).is_some());
}
