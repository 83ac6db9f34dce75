//! `textDocument/completion`, for clients without inline completions: the fill at the cursor
//! as one completion item. Offered only to those clients (see `initialize`), so an editor that
//! shows ghost text does not also get the fill in its completion menu; and only when the user
//! invoked completion, unless `fill.automatic` (a fill takes the model for a while, too long
//! for every keystroke).

use std::sync::Arc;

use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

use super::{fill_job, Session};

pub const LABEL_PREFIX: &str = "Anneal: ";

pub async fn completion(session: &Arc<Session>, params: CompletionParams) -> Result<Option<CompletionResponse>> {
    let at = params.text_document_position;
    let asked_by_user = params.context.as_ref().is_none_or(|c| c.trigger_kind == CompletionTriggerKind::INVOKED);
    let Some(fill) = fill_job::run(session, &at.text_document.uri, at.position, asked_by_user).await? else {
        return Ok(None);
    };
    let first_line = fill.text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default().trim();
    let item = CompletionItem {
        label: format!("{LABEL_PREFIX}{first_line}"),
        kind: Some(CompletionItemKind::SNIPPET),
        detail: Some("fill at the cursor (Anneal)".into()),
        documentation: Some(Documentation::MarkupContent(MarkupContent {
            kind: MarkupKind::Markdown,
            value: format!("```\n{}\n```", fill.text),
        })),
        text_edit: Some(CompletionTextEdit::Edit(TextEdit { range: fill.range, new_text: fill.text })),
        insert_text_format: Some(InsertTextFormat::PLAIN_TEXT),
        ..Default::default()
    };
    // Incomplete: typing on must ask again rather than filter this fill for an older cursor.
    Ok(Some(CompletionResponse::List(CompletionList { is_incomplete: true, items: vec![item] })))
}
