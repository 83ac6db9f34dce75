//! The load test of issue 9: 1,000 rewrite requests against the real `anneal serve`,
//! interleaved with bursts of `didChange` and `$/cancelRequest`, several in flight at once over
//! three documents. It checks that the server never crashes or deadlocks (every request is
//! answered within a limit), that every edit it returns is pinned to a version whose text it
//! fits, and that resident memory at the end is within 10% of what it was after the first 100
//! requests. It prints its figures.
//!
//! A tiny random-weight checkpoint keeps each rewrite to milliseconds: the subject here is
//! the server's plumbing under load, not what the model writes.

#[path = "support/lsp_client.rs"]
mod lsp_client;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use lsp_client::{apply_text_edits, LspClient};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_anneal");
/// `ANNEAL_STRESS_REQUESTS` runs a longer test; 1,000 by default.
fn requests() -> usize {
    std::env::var("ANNEAL_STRESS_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
}
const IN_FLIGHT: usize = 4;
const LIMIT: Duration = Duration::from_secs(60);
const REQUEST_CANCELLED: i64 = -32800;
const CONTENT_MODIFIED: i64 = -32801;

struct Doc {
    uri: String,
    version: i64,
    lines: Vec<String>,
}

impl Doc {
    fn text(&self) -> String {
        self.lines.iter().map(|l| format!("{l}\n")).collect()
    }
}

fn documents() -> Vec<(Doc, &'static str)> {
    let python: Vec<String> =
        (0..40).map(|i| if i % 4 == 0 { format!("def f{i}(x):") } else { format!("    x = x + {i}  # é😀") }).collect();
    let rust: Vec<String> = (0..40).map(|i| format!("fn g{i}(x: u32) -> u32 {{ x + {i} }}")).collect();
    let text: Vec<String> = (0..40).map(|i| format!("line {i} of plain text")).collect();
    vec![
        (Doc { uri: "file:///tmp/anneal-stress/a.py".into(), version: 1, lines: python }, "python"),
        (Doc { uri: "file:///tmp/anneal-stress/b.rs".into(), version: 1, lines: rust }, "rust"),
        (Doc { uri: "file:///tmp/anneal-stress/c.txt".into(), version: 1, lines: text }, "plaintext"),
    ]
}

/// `line` with every run of digits replaced by `n`.
fn renumber(line: &str, n: u32) -> String {
    let mut out = String::new();
    let mut in_number = false;
    for c in line.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push_str(&n.to_string());
            }
            in_number = true;
        } else {
            out.push(c);
            in_number = false;
        }
    }
    out
}

/// A sent resolve: which document, and the version it was asked at.
struct Pending {
    id: i64,
    doc: usize,
    version: i64,
}

#[derive(Default, Debug)]
struct Tally {
    edits: usize,
    empty: usize,
    cancelled: usize,
    content_modified: usize,
    changes: usize,
    cancels_sent: usize,
}

/// Checks one answer: an edit must be pinned to a version at or after the one it was asked at
/// and fit that version's text; an error must be a cancellation or a content-modified.
fn check(r: &Value, p: &Pending, docs: &[Doc], texts: &HashMap<(usize, i64), String>, tally: &mut Tally) {
    if let Some(e) = r.get("error") {
        match e["code"].as_i64() {
            Some(REQUEST_CANCELLED) => tally.cancelled += 1,
            Some(CONTENT_MODIFIED) => tally.content_modified += 1,
            _ => panic!("unexpected error for request {}: {r}", p.id),
        }
        return;
    }
    let Some(changes) = r["result"]["edit"]["documentChanges"].as_array() else {
        tally.empty += 1;
        return;
    };
    assert_eq!(changes.len(), 1, "{r}");
    assert_eq!(changes[0]["textDocument"]["uri"], docs[p.doc].uri.as_str());
    let version = changes[0]["textDocument"]["version"].as_i64().unwrap();
    assert!(version >= p.version && version <= docs[p.doc].version, "edit pinned to v{version}, asked at v{}", p.version);
    let text = &texts[&(p.doc, version)];
    let edits = changes[0]["edits"].as_array().unwrap();
    let lines = text.lines().count() as u64;
    for e in edits {
        for end in ["start", "end"] {
            assert!(e["range"][end]["line"].as_u64().unwrap() <= lines, "edit beyond the text of v{version}: {e}");
        }
    }
    apply_text_edits(text, edits);
    tally.edits += 1;
}

/// Memory is read every `SAMPLE_EVERY` requests over `SAMPLE_SPAN` requests after the first
/// 100 and before the end, and the medians compared: one reading depends on which pages the
/// allocator happens to hold (±6% here), a median of six much less.
const SAMPLE_EVERY: usize = 20;
const SAMPLE_SPAN: usize = 100;

fn median(readings: &mut [u64]) -> Option<u64> {
    readings.sort_unstable();
    readings.get(readings.len() / 2).copied()
}

/// Resident memory once the server is idle: the allocator returns freed pages after a short
/// delay, and a reading in the middle of a decode would measure that decode.
fn quiet_rss(client: &mut LspClient) -> Option<u64> {
    client.pump(Duration::from_millis(300));
    client.proc_status("VmRSS")
}

#[test]
fn a_thousand_rewrites_with_edits_and_cancellations() {
    let requests = requests();
    let model = tempfile::tempdir().unwrap();
    assert!(std::process::Command::new(BIN).args(["model", "random"]).arg(model.path()).status().unwrap().success());
    // mimalloc returns freed pages to the system at once rather than after a delay, so that
    // resident memory tracks live memory instead of the allocator's cache.
    let mut client = LspClient::start_with_env(BIN, &[("ANNEAL_LOG", "warn"), ("MIMALLOC_PURGE_DELAY", "0")]);
    client.initialize(
        &[],
        json!({"model": model.path(), "edit": {"acceptSyntaxErrors": true, "mask": {"maxSteps": 4}, "edit": {"maxSteps": 4}}}),
    );
    let mut docs = vec![];
    let mut texts = HashMap::new();
    for (i, (doc, language)) in documents().into_iter().enumerate() {
        client.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": doc.uri, "languageId": language, "version": 1, "text": doc.text()}}),
        );
        texts.insert((i, 1), doc.text());
        docs.push(doc);
    }

    let originals: Vec<Vec<String>> = docs.iter().map(|d| d.lines.clone()).collect();
    let mut rng = StdRng::seed_from_u64(9);
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut tally = Tally::default();
    // Quiet RSS readings just after the first 100 requests, and over the last ones.
    let (mut early, mut late) = (vec![], vec![]);
    let started = Instant::now();
    for n in 0..requests {
        let d = rng.random_range(0..docs.len());
        let line = rng.random_range(0..docs[d].lines.len()) as u32;
        let width = docs[d].lines[line as usize].encode_utf16().count() as u32;
        let range = json!({"start": {"line": line, "character": 0}, "end": {"line": line, "character": width}});
        let r = client.request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": docs[d].uri}, "range": range, "context": {"diagnostics": []}}),
        );
        let action = r["result"][0].clone();
        assert!(action.is_object(), "no rewrite action: {r}");
        let id = client.request_async("codeAction/resolve", action);
        pending.push_back(Pending { id, doc: d, version: docs[d].version });

        if rng.random_bool(0.3) {
            // A burst of typing: each change replaces one line, inside or outside the span.
            for _ in 0..rng.random_range(1..=5) {
                let target = rng.random_range(0..docs[d].lines.len());
                let old_width = docs[d].lines[target].encode_utf16().count();
                // The same line with other numbers: the documents keep their shape, so the load
                // stays the same from the first request to the last and memory can be compared.
                let new_line = renumber(&originals[d][target], rng.random_range(0..1000));
                let doc = &mut docs[d];
                doc.version += 1;
                doc.lines[target] = new_line.clone();
                client.notify(
                    "textDocument/didChange",
                    json!({"textDocument": {"uri": doc.uri, "version": doc.version},
                           "contentChanges": [{"range": {"start": {"line": target, "character": 0}, "end": {"line": target, "character": old_width}}, "text": new_line}]}),
                );
                texts.insert((d, doc.version), doc.text());
                tally.changes += 1;
            }
        }
        if rng.random_bool(0.2) {
            client.notify("$/cancelRequest", json!({"id": id}));
            tally.cancels_sent += 1;
        }
        let measure = (n + 1) % SAMPLE_EVERY == 0 && (n < 100 + SAMPLE_SPAN || n + 1 > requests - SAMPLE_SPAN) && n + 1 >= 100;
        while pending.len() > IN_FLIGHT || (n + 1 == requests || measure) && !pending.is_empty() {
            let p = pending.pop_front().unwrap();
            let r = client.wait_for(LIMIT, |m| m["id"] == p.id && m.get("method").is_none());
            check(&r, &p, &docs, &texts, &mut tally);
        }
        if measure {
            let rss = quiet_rss(&mut client);
            if n < 100 + SAMPLE_SPAN {
                early.extend(rss)
            } else {
                late.extend(rss)
            }
        }
        if (n + 1) % 250 == 0 {
            let rss = quiet_rss(&mut client).unwrap_or(0);
            eprintln!(
                "after {} requests: RSS {rss} KiB (anonymous {} KiB, files {} KiB), {} threads",
                n + 1,
                client.proc_status("RssAnon").unwrap_or(0),
                client.proc_status("RssFile").unwrap_or(0),
                client.proc_status("Threads").unwrap_or(0)
            );
        }
        // The client keeps every notification; drop them so its own memory stays flat.
        client.seen.retain(|m| m.get("method").is_none());
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert!(client.exit_status().is_none(), "the server died under load");
    eprintln!("RSS readings (KiB): early {early:?}, late {late:?}");
    let (rss_after_100, rss_end) = (median(&mut early), median(&mut late));
    // The documents the server holds must still be the ones this client sent.
    let probe = client.request("textDocument/codeAction", json!({"textDocument": {"uri": docs[0].uri}, "range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 4}}, "context": {"diagnostics": []}}));
    let p = Pending { id: client.request_async("codeAction/resolve", probe["result"][0].clone()), doc: 0, version: docs[0].version };
    let r = client.wait_for(LIMIT, |m| m["id"] == p.id && m.get("method").is_none());
    assert!(r.get("error").is_none(), "a quiet rewrite after the load failed: {r}");
    check(&r, &p, &docs, &texts, &mut tally);

    eprintln!(
        "stress: {requests} rewrites in {elapsed:.1} s ({:.0}/s); {tally:?}; RSS after 100: {} KiB, at the end: {} KiB",
        requests as f64 / elapsed,
        rss_after_100.unwrap_or(0),
        rss_end.unwrap_or(0)
    );
    // A rewrite is superseded by the next one on its document, or cancelled by the client or by
    // typing in its span; the rest must come back as edits.
    assert_eq!(tally.edits + tally.empty + tally.cancelled + tally.content_modified, requests + 1, "every request answered once");
    assert!(tally.edits >= requests / 10, "rewrites complete under load: {tally:?}");
    assert!(tally.cancelled >= tally.cancels_sent / 2, "cancellations take effect: {tally:?}");
    // Within 10% (issue 9). It grew by 15–30% while a cancelled decode, which finishes its
    // step after its request is answered, released the job permit early: the next job started
    // beside it on another blocking thread, each thread with its own allocator heap. The worker
    // now holds the permit to the end; over 1,000 requests five runs read −4% to +1%, over
    // 3,000 +4%, always with the same 9 threads.
    if let (Some(before), Some(after)) = (rss_after_100, rss_end) {
        let growth = after as f64 / before as f64 - 1.0;
        eprintln!("stress: resident memory {:+.1}% from request 100 to the end (target: within 10%)", growth * 100.0);
        assert!(growth <= 0.10, "resident memory grew from {before} KiB to {after} KiB ({:+.1}%)", growth * 100.0);
    }
    assert!(client.shutdown().success());
}
