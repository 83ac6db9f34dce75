//! One parse of a document, kept up to date by edits (tree-sitter reuses what an edit did not
//! touch), so that planning after a keystroke does not parse the whole file again.

use std::borrow::Cow;
use std::ops::Range;

use tree_sitter::{InputEdit, Tree};

use crate::{blocks, order, span, verify, BlockBudget, Language, Plan, PlanError, Verdict};

/// A position as tree-sitter counts it: a 0-based row and a column in UTF-8 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Point {
    pub row: usize,
    pub column: usize,
}

impl Point {
    /// The point of byte `offset` in `text` (a scan of the text before it; a caller with a line
    /// index, such as a rope, can build points itself).
    pub fn of(text: &str, offset: usize) -> Point {
        let before = &text.as_bytes()[..offset];
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        Point { row: before.iter().filter(|&&b| b == b'\n').count(), column: offset - line_start }
    }

    /// Where the end of `inserted` lands when it is inserted at `self`.
    fn after(self, inserted: &str) -> Point {
        match inserted.rfind('\n') {
            Some(last) => Point { row: self.row + inserted.bytes().filter(|&b| b == b'\n').count(), column: inserted.len() - last - 1 },
            None => Point { row: self.row, column: self.column + inserted.len() },
        }
    }

    fn to_tree_sitter(self) -> tree_sitter::Point {
        tree_sitter::Point { row: self.row, column: self.column }
    }
}

/// A replacement of `range` of a text by a new text, described as tree-sitter needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextEdit {
    pub start: usize,
    pub old_end: usize,
    pub new_end: usize,
    pub start_point: Point,
    pub old_end_point: Point,
    pub new_end_point: Point,
}

impl TextEdit {
    /// The edit that replaces `range` by `replacement`, given the points of the range's ends.
    pub fn from_points(range: Range<usize>, start_point: Point, old_end_point: Point, replacement: &str) -> TextEdit {
        TextEdit {
            start: range.start,
            old_end: range.end,
            new_end: range.start + replacement.len(),
            start_point,
            old_end_point,
            new_end_point: start_point.after(replacement),
        }
    }

    /// The edit that replaces `range` of `text` by `replacement`.
    pub fn replace(text: &str, range: Range<usize>, replacement: &str) -> TextEdit {
        let (start, end) = (Point::of(text, range.start), Point::of(text, range.end));
        TextEdit::from_points(range, start, end, replacement)
    }

    pub(crate) fn to_tree_sitter(self) -> InputEdit {
        InputEdit {
            start_byte: self.start,
            old_end_byte: self.old_end,
            new_end_byte: self.new_end,
            start_position: self.start_point.to_tree_sitter(),
            old_end_position: self.old_end_point.to_tree_sitter(),
            new_end_position: self.new_end_point.to_tree_sitter(),
        }
    }
}

/// A document's syntax tree. Without a language, or when its grammar cannot load, it holds no
/// tree and plans by indentation and lines.
///
/// The tree describes the text it was last parsed from; after [`SyntaxTree::edit`] it must be
/// [`SyntaxTree::reparse`]d before it describes the new text. Planning or verifying with a
/// text of another length, or between an edit and its reparse, parses that text afresh: right,
/// but as slow as no tree at all.
#[derive(Clone, Debug)]
pub struct SyntaxTree {
    language: Option<Language>,
    tree: Option<Tree>,
    /// The length of the text `tree` describes.
    len: usize,
    /// Edited since the last parse.
    edited: bool,
}

impl SyntaxTree {
    pub fn new(text: &str, language: Option<Language>) -> SyntaxTree {
        SyntaxTree::from_chunks(language, text.len(), |at| &text.as_bytes()[at..])
    }

    /// [`SyntaxTree::new`] for a text held in pieces (a rope): `read(offset)` returns the bytes
    /// from `offset` to the end of a piece, empty at the end of the text.
    pub fn from_chunks<T: AsRef<[u8]>>(language: Option<Language>, len: usize, read: impl FnMut(usize) -> T) -> SyntaxTree {
        let mut tree = SyntaxTree { language, tree: None, len, edited: false };
        tree.reparse_with(len, read);
        tree
    }

    pub fn language(&self) -> Option<Language> {
        self.language
    }

    /// Records an edit; a [`SyntaxTree::reparse`] with the new text must follow (several edits
    /// may come first, each in the positions the previous one left).
    pub fn edit(&mut self, edit: &TextEdit) {
        self.len = self.len - (edit.old_end - edit.start) + (edit.new_end - edit.start);
        if let Some(tree) = &mut self.tree {
            tree.edit(&edit.to_tree_sitter());
            self.edited = true;
        }
    }

    /// Parses `text`, the text after the edits, reusing the unchanged parts of the old tree.
    pub fn reparse(&mut self, text: &str) {
        self.reparse_with(text.len(), |at| &text.as_bytes()[at..]);
    }

    /// [`SyntaxTree::reparse`] for a text held in pieces, read as [`SyntaxTree::from_chunks`]
    /// reads them.
    pub fn reparse_with<T: AsRef<[u8]>>(&mut self, len: usize, mut read: impl FnMut(usize) -> T) {
        self.len = len;
        self.edited = false;
        let Some(mut parser) = self.language.and_then(Language::parser) else {
            return;
        };
        let old = self.tree.take();
        self.tree = crate::language::parse_within_budget(&mut parser, &mut |at, _| read(at), old.as_ref());
    }

    /// The tree of `text`: this one when it describes `text`, else a fresh parse.
    pub(crate) fn tree_for(&self, text: &str) -> Option<Cow<'_, Tree>> {
        if self.len == text.len() && !self.edited {
            self.tree.as_ref().map(Cow::Borrowed)
        } else {
            self.language.and_then(|l| l.parse(text)).map(Cow::Owned)
        }
    }

    /// Plans a rewrite of `selection` in `text`, the text this tree describes; see [`crate::plan`].
    pub fn plan(&self, text: &str, selection: Range<usize>, budget: &BlockBudget) -> Result<Plan, PlanError> {
        span::check_range(text, &selection)?;
        let tree = self.tree_for(text);
        let grammar = self.language.and_then(Language::queries);
        // A root that is one ERROR node means the grammar recognised nothing: lines serve better.
        let syntax = grammar.zip(tree.as_deref()).filter(|(_, tree)| !tree.root_node().is_error());
        let span = span::widen(text, &selection, syntax);
        let blocks = blocks::blocks(text, &span, syntax, budget);
        let (order, edges) = order::order(text, &span, &blocks, syntax);
        Ok(Plan { span, blocks, order, edges })
    }

    /// The syntax errors of `text` (the text this tree describes), at most `limit`, for an
    /// editor's diagnostics. None without a language.
    pub fn errors(&self, text: &str, limit: usize) -> Vec<verify::SyntaxError> {
        self.tree_for(text).map(|tree| verify::errors(&tree, limit)).unwrap_or_default()
    }

    /// `range` grown to whole top-level nodes of the parse (items, statements, and ERROR nodes
    /// at the top), so that a window of the text cut there parses near `range` as the whole
    /// text does. `range` itself without a tree.
    pub fn top_level_bounds(&self, text: &str, range: Range<usize>) -> Range<usize> {
        let Some(tree) = self.tree_for(text) else { return range };
        let root = tree.root_node();
        let mut cursor = root.walk();
        let (mut start, mut end) = (range.start, range.end);
        for child in root.children(&mut cursor) {
            if child.start_byte() <= range.start && range.start < child.end_byte() {
                start = start.min(child.start_byte());
            }
            if child.start_byte() < range.end && range.end <= child.end_byte() {
                end = end.max(child.end_byte());
            }
        }
        start..end.min(text.len())
    }

    /// ERROR and MISSING nodes that touch `range`; see [`crate::syntax_errors`].
    pub fn syntax_errors(&self, text: &str, range: Range<usize>) -> usize {
        verify::count(self.tree_for(text).as_deref(), text, &[range])
    }

    /// Whether replacing `span` of `text` by `replacement` adds syntax errors; see
    /// [`crate::verify`]. The edited text is parsed incrementally from this tree.
    /// `None` without a language.
    ///
    /// # Panics
    /// When `span` cannot slice `text`.
    pub fn verify(&self, text: &str, span: Range<usize>, replacement: &str) -> Option<Verdict> {
        self.language?;
        if let Err(e) = span::check_range(text, &span) {
            panic!("verify: {e}");
        }
        let mut edited_text = String::with_capacity(text.len() - span.len() + replacement.len());
        edited_text.push_str(&text[..span.start]);
        edited_text.push_str(replacement);
        edited_text.push_str(&text[span.end..]);
        let tree = self.tree_for(text);
        let mut edited = tree.as_deref().cloned();
        if let Some(edited) = &mut edited {
            let edit = TextEdit::replace(text, span.clone(), replacement);
            edited.edit(&edit.to_tree_sitter());
        }
        let new = self.language.and_then(Language::parser).and_then(|mut parser| {
            crate::language::parse_within_budget(
                &mut parser,
                &mut |at, _| &edited_text.as_bytes()[at.min(edited_text.len())..],
                edited.as_ref(),
            )
        });
        let reparse =
            verify::Reparse { old: tree.as_deref(), edited: edited.as_ref(), new: new.as_ref(), span, new_len: replacement.len() };
        Some(reparse.verdict(text, &edited_text))
    }
}
