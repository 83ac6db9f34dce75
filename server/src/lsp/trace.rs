//! `$/logTrace`: what the server did, for a client that turned tracing on with `$/setTrace`
//! (or `trace` in `initialize`). `messages` traces say which job ran and how it ended;
//! `verbose` adds details. Never document text: that stays out of every log (SECURITY.md).

use tower_lsp_server::ls_types::notification::LogTrace;
use tower_lsp_server::ls_types::{LogTraceParams, TraceValue};

use super::Session;

pub async fn log_trace(session: &Session, message: String, verbose: impl FnOnce() -> String) {
    let level = *session.trace.read().expect("trace lock");
    if level == TraceValue::Off {
        return;
    }
    let verbose = (level == TraceValue::Verbose).then(verbose);
    session.client.send_notification::<LogTrace>(LogTraceParams { message, verbose }).await;
}
