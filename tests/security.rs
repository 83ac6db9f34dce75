//! What SECURITY.md promises, checked end to end:
//! - the server never writes files: a whole session of rewrites (code-action resolve and
//!   `executeCommand` + `workspace/applyEdit`) leaves the files on disk and its working
//!   directory exactly as they were;
//! - its log at the default level never holds document text or instructions, on success and
//!   on every error path a client can reach;
//! - the program links no network client, and no source file opens a socket;
//! - checkpoints are safetensors only: a pickle-only folder is refused by name.

#[path = "support/lsp_client.rs"]
mod lsp_client;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lsp_client::LspClient;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_anneal");
/// Text that appears in the document and the instruction and must never reach the log.
const SECRET: &str = "hunter2_do_not_log";

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let (mut files, mut stack) = (vec![], vec![dir.to_path_buf()]);
    while let Some(d) = stack.pop() {
        for path in std::fs::read_dir(&d).unwrap().flatten().map(|e| e.path()) {
            if path.is_dir() {
                stack.push(path)
            } else {
                files.push(path)
            }
        }
    }
    files
}

/// Every file under `dir` with its contents.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(dir)
        .into_iter()
        .map(|path| (path.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&path).unwrap()))
        .collect()
}

#[test]
fn a_session_writes_no_files_and_logs_no_document_text() {
    let model = tempfile::tempdir().unwrap();
    assert!(Command::new(BIN).args(["model", "random"]).arg(model.path()).status().unwrap().success());
    let workspace = tempfile::tempdir().unwrap();
    let file = workspace.path().join("app.py");
    let text = format!("def f(x):\n    password = \"{SECRET}\"\n    return x\n");
    std::fs::write(&file, &text).unwrap();
    let before = snapshot(workspace.path());
    let log_path = model.path().join("server.log");

    let mut client = LspClient::start_as_editor(BIN, workspace.path(), std::fs::File::create(&log_path).unwrap());
    client.initialize(&["utf-16"], json!({"model": model.path(), "edit": {"acceptSyntaxErrors": true, "mask": {"maxSteps": 4}}}));
    let uri = format!("file://{}", file.display());
    client.notify("textDocument/didOpen", json!({"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}));
    let range = json!({"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 12}});

    // A rewrite through resolve, and one through executeCommand with an instruction; the
    // client is told to apply the second and says it did.
    let r =
        client.request("textDocument/codeAction", json!({"textDocument": {"uri": uri}, "range": range, "context": {"diagnostics": []}}));
    let resolved = client.request("codeAction/resolve", r["result"][0].clone());
    assert!(resolved["result"]["edit"].is_object(), "{resolved}");
    let arg = json!({"uri": uri, "version": 1, "range": range, "instruction": format!("keep {SECRET}")});
    let r = client.request("workspace/executeCommand", json!({"command": "anneal.rewrite", "arguments": [arg]}));
    assert_eq!(r["result"]["applied"], true, "{r}");

    // Error paths a client can reach, each carrying the secret.
    let stale = json!({"uri": uri, "version": 7, "range": range, "instruction": SECRET});
    let r = client.request("workspace/executeCommand", json!({"command": "anneal.rewrite", "arguments": [stale]}));
    assert!(r.get("error").is_some(), "{r}");
    // (A URI is a file's name, not its text: it may be logged.)
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": "file:///closed.py", "version": 2}, "contentChanges": [{"text": SECRET}]}),
    );
    client.send_raw(format!("Content-Length: 30\r\n\r\n{{\"jsonrpc\": \"2.0\", {SECRET:.7}").as_bytes());
    client.send_raw(format!("Content-Length: {}\r\n\r\n{{\"id\": 1, \"{SECRET}\": 1}}", SECRET.len() + 15).as_bytes());
    client.pump(Duration::from_millis(300));
    assert!(client.shutdown().success());

    assert_eq!(snapshot(workspace.path()), before, "the server changed files on disk");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.is_empty(), "the default log level records something (the model load)");
    assert!(!log.contains(SECRET) && !log.contains(&SECRET[..7]), "document text or an instruction reached the log:\n{log}");
}

#[test]
fn no_network_client_is_linked_and_no_source_opens_a_socket() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let tree = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "--offline", "-e", "normal", "-p", "anneal", "--prefix", "none", "--format", "{p}"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(tree.status.success(), "{}", String::from_utf8_lossy(&tree.stderr));
    let tree = String::from_utf8(tree.stdout).unwrap();
    assert!(tree.contains("tower-lsp-server"), "the tree lists the server's dependencies");
    for crate_name in ["reqwest ", "hyper ", "ureq ", "hf-hub ", "curl ", "rustls ", "native-tls ", "openssl "] {
        assert!(!tree.lines().any(|l| l.starts_with(crate_name)), "{crate_name}is linked into the default build");
    }
    for dir in ["server/src", "models/src", "grammars/src"] {
        for path in files_under(&root.join(dir)).into_iter().filter(|p| p.extension().is_some_and(|e| e == "rs")) {
            let source = std::fs::read_to_string(&path).unwrap();
            for socket in ["TcpStream", "TcpListener", "UdpSocket", "std::net"] {
                assert!(!source.contains(socket), "{} uses {socket}", path.display());
            }
        }
    }
}

#[test]
fn pickle_checkpoints_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(Command::new(BIN).args(["model", "random"]).arg(dir.path()).status().unwrap().success());
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    std::fs::write(dir.path().join("pytorch_model.bin"), b"\x80\x02}q\x00.").unwrap();
    let source = dir.path().join("a.py");
    std::fs::write(&source, "x = 1\n").unwrap();
    let out = Command::new(BIN).arg("edit").arg(&source).args(["--range", "0:0-0:1", "--model"]).arg(dir.path()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("safetensors only"), "{err}");
}
