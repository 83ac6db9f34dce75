//! Syntax verification: does a replacement add parse errors where it lands?

use std::ops::Range;

use tree_sitter::{Node, Tree};

use crate::{Language, SyntaxTree};

/// Zero-width nodes (a MISSING `;`) and an empty range count when they touch.
fn touches(node: Node, range: &Range<usize>) -> bool {
    let (s, e) = (node.start_byte(), node.end_byte());
    if s == e || range.is_empty() {
        s <= range.end && range.start <= e
    } else {
        s < range.end && range.start < e
    }
}

/// ERROR and MISSING nodes of `tree` (the parse of `text`) that touch any of `ranges`, each
/// clamped to the text; none without a tree.
pub(crate) fn count(tree: Option<&Tree>, text: &str, ranges: &[Range<usize>]) -> usize {
    let ranges: Vec<Range<usize>> = ranges
        .iter()
        .map(|r| {
            let end = r.end.min(text.len());
            r.start.min(end)..end
        })
        .collect();
    let Some(tree) = tree else { return 0 };
    // Iterative, because a long operator chain nests thousands deep.
    let mut stack = vec![tree.root_node()];
    let mut errors = 0;
    while let Some(node) = stack.pop() {
        // `has_error` covers the subtree, so clean subtrees (most of a file) are skipped whole.
        if !node.has_error() || !ranges.iter().any(|r| touches(node, r)) {
            continue;
        }
        errors += usize::from(node.is_error() || node.is_missing());
        let mut cursor = node.walk();
        stack.extend(node.children(&mut cursor));
    }
    errors
}

/// A syntax error as an editor shows it: text the grammar could not place (an ERROR node), or
/// a token the parser had to assume (a MISSING node, zero-width, named by its kind).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub range: Range<usize>,
    /// The kind of the missing token (`;`, `)`, `identifier`); `None` for unplaceable text.
    pub missing: Option<String>,
    /// The narrowest place to show it: the first token the grammar could not place, or where the
    /// missing token belongs.
    pub token: Range<usize>,
}

/// The errors of `tree` in document order, at most `limit`: each outermost ERROR node once
/// (its inner errors are the same mistake), and every MISSING node.
pub(crate) fn errors(tree: &Tree, limit: usize) -> Vec<SyntaxError> {
    let mut out = vec![];
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        if out.len() >= limit || !(node.has_error() || node.is_missing()) {
            continue;
        }
        if node.is_missing() {
            let at = node.start_byte()..node.start_byte();
            out.push(SyntaxError { range: at.clone(), missing: Some(node.kind().to_string()), token: at });
        } else if node.is_error() {
            let mut first = node;
            while let Some(child) = first.child(0) {
                first = child;
            }
            let token = if first.end_byte() > first.start_byte() { first.byte_range() } else { node.byte_range() };
            out.push(SyntaxError { range: node.byte_range(), missing: None, token });
        } else {
            let mut cursor = node.walk();
            let children: Vec<_> = node.children(&mut cursor).collect();
            stack.extend(children.into_iter().rev());
        }
    }
    out.sort_by_key(|e| e.range.start);
    out
}

/// The trees around a replacement of `span` of the old text by `new_len` bytes.
pub(crate) struct Reparse<'a> {
    pub old: Option<&'a Tree>,
    /// The old tree with the edit applied, as the new one was parsed from.
    pub edited: Option<&'a Tree>,
    pub new: Option<&'a Tree>,
    pub span: Range<usize>,
    pub new_len: usize,
}

impl Reparse<'_> {
    /// Errors where the replacement landed and wherever the parse changed because of it: an
    /// unclosed bracket can leave its own lines clean and turn the code after them into errors.
    /// Each changed range counts in the old text too (mapped back across the edit), so that
    /// errors that were there before are no news.
    pub fn verdict(&self, old_text: &str, new_text: &str) -> Verdict {
        let span = &self.span;
        let landed = span.start..span.start + self.new_len;
        let changed: Vec<Range<usize>> = match (self.edited, self.new) {
            (Some(edited), Some(new)) => edited.changed_ranges(new).map(|r| r.start_byte..r.end_byte).collect(),
            _ => Vec::new(),
        };
        let to_old = |at: usize, inside: usize| {
            if at <= landed.start {
                at
            } else if at >= landed.end {
                at - landed.end + span.end
            } else {
                inside
            }
        };
        let mut before = vec![span.clone()];
        before.extend(changed.iter().map(|r| to_old(r.start, span.start)..to_old(r.end, span.end)));
        let mut after = vec![landed.clone()];
        after.extend(changed);
        let errors_before = count(self.old, old_text, &before);
        // A text that could not be parsed within the budget (see `parse_within_budget`) is not
        // known to be sound: it counts as adding an error, so the engine does not accept it.
        let errors_after = match (self.old, self.new) {
            (Some(_), None) => errors_before + 1,
            _ => count(self.new, new_text, &after),
        };
        Verdict { errors_before, errors_after }
    }
}

/// ERROR and MISSING nodes of the whole text's parse that touch `range`. The whole text is
/// parsed because a fragment alone parses differently (a statement is not an item).
/// An invalid `range` is clamped to the text, and a text that cannot be parsed has no errors.
pub fn syntax_errors(text: &str, range: Range<usize>, language: Language) -> usize {
    SyntaxTree::new(text, Some(language)).syntax_errors(text, range)
}

/// Syntax errors in a span before and after a replacement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    pub errors_before: usize,
    pub errors_after: usize,
}

impl Verdict {
    /// A rewrite is acceptable when it leaves the span no more broken than it was; a repair of a
    /// file that has errors elsewhere is judged only where it lands.
    pub fn adds_errors(&self) -> bool {
        self.errors_after > self.errors_before
    }
}

/// Replaces `span` of `text` with `replacement`, reparses, and compares the errors where the
/// replacement landed and wherever the parse changed, before and after. [`SyntaxTree::verify`] does the same from a tree a caller
/// keeps.
///
/// # Panics
/// When `span` cannot slice `text` (as slicing would); spans from [`crate::plan`] always can.
pub fn verify(text: &str, span: Range<usize>, replacement: &str, language: Language) -> Verdict {
    SyntaxTree::new(text, Some(language)).verify(text, span, replacement).expect("a tree with a language verifies")
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUST: &str = "fn main() {\n    let x = add(1, 2);\n    println!(\"{x}\");\n}\n";

    fn line_2() -> Range<usize> {
        let start = RUST.find("    let").unwrap();
        start..start + "    let x = add(1, 2);\n".len()
    }

    #[test]
    fn good_replacement_adds_no_errors() {
        let verdict = verify(RUST, line_2(), "    let x = add(3, 4) * 2;\n", Language::Rust);
        assert_eq!(verdict, Verdict { errors_before: 0, errors_after: 0 });
        assert!(!verdict.adds_errors());
    }

    #[test]
    fn deleting_a_paren_adds_errors() {
        let verdict = verify(RUST, line_2(), "    let x = add(1, 2;\n", Language::Rust);
        assert!(verdict.adds_errors(), "{verdict:?}");
    }

    #[test]
    fn repair_removes_errors() {
        let broken = RUST.replace("add(1, 2);", "add(1, 2;");
        let start = broken.find("    let").unwrap();
        let span = start..start + "    let x = add(1, 2;\n".len();
        let verdict = verify(&broken, span, "    let x = add(1, 2);\n", Language::Rust);
        assert!(verdict.errors_before > 0 && verdict.errors_after == 0, "{verdict:?}");
        assert!(!verdict.adds_errors());
    }

    #[test]
    fn python_replacement() {
        let text = "def f(x):\n    return g(x)\n";
        let line = text.find("    return").unwrap()..text.len();
        assert!(!verify(text, line.clone(), "    return g(x) + 1\n", Language::Python).adds_errors());
        assert!(verify(text, line, "    return g(x\n", Language::Python).adds_errors());
    }

    #[test]
    fn counts_only_inside_the_range() {
        let text = "fn a() { let x = ; }\nfn b() {}\n";
        let a = 0..text.find("fn b").unwrap();
        let b = a.end..text.len();
        assert!(syntax_errors(text, a, Language::Rust) >= 1);
        assert_eq!(syntax_errors(text, b, Language::Rust), 0);
        assert_eq!(syntax_errors(text, 0..text.len(), Language::Rust), syntax_errors(text, 0..21, Language::Rust));
    }

    fn missing_nodes(text: &str, language: Language) -> usize {
        let tree = language.parse(text).unwrap();
        let mut stack = vec![tree.root_node()];
        let mut missing = 0;
        while let Some(node) = stack.pop() {
            missing += usize::from(node.is_missing());
            stack.extend(node.children(&mut node.walk()));
        }
        missing
    }

    #[test]
    fn errors_name_missing_tokens_and_place_unplaceable_text() {
        let text = "fn a() {\n    let x = 1\n}\n";
        let tree = Language::Rust.parse(text).unwrap();
        let found = errors(&tree, 10);
        assert_eq!(found, vec![SyntaxError { range: 22..22, missing: Some(";".into()), token: 22..22 }], "{text:?}");
        let text = "x = 1\ny = = 2\nz = 3\n";
        let found = errors(&Language::Python.parse(text).unwrap(), 10);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].missing.is_none() && (6..14).contains(&found[0].range.start), "{found:?}");
        let many = format!("fn a() {{\n{}}}\n", "    let x = 1\n".repeat(20));
        let tree = Language::Rust.parse(&many).unwrap();
        assert!(errors(&tree, 1000).len() > 3 && errors(&tree, 3).len() == 3, "the limit bounds a flood");
        assert!(errors(&Language::Rust.parse("fn main() {}\n").unwrap(), 10).is_empty());
    }

    #[test]
    fn counts_missing_nodes() {
        // tree-sitter recovers from a forgotten `;` or `)` with a zero-width MISSING node and
        // no ERROR node; those must count too.
        for (text, language) in [("fn a() {\n    let x = 1\n}\n", Language::Rust), ("def f(:\n    pass\n", Language::Python)] {
            let missing = missing_nodes(text, language);
            assert!(missing > 0, "{language}: no MISSING node in {text:?}");
            assert_eq!(syntax_errors(text, 0..text.len(), language), missing, "{text:?}");
        }
        assert_eq!(syntax_errors("def f():\n    pass\n", 0..18, Language::Python), 0);
    }

    #[test]
    #[should_panic(expected = "not on a UTF-8 character boundary")]
    fn verify_panics_on_a_split_character() {
        verify("a😀b", 0..2, "", Language::Rust);
    }
}
