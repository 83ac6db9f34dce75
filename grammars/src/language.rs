//! The languages Anneal understands, and what each grammar's node kinds mean to the planner.

use std::fmt;
use std::path::Path;

use tree_sitter::{Node, Parser, Tree};

/// A language with a tree-sitter grammar compiled into this crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Language {
    Rust,
    Python,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::Rust, Language::Python];

    /// From an LSP `languageId`; identifiers are case-sensitive in the protocol.
    pub fn from_language_id(id: &str) -> Option<Language> {
        match id {
            "rust" => Some(Language::Rust),
            "python" => Some(Language::Python),
            _ => None,
        }
    }

    /// From a file extension, for the command line and for clients that send no usable `languageId`.
    pub fn from_path(path: &Path) -> Option<Language> {
        let ext = path.extension()?.to_str()?;
        let is = |e: &str| ext.eq_ignore_ascii_case(e);
        if is("rs") {
            Some(Language::Rust)
        } else if is("py") || is("pyi") || is("pyw") {
            Some(Language::Python)
        } else {
            None
        }
    }

    /// The LSP `languageId`, also used in logs and snapshots.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
        }
    }

    pub(crate) fn tree_sitter(self) -> tree_sitter::Language {
        match self {
            Language::Rust => tree_sitter_rust::LANGUAGE.into(),
            Language::Python => tree_sitter_python::LANGUAGE.into(),
        }
    }

    /// `None` only when the grammar cannot be loaded (an ABI mismatch between tree-sitter and
    /// the grammar crate); callers fall back to plain lines rather than failing the edit.
    pub(crate) fn parse(self, text: &str) -> Option<Tree> {
        let mut parser = Parser::new();
        parser.set_language(&self.tree_sitter()).ok()?;
        parser.parse(text, None)
    }

    pub(crate) fn grammar(self) -> &'static Grammar {
        match self {
            Language::Rust => &RUST,
            Language::Python => &PYTHON,
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the planner needs to know about a grammar's node kinds.
pub(crate) struct Grammar {
    /// Kinds a rewrite may replace as a whole, whatever their parent.
    pub block_kinds: &'static [&'static str],
    /// Kinds whose named children are all block-level. This catches what a kind list misses,
    /// e.g. a Rust block's tail expression, which has no statement node around it.
    pub containers: &'static [&'static str],
    /// Kinds never cut into blocks, however long: splitting a string or comment would hand the
    /// model half a token.
    pub atomic_kinds: &'static [&'static str],
    /// Query naming definitions and references, see `queries/<lang>/order.scm`.
    pub order_query: &'static str,
    /// Inside a definition pattern, subtrees of these kinds use names rather than bind them
    /// (`self.x = …` binds no `x`; `a::B` binds nothing).
    pub pattern_skip: &'static [&'static str],
    /// Inside a definition pattern, the kinds that bind a name.
    pub pattern_names: &'static [&'static str],
    /// Nodes that bind names only inside themselves: a variable assigned in a function body is
    /// not what another function's use of that name means.
    pub local_scopes: &'static [&'static str],
    /// Kinds that wrap a block-level node and belong with it (a Python decorator list).
    pub wrappers: &'static [&'static str],
    /// Siblings that belong to the item after them (Rust attributes and doc comments).
    pub attaches_to_next: fn(Node) -> bool,
}

impl Grammar {
    pub fn is_atomic(&self, kind: &str) -> bool {
        self.atomic_kinds.contains(&kind)
    }
}

static RUST: Grammar = Grammar {
    block_kinds: &[
        "function_item",
        "function_signature_item",
        "impl_item",
        "struct_item",
        "enum_item",
        "union_item",
        "trait_item",
        "mod_item",
        "use_declaration",
        "const_item",
        "static_item",
        "type_item",
        "macro_definition",
        "macro_rule",
        "extern_crate_declaration",
        "foreign_mod_item",
        "associated_type",
        "attribute_item",
        "inner_attribute_item",
        "let_declaration",
        "expression_statement",
        "empty_statement",
        "match_arm",
        "field_declaration",
        "enum_variant",
        "field_initializer",
        "shorthand_field_initializer",
        "base_field_initializer",
        "line_comment",
        "block_comment",
    ],
    containers: &[
        "source_file",
        "block",
        "declaration_list",
        "field_declaration_list",
        "enum_variant_list",
        "match_block",
        "field_initializer_list",
    ],
    atomic_kinds: &[
        "string_literal",
        "raw_string_literal",
        "char_literal",
        "line_comment",
        "block_comment",
    ],
    order_query: include_str!("../queries/rust/order.scm"),
    pattern_skip: &["scoped_identifier", "scoped_type_identifier"],
    pattern_names: &["identifier", "shorthand_field_identifier"],
    local_scopes: &["block", "closure_expression"],
    wrappers: &[],
    attaches_to_next: rust_attaches_to_next,
};

fn rust_attaches_to_next(node: Node) -> bool {
    match node.kind() {
        "attribute_item" => true,
        "line_comment" | "block_comment" => node.child_by_field_name("outer").is_some(),
        _ => false,
    }
}

static PYTHON: Grammar = Grammar {
    block_kinds: &[
        "function_definition",
        "class_definition",
        "decorated_definition",
        "elif_clause",
        "else_clause",
        "except_clause",
        "finally_clause",
        "case_clause",
        "comment",
        // Every statement kind ends in `_statement`, but listing them keeps lookups plain.
        "expression_statement",
        "return_statement",
        "pass_statement",
        "break_statement",
        "continue_statement",
        "raise_statement",
        "assert_statement",
        "delete_statement",
        "global_statement",
        "nonlocal_statement",
        "import_statement",
        "import_from_statement",
        "future_import_statement",
        "type_alias_statement",
        "print_statement",
        "exec_statement",
        "if_statement",
        "for_statement",
        "while_statement",
        "try_statement",
        "with_statement",
        "match_statement",
    ],
    containers: &["module", "block"],
    atomic_kinds: &["string", "comment"],
    order_query: include_str!("../queries/python/order.scm"),
    pattern_skip: &["attribute", "subscript"],
    pattern_names: &["identifier"],
    local_scopes: &["function_definition", "lambda", "class_definition"],
    wrappers: &["decorated_definition"],
    attaches_to_next: |_| false,
};
