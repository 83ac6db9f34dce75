//! The load test of issue 9: 1,000 rewrite requests against the real `anneal serve`,
//! interleaved with bursts of `didChange` and `$/cancelRequest`, several in flight at once over
//! three documents. It checks that the server never crashes or deadlocks, that every request is
//! answered exactly once (duplicate and missing answers are counted), that every edit is pinned
//! to the version it was asked at and fits that version's text exactly, changing only the lines
//! it was asked for, that a `$/cancelRequest` alone stops a running rewrite within about one
//! step, and that resident memory at the end is within 10% of what it was after the first 100
//! requests. It prints its figures.
//!
//! A tiny random-weight checkpoint keeps each rewrite to milliseconds: the subject here is
//! the server's plumbing under load, not what the model writes.

use anneal_test_support::lsp_client;

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
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
/// The instruction that slows a rewrite's steps by `STEP_DELAY` (the server's test hook), for
/// the cancellation probes.
const SLOW: &str = "slow";
const STEP_DELAY: &str = "40:slow";
/// A cancellation probe every this many requests.
const PROBE_EVERY: usize = 100;
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

/// A sent resolve: which document, the version it was asked at, and the lines it may change.
struct Pending {
    id: i64,
    doc: usize,
    version: i64,
    lines: Range<usize>,
}

#[derive(Default, Debug)]
struct Tally {
    edits: usize,
    empty: usize,
    cancelled: usize,
    content_modified: usize,
    missing: usize,
    duplicates: usize,
    changes: usize,
    cancels_sent: usize,
    probes: usize,
}

/// The lines a rewrite of `line` may change: the line, or for a `def` line of the Python
/// document its whole function (a selection widens to the statements it touches).
fn lines_of_rewrite(doc: &Doc, line: usize) -> Range<usize> {
    if doc.lines[line].starts_with("def ") {
        let end = (line + 1..doc.lines.len()).find(|&l| !doc.lines[l].starts_with("    ")).unwrap_or(doc.lines.len());
        line..end
    } else {
        line..line + 1
    }
}

/// Whether `character` (UTF-16 code units) is a position in `line`: at most its length, and
/// not inside a surrogate pair.
fn is_position_in(line: &str, character: usize) -> bool {
    let mut units = 0;
    for c in line.chars() {
        if units >= character {
            break;
        }
        units += c.len_utf16();
    }
    units == character
}

/// Checks one answer. An edit must be pinned to the very version it was asked at (the
/// snapshot it was computed from); every position in it must exist in that version's text —
/// the documents' lines change width from version to version, so an edit computed on another
/// text ends past a line or inside an emoji sooner or later — and applied to that text it must
/// change only the lines asked for. An error must be a cancellation or a content-modified.
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
    assert_eq!(version, p.version, "an edit pinned to v{version}, asked at v{}", p.version);
    let text = &texts[&(p.doc, version)];
    let lines: Vec<&str> = text.split('\n').collect();
    let edits = changes[0]["edits"].as_array().unwrap();
    for e in edits {
        let at = |end: &str| (e["range"][end]["line"].as_u64().unwrap() as usize, e["range"][end]["character"].as_u64().unwrap() as usize);
        let (start, end) = (at("start"), at("end"));
        for (line, character) in [start, end] {
            let exists = lines.get(line).is_some_and(|l| is_position_in(l, character));
            assert!(exists, "no position {line}:{character} in the text of v{version}: {e}");
        }
        let inside = start.0 >= p.lines.start && (end.0 < p.lines.end || end == (p.lines.end, 0));
        assert!(inside, "an edit outside lines {:?}, the ones asked for: {e}", p.lines);
    }
    let new_text = apply_text_edits(text, edits);
    let new_lines: Vec<&str> = new_text.split('\n').collect();
    let after = lines.len() - p.lines.end;
    assert!(
        new_lines.len() >= p.lines.start + after
            && new_lines[..p.lines.start] == lines[..p.lines.start]
            && new_lines[new_lines.len() - after..] == lines[p.lines.end..],
        "the edit changed lines outside {:?}",
        p.lines
    );
    tally.edits += 1;
}

/// Waits for the answer to `p` and checks it; an answer that never comes is counted.
fn settle(client: &mut LspClient, p: &Pending, docs: &[Doc], texts: &HashMap<(usize, i64), String>, tally: &mut Tally) {
    match client.try_wait_response(p.id, LIMIT) {
        Some(r) => check(&r, p, docs, texts, tally),
        None => tally.missing += 1,
    }
}

/// A rewrite whose only way to end early is the client's `$/cancelRequest`: nothing else in
/// flight on its document, no typing, and its steps slowed by the server's test hook so that it
/// is still running when the cancel comes. It must answer RequestCancelled within about one
/// step (a step is checked for cancellation when it ends): at most twice the slowest of the
/// steps just before, plus 20 ms for the messages. Returns (latency, slowest step).
fn cancel_probe(client: &mut LspClient, doc: &Doc) -> (Duration, Duration) {
    let whole = json!({"start": {"line": 0, "character": 0}, "end": {"line": doc.lines.len(), "character": 0}});
    let r = client
        .request("textDocument/codeAction", json!({"textDocument": {"uri": doc.uri}, "range": whole, "context": {"diagnostics": []}}));
    let mut action = r["result"][0].clone();
    action["data"]["instruction"] = json!(SLOW);
    let id = client.request_async("codeAction/resolve", action);
    let token = client.wait_for_a_step();
    let (r, latency, step) = client.cancel_after_steps(id, &token, 2);
    assert_eq!(r["error"]["code"], REQUEST_CANCELLED, "$/cancelRequest alone stops a running rewrite: {r}");
    assert!(latency <= 2 * step + Duration::from_millis(20), "cancelled after {latency:?}, a step takes up to {step:?}");
    (latency, step)
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
    let mut client =
        LspClient::start_with_env(BIN, &[("ANNEAL_LOG", "warn"), ("MIMALLOC_PURGE_DELAY", "0"), ("ANNEAL_TEST_STEP_DELAY", STEP_DELAY)]);
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
    let mut probes = vec![];
    let started = Instant::now();
    for n in 0..requests {
        if n % PROBE_EVERY == PROBE_EVERY / 2 {
            while let Some(p) = pending.pop_front() {
                settle(&mut client, &p, &docs, &texts, &mut tally);
            }
            probes.push(cancel_probe(&mut client, &docs[n / PROBE_EVERY % docs.len()]));
            tally.probes += 1;
        }
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
        pending.push_back(Pending { id, doc: d, version: docs[d].version, lines: lines_of_rewrite(&docs[d], line as usize) });

        if rng.random_bool(0.3) {
            // A burst of typing: each change replaces one line, inside or outside the span.
            for _ in 0..rng.random_range(1..=5) {
                let target = rng.random_range(0..docs[d].lines.len());
                let old_width = docs[d].lines[target].encode_utf16().count();
                // The same line with other numbers: the documents keep their shape, so the load
                // stays the same from the first request to the last and memory can be compared,
                // while their lines change width, so that an edit computed on another version
                // does not fit this one.
                let new_line = renumber(&originals[d][target], rng.random_range(0..100_000));
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
            settle(&mut client, &p, &docs, &texts, &mut tally);
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
    let id = client.request_async("codeAction/resolve", probe["result"][0].clone());
    let p = Pending { id, doc: 0, version: docs[0].version, lines: lines_of_rewrite(&docs[0], 1) };
    let r = client.wait_response(p.id, LIMIT);
    assert!(r.get("error").is_none(), "a quiet rewrite after the load failed: {r}");
    check(&r, &p, &docs, &texts, &mut tally);
    // Every request has had its answer: whatever answer still comes is one too many.
    client.pump(Duration::from_millis(300));
    tally.duplicates = client.seen.iter().filter(|m| m.get("method").is_none()).count();

    eprintln!(
        "stress: {requests} rewrites in {elapsed:.1} s ({:.0}/s); {tally:?}; RSS after 100: {} KiB, at the end: {} KiB",
        requests as f64 / elapsed,
        rss_after_100.unwrap_or(0),
        rss_end.unwrap_or(0)
    );
    // A rewrite is superseded by the next one on its document, or cancelled by the client or by
    // typing in its span; the rest must come back as edits.
    eprintln!("cancellation probes (latency, slowest step before it): {probes:?}");
    assert_eq!((tally.missing, tally.duplicates), (0, 0), "every request answered exactly once: {tally:?}");
    assert_eq!(tally.edits + tally.empty + tally.cancelled + tally.content_modified, requests + 1, "{tally:?}");
    assert_eq!(tally.probes, (requests + PROBE_EVERY / 2) / PROBE_EVERY, "{tally:?}");
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
