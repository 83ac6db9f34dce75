//! Checkpoints by Hugging Face id, from the local cache that the Hugging Face tools fill
//! (`huggingface-cli download ORG/NAME`): `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
//! `~/.cache/huggingface/hub`, laid out as `models--ORG--NAME/refs/REVISION` (a commit hash)
//! and `models--ORG--NAME/snapshots/HASH/` (the files). Reading the cache needs no network.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The hub cache folder, from the environment as the Hugging Face tools read it.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("HF_HUB_CACHE").or_else(|| var("HF_HOME").map(|h| h.join("hub"))).or_else(|| var("HOME").map(|h| h.join(".cache/huggingface/hub")))
}

/// Whether `spec` reads as a model id (`ORG/NAME`, optionally `@REVISION`) rather than a path.
pub fn is_model_id(spec: &str) -> bool {
    let id = spec.split_once('@').map_or(spec, |(id, _)| id);
    let part = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) && !s.starts_with('.');
    matches!(id.split_once('/'), Some((org, name)) if part(org) && part(name))
}

/// The snapshot folder of `spec` (`ORG/NAME[@REVISION]`, revision `main` by default) in `cache`.
pub fn snapshot(cache: &Path, spec: &str) -> Result<PathBuf> {
    let (id, revision) = spec.split_once('@').unwrap_or((spec, "main"));
    let repo = cache.join(format!("models--{}", id.replace('/', "--")));
    if !repo.is_dir() {
        bail!(
            "{id} is not in the Hugging Face cache ({}); fetch it with `huggingface-cli download {id}` or give a checkpoint folder",
            cache.display()
        );
    }
    // A revision is a ref (`main`) naming a commit, or a commit itself.
    let commit = match std::fs::read_to_string(repo.join("refs").join(revision)) {
        Ok(hash) => hash.trim().to_string(),
        Err(_) => revision.to_string(),
    };
    let dir = repo.join("snapshots").join(&commit);
    if !dir.is_dir() {
        bail!("{id}: revision `{revision}` is not in the cache ({} is missing)", dir.display());
    }
    Ok(dir)
}

/// The models in `cache`: (id, snapshot folder of `main`, or of the only snapshot).
pub fn list(cache: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut found = vec![];
    let entries = match std::fs::read_dir(cache) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", cache.display())),
    };
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().to_string();
        let Some(id) = name.strip_prefix("models--").map(|s| s.replacen("--", "/", 1)) else { continue };
        let dir = snapshot(cache, &id).or_else(|_| {
            let mut snaps = std::fs::read_dir(cache.join(&name).join("snapshots"))?.filter_map(|e| e.ok()).map(|e| e.path());
            match (snaps.next(), snaps.next()) {
                (Some(only), None) => Ok(only),
                _ => bail!("no `main` snapshot"),
            }
        });
        if let Ok(dir) = dir {
            found.push((id, dir));
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_paths_are_told_apart() {
        for id in ["Dream-org/Dream-Coder-v0-Instruct-7B", "apple/DiffuCoder-7B-cpGRPO@main", "GSAI-ML/LLaDA-8B-Instruct"] {
            assert!(is_model_id(id), "{id}");
        }
        for path in ["runs/default/step-0002400", "./a/b", "/abs/path", "default", "a/", "../x/y"] {
            assert!(!is_model_id(path), "{path}");
        }
    }

    #[test]
    fn a_cached_snapshot_is_found_by_ref_or_commit_and_a_missing_one_is_named() {
        let cache = tempfile::tempdir().unwrap();
        let repo = cache.path().join("models--org--coder");
        std::fs::create_dir_all(repo.join("snapshots/abc123")).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "abc123\n").unwrap();
        let want = repo.join("snapshots/abc123");
        assert_eq!(snapshot(cache.path(), "org/coder").unwrap(), want);
        assert_eq!(snapshot(cache.path(), "org/coder@abc123").unwrap(), want);
        assert!(snapshot(cache.path(), "org/coder@v2").unwrap_err().to_string().contains("revision `v2`"));
        assert!(snapshot(cache.path(), "org/other").unwrap_err().to_string().contains("huggingface-cli download org/other"));
        assert_eq!(list(cache.path()).unwrap(), vec![("org/coder".to_string(), want)]);
        assert!(list(&cache.path().join("nothing")).unwrap().is_empty());
    }
}
