//! `textDocument/inlineCompletion` (LSP 3.18): a fill at the cursor, shown by the editor as
//! ghost text. tower-lsp-server 0.23 has no trait method for it, so it is registered as a
//! custom method (`super::serve`). Invoked by the user, it always fills; on the editor's
//! automatic trigger, only with `fill.automatic`.

use std::sync::Arc;

use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

use super::{fill_job, Session};

pub async fn inline_completion(session: &Arc<Session>, params: InlineCompletionParams) -> Result<Option<InlineCompletionResponse>> {
    let at = params.text_document_position;
    let asked_by_user = params.context.trigger_kind == InlineCompletionTriggerKind::INVOKED;
    let fill = fill_job::run(session, &at.text_document.uri, at.position, asked_by_user).await?;
    Ok(Some(InlineCompletionResponse::Array(
        fill.map(|f| InlineCompletionItem {
            insert_text: f.text,
            filter_text: None,
            range: Some(f.range),
            command: None,
            insert_text_format: None,
        })
        .into_iter()
        .collect(),
    )))
}
