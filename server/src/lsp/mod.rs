//! The language server. Only this module (and the `server` crate) knows LSP.
//!
//! Handlers come in two kinds, as in ruff's server: text synchronisation mutates the session
//! synchronously, with no `.await` before the document is updated, so notifications apply in
//! arrival order even though tower-lsp-server runs handlers concurrently; model work runs on a
//! blocking worker from an immutable snapshot and never holds the session.
//!
//! One file per LSP method (or family of methods), and `transport.rs` for the byte streams.
//!
//! A panic in a handler fails that request (answered as an internal error) and is logged; it
//! does not end the server (see [`guard`]).

mod apply_all;
mod code_action;
mod code_action_resolve;
mod completion;
mod diagnostics;
mod execute_command;
mod fill_job;
mod initialize;
mod inline_completion;
mod job;
mod preview;
mod repair_job;
mod rewrite_job;
mod status;
mod text_sync;
mod trace;
pub(crate) mod transport;
mod worker;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use dashmap::DashMap;
use futures::FutureExt;
use tokio::sync::Semaphore;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

use crate::document::Document;
use crate::model_host::ModelHost;
use crate::position::Encoding;
use crate::settings::Settings;

pub const REWRITE_COMMAND: &str = "anneal.rewrite";
pub const REWRITE_ALL_COMMAND: &str = "anneal.rewriteAll";

/// What the client told us it can do, read once at `initialize`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientSupport {
    pub work_done_progress: bool,
    pub code_action_resolve: bool,
    /// `workspace.applyEdit`: the commands may ask the client to apply their edit.
    pub apply_edit: bool,
}

pub struct Session {
    pub client: Client,
    pub documents: DashMap<Uri, Document>,
    /// The job in flight for each document and kind, at most one.
    pub running: DashMap<(Uri, job::JobKind), job::RunningJob>,
    pub encoding: OnceLock<Encoding>,
    pub support: OnceLock<ClientSupport>,
    pub settings: RwLock<Settings>,
    /// A settings error found during `initialize`, shown once the client can display it.
    pub startup_error: Mutex<Option<String>>,
    pub model: ModelHost,
    /// One model job at a time: both cores go to one decode rather than thrashing between two.
    /// The worker holds the permit until it returns, so a cancelled job, which finishes its
    /// current step after its request is answered, still keeps the next one waiting.
    pub jobs: Arc<Semaphore>,
    /// Where the jobs run (see [`worker`]).
    pub worker: worker::ModelWorker,
    /// `$/setTrace`: whether `$/logTrace` notifications go to the client.
    pub trace: RwLock<TraceValue>,
    /// The repairs last resolved per document (see [`repair_job::Found`]): offered again, with
    /// their alternatives, as ready quick fixes while the document stays at that version.
    pub repairs: DashMap<Uri, repair_job::Found>,
}

impl Session {
    pub fn encoding(&self) -> Encoding {
        *self.encoding.get().unwrap_or(&Encoding::Utf16)
    }

    pub fn support(&self) -> ClientSupport {
        self.support.get().copied().unwrap_or_default()
    }

    pub fn settings(&self) -> Settings {
        self.settings.read().expect("settings lock").clone()
    }
}

pub struct Backend(Arc<Session>);

/// What a log line or an error answer says of a panic: never its payload, which can quote
/// document text (the panic hook in `main.rs` has logged where it happened).
pub fn panic_message(_panic: &(dyn std::any::Any + Send)) -> &'static str {
    "see the server's log for where"
}

/// Runs a request handler, answering a panic as an internal error.
///
/// tower-lsp-server polls handlers inside the future that serves the connection, not on tasks
/// of their own, so a panic in one unwinds through `serve` and ends the process: one bug hit by
/// one request would close the server with the user's session. Caught here, around each
/// handler, the panic fails only its request; tower-lsp-server still forgets the request's id,
/// and the handler's guards (the job permit, the running-job entry) are dropped by the unwind.
/// Polling through `catch_unwind` adds no `.await` before the handler's first poll, so text
/// sync still mutates in arrival order.
async fn guard<T>(method: &str, handler: impl Future<Output = Result<T>>) -> Result<T> {
    match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let message = panic_message(&*panic);
            tracing::error!(method, "the handler panicked: {message}");
            Err(Error {
                code: ErrorCode::InternalError,
                message: format!("internal error in {method}: the handler panicked: {message}").into(),
                data: None,
            })
        }
    }
}

/// [`guard`] for a notification: there is no one to answer, so the panic is only logged.
async fn guard_notification(method: &str, handler: impl Future<Output = ()>) {
    if let Err(panic) = AssertUnwindSafe(handler).catch_unwind().await {
        tracing::error!(method, "the handler panicked: {}", panic_message(&*panic));
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        guard("initialize", async { initialize::initialize(&self.0, params) }).await
    }

    async fn initialized(&self, _: InitializedParams) {
        guard_notification("initialized", initialize::initialized(self.0.clone())).await
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    // Diagnostics are published after the document is updated, never before: the update
    // itself stays free of `.await` (see text_sync).
    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let uri = params.text_document.uri.clone();
        guard_notification("textDocument/didOpen", async {
            text_sync::did_open(&self.0, params);
            diagnostics::publish(&self.0, uri).await
        })
        .await
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri.clone();
        guard_notification("textDocument/didChange", async {
            text_sync::did_change(&self.0, params);
            diagnostics::publish(&self.0, uri).await
        })
        .await
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri.clone();
        guard_notification("textDocument/didClose", async {
            text_sync::did_close(&self.0, params);
            self.0.client.publish_diagnostics(uri, vec![], None).await
        })
        .await
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        guard_notification("workspace/didChangeConfiguration", initialize::did_change_configuration(self.0.clone(), params)).await
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        guard("textDocument/codeAction", async { code_action::code_action(&self.0, params) }).await
    }

    async fn code_action_resolve(&self, action: CodeAction) -> Result<CodeAction> {
        guard("codeAction/resolve", code_action_resolve::code_action_resolve(&self.0, action)).await
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        guard("workspace/executeCommand", execute_command::execute_command(&self.0, params)).await
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        guard("textDocument/completion", completion::completion(&self.0, params)).await
    }
}

/// Methods tower-lsp-server's trait lacks, registered with `custom_method` in [`serve`].
impl Backend {
    async fn inline_completion(&self, params: InlineCompletionParams) -> Result<Option<InlineCompletionResponse>> {
        guard("textDocument/inlineCompletion", inline_completion::inline_completion(&self.0, params)).await
    }

    async fn status(&self) -> Result<status::Status> {
        guard(status::METHOD, async { status::status(&self.0) }).await
    }

    async fn set_trace(&self, params: SetTraceParams) {
        *self.0.trace.write().expect("trace lock") = params.value;
    }
}

/// Serves LSP on stdin/stdout until the client says `exit`.
/// Serves one editor over stdio; `defaults` are the settings the editor's own override.
pub async fn serve(defaults: Settings) {
    let (service, socket) = LspService::build(|client| {
        Backend(Arc::new(Session {
            client,
            documents: DashMap::new(),
            running: DashMap::new(),
            encoding: OnceLock::new(),
            support: OnceLock::new(),
            settings: RwLock::new(defaults.clone()),
            startup_error: Mutex::new(None),
            model: ModelHost::default(),
            jobs: Arc::new(Semaphore::new(1)),
            worker: worker::ModelWorker::start(),
            trace: RwLock::new(TraceValue::Off),
            repairs: DashMap::new(),
        }))
    })
    .custom_method("textDocument/inlineCompletion", Backend::inline_completion)
    .custom_method(status::METHOD, Backend::status)
    .custom_method("$/setTrace", Backend::set_trace)
    .finish();
    let (input, output, writer) = transport::stdio();
    Server::new(input, output, socket).serve(service).await;
    // The server's output went with it; wait until everything it wrote reached stdout.
    let _ = writer.await;
}
