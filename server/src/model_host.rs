//! Holds the model for the server: loaded once, in the background, so the editor gets its
//! `initialize` answer at once; requests that need the model wait for it (with a limit) or get
//! the loading error.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anneal_models::{Model, Precision};
use candle_core::Device;
use tokio::sync::watch;

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

#[derive(Clone)]
pub enum ModelState {
    Idle,
    Loading,
    Ready(Arc<Model>),
    Failed(String),
}

pub struct ModelHost {
    tx: watch::Sender<ModelState>,
}

impl Default for ModelHost {
    fn default() -> Self {
        Self { tx: watch::channel(ModelState::Idle).0 }
    }
}

impl ModelHost {
    /// Marks the model as loading, so requests from now on wait for the next one rather than
    /// take the previous model or its loading error. Call before any `.await` in a handler
    /// that starts a load: a request that follows the change must not race it.
    pub fn begin_loading(&self) {
        self.tx.send_replace(ModelState::Loading);
    }

    /// Records a failure found before loading could start (a bad device).
    pub fn fail(&self, error: String) {
        self.tx.send_replace(ModelState::Failed(error));
    }

    /// Loads on a blocking thread; returns when loading is done, with the result.
    pub async fn load(&self, source: ModelSource, device: Device, dtype: Option<Precision>) -> Result<Arc<Model>, String> {
        self.tx.send_replace(ModelState::Loading);
        let result = tokio::task::spawn_blocking(move || source.load(&device, dtype))
            .await
            .map_err(|e| format!("model loading panicked: {e}"))
            .and_then(|r| r.map(Arc::new).map_err(|e| format!("{e:#}")));
        self.tx.send_replace(match &result {
            Ok(model) => ModelState::Ready(model.clone()),
            Err(e) => ModelState::Failed(e.clone()),
        });
        result
    }

    /// The state right now, without waiting.
    pub fn state(&self) -> ModelState {
        self.tx.borrow().clone()
    }

    /// The model, waiting up to `limit` while it loads.
    pub async fn ready(&self, limit: Duration) -> Result<Arc<Model>, String> {
        let wait = async {
            let mut rx = self.tx.subscribe();
            let state = rx.wait_for(|s| matches!(s, ModelState::Ready(_) | ModelState::Failed(_))).await;
            state.map(|s| s.clone())
        };
        match tokio::time::timeout(limit, wait).await {
            Err(_) => Err(format!("the model is still loading after {} s; try again shortly", limit.as_secs())),
            Ok(Err(_)) => Err("the model host has stopped".into()),
            Ok(Ok(state)) => match state {
                ModelState::Ready(m) => Ok(m),
                ModelState::Failed(e) => Err(format!("the model failed to load: {e}")),
                ModelState::Idle | ModelState::Loading => unreachable!("waited for a final state"),
            },
        }
    }
}
