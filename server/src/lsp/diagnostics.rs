//! `textDocument/publishDiagnostics`: the syntax errors of an open document's kept tree
//! (tree-sitter ERROR and MISSING nodes), published after every open and change, so that the
//! editor offers *Anneal: Repair* as a quick fix on each (`code_action`). Computed from the
//! tree the document already keeps, so a keystroke costs one walk of the nodes with errors.

use tower_lsp_server::ls_types::*;

use super::text_sync::to_lsp;
use super::Session;
use crate::position::to_position;

/// Marks Anneal's own diagnostics, so that its quick fix is offered on them only.
pub const SOURCE: &str = "anneal";
/// More than this many errors in one file is a file in the middle of being written (or not
/// code at all): the first ones say enough.
const LIMIT: usize = 50;

/// The diagnostics of `uri` as it is now, pinned to its version; `None` when it is not open.
pub fn compute(session: &Session, uri: &Uri) -> Option<(Vec<Diagnostic>, i32)> {
    let doc = session.documents.get(uri)?.clone();
    let settings = session.settings();
    if !settings.diagnostics || !settings.enabled(&doc.language_id) {
        return Some((vec![], doc.version));
    }
    let Some(syntax) = &doc.syntax else { return Some((vec![], doc.version)) };
    let text = doc.text();
    let encoding = session.encoding();
    let diagnostics = syntax
        .errors(&text, LIMIT)
        .into_iter()
        .map(|e| Diagnostic {
            // The narrowest range the parse knows, as ruff and pyright report: the token the
            // grammar could not place, or the point where a token is missing.
            range: Range {
                start: to_lsp(to_position(&doc.rope, e.token.start, encoding)),
                end: to_lsp(to_position(&doc.rope, e.token.end, encoding)),
            },
            severity: Some(DiagnosticSeverity::WARNING),
            source: Some(SOURCE.into()),
            message: match e.missing {
                Some(kind) => format!("syntax error: expected `{kind}`"),
                None => format!("syntax error: unexpected `{}`", shown(&text[e.token.clone()])),
            },
            ..Default::default()
        })
        .collect();
    Some((diagnostics, doc.version))
}

/// A token as a message shows it: one line, at most 40 characters.
fn shown(token: &str) -> String {
    let line = token.lines().next().unwrap_or("");
    match line.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}

pub async fn publish(session: &Session, uri: Uri) {
    if let Some((diagnostics, version)) = compute(session, &uri) {
        session.client.publish_diagnostics(uri, diagnostics, Some(version)).await;
    }
}
