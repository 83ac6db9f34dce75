//! The shipped default checkpoint, embedded at compile time from `models/default/`.

use std::borrow::Cow;

pub const CONFIG: &str = include_str!("../default/config.json");
pub const TOKENIZER: &[u8] = include_bytes!("../default/tokenizer.json");

/// The weights' safetensors bytes: embedded (feature `embedded-weights`, on by default), or
/// read from `$ANNEAL_DEFAULT_MODEL_DIR`, else from this crate's `default/` folder.
pub fn weights() -> std::io::Result<Cow<'static, [u8]>> {
    #[cfg(feature = "embedded-weights")]
    {
        Ok(Cow::Borrowed(include_bytes!("../default/model.safetensors")))
    }
    #[cfg(not(feature = "embedded-weights"))]
    {
        let dir = std::env::var_os("ANNEAL_DEFAULT_MODEL_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("default"));
        let file = dir.join(crate::checkpoint::WEIGHTS_FILE);
        std::fs::read(&file).map(Cow::Owned).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("this build has no embedded default model and cannot read {}: {e} (set ANNEAL_DEFAULT_MODEL_DIR)", file.display()),
            )
        })
    }
}

/// Writes the embedded checkpoint out as a folder (for tools that read folders).
pub fn write_to(dir: &std::path::Path) -> std::io::Result<()> {
    use crate::checkpoint::{CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(CONFIG_FILE), CONFIG)?;
    std::fs::write(dir.join(TOKENIZER_FILE), TOKENIZER)?;
    std::fs::write(dir.join(WEIGHTS_FILE), weights()?)
}
