//! What SECURITY.md promises, checked end to end:
//! - the server never writes files: a whole session of rewrites (code-action resolve and
//!   `executeCommand` + `workspace/applyEdit`) leaves the files on disk and its working
//!   directory exactly as they were;
//! - its log at the default level never holds document text or instructions, on success and
//!   on every error path a client can reach;
//! - the program links no network client, and no source file opens a socket;
//! - a whole session (rewrite, fill, apply to every, status) makes no network system call:
//!   the server runs under strace;
//! - nor does it create, change or remove a file anywhere (the same trace, every file call);
//! - checkpoints are safetensors only: a pickle-only folder is refused by name.

use anneal_test_support::lsp_client;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lsp_client::LspClient;
use serde_json::{json, Value};

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

/// A script that runs the server under strace, recording its network calls and every call that
/// could create, change or remove a file, into `trace`.
fn traced_binary(dir: &Path, trace: &Path) -> std::path::PathBuf {
    let strace = Command::new("strace").arg("-V").output();
    assert!(strace.is_ok_and(|o| o.status.success()), "strace is required (apt install strace): it records the server's network calls");
    let script = dir.join("anneal-traced");
    let calls = "network,open,openat,creat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,truncate";
    std::fs::write(&script, format!("#!/bin/sh\nexec strace -f -qq -e trace={calls} -o '{}' '{BIN}' \"$@\"\n", trace.display())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// The traced calls that could reach a network: sockets of any family but AF_UNIX (local
/// pipes; tokio and the allocator may open some), and any connect, send or bind to an address
/// that is not a local socket path.
fn network_attempts(trace: &str) -> Vec<String> {
    trace
        .lines()
        .filter(|l| ["socket(", "connect(", "sendto(", "sendmsg(", "bind("].iter().any(|call| l.contains(call)))
        .filter(|l| !l.contains("AF_UNIX") || l.contains("AF_INET") || l.contains("AF_NETLINK"))
        .map(str::to_string)
        .collect()
}

/// The traced calls that changed the filesystem: a successful open for writing or creating, or
/// a rename, removal, directory creation or truncation, anywhere but /dev, /proc and /sys.
fn file_writes(trace: &str) -> Vec<String> {
    let writes = |l: &str| {
        let opens = l.contains("open") || l.contains("creat(");
        !opens || ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"].iter().any(|f| l.contains(f)) || l.contains("creat(")
    };
    trace
        .lines()
        .filter(|l| ["open(", "openat(", "creat(", "rename", "unlink", "mkdir", "truncate("].iter().any(|call| l.contains(call)))
        .filter(|l| !l.contains("= -1 "))
        .filter(|l| !["\"/dev/", "\"/proc/", "\"/sys/"].iter().any(|p| l.contains(p)))
        .filter(|l| writes(l))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_network_recorder_sees_a_connection_attempt() {
    // The check above means something only if strace records a connect where one happens.
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t");
    let status = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=network", "-o"])
        .arg(&trace)
        .args(["python3", "-c", "import socket; socket.socket().connect_ex(('127.0.0.1', 9))"])
        .status()
        .expect("strace is required (apt install strace)");
    assert!(status.success());
    let attempts = network_attempts(&std::fs::read_to_string(&trace).unwrap());
    assert!(attempts.iter().any(|l| l.contains("connect(") && l.contains("AF_INET")), "{attempts:?}");
}

#[test]
fn the_file_recorder_sees_a_write_a_rename_and_a_removal() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t");
    let work = dir.path().join("w");
    let script = "import os, sys; d = sys.argv[1]; os.mkdir(d); open(d + '/a', 'w').write('x'); os.rename(d + '/a', d + '/b'); os.remove(d + '/b'); open('/etc/hostname').read()";
    let status = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=open,openat,creat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,truncate", "-o"])
        .arg(&trace)
        .args(["python3", "-c", script])
        .arg(&work)
        .status()
        .expect("strace is required (apt install strace)");
    assert!(status.success());
    let writes = file_writes(&std::fs::read_to_string(&trace).unwrap());
    for call in ["mkdir", "O_CREAT", "rename", "unlink"] {
        assert!(writes.iter().any(|l| l.contains(call) && l.contains("/w")), "{call} not seen in {writes:?}");
    }
    assert!(!writes.iter().any(|l| l.contains("/etc/hostname")), "a read is not a write: {writes:?}");
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

    // The server runs under strace, which records every network system call it makes.
    let trace = model.path().join("network.trace");
    let traced = traced_binary(model.path(), &trace);
    let mut client = LspClient::start_as_editor(traced.to_str().unwrap(), workspace.path(), std::fs::File::create(&log_path).unwrap());
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
    // Fill at a cursor, one instruction applied to every function, and the status.
    let fill = client.request("textDocument/completion", json!({"textDocument": {"uri": uri}, "position": {"line": 2, "character": 4}}));
    assert!(fill.get("error").is_none(), "{fill}");
    let every = json!({"scope": "functions", "documents": [{"uri": uri, "version": 1}], "instruction": SECRET});
    let r = client.request("workspace/executeCommand", json!({"command": "anneal.rewriteAll", "arguments": [every]}));
    assert!(r.get("error").is_none(), "{r}");
    let status = client.request("anneal/status", Value::Null);
    assert!(status["result"]["state"].is_string(), "{status}");

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
    let trace = std::fs::read_to_string(&trace).unwrap();
    let attempts = network_attempts(&trace);
    assert!(attempts.is_empty(), "the server made network calls:\n{}", attempts.join("\n"));
    // Not only the workspace: no file written, renamed or removed anywhere ($HOME, the temporary
    // folder and the model folder included), at the system-call level.
    let writes = file_writes(&trace);
    assert!(writes.is_empty(), "the server changed the filesystem:\n{}", writes.join("\n"));
    assert!(trace.contains("model.safetensors"), "the trace records file calls (the checkpoint's open)");
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
