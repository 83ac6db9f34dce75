//! `textDocument/codeAction`: offers the actions cheaply. The model runs only when the user
//! picks one (`codeAction/resolve`, or `workspace/executeCommand` for clients without resolve).
//!
//! - *Rewrite selection* (`refactor.rewrite`) on any range, and each preset instruction
//!   (`presets`) as a ready action when the model follows instructions;
//! - *Rewrite every function in this file* and *every use of NAME* (`refactor.rewrite`), see
//!   `apply_all`;
//! - *Repair selection* (`quickfix`) on any non-empty selection, and *Repair syntax error*
//!   (`quickfix`) on each of Anneal's own syntax-error diagnostics in the
//!   request's context: a rewrite of the range the error covers, which the planner widens to
//!   whole statements, decoded in edit mode when the checkpoint was edit-trained.

use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

use super::apply_all::{self, uses_title, ApplyAllData, Scope, FUNCTIONS_TITLE};
use super::rewrite_job::RewriteData;
use super::text_sync::from_lsp;
use super::{diagnostics, Session, REWRITE_ALL_COMMAND, REWRITE_COMMAND};
use crate::model_host::ModelState;

pub const REWRITE_TITLE: &str = "Anneal: Rewrite selection";
pub const REPAIR_TITLE: &str = "Anneal: Repair syntax error";
pub const REPAIR_SELECTION_TITLE: &str = "Anneal: Repair selection";

pub fn code_action(session: &Session, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
    let uri = params.text_document.uri;
    let Some((version, language_id)) = session.documents.get(&uri).map(|d| (d.version, d.language_id.clone())) else {
        return Ok(None);
    };
    if !session.settings().enabled(&language_id) {
        return Ok(None);
    }
    let wanted =
        |kind: &CodeActionKind| params.context.only.as_ref().is_none_or(|only| only.iter().any(|k| kind.as_str().starts_with(k.as_str())));
    let resolve = session.support().code_action_resolve;
    let mut actions = vec![];
    if wanted(&CodeActionKind::REFACTOR_REWRITE) {
        let data = RewriteData { uri: uri.clone(), version, range: params.range, instruction: None, repair: false };
        actions.push(action(REWRITE_TITLE, CodeActionKind::REFACTOR_REWRITE, data, resolve, None));
        // Presets only where an instruction reaches the model; elsewhere "Add docstrings"
        // would be a plain rewrite under a title that promises more.
        if matches!(session.model.state(), ModelState::Ready(m) if m.follows_instructions()) {
            for preset in session.settings().presets {
                let title = format!("Anneal: {preset}");
                let data = RewriteData { uri: uri.clone(), version, range: params.range, instruction: Some(preset), repair: false };
                actions.push(action(&title, CodeActionKind::REFACTOR_REWRITE, data, resolve, None));
            }
        }
        actions.extend(apply_all_actions(session, &uri, params.range.start, resolve));
    }
    if wanted(&CodeActionKind::QUICKFIX) {
        // Repair is a quick fix on any selection too: the same rewrite, listed with the fixes
        // (not when the range is a diagnostic's, which gets its own *Repair syntax error*).
        let is_diagnostic = params.context.diagnostics.iter().any(|d| d.range == params.range);
        if params.range.start != params.range.end && !is_diagnostic {
            let data = RewriteData { uri: uri.clone(), version, range: params.range, instruction: None, repair: false };
            actions.push(action(REPAIR_SELECTION_TITLE, CodeActionKind::QUICKFIX, data, resolve, None));
        }
        let mut seen = vec![];
        for d in params.context.diagnostics.iter().filter(|d| d.source.as_deref() == Some(diagnostics::SOURCE)) {
            if seen.contains(&d.range) {
                continue;
            }
            seen.push(d.range);
            // Resolved before at this version: the repair and its close alternatives, ready.
            if let Some(found) = session.repairs.get(&uri).filter(|f| f.version == version && f.range == d.range) {
                actions.extend(found.actions.iter().cloned().map(CodeActionOrCommand::CodeAction));
                continue;
            }
            let data = RewriteData { uri: uri.clone(), version, range: d.range, instruction: None, repair: true };
            actions.push(action(REPAIR_TITLE, CodeActionKind::QUICKFIX, data, resolve, Some(d.clone())));
        }
    }
    Ok(Some(actions))
}

/// *Apply to every function* when the file has functions, and *every use of NAME* when the
/// cursor is on a name. Both need a kept syntax tree, and are not offered for files so large
/// that finding the regions on every cursor move would cost more than it is worth.
fn apply_all_actions(session: &Session, uri: &Uri, cursor: Position, resolve: bool) -> Vec<CodeActionOrCommand> {
    const LARGEST: usize = 1 << 20;
    let Some(doc) = session.documents.get(uri).map(|d| d.clone()) else { return vec![] };
    if doc.syntax.is_none() || doc.rope.len_bytes() > LARGEST {
        return vec![];
    }
    let text = doc.text();
    let this = VersionedTextDocumentIdentifier { uri: uri.clone(), version: doc.version };
    let mut actions = vec![];
    if !doc.syntax.as_ref().is_some_and(|t| t.functions(&text).is_empty()) {
        let data = ApplyAllData { scope: Scope::Functions, documents: vec![this.clone()], instruction: None };
        actions.push(apply_all_action(FUNCTIONS_TITLE, data, resolve));
    }
    let at = doc.byte_range(from_lsp(cursor), from_lsp(cursor), session.encoding()).start;
    if let Some(name) = apply_all::name_at(&doc, &text, at) {
        // The other open documents of the language, as they are now; the resolve finds the uses.
        let mut documents = vec![this];
        documents.extend(
            session
                .documents
                .iter()
                .filter(|d| d.key() != uri && d.language.is_some() && d.language == doc.language && d.rope.len_bytes() <= LARGEST)
                .map(|d| VersionedTextDocumentIdentifier { uri: d.key().clone(), version: d.version }),
        );
        let data = ApplyAllData { scope: Scope::Uses { name: name.clone() }, documents, instruction: None };
        actions.push(apply_all_action(&uses_title(&name), data, resolve));
    }
    actions
}

fn apply_all_action(title: &str, data: ApplyAllData, resolve: bool) -> CodeActionOrCommand {
    let value = serde_json::to_value(&data).expect("apply-all data serialises");
    let (data, command) = if resolve {
        (Some(serde_json::json!({ "applyAll": value })), None)
    } else {
        (None, Some(Command { title: title.into(), command: REWRITE_ALL_COMMAND.into(), arguments: Some(vec![value]) }))
    };
    CodeActionOrCommand::CodeAction(CodeAction {
        title: title.into(),
        kind: Some(CodeActionKind::REFACTOR_REWRITE),
        data,
        command,
        ..Default::default()
    })
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
    CodeActionOrCommand::CodeAction(CodeAction {
        title: title.into(),
        kind: Some(kind),
        diagnostics,
        is_preferred,
        data,
        command,
        ..Default::default()
    })
}
