//! Fixtures shared by the integration tests: texts whose selection is marked with `«` and `»`.

use std::ops::Range;
use std::path::{Path, PathBuf};

use anneal_grammars::BlockBudget;

pub fn words(s: &str) -> usize {
    s.split_whitespace().count()
}

pub const BUDGET: BlockBudget<'static> = BlockBudget { max_len: 40, measure: &words };

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixture's text without markers, and the marked selection.
pub fn load(name: &str) -> (String, Range<usize>) {
    let path = fixtures().join(name);
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Fixtures are stored with LF so that git settings cannot change them; CRLF is made here.
    let raw = if name.contains("crlf") { raw.replace('\n', "\r\n") } else { raw };
    let start = raw.find('«').expect("fixture marks a selection with «");
    let raw = raw.replacen('«', "", 1);
    let end = raw.find('»').expect("fixture marks a selection with »");
    (raw.replacen('»', "", 1), start..end)
}

/// Every fixture, as `folder/file`, sorted.
#[allow(dead_code)] // Not every test file that includes this module lists fixtures.
pub fn all() -> Vec<String> {
    let mut names = Vec::new();
    for folder in std::fs::read_dir(fixtures()).expect("fixtures folder") {
        let folder = folder.expect("readable entry").path();
        if !folder.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&folder).expect("readable folder") {
            let file = file.expect("readable entry").path();
            let rel = file.strip_prefix(fixtures()).expect("below fixtures");
            names.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    names.sort();
    names
}
