//! Cutting a span into blocks that fit the budget, at syntax boundaries.

use std::ops::Range;

use tree_sitter::{Node, Tree};

use crate::indent;
use crate::queries::Queries;
use crate::span::is_block_level;
use crate::{Block, BlockBudget};

/// How deep a node that does not fit is cut into its children. Past this, a node stays whole:
/// a chain of thousands of `+` nests as deep, and measuring every level of it would take time
/// quadratic in its length.
const MAX_SPLIT_DEPTH: usize = 256;

/// A piece no block boundary may fall inside, named for the block kinds.
#[derive(Clone, Debug)]
struct Atom {
    range: Range<usize>,
    label: &'static str,
    /// A bare token taken whole (a `;` between two statements): it names no block unless
    /// nothing else does.
    bare: bool,
}

struct Splitter<'a> {
    text: &'a str,
    grammar: &'a Queries,
    budget: &'a BlockBudget<'a>,
    atoms: Vec<Atom>,
}

impl Splitter<'_> {
    fn fits(&self, range: Range<usize>) -> bool {
        (self.budget.measure)(&self.text[range]) <= self.budget.max_len
    }

    /// Atoms for the nodes that lie wholly inside `span`, in document order. A node that does
    /// not fit is replaced by its children; the pieces of a split node that are not block-level
    /// themselves (a function's header, its closing brace) carry the label of the nearest
    /// block-level node, since a `{` says nothing about what the block holds.
    ///
    /// Iterative, because a long operator chain nests thousands deep.
    fn collect(&mut self, root: Node, span: &Range<usize>) {
        enum Job<'t> {
            Find(Node<'t>, Option<u16>),
            Split { node: Node<'t>, parent: Option<u16>, label: &'static str, depth: usize },
        }
        fn push_children<'t>(jobs: &mut Vec<Job<'t>>, node: Node<'t>, make: impl Fn(Node<'t>) -> Job<'t>) {
            let mut cursor = node.walk();
            let children: Vec<Node<'t>> = node.children(&mut cursor).collect();
            jobs.extend(children.into_iter().rev().map(make));
        }
        let mut jobs = vec![Job::Find(root, None)];
        while let Some(job) = jobs.pop() {
            match job {
                Job::Find(node, parent) => {
                    let r = node.byte_range();
                    if r.is_empty() || r.end <= span.start || r.start >= span.end {
                        continue;
                    }
                    let inside = span.start <= r.start && r.end <= span.end;
                    // A body wholly inside (a Python block of one statement) is named for its
                    // statements, which are what the span was widened to.
                    let body = self.grammar.container.contains(node.kind_id()) && parent.is_some();
                    if inside && !body {
                        jobs.push(Job::Split { node, parent, label: node.kind(), depth: 0 });
                    } else {
                        push_children(&mut jobs, node, |c| Job::Find(c, Some(node.kind_id())));
                    }
                }
                Job::Split { node, parent, label, depth } => {
                    let label = if is_block_level(self.grammar, node, parent) { node.kind() } else { label };
                    let r = node.byte_range();
                    if r.is_empty() {
                        continue;
                    }
                    let whole = node.child_count() == 0 || depth >= MAX_SPLIT_DEPTH || self.grammar.is_atomic(node) || self.fits(r.clone());
                    if whole {
                        let bare = !node.is_named() && label == node.kind();
                        self.atoms.push(Atom { range: r, label, bare });
                    } else {
                        let parent = Some(node.kind_id());
                        push_children(&mut jobs, node, |c| Job::Split { node: c, parent, label, depth: depth + 1 });
                    }
                }
            }
        }
    }
}

/// Does `next` start on the line where `prev` ends?
fn same_line(text: &str, prev: &Range<usize>, next: &Range<usize>) -> bool {
    !text.as_bytes()[prev.end - 1..next.start].contains(&b'\n')
}

/// Where a block boundary between `prev` and `next` goes: after the line break that ends
/// `prev`'s line, so blocks are whole lines and blank lines and indentation open the next
/// block; right before `next` when both share a line.
fn boundary(text: &str, prev: &Range<usize>, next: &Range<usize>) -> usize {
    let from = prev.end - 1;
    match text.as_bytes()[from..next.start].iter().position(|&b| b == b'\n') {
        Some(p) => from + p + 1,
        None => next.start,
    }
}

/// Cuts `span` into contiguous blocks covering it exactly.
pub(crate) fn blocks(text: &str, span: &Range<usize>, syntax: Option<(&Queries, &Tree)>, budget: &BlockBudget) -> Vec<Block> {
    if span.is_empty() {
        return Vec::new();
    }
    let atoms = match syntax {
        Some((grammar, tree)) => {
            let mut splitter = Splitter { text, grammar, budget, atoms: Vec::new() };
            splitter.collect(tree.root_node(), span);
            splitter.atoms
        }
        None => Vec::new(),
    };
    let atoms = if atoms.is_empty() { indent_atoms(text, span, budget) } else { atoms };
    let pieces = line_pieces(text, budget, atoms);
    merge(text, span, budget, &pieces)
}

/// Atoms by indentation, for text without a syntax tree (or a span with no node in it); a span
/// of blank lines is one atom.
fn indent_atoms(text: &str, span: &Range<usize>, budget: &BlockBudget) -> Vec<Atom> {
    let fits = |r: Range<usize>| (budget.measure)(&text[r]) <= budget.max_len;
    let mut ranges = indent::pieces(text, span, &fits);
    if ranges.is_empty() {
        ranges.push(span.clone());
    }
    ranges.into_iter().map(|range| Atom { range, label: "lines", bare: false }).collect()
}

/// Groups atoms that share a line, so that a boundary inside a line is a last resort: a line is
/// cut into its atoms only when it does not fit on its own, and not when one of them is too
/// large anyway (cutting `let s = "…long…";` would leave `let s =` and `;` as blocks of their own).
fn line_pieces(text: &str, budget: &BlockBudget, atoms: Vec<Atom>) -> Vec<Vec<Atom>> {
    let fits = |r: Range<usize>| (budget.measure)(&text[r]) <= budget.max_len;
    let mut lines: Vec<Vec<Atom>> = Vec::new();
    for atom in atoms {
        match lines.last_mut() {
            Some(line) if same_line(text, &line.last().expect("non-empty").range, &atom.range) => line.push(atom),
            _ => lines.push(vec![atom]),
        }
    }
    let mut pieces = Vec::new();
    for line in lines {
        let range = line[0].range.start..line[line.len() - 1].range.end;
        if line.len() > 1 && !fits(range) && line.iter().all(|a| fits(a.range.clone())) {
            pieces.extend(line.into_iter().map(|a| vec![a]));
        } else {
            pieces.push(line);
        }
    }
    pieces
}

/// Greedily packs pieces into blocks while the block's text fits the budget; a piece that
/// does not fit alone becomes a block of its own.
fn merge(text: &str, span: &Range<usize>, budget: &BlockBudget, pieces: &[Vec<Atom>]) -> Vec<Block> {
    let range_of = |p: &Vec<Atom>| p[0].range.start..p[p.len() - 1].range.end;
    // Boundary before piece i; the first block starts at the span, the last ends with it.
    let mut cuts: Vec<usize> = vec![span.start];
    for pair in pieces.windows(2) {
        cuts.push(boundary(text, &range_of(&pair[0]), &range_of(&pair[1])));
    }
    cuts.push(span.end);

    let mut blocks = Vec::new();
    let mut first = 0;
    for i in 1..=pieces.len() {
        let extend = i < pieces.len() && {
            let candidate = &text[cuts[first]..cuts[i + 1]];
            (budget.measure)(candidate) <= budget.max_len
        };
        if !extend {
            let atoms = || pieces[first..i].iter().flatten();
            let all_bare = atoms().all(|a| a.bare);
            let mut kinds: Vec<&str> = Vec::new();
            for atom in atoms().filter(|a| all_bare || !a.bare) {
                if !kinds.contains(&atom.label) {
                    kinds.push(atom.label);
                }
            }
            blocks.push(Block { range: cuts[first]..cuts[i], kind: kinds.join(",") });
            first = i;
        }
    }
    blocks
}
