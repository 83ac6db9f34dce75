//! `initialize`, `initialized` and `workspace/didChangeConfiguration`: capabilities, the
//! position encoding, settings, and loading the model in the background.

use std::sync::Arc;

use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;

use super::{ClientSupport, Session, REWRITE_ALL_COMMAND, REWRITE_COMMAND};
use crate::position::Encoding;
use anneal_engine::ModelSource;

pub fn initialize(session: &Session, params: InitializeParams) -> Result<InitializeResult> {
    let caps = &params.capabilities;
    let offered: Vec<String> = caps
        .general
        .as_ref()
        .and_then(|g| g.position_encodings.as_ref())
        .map(|encs| encs.iter().map(|e| e.as_str().to_string()).collect())
        .unwrap_or_default();
    let encoding = Encoding::negotiate(offered.iter().map(String::as_str));
    let _ = session.encoding.set(encoding);
    let code_action_resolve = caps
        .text_document
        .as_ref()
        .and_then(|t| t.code_action.as_ref())
        .and_then(|c| c.resolve_support.as_ref())
        .is_some_and(|r| r.properties.iter().any(|p| p == "edit"));
    let work_done_progress = caps.window.as_ref().and_then(|w| w.work_done_progress).unwrap_or(false);
    let apply_edit = caps.workspace.as_ref().and_then(|w| w.apply_edit).unwrap_or(false);
    let _ = session.support.set(ClientSupport { work_done_progress, code_action_resolve, apply_edit });
    // Fills go to inline completions where the client has them, else into completion.
    let inline_completion = caps.text_document.as_ref().is_some_and(|t| t.inline_completion.is_some());
    if let Some(trace) = params.trace {
        *session.trace.write().expect("trace lock") = trace;
    }

    if let Some(options) = params.initialization_options {
        // Over the defaults the server was started with (`anneal serve --dtype`).
        let (settings, error) = session.settings().merged(options);
        *session.settings.write().expect("settings lock") = settings;
        if let Some(e) = error {
            // A message cannot be shown before `initialized`; keep it until then.
            tracing::error!("{e}");
            *session.startup_error.lock().expect("lock") = Some(e);
        }
    }

    Ok(InitializeResult {
        capabilities: ServerCapabilities {
            position_encoding: Some(PositionEncodingKind::new(encoding.name())),
            // No `save`: Anneal has nothing to do on save, so clients need not send it.
            text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                ..Default::default()
            })),
            code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
                code_action_kinds: Some(vec![CodeActionKind::REFACTOR_REWRITE, CodeActionKind::QUICKFIX]),
                resolve_provider: Some(true),
                work_done_progress_options: Default::default(),
            })),
            inline_completion_provider: inline_completion.then_some(OneOf::Left(true)),
            completion_provider: (!inline_completion).then(CompletionOptions::default),
            execute_command_provider: Some(ExecuteCommandOptions {
                commands: vec![REWRITE_COMMAND.to_string(), REWRITE_ALL_COMMAND.to_string()],
                work_done_progress_options: Default::default(),
            }),
            ..Default::default()
        },
        server_info: Some(ServerInfo { name: "anneal".into(), version: Some(env!("CARGO_PKG_VERSION").into()) }),
        offset_encoding: None,
    })
}

pub async fn initialized(session: Arc<Session>) {
    let startup_error = session.startup_error.lock().expect("lock").take();
    if let Some(e) = startup_error {
        session.client.show_message(MessageType::ERROR, format!("Anneal: {e}")).await;
    }
    load_model(session).await
}

pub async fn did_change_configuration(session: Arc<Session>, params: DidChangeConfigurationParams) {
    let (new, error) = session.settings().merged(params.settings);
    // Apply the settings, and mark a new model as loading, before the first `.await`: a request
    // sent after this notification must see them. (Showing the message first let a rewrite
    // requested right after a change of checkpoint get the previous checkpoint's error.)
    let old = std::mem::replace(&mut *session.settings.write().expect("settings lock"), new.clone());
    let reload = old.model != new.model || old.device != new.device || old.dtype != new.dtype;
    if reload {
        session.model.begin_loading();
    }
    if let Some(e) = error {
        session.client.show_message(MessageType::ERROR, format!("Anneal: {e}")).await;
    }
    if reload {
        load_model(session).await;
    }
}

/// Loads the configured model with work-done progress, off the request path.
async fn load_model(session: Arc<Session>) {
    let settings = session.settings();
    let source = ModelSource::parse(settings.model.as_deref());
    session.model.begin_loading();
    let device = match settings.device() {
        Ok(d) => d,
        Err(e) => {
            // Requests waiting for this model get the error rather than wait in vain.
            session.model.fail(e.clone());
            session.client.show_message(MessageType::ERROR, format!("Anneal: {e}")).await;
            return;
        }
    };
    tokio::spawn(async move {
        let label = match &source {
            ModelSource::Default => "the default model".to_string(),
            ModelSource::Dir(d) => d.display().to_string(),
            ModelSource::Hub(id) => id.clone(),
        };
        let progress = if session.support().work_done_progress {
            // A token of its own for every load: a client may still hold the last one.
            static LOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let token = ProgressToken::String(format!("anneal/load/{}", LOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
            match session.client.create_work_done_progress(token.clone()).await {
                Ok(()) => Some(session.client.progress(token, "Anneal").with_message(format!("loading {label}")).begin().await),
                Err(_) => None,
            }
        } else {
            None
        };
        let started = std::time::Instant::now();
        let result = session.model.load(source, device, settings.dtype().unwrap_or(None)).await;
        let message = match &result {
            Ok(m) => format!(
                "model {} ready ({:.1} M parameters, {} ms)",
                m.source,
                m.parameter_count() as f64 / 1e6,
                started.elapsed().as_millis()
            ),
            Err(e) => format!("model failed to load: {e}"),
        };
        if let Some(p) = progress {
            p.finish_with_message(message.clone()).await;
        }
        match result {
            Ok(_) => session.client.log_message(MessageType::INFO, format!("Anneal: {message}")).await,
            Err(_) => session.client.show_message(MessageType::ERROR, format!("Anneal: {message}")).await,
        }
    });
}
