//! The languages Anneal understands: one table entry each, naming the tree-sitter grammar, how
//! a file is recognised, and the queries (`queries/<folder>/`) that tell the planner what its
//! node kinds mean.

use std::fmt;
use std::path::Path;

use std::time::{Duration, Instant};

use tree_sitter::{ParseOptions, ParseState, Parser, Point, Tree};

/// A language with a tree-sitter grammar compiled into this crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Language {
    Rust,
    Python,
    JavaScript,
    TypeScript,
    /// TypeScript with JSX: its own grammar, the TypeScript queries.
    Tsx,
    Go,
    Java,
    C,
    Cpp,
    Ruby,
    Bash,
}

/// One language: everything that differs between languages is here or in its queries.
pub(crate) struct LanguageSpec {
    pub language: Language,
    /// LSP `languageId`s, the first being [`Language::name`]. Identifiers are case-sensitive
    /// in the protocol; several editors name the same language differently.
    pub ids: &'static [&'static str],
    /// File extensions, matched without regard to case.
    pub extensions: &'static [&'static str],
    /// Whole file names for files that have no extension (`Rakefile`).
    pub file_names: &'static [&'static str],
    pub tree_sitter: fn() -> tree_sitter::Language,
    /// `queries/<folder>/blocks.scm`: which nodes are blocks, containers, atomic, attached.
    pub blocks_query: &'static str,
    /// `queries/<folder>/order.scm`: definitions and references for the decode order.
    pub order_query: &'static str,
}

/// The queries of folders under `queries/`, each adding to the ones before it (JavaScript's and
/// TypeScript's to the ECMAScript core, C++'s to C's: the grammars share most node kinds).
macro_rules! queries {
    ($($folder:literal),+) => {
        (
            concat!($(include_str!(concat!("../queries/", $folder, "/blocks.scm"))),+),
            concat!($(include_str!(concat!("../queries/", $folder, "/order.scm"))),+),
        )
    };
}

const fn spec(
    language: Language,
    ids: &'static [&'static str],
    extensions: &'static [&'static str],
    file_names: &'static [&'static str],
    tree_sitter: fn() -> tree_sitter::Language,
    (blocks_query, order_query): (&'static str, &'static str),
) -> LanguageSpec {
    LanguageSpec { language, ids, extensions, file_names, tree_sitter, blocks_query, order_query }
}

/// Indexed by `Language as usize` (a test checks it). Adding a language: a variant, a grammar
/// crate, a folder of queries and a row here.
#[rustfmt::skip]
pub(crate) static SPECS: [LanguageSpec; 11] = [
    spec(Language::Rust, &["rust"], &["rs"], &[],
        || tree_sitter_rust::LANGUAGE.into(), queries!("rust")),
    spec(Language::Python, &["python"], &["py", "pyi", "pyw"], &[],
        || tree_sitter_python::LANGUAGE.into(), queries!("python")),
    spec(Language::JavaScript, &["javascript", "javascriptreact"], &["js", "mjs", "cjs", "jsx"], &[],
        || tree_sitter_javascript::LANGUAGE.into(), queries!("ecmascript", "javascript")),
    spec(Language::TypeScript, &["typescript"], &["ts", "mts", "cts"], &[],
        || tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(), queries!("ecmascript", "typescript")),
    spec(Language::Tsx, &["typescriptreact", "tsx"], &["tsx"], &[],
        || tree_sitter_typescript::LANGUAGE_TSX.into(), queries!("ecmascript", "typescript")),
    spec(Language::Go, &["go"], &["go"], &[],
        || tree_sitter_go::LANGUAGE.into(), queries!("go")),
    spec(Language::Java, &["java"], &["java"], &[],
        || tree_sitter_java::LANGUAGE.into(), queries!("java")),
    // `.h` is C's: a C++ header parses as C well enough to plan, and C does not parse as C++.
    spec(Language::C, &["c"], &["c", "h"], &[],
        || tree_sitter_c::LANGUAGE.into(), queries!("c")),
    spec(Language::Cpp, &["cpp", "cuda-cpp"], &["cc", "cpp", "cxx", "c++", "hh", "hpp", "hxx", "h++", "ipp", "tcc"], &[],
        || tree_sitter_cpp::LANGUAGE.into(), queries!("c", "cpp")),
    spec(Language::Ruby, &["ruby"], &["rb", "rake", "gemspec", "ru"], &["Rakefile", "Gemfile"],
        || tree_sitter_ruby::LANGUAGE.into(), queries!("ruby")),
    // VS Code says `shellscript`, Neovim `sh` or `bash`.
    spec(Language::Bash, &["bash", "shellscript", "sh"], &["sh", "bash"], &[".bashrc", ".bash_profile", ".profile"],
        || tree_sitter_bash::LANGUAGE.into(), queries!("bash")),
];

impl Language {
    pub const ALL: [Language; 11] = [
        Language::Rust,
        Language::Python,
        Language::JavaScript,
        Language::TypeScript,
        Language::Tsx,
        Language::Go,
        Language::Java,
        Language::C,
        Language::Cpp,
        Language::Ruby,
        Language::Bash,
    ];

    pub(crate) fn spec(self) -> &'static LanguageSpec {
        &SPECS[self as usize]
    }

    /// From an LSP `languageId`.
    pub fn from_language_id(id: &str) -> Option<Language> {
        SPECS.iter().find(|s| s.ids.contains(&id)).map(|s| s.language)
    }

    /// From a file's extension or name, for the command line and for clients that send no
    /// usable `languageId`.
    pub fn from_path(path: &Path) -> Option<Language> {
        let name = path.file_name()?.to_str()?;
        if let Some(spec) = SPECS.iter().find(|s| s.file_names.contains(&name)) {
            return Some(spec.language);
        }
        let ext = path.extension()?.to_str()?;
        SPECS.iter().find(|s| s.extensions.iter().any(|e| e.eq_ignore_ascii_case(ext))).map(|s| s.language)
    }

    /// The first LSP `languageId`, also used in logs and snapshots.
    pub fn name(self) -> &'static str {
        self.spec().ids[0]
    }

    /// Whether indentation is syntax (Python): there the parse already follows it, and
    /// [`crate::SyntaxTree::misnested_lines`] has nothing to add.
    pub fn indentation_is_syntax(self) -> bool {
        self == Language::Python
    }

    pub(crate) fn tree_sitter(self) -> tree_sitter::Language {
        (self.spec().tree_sitter)()
    }

    /// A parser for this language; `None` only when the grammar cannot be loaded (an ABI
    /// mismatch between tree-sitter and the grammar crate), and callers then fall back to plain
    /// lines rather than failing the edit.
    pub(crate) fn parser(self) -> Option<Parser> {
        let mut parser = Parser::new();
        parser.set_language(&self.tree_sitter()).ok()?;
        Some(parser)
    }

    pub(crate) fn parse(self, text: &str) -> Option<Tree> {
        parse_within_budget(&mut self.parser()?, &mut |at, _| &text.as_bytes()[at.min(text.len())..], None)
    }
}

/// The longest one parse may run. tree-sitter's error recovery can run away on some broken
/// texts (seen in the planner's property test: an incremental reparse still going after ten
/// minutes and 4 GB), and one such text must not hang the server.
const PARSE_BUDGET: Duration = Duration::from_secs(2);

/// `parser.parse` of the text `read` returns, reusing `old`, within [`PARSE_BUDGET`]. An
/// incremental parse that runs out is retried from scratch; `None` when that runs out too, and
/// callers treat it as a text without a tree (plain lines, no syntax verdict).
pub(crate) fn parse_within_budget<T: AsRef<[u8]>>(
    parser: &mut Parser,
    read: &mut impl FnMut(usize, Point) -> T,
    old: Option<&Tree>,
) -> Option<Tree> {
    parse_within(parser, read, old, PARSE_BUDGET)
}

fn parse_within<T: AsRef<[u8]>>(
    parser: &mut Parser,
    read: &mut impl FnMut(usize, Point) -> T,
    old: Option<&Tree>,
    budget: Duration,
) -> Option<Tree> {
    match attempt(parser, read, old, budget) {
        None if old.is_some() => attempt(parser, read, None, budget),
        tree => tree,
    }
}

fn attempt<T: AsRef<[u8]>>(
    parser: &mut Parser,
    read: &mut impl FnMut(usize, Point) -> T,
    old: Option<&Tree>,
    budget: Duration,
) -> Option<Tree> {
    let started = Instant::now();
    let mut out_of_time = |_: &ParseState| started.elapsed() > budget;
    let tree = parser.parse_with_options(read, old, Some(ParseOptions::new().progress_callback(&mut out_of_time)));
    if tree.is_none() {
        // A cancelled parser would resume where it stopped on the next call.
        parser.reset();
    }
    tree
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parse_past_its_budget_is_cancelled_and_the_parser_stays_usable() {
        let broken: String = "fn f( { let x = [ (\"a\", '".repeat(40_000);
        let mut parser = Language::Rust.parser().unwrap();
        let started = Instant::now();
        let read = &mut |at: usize, _| &broken.as_bytes()[at.min(broken.len())..];
        assert!(parse_within(&mut parser, read, None, Duration::from_millis(1)).is_none());
        assert!(started.elapsed() < Duration::from_secs(2), "cancelled early: {:?}", started.elapsed());
        // The next parse starts afresh rather than resuming the cancelled one.
        let text = "fn main() {}\n";
        let tree = parse_within(&mut parser, &mut |at: usize, _| &text.as_bytes()[at.min(text.len())..], None, PARSE_BUDGET).unwrap();
        assert_eq!(tree.root_node().kind(), "source_file");
        assert!(!tree.root_node().has_error());
    }

    #[test]
    fn table_is_indexed_by_language() {
        for (i, spec) in SPECS.iter().enumerate() {
            assert_eq!(spec.language as usize, i);
            assert_eq!(Language::ALL[i], spec.language);
        }
    }

    #[test]
    fn detection_by_language_id() {
        for language in Language::ALL {
            assert_eq!(Language::from_language_id(language.name()), Some(language));
            assert_eq!(language.to_string(), language.name());
        }
        let cases = [
            ("rust", Some(Language::Rust)),
            ("typescriptreact", Some(Language::Tsx)),
            ("javascriptreact", Some(Language::JavaScript)),
            ("shellscript", Some(Language::Bash)),
            ("cpp", Some(Language::Cpp)),
            ("Rust", None),
            ("plaintext", None),
        ];
        for (id, language) in cases {
            assert_eq!(Language::from_language_id(id), language, "{id}");
        }
    }

    #[test]
    fn detection_by_path() {
        let cases = [
            ("src/main.rs", Some(Language::Rust)),
            ("a/b.py", Some(Language::Python)),
            ("stubs.pyi", Some(Language::Python)),
            ("LOUD.PY", Some(Language::Python)),
            ("app.jsx", Some(Language::JavaScript)),
            ("lib.mjs", Some(Language::JavaScript)),
            ("index.ts", Some(Language::TypeScript)),
            ("View.tsx", Some(Language::Tsx)),
            ("main.go", Some(Language::Go)),
            ("Main.java", Some(Language::Java)),
            ("util.c", Some(Language::C)),
            ("util.h", Some(Language::C)),
            ("util.hpp", Some(Language::Cpp)),
            ("x/y.cc", Some(Language::Cpp)),
            ("task.rb", Some(Language::Ruby)),
            ("proj/Rakefile", Some(Language::Ruby)),
            ("install.sh", Some(Language::Bash)),
            ("home/.bashrc", Some(Language::Bash)),
            ("Makefile", None),
            ("rs", None),
            ("x.rs.bak", None),
            ("notes.txt", None),
        ];
        for (path, language) in cases {
            assert_eq!(Language::from_path(Path::new(path)), language, "{path}");
        }
    }

    #[test]
    fn every_grammar_loads_and_parses() {
        for language in Language::ALL {
            let tree = language.parse("x").expect("grammar loads");
            assert_eq!(tree.root_node().end_byte(), 1, "{language}");
        }
    }
}
