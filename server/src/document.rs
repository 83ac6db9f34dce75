//! Open documents: a rope per document, its version and language, updated by incremental
//! `didChange` events. Snapshots are cheap clones (ropey shares structure) handed to workers.

use std::ops::Range;

use ropey::Rope;

use crate::position::{to_offset, Encoding, Position};

/// One content change from `didChange`: a range in client positions, or the whole text.
pub struct Change {
    pub range: Option<(Position, Position)>,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct Document {
    pub rope: Rope,
    pub version: i32,
    pub language_id: String,
}

impl Document {
    pub fn new(text: &str, version: i32, language_id: &str) -> Self {
        Self { rope: Rope::from_str(text), version, language_id: language_id.to_string() }
    }

    /// Applies changes in order (each change's positions refer to the text after the previous
    /// one, as LSP specifies) and takes the new version. A reversed range is treated as its
    /// ordered counterpart rather than rejected: losing the user's edit would be worse.
    pub fn apply(&mut self, changes: Vec<Change>, version: i32, enc: Encoding) {
        for change in changes {
            match change.range {
                None => self.rope = Rope::from_str(&change.text),
                Some((a, b)) => {
                    let (a, b) = (to_offset(&self.rope, a, enc), to_offset(&self.rope, b, enc));
                    let bytes = a.min(b)..a.max(b);
                    let chars = self.rope.byte_to_char(bytes.start)..self.rope.byte_to_char(bytes.end);
                    self.rope.remove(chars.clone());
                    self.rope.insert(chars.start, &change.text);
                }
            }
        }
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
        Change {
            range: Some((Position { line: l0, character: c0 }, Position { line: l1, character: c1 })),
            text: text.into(),
        }
    }

    #[test]
    fn incremental_changes_apply_in_order() {
        let mut doc = Document::new("fn main() {}\n", 1, "rust");
        doc.apply(vec![change(0, 3, 0, 7, "start"), change(0, 0, 0, 0, "pub ")], 2, Encoding::Utf16);
        assert_eq!(doc.text(), "pub fn start() {}\n");
        assert_eq!(doc.version, 2);
    }

    #[test]
    fn utf16_positions_after_astral_characters() {
        let mut doc = Document::new("s = \"😀\"\nx\n", 1, "python");
        // After the emoji (2 UTF-16 units) and the closing quote.
        doc.apply(vec![change(0, 8, 0, 8, "!")], 2, Encoding::Utf16);
        assert_eq!(doc.text(), "s = \"😀\"!\nx\n");
    }

    #[test]
    fn full_replacement_and_reversed_ranges() {
        let mut doc = Document::new("abc", 1, "rust");
        doc.apply(vec![Change { range: None, text: "xyz\n".into() }, change(0, 2, 0, 1, "Y")], 3, Encoding::Utf8);
        assert_eq!(doc.text(), "xYz\n");
    }
}
