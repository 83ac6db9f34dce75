//! One rewrite (or repair) as the server runs it, as a [`job`]: the answer is a
//! `WorkspaceEdit` pinned to the version the snapshot came from, so a client never applies it
//! to a newer text.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

use super::job::{self, JobKind, JobSpec};
use super::text_sync::{from_lsp, to_lsp};
use super::Session;
use crate::document::Document;
use crate::position::{to_position, Encoding};
use anneal_engine::{self as engine, Proposal, RewriteRequest};

/// Carried in a code action's `data` (or a command's argument) from the offer to the resolve.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RewriteData {
    pub uri: Uri,
    pub version: i32,
    pub range: Range,
    #[serde(default)]
    pub instruction: Option<String>,
    /// The *Repair syntax error* quick fix of a diagnostic: repaired by search where the
    /// `edit.repair` setting says so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub repair: bool,
}

pub async fn run(session: &Arc<Session>, data: RewriteData) -> Result<WorkspaceEdit> {
    let doc = job::snapshot(session, &data.uri, data.version)?;
    let encoding = session.encoding();
    let selection = doc.byte_range(from_lsp(data.range.start), from_lsp(data.range.end), encoding);
    let spec = JobSpec {
        uri: &data.uri,
        kind: JobKind::Rewrite,
        watch: selection.clone(),
        title: "rewriting",
        instruction: data.instruction.as_deref(),
    };
    let instruction = data.instruction.clone();
    let (proposal, text) = job::run(session, &doc, spec, move |model, snapshot, settings, observe| {
        let text = snapshot.text();
        let request = RewriteRequest {
            text: &text,
            selection,
            language: snapshot.language,
            syntax: snapshot.syntax.as_ref(),
            instruction: instruction.as_deref(),
        };
        engine::rewrite(model, &request, &settings.edit, observe).map(|p| (p, text))
    })
    .await?;
    Ok(WorkspaceEdit {
        document_changes: Some(DocumentChanges::Edits(vec![document_edit(&data.uri, &doc, encoding, &text, &proposal)])),
        ..Default::default()
    })
}

/// A proposal as the edits of one document, pinned to the version of `doc`, the snapshot
/// whose text (`text`) it was computed on.
pub fn document_edit(uri: &Uri, doc: &Document, encoding: Encoding, text: &str, proposal: &Proposal) -> TextDocumentEdit {
    let edits = engine::minimal_edits(&text[proposal.span.clone()], &proposal.replacement)
        .into_iter()
        .map(|(range, new_text)| {
            let (start, end) = (proposal.span.start + range.start, proposal.span.start + range.end);
            OneOf::Left(TextEdit {
                range: Range { start: to_lsp(to_position(&doc.rope, start, encoding)), end: to_lsp(to_position(&doc.rope, end, encoding)) },
                new_text,
            })
        })
        .collect();
    TextDocumentEdit { text_document: OptionalVersionedTextDocumentIdentifier { uri: uri.clone(), version: Some(doc.version) }, edits }
}
