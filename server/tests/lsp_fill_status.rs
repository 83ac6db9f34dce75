//! End to end over stdio: fill at the cursor (`textDocument/inlineCompletion`, and completion
//! for clients without it), `anneal/status`, and `$/logTrace`, against the real `anneal serve`.
//! Fills run on the embedded default model; the races slow its steps with the server's test
//! hook.

use anneal_test_support::checkpoints;
use anneal_test_support::lsp_client;

use std::time::Duration;

use lsp_client::LspClient;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_anneal");

/// A function whose body is a hole; the cursor goes at the start of the empty body line.
const HOLE: &str = "def mean(values):\n    \"\"\"The arithmetic mean of a list of numbers.\"\"\"\n    \n\n\nprint(mean([1, 2, 3]))\n";
const CURSOR: (u32, u32) = (2, 4);

fn start(options: Value, inline: bool, trace: &str) -> (LspClient, Value) {
    let mut client = LspClient::start(BIN);
    let caps = client.initialize_with(&["utf-16"], options, |params| {
        if inline {
            params["capabilities"]["textDocument"]["inlineCompletion"] = json!({});
        }
        params["trace"] = json!(trace);
    });
    (client, caps)
}

fn open(client: &mut LspClient, uri: &str, text: &str) {
    client.notify("textDocument/didOpen", json!({"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}));
}

fn at(uri: &str, (line, character): (u32, u32)) -> Value {
    json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
}

fn inline_completion(uri: &str, position: (u32, u32), trigger_kind: u32) -> Value {
    let mut params = at(uri, position);
    params["context"] = json!({"triggerKind": trigger_kind});
    params
}

#[test]
fn inline_completion_fills_the_hole_at_the_cursor_with_the_default_model() {
    let (mut client, caps) = start(json!({"fill": {"tokens": 16}}), true, "off");
    assert_eq!(caps["capabilities"]["inlineCompletionProvider"], true, "{caps}");
    assert!(caps["capabilities"].get("completionProvider").is_none(), "fills go to inline completions only: {caps}");
    let uri = "file:///tmp/anneal-e2e/hole.py";
    open(&mut client, uri, HOLE);

    let r = client.request("textDocument/inlineCompletion", inline_completion(uri, CURSOR, 1));
    let items = r["result"].as_array().unwrap_or_else(|| panic!("{r}"));
    assert_eq!(items.len(), 1, "the default model writes something in an empty body: {r}");
    let item = &items[0];
    let cursor = json!({"line": CURSOR.0, "character": CURSOR.1});
    assert_eq!(item["range"], json!({"start": cursor, "end": cursor}), "inserted at the cursor: {item}");
    let text = item["insertText"].as_str().unwrap();
    assert!(!text.trim().is_empty(), "{item}");
    // 16 tokens of a 4,096-token BPE: short. (Characters per token are at most ~20 in code.)
    assert!(text.chars().count() <= 16 * 20, "at most fill.tokens tokens: {text:?}");
    let progress: Vec<&Value> = client.seen.iter().filter(|m| m["method"] == "$/progress").collect();
    assert!(
        progress.iter().any(|m| m["params"]["value"]["kind"] == "begin" && m["params"]["value"]["title"] == "Anneal: filling"),
        "{progress:?}"
    );
    assert!(
        progress.iter().any(|m| m["params"]["value"]["kind"] == "report" && m["params"]["value"]["percentage"].is_u64()),
        "{progress:?}"
    );

    // The editor's automatic trigger fills only with `fill.automatic`.
    let auto = client.request("textDocument/inlineCompletion", inline_completion(uri, CURSOR, 2));
    assert_eq!(auto["result"], json!([]), "{auto}");
    client.notify("workspace/didChangeConfiguration", json!({"settings": {"fill": {"automatic": true}}}));
    let auto = client.request("textDocument/inlineCompletion", inline_completion(uri, CURSOR, 2));
    assert_eq!(auto["result"], r["result"], "same snapshot, same greedy fill: {auto}");
    client.notify("workspace/didChangeConfiguration", json!({"settings": {"fill": {"enabled": false}}}));
    let off = client.request("textDocument/inlineCompletion", inline_completion(uri, CURSOR, 1));
    assert_eq!(off["result"], json!([]), "{off}");
    assert!(client.shutdown().success());
}

#[test]
fn clients_without_inline_completions_get_the_fill_as_a_completion_item() {
    let (mut client, caps) = start(json!({"fill": {"tokens": 16}}), false, "off");
    assert!(caps["capabilities"].get("inlineCompletionProvider").is_none(), "{caps}");
    assert!(caps["capabilities"]["completionProvider"].is_object(), "{caps}");
    let uri = "file:///tmp/anneal-e2e/hole.py";
    open(&mut client, uri, HOLE);

    let mut params = at(uri, CURSOR);
    params["context"] = json!({"triggerKind": 1});
    let r = client.request("textDocument/completion", params.clone());
    assert_eq!(r["result"]["isIncomplete"], true, "typing on asks again: {r}");
    let items = r["result"]["items"].as_array().unwrap_or_else(|| panic!("{r}"));
    assert_eq!(items.len(), 1, "{r}");
    let edit = &items[0]["textEdit"];
    let cursor = json!({"line": CURSOR.0, "character": CURSOR.1});
    assert_eq!(edit["range"], json!({"start": cursor, "end": cursor}), "{r}");
    assert!(items[0]["label"].as_str().unwrap().starts_with("Anneal: "), "{r}");
    assert!(!edit["newText"].as_str().unwrap().trim().is_empty(), "{r}");

    // Completion the editor sends as you type (a trigger character) does not run the model.
    params["context"] = json!({"triggerKind": 2, "triggerCharacter": "."});
    let typed = client.request("textDocument/completion", params);
    assert_eq!(typed["result"], Value::Null, "{typed}");
    assert!(client.shutdown().success());
}

/// A fill slow enough to race: the default model (a random one may write nothing), two steps
/// at most, and each step waiting `STEP_DELAY_MS` (the server's test hook), so a test that has
/// seen the fill's first step knows it is still running and acts well within that time.
fn slow_fill_session() -> (LspClient, &'static str, String) {
    let options = json!({"fill": {"tokens": 16}, "edit": {"mask": {"maxSteps": 2}}});
    let mut client = LspClient::start_with_env(BIN, &[("ANNEAL_TEST_STEP_DELAY", STEP_DELAY_MS)]);
    client.initialize_with(&["utf-16"], options, |params| params["capabilities"]["textDocument"]["inlineCompletion"] = json!({}));
    let uri = "file:///tmp/anneal-e2e/slow-fill.py";
    let text = HOLE.repeat(20);
    open(&mut client, uri, &text);
    (client, uri, text)
}

const STEP_DELAY_MS: &str = "1000";

#[test]
fn a_fill_whose_document_changes_is_dropped_or_cancelled() {
    let (mut client, uri, _) = slow_fill_session();
    // Left alone, the fill offers its text.
    let r = client.request("textDocument/inlineCompletion", inline_completion(uri, CURSOR, 1));
    assert_eq!(r["result"].as_array().map(Vec::len), Some(1), "the control fill offers something: {r}");
    // An edit far from the cursor while the fill runs: it runs on, and is dropped as stale.
    let id = client.request_async("textDocument/inlineCompletion", inline_completion(uri, CURSOR, 1));
    client.wait_for_a_step();
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2},
               "contentChanges": [{"range": {"start": {"line": 60, "character": 0}, "end": {"line": 60, "character": 0}}, "text": "# note\n"}]}),
    );
    let r = client.wait_response(id, Duration::from_secs(120));
    assert_eq!(r["result"], json!([]), "a fill for version 1 is not offered for version 2: {r}");

    // Typing at the cursor cancels it.
    let id = client.request_async("textDocument/inlineCompletion", inline_completion(uri, CURSOR, 1));
    client.wait_for_a_step();
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 3},
               "contentChanges": [{"range": {"start": {"line": 2, "character": 4}, "end": {"line": 2, "character": 4}}, "text": "r"}]}),
    );
    let r = client.wait_response(id, Duration::from_secs(60));
    assert_eq!(r["error"]["code"], -32800, "{r}");

    // And $/cancelRequest stops one.
    let id = client.request_async("textDocument/inlineCompletion", inline_completion(uri, CURSOR, 1));
    client.wait_for_a_step();
    client.notify("$/cancelRequest", json!({"id": id}));
    let r = client.wait_response(id, Duration::from_secs(60));
    assert_eq!(r["error"]["code"], -32800, "{r}");
    assert!(client.shutdown().success());
}

fn wait_for_state(client: &mut LspClient, wanted: &str) -> Value {
    for _ in 0..300 {
        let r = client.request("anneal/status", Value::Null);
        if r["result"]["state"] == wanted {
            return r["result"].clone();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the model never reached `{wanted}`");
}

#[test]
fn status_says_what_model_runs_where_and_why_one_failed() {
    let (mut client, _) = start(json!({}), true, "off");
    let status = wait_for_state(&mut client, "ready");
    assert_eq!((status["model"].as_str(), status["device"].as_str()), (Some("default"), Some("cpu")), "{status}");
    let info = &status["modelInfo"];
    assert_eq!(
        (info["source"].as_str(), info["family"].as_str(), info["dtype"].as_str()),
        (Some("default"), Some("anneal"), Some("f32")),
        "{status}"
    );
    assert!(info["parameters"].as_u64().unwrap() > 1_000_000, "{status}");
    assert_eq!(status["jobs"], 0);
    assert_eq!(info["followsInstructions"], false, "{status}");

    // So no preset instructions are offered: only actions the model can carry out.
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": "file:///tmp/anneal-e2e/p.py", "languageId": "python", "version": 1, "text": HOLE}}),
    );
    let r = client.request("textDocument/codeAction", json!({"textDocument": {"uri": "file:///tmp/anneal-e2e/p.py"}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}}, "context": {"diagnostics": []}}));
    let titles: Vec<&str> = r["result"].as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap()).collect();
    assert!(titles.contains(&"Anneal: Rewrite selection") && !titles.iter().any(|t| t.contains("docstrings")), "{titles:?}");

    // A quantized precision reloads the model, and the status says which one runs.
    client.notify("workspace/didChangeConfiguration", json!({"settings": {"dtype": "q4k"}}));
    let mut dtype = Value::Null;
    for _ in 0..300 {
        let r = client.request("anneal/status", Value::Null);
        dtype = r["result"]["modelInfo"]["dtype"].clone();
        if r["result"]["state"] == "ready" && dtype == "q4k" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(dtype, "q4k");

    let missing = tempfile::tempdir().unwrap();
    client.notify("workspace/didChangeConfiguration", json!({"settings": {"model": missing.path()}}));
    let status = wait_for_state(&mut client, "failed");
    assert!(status["error"].as_str().unwrap().contains("config.json"), "{status}");
    assert!(status.get("modelInfo").is_none(), "{status}");
    assert!(client.shutdown().success());
}

#[test]
fn a_model_id_loads_from_the_hugging_face_cache() {
    let hf_home = tempfile::tempdir().unwrap();
    let repo = hf_home.path().join("hub/models--acme--tiny-coder");
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "0123abcd").unwrap();
    let snapshot = repo.join("snapshots/0123abcd");
    assert!(std::process::Command::new(BIN).args(["model", "random"]).arg(&snapshot).status().unwrap().success());
    let mut client = LspClient::start_with_env(BIN, &[("HF_HOME", hf_home.path().to_str().unwrap()), ("HF_HUB_CACHE", "")]);
    client.initialize(&["utf-16"], json!({"model": "acme/tiny-coder"}));
    let status = wait_for_state(&mut client, "ready");
    assert_eq!(
        (status["model"].as_str(), status["modelInfo"]["source"].as_str()),
        (Some("acme/tiny-coder"), Some("acme/tiny-coder")),
        "{status}"
    );
    client.notify("workspace/didChangeConfiguration", json!({"settings": {"model": "acme/not-here"}}));
    let status = wait_for_state(&mut client, "failed");
    assert!(status["error"].as_str().unwrap().contains("acme/not-here is not in the Hugging Face cache"), "{status}");
    assert!(client.shutdown().success());
}

#[test]
fn traces_say_what_ran_without_the_document_text() {
    let (mut client, _) = start(json!({"fill": {"tokens": 8}}), true, "off");
    let uri = "file:///tmp/anneal-e2e/hole.py";
    open(&mut client, uri, HOLE);
    client.request("textDocument/inlineCompletion", inline_completion(uri, CURSOR, 1));
    assert!(!client.seen.iter().any(|m| m["method"] == "$/logTrace"), "tracing is off by default");

    client.notify("$/setTrace", json!({"value": "verbose"}));
    client.request("textDocument/inlineCompletion", inline_completion(uri, CURSOR, 1));
    let trace = client.wait_for(Duration::from_secs(30), |m| m["method"] == "$/logTrace");
    let message = trace["params"]["message"].as_str().unwrap();
    assert!(message.contains("filling") && message.contains(uri) && message.contains("done"), "{trace}");
    assert!(trace["params"]["verbose"].as_str().unwrap().contains("steps"), "{trace}");
    assert!(!trace.to_string().contains("arithmetic mean"), "no document text in traces: {trace}");
    assert!(client.shutdown().success());
}

#[test]
fn an_instruct_checkpoint_gets_the_presets_and_their_instruction_reaches_its_prompt() {
    let model = checkpoints::instruct_checkpoint();
    let cwd = tempfile::tempdir().unwrap();
    let log_path = cwd.path().join("server.log");
    let mut client = LspClient::start_as_editor(BIN, cwd.path(), std::fs::File::create(&log_path).unwrap());
    client.initialize(
        &["utf-16"],
        json!({"model": model.path(), "edit": {"acceptSyntaxErrors": true, "mask": {"schedule": "linear", "maxSteps": 4}}}),
    );
    let status = wait_for_state(&mut client, "ready");
    assert_eq!(
        (status["modelInfo"]["family"].as_str(), status["modelInfo"]["followsInstructions"].as_bool()),
        (Some("dream"), Some(true)),
        "{status}"
    );

    let actions = notes_actions(&mut client);
    let titles: Vec<&str> = actions.iter().map(|a| a["title"].as_str().unwrap()).collect();
    for preset in ["Anneal: Add type annotations", "Anneal: Add docstrings", "Anneal: Simplify"] {
        assert!(titles.contains(&preset), "{preset} not offered: {titles:?}");
    }
    let prompted = || std::fs::read_to_string(&log_path).unwrap().matches("prompting with the checkpoint's chat template").count();

    // Without an instruction: the plain infill prompt.
    let plain = actions.iter().find(|a| a["title"] == "Anneal: Rewrite selection").unwrap().clone();
    let r = client.request("codeAction/resolve", plain);
    assert!(r["result"]["edit"].is_object() || r["result"]["command"].is_object(), "{r}");
    assert_eq!(prompted(), 0);

    // A preset: its instruction goes through the checkpoint's chat template.
    let docstrings = actions.iter().find(|a| a["title"] == "Anneal: Add docstrings").unwrap().clone();
    let r = client.request("codeAction/resolve", docstrings);
    assert!(r.get("error").is_none(), "{r}");
    let edits = &r["result"]["edit"]["documentChanges"][0];
    assert_eq!(edits["textDocument"]["version"], 1, "{r}");
    // (The log is written to stderr as it happens, before the answer.)
    assert_eq!(prompted(), 1, "{}", std::fs::read_to_string(&log_path).unwrap());
    assert!(client.shutdown().success());
}

#[test]
fn serve_dtype_is_the_default_the_editors_settings_override() {
    // `anneal serve --dtype q8_0`: the model loads quantized when the editor names no dtype.
    let mut client = LspClient::start_with_args(BIN, &["--dtype", "q8_0"]);
    client.initialize(&["utf-16"], json!({}));
    let status = wait_for_state(&mut client, "ready");
    assert_eq!(status["modelInfo"]["dtype"], "q8_0", "{status}");
    drop(client);
    // The editor's own setting wins.
    let mut client = LspClient::start_with_args(BIN, &["--dtype", "q8_0"]);
    client.initialize(&["utf-16"], json!({"dtype": "f32"}));
    let status = wait_for_state(&mut client, "ready");
    assert_eq!(status["modelInfo"]["dtype"], "f32", "{status}");
    // A dtype the server does not know stops it before it speaks, saying what it takes.
    let out = std::process::Command::new(BIN).args(["serve", "--dtype", "fp8"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("unknown dtype `fp8`") && stderr.contains("q4k"), "{stderr}");
}

#[test]
fn a_gguf_folder_serves_at_the_precision_it_stores() {
    // llama.cpp's layout (models/tests/fixtures/gguf, written by its own Python package): the
    // status names the file and its q8_0, whatever the dtype setting asks, and edits run on it.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/tests/fixtures/gguf/llada");
    let mut client = LspClient::start(BIN);
    client.initialize(&["utf-16"], json!({"model": dir, "dtype": "f32"}));
    let status = wait_for_state(&mut client, "ready");
    assert_eq!(status["modelInfo"]["dtype"], "q8_0", "{status}");
    assert_eq!(status["modelInfo"]["family"], "llada", "{status}");
    assert!(status["modelInfo"]["source"].as_str().unwrap().ends_with("model.gguf"), "{status}");
    let rewrite = notes_actions(&mut client).into_iter().find(|a| a["title"] == "Anneal: Rewrite selection").unwrap();
    let r = client.request("codeAction/resolve", rewrite);
    assert!(r.get("error").is_none(), "{r}");
    assert!(client.shutdown().success());
}

#[test]
fn each_family_serves_and_the_status_names_it() {
    // SDAR's block-causal Qwen3, CoDA's shifted one, Open-dCoder's qwen2 folder (Dream's layout),
    // LLaDA2's experts, LLaDA-MoE's (its config says `llada`).
    for (family, named) in [("sdar", "sdar"), ("coda", "coda"), ("open-dcoder", "dream"), ("llada2", "llada2"), ("llada-moe", "lladamoe")] {
        let dir = checkpoints::parity_fixture(family);
        let mut client = LspClient::start(BIN);
        client.initialize(&["utf-16"], json!({"model": dir, "edit": {"acceptSyntaxErrors": true}}));
        let status = wait_for_state(&mut client, "ready");
        assert_eq!(status["modelInfo"]["family"], named, "{status}");
        let rewrite = notes_actions(&mut client).into_iter().find(|a| a["title"] == "Anneal: Rewrite selection").unwrap();
        let r = client.request("codeAction/resolve", rewrite);
        assert!(r.get("error").is_none(), "{family}: {r}");
        assert!(client.shutdown().success());
    }
}

/// Opens a two-line plain-text document and returns the code actions on its first word.
fn notes_actions(client: &mut LspClient) -> Vec<Value> {
    let uri = "file:///tmp/anneal-e2e/notes.txt";
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "plaintext", "version": 1, "text": "alpha beta\ngamma delta\n"}}),
    );
    let range = json!({"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 5}});
    let r =
        client.request("textDocument/codeAction", json!({"textDocument": {"uri": uri}, "range": range, "context": {"diagnostics": []}}));
    r["result"].as_array().unwrap().clone()
}
