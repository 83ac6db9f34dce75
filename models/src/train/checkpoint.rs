//! Training checkpoints: written atomically (a folder under a temporary name, renamed, then
//! `latest` swapped), so a run killed at any moment finds a complete one to resume from.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

use super::optim;
use crate::checkpoint::{CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};
use crate::config::Config;
use crate::tokenizer::Tokenizer;

/// Where a run stands; saved with every checkpoint.
#[derive(Serialize, Deserialize)]
pub(super) struct State {
    pub step: usize,
    pub tokens_seen: usize,
    pub elapsed_secs: f64,
}

pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Writes `dir/step-N` atomically and points `dir/latest` at it; keeps the two newest.
pub(super) fn save(
    out: &Path,
    step: usize,
    varmap: &VarMap,
    opt: &optim::AdamW,
    state: &State,
    config: &Config,
    tokenizer: &Tokenizer,
) -> Result<PathBuf> {
    let name = format!("step-{step:07}");
    let tmp = out.join(format!("{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    varmap.save(tmp.join(WEIGHTS_FILE))?;
    candle_core::safetensors::save(&opt.state_tensors(), tmp.join("optimizer.safetensors"))?;
    std::fs::write(tmp.join(CONFIG_FILE), serde_json::to_string_pretty(config)?)?;
    tokenizer.save(&tmp.join(TOKENIZER_FILE))?;
    std::fs::write(tmp.join("state.json"), serde_json::to_string(state)?)?;
    let done = out.join(&name);
    let _ = std::fs::remove_dir_all(&done);
    std::fs::rename(&tmp, &done)?;
    write_atomic(&out.join("latest"), name.as_bytes())?;
    let mut old: Vec<PathBuf> = std::fs::read_dir(out)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("step-") && !n.to_string_lossy().ends_with(".tmp")))
        .collect();
    old.sort();
    for p in old.iter().rev().skip(2) {
        let _ = std::fs::remove_dir_all(p);
    }
    Ok(done)
}

/// The newest complete checkpoint of a run, if any.
pub fn latest(out: &Path) -> Option<PathBuf> {
    let name = std::fs::read_to_string(out.join("latest")).ok()?;
    let dir = out.join(name.trim());
    dir.join("state.json").is_file().then_some(dir)
}
