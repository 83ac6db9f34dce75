//! Holds the model for the server: loaded once, in the background, so the editor gets its
//! `initialize` answer at once; requests that need the model wait for it (with a limit) or get
//! the loading error.

use std::sync::Arc;
use std::time::Duration;

use anneal_engine::ModelSource;
use anneal_models::{Model, Precision};
use candle_core::Device;
use tokio::sync::watch;

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
