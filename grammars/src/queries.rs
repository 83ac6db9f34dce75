//! What a language's queries (`queries/<lang>/*.scm`) tell the planner, compiled once per
//! language.
//!
//! A query file mixes two sorts of patterns. Most name node kinds, `(kind) @set` or
//! `[(a) (b)] @set`, and only say which set a kind belongs to; they are read into [`KindSet`]s,
//! so that asking "is this node a block?" costs an array lookup rather than a query run, and
//! are then disabled. The rest (`@attach`, and the definitions and references of `order.scm`)
//! are structural and run as tree-sitter queries. Either way tree-sitter compiles the whole
//! file, so a misspelt kind fails to load (and a test loads every language).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::OnceLock;

use tree_sitter::{Node, Query, QueryCursor, StreamingIterator};

use crate::language::{Language, SPECS};

/// A set of named node kinds of one grammar, indexed by kind id. A name can stand for several
/// ids (tree-sitter aliases), so the set holds every id that has the name.
#[derive(Default)]
pub(crate) struct KindSet(Vec<bool>);

impl KindSet {
    fn new(language: &tree_sitter::Language, names: &[&str]) -> KindSet {
        let ids = 0..language.node_kind_count() as u16;
        KindSet(
            ids.map(|id| language.node_kind_is_named(id) && language.node_kind_for_id(id).is_some_and(|n| names.contains(&n))).collect(),
        )
    }

    pub fn contains(&self, kind_id: u16) -> bool {
        self.0.get(usize::from(kind_id)).copied().unwrap_or(false)
    }
}

/// Captures of `blocks.scm` that name kind sets.
const BLOCK_SETS: [&str; 5] = ["block", "container", "atomic", "wrapper", "function"];
/// Captures of `order.scm` that name kind sets.
const ORDER_SETS: [&str; 3] = ["scope", "pattern.name", "pattern.skip"];
/// Structural captures, which run as queries.
const BLOCK_CAPTURES: [&str; 1] = ["attach"];
const ORDER_CAPTURES: [&str; 4] = ["definition", "definition.pattern", "reference", "ignore"];

pub(crate) struct Queries {
    /// Kinds a rewrite may replace as a whole, whatever their parent.
    pub block: KindSet,
    /// Kinds whose named children are all block-level. This catches what a kind list misses,
    /// e.g. a Rust block's tail expression, which has no statement node around it.
    pub container: KindSet,
    /// Kinds never cut into blocks, however long: splitting a string or comment would hand the
    /// model half a token.
    pub atomic: KindSet,
    /// Kinds that wrap a block-level node and belong with it (a Python decorator list).
    pub wrapper: KindSet,
    /// Functions and methods, the regions of *Apply to every function*.
    pub function: KindSet,
    /// `@attach`: siblings that belong to the item after them (attributes, doc comments).
    attach: Query,
    /// Definitions and references, see `order.rs`.
    pub order: Query,
    /// Nodes that bind names only inside themselves: a variable assigned in a function body is
    /// not what another function's use of that name means.
    pub scope: KindSet,
    /// Inside a definition pattern, the kinds that bind a name.
    pub pattern_name: KindSet,
    /// Inside a definition pattern, subtrees of these kinds use names rather than bind them
    /// (`self.x = …` binds no `x`; `a::B` binds nothing).
    pub pattern_skip: KindSet,
}

/// A query with its kind-set patterns read out and disabled.
struct Split {
    query: Query,
    sets: HashMap<String, Vec<String>>,
}

/// The kinds of a pattern shaped `(a) @set` or `[(a) (b) …] @set`, or `None` for any other
/// shape. Comments are stripped; a pattern's text is its own, from tree-sitter's offsets.
fn pattern_kinds(pattern: &str) -> Option<Vec<String>> {
    let code: String = pattern.lines().map(|l| l.split(';').next().unwrap_or("")).collect::<Vec<_>>().join(" ");
    let body = code.trim().rsplit_once('@')?.0.trim();
    let body = match body.strip_prefix('[') {
        Some(rest) => rest.strip_suffix(']')?,
        None => body,
    };
    let mut kinds = Vec::new();
    for part in body.split(')') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let kind = part.strip_prefix('(')?.trim();
        let plain = |c: char| c.is_ascii_alphanumeric() || c == '_';
        if kind.is_empty() || !kind.chars().all(plain) {
            return None;
        }
        kinds.push(kind.to_owned());
    }
    (!kinds.is_empty()).then_some(kinds)
}

fn split(language: &tree_sitter::Language, source: &str, sets: &[&str], structural: &[&str]) -> Result<Split, String> {
    let mut query = Query::new(language, source).map_err(|e| e.to_string())?;
    let names: Vec<String> = query.capture_names().iter().map(|n| n.to_string()).collect();
    if let Some(unknown) = names.iter().find(|n| !sets.contains(&n.as_str()) && !structural.contains(&n.as_str())) {
        return Err(format!("unknown capture @{unknown}"));
    }
    let mut read: HashMap<String, Vec<String>> = HashMap::new();
    for pattern in 0..query.pattern_count() {
        let captured: Vec<&str> = query
            .capture_quantifiers(pattern)
            .iter()
            .enumerate()
            .filter(|(_, q)| **q != tree_sitter::CaptureQuantifier::Zero)
            .map(|(i, _)| names[i].as_str())
            .collect();
        let [set] = captured[..] else { continue };
        if !sets.contains(&set) {
            continue;
        }
        let text = &source[query.start_byte_for_pattern(pattern)..query.end_byte_for_pattern(pattern)];
        let kinds = pattern_kinds(text).ok_or_else(|| format!("@{set} takes `(kind)` or `[(kind) …]`, not {text:?}"))?;
        read.entry(set.to_owned()).or_default().extend(kinds);
        query.disable_pattern(pattern);
    }
    Ok(Split { query, sets: read })
}

impl Queries {
    fn load(language: Language) -> Result<Queries, String> {
        let spec = language.spec();
        let ts = language.tree_sitter();
        let blocks = split(&ts, spec.blocks_query, &BLOCK_SETS, &BLOCK_CAPTURES).map_err(|e| format!("{language} blocks.scm: {e}"))?;
        let order = split(&ts, spec.order_query, &ORDER_SETS, &ORDER_CAPTURES).map_err(|e| format!("{language} order.scm: {e}"))?;
        let set = |split: &Split, name: &str| {
            let names: Vec<&str> = split.sets.get(name).map_or(Vec::new(), |v| v.iter().map(String::as_str).collect());
            KindSet::new(&ts, &names)
        };
        Ok(Queries {
            block: set(&blocks, "block"),
            container: set(&blocks, "container"),
            atomic: set(&blocks, "atomic"),
            wrapper: set(&blocks, "wrapper"),
            function: set(&blocks, "function"),
            scope: set(&order, "scope"),
            pattern_name: set(&order, "pattern.name"),
            pattern_skip: set(&order, "pattern.skip"),
            attach: blocks.query,
            order: order.query,
        })
    }

    /// The grammar of `language`, loaded on first use. The queries ship with the crate and a
    /// test loads them all, so a failure here means a grammar upgrade broke them; planning is
    /// then done by lines rather than failing the edit.
    pub fn get(language: Language) -> Option<&'static Queries> {
        static LOADED: [OnceLock<Option<Queries>>; SPECS.len()] = [const { OnceLock::new() }; SPECS.len()];
        LOADED[language as usize]
            .get_or_init(|| {
                let grammar = Queries::load(language);
                debug_assert!(grammar.is_ok(), "{:?}", grammar.as_ref().err());
                grammar.ok()
            })
            .as_ref()
    }

    pub fn is_atomic(&self, node: Node) -> bool {
        self.atomic.contains(node.kind_id())
    }

    /// Whether `@attach` says that `node` belongs to `item`, a later sibling. The query runs
    /// from `node` to the end of `item`, so a pattern may name the item (`(comment)+ @attach .
    /// (function_declaration)`).
    pub fn attaches(&self, node: Node, item: Node, text: &str) -> bool {
        let range: Range<usize> = node.start_byte()..item.end_byte();
        let mut cursor = QueryCursor::new();
        cursor.set_byte_range(range);
        let parent = item.parent().unwrap_or(item);
        let mut captures = cursor.captures(&self.attach, parent, text.as_bytes());
        while let Some((m, index)) = captures.next() {
            if m.captures[*index].node.id() == node.id() {
                return true;
            }
        }
        false
    }
}

impl Language {
    /// What the queries say about this language; `None` when they do not load (see
    /// [`Queries::get`]), and planning then falls back to lines.
    pub(crate) fn queries(self) -> Option<&'static Queries> {
        Queries::get(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_loads_its_queries() {
        for language in Language::ALL {
            if let Err(e) = Queries::load(language) {
                panic!("{e}");
            }
        }
    }

    #[test]
    fn reads_kind_patterns() {
        let kinds = |p: &str| pattern_kinds(p);
        assert_eq!(kinds("(a) @block"), Some(vec!["a".to_owned()]));
        assert_eq!(kinds("[\n  (a) ; why\n  (b_c)\n] @block"), Some(vec!["a".to_owned(), "b_c".to_owned()]));
        assert_eq!(kinds("(a b: (c)) @block"), None);
        assert_eq!(kinds("(a (b)) @block"), None);
        assert_eq!(kinds("\"fn\" @block"), None);
        assert_eq!(kinds("[] @block"), None);
    }

    #[test]
    fn rejects_unknown_captures_and_structural_sets() {
        let rust = Language::Rust.tree_sitter();
        let err = |source: &str| split(&rust, source, &BLOCK_SETS, &BLOCK_CAPTURES).err().unwrap_or_default();
        assert!(err("(identifier) @blok").contains("unknown capture @blok"));
        assert!(err("(call_expression function: (identifier)) @block").contains("@block takes"));
        assert!(err("(identifier) @block").is_empty());
    }

    #[test]
    fn kind_sets_hold_their_kinds_only() {
        let grammar = Queries::get(Language::Rust).unwrap();
        let ts = Language::Rust.tree_sitter();
        let id = |kind: &str| ts.id_for_node_kind(kind, true);
        assert!(grammar.block.contains(id("function_item")));
        assert!(!grammar.block.contains(id("identifier")));
        assert!(grammar.atomic.contains(id("string_literal")));
        assert!(grammar.container.contains(id("block")));
        assert!(!grammar.container.contains(u16::MAX));
    }
}
