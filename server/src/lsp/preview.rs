//! `anneal/preview`: a server-to-client notification with the span being rewritten as it stands
//! after each denoising step, so that an editor can show the code converging (a virtual-text
//! overlay, a peek window). Sent only when the user turns on `edit.preview`; a client that does
//! not know the method ignores it, as LSP requires of notifications.

use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::{notification::Notification, Range, Uri};

pub enum Preview {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewParams {
    pub uri: Uri,
    /// The document version the rewrite started from; `range` refers to it.
    pub version: i32,
    /// The span being rewritten, in the original text.
    pub range: Range,
    /// Its text now; a position still masked shows as `░`.
    pub text: String,
    pub block: usize,
    pub blocks: usize,
    pub step: usize,
}

impl Notification for Preview {
    type Params = PreviewParams;
    const METHOD: &'static str = "anneal/preview";
}
