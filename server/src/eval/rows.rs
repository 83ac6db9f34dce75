//! Reading benchmark files: JSON lines, plain or gzipped, each row into a typed struct, with
//! errors that name the file and line.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;

/// The text of a benchmark file; `.gz` files are decompressed. `what` names the benchmark in
/// the error for a missing file.
pub fn read_text(path: &Path, what: &str) -> Result<String> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the {what} file {} (pass its path with --data; see docs/evaluation.md)", path.display()))?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .with_context(|| format!("{} is not a gzipped UTF-8 text file", path.display()))?;
        Ok(text)
    } else {
        String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", path.display()))
    }
}

/// Every non-blank line of a JSON-lines file as a `T`. A malformed row is an error that
/// names its line, not a silently smaller benchmark.
pub fn read_rows<T: DeserializeOwned>(path: &Path, what: &str) -> Result<Vec<T>> {
    let text = read_text(path, what)?;
    let mut rows = vec![];
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row = serde_json::from_str(line).with_context(|| format!("{}:{}: not a {what} row", path.display(), i + 1))?;
        rows.push(row);
    }
    anyhow::ensure!(!rows.is_empty(), "{} holds no {what} rows", path.display());
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Row {
        id: u32,
        text: String,
    }

    #[test]
    fn plain_and_gzipped_rows_read_alike() {
        let dir = tempfile::tempdir().unwrap();
        let body = "{\"id\": 1, \"text\": \"a\"}\n\n{\"id\": 2, \"text\": \"b\"}\n";
        std::fs::write(dir.path().join("rows.jsonl"), body).unwrap();
        let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(dir.path().join("rows.jsonl.gz")).unwrap(), Default::default());
        gz.write_all(body.as_bytes()).unwrap();
        gz.finish().unwrap();
        let plain: Vec<Row> = read_rows(&dir.path().join("rows.jsonl"), "test").unwrap();
        let gzipped: Vec<Row> = read_rows(&dir.path().join("rows.jsonl.gz"), "test").unwrap();
        assert_eq!(plain, vec![Row { id: 1, text: "a".into() }, Row { id: 2, text: "b".into() }]);
        assert_eq!(plain, gzipped);
    }

    #[test]
    fn a_missing_file_or_a_malformed_row_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = read_rows::<Row>(&dir.path().join("nope.jsonl"), "CanItEdit").unwrap_err();
        assert!(format!("{missing:#}").contains("cannot read the CanItEdit file"), "{missing:#}");
        std::fs::write(dir.path().join("bad.jsonl"), "{\"id\": 1, \"text\": \"a\"}\n{\"id\": \"x\"}\n").unwrap();
        let bad = read_rows::<Row>(&dir.path().join("bad.jsonl"), "CanItEdit").unwrap_err();
        assert!(format!("{bad:#}").contains("bad.jsonl:2: not a CanItEdit row"), "{bad:#}");
        std::fs::write(dir.path().join("empty.jsonl"), "\n").unwrap();
        assert!(read_rows::<Row>(&dir.path().join("empty.jsonl"), "CanItEdit").is_err());
    }
}
