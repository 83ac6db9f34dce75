//! Syntax verification over every fixture, in every language: a plan's span replaced by itself
//! adds no error, replaced by its text with an unclosed `(` it does, and the fixtures that
//! hold a syntax error show it in their span.

use std::collections::HashSet;
use std::path::Path;

use anneal_grammars::{plan, syntax_errors, verify, Language};

mod common;
use common::{all, load, BUDGET};

/// The span's text with `(` before its first code: unbalanced in every grammar here.
fn unclosed(text: &str) -> String {
    let at = text.len() - text.trim_start().len();
    format!("{}({}", &text[..at], &text[at..])
}

#[test]
fn every_language_has_fixtures() {
    let covered: HashSet<Language> = all().iter().filter_map(|name| Language::from_path(Path::new(name))).collect();
    for language in Language::ALL {
        assert!(covered.contains(&language), "no fixture in {language}");
    }
}

#[test]
fn verify_judges_every_fixture() {
    let mut checked = 0;
    for name in all() {
        let Some(language) = Language::from_path(Path::new(&name)) else {
            continue;
        };
        let (text, selection) = load(&name);
        let span = plan(&text, selection, Some(language), &BUDGET).unwrap().span;
        let original = &text[span.clone()];
        let same = verify(&text, span.clone(), original, language);
        assert_eq!(same.errors_before, same.errors_after, "{name}: {same:?}");
        assert_eq!(same.errors_before, syntax_errors(&text, span.clone(), language));
        if name.contains("syntax_error") {
            assert!(same.errors_before > 0, "{name}: the error is not in the span");
        } else {
            // Not necessarily clean before: pybind11's namespace macros end without `;`.
            let broken = verify(&text, span, &unclosed(original), language);
            assert!(broken.adds_errors(), "{name}: {broken:?}");
        }
        checked += 1;
    }
    assert!(checked >= 50, "only {checked} fixtures checked");
}
