//! `textDocument/didOpen`, `didChange`, `didClose`. Synchronous on purpose: no `.await` may
//! come before the document is updated, or a later request could see an older text.

use tower_lsp_server::ls_types::*;

use super::Session;
use crate::document::{Change, Document};
use crate::position::Position;

pub fn did_open(session: &Session, params: DidOpenTextDocumentParams) {
    let doc = params.text_document;
    let file_name = doc.uri.path().as_str().rsplit('/').next().unwrap_or("").to_string();
    session.documents.insert(doc.uri, Document::new(&doc.text, doc.version, &doc.language_id, &file_name));
}

pub fn did_change(session: &Session, params: DidChangeTextDocumentParams) {
    let encoding = session.encoding();
    let Some(mut doc) = session.documents.get_mut(&params.text_document.uri) else {
        tracing::warn!(uri = params.text_document.uri.as_str(), "didChange for a document that is not open");
        return;
    };
    let changes: Vec<Change> = params
        .content_changes
        .into_iter()
        .map(|c| Change { range: c.range.map(|r| (from_lsp(r.start), from_lsp(r.end))), text: c.text })
        .collect();
    // A change inside the lines a job works on makes it moot: cancel it. A change elsewhere
    // leaves it running; its result stays pinned to the version it started from.
    for job in session.running.iter().filter(|j| j.key().0 == params.text_document.uri) {
        let touches = changes.iter().any(|c| match c.range {
            None => true,
            Some((a, b)) => {
                let r = doc.byte_range(a, b, encoding);
                r.start <= job.lines.end && job.lines.start <= r.end
            }
        });
        if touches {
            job.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    doc.apply(changes, params.text_document.version, encoding);
}

pub fn did_close(session: &Session, params: DidCloseTextDocumentParams) {
    session.documents.remove(&params.text_document.uri);
    session.repairs.remove(&params.text_document.uri);
}

pub fn from_lsp(p: tower_lsp_server::ls_types::Position) -> Position {
    Position { line: p.line, character: p.character }
}

pub fn to_lsp(p: Position) -> tower_lsp_server::ls_types::Position {
    tower_lsp_server::ls_types::Position { line: p.line, character: p.character }
}
