//! `anneal/status`: a custom request (no params) an editor's status bar polls or calls after a
//! settings change — whether the model is loading, ready or failed; which checkpoint, on which
//! device, how large, and how it decodes; and the jobs in flight.

use serde::Serialize;
use tower_lsp_server::jsonrpc::Result;

use super::Session;
use crate::model_host::ModelState;

pub const METHOD: &str = "anneal/status";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// `idle` (nothing asked for yet), `loading`, `ready` or `failed`.
    pub state: &'static str,
    /// The checkpoint configured: `default` or a folder.
    pub model: String,
    pub device: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_info: Option<ModelInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Jobs (rewrites, fills) running or waiting for the model.
    pub jobs: usize,
    pub open_documents: usize,
    pub version: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    pub source: String,
    pub family: String,
    pub parameters: usize,
    pub dtype: String,
    pub vocab_size: usize,
    /// Trained with the edit stage: repairs and rewrites decode in edit mode.
    pub edit_trained: bool,
    /// Instructions reach the model (and preset actions are offered).
    pub follows_instructions: bool,
}

pub fn status(session: &Session) -> Result<Status> {
    let settings = session.settings();
    let (state, model_info, error) = match session.model.state() {
        ModelState::Idle => ("idle", None, None),
        ModelState::Loading => ("loading", None, None),
        ModelState::Failed(e) => ("failed", None, Some(e)),
        ModelState::Ready(m) => (
            "ready",
            Some(ModelInfo {
                source: m.source.clone(),
                family: m.config.family().map(|f| format!("{f:?}").to_lowercase()).unwrap_or_else(|_| m.config.model_type.clone()),
                parameters: m.parameter_count(),
                dtype: m.precision.name().into(),
                vocab_size: m.config.vocab_size,
                edit_trained: m.config.anneal_edit_trained,
                follows_instructions: m.follows_instructions(),
            }),
            None,
        ),
    };
    Ok(Status {
        state,
        model: settings.model.unwrap_or_else(|| "default".into()),
        device: settings.device,
        model_info,
        error,
        jobs: session.running.len(),
        open_documents: session.documents.len(),
        version: env!("CARGO_PKG_VERSION"),
    })
}
