//! *Apply to every …*: one rewrite (and its instruction) applied to every function and method
//! of a file, or to every statement that uses a name across the open documents of its
//! language. The regions are decoded as a batch (`engine::rewrite_many`) and come back as one
//! `WorkspaceEdit` with an edit per document, each pinned to the version it was computed on.
//! A region whose rewrite fails (it would add syntax errors) is left as it is; the others
//! still apply.

use std::ops::Range as Bytes;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;

use super::job::{self, request_failed, JobKind, JobSpec};
use super::rewrite_job::document_edit;
use super::Session;
use crate::document::Document;
use anneal_engine::{self as engine, EngineError, RewriteRequest};

pub const FUNCTIONS_TITLE: &str = "Anneal: Rewrite every function in this file";

pub fn uses_title(name: &str) -> String {
    format!("Anneal: Rewrite every use of `{name}`")
}

/// Carried from the offer to the resolve (or as the `anneal.rewriteAll` argument).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyAllData {
    pub scope: Scope,
    /// The documents involved and the versions the offer saw; the first is the one asked from.
    pub documents: Vec<VersionedTextDocumentIdentifier>,
    #[serde(default)]
    pub instruction: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    /// Every outermost function and method of the (one) document.
    Functions,
    /// Every statement where `name` occurs, in each document.
    Uses { name: String },
}

/// The regions of one document, in text order, not overlapping.
fn regions(doc: &Document, text: &str, scope: &Scope) -> Vec<Bytes<usize>> {
    let Some(tree) = doc.syntax.as_ref() else { return vec![] };
    match scope {
        Scope::Functions => tree.functions(text),
        Scope::Uses { name } => {
            // Each use stands for its lines; uses on the same or touching lines are one region,
            // so that widening to whole statements cannot make two regions overlap there.
            let mut merged: Vec<Bytes<usize>> = vec![];
            for r in tree.occurrences(text, name) {
                let lines = job::line_span(&doc.rope, &r);
                match merged.last_mut() {
                    Some(last) if lines.start <= last.end => last.end = last.end.max(lines.end),
                    _ => merged.push(lines),
                }
            }
            merged.into_iter().map(|r| r.start..trim_newline(text, r.end).max(r.start)).collect()
        }
    }
}

fn trim_newline(text: &str, end: usize) -> usize {
    if text[..end].ends_with("\r\n") {
        end - 2
    } else if text[..end].ends_with('\n') {
        end - 1
    } else {
        end
    }
}

/// The name at `at` (a byte offset of `text`, the text of `doc`), if the grammar knows it as one.
pub fn name_at(doc: &Document, text: &str, at: usize) -> Option<String> {
    doc.syntax.as_ref()?.name_at(text, at).map(|r| text[r].to_string())
}

pub async fn run(session: &Arc<Session>, data: ApplyAllData) -> Result<WorkspaceEdit> {
    let Some(first) = data.documents.first() else {
        return Err(Error::invalid_params("anneal.rewriteAll needs at least one document"));
    };
    let docs: Vec<(Uri, Document)> =
        data.documents.iter().map(|d| job::snapshot(session, &d.uri, d.version).map(|doc| (d.uri.clone(), doc))).collect::<Result<_>>()?;
    let encoding = session.encoding();
    let anchor = docs[0].1.clone();
    let spec = JobSpec {
        uri: &first.uri,
        kind: JobKind::ApplyAll,
        watch: 0..anchor.rope.len_bytes(),
        title: "rewriting every region",
        instruction: data.instruction.as_deref(),
    };
    let (scope, instruction) = (data.scope.clone(), data.instruction.clone());
    let work_docs = docs.clone();
    let (per_doc, failed) = job::run(session, &anchor, spec, move |model, _, settings, observe| {
        let texts: Vec<String> = work_docs.iter().map(|(_, d)| d.text()).collect();
        let mut owners = vec![];
        let mut requests = vec![];
        for (i, ((_, doc), text)) in work_docs.iter().zip(&texts).enumerate() {
            for selection in regions(doc, text, &scope) {
                owners.push(i);
                requests.push(RewriteRequest {
                    text,
                    selection,
                    language: doc.language,
                    syntax: doc.syntax.as_ref(),
                    instruction: instruction.as_deref(),
                });
            }
        }
        if requests.is_empty() {
            return Ok((vec![], vec![]));
        }
        let (results, stats) = engine::rewrite_many(model, &requests, &settings.edit, observe);
        tracing::info!(
            regions = requests.len(),
            forward_passes = stats.forward_passes,
            region_passes = stats.region_passes,
            "rewrote every region"
        );
        let mut per_doc: Vec<Vec<engine::Proposal>> = vec![vec![]; work_docs.len()];
        let mut failed = vec![];
        for (owner, result) in owners.into_iter().zip(results) {
            match result {
                Err(EngineError::Cancelled) => return Err(EngineError::Cancelled),
                Err(e) => failed.push(e.to_string()),
                // Two regions widened into each other: the first one's rewrite stands.
                Ok(p) if per_doc[owner].last().is_some_and(|q| q.span.end > p.span.start) => failed.push("overlaps another region".into()),
                Ok(p) => per_doc[owner].push(p),
            }
        }
        Ok((per_doc.into_iter().zip(texts).collect::<Vec<_>>(), failed))
    })
    .await?;
    let rewritten: usize = per_doc.iter().map(|(p, _)| p.len()).sum();
    if rewritten == 0 {
        let why = failed.first().map_or("no function or use found".to_string(), |e| format!("{} failed; the first: {e}", failed.len()));
        return Err(request_failed(format!("nothing to rewrite: {why}")));
    }
    if !failed.is_empty() {
        tracing::info!(rewritten, failed = failed.len(), "some regions were left as they were");
    }
    let changes = docs
        .iter()
        .zip(per_doc)
        .filter(|(_, (proposals, _))| !proposals.is_empty())
        .map(|((uri, doc), (proposals, text))| {
            let mut edit = TextDocumentEdit {
                text_document: OptionalVersionedTextDocumentIdentifier { uri: uri.clone(), version: Some(doc.version) },
                edits: vec![],
            };
            for p in &proposals {
                edit.edits.extend(document_edit(uri, doc, encoding, &text, p).edits);
            }
            edit
        })
        .collect();
    Ok(WorkspaceEdit { document_changes: Some(DocumentChanges::Edits(changes)), ..Default::default() })
}
