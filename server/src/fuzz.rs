//! Property-based fuzzing of the server's input layers, in place of `cargo fuzz` (which needs a
//! nightly toolchain this project does not use). CI runs proptest's default 256 cases per
//! property; a long run is `PROPTEST_CASES=100000 cargo test -p anneal fuzz` (figures in
//! SECURITY.md). The planner's harness is in grammars/tests/plan_properties.rs.
//!
//! - Text sync: random `didChange` sequences — ranges past line and document ends, reversed,
//!   inside CRLF pairs and surrogate pairs, in all three encodings — applied to a [`Document`]
//!   give the text an independent reference (a plain `String`, its own line splitting and
//!   clamping) gives, and a kept syntax tree that agrees with a fresh parse.
//! - Framing: any bytes, cut into any chunks, never panic the deframer, and frames of valid
//!   JSON-RPC come out whole and in order whatever garbage surrounds them.

use anneal_grammars::{Language, SyntaxTree};
use proptest::prelude::*;

use crate::document::{Change, Document};
use crate::lsp::transport::{Deframer, Frame};
use crate::position::{Encoding, Position};

/// Byte offsets where lines start: after `\n`, `\r\n`, or a lone `\r` (ropey's `cr_lines`).
fn line_starts(text: &str) -> Vec<usize> {
    let b = text.as_bytes();
    let mut starts = vec![0];
    for i in 0..b.len() {
        if b[i] == b'\n' || (b[i] == b'\r' && b.get(i + 1) != Some(&b'\n')) {
            starts.push(i + 1);
        }
    }
    starts
}

/// The reference conversion: a position's byte offset, clamped to its line's content and to
/// the text.
fn reference_offset(text: &str, pos: Position, enc: Encoding) -> usize {
    let starts = line_starts(text);
    let Some(&start) = starts.get(pos.line as usize) else { return text.len() };
    let end = starts.get(pos.line as usize + 1).copied().unwrap_or(text.len());
    let content = text[start..end].trim_end_matches('\n').trim_end_matches('\r');
    let mut units = 0usize;
    for (at, c) in content.char_indices() {
        units += match enc {
            Encoding::Utf8 => c.len_utf8(),
            Encoding::Utf16 => c.len_utf16(),
            Encoding::Utf32 => 1,
        };
        if units > pos.character as usize {
            return start + at;
        }
    }
    start + content.len()
}

fn encoding() -> impl Strategy<Value = Encoding> {
    prop_oneof![Just(Encoding::Utf8), Just(Encoding::Utf16), Just(Encoding::Utf32)]
}

fn position() -> impl Strategy<Value = Position> {
    (0u32..12, 0u32..24).prop_map(|(line, character)| Position { line, character })
}

fn change() -> impl Strategy<Value = (Option<(Position, Position)>, String)> {
    let text = "[a-zé😀\t \r\n{}]{0,12}";
    prop_oneof![
        9 => (position(), position(), text).prop_map(|(a, b, t)| (Some((a, b)), t)),
        1 => text.prop_map(|t| (None, t)),
    ]
}

/// A valid JSON-RPC frame (its body), or garbage: a header block with no `Content-Length`,
/// made of bytes that cannot begin one (no `c`), so it cannot swallow the frame after it.
fn segment() -> impl Strategy<Value = (bool, Vec<u8>)> {
    prop_oneof![
        (0u32..1000, "[ -~é😀]{0,20}").prop_map(|(id, s)| {
            let body = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "m", "params": {"s": s}}).to_string();
            (true, body.into_bytes())
        }),
        proptest::collection::vec(prop_oneof![Just(b'x'), Just(b':'), Just(b' '), Just(b'{'), Just(b'\r'), Just(0u8), Just(0xffu8)], 1..30)
            .prop_map(|mut g| {
                g.retain(|&b| b != b'\r');
                g.extend_from_slice(b"\r\n\r\n");
                (false, g)
            }),
    ]
}

proptest! {
    #[test]
    fn text_sync_matches_a_reference_string(
        initial in "[a-zé😀\t \r\n]{0,40}",
        changes in proptest::collection::vec(change(), 1..12),
        enc in encoding(),
    ) {
        let mut doc = Document::new(&initial, 1, "python", "fuzz.py");
        let mut reference = initial.clone();
        for (version, (range, text)) in changes.into_iter().enumerate() {
            match range {
                None => reference = text.clone(),
                Some((a, b)) => {
                    let (a, b) = (reference_offset(&reference, a, enc), reference_offset(&reference, b, enc));
                    reference.replace_range(a.min(b)..a.max(b), &text);
                }
            }
            doc.apply(vec![Change { range, text }], version as i32 + 2, enc);
            prop_assert_eq!(doc.text(), reference.clone());
            // The kept syntax tree, edited and reparsed incrementally, counts the errors a
            // fresh parse of the same text counts.
            let kept = doc.syntax.as_ref().expect("a small Python document keeps its tree");
            let fresh = SyntaxTree::new(&reference, Some(Language::Python));
            prop_assert_eq!(kept.syntax_errors(&reference, 0..reference.len()), fresh.syntax_errors(&reference, 0..reference.len()));
        }
    }

    #[test]
    fn arbitrary_bytes_in_arbitrary_chunks_never_panic_the_deframer(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        cuts in proptest::collection::vec(1usize..50, 0..20),
    ) {
        let mut d = Deframer::default();
        let mut rest = bytes.as_slice();
        for cut in cuts.into_iter().chain(std::iter::once(usize::MAX)) {
            let (chunk, tail) = rest.split_at(cut.min(rest.len()));
            rest = tail;
            d.push(chunk);
            while let Some(frame) = d.next_frame() {
                if let Frame::Message(body) = frame {
                    // Only what tower-lsp-server can decode is passed on.
                    prop_assert!(std::str::from_utf8(&body).is_ok());
                }
            }
        }
    }

    #[test]
    fn valid_frames_pass_whole_and_in_order_around_garbage(
        segments in proptest::collection::vec(segment(), 1..8),
        chunk in 1usize..64,
    ) {
        let mut input = vec![];
        for (valid, bytes) in &segments {
            if *valid {
                input.extend(format!("Content-Length: {}\r\n\r\n", bytes.len()).into_bytes());
            }
            input.extend_from_slice(bytes);
        }
        let mut d = Deframer::default();
        let (mut messages, mut invalid) = (vec![], 0);
        for piece in input.chunks(chunk) {
            d.push(piece);
            while let Some(frame) = d.next_frame() {
                match frame {
                    Frame::Message(body) => messages.push(body),
                    Frame::Invalid { .. } => invalid += 1,
                }
            }
        }
        let expected: Vec<Vec<u8>> = segments.iter().filter(|s| s.0).map(|s| s.1.clone()).collect();
        let garbage = segments.iter().filter(|s| !s.0).count();
        prop_assert_eq!(messages, expected);
        // Garbage is answered once per run of it (reading resumes at the next header).
        prop_assert!(invalid <= garbage && (garbage == 0) == (invalid == 0), "{} answers to {} garbage segments", invalid, garbage);
    }
}
