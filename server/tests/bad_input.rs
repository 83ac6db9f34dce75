//! The bad-input catalogue of issue 9, end to end: the real `anneal serve` over stdio (and
//! `anneal edit` for files on disk) is fed what a broken client, an odd file or a damaged
//! checkpoint throws at it. Each case must get a clear error (or a sensible result), and after
//! each one the server must still answer a normal request correctly: a code action on a good
//! document that resolves to an edit pinned to its version, touching only the widened span.
//!
//! Rewrites use a tiny random-weight checkpoint (`anneal model random`) with
//! `acceptSyntaxErrors`, so they exercise the plumbing in milliseconds; what the model writes
//! does not matter here.

use anneal_test_support::lsp_client;

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use lsp_client::{apply_text_edits, LspClient};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_anneal");

const PYTHON: &str = "def add(a, b):\n    total = a + b\n    return total\n\n\ndef greet(name):\n    return \"héllo 😀 \" + name\n";
/// Opened in every session and left unchanged (version 1): the probe that the server still works.
const GOOD: &str = "file:///tmp/anneal-bad-input/good.py";
const LIMIT: Duration = Duration::from_secs(60);
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const INTERNAL_ERROR: i64 = -32603;

fn settings(model: &Path) -> Value {
    json!({
        "model": model.to_str().unwrap(),
        "edit": {"acceptSyntaxErrors": true, "mask": {"threshold": 0.9, "maxSteps": 8, "confidence": "max_prob"}}
    })
}

/// A session as an editor starts it (UTF-16, resolve support, progress), with GOOD open.
fn start_with_env(options: Value, env: &[(&str, &str)]) -> LspClient {
    let mut client = LspClient::start_with_env(BIN, env);
    client.initialize(&[], options);
    open(&mut client, GOOD, "python", PYTHON);
    client
}

fn start(model: &Path) -> LspClient {
    start_with_env(settings(model), &[])
}

fn open(client: &mut LspClient, uri: &str, language_id: &str, text: &str) {
    client.notify("textDocument/didOpen", json!({"textDocument": {"uri": uri, "languageId": language_id, "version": 1, "text": text}}));
}

fn range(l0: u32, c0: u32, l1: u32, c1: u32) -> Value {
    json!({"start": {"line": l0, "character": c0}, "end": {"line": l1, "character": c1}})
}

/// The rewrite action offered for `range` (panics when there is none).
fn action(client: &mut LspClient, uri: &str, range: Value) -> Value {
    let r =
        client.request("textDocument/codeAction", json!({"textDocument": {"uri": uri}, "range": range, "context": {"diagnostics": []}}));
    let actions = r["result"].as_array().unwrap_or_else(|| panic!("no actions: {r}"));
    actions.iter().find(|a| a["title"] == "Anneal: Rewrite selection").unwrap_or_else(|| panic!("no rewrite action: {r}")).clone()
}

/// Resolves `action` and returns the whole response (result or error).
fn resolve(client: &mut LspClient, action: Value) -> Value {
    let id = client.request_async("codeAction/resolve", action);
    client.wait_response(id, LIMIT)
}

/// The `TextEdit`s of a resolved action, after checking the edit is pinned to `version`.
fn edits_of(resolved: &Value, uri: &str, version: i64) -> Vec<Value> {
    assert!(resolved.get("error").is_none(), "resolve failed: {resolved}");
    let changes = resolved["result"]["edit"]["documentChanges"].as_array().unwrap_or_else(|| panic!("{resolved}"));
    assert_eq!(changes.len(), 1, "{resolved}");
    assert_eq!(changes[0]["textDocument"]["uri"], uri);
    assert_eq!(changes[0]["textDocument"]["version"], version, "pinned to the document's version");
    changes[0]["edits"].as_array().unwrap().clone()
}

/// Every edit lies within lines `lines` (inclusive at the end: an edit of whole lines ends at
/// the start of the next one).
fn assert_edits_within(edits: &[Value], lines: std::ops::RangeInclusive<u64>, context: &str) {
    for e in edits {
        let (a, b) = (e["range"]["start"]["line"].as_u64().unwrap(), e["range"]["end"]["line"].as_u64().unwrap());
        assert!(lines.contains(&a) && lines.contains(&b), "{context}: edit outside lines {lines:?}: {e}");
    }
}

/// The server still answers a normal request correctly: an action on `total = a + b` in GOOD
/// resolves to an edit pinned to version 1 that changes that statement only.
fn assert_serving(client: &mut LspClient, after: &str) {
    assert!(client.exit_status().is_none(), "the server died after {after}");
    let a = action(client, GOOD, range(1, 6, 1, 9));
    let r = resolve(client, a);
    assert!(r.get("error").is_none(), "after {after}, a normal rewrite failed: {r}");
    let edits = edits_of(&r, GOOD, 1);
    assert_edits_within(&edits, 1..=2, after);
    let new_text = apply_text_edits(PYTHON, &edits);
    let (old, new): (Vec<&str>, Vec<&str>) = (PYTHON.lines().collect(), new_text.lines().collect());
    assert_eq!(old[0], new[0], "after {after}");
    assert_eq!(old[old.len() - 5..], new[new.len() - 5..], "after {after}");
}

fn error_code(r: &Value) -> i64 {
    r["error"]["code"].as_i64().unwrap_or_else(|| panic!("expected an error: {r}"))
}

fn error_message(r: &Value) -> String {
    r["error"]["message"].as_str().unwrap_or_else(|| panic!("expected an error: {r}")).to_string()
}

/// Waits for a `window/showMessage` whose text contains `needle`.
fn shown_message(client: &mut LspClient, needle: &str) -> String {
    let m = client
        .wait_for(LIMIT, |m| m["method"] == "window/showMessage" && m["params"]["message"].as_str().is_some_and(|s| s.contains(needle)));
    m["params"]["message"].as_str().unwrap().to_string()
}

// ---------------------------------------------------------------------------------------------
// JSON-RPC framing and JSON

#[test]
fn malformed_framing_and_json_are_answered_and_the_server_keeps_serving() {
    let model = lsp_client::tiny_checkpoint(BIN);
    let mut client = start(model.path());
    assert_serving(&mut client, "start-up");

    // (what is sent, the error code of the answer, the id it is answered with)
    let framed = |body: &[u8]| {
        let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        frame.extend_from_slice(body);
        frame
    };
    let cases: Vec<(&str, Vec<u8>, i64, Value)> = vec![
        ("invalid JSON", framed(br#"{"jsonrpc": "2.0", "id": 99, "method": "#), PARSE_ERROR, Value::Null),
        ("a body that is not UTF-8", framed(b"{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":\"\xff\xfe\"}"), PARSE_ERROR, Value::Null),
        ("an empty body", framed(b""), PARSE_ERROR, Value::Null),
        (
            "a lone surrogate escape in a string",
            framed(br#"{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"file:///s.py","languageId":"python","version":1,"text":"x = '\ud800'"}}}"#),
            PARSE_ERROR,
            Value::Null,
        ),
        ("JSON that is not a message (an array)", framed(b"[1, 2, 3]"), INVALID_REQUEST, Value::Null),
        ("a JSON-RPC 1.0 request", framed(br#"{"jsonrpc":"1.0","id":7,"method":"shutdown"}"#), INVALID_REQUEST, json!(7)),
        ("a request without `jsonrpc`", framed(br#"{"id":"eight","method":"shutdown"}"#), INVALID_REQUEST, json!("eight")),
        ("a request whose id is an object", framed(br#"{"jsonrpc":"2.0","id":{"a":1},"method":"shutdown"}"#), INVALID_REQUEST, Value::Null),
        (
            "a header without Content-Length",
            b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{\"jsonrpc\":\"2.0\",\"method\":\"initialized\",\"params\":{}}".to_vec(),
            PARSE_ERROR,
            Value::Null,
        ),
        ("a Content-Length that is not a number", b"Content-Length: twelve\r\n\r\n{}".to_vec(), PARSE_ERROR, Value::Null),
        ("a Content-Length past any sane size", b"Content-Length: 99999999999999999999999\r\n\r\n".to_vec(), PARSE_ERROR, Value::Null),
        ("a Content-Length of 4 TB", b"Content-Length: 4000000000000\r\n\r\n".to_vec(), PARSE_ERROR, Value::Null),
        ("garbage between messages", b"hello, server\r\n".to_vec(), PARSE_ERROR, Value::Null),
        (
            "a Content-Length shorter than the body",
            b"Content-Length: 10\r\n\r\n{\"jsonrpc\":\"2.0\",\"method\":\"initialized\",\"params\":{}}".to_vec(),
            PARSE_ERROR,
            Value::Null,
        ),
    ];
    for (name, bytes, code, id) in cases {
        client.send_raw(&bytes);
        // Garbage is only recognised as such when the next header arrives, so the probe goes
        // first; the error answer must be there by the time the probe is answered.
        assert_serving(&mut client, name);
        let error = client.wait_for(LIMIT, |m| m.get("error").is_some() && m["id"] == id && m["error"]["code"] == code);
        assert!(!error_message(&error).is_empty(), "{name}: {error}");
        eprintln!("{name}: {}", error["error"]);
        client.seen.retain(|m| m.get("error").is_none());
    }

    // Well-formed input in unusual shapes is accepted: a lowercase header name (headers are
    // case-insensitive, as in HTTP), a charset spelled `utf8`, two messages in one write, one
    // message dribbled a byte at a time.
    let probe = |id: i64| {
        serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": id, "method": "textDocument/codeAction",
        "params": {"textDocument": {"uri": "file:///unopened.py"}, "range": range(0, 0, 0, 0), "context": {"diagnostics": []}}}))
        .unwrap()
    };
    let mut lower = format!("content-length: {}\r\n\r\n", probe(1001).len()).into_bytes();
    lower.extend(probe(1001));
    client.send_raw(&lower);
    assert_eq!(client.wait_response(1001, LIMIT)["result"], Value::Null);
    let mut typed =
        format!("Content-Length: {}\r\nContent-Type: application/vscode-jsonrpc; charset=utf8\r\n\r\n", probe(1002).len()).into_bytes();
    typed.extend(probe(1002));
    client.send_raw(&typed);
    assert_eq!(client.wait_response(1002, LIMIT)["result"], Value::Null);
    let mut two = framed(&probe(1003));
    two.extend(framed(&probe(1004)));
    client.send_raw(&two);
    assert_eq!(client.wait_response(1003, LIMIT)["result"], Value::Null);
    assert_eq!(client.wait_response(1004, LIMIT)["result"], Value::Null);
    for byte in framed(&probe(1005)) {
        client.send_raw(&[byte]);
    }
    assert_eq!(client.wait_response(1005, LIMIT)["result"], Value::Null);
    assert_serving(&mut client, "unusual but valid framing");
    assert!(client.shutdown().success());
}

// ---------------------------------------------------------------------------------------------
// Methods and params

#[test]
fn unknown_methods_and_wrong_params_get_clear_errors() {
    let model = lsp_client::tiny_checkpoint(BIN);
    let mut client = start(model.path());

    let r = client.request("anneal/noSuchMethod", json!({}));
    assert_eq!(error_code(&r), METHOD_NOT_FOUND, "{r}");
    assert_serving(&mut client, "an unknown request");

    // Unknown notifications are ignored: no answer at all (an answer to a notification would be
    // a protocol error of its own).
    client.notify("anneal/noSuchNotification", json!({"x": 1}));
    client.notify("$/noSuchNotification", json!(null));
    // The server reads in order: by the answer to the request assert_serving sends, any
    // answer to the notifications has come.
    assert_serving(&mut client, "unknown notifications");
    assert!(client.seen.iter().all(|m| m.get("error").is_none()), "{:?}", client.seen);

    for (name, params) in [
        ("params of the wrong type", json!("garbage")),
        ("params without a range", json!({"textDocument": {"uri": GOOD}, "context": {"diagnostics": []}})),
        (
            "a negative line",
            json!({"textDocument": {"uri": GOOD}, "range": {"start": {"line": -1, "character": 0}, "end": {"line": 0, "character": 0}}, "context": {"diagnostics": []}}),
        ),
        (
            "a character past u32",
            json!({"textDocument": {"uri": GOOD}, "range": range(0, 0, 0, 0).as_object().cloned().map(|mut r| { r["end"]["character"] = json!(1u64 << 40); r }), "context": {"diagnostics": []}}),
        ),
        (
            "a uri that is not a URI",
            json!({"textDocument": {"uri": "not a uri"}, "range": range(0, 0, 0, 0), "context": {"diagnostics": []}}),
        ),
    ] {
        let r = client.request("textDocument/codeAction", params);
        assert_eq!(error_code(&r), INVALID_PARAMS, "{name}: {r}");
        assert_serving(&mut client, name);
    }

    // Resolve with data that is not ours, and with none.
    let r = resolve(&mut client, json!({"title": "Anneal: Rewrite selection", "data": {"uri": 5}}));
    assert_eq!(error_code(&r), INVALID_PARAMS, "{r}");
    assert!(error_message(&r).contains("code action data"), "{r}");
    let r = resolve(&mut client, json!({"title": "someone else's action"}));
    assert_eq!(r["result"]["title"], "someone else's action", "an action without data comes back as it was: {r}");
    let r = resolve(&mut client, json!({"no": "title"}));
    assert_eq!(error_code(&r), INVALID_PARAMS, "{r}");
    assert_serving(&mut client, "bad resolve data");

    // Commands: unknown, no argument, an argument of the wrong shape.
    let r = client.request("workspace/executeCommand", json!({"command": "anneal.nope", "arguments": []}));
    assert!(error_code(&r) == INVALID_PARAMS && error_message(&r).contains("anneal.nope"), "{r}");
    let r = client.request("workspace/executeCommand", json!({"command": "anneal.rewrite"}));
    assert!(error_code(&r) == INVALID_PARAMS && error_message(&r).contains("argument"), "{r}");
    let r =
        client.request("workspace/executeCommand", json!({"command": "anneal.rewrite", "arguments": [{"uri": GOOD, "version": "one"}]}));
    assert_eq!(error_code(&r), INVALID_PARAMS, "{r}");
    assert_serving(&mut client, "bad commands");

    // Notifications with wrong params are dropped (there is no one to answer) and change nothing.
    client.notify("textDocument/didOpen", json!({"textDocument": {"uri": GOOD, "text": 42}}));
    client.notify("textDocument/didChange", json!({"textDocument": {"uri": GOOD}, "contentChanges": "all of it"}));
    client.notify("textDocument/didClose", json!([]));
    client.notify("workspace/didChangeConfiguration", json!("not settings"));
    assert_serving(&mut client, "notifications with wrong params");
    assert!(client.shutdown().success());
}

// ---------------------------------------------------------------------------------------------
// Positions and ranges

#[test]
fn ranges_past_the_end_reversed_and_inside_surrogate_pairs_are_clamped() {
    let model = lsp_client::tiny_checkpoint(BIN);
    let mut client = start(model.path());
    let uri = "file:///tmp/anneal-bad-input/positions.py";
    open(&mut client, uri, "python", PYTHON);
    let lines = PYTHON.lines().count() as u64;

    // Past the end of the document: clamped to its end, where there is nothing to rewrite.
    let a = action(&mut client, uri, range(999, 999, 1000, 5));
    let edits = edits_of(&resolve(&mut client, a), uri, 1);
    assert_edits_within(&edits, lines - 1..=lines, "past the end");
    let a = action(&mut client, uri, range(u32::MAX, u32::MAX, u32::MAX, u32::MAX));
    assert_edits_within(&edits_of(&resolve(&mut client, a), uri, 1), lines - 1..=lines, "u32::MAX");
    // Past the end of a line: clamped to the line's end.
    let a = action(&mut client, uri, range(1, 999, 1, 999));
    assert_edits_within(&edits_of(&resolve(&mut client, a), uri, 1), 1..=2, "past the line end");
    // Reversed: treated as its ordered counterpart.
    let a = action(&mut client, uri, range(2, 5, 1, 6));
    assert_edits_within(&edits_of(&resolve(&mut client, a), uri, 1), 1..=3, "reversed");
    // Inside the surrogate pair of 😀 (UTF-16 units 17 and 18 of line 6): snapped to the
    // emoji's start; every position the server sends back is on a code point boundary.
    let line6: Vec<u16> = PYTHON.lines().nth(6).unwrap().encode_utf16().collect();
    let inside = (0..line6.len()).find(|&i| (0xDC00..0xE000).contains(&line6[i])).unwrap() as u32;
    let a = action(&mut client, uri, range(6, inside, 6, inside));
    let edits = edits_of(&resolve(&mut client, a), uri, 1);
    assert_edits_within(&edits, 5..=7, "inside a surrogate pair");
    for e in &edits {
        for end in ["start", "end"] {
            let (line, ch) = (e["range"][end]["line"].as_u64().unwrap(), e["range"][end]["character"].as_u64().unwrap() as usize);
            if let Some(l) = PYTHON.lines().nth(line as usize) {
                let units: Vec<u16> = l.encode_utf16().collect();
                assert!(ch == 0 || ch >= units.len() || !(0xDC00..0xE000).contains(&units[ch]), "position inside a pair: {e}");
            }
        }
    }

    // The same in didChange: a change past the end appends, a reversed one is ordered, one inside
    // a pair lands before the emoji (document.rs and position.rs test the resulting text); the
    // document then takes the new version and rewrites of it still work.
    let uri = "file:///tmp/anneal-bad-input/changes.txt";
    open(&mut client, uri, "plaintext", "a😀b\nline two\n");
    let changes = json!([
        {"range": range(99, 0, 99, 5), "text": "end\n"},
        {"range": range(1, 8, 1, 4), "text": "-"},
        {"range": range(0, 2, 0, 2), "text": "x"},
        {"range": range(0, 99, 0, 99), "text": "!"},
    ]);
    client.notify("textDocument/didChange", json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": changes}));
    let a = action(&mut client, uri, range(0, 1, 1, 2));
    assert_edits_within(&edits_of(&resolve(&mut client, a), uri, 2), 0..=2, "after odd changes");
    assert_serving(&mut client, "odd positions");
    assert!(client.shutdown().success());
}

// ---------------------------------------------------------------------------------------------
// Documents

#[test]
fn requests_for_unopened_or_closed_documents_get_clear_errors() {
    let model = lsp_client::tiny_checkpoint(BIN);
    let mut client = start(model.path());
    let nowhere = "file:///tmp/anneal-bad-input/never-opened.py";

    // No actions are offered for a document the server does not have.
    let r = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": nowhere}, "range": range(0, 0, 0, 0), "context": {"diagnostics": []}}),
    );
    assert_eq!(r["result"], Value::Null, "{r}");
    // Resolving (or running the command) for one is an error that says so.
    let data = json!({"uri": nowhere, "version": 1, "range": range(0, 0, 0, 0)});
    let r = resolve(&mut client, json!({"title": "Anneal: Rewrite selection", "data": data}));
    assert!(error_code(&r) == INVALID_PARAMS && error_message(&r).contains("not open"), "{r}");
    let r = client.request("workspace/executeCommand", json!({"command": "anneal.rewrite", "arguments": [data]}));
    assert!(error_code(&r) == INVALID_PARAMS && error_message(&r).contains("not open"), "{r}");
    // Changes and closes for it are ignored.
    client.notify("textDocument/didChange", json!({"textDocument": {"uri": nowhere, "version": 2}, "contentChanges": [{"text": "x"}]}));
    client.notify("textDocument/didClose", json!({"textDocument": {"uri": nowhere}}));
    assert_serving(&mut client, "requests for an unopened document");

    // An action offered before the document was closed cannot be resolved after.
    let uri = "file:///tmp/anneal-bad-input/closed.py";
    open(&mut client, uri, "python", PYTHON);
    let a = action(&mut client, uri, range(1, 0, 1, 0));
    client.notify("textDocument/didClose", json!({"textDocument": {"uri": uri}}));
    let r = resolve(&mut client, a);
    assert!(error_code(&r) == INVALID_PARAMS && error_message(&r).contains("not open"), "{r}");
    assert_serving(&mut client, "a closed document");
    assert!(client.shutdown().success());
}

#[test]
fn unsupported_languages_fall_back_to_lines() {
    let model = lsp_client::tiny_checkpoint(BIN);
    let mut client = start(model.path());
    let cobol = "       IDENTIFICATION DIVISION.\n       PROGRAM-ID. HELLO.\n       PROCEDURE DIVISION.\n           DISPLAY 'HELLO'.\n           STOP RUN.\n";
    let uri = "file:///tmp/anneal-bad-input/hello.cbl";
    open(&mut client, uri, "cobol", cobol);
    let a = action(&mut client, uri, range(3, 15, 3, 18));
    let edits = edits_of(&resolve(&mut client, a), uri, 1);
    // Without a grammar, the span is the selection's own line.
    assert_edits_within(&edits, 3..=4, "cobol");
    let new_text = apply_text_edits(cobol, &edits);
    let (old, new): (Vec<&str>, Vec<&str>) = (cobol.lines().collect(), new_text.lines().collect());
    assert_eq!(old[..3], new[..3]);
    assert_eq!(old[4..], new[new.len() - 1..]);
    assert_serving(&mut client, "an unsupported language");
    assert!(client.shutdown().success());
}

#[test]
fn empty_selections_and_empty_documents() {
    let model = lsp_client::tiny_checkpoint(BIN);
    let mut client = start(model.path());
    // A cursor in a statement: that statement.
    let a = action(&mut client, GOOD, range(2, 4, 2, 4));
    assert_edits_within(&edits_of(&resolve(&mut client, a), GOOD, 1), 2..=3, "a cursor");
    // A cursor on a blank line: that line.
    let a = action(&mut client, GOOD, range(3, 0, 3, 0));
    assert_edits_within(&edits_of(&resolve(&mut client, a), GOOD, 1), 3..=4, "a blank line");
    // An empty document: nothing to rewrite, and an empty edit says so.
    let uri = "file:///tmp/anneal-bad-input/empty.py";
    open(&mut client, uri, "python", "");
    let a = action(&mut client, uri, range(0, 0, 0, 0));
    let edits = edits_of(&resolve(&mut client, a), uri, 1);
    assert!(edits.is_empty(), "{edits:?}");
    assert_serving(&mut client, "empty selections");
    assert!(client.shutdown().success());
}

#[test]
fn control_characters_and_nul_bytes_in_a_document() {
    let model = lsp_client::tiny_checkpoint(BIN);
    let mut client = start(model.path());
    let text = "x = '\u{0}\u{1}\u{7f}'\ny = 2\r\nz = 3\r\u{feff}w = 4\n";
    let uri = "file:///tmp/anneal-bad-input/nul.py";
    open(&mut client, uri, "python", text);
    let a = action(&mut client, uri, range(0, 0, 0, 3));
    edits_of(&resolve(&mut client, a), uri, 1);
    let a = action(&mut client, uri, range(3, 0, 3, 1));
    edits_of(&resolve(&mut client, a), uri, 1);
    assert_serving(&mut client, "NUL bytes in a document");
    assert!(client.shutdown().success());
}

#[test]
fn an_instruction_of_one_megabyte() {
    let model = lsp_client::tiny_checkpoint(BIN);
    let mut client = start(model.path());
    let instruction = "make it faster ".repeat(1 << 20).chars().take(1 << 20).collect::<String>();
    let started = Instant::now();
    let mut a = action(&mut client, GOOD, range(1, 6, 1, 9));
    a["data"]["instruction"] = json!(instruction);
    assert_edits_within(&edits_of(&resolve(&mut client, a), GOOD, 1), 1..=2, "1 MB instruction");
    let arg = json!({"uri": GOOD, "version": 1, "range": range(1, 6, 1, 9), "instruction": instruction});
    let r = client.request("workspace/executeCommand", json!({"command": "anneal.rewrite", "arguments": [arg]}));
    assert!(r.get("error").is_none(), "{}", &r.to_string()[..500]);
    eprintln!("two rewrites with a 1 MB instruction: {:.2} s", started.elapsed().as_secs_f64());
    assert_serving(&mut client, "a 1 MB instruction");
    assert!(client.shutdown().success());
}

// ---------------------------------------------------------------------------------------------
// Size

/// A 50 MB Python file: open it, then rewrite a statement near its end. The same rewrite in a
/// small file, timed in the same run, is the baseline: a rewrite's cost is its span's, not the
/// document's, so the huge file may take a few times as long (the rope, the parse of the
/// statement's neighbourhood), not the thousand times its size would.
#[test]
fn a_50_mb_document() {
    let model = lsp_client::tiny_checkpoint(BIN);
    let mut client = start(model.path());
    let tail = "def last(a, b):\n    total = a + b\n    return total\n";
    let small: String = (0..100).map(|i| format!("def f{i}(a, b):\n    total = a + b\n    return total\n\n")).collect::<String>() + tail;
    let small_lines = small.lines().count() as u32;
    open(&mut client, "file:///tmp/anneal-bad-input/small.py", "python", &small);
    let mut baseline = Duration::MAX;
    for _ in 0..3 {
        let a = action(&mut client, "file:///tmp/anneal-bad-input/small.py", range(small_lines - 2, 6, small_lines - 2, 9));
        let started = Instant::now();
        resolve(&mut client, a);
        baseline = baseline.min(started.elapsed());
    }
    let mut text = String::with_capacity(51 << 20);
    let mut i = 0;
    while text.len() < 50 << 20 {
        writeln!(text, "def f{i}(a, b):\n    total = a + b\n    return total\n").unwrap();
        i += 1;
    }
    text.push_str(tail);
    let lines = text.lines().count() as u32;
    let uri = "file:///tmp/anneal-bad-input/huge.py";

    let started = Instant::now();
    open(&mut client, uri, "python", &text);
    let a = action(&mut client, uri, range(lines - 2, 6, lines - 2, 9));
    let opened = started.elapsed();
    let started = Instant::now();
    let r = resolve(&mut client, a);
    let rewritten = started.elapsed();
    let edits = edits_of(&r, uri, 1);
    assert_edits_within(&edits, (lines - 2) as u64..=(lines - 1) as u64, "50 MB");
    eprintln!(
        "50 MB document ({} bytes, {lines} lines): didOpen + codeAction {:.2} s, resolve {:.2} s against {:.3} s in a {}-line file, server peak RSS {:?} MiB",
        text.len(),
        opened.as_secs_f64(),
        rewritten.as_secs_f64(),
        baseline.as_secs_f64(),
        small_lines,
        client.peak_rss_mib()
    );
    // 10,000 times the small file's size; 20 times its time and 200 ms for the scheduler.
    assert!(
        rewritten < baseline * 20 + Duration::from_millis(200),
        "a small rewrite of a 50 MB file took {rewritten:?}, of a {small_lines}-line file {baseline:?}"
    );
    // Typing near the start still applies (a small incremental change to a huge rope).
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"range": range(0, 0, 0, 0), "text": "# x\n"}]}),
    );
    let a = action(&mut client, uri, range(lines - 1, 6, lines - 1, 9));
    let edits = edits_of(&resolve(&mut client, a), uri, 2);
    assert_edits_within(&edits, (lines - 1) as u64..=lines as u64, "50 MB after a change");
    assert_serving(&mut client, "a 50 MB document");
    assert!(client.shutdown().success());
}

#[test]
fn a_line_of_100_000_characters() {
    let model = lsp_client::tiny_checkpoint(BIN);
    let mut client = start(model.path());
    let mut long = String::from("xs = [");
    while long.len() < 100_000 {
        long.push_str("1, ");
    }
    long.push_str("0]");
    let string_line = format!("s = \"{}\"", "a".repeat(100_000));
    let text = format!("def f(a):\n    return a\n\n{long}\n{string_line}\nys = xs\n");
    let uri = "file:///tmp/anneal-bad-input/long.py";
    open(&mut client, uri, "python", &text);

    // A statement next to the long lines: they are context, cut to the context budget.
    let started = Instant::now();
    let a = action(&mut client, uri, range(5, 0, 5, 2));
    assert_edits_within(&edits_of(&resolve(&mut client, a), uri, 1), 5..=6, "next to a long line");
    eprintln!("rewrite next to a 100,000-character line: {:.2} s", started.elapsed().as_secs_f64());
    // A selection inside the long list widens to the whole line: some 1,600 blocks, minutes of
    // decoding on a CPU. The server must stay responsive meanwhile, report progress, and stop
    // promptly when the client cancels.
    let a = action(&mut client, uri, range(3, 99_990, 3, 99_995));
    let long_rewrite = client.request_async("codeAction/resolve", a);
    let started = Instant::now();
    let progress = client.wait_for(LIMIT, |m| {
        m["method"] == "$/progress" && m["params"]["value"]["message"].as_str().is_some_and(|s| s.contains("block 2/"))
    });
    let message = progress["params"]["value"]["message"].as_str().unwrap().to_string();
    let blocks: usize = message.split("block 2/").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(blocks > 100, "{message}");
    let r = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": GOOD}, "range": range(0, 0, 0, 0), "context": {"diagnostics": []}}),
    );
    assert!(r["result"].is_array(), "other requests are answered during a long rewrite: {r}");
    client.notify("$/cancelRequest", json!({"id": long_rewrite}));
    let r = client.wait_response(long_rewrite, LIMIT);
    assert_eq!(error_code(&r), -32800, "{r}");
    eprintln!("rewrite of a 100,000-character list: {blocks} blocks; cancelled after {:.2} s", started.elapsed().as_secs_f64());
    // A string literal cannot be cut into blocks: one 100,000-token canvas is over the canvas
    // limit that bounds a request's memory, which must be a clear error, not an allocation
    // that kills the server.
    let a = action(&mut client, uri, range(4, 50, 4, 60));
    let r = resolve(&mut client, a);
    eprintln!("rewrite of a 100,000-character string: {r}");
    assert!(error_message(&r).contains("maxCanvasTokens"), "{r}");
    assert_serving(&mut client, "a 100,000-character line");
    assert!(client.shutdown().success());
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

/// Rewrites `dir/model.safetensors` with `edit` applied to its JSON header (the data is kept).
fn edit_safetensors_header(dir: &Path, edit: impl FnOnce(&mut Value)) {
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let mut new_header = serde_json::to_vec(&header).unwrap();
    new_header.resize(new_header.len().next_multiple_of(8), b' ');
    let mut out = (new_header.len() as u64).to_le_bytes().to_vec();
    out.extend(new_header);
    out.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(&path, out).unwrap();
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut value: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

#[test]
fn broken_checkpoints_are_reported_by_name_and_the_server_stays_up() {
    let good = lsp_client::tiny_checkpoint(BIN);
    let scratch = tempfile::tempdir().unwrap();
    let damaged = |name: &str, damage: &dyn Fn(&Path)| {
        let dir = scratch.path().join(name);
        let status = std::process::Command::new(BIN).args(["model", "random"]).arg(&dir).status().unwrap();
        assert!(status.success());
        damage(&dir);
        dir
    };
    let cases: Vec<(&str, std::path::PathBuf, Vec<&str>)> = vec![
        ("a missing folder", scratch.path().join("no-such-folder"), vec!["cannot read", "config.json"]),
        (
            "truncated safetensors",
            damaged("truncated", &|d| {
                let bytes = std::fs::read(d.join("model.safetensors")).unwrap();
                std::fs::write(d.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
            }),
            vec!["model.safetensors", "truncated"],
        ),
        (
            "safetensors cut inside its header",
            damaged("cut-header", &|d| {
                let bytes = std::fs::read(d.join("model.safetensors")).unwrap();
                std::fs::write(d.join("model.safetensors"), &bytes[..100]).unwrap();
            }),
            vec!["model.safetensors"],
        ),
        (
            "wrong tensor shapes",
            damaged("shapes", &|d| {
                edit_safetensors_header(d, |h| h["model.embed_tokens.weight"]["shape"] = json!([64, 259]));
            }),
            vec!["do not match config.json", "shape"],
        ),
        (
            "a config whose sizes do not match the weights",
            damaged("config-sizes", &|d| edit_json(&d.join("config.json"), |c| c["intermediate_size"] = json!(256))),
            vec!["do not match config.json"],
        ),
        (
            "a tokenizer bigger than the embedding",
            damaged("big-tokenizer", &|d| {
                edit_json(&d.join("tokenizer.json"), |t| {
                    for i in 0..100 {
                        t["model"]["vocab"][format!("zz{i}")] = json!(259 + i);
                    }
                })
            }),
            vec!["tokenizer has token id 358", "259 rows"],
        ),
        (
            // As many tokens as rows, but `a` has id 5000: caught at load, not at the first
            // embedding lookup.
            "a tokenizer with an id past the embedding",
            damaged("sparse-tokenizer", &|d| edit_json(&d.join("tokenizer.json"), |t| t["model"]["vocab"]["a"] = json!(5000))),
            vec!["tokenizer has token id 5000", "259 rows"],
        ),
    ];
    let mut client = start(cases[0].1.as_path());
    for (i, (name, dir, needles)) in cases.iter().enumerate() {
        if i > 0 {
            client.notify("workspace/didChangeConfiguration", json!({"settings": {"model": dir.to_str().unwrap()}}));
        }
        let a = action(&mut client, GOOD, range(1, 6, 1, 9));
        let r = resolve(&mut client, a);
        eprintln!("{name}: {r}");
        let message = error_message(&r);
        for needle in needles {
            assert!(message.contains(needle), "{name}: the error names the problem ({needle}): {message}");
        }
        // Load failures are also shown to the user. (The tokenizer with an id past the embedding
        // loads, because the models crate checks the tokenizer's size rather than its largest
        // id; it fails at the first rewrite instead, with the error above.)
        if !name.contains("id past") {
            shown_message(&mut client, "failed to load");
        }
        client.seen.clear();
        assert!(client.exit_status().is_none(), "{name}: the server died");
    }
    client.notify("workspace/didChangeConfiguration", json!({"settings": {"model": good.path().to_str().unwrap()}}));
    assert_serving(&mut client, "broken checkpoints");
    assert!(client.shutdown().success());
}

// ---------------------------------------------------------------------------------------------
// Settings

#[test]
fn config_values_of_the_wrong_type_are_named_and_the_old_settings_stay() {
    let model = lsp_client::tiny_checkpoint(BIN);
    // At start-up: shown once the client can display it, and the valid keys still apply.
    let mut options = settings(model.path());
    options["modelWaitSeconds"] = json!("soon");
    let mut client = start_with_env(options, &[]);
    let m = shown_message(&mut client, "modelWaitSeconds");
    assert!(m.contains("invalid type"), "{m}");
    assert_serving(&mut client, "a bad value at start-up");

    for (settings, key) in [
        (json!({"edit": {"blockTokens": "big"}}), "blockTokens"),
        (json!({"edit": {"mask": {"threshold": [0.5]}}}), "threshold"),
        (json!({"modelWaitSeconds": -1}), "modelWaitSeconds"),
        (json!({"device": 7}), "device"),
        (json!({"edit": {"retries": 1, "slack": "lots"}}), "slack"),
        (json!({"anneal": {"edit": {"mode": "psychic"}}}), "mode"),
        (json!(42), "expected an object"),
    ] {
        client.notify("workspace/didChangeConfiguration", json!({"settings": settings}));
        let m = shown_message(&mut client, key);
        eprintln!("{settings}: {m}");
        client.seen.clear();
        assert_serving(&mut client, &format!("settings {settings}"));
    }
    assert!(client.shutdown().success());
}

// ---------------------------------------------------------------------------------------------
// Panics

/// With the test hook set, an instruction `boom` panics in the engine on the blocking worker
/// and `boom@handler` panics in the LSP handler itself; both must be answered as errors, and
/// the next request must work (the job permit and the running-job entry released).
#[test]
fn a_panic_inside_one_request_is_answered_as_an_error_and_the_next_request_works() {
    let model = lsp_client::tiny_checkpoint(BIN);
    let mut client = start_with_env(settings(model.path()), &[("ANNEAL_TEST_PANIC_ON_INSTRUCTION", "boom")]);
    assert_serving(&mut client, "start-up");
    for (instruction, code) in [("boom", -32803), ("boom@handler", INTERNAL_ERROR)] {
        for _ in 0..2 {
            let mut a = action(&mut client, GOOD, range(1, 6, 1, 9));
            a["data"]["instruction"] = json!(instruction);
            let r = resolve(&mut client, a);
            eprintln!("{instruction}: {r}");
            assert_eq!(error_code(&r), code, "{r}");
            assert!(error_message(&r).contains("panicked"), "{r}");
            assert_serving(&mut client, instruction);
        }
        // The command path too.
        let arg = json!({"uri": GOOD, "version": 1, "range": range(1, 6, 1, 9), "instruction": instruction});
        let r = client.request("workspace/executeCommand", json!({"command": "anneal.rewrite", "arguments": [arg]}));
        assert_eq!(error_code(&r), code, "{r}");
        assert_serving(&mut client, instruction);
    }
    assert!(client.shutdown().success());
}

/// SECURITY.md: no log line holds document text, panics included. The test hook's panic is a
/// slice past the end of the document, whose message (Rust's) quotes the text it sliced; the
/// server's stderr, where editors keep its log, must hold no trace of a secret in the document.
#[test]
fn a_panic_that_quotes_the_document_leaves_no_document_text_in_the_log() {
    const SECRET: &str = "SECRET_7f3a9c_do_not_log";
    let model = lsp_client::tiny_checkpoint(BIN);
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("stderr.log");
    let mut client = LspClient::start_with_env_and_log(
        BIN,
        &[("ANNEAL_TEST_PANIC_ON_INSTRUCTION", "boom"), ("ANNEAL_LOG", "anneal=debug")],
        std::fs::File::create(&log_path).unwrap(),
    );
    client.initialize(&[], settings(model.path()));
    let uri = "file:///tmp/anneal-e2e/secret.py";
    let text = format!("token = \"{SECRET}\"\ndef f(x):\n    return x\n");
    client.notify("textDocument/didOpen", json!({"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}));
    for instruction in ["boom", "boom@handler"] {
        let a = client.request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": range(2, 4, 2, 12), "context": {"diagnostics": []}}),
        );
        let mut a = a["result"][0].clone();
        a["data"]["instruction"] = json!(instruction);
        let r = client.request("codeAction/resolve", a);
        assert!(r["error"].is_object(), "{instruction}: the panic fails the request: {r}");
        assert!(!r.to_string().contains(SECRET), "{instruction}: the answer quotes the document: {r}");
    }
    assert!(client.shutdown().success());
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("panic at") && log.contains("engine/src/lib.rs"), "the panic is logged by where it happened:\n{log}");
    assert!(!log.contains(SECRET), "the log quotes the document:\n{log}");
    assert!(!log.contains("boom"), "the log quotes the instruction:\n{log}");
}

// ---------------------------------------------------------------------------------------------
// Files on disk (the command line)

#[test]
fn invalid_utf8_and_binary_files_are_refused_by_anneal_edit() {
    let model = lsp_client::tiny_checkpoint(BIN);
    let dir = tempfile::tempdir().unwrap();
    let edit = |file: &Path| {
        std::process::Command::new(BIN).arg("edit").arg(file).args(["--range", "0:0-0:1", "--model"]).arg(model.path()).output().unwrap()
    };
    for (name, bytes, needle) in [
        ("latin1.py", b"x = '\xe9t\xe9'\n".to_vec(), "not UTF-8"),
        ("image.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01".to_vec(), "not UTF-8"),
        ("zeros.py", vec![0u8; 4096], "binary"),
        ("nul.py", b"x = 1\n\0\0\0\0y = 2\n".to_vec(), "binary"),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, &bytes).unwrap();
        let out = edit(&file);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: must fail");
        assert!(stderr.contains(needle) && stderr.contains(name), "{name}: a clear error naming the file: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert_eq!(std::fs::read(&file).unwrap(), bytes, "{name}: the file is untouched");
    }
    // A directory, and a file that cannot be read.
    let out = edit(dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"), "{}", String::from_utf8_lossy(&out.stderr));
}
