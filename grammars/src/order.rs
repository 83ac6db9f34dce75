//! The decode order of blocks: definitions before their uses, else left to right.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet};
use std::ops::Range;

use tree_sitter::{Node, QueryCursor, StreamingIterator, Tree};

use crate::queries::Queries;
use crate::{Block, OrderEdge};

/// A name a block binds.
struct Definition {
    name: String,
    at: usize,
    /// Where the binding is visible, for a local variable; `None` for an item or a global,
    /// which are visible everywhere and may be used above their definition.
    scope: Option<Range<usize>>,
}

impl Definition {
    fn reaches(&self, name: &str, at: usize) -> bool {
        self.name == name && self.scope.as_ref().is_none_or(|s| s.contains(&at))
    }
}

/// What each block defines, and the names it uses with their positions, in document order.
#[derive(Default)]
struct Names {
    defines: Vec<Definition>,
    uses: Vec<(String, usize)>,
}

/// Identifiers a pattern binds.
fn pattern_names<'t>(grammar: &Queries, node: Node<'t>, out: &mut Vec<Node<'t>>) {
    if grammar.pattern_skip.contains(node.kind_id()) {
        return;
    }
    if grammar.pattern_name.contains(node.kind_id()) {
        out.push(node);
        return;
    }
    let mut cursor = node.walk();
    for (i, child) in node.children(&mut cursor).enumerate() {
        // `Some(x)` binds `x`, not `Some`: the constructor sits in the `type` field.
        if node.field_name_for_child(i as u32) != Some("type") {
            pattern_names(grammar, child, out);
        }
    }
}

fn local_scope(grammar: &Queries, node: Node) -> Option<Range<usize>> {
    let mut ancestor = node.parent();
    while let Some(a) = ancestor {
        if grammar.scope.contains(a.kind_id()) {
            return Some(a.byte_range());
        }
        ancestor = a.parent();
    }
    None
}

fn names(text: &str, grammar: &Queries, tree: &Tree, span: &Range<usize>, blocks: &[Block]) -> Vec<Names> {
    let mut names: Vec<Names> = blocks.iter().map(|_| Names::default()).collect();
    let query = &grammar.order;
    let block_of = |at: usize| blocks.partition_point(|b| b.range.end <= at).min(blocks.len() - 1);
    let capture_names = query.capture_names();

    let mut items: Vec<Node> = Vec::new();
    let mut patterns: Vec<Node> = Vec::new();
    let mut references: Vec<Node> = Vec::new();
    let mut ignored: HashSet<usize> = HashSet::new();
    let mut cursor = QueryCursor::new();
    cursor.set_byte_range(span.clone());
    let mut captures = cursor.captures(query, tree.root_node(), text.as_bytes());
    while let Some((m, index)) = captures.next() {
        let capture = m.captures[*index];
        let node = capture.node;
        if node.start_byte() < span.start || node.end_byte() > span.end {
            continue;
        }
        match capture_names[capture.index as usize] {
            "definition" => items.push(node),
            "definition.pattern" => pattern_names(grammar, node, &mut patterns),
            "reference" => references.push(node),
            _ => {
                ignored.insert(node.id());
            }
        }
    }
    let definitions = items.iter().map(|n| (n, None)).chain(patterns.iter().map(|n| (n, local_scope(grammar, *n))));
    for (node, scope) in definitions {
        ignored.insert(node.id());
        let at = node.start_byte();
        names[block_of(at)].defines.push(Definition { name: text[node.byte_range()].to_owned(), at, scope });
    }
    references.sort_by_key(|n| n.start_byte());
    for reference in references {
        if !ignored.contains(&reference.id()) {
            let at = reference.start_byte();
            names[block_of(at)].uses.push((text[reference.byte_range()].to_owned(), at));
        }
    }
    names
}

/// Edges from the block defining a name to each block using it. A use depends on the nearest
/// definition before it that reaches it, unless its own block defined the name before it;
/// failing that, on the nearest item or global after it (a function called above its
/// declaration), unless its own block defines the name.
fn edges(names: &[Names]) -> Vec<OrderEdge> {
    let mut shared: BTreeMap<(usize, usize), Vec<&str>> = BTreeMap::new();
    for (user, block) in names.iter().enumerate() {
        for (name, at) in &block.uses {
            let own = block.defines.iter().filter(|d| d.reaches(name, *at));
            if own.clone().any(|d| d.at < *at) {
                continue;
            }
            let defines_here = own.count() > 0;
            let reaches = |i: usize| names[i].defines.iter().any(|d| d.reaches(name, *at));
            let hoisted = |i: usize| names[i].defines.iter().any(|d| d.reaches(name, *at) && d.scope.is_none());
            let before = (0..user).rev().find(|&i| reaches(i));
            let after = || (user + 1..names.len()).find(|&i| hoisted(i));
            let definer = before.or_else(|| if defines_here { None } else { after() });
            if let Some(definer) = definer {
                let names = shared.entry((definer, user)).or_default();
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
        }
    }
    shared
        .into_iter()
        .map(|((before, after), names)| {
            let mut listed: Vec<String> = names.iter().take(3).map(|n| format!("`{n}`")).collect();
            if names.len() > 3 {
                listed.push(format!("{} more", names.len() - 3));
            }
            OrderEdge { before, after, reason: format!("defines {} used by block {after}", listed.join(", ")) }
        })
        .collect()
}

/// Topological order preferring the leftmost ready block; on a cycle the leftmost remaining
/// block goes next, as if its unmet edges were not there.
fn topological(n: usize, edges: &[OrderEdge]) -> Vec<usize> {
    let mut indegree = vec![0usize; n];
    let mut successors = vec![Vec::new(); n];
    for edge in edges {
        indegree[edge.after] += 1;
        successors[edge.before].push(edge.after);
    }
    let mut done = vec![false; n];
    let mut ready: BinaryHeap<Reverse<usize>> = (0..n).filter(|&i| indegree[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let next = match ready.pop() {
            Some(Reverse(i)) if done[i] => continue,
            Some(Reverse(i)) => i,
            None => (0..n).find(|&i| !done[i]).expect("a block remains"),
        };
        done[next] = true;
        order.push(next);
        for &s in &successors[next] {
            indegree[s] -= 1;
            if indegree[s] == 0 && !done[s] {
                ready.push(Reverse(s));
            }
        }
    }
    order
}

pub(crate) fn order(text: &str, span: &Range<usize>, blocks: &[Block], syntax: Option<(&Queries, &Tree)>) -> (Vec<usize>, Vec<OrderEdge>) {
    let edges = match syntax {
        Some((grammar, tree)) if !blocks.is_empty() => edges(&names(text, grammar, tree, span, blocks)),
        _ => Vec::new(),
    };
    (topological(blocks.len(), &edges), edges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(before: usize, after: usize) -> OrderEdge {
        OrderEdge { before, after, reason: String::new() }
    }

    #[test]
    fn cycles_fall_back_to_position() {
        assert_eq!(topological(3, &[]), vec![0, 1, 2]);
        assert_eq!(topological(3, &[edge(2, 0)]), vec![1, 2, 0]);
        // Blocks outside the cycle go as soon as they are ready; the cycle opens at its leftmost.
        assert_eq!(topological(3, &[edge(2, 0), edge(0, 2)]), vec![1, 0, 2]);
        assert_eq!(topological(4, &[edge(3, 1), edge(1, 3), edge(2, 0)]), vec![2, 0, 1, 3]);
    }
}
