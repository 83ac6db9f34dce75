//! One JSON line per sample: what was generated, how its tests went, and what it cost. The
//! file is also the run's memory: a rerun with the same output skips the samples it holds.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use super::exec::Verdict;
use super::Lang;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CandidateResult {
    pub verdict: Verdict,
    pub exact_match: bool,
    /// No syntax error beyond the reference's; `None` without a grammar for the language.
    pub parse_valid: Option<bool>,
    pub forward_passes: usize,
    /// Canvas positions decoded.
    pub generated_tokens: usize,
    pub model_seconds: f64,
    pub exec_seconds: f64,
    /// Why the engine returned no edit (the candidate is then the text before), if it did not.
    pub engine_error: Option<String>,
    pub text: String,
    pub output_tail: String,
}

/// Which run a results file belongs to; a rerun must match it to resume.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunKey {
    pub bench: String,
    pub model: String,
    /// Where candidates come from: `model`, or `reference` / `before` for the harness's own
    /// checks.
    pub source: String,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    #[serde(flatten)]
    pub key: RunKey,
    pub id: String,
    pub problem: String,
    pub group: String,
    pub lang: Lang,
    pub candidates: Vec<CandidateResult>,
}

impl Record {
    pub fn passed(&self) -> usize {
        self.candidates.iter().filter(|c| c.verdict == Verdict::Passed).count()
    }
}

/// The records already in `path` (none if it does not exist), by sample id; the last line of
/// an id wins. A cut-off last line (a killed run) is dropped; anything else malformed, or a
/// record of another run, is an error rather than a silently mixed result.
pub fn load(path: &Path, key: &RunKey) -> Result<BTreeMap<String, Record>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut records = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {
                tracing::warn!("{}:{}: dropping a cut-off last line", path.display(), i + 1);
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("{}:{}: not a result line", path.display(), i + 1)),
        };
        anyhow::ensure!(
            record.key == *key,
            "{} holds results of another run ({} on {} with {} candidates); pass another --out",
            path.display(),
            record.key.bench,
            record.key.model,
            record.key.source
        );
        records.insert(record.id.clone(), record);
    }
    Ok(records)
}

/// Appends one record as a line and flushes it, so a killed run loses at most that sample.
pub fn append(file: &mut std::fs::File, record: &Record) -> Result<()> {
    let mut line = serde_json::to_string(record)?;
    line.push('\n');
    file.write_all(line.as_bytes())?;
    file.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, key: &RunKey) -> Record {
        let c = CandidateResult {
            verdict: Verdict::Passed,
            exact_match: true,
            parse_valid: Some(true),
            forward_passes: 3,
            generated_tokens: 10,
            model_seconds: 0.5,
            exec_seconds: 0.1,
            engine_error: None,
            text: "x = 1\n".into(),
            output_tail: String::new(),
        };
        Record { key: key.clone(), id: id.into(), problem: id.into(), group: "g".into(), lang: Lang::Python, candidates: vec![c] }
    }

    #[test]
    fn records_round_trip_and_a_cut_off_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let key = RunKey { bench: "b".into(), model: "default".into(), source: "model".into() };
        assert!(load(&path, &key).unwrap().is_empty());
        let mut f = std::fs::File::create(&path).unwrap();
        append(&mut f, &record("a", &key)).unwrap();
        append(&mut f, &record("b", &key)).unwrap();
        f.write_all(b"{\"bench\": \"b\", \"mod").unwrap();
        let loaded = load(&path, &key).unwrap();
        assert_eq!(loaded.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(loaded["a"], record("a", &key));
        let other = RunKey { model: "other".into(), ..key.clone() };
        assert!(format!("{:#}", load(&path, &other).unwrap_err()).contains("another run"));
        std::fs::write(&path, "not json\n{}\n").unwrap();
        assert!(format!("{:#}", load(&path, &key).unwrap_err()).contains("r.jsonl:1"));
    }
}
