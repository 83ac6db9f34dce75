//! Fill at the cursor as a [`job`]: the model writes up to `fill.tokens` tokens where the
//! cursor is, from the code on both sides (`engine::fill`, mask mode). Shared by
//! `textDocument/inlineCompletion` and its fallback, `textDocument/completion`.
//!
//! Neither answer carries a document version, so the pin is checked here: a fill whose
//! document changed while it ran is dropped (the client asks again at the new cursor), never
//! offered for a text it was not computed on.

use std::sync::Arc;

use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::{Position, Range, Uri};

use super::job::{self, JobKind, JobSpec};
use super::text_sync::{from_lsp, to_lsp};
use super::Session;
use crate::position::to_position;
use anneal_engine::{self as engine, FillRequest};

/// What goes at the cursor: `range` is empty, at the cursor, in the client's encoding.
pub struct Fill {
    pub range: Range,
    pub text: String,
}

/// Fills at `position`, or `None` when fills are off, the editor asked on its own and
/// `fill.automatic` is off, the model wrote nothing, or the document changed meanwhile.
pub async fn run(session: &Arc<Session>, uri: &Uri, position: Position, asked_by_user: bool) -> Result<Option<Fill>> {
    let settings = session.settings();
    let fill = settings.fill.clone();
    let language_on = session.documents.get(uri).is_none_or(|d| settings.enabled(&d.language_id));
    if !fill.enabled || !language_on || !(asked_by_user || fill.automatic) {
        return Ok(None);
    }
    // The version the request was made against is the one the document has now: text sync
    // is applied before any later request is handled.
    let Some(version) = session.documents.get(uri).map(|d| d.version) else {
        return Err(tower_lsp_server::jsonrpc::Error::invalid_params(format!("{} is not open", uri.as_str())));
    };
    let doc = job::snapshot(session, uri, version)?;
    let encoding = session.encoding();
    let at = doc.byte_range(from_lsp(position), from_lsp(position), encoding).start;
    let spec = JobSpec { uri, kind: JobKind::Fill, watch: at..at, title: "filling", instruction: None };
    let tokens = fill.tokens;
    let filled = job::run(session, &doc, spec, move |model, snapshot, settings, observe| {
        let text = snapshot.text();
        engine::fill(model, &FillRequest { text: &text, at, tokens }, &settings.edit, observe)
    })
    .await?;
    let current = session.documents.get(uri).map(|d| d.version);
    if current != Some(version) {
        tracing::info!(uri = uri.as_str(), "fill dropped: the document changed while it ran");
        return Ok(None);
    }
    let text = filled.text.trim_end().to_string();
    if text.trim().is_empty() {
        return Ok(None);
    }
    let cursor = to_lsp(to_position(&doc.rope, at, encoding));
    Ok(Some(Fill { range: Range { start: cursor, end: cursor }, text }))
}
