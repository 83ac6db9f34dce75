//! Whether a parse and the code's indentation tell the same structure.
//!
//! Several repairs of one syntax error can parse: a Ruby class whose `end` was lost is closed
//! as well by an `end` where its body's indentation stops as by one at the end of the file,
//! which nests the next class inside it. The parser cannot tell them apart; a small model
//! scoring a few tokens around each change often cannot either. The indentation the author
//! wrote can: in the right repair every line sits deeper than the block that holds it, and a
//! block's closer sits level with its opener. [`misnested_lines`] counts the lines where they
//! disagree, for a ranker to prefer the repair that leaves fewest.

use std::ops::Range;

use tree_sitter::{Node, Tree};

/// First tokens of a line that may sit level with its block's opener: closers, and words that
/// go on with the block (`else`, `rescue`, `when`, a `case` label, a method chain's `.`).
const LEVEL_WITH_OPENER: [&str; 25] = [
    "end", "}", ")", "]", "fi", "done", "esac", "else", "elsif", "elif", "rescue", "ensure", "when", "in", "then", "do", "catch",
    "finally", "except", "case", "default", ".", "&&", "||", "public",
];

/// Closers: these must sit level with their block's opener, not deeper.
const CLOSERS: [&str; 7] = ["end", "}", ")", "]", "fi", "done", "esac"];

/// Lines starting inside `range` whose indentation disagrees with the parse (the rules are
/// [`line_verdict`]'s). Lines inside a multi-line token (a string) and comments are not
/// counted. Tabs count as one column: a file that mixes them with spaces has no reliable depth
/// anyway, and the count only compares repairs of one file.
pub fn misnested_lines(tree: &Tree, text: &str, range: Range<usize>) -> usize {
    let b = text.as_bytes();
    let indent_at = |line_start: usize| b[line_start..].iter().take_while(|&&c| c == b' ' || c == b'\t').count();
    let line_start_of = |at: usize| b[..at].iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
    let root = tree.root_node();
    let mut count = 0;
    let mut line = line_start_of(range.start.min(text.len()));
    while line < range.end.min(text.len()) {
        let indent = indent_at(line);
        let first = line + indent;
        let next_line = b[line..].iter().position(|&c| c == b'\n').map_or(b.len(), |i| line + i + 1);
        if first < b.len() && b[first] != b'\n' && b[first] != b'\r' {
            if let Some(verdict) = line_verdict(root, text, first, indent, &line_start_of, &indent_at) {
                count += usize::from(!verdict);
            }
        }
        line = next_line;
    }
    count
}

/// Whether the line whose first token starts at `first` agrees with the parse; `None` when the
/// line starts inside a token, in a comment or an error, or holds the file's first item.
///
/// The line's node is the largest that starts where the line's code does. A top-level item sits
/// level with the item before it. Otherwise, a closer sits level with the line that opened its
/// parent; a word that goes on with the parent (`else`) no shallower than it; a node after a
/// sibling that began a line of its own level with that sibling (statements of one body are
/// aligned); the first of the parent's nodes on a line of its own deeper than the parent's
/// first line.
fn line_verdict(
    root: Node,
    text: &str,
    first: usize,
    indent: usize,
    line_start_of: &dyn Fn(usize) -> usize,
    indent_at: &dyn Fn(usize) -> usize,
) -> Option<bool> {
    let leaf = root.descendant_for_byte_range(first, first)?;
    // A line inside a multi-line token, an error, or a comment (placed as its author likes):
    // nothing to say.
    if leaf.start_byte() != first || leaf.is_error() || leaf.is_missing() || leaf.kind().contains("comment") {
        return None;
    }
    let mut node = leaf;
    while let Some(parent) = node.parent().filter(|p| p.start_byte() == first && p.parent().is_some()) {
        node = parent;
    }
    // At the top level only the sibling rule holds: top-level items are aligned.
    let parent = node.parent()?;
    let top = parent.parent().is_none();
    if parent.has_error() && !top {
        return None;
    }
    let opener_indent = indent_at(line_start_of(parent.start_byte()));
    let word = &text[first..leaf.end_byte().min(text.len())];
    if top {
        // Top-level items are aligned with the one before them.
        let previous = std::iter::successors(node.prev_sibling(), |s| s.prev_sibling()).find(|s| !s.kind().contains("comment"))?;
        let line = line_start_of(previous.start_byte());
        return (line + indent_at(line) == previous.start_byte()).then(|| indent == indent_at(line));
    }
    if CLOSERS.contains(&word) && parent.end_byte() == leaf.end_byte() {
        return Some(indent == opener_indent);
    }
    if LEVEL_WITH_OPENER.contains(&word) {
        return Some(indent >= opener_indent);
    }
    // A sibling on the parent's first line is part of the opener (`class`, the name), unless
    // the parent is a list that starts with a statement (a body: Python's `block`).
    let opener_line = line_start_of(parent.start_byte());
    let list = parent.child(0).is_some_and(|c| c.is_named() && !c.kind().contains("comment"));
    let begins_line = |n: &Node| {
        let at = n.start_byte();
        let line = line_start_of(at);
        (list || line != opener_line) && line + indent_at(line) == at
    };
    let mut sibling = node.prev_sibling();
    while let Some(s) = sibling {
        if begins_line(&s) {
            return Some(indent == indent_at(line_start_of(s.start_byte())));
        }
        sibling = s.prev_sibling();
    }
    Some(indent > opener_indent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Language;

    fn misnested(text: &str, language: Language) -> usize {
        let tree = language.parse(text).unwrap();
        misnested_lines(&tree, text, 0..text.len())
    }

    #[test]
    fn well_indented_code_has_no_misnested_line() {
        let ruby = "class A\n  def f(x)\n    if x\n      1\n    else\n      2\n    end\n  end\nend\n";
        assert_eq!(misnested(ruby, Language::Ruby), 0);
        let c = "int f(int x) {\n    if (x) {\n        return 1;\n    } else {\n        return 2;\n    }\n}\n";
        assert_eq!(misnested(c, Language::C), 0);
        let bash = "f() {\n  if [ -n \"$1\" ]; then\n    echo a\n  fi\n}\n";
        assert_eq!(misnested(bash, Language::Bash), 0);
        // A body's statements are aligned with each other (Python's `block` starts at the first).
        let python = "def f(x):\n    total = 0\n    for v in x:\n        total += v\n    return total\n\n\ndef g():\n    pass\n";
        assert_eq!(misnested(python, Language::Python), 0);
    }

    #[test]
    fn a_class_closed_at_the_end_of_the_file_nests_the_next_one_against_its_indentation() {
        // The lost `end` of A put back at the end of the file: B's line is held by A but sits
        // level with it.
        let at_the_end = "class A\n  def f\n  end\n\nclass B\n  def g\n  end\nend\nend\n";
        let placed = "class A\n  def f\n  end\nend\n\nclass B\n  def g\n  end\nend\n";
        assert_eq!(misnested(placed, Language::Ruby), 0);
        assert!(misnested(at_the_end, Language::Ruby) > 0);
        // A body left at the top level by a lost opener is not aligned with the item before it.
        let js = "const a = 1;\n  f();\n";
        assert_eq!(misnested(js, Language::JavaScript), 1);
    }
}
