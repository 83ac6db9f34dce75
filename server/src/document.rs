//! Open documents: a rope per document, its version, language and syntax tree, updated by
//! incremental `didChange` events. Snapshots are cheap clones (ropey and tree-sitter share
//! structure) handed to workers.

use std::ops::Range;

use anneal_grammars::{Language, Point, SyntaxTree, TextEdit};
use ropey::Rope;

use crate::position::{to_offset, Encoding, Position};
use anneal_engine::WINDOW_ABOVE;

/// One content change from `didChange`: a range in client positions, or the whole text.
pub struct Change {
    pub range: Option<(Position, Position)>,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct Document {
    pub rope: Rope,
    pub version: i32,
    /// From the `languageId`, else from the file's extension.
    pub language: Option<Language>,
    /// The client's `languageId`, for `disabledLanguages`.
    pub language_id: String,
    /// The parse the planner starts from, kept current by every change at the cost of an
    /// incremental reparse. `None` above the size the engine parses whole (it parses a window
    /// around the selection instead), so that typing in a huge file costs no parse at all.
    pub syntax: Option<SyntaxTree>,
}

impl Document {
    /// `file_name` (the URI's last segment) names the language when `language_id` does not.
    pub fn new(text: &str, version: i32, language_id: &str, file_name: &str) -> Self {
        let language = Language::from_language_id(language_id).or_else(|| Language::from_path(file_name.as_ref()));
        let mut doc = Self { rope: Rope::from_str(text), version, language, language_id: language_id.to_string(), syntax: None };
        doc.reparse();
        doc
    }

    /// A point as tree-sitter counts it, from the rope's line index. (With ropey's `cr_lines` a
    /// lone `\r` also ends a line, where tree-sitter counts only `\n`; rows then drift, which
    /// costs tree reuse, never correctness: tree-sitter goes by byte offsets.)
    fn point(&self, byte: usize) -> Point {
        let row = self.rope.byte_to_line(byte);
        Point { row, column: byte - self.rope.line_to_byte(row) }
    }

    /// Brings `syntax` up to date with the rope: an incremental reparse after edits, a parse
    /// when there was no tree, none above the size limit.
    fn reparse(&mut self) {
        let len = self.rope.len_bytes();
        if len > WINDOW_ABOVE {
            self.syntax = None;
            return;
        }
        let rope = &self.rope;
        let read = |at: usize| {
            let (chunk, start, _, _) = rope.chunk_at_byte(at);
            &chunk.as_bytes()[at - start..]
        };
        match &mut self.syntax {
            Some(tree) => tree.reparse_with(len, read),
            None => self.syntax = Some(SyntaxTree::from_chunks(self.language, len, read)),
        }
    }

    /// Applies changes in order (each change's positions refer to the text after the previous
    /// one, as LSP specifies) and takes the new version. A reversed range is treated as its
    /// ordered counterpart rather than rejected: losing the user's edit would be worse.
    pub fn apply(&mut self, changes: Vec<Change>, version: i32, enc: Encoding) {
        for change in changes {
            match change.range {
                None => {
                    self.rope = Rope::from_str(&change.text);
                    self.syntax = None;
                }
                Some((a, b)) => {
                    let (a, b) = (to_offset(&self.rope, a, enc), to_offset(&self.rope, b, enc));
                    let bytes = a.min(b)..a.max(b);
                    let edit = TextEdit::from_points(bytes.clone(), self.point(bytes.start), self.point(bytes.end), &change.text);
                    let chars = self.rope.byte_to_char(bytes.start)..self.rope.byte_to_char(bytes.end);
                    self.rope.remove(chars.clone());
                    self.rope.insert(chars.start, &change.text);
                    if let Some(tree) = &mut self.syntax {
                        tree.edit(&edit);
                    }
                }
            }
        }
        self.reparse();
        self.version = version;
    }

    pub fn text(&self) -> String {
        self.rope.to_string()
    }

    pub fn byte_range(&self, start: Position, end: Position, enc: Encoding) -> Range<usize> {
        let (a, b) = (to_offset(&self.rope, start, enc), to_offset(&self.rope, end, enc));
        a.min(b)..a.max(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(l0: u32, c0: u32, l1: u32, c1: u32, text: &str) -> Change {
        Change { range: Some((Position { line: l0, character: c0 }, Position { line: l1, character: c1 })), text: text.into() }
    }

    #[test]
    fn incremental_changes_apply_in_order() {
        let mut doc = Document::new("fn main() {}\n", 1, "rust", "main.rs");
        doc.apply(vec![change(0, 3, 0, 7, "start"), change(0, 0, 0, 0, "pub ")], 2, Encoding::Utf16);
        assert_eq!(doc.text(), "pub fn start() {}\n");
        assert_eq!(doc.version, 2);
    }

    #[test]
    fn utf16_positions_after_astral_characters() {
        let mut doc = Document::new("s = \"😀\"\nx\n", 1, "python", "a.py");
        // After the emoji (2 UTF-16 units) and the closing quote.
        doc.apply(vec![change(0, 8, 0, 8, "!")], 2, Encoding::Utf16);
        assert_eq!(doc.text(), "s = \"😀\"!\nx\n");
    }

    #[test]
    fn full_replacement_and_reversed_ranges() {
        let mut doc = Document::new("abc", 1, "rust", "a.rs");
        doc.apply(vec![Change { range: None, text: "xyz\n".into() }, change(0, 2, 0, 1, "Y")], 3, Encoding::Utf8);
        assert_eq!(doc.text(), "xYz\n");
    }

    #[test]
    fn the_tree_follows_the_text() {
        // An unknown languageId: the file name says Python.
        let mut doc = Document::new("def f(x):\n    return x\n", 1, "plaintext", "lib.py");
        assert_eq!(doc.language, Some(Language::Python));
        doc.apply(vec![change(1, 12, 1, 12, " + 1"), change(0, 0, 0, 0, "import os\n\n")], 2, Encoding::Utf16);
        let text = doc.text();
        assert_eq!(text, "import os\n\ndef f(x):\n    return x + 1\n");
        let budget = anneal_grammars::BlockBudget { max_len: 4, measure: &|s: &str| s.split_whitespace().count() };
        let tree = doc.syntax.as_ref().expect("a small document keeps its tree");
        let whole = 0..text.len();
        assert_eq!(tree.plan(&text, whole.clone(), &budget), anneal_grammars::plan(&text, whole.clone(), doc.language, &budget));
        assert_eq!(tree.syntax_errors(&text, whole), 0);
        doc.apply(vec![change(3, 10, 3, 10, "(")], 3, Encoding::Utf16);
        let text = doc.text();
        assert!(doc.syntax.as_ref().unwrap().syntax_errors(&text, 0..text.len()) > 0);
    }

    #[test]
    fn large_documents_keep_no_tree() {
        let line = "x = 1\n";
        let mut doc = Document::new(&line.repeat(WINDOW_ABOVE / line.len() - 1), 1, "python", "big.py");
        assert!(doc.syntax.is_some());
        doc.apply(vec![change(0, 0, 0, 0, &line.repeat(2))], 2, Encoding::Utf8);
        assert!(doc.syntax.is_none(), "past the limit, the engine parses a window instead");
        doc.apply(vec![Change { range: None, text: line.into() }], 3, Encoding::Utf8);
        assert!(doc.syntax.is_some());
    }
}
