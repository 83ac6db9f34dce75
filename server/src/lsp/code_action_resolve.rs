//! `codeAction/resolve`: computes the edit of an offered action.

use std::sync::Arc;

use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;

use super::apply_all::{self, ApplyAllData};
use super::repair_job;
use super::rewrite_job::{self, RewriteData};
use super::Session;
use anneal_engine::repair::RepairMode;

pub async fn code_action_resolve(session: &Arc<Session>, mut action: CodeAction) -> Result<CodeAction> {
    let Some(data) = action.data.clone() else {
        return Ok(action);
    };
    if let Some(all) = data.get("applyAll") {
        let all: ApplyAllData = serde_json::from_value(all.clone()).map_err(|e| Error::invalid_params(format!("code action data: {e}")))?;
        action.edit = Some(apply_all::run(session, all).await?);
        return Ok(action);
    }
    let data: RewriteData = serde_json::from_value(data).map_err(|e| Error::invalid_params(format!("code action data: {e}")))?;
    if data.repair && session.settings().edit.repair == RepairMode::Search {
        return repair_job::run(session, data, action).await;
    }
    action.edit = Some(rewrite_job::run(session, data).await?);
    Ok(action)
}
