//! Snapshot tests of `plan` over fixtures whose selection is marked inline with `«` and `»`.
//!
//! A snapshot shows the whole text with the span as `⟦ ⟧` and block boundaries as `│`
//! (carriage returns as `␍`), then the blocks, the decode order and its edges. Every plan is
//! also checked against the invariants `plan` promises, for the marked selection and for many
//! others over the same text.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;

use anneal_grammars::{plan, Language, Plan};

mod common;
use common::{load, words, BUDGET};

fn check_invariants(text: &str, selection: &Range<usize>, plan: &Plan) {
    let span = &plan.span;
    assert!(span.start <= selection.start && selection.end <= span.end, "span {span:?} misses {selection:?}");
    assert!(span.start == 0 || text.as_bytes()[span.start - 1] == b'\n', "span {span:?} starts mid-line");
    assert!(span.end == text.len() || text.as_bytes()[span.end - 1] == b'\n', "span {span:?} ends mid-line");
    assert_eq!(plan.blocks.is_empty(), span.is_empty());
    let mut at = span.start;
    for block in &plan.blocks {
        assert_eq!(block.range.start, at, "blocks not contiguous: {:?}", plan.blocks);
        assert!(!block.range.is_empty(), "empty block in {:?}", plan.blocks);
        assert!(text.is_char_boundary(block.range.end));
        at = block.range.end;
    }
    assert_eq!(at, span.end, "blocks do not cover the span");
    let mut order = plan.order.clone();
    order.sort_unstable();
    assert_eq!(order, (0..plan.blocks.len()).collect::<Vec<_>>(), "order is no permutation");
    for edge in &plan.edges {
        assert!(edge.before != edge.after && edge.before.max(edge.after) < plan.blocks.len());
    }
}

fn render(text: &str, selection: &Range<usize>, language: Option<Language>, plan: &Plan) -> String {
    let mut out = String::new();
    let name = language.map_or("none", Language::name);
    writeln!(out, "language: {name}, selection: {selection:?}, span: {:?}", plan.span).unwrap();
    writeln!(out, "---").unwrap();
    let cuts: Vec<usize> = plan.blocks.iter().skip(1).map(|b| b.range.start).collect();
    let marks = |i: usize, out: &mut String| {
        if i == plan.span.end && !plan.span.is_empty() {
            out.push('⟧');
        }
        if i == plan.span.start {
            out.push('⟦');
        }
        if cuts.contains(&i) {
            out.push('│');
        }
        if i == plan.span.end && plan.span.is_empty() {
            out.push('⟧');
        }
    };
    for (i, c) in text.char_indices() {
        marks(i, &mut out);
        out.push(if c == '\r' { '␍' } else { c });
    }
    marks(text.len(), &mut out);
    writeln!(out, "\n---").unwrap();
    for (i, block) in plan.blocks.iter().enumerate() {
        writeln!(out, "block {i}: {:?} {} ({} words)", block.range, block.kind, words(&text[block.range.clone()])).unwrap();
    }
    writeln!(out, "order: {:?}", plan.order).unwrap();
    for edge in &plan.edges {
        writeln!(out, "edge {} -> {}: {}", edge.before, edge.after, edge.reason).unwrap();
    }
    out
}

/// A deterministic spread of selections: every cursor position, and pseudo-random ranges.
fn selections(text: &str) -> Vec<Range<usize>> {
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
    let mut out: Vec<Range<usize>> = bounds.iter().map(|&b| b..b).collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..200 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let a = bounds[(state >> 33) as usize % bounds.len()];
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let b = bounds[(state >> 33) as usize % bounds.len()];
        out.push(a.min(b)..a.max(b));
    }
    out
}

fn snapshot(name: &str) -> String {
    let (text, selection) = load(name);
    let language = Language::from_path(Path::new(name));
    let result = plan(&text, selection.clone(), language, &BUDGET).unwrap();
    check_invariants(&text, &selection, &result);
    for other in selections(&text) {
        let other_plan = plan(&text, other.clone(), language, &BUDGET).unwrap();
        check_invariants(&text, &other, &other_plan);
    }
    render(&text, &selection, language, &result)
}

macro_rules! fixtures {
    ($($test:ident => $file:literal,)*) => {$(
        #[test]
        fn $test() {
            insta::assert_snapshot!(stringify!($test), snapshot($file));
        }
    )*};
}

fixtures! {
    rust_inside_statement => "rust/inside_statement.rs",
    rust_across_functions => "rust/across_functions.rs",
    rust_cursor => "rust/cursor.rs",
    rust_cursor_in_indent => "rust/cursor_in_indent.rs",
    rust_cursor_blank_line => "rust/cursor_blank_line.rs",
    rust_cursor_at_eof => "rust/cursor_at_eof.rs",
    rust_whole_file => "rust/whole_file.rs",
    rust_from_string => "rust/from_string.rs",
    rust_from_comment => "rust/from_comment.rs",
    rust_syntax_error => "rust/syntax_error.rs",
    rust_crlf => "rust/crlf.rs",
    rust_unicode => "rust/unicode.rs",
    rust_split_function => "rust/split_function.rs",
    rust_order => "rust/order.rs",
    rust_attributes => "rust/attributes.rs",
    rust_shared_line => "rust/shared_line.rs",
    rust_fields => "rust/fields.rs",
    python_inside_statement => "python/inside_statement.py",
    python_across_functions => "python/across_functions.py",
    python_cursor => "python/cursor.py",
    python_cursor_in_indent => "python/cursor_in_indent.py",
    python_elif_condition => "python/elif_condition.py",
    python_decorator => "python/decorator.py",
    python_decorator_name => "python/decorator_name.py",
    python_whole_file => "python/whole_file.py",
    python_from_string => "python/from_string.py",
    python_from_comment => "python/from_comment.py",
    python_syntax_error => "python/syntax_error.py",
    python_crlf => "python/crlf.py",
    python_unicode => "python/unicode.py",
    python_split_function => "python/split_function.py",
    python_order => "python/order.py",
    python_shared_line => "python/shared_line.py",
    text_lines => "text/notes.txt",
    javascript_ms_cursor_in_switch => "javascript/ms_cursor_in_switch.js",
    javascript_ms_format => "javascript/ms_format.js",
    javascript_ms_from_comment_crlf => "javascript/ms_from_comment_crlf.js",
    javascript_ms_unicode => "javascript/ms_unicode.js",
    javascript_ms_whole_file => "javascript/ms_whole_file.js",
    typescript_invariant_from_string => "typescript/invariant_from_string.ts",
    typescript_invariant_whole_file => "typescript/invariant_whole_file.ts",
    typescript_toast_syntax_error => "typescript/toast_syntax_error.ts",
    typescript_toaster_jsx => "typescript/toaster_jsx.tsx",
    typescript_types_order => "typescript/types_order.ts",
    typescript_utils_cursor => "typescript/utils_cursor.ts",
    go_errors_across_functions => "go/errors_across_functions.go",
    go_format_from_string_crlf => "go/format_from_string_crlf.go",
    go_syntax_error => "go/syntax_error.go",
    java_serialexecutor_cursor => "java/SerialExecutor_cursor.java",
    java_serialexecutor_in_comment_crlf => "java/SerialExecutor_in_comment_crlf.java",
    java_serialexecutor_syntax_error => "java/SerialExecutor_syntax_error.java",
    java_serialexecutor_whole_file => "java/SerialExecutor_whole_file.java",
    c_language_across_functions => "c/language_across_functions.c",
    c_language_from_string => "c/language_from_string.c",
    c_language_syntax_error => "c/language_syntax_error.c",
    cpp_options_cursor => "cpp/options_cursor.hpp",
    cpp_options_from_comment => "cpp/options_from_comment.hpp",
    cpp_options_whole_file => "cpp/options_whole_file.hpp",
    ruby_presenter_cursor => "ruby/presenter_cursor.rb",
    ruby_string_utils_from_string => "ruby/string_utils_from_string.rb",
    ruby_string_utils_whole_file => "ruby/string_utils_whole_file.rb",
    bash_check_versions_cursor => "bash/check_versions_cursor.sh",
    bash_check_versions_order => "bash/check_versions_order.sh",
    text_yaml_by_indentation => "text/ci_workflow.yml",
}

#[test]
fn languages_agree_with_fixtures() {
    assert_eq!(Language::from_path(Path::new("rust/crlf.rs")), Some(Language::Rust));
    assert_eq!(Language::from_path(Path::new("text/notes.txt")), None);
}
