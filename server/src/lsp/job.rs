//! One model job as the server runs it — a rewrite, a repair or a fill: snapshot the document
//! at the version the request names, wait for the model, decode on a blocking worker with
//! work-done progress, `anneal/preview` and cancellation, and hand back the result together
//! with the snapshot it was computed from, so the caller pins its answer to that version.

use std::ops::ControlFlow;
use std::ops::Range as Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anneal_models::Model;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::*;

use super::preview::{Preview, PreviewParams};
use super::text_sync::to_lsp;
use super::Session;
use crate::document::Document;
use crate::position::to_position;
use crate::settings::Settings;
use anneal_engine::{EngineError, EngineProgress};

/// Jobs of different kinds on one document run side by side (a fill while a rewrite is in
/// flight elsewhere in the file); a newer job of the same kind supersedes the older one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobKind {
    Rewrite,
    Fill,
    ApplyAll,
}

/// A job in flight: its cancel flag and the bytes it depends on (a `didChange` that touches
/// them cancels it).
pub struct RunningJob {
    pub cancel: Arc<AtomicBool>,
    pub lines: Bytes<usize>,
}

/// The document at `version`, or ContentModified when it has moved on: an action offered for
/// one text is never computed on another.
pub fn snapshot(session: &Session, uri: &Uri, version: i32) -> Result<Document> {
    let doc =
        session.documents.get(uri).map(|d| d.clone()).ok_or_else(|| Error::invalid_params(format!("{} is not open", uri.as_str())))?;
    if doc.version != version {
        let mut e = Error::content_modified();
        e.message = format!("the document changed (version {version} → {}); ask for the action again", doc.version).into();
        return Err(e);
    }
    Ok(doc)
}

/// The whole lines of `bytes`, as byte offsets. A job can reach further (widening to the
/// enclosing statement), which is why results pinned to their version are the real guarantee;
/// this is only the cheap test for "the user is typing in what is being rewritten".
pub fn line_span(rope: &ropey::Rope, bytes: &Bytes<usize>) -> Bytes<usize> {
    let first = rope.byte_to_line(bytes.start);
    let last = rope.byte_to_line(bytes.end);
    rope.line_to_byte(first)..rope.line_to_byte((last + 1).min(rope.len_lines()))
}

/// Sets the flag when the handler's future is dropped — which is how tower-lsp-server cancels a
/// request — so the worker stops within one denoising step; and forgets the job.
struct CancelOnDrop {
    session: Arc<Session>,
    key: (Uri, JobKind),
    flag: Arc<AtomicBool>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.flag.store(true, Ordering::Relaxed);
        self.session.running.remove_if(&self.key, |_, job| Arc::ptr_eq(&job.cancel, &self.flag));
    }
}

pub fn request_failed(message: impl Into<String>) -> Error {
    Error { code: ErrorCode::ServerError(-32803), message: message.into().into(), data: None }
}

/// What a job's worker gets: the model, the snapshot, the settings at the start, and the
/// observer to call after every step (it says when to stop).
pub type Observer<'a> = &'a mut (dyn FnMut(&EngineProgress) -> ControlFlow<()> + Send);

/// What a job is, for the bookkeeping around it.
pub struct JobSpec<'a> {
    pub uri: &'a Uri,
    pub kind: JobKind,
    /// Bytes of the snapshot whose editing makes the job moot.
    pub watch: Bytes<usize>,
    /// For the progress title and messages: "rewriting", "filling".
    pub title: &'a str,
    /// The user's instruction, if any: only for the test hooks (a fault, a slow step).
    pub instruction: Option<&'a str>,
}

/// Runs `work` on a blocking worker for `doc` (a [`snapshot`]). Progress goes to the client as
/// work-done progress; previews as `anneal/preview` when the engine makes them.
pub async fn run<T, W>(session: &Arc<Session>, doc: &Document, spec: JobSpec<'_>, work: W) -> Result<T>
where
    T: Send + 'static,
    W: FnOnce(&Model, &Document, &Settings, Observer) -> std::result::Result<T, EngineError> + Send + 'static,
{
    let encoding = session.encoding();
    let settings = session.settings();
    // Cancel-previous: a newer job of the same kind on the same document supersedes an older
    // one, which stops within one step and answers RequestCancelled.
    let cancelled = Arc::new(AtomicBool::new(false));
    let JobSpec { uri, kind, watch, title, instruction } = spec;
    let key = (uri.clone(), kind);
    let job = RunningJob { cancel: cancelled.clone(), lines: line_span(&doc.rope, &watch) };
    if let Some(older) = session.running.insert(key.clone(), job) {
        older.cancel.store(true, Ordering::Relaxed);
    }
    let _guard = CancelOnDrop { session: session.clone(), key, flag: cancelled.clone() };

    let model = session.model.ready(Duration::from_secs(settings.model_wait_seconds)).await.map_err(request_failed)?;
    let permit = session.jobs.clone().acquire_owned().await.map_err(|_| Error::internal_error())?;
    if cancelled.load(Ordering::Relaxed) {
        return Err(Error::request_cancelled());
    }
    // Here, holding the job permit and the running-job entry, so the panic test shows both
    // are released (see `super::guard`).
    anneal_engine::test_panic_hook(instruction, "@handler", || doc.text());
    let (progress_tx, mut progress_rx) = tokio::sync::mpsc::unbounded_channel::<(String, u32, Option<PreviewParams>)>();
    let progress = begin_progress(session, title).await;
    let trace_name = format!("{} (version {})", uri.as_str(), doc.version);
    let (uri, version, rope) = (uri.clone(), doc.version, doc.rope.clone());
    let preview_params = move |p: &EngineProgress| {
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

    let step_delay = anneal_engine::test_step_delay(instruction);
    let started = std::time::Instant::now();
    let snapshot = doc.clone();
    let mut worker = std::pin::pin!(session.worker.run(move || {
        let _permit = permit;
        work(&model, &snapshot, &settings, &mut |p| {
            let _ = progress_tx.send((p.to_string(), percentage(p), preview_params(p)));
            if let Some(delay) = step_delay {
                std::thread::sleep(delay);
            }
            if cancelled.load(Ordering::Relaxed) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
    }));
    let mut steps = 0usize;
    let mut report = |(message, percent, preview): (String, u32, Option<PreviewParams>)| {
        let progress = &progress;
        steps += 1;
        async move {
            if let Some(p) = progress {
                p.report_with_message(message, percent).await;
            }
            if let Some(preview) = preview {
                session.client.send_notification::<Preview>(preview).await;
            }
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
    let outcome = match &joined {
        Err(_) => "panicked".to_string(),
        Ok(Err(e)) => format!("failed: {e}"),
        Ok(Ok(_)) => "done".to_string(),
    };
    let elapsed = started.elapsed();
    let message = format!("{title} {trace_name}: {outcome} in {} ms", elapsed.as_millis());
    super::trace::log_trace(session, message, || format!("{steps} denoising steps")).await;
    match joined {
        Err(panic) => {
            tracing::error!("{title} worker panicked: {panic}");
            Err(request_failed(format!("internal error in the {title} worker: {panic}")))
        }
        Ok(Err(EngineError::Cancelled)) => Err(Error::request_cancelled()),
        Ok(Err(e)) => Err(request_failed(e.to_string())),
        Ok(Ok(value)) => Ok(value),
    }
}

/// Blocks finished, as a share of the blocks: what a progress bar shows.
fn percentage(p: &EngineProgress) -> u32 {
    (100 * p.block / p.blocks.max(1)) as u32
}

type Progress = tower_lsp_server::OngoingProgress<tower_lsp_server::Bounded, tower_lsp_server::NotCancellable>;

async fn begin_progress(session: &Session, title: &str) -> Option<Progress> {
    if !session.support().work_done_progress {
        return None;
    }
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let token = ProgressToken::String(format!("anneal/job/{}", NEXT.fetch_add(1, Ordering::Relaxed)));
    session.client.create_work_done_progress(token.clone()).await.ok()?;
    Some(session.client.progress(token, format!("Anneal: {title}")).with_percentage(0).begin().await)
}
