//! Where a model's weights come from, as the command line and the settings name them: the
//! embedded default, a checkpoint folder, or a Hugging Face id in the local cache.

use std::path::PathBuf;

use anneal_models::{Model, Precision};
use candle_core::Device;

/// Where the weights come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSource {
    /// The small model embedded in the binary.
    Default,
    Dir(PathBuf),
    /// A Hugging Face id (`ORG/NAME[@REVISION]`), read from the local cache.
    Hub(String),
}

impl ModelSource {
    /// `"default"` (or nothing) is the embedded model; an existing folder is a checkpoint;
    /// `ORG/NAME` (that is not a folder) is a Hugging Face id.
    pub fn parse(s: Option<&str>) -> ModelSource {
        match s.map(str::trim) {
            None | Some("") | Some("default") => ModelSource::Default,
            Some(id) if !std::path::Path::new(id).exists() && anneal_models::hub_cache::is_model_id(id) => ModelSource::Hub(id.to_string()),
            Some(path) => ModelSource::Dir(PathBuf::from(path)),
        }
    }

    /// Loads the weights at `precision`, or the device's default.
    pub fn load(&self, device: &Device, precision: Option<Precision>) -> anyhow::Result<Model> {
        let dtype = precision.unwrap_or_else(|| Precision::default_for(device));
        match self {
            ModelSource::Default => Model::load_default_as(device, dtype),
            ModelSource::Dir(dir) => Model::load_as(dir, device, dtype),
            ModelSource::Hub(id) => {
                let cache =
                    anneal_models::hub_cache::cache_dir().ok_or_else(|| anyhow::anyhow!("no Hugging Face cache folder (set HF_HOME)"))?;
                let mut model = Model::load_as(&anneal_models::hub_cache::snapshot(&cache, id)?, device, dtype)?;
                model.source = id.clone();
                Ok(model)
            }
        }
    }
}
