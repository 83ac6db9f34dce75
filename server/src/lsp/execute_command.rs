//! `workspace/executeCommand` for `anneal.rewrite`: the path for clients that cannot resolve
//! code actions, and for callers that pass an instruction. The edit goes back to the client as
//! `workspace/applyEdit`; the server never writes a file itself.

use std::sync::Arc;

use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;

use super::rewrite_job::{self, RewriteData};
use super::{Session, REWRITE_COMMAND};

pub async fn execute_command(session: &Arc<Session>, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
    if params.command != REWRITE_COMMAND {
        return Err(Error::invalid_params(format!("unknown command `{}`", params.command)));
    }
    let arg = params
        .arguments
        .into_iter()
        .next()
        .ok_or_else(|| Error::invalid_params("anneal.rewrite needs one argument: {uri, version, range, instruction?}"))?;
    let data: RewriteData = serde_json::from_value(arg).map_err(|e| Error::invalid_params(format!("anneal.rewrite: {e}")))?;
    let edit = rewrite_job::run(session, data).await?;
    let applied = session.client.apply_edit(edit.clone()).await?;
    Ok(Some(serde_json::json!({ "applied": applied.applied, "failureReason": applied.failure_reason, "edit": edit })))
}
