//! `anneal model pull ORG/NAME[@REVISION]`: the one command that uses the network. It fills the
//! local Hugging Face cache (the layout `hub_cache` reads), fetching only what Anneal loads:
//! config, tokenizer files, chat template and safetensors weights — never pickles.
//!
//! Behind the `hub` cargo feature: the HTTP and TLS stack it needs is not in the default
//! build, which cannot reach the network at all.

use anyhow::Result;

/// Whether Anneal loads or prompts with a file of a model repository.
#[cfg_attr(not(feature = "hub"), allow(dead_code))]
pub fn wanted(file: &str) -> bool {
    const NAMED: [&str; 6] = [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
        "generation_config.json",
        "model.safetensors.index.json",
    ];
    NAMED.contains(&file) || (file.ends_with(".safetensors") && !file.contains('/'))
}

#[cfg(feature = "hub")]
pub fn pull(spec: &str) -> Result<()> {
    use anyhow::Context;
    use hf_hub::api::sync::ApiBuilder;
    use hf_hub::{Repo, RepoType};

    if !anneal_models::hub_cache::is_model_id(spec) {
        anyhow::bail!("`{spec}` is not a model id (ORG/NAME, optionally @REVISION)");
    }
    let (id, revision) = spec.split_once('@').unwrap_or((spec, "main"));
    let mut builder = ApiBuilder::from_env().with_progress(true);
    if let Some(cache) = anneal_models::hub_cache::cache_dir() {
        builder = builder.with_cache_dir(cache);
    }
    let api = builder.build().context("cannot set up the Hugging Face client")?;
    let repo = api.repo(Repo::with_revision(id.to_string(), RepoType::Model, revision.to_string()));
    let info = repo.info().with_context(|| format!("cannot list {spec} on the Hugging Face Hub"))?;
    let files: Vec<String> = info.siblings.into_iter().map(|s| s.rfilename).filter(|f| wanted(f)).collect();
    if !files.iter().any(|f| f.ends_with(".safetensors")) {
        anyhow::bail!("{spec} has no safetensors weights; Anneal loads safetensors only");
    }
    let mut dir = None;
    for file in &files {
        let path = repo.get(file).with_context(|| format!("cannot download {file} of {spec}"))?;
        dir = path.parent().map(std::path::Path::to_path_buf);
    }
    println!("pulled {} files of {spec} into {}", files.len(), dir.map(|d| d.display().to_string()).unwrap_or_default());
    println!("use it with `--model {spec}` or `\"model\": \"{spec}\"`");
    Ok(())
}

#[cfg(not(feature = "hub"))]
pub fn pull(spec: &str) -> Result<()> {
    let id = spec.split_once('@').map_or(spec, |(id, _)| id);
    anyhow::bail!(
        "this build of anneal has no network access; build it with `cargo build --release --features hub` to pull, or fetch the files with `huggingface-cli download {id}` (Anneal then finds them in the cache by id)"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn pulls_what_anneal_loads_and_no_pickles() {
        for f in
            ["config.json", "tokenizer.json", "tokenizer_config.json", "model-00001-of-00004.safetensors", "model.safetensors.index.json"]
        {
            assert!(super::wanted(f), "{f}");
        }
        for f in ["pytorch_model.bin", "model.pt", "README.md", "onnx/model.safetensors", "merges.txt"] {
            assert!(!super::wanted(f), "{f}");
        }
    }
}
