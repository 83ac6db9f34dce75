//! Anneal's grammars: which code a rewrite replaces, and in which pieces and order.
//!
//! This crate knows tree-sitter, languages and text. It knows nothing of models, tokens or
//! LSP: a token budget arrives as a caller's `measure` function, and every position, in and out,
//! is a UTF-8 byte offset into the document text.
//!
//! - [`plan`] widens a selection to whole syntax nodes and lines ([`Plan::span`]), cuts it into
//!   blocks within a budget ([`Plan::blocks`]) and orders them so that definitions are decoded
//!   before their uses ([`Plan::order`]).
//! - [`verify`] tells whether a replacement adds syntax errors where it lands or in what it
//!   makes the parser read differently.
//! - [`SyntaxTree`] keeps a document's parse current across edits, so that planning after a
//!   keystroke reparses only what changed.
//!
//! Languages ([`Language`]): Rust, Python, JavaScript, TypeScript and TSX, Go, Java, C, C++,
//! Ruby and Bash, chosen by LSP `languageId` or file extension. What each grammar's node kinds
//! mean (blocks, containers, atomic strings and comments, doc comments that belong to the next
//! item, definitions and references) is in `queries/<language>/*.scm`; a language is a grammar
//! crate, a folder of queries and a row in `language.rs`. Any other text is planned by
//! indentation and lines, so planning never fails for want of a grammar.
//!
//! # Speed
//!
//! Planning a one-statement selection right after a keystroke in a 10,000-line file, measured
//! by `cargo bench -p anneal-grammars --bench incremental` (2 shared cores, words as the
//! budget's unit):
//!
//! | 10,000 lines of | [`SyntaxTree::edit`] + [`SyntaxTree::reparse`] + [`SyntaxTree::plan`] | [`plan`] (full parse) |
//! |---|---|---|
//! | Rust   | 4.2 ms | 40 ms |
//! | Python | 8.2 ms | 47 ms |
//!
//! The target is 20 ms; without the kept tree a parse alone misses it.
// stdout is the LSP channel when a library runs inside the server: print nothing there.
#![deny(clippy::print_stdout)]

mod blocks;
mod indent;
mod language;
mod nesting;
mod order;
mod queries;
mod repair;
mod span;
mod syntax_tree;
mod targets;
mod verify;

#[cfg(test)]
mod tests;

use std::ops::Range;

pub use language::Language;
pub use repair::{tokens, Candidate, Change, NoSuggestions, SearchLimits, SearchOutcome, Suggest, Token};
pub use span::check_range;
pub use syntax_tree::{Point, SyntaxTree, TextEdit};
pub use verify::{syntax_errors, verify, SyntaxError, Verdict};

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
pub fn plan(text: &str, selection: Range<usize>, language: Option<Language>, budget: &BlockBudget) -> Result<Plan, PlanError> {
    check_range(text, &selection)?;
    SyntaxTree::new(text, language).plan(text, selection, budget)
}
