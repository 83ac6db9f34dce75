//! A `SyntaxTree` kept up to date by edits plans exactly as a fresh parse of the same text does.

use std::ops::Range;

use anneal_grammars::{plan, Language, Point, SyntaxTree, TextEdit};

mod common;
use common::{load, BUDGET};

/// A deterministic sequence of small edits: insertions, deletions and replacements, some with
/// line breaks and astral characters, at char boundaries spread over the text.
fn edits(text: &str, count: usize) -> Vec<(Range<usize>, &'static str)> {
    const INSERTS: [&str; 6] = ["x", "\n", "", "(", "😀 ", "{\n}"];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut len = text.len();
    let mut out = Vec::new();
    for _ in 0..count {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let at = (state >> 33) as usize % (len + 1);
        let width = (state >> 20) as usize % 4;
        let insert = INSERTS[(state >> 8) as usize % INSERTS.len()];
        out.push((at..(at + width).min(len), insert));
        len = len - (at + width).min(len) + at + insert.len();
    }
    out
}

/// Moves `range` onto char boundaries of `text`.
fn on_boundaries(text: &str, range: Range<usize>) -> Range<usize> {
    let back = |mut i: usize| {
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    back(range.start)..back(range.end)
}

#[test]
fn edited_trees_plan_as_fresh_parses_do() {
    let fixtures = [
        "rust/whole_file.rs",
        "python/whole_file.py",
        "javascript/ms_whole_file.js",
        "typescript/toaster_jsx.tsx",
        "go/errors_across_functions.go",
        "java/SerialExecutor_whole_file.java",
        "c/language_across_functions.c",
        "cpp/options_whole_file.hpp",
        "ruby/string_utils_whole_file.rb",
        "bash/check_versions_order.sh",
    ];
    for name in fixtures {
        let language = Language::from_path(name.as_ref());
        let (mut text, _) = load(name);
        let mut tree = SyntaxTree::new(&text, language);
        for (step, (range, insert)) in edits(&text.clone(), 40).into_iter().enumerate() {
            let range = on_boundaries(&text, range.start.min(text.len())..range.end.min(text.len()));
            let edit = TextEdit::replace(&text, range.clone(), insert);
            text.replace_range(range.clone(), insert);
            tree.edit(&edit);
            tree.reparse(&text);
            let selection = range.start..range.start + insert.len();
            let kept = tree.plan(&text, selection.clone(), &BUDGET).unwrap();
            let fresh = plan(&text, selection, language, &BUDGET).unwrap();
            assert_eq!(kept, fresh, "{name}, edit {step}");
        }
    }
}

#[test]
fn a_rope_reparses_as_a_string_does() {
    let (text, selection) = load("rust/split_function.rs");
    let language = Some(Language::Rust);
    let mut whole = SyntaxTree::new(&text, language);
    let mut pieces = whole.clone();
    let edit = TextEdit::replace(&text, 0..0, "// lead\n");
    let edited = format!("// lead\n{text}");
    whole.edit(&edit);
    whole.reparse(&edited);
    // Chunks of 7 bytes (char boundaries do not matter to tree-sitter, which reads bytes).
    pieces.edit(&edit);
    pieces.reparse_with(edited.len(), |at| &edited.as_bytes()[at..(at + 7).min(edited.len())]);
    let selection = selection.start + 8..selection.end + 8;
    assert_eq!(whole.plan(&edited, selection.clone(), &BUDGET), pieces.plan(&edited, selection, &BUDGET));
}

#[test]
fn a_stale_tree_is_not_trusted() {
    let old = "fn a() {}\n";
    let new = "fn a() {}\nfn b() { a() }\n";
    let tree = SyntaxTree::new(old, Some(Language::Rust));
    // Not told of the edit: the text's length gives it away, and the plan is a fresh one.
    let selection = 0..new.len();
    assert_eq!(tree.plan(new, selection.clone(), &BUDGET), plan(new, selection, Some(Language::Rust), &BUDGET));
    // Edited but not reparsed: likewise.
    let mut edited = tree.clone();
    edited.edit(&TextEdit::replace(old, old.len()..old.len(), "fn b() { a() }\n"));
    assert_eq!(edited.syntax_errors(new, 0..new.len()), 0);
    assert_eq!(edited.plan(new, 10..12, &BUDGET).unwrap().span, 10..new.len());
}

#[test]
fn edits_carry_points() {
    let text = "ab\ncd😀\nef";
    assert_eq!(Point::of(text, 0), Point { row: 0, column: 0 });
    assert_eq!(Point::of(text, 5), Point { row: 1, column: 2 });
    assert_eq!(Point::of(text, text.len()), Point { row: 2, column: 2 });
    let edit = TextEdit::replace(text, 4..9, "x\nyz");
    assert_eq!((edit.start, edit.old_end, edit.new_end), (4, 9, 8));
    assert_eq!(edit.start_point, Point { row: 1, column: 1 });
    assert_eq!(edit.old_end_point, Point { row: 1, column: 6 });
    assert_eq!(edit.new_end_point, Point { row: 2, column: 2 });
    let same_line = TextEdit::replace(text, 1..1, "xyz");
    assert_eq!(same_line.new_end_point, Point { row: 0, column: 4 });
}

#[test]
fn verify_sees_errors_an_edit_causes_after_it() {
    // An unclosed `(` before a comment: tree-sitter keeps the comment's own lines clean and
    // reports the error in the class after it.
    let (text, _) = load("java/SerialExecutor_whole_file.java");
    let comment = text.find("/**").unwrap()..text.find(" */").unwrap() + 4;
    let broken = format!("({}", &text[comment.clone()]);
    let tree = SyntaxTree::new(&text, Some(Language::Java));
    let verdict = tree.verify(&text, comment, &broken).unwrap();
    assert!(verdict.adds_errors(), "{verdict:?}");
    assert_eq!(SyntaxTree::new(&text, None).verify(&text, 0..0, "("), None);
}
