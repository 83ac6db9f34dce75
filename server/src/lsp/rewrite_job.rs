//! One rewrite as the server runs it: snapshot the document, wait for the model, decode on a
//! blocking worker with progress and cancellation, and answer with a `WorkspaceEdit` pinned to
//! the version the snapshot came from, so a client never applies it to a newer text.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::*;

use super::text_sync::{from_lsp, to_lsp};
use super::preview::{Preview, PreviewParams};
use super::Session;
use crate::engine::{self, EngineError, RewriteRequest};
use crate::position::to_position;

/// Carried in a code action's `data` (or a command's argument) from the offer to the resolve.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RewriteData {
    pub uri: Uri,
    pub version: i32,
    pub range: Range,
    #[serde(default)]
    pub instruction: Option<String>,
}

/// A rewrite in flight: its cancel flag and the lines of its selection (a `didChange` that
/// touches them cancels it).
pub struct RunningJob {
    pub cancel: Arc<AtomicBool>,
    pub lines: std::ops::Range<usize>,
}

/// The selection's whole lines, as byte offsets. Widening can reach further (to the enclosing
/// statement), which is why an edit pinned to its version is the real guarantee; this is only
/// the cheap test for "the user is typing in what is being rewritten".
fn line_span(rope: &ropey::Rope, bytes: &std::ops::Range<usize>) -> std::ops::Range<usize> {
    let first = rope.byte_to_line(bytes.start);
    let last = rope.byte_to_line(bytes.end);
    rope.line_to_byte(first)..rope.line_to_byte((last + 1).min(rope.len_lines()))
}

/// Sets the flag when the handler's future is dropped — which is how tower-lsp-server cancels a
/// request — so the worker stops within one denoising step; and forgets the job.
struct CancelOnDrop {
    session: Arc<Session>,
    uri: Uri,
    flag: Arc<AtomicBool>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.flag.store(true, Ordering::Relaxed);
        self.session.running.remove_if(&self.uri, |_, job| Arc::ptr_eq(&job.cancel, &self.flag));
    }
}

fn request_failed(message: impl Into<String>) -> Error {
    Error { code: ErrorCode::ServerError(-32803), message: message.into().into(), data: None }
}

pub async fn run(session: &Arc<Session>, data: RewriteData) -> Result<WorkspaceEdit> {
    let doc = session
        .documents
        .get(&data.uri)
        .map(|d| d.clone())
        .ok_or_else(|| Error::invalid_params(format!("{} is not open", data.uri.as_str())))?;
    if doc.version != data.version {
        let mut e = Error::content_modified();
        e.message = format!("the document changed (version {} → {}); ask for the action again", data.version, doc.version).into();
        return Err(e);
    }
    let encoding = session.encoding();
    let selection = doc.byte_range(from_lsp(data.range.start), from_lsp(data.range.end), encoding);
    let settings = session.settings();

    // Cancel-previous: a newer rewrite of the same document supersedes an older one, which
    // stops within one step and answers RequestCancelled.
    let cancelled = Arc::new(AtomicBool::new(false));
    let job = RunningJob { cancel: cancelled.clone(), lines: line_span(&doc.rope, &selection) };
    if let Some(older) = session.running.insert(data.uri.clone(), job) {
        older.cancel.store(true, Ordering::Relaxed);
    }
    let _guard = CancelOnDrop { session: session.clone(), uri: data.uri.clone(), flag: cancelled.clone() };

    let model = session
        .model
        .ready(Duration::from_secs(settings.model_wait_seconds))
        .await
        .map_err(request_failed)?;
    let _permit = session.jobs.acquire().await.map_err(|_| Error::internal_error())?;
    if cancelled.load(Ordering::Relaxed) {
        return Err(Error::request_cancelled());
    }
    // Here, holding the job permit and the running-job entry, so the panic test shows both
    // are released (see `super::guard`).
    engine::test_panic_hook(data.instruction.as_deref(), "@handler");
    let (progress_tx, mut progress_rx) = tokio::sync::mpsc::unbounded_channel::<(String, Option<PreviewParams>)>();
    let progress = begin_progress(session).await;
    let (uri, version, rope) = (data.uri.clone(), data.version, doc.rope.clone());
    let preview_params = move |p: &engine::EngineProgress| {
        p.preview.as_ref().map(|preview| PreviewParams {
            uri: uri.clone(),
            version,
            range: Range {
                start: to_lsp(to_position(&rope, preview.span.start, encoding)),
                end: to_lsp(to_position(&rope, preview.span.end, encoding)),
            },
            text: preview.text.clone(),
            block: p.block,
            blocks: p.blocks,
            step: p.step,
        })
    };

    let snapshot = doc.clone();
    let mut worker = tokio::task::spawn_blocking(move || {
        let text = snapshot.text();
        let request = RewriteRequest {
            text: &text,
            selection,
            language: snapshot.language,
            syntax: snapshot.syntax.as_ref(),
            instruction: data.instruction.as_deref(),
        };
        let proposal = engine::rewrite(&model, &request, &settings.edit, &mut |p| {
            let _ = progress_tx.send((p.to_string(), preview_params(p)));
            if cancelled.load(Ordering::Relaxed) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        });
        proposal.map(|p| (p, text))
    });
    let report = |(message, preview): (String, Option<PreviewParams>)| {
        let progress = &progress;
        async move {
            if let Some(p) = progress { p.report(message).await; }
            if let Some(preview) = preview { session.client.send_notification::<Preview>(preview).await; }
        }
    };
    let joined = loop {
        tokio::select! {
            joined = &mut worker => break joined,
            Some(step) = progress_rx.recv() => report(step).await,
        }
    };
    // The worker may finish with steps still queued: report them too, so a preview ends on
    // the final canvas.
    while let Ok(step) = progress_rx.try_recv() {
        report(step).await;
    }
    if let Some(p) = progress {
        p.finish().await;
    }
    let (proposal, text) = match joined {
        Err(panic) => {
            tracing::error!("rewrite worker panicked: {panic}");
            return Err(request_failed(format!("internal error in the rewrite worker: {panic}")));
        }
        Ok(Err(EngineError::Cancelled)) => return Err(Error::request_cancelled()),
        Ok(Err(e)) => return Err(request_failed(e.to_string())),
        Ok(Ok(ok)) => ok,
    };
    let edits = engine::minimal_edits(&text[proposal.span.clone()], &proposal.replacement)
        .into_iter()
        .map(|(range, new_text)| {
            let (start, end) = (proposal.span.start + range.start, proposal.span.start + range.end);
            OneOf::Left(TextEdit {
                range: Range {
                    start: to_lsp(to_position(&doc.rope, start, encoding)),
                    end: to_lsp(to_position(&doc.rope, end, encoding)),
                },
                new_text,
            })
        })
        .collect();
    Ok(WorkspaceEdit {
        document_changes: Some(DocumentChanges::Edits(vec![TextDocumentEdit {
            text_document: OptionalVersionedTextDocumentIdentifier { uri: data.uri, version: Some(doc.version) },
            edits,
        }])),
        ..Default::default()
    })
}

async fn begin_progress(
    session: &Session,
) -> Option<tower_lsp_server::OngoingProgress<tower_lsp_server::Unbounded, tower_lsp_server::NotCancellable>> {
    if !session.support().work_done_progress {
        return None;
    }
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let token = ProgressToken::String(format!("anneal/rewrite/{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    session.client.create_work_done_progress(token.clone()).await.ok()?;
    Some(session.client.progress(token, "Anneal: rewriting").begin().await)
}
