//! Widening a selection to whole lines of whole syntax nodes.

use std::ops::Range;

use tree_sitter::{Node, Tree};

use crate::queries::Queries;
use crate::PlanError;

/// Checks that `range` can slice `text`.
pub fn check_range(text: &str, range: &Range<usize>) -> Result<(), PlanError> {
    if range.start > range.end {
        return Err(PlanError::Reversed { start: range.start, end: range.end });
    }
    if range.end > text.len() {
        return Err(PlanError::OutOfBounds { end: range.end, len: text.len() });
    }
    for offset in [range.start, range.end] {
        if !text.is_char_boundary(offset) {
            return Err(PlanError::NotCharBoundary { offset });
        }
    }
    Ok(())
}

/// Start of the line holding byte `i`.
fn line_start(text: &str, i: usize) -> usize {
    text.as_bytes()[..i].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1)
}

/// End of the line holding byte `i`, past its `\n` when it has one.
fn line_end(text: &str, i: usize) -> usize {
    text.as_bytes()[i.min(text.len())..].iter().position(|&b| b == b'\n').map_or(text.len(), |p| i + p + 1)
}

/// Whole lines touched by `range`. A non-empty range that ends right after a `\n` does not touch
/// the next line: selecting lines 3–5 in an editor puts the end at the start of line 6.
fn lines_of(text: &str, range: &Range<usize>) -> Range<usize> {
    let last = if range.is_empty() { range.start } else { range.end - 1 };
    line_start(text, range.start)..line_end(text, last)
}

fn is_space(b: u8) -> bool {
    b.is_ascii_whitespace()
}

fn trim(text: &str, range: Range<usize>) -> Range<usize> {
    let bytes = text.as_bytes();
    let (mut s, mut e) = (range.start, range.end);
    while s < e && is_space(bytes[s]) {
        s += 1;
    }
    while e > s && is_space(bytes[e - 1]) {
        e -= 1;
    }
    s..e
}

/// A non-empty, whitespace-trimmed range whose syntax nodes stand for the selection. A cursor
/// stands for the character it touches (after it, else before it), else for its line's code:
/// a cursor in indentation means the statement on that line, not the enclosing function.
fn probe(text: &str, selection: &Range<usize>) -> Option<Range<usize>> {
    let trimmed = trim(text, selection.clone());
    if !trimmed.is_empty() {
        return Some(trimmed);
    }
    let bytes = text.as_bytes();
    let p = selection.start;
    if p < text.len() && !is_space(bytes[p]) {
        let len = text[p..].chars().next().map_or(1, char::len_utf8);
        return Some(p..p + len);
    }
    if p > 0 && !is_space(bytes[p - 1]) {
        let len = text[..p].chars().next_back().map_or(1, char::len_utf8);
        return Some(p - len..p);
    }
    let line = trim(text, line_start(text, p)..line_end(text, p));
    (!line.is_empty()).then_some(line)
}

/// Whether a rewrite may take `node` whole. The parent's kind id is passed in because
/// `Node::parent` searches down from the root, which a deep tree makes quadratic.
pub(crate) fn is_block_level(grammar: &Queries, node: Node, parent_kind: Option<u16>) -> bool {
    if node.is_error() {
        // A broken statement is still the thing a repair should replace whole.
        return true;
    }
    if grammar.block.contains(node.kind_id()) {
        return true;
    }
    node.is_named() && parent_kind.is_some_and(|p| grammar.container.contains(p))
}

fn overlaps(node: Node, range: &Range<usize>) -> bool {
    node.start_byte() < range.end && node.end_byte() > range.start
}

/// The nodes from the root down to the smallest one holding the non-empty `range`.
fn path_to<'t>(tree: &'t Tree, range: &Range<usize>) -> Vec<Node<'t>> {
    let mut path = vec![tree.root_node()];
    loop {
        let node = path[path.len() - 1];
        let mut cursor = node.walk();
        let inner = node
            .children(&mut cursor)
            .find(|c| c.start_byte() <= range.start && range.end <= c.end_byte() && c.start_byte() < c.end_byte());
        match inner {
            Some(child) => path.push(child),
            None => return path,
        }
    }
}

/// The byte range of the smallest run of whole block-level nodes covering `probe`: walk up from
/// the smallest node holding it until a node is block-level itself, or its children touched by
/// the probe all are (two statements of one body, two items of a file).
fn block_nodes(grammar: &Queries, text: &str, tree: &Tree, probe: &Range<usize>) -> Option<Range<usize>> {
    let path = path_to(tree, probe);
    // Separators between statements or fields (`a; b` in Python, `x: u8, y: u8`) are no reason
    // to climb to the enclosing function or struct.
    let separator = |k: &Node| !k.is_named() && matches!(k.kind(), ";" | ",");
    for depth in (0..path.len()).rev() {
        let node = path[depth];
        let parent_kind = depth.checked_sub(1).map(|d| path[d].kind_id());
        if depth > 0 && is_block_level(grammar, node, parent_kind) {
            return Some(with_attachments(grammar, text, node, node));
        }
        let mut cursor = node.walk();
        let kids: Vec<Node> = node.children(&mut cursor).filter(|k| k.start_byte() < k.end_byte() && overlaps(*k, probe)).collect();
        let all_block_level = kids.iter().all(|k| separator(k) || is_block_level(grammar, *k, Some(node.kind_id())));
        // At the root whatever is touched is taken whole, block-level or not.
        if !kids.is_empty() && (all_block_level || depth == 0) {
            let (first, last) = ends(&kids)?;
            return Some(with_attachments(grammar, text, first, last));
        }
    }
    Some(path[0].byte_range())
}

/// Widens a run of nodes to what belongs with it: the wrapper of a single node (a decorated
/// definition for its function), then the attributes and doc comments above the first, up to
/// a blank line.
fn with_attachments<'t>(grammar: &Queries, text: &str, mut first: Node<'t>, mut last: Node<'t>) -> Range<usize> {
    if first.id() == last.id() {
        while let Some(parent) = first.parent().filter(|p| grammar.wrapper.contains(p.kind_id())) {
            first = parent;
            last = parent;
        }
    }
    let item = first;
    while let Some(previous) =
        first.prev_sibling().filter(|p| first.start_position().row <= p.end_position().row + 1 && grammar.attaches(*p, item, text))
    {
        first = previous;
    }
    first.start_byte()..last.end_byte()
}

/// The outermost node that crosses an end of `code` (the span's text without its surrounding
/// whitespace): it holds code on both sides of that end without holding all of it. A node
/// holding all of it is an ancestor, not a cut, even when it has nothing after the span but
/// the newline the span took (the last statement of a function).
fn cut_node<'t>(tree: &'t Tree, code: &Range<usize>, at_end: bool) -> Option<Node<'t>> {
    let at = if at_end { code.end - 1 } else { code.start };
    path_to(tree, &(at..at + 1)).into_iter().find(|node| {
        let r = node.byte_range();
        if at_end {
            code.start < r.start && code.end < r.end
        } else {
            r.start < code.start && r.end < code.end
        }
    })
}

fn ends<'t>(nodes: &[Node<'t>]) -> Option<(Node<'t>, Node<'t>)> {
    nodes.first().copied().zip(nodes.last().copied())
}

fn union(a: &Range<usize>, b: &Range<usize>) -> Range<usize> {
    a.start.min(b.start)..a.end.max(b.end)
}

/// Widens a validated `selection` to the span a rewrite replaces: whole lines, made of whole
/// block-level nodes, never cutting a node (so never a token, string or comment).
pub(crate) fn widen(text: &str, selection: &Range<usize>, syntax: Option<(&Queries, &Tree)>) -> Range<usize> {
    if text.is_empty() {
        return 0..0;
    }
    let mut selection = selection.clone();
    if selection.is_empty() && selection.start == text.len() && text.ends_with('\n') {
        // A cursor after the final newline sits on no line; the last line is what it means.
        selection = text.len() - 1..text.len() - 1;
    }
    let mut span = lines_of(text, &selection);
    let Some((grammar, tree)) = syntax else {
        return span;
    };
    let Some(probe) = probe(text, &selection) else {
        return span;
    };
    if let Some(nodes) = block_nodes(grammar, text, tree, &probe) {
        span = union(&span, &lines_of(text, &nodes));
    }
    // Whole lines can cut a node that shares a line with the chosen ones (`} else {`, a call
    // whose arguments run over several lines): take the node in, and repeat until nothing is cut.
    // The span grows each round, so this ends.
    loop {
        let code = trim(text, span.clone());
        if code.is_empty() {
            return span;
        }
        let cuts: Vec<Node> = [false, true].iter().filter_map(|&end| cut_node(tree, &code, end)).collect();
        if cuts.is_empty() {
            return span;
        }
        let mut grown = span.clone();
        for cut in cuts {
            grown = union(&grown, &cut.byte_range());
        }
        if let Some(nodes) = block_nodes(grammar, text, tree, &trim(text, grown.clone())) {
            grown = union(&grown, &nodes);
        }
        let grown = lines_of(text, &grown);
        if grown == span {
            return span;
        }
        span = grown;
    }
}
