//! `workspace/executeCommand` for `anneal.rewrite` and `anneal.rewriteAll`: the path for clients that cannot resolve
//! code actions, and for callers that pass an instruction. The edit goes back to the client as
//! `workspace/applyEdit`; the server never writes a file itself.

use std::sync::Arc;

use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;

use super::apply_all::{self, ApplyAllData};
use super::rewrite_job::{self, RewriteData};
use super::{Session, REWRITE_ALL_COMMAND, REWRITE_COMMAND};

pub async fn execute_command(session: &Arc<Session>, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
    let arg = params.arguments.into_iter().next();
    let edit = match params.command.as_str() {
        REWRITE_COMMAND => {
            let arg = arg.ok_or_else(|| Error::invalid_params("anneal.rewrite needs one argument: {uri, version, range, instruction?}"))?;
            let data: RewriteData = serde_json::from_value(arg).map_err(|e| Error::invalid_params(format!("anneal.rewrite: {e}")))?;
            rewrite_job::run(session, data).await?
        }
        REWRITE_ALL_COMMAND => {
            let arg = arg.ok_or_else(|| Error::invalid_params("anneal.rewriteAll needs one argument: {scope, documents, instruction?}"))?;
            let data: ApplyAllData = serde_json::from_value(arg).map_err(|e| Error::invalid_params(format!("anneal.rewriteAll: {e}")))?;
            apply_all::run(session, data).await?
        }
        other => return Err(Error::invalid_params(format!("unknown command `{other}`"))),
    };
    if !session.support().apply_edit {
        // A client that cannot apply edits gets the edit in the answer, to apply as it can.
        let reason = "the client does not support workspace/applyEdit; the edit is in this result";
        return Ok(Some(serde_json::json!({ "applied": false, "failureReason": reason, "edit": edit })));
    }
    let applied = session.client.apply_edit(edit.clone()).await?;
    Ok(Some(serde_json::json!({ "applied": applied.applied, "failureReason": applied.failure_reason, "edit": edit })))
}
