//! Where one instruction applies many times: every function of a file, every occurrence of a
//! name. The regions come from the same queries as planning (`@function` in `blocks.scm`,
//! the names of `order.scm`); each region is then planned and rewritten as a selection is.

use std::ops::Range;

use tree_sitter::{Node, QueryCursor, StreamingIterator};

use crate::queries::Queries;
use crate::SyntaxTree;

impl SyntaxTree {
    /// The functions and methods of `text` (the text this tree describes), outermost only — a
    /// function nested in another is part of it — with a wrapper around one (a decorator list)
    /// included. In text order; empty without a grammar.
    pub fn functions(&self, text: &str) -> Vec<Range<usize>> {
        let Some((grammar, tree)) = self.language().and_then(|l| l.queries()).zip(self.tree_for(text)) else {
            return vec![];
        };
        let mut found = vec![];
        collect_functions(grammar, tree.root_node(), &mut found);
        found
    }

    /// Every node of `text` that names `name` — definitions, uses, parameters — in text order.
    /// Names as the decode order sees them: identifiers, not the insides of strings or comments.
    pub fn occurrences(&self, text: &str, name: &str) -> Vec<Range<usize>> {
        let mut found = self.names(text, 0..text.len(), |n| n == name);
        found.sort_by_key(|r| r.start);
        found.dedup();
        found
    }

    /// The name (as [`SyntaxTree::occurrences`] sees names) that `at` is in or at the end of.
    pub fn name_at(&self, text: &str, at: usize) -> Option<Range<usize>> {
        let near = at.saturating_sub(1)..(at + 1).min(text.len());
        self.names(text, near, |_| true).into_iter().find(|r| r.start <= at && at <= r.end)
    }

    /// The name nodes within `within` whose text passes `keep`.
    fn names(&self, text: &str, within: Range<usize>, keep: impl Fn(&str) -> bool) -> Vec<Range<usize>> {
        let Some((grammar, tree)) = self.language().and_then(|l| l.queries()).zip(self.tree_for(text)) else {
            return vec![];
        };
        let query = &grammar.order;
        let names = query.capture_names();
        let mut cursor = QueryCursor::new();
        cursor.set_byte_range(within);
        let mut captures = cursor.captures(query, tree.root_node(), text.as_bytes());
        let mut found = vec![];
        while let Some((m, index)) = captures.next() {
            let capture = m.captures[*index];
            if names[capture.index as usize] == "definition.pattern" {
                continue; // a whole pattern; the names in it are captured one by one
            }
            let range = capture.node.byte_range();
            if keep(&text[range.clone()]) {
                found.push(range);
            }
        }
        found
    }
}

fn collect_functions(grammar: &Queries, node: Node, found: &mut Vec<Range<usize>>) {
    if grammar.function.contains(node.kind_id()) {
        let whole = node.parent().filter(|p| grammar.wrapper.contains(p.kind_id())).unwrap_or(node);
        found.push(whole.byte_range());
        return;
    }
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        collect_functions(grammar, child, found);
    }
}

#[cfg(test)]
mod tests {
    use crate::{Language, SyntaxTree};

    fn functions(text: &str, language: Language) -> Vec<&str> {
        SyntaxTree::new(text, Some(language)).functions(text).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn every_outermost_function_and_method_with_its_decorators() {
        let py = "import os\n\n@cache\ndef a(x):\n    def inner():\n        pass\n    return x\n\nclass C:\n    def m(self):\n        return 1\n\ny = a(2)\n";
        assert_eq!(
            functions(py, Language::Python),
            ["@cache\ndef a(x):\n    def inner():\n        pass\n    return x", "def m(self):\n        return 1"]
        );
        let rs = "struct S;\nimpl S {\n    fn m(&self) {}\n}\nfn f() { let g = || 1; }\n";
        assert_eq!(functions(rs, Language::Rust), ["fn m(&self) {}", "fn f() { let g = || 1; }"]);
        let ts = "class K { run(): void {} }\nfunction* gen() {}\nconst x = 1;\n";
        assert_eq!(functions(ts, Language::TypeScript), ["run(): void {}", "function* gen() {}"]);
        for language in Language::ALL {
            assert!(functions("", language).is_empty());
        }
    }

    #[test]
    fn occurrences_are_the_names_not_strings_or_comments() {
        let py = "def total(xs):\n    # total of xs\n    total = 0\n    for x in xs:\n        total += x\n    return total\n\nprint(total([1]), 'total')\n";
        let tree = SyntaxTree::new(py, Some(Language::Python));
        let found: Vec<usize> = tree.occurrences(py, "total").into_iter().map(|r| py[..r.start].lines().count()).collect();
        // The definition (line 1), the assignment, the update, the return and the call; not
        // the comment on line 2 nor the string.
        assert_eq!(found, [1, 3, 5, 6, 8]);
        assert!(tree.occurrences(py, "missing").is_empty());
        let at = py.find("print(total").unwrap() + 8;
        assert_eq!(tree.name_at(py, at).map(|r| &py[r]), Some("total"));
        assert_eq!(tree.name_at(py, py.find("# total").unwrap() + 3), None, "not in a comment");
    }
}
