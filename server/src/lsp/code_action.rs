//! `textDocument/codeAction`: offers the actions cheaply. The model runs only when the user
//! picks one (`codeAction/resolve`, or `workspace/executeCommand` for clients without resolve).
//!
//! - *Rewrite selection* (`refactor.rewrite`) on any range;
//! - *Repair syntax error* (`quickfix`) on each of Anneal's own syntax-error diagnostics in the
//!   request's context: a rewrite of the range the error covers, which the planner widens to
//!   whole statements, decoded in edit mode when the checkpoint was edit-trained.

use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

use super::rewrite_job::RewriteData;
use super::{diagnostics, Session, REWRITE_COMMAND};

pub const REWRITE_TITLE: &str = "Anneal: Rewrite selection";
pub const REPAIR_TITLE: &str = "Anneal: Repair syntax error";

pub fn code_action(session: &Session, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
    let uri = params.text_document.uri;
    let Some(version) = session.documents.get(&uri).map(|d| d.version) else {
        return Ok(None);
    };
    let wanted = |kind: &CodeActionKind| {
        params.context.only.as_ref().is_none_or(|only| only.iter().any(|k| kind.as_str().starts_with(k.as_str())))
    };
    let resolve = session.support().code_action_resolve;
    let mut actions = vec![];
    if wanted(&CodeActionKind::REFACTOR_REWRITE) {
        let data = RewriteData { uri: uri.clone(), version, range: params.range, instruction: None };
        actions.push(action(REWRITE_TITLE, CodeActionKind::REFACTOR_REWRITE, data, resolve, None));
    }
    if wanted(&CodeActionKind::QUICKFIX) {
        let mut seen = vec![];
        for d in params.context.diagnostics.iter().filter(|d| d.source.as_deref() == Some(diagnostics::SOURCE)) {
            if seen.contains(&d.range) {
                continue;
            }
            seen.push(d.range);
            let data = RewriteData { uri: uri.clone(), version, range: d.range, instruction: None };
            actions.push(action(REPAIR_TITLE, CodeActionKind::QUICKFIX, data, resolve, Some(d.clone())));
        }
    }
    Ok(Some(actions))
}

/// An action whose edit comes later: from `codeAction/resolve` when the client supports it,
/// else from the rewrite command.
fn action(title: &str, kind: CodeActionKind, data: RewriteData, resolve: bool, fixes: Option<Diagnostic>) -> CodeActionOrCommand {
    let value = serde_json::to_value(&data).expect("rewrite data serialises");
    let is_preferred = fixes.is_some().then_some(true);
    let diagnostics = fixes.map(|d| vec![d]);
    let (data, command) = if resolve {
        (Some(value), None)
    } else {
        (None, Some(Command { title: title.into(), command: REWRITE_COMMAND.into(), arguments: Some(vec![value]) }))
    };
    CodeActionOrCommand::CodeAction(CodeAction { title: title.into(), kind: Some(kind), diagnostics, is_preferred, data, command, ..Default::default() })
}
