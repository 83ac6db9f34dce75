//! The *Repair syntax error* quick fix as the server runs it, as a [`job`]: the parser proposes
//! and checks small edits near the diagnostic's error, the model ranks them
//! ([`engine::repair`]), and the answer is the best one as a `WorkspaceEdit` pinned to the
//! snapshot's version, titled by what it does (`Anneal: insert ':'`).

use std::sync::Arc;

use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

use super::job::{self, JobKind, JobSpec};
use super::rewrite_job::RewriteData;
use super::text_sync::{from_lsp, to_lsp};
use super::Session;
use crate::position::to_position;
use anneal_engine::repair::{self, Ranker, RepairRequest};
use anneal_engine::EngineError;

/// Alternatives offered beside the best repair: at most this many, each scored by the model
/// within [`CLOSE`] nats of the best.
const ALTERNATIVES: usize = 3;
const CLOSE: f32 = 3.0;

/// The repairs found for one diagnostic of a document at one version, as ready quick fixes
/// (title and edit), the best first.
pub struct Found {
    pub version: i32,
    pub range: Range,
    pub actions: Vec<CodeAction>,
}

/// The longest a repair searches before it answers with what it found.
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// The resolved action: its title says what the repair does, or that none was found (and then
/// it carries no edit).
pub async fn run(session: &Arc<Session>, data: RewriteData, mut action: CodeAction) -> Result<CodeAction> {
    let doc = job::snapshot(session, &data.uri, data.version)?;
    let Some(language) = doc.language else {
        action.title = "Anneal: no grammar for this file; nothing to repair".into();
        return Ok(action);
    };
    let encoding = session.encoding();
    let target = doc.byte_range(from_lsp(data.range.start), from_lsp(data.range.end), encoding);
    let spec = JobSpec { uri: &data.uri, kind: JobKind::Rewrite, watch: target.clone(), title: "repairing", instruction: None };
    let repaired = job::run(session, &doc, spec, move |model, snapshot, _settings, observe| {
        let text = snapshot.text();
        let request = RepairRequest { text: &text, target, language, syntax: snapshot.syntax.as_ref() };
        let ranker = Ranker::Model { prior: repair::EDIT_PRIOR };
        let repaired = repair::repair(Some(model), &request, ranker, Some(DEADLINE), observe)?;
        Ok::<_, EngineError>(repaired)
    })
    .await?;
    // The repair's own bytes, not whole lines: the editor moves only what changed, and a cursor
    // on the line stays where it was.
    let as_edit = |change: &anneal_grammars::Change| {
        let edit = TextEdit {
            range: Range {
                start: to_lsp(to_position(&doc.rope, change.range.start, encoding)),
                end: to_lsp(to_position(&doc.rope, change.range.end, encoding)),
            },
            new_text: change.text.clone(),
        };
        let document = TextDocumentEdit {
            text_document: OptionalVersionedTextDocumentIdentifier { uri: data.uri.clone(), version: Some(doc.version) },
            edits: vec![OneOf::Left(edit)],
        };
        WorkspaceEdit { document_changes: Some(DocumentChanges::Edits(vec![document])), ..Default::default() }
    };
    match (&repaired.change, repaired.title()) {
        (Some(change), Some(title)) => {
            action.title = format!("Anneal: {title}");
            action.edit = Some(as_edit(change));
            action.data = None;
            // Close runners-up of the first error (when it was the only one), for the next
            // time the editor asks for this diagnostic's fixes.
            let mut actions = vec![action.clone()];
            if repaired.steps.len() == 1 {
                let best = repaired.alternatives.first().map_or(0.0, |a| a.score);
                for alternative in repaired.alternatives.iter().skip(1).filter(|a| a.score >= best - CLOSE).take(ALTERNATIVES) {
                    actions.push(CodeAction {
                        title: format!("Anneal: {}", alternative.candidate.description),
                        kind: Some(CodeActionKind::QUICKFIX),
                        diagnostics: action.diagnostics.clone(),
                        edit: Some(as_edit(&alternative.candidate.change)),
                        ..Default::default()
                    });
                }
            }
            session.repairs.insert(data.uri.clone(), Found { version: data.version, range: data.range, actions });
        }
        _ => {
            let limit = anneal_grammars::SearchLimits::default().max_edits;
            action.title = format!("Anneal: no repair within {limit} token edits that the parser accepts");
            action.edit = None;
        }
    }
    Ok(action)
}
