//! The language server. Only this module (and the `server` crate) knows LSP.
//!
//! Handlers come in two kinds, as in ruff's server: text synchronisation mutates the session
//! synchronously, with no `.await` before the document is updated, so notifications apply in
//! arrival order even though tower-lsp-server runs handlers concurrently; model work runs on a
//! blocking worker from an immutable snapshot and never holds the session.
//!
//! One file per LSP method (or family of methods).

mod code_action;
mod code_action_resolve;
mod execute_command;
mod initialize;
mod rewrite_job;
mod text_sync;

use std::sync::{Arc, Mutex, OnceLock, RwLock};

use dashmap::DashMap;
use tokio::sync::Semaphore;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

use crate::document::Document;
use crate::model_host::ModelHost;
use crate::position::Encoding;
use crate::settings::Settings;

pub const REWRITE_COMMAND: &str = "anneal.rewrite";

/// What the client told us it can do, read once at `initialize`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientSupport {
    pub work_done_progress: bool,
    pub code_action_resolve: bool,
}

pub struct Session {
    pub client: Client,
    pub documents: DashMap<Uri, Document>,
    /// The rewrite in flight for each document, at most one.
    pub running: DashMap<Uri, rewrite_job::RunningJob>,
    pub encoding: OnceLock<Encoding>,
    pub support: OnceLock<ClientSupport>,
    pub settings: RwLock<Settings>,
    /// A settings error found during `initialize`, shown once the client can display it.
    pub startup_error: Mutex<Option<String>>,
    pub model: ModelHost,
    /// One model job at a time: both cores go to one decode rather than thrashing between two.
    pub jobs: Semaphore,
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

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        initialize::initialize(&self.0, params)
    }

    async fn initialized(&self, _: InitializedParams) {
        initialize::initialized(self.0.clone()).await
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        text_sync::did_open(&self.0, params)
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        text_sync::did_change(&self.0, params)
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        text_sync::did_close(&self.0, params)
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        initialize::did_change_configuration(self.0.clone(), params).await
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        code_action::code_action(&self.0, params)
    }

    async fn code_action_resolve(&self, action: CodeAction) -> Result<CodeAction> {
        code_action_resolve::code_action_resolve(&self.0, action).await
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        execute_command::execute_command(&self.0, params).await
    }
}

/// Serves LSP on stdin/stdout until the client says `exit`.
pub async fn serve() {
    let (service, socket) = LspService::new(|client| {
        Backend(Arc::new(Session {
            client,
            documents: DashMap::new(),
            running: DashMap::new(),
            encoding: OnceLock::new(),
            support: OnceLock::new(),
            settings: RwLock::new(Settings::default()),
            startup_error: Mutex::new(None),
            model: ModelHost::default(),
            jobs: Semaphore::new(1),
        }))
    });
    Server::new(tokio::io::stdin(), tokio::io::stdout(), socket).serve(service).await;
}
