//! Pieces of a text that no grammar describes, by indentation: a line and the more indented
//! lines under it (a function and its body, in most languages) are one piece when they fit the
//! budget, else the line, the pieces of what is under it, and its closing line.

use std::ops::Range;

/// How deep indentation is followed; deeper lines are pieces of their own.
const MAX_DEPTH: usize = 64;

/// Tabs count to the next multiple of 8 columns, as terminals show them.
const TAB: usize = 8;

struct Line {
    /// The line's text without its indentation and trailing white space; empty when blank.
    code: Range<usize>,
    indent: usize,
}

impl Line {
    fn is_blank(&self) -> bool {
        self.code.is_empty()
    }
}

fn lines(text: &str, span: &Range<usize>) -> Vec<Line> {
    let mut at = span.start;
    text[span.clone()]
        .split_inclusive('\n')
        .map(|line| {
            let start = at;
            at += line.len();
            let mut indent = 0;
            for b in line.bytes().take_while(|b| *b == b' ' || *b == b'\t') {
                indent = if b == b'\t' { (indent / TAB + 1) * TAB } else { indent + 1 };
            }
            let body = line.trim_start_matches([' ', '\t']);
            let code_start = start + line.len() - body.len();
            Line { code: code_start..code_start + body.trim_end().len(), indent }
        })
        .collect()
}

/// A line that closes what the line above its body opened: `}`, `)`, `]`, or Ruby's, Lua's and
/// the shell's closing words.
fn closes(text: &str, line: &Line) -> bool {
    let code = &text[line.code.clone()];
    let word = code.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').next().unwrap_or("");
    code.starts_with(['}', ')', ']']) || matches!(word, "end" | "fi" | "done" | "esac")
}

/// Code ranges of `span` (of `text`), each a line or a line with what is under it, in order.
/// `fits` says whether a range is small enough to stay whole.
pub(crate) fn pieces(text: &str, span: &Range<usize>, fits: &dyn Fn(Range<usize>) -> bool) -> Vec<Range<usize>> {
    let lines = lines(text, span);
    let mut out = Vec::new();
    collect(text, &lines, 0..lines.len(), fits, 0, &mut out);
    out
}

fn collect(
    text: &str,
    lines: &[Line],
    range: Range<usize>,
    fits: &dyn Fn(Range<usize>) -> bool,
    depth: usize,
    out: &mut Vec<Range<usize>>,
) {
    let mut i = range.start;
    while i < range.end {
        if lines[i].is_blank() {
            i += 1;
            continue;
        }
        let indent = lines[i].indent;
        // The body: every following line that is blank or more indented, less trailing blanks.
        let mut end = i + 1;
        while end < range.end && (lines[end].is_blank() || lines[end].indent > indent) {
            end += 1;
        }
        let mut body_end = end;
        while lines[body_end - 1].is_blank() {
            body_end -= 1;
        }
        let closer = (body_end == end && end < range.end && lines[end].indent == indent && closes(text, &lines[end])).then_some(end);
        let last = closer.unwrap_or(body_end - 1);
        let whole = lines[i].code.start..lines[last].code.end;
        if last == i || depth >= MAX_DEPTH || fits(whole.clone()) {
            out.push(whole);
        } else {
            out.push(lines[i].code.clone());
            collect(text, lines, i + 1..body_end, fits, depth + 1, out);
            if let Some(c) = closer {
                out.push(lines[c].code.clone());
            }
        }
        i = last + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str, max_words: usize) -> Vec<&str> {
        let fits = |r: Range<usize>| text[r].split_whitespace().count() <= max_words;
        pieces(text, &(0..text.len()), &fits).into_iter().map(|r| &text[r]).collect()
    }

    const TEXT: &str = "\
proc a {
    one
    two
}

proc b {
\tif x {
\t\tthree
\t}
}
tail
";

    #[test]
    fn a_line_keeps_what_is_under_it_while_it_fits() {
        assert_eq!(texts(TEXT, 100), ["proc a {\n    one\n    two\n}", "proc b {\n\tif x {\n\t\tthree\n\t}\n}", "tail"]);
    }

    #[test]
    fn what_does_not_fit_is_cut_at_its_lines() {
        assert_eq!(texts(TEXT, 6), ["proc a {\n    one\n    two\n}", "proc b {", "if x {\n\t\tthree\n\t}", "}", "tail"]);
        assert_eq!(texts(TEXT, 0).len(), 10);
    }

    #[test]
    fn closing_words_and_dedents() {
        let text = "def f\n  x\nend\ndef g\n  y\nz\n";
        assert_eq!(texts(text, 4), ["def f\n  x\nend", "def g\n  y", "z"]);
        // An `end` without a body before it closes nothing.
        assert_eq!(texts("a\nend\n", 1), ["a", "end"]);
    }

    #[test]
    fn blank_text_has_no_pieces() {
        assert!(texts("\n  \n\t\n", 5).is_empty());
        assert_eq!(texts("a \r\nb\r\n", 5), ["a", "b"]);
    }
}
