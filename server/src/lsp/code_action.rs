//! `textDocument/codeAction`: offers the actions cheaply. The model runs only when the user
//! picks one (`codeAction/resolve`, or `workspace/executeCommand` for clients without resolve).

use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

use super::rewrite_job::RewriteData;
use super::{Session, REWRITE_COMMAND};

pub const REWRITE_TITLE: &str = "Anneal: Rewrite selection";

pub fn code_action(session: &Session, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
    let uri = params.text_document.uri;
    let Some(version) = session.documents.get(&uri).map(|d| d.version) else {
        return Ok(None);
    };
    if let Some(only) = &params.context.only {
        if !only.iter().any(|k| CodeActionKind::REFACTOR_REWRITE.as_str().starts_with(k.as_str())) {
            return Ok(None);
        }
    }
    let data = RewriteData { uri, version, range: params.range, instruction: None };
    let value = serde_json::to_value(&data).expect("rewrite data serialises");
    let action = if session.support().code_action_resolve {
        CodeAction {
            title: REWRITE_TITLE.into(),
            kind: Some(CodeActionKind::REFACTOR_REWRITE),
            data: Some(value),
            ..Default::default()
        }
    } else {
        CodeAction {
            title: REWRITE_TITLE.into(),
            kind: Some(CodeActionKind::REFACTOR_REWRITE),
            command: Some(Command { title: REWRITE_TITLE.into(), command: REWRITE_COMMAND.into(), arguments: Some(vec![value]) }),
            ..Default::default()
        }
    };
    Ok(Some(vec![CodeActionOrCommand::CodeAction(action)]))
}
