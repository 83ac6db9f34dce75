//! MBPP in fill form, on the 500 problems of its test split (task ids 11–510): the signature
//! of the function under test, with the problem statement and the first test as its
//! docstring, is given; the body is the hole. Helpers the solution defines around it stay.

use std::path::Path;

use anyhow::Result;

use super::{rows, Harness, Lang, Loaded, Sample, Task};

#[derive(serde::Deserialize)]
struct Row {
    task_id: u32,
    text: String,
    code: String,
    test_list: Vec<String>,
    #[serde(default)]
    test_setup_code: String,
}

pub const DEFAULT_DATA: &str = "../shared/data/eval/mbpp/mbpp.jsonl";
const TEST_SPLIT: std::ops::RangeInclusive<u32> = 11..=510;

pub fn load(path: &Path) -> Result<Loaded> {
    let rows: Vec<Row> = rows::read_rows(path, "MBPP")?;
    let mut loaded = Loaded::default();
    for row in rows.into_iter().filter(|r| TEST_SPLIT.contains(&r.task_id)) {
        let id = format!("Mbpp/{}", row.task_id);
        match sample(&id, &row) {
            Ok(sample) => loaded.samples.push(sample),
            Err(why) => loaded.unusable.push(format!("{id}: {why}")),
        }
    }
    Ok(loaded)
}

fn sample(id: &str, row: &Row) -> Result<Sample, String> {
    // The release mixes CRLF and LF line ends; the hole is found by lines.
    let code = row.code.replace("\r\n", "\n");
    let first_test = row.test_list.first().ok_or("no tests")?;
    let function = tested_function(&code, &row.test_list).ok_or("no function of the code is called by the tests")?;
    let code = split_one_line_function(&code, &function);
    let body = body_of(&code, &function).ok_or("no indented body after the function's signature")?;
    let first = code[body.clone()].lines().find(|l| is_code(l)).unwrap_or("    ");
    let indent: String = first.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
    let docstring = format!("{indent}\"\"\"{}\n{indent}{}\n{indent}\"\"\"\n", row.text.trim(), first_test.trim());
    let head = format!("{}{docstring}", &code[..body.start]);
    let tail = &code[body.end..];
    Ok(Sample {
        id: id.to_string(),
        problem: id.to_string(),
        group: "python".into(),
        lang: Lang::Python,
        source_before: format!("{head}{tail}"),
        task: Task::Fill { at: head.len(), reference: code[body.clone()].to_string() },
        reference: format!("{head}{}{tail}", &code[body]),
        harness: Harness {
            prelude: String::new(),
            epilogue: format!("\n\n{}\n{}\n", row.test_setup_code.replace("\r\n", "\n"), row.test_list.join("\n")),
            quote: None,
        },
    })
}

/// The last function defined at the top level of `code` whose name the tests call.
fn tested_function(code: &str, tests: &[String]) -> Option<String> {
    code.lines()
        .filter_map(|l| l.strip_prefix("def "))
        .filter_map(|rest| rest.split('(').next().map(|name| name.trim().to_string()))
        .rfind(|name| tests.iter().any(|t| t.contains(&format!("{name}("))))
}

/// Where `def name(` (or `def name (`) starts a line of `code`.
fn def_of(code: &str, name: &str) -> Option<usize> {
    let pattern = format!("def {name}");
    code.match_indices(&pattern)
        .map(|(at, _)| at)
        .find(|&at| (at == 0 || code[..at].ends_with('\n')) && code[at + pattern.len()..].trim_start_matches(' ').starts_with('('))
}

/// A line that holds code: not blank, not only a comment (the release has comments at
/// column 0 inside bodies).
fn is_code(line: &str) -> bool {
    let line = line.trim();
    !line.is_empty() && !line.starts_with('#')
}

/// The colon that ends the signature starting at `def`: the first one outside brackets
/// (annotations and defaults may hold colons inside them).
fn signature_colon(code: &str, def: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (i, c) in code[def..].char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ':' if depth == 0 => return Some(def + i),
            _ => {}
        }
    }
    None
}

fn line_end(code: &str, at: usize) -> usize {
    code[at..].find('\n').map_or(code.len(), |i| at + i + 1)
}

/// `def f(x): return x` becomes `def f(x):` and an indented `return x`, so that its body can
/// be a hole like any other; other code is returned as it is.
fn split_one_line_function(code: &str, name: &str) -> String {
    let Some(colon) = def_of(code, name).and_then(|def| signature_colon(code, def)) else { return code.to_string() };
    let end = line_end(code, colon);
    let rest = code[colon + 1..end].trim();
    if rest.is_empty() || rest.starts_with('#') {
        return code.to_string();
    }
    format!("{}\n    {rest}\n{}", &code[..=colon], &code[end..])
}

/// Byte range of the body of top-level `def name(`: from the line after the signature (which
/// may span lines) to the next non-blank line at column 0, or the end.
fn body_of(code: &str, name: &str) -> Option<std::ops::Range<usize>> {
    let colon = signature_colon(code, def_of(code, name)?)?;
    let start = line_end(code, colon);
    if is_code(&code[colon + 1..start]) {
        return None;
    }
    let lines = code[start..].split_inclusive('\n').scan(start, |at, line| {
        *at += line.len();
        Some((*at - line.len(), line))
    });
    let mut code_lines = lines.filter(|(_, line)| is_code(line)).peekable();
    if !code_lines.peek()?.1.starts_with([' ', '\t']) {
        return None;
    }
    let end = code_lines.find(|(_, line)| !line.starts_with([' ', '\t'])).map_or(code.len(), |(at, _)| at);
    Some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_of_the_tested_function_is_the_hole() {
        let code = "import re\r\ndef helper(x):\r\n\treturn x\r\ndef solve(a,\r\n          b):  # two lines\r\n\tif a:\r\n\t\treturn helper(b)\r\n\r\n\treturn a\r\nR = 3\r\n";
        let row = Row {
            task_id: 11,
            text: "Solve it.".into(),
            code: code.into(),
            test_list: vec!["assert solve(1, 2) == 2".into()],
            test_setup_code: String::new(),
        };
        let s = sample("Mbpp/11", &row).unwrap();
        let Task::Fill { at, reference } = &s.task else { panic!("a fill") };
        assert_eq!(reference, "\tif a:\n\t\treturn helper(b)\n\n\treturn a\n");
        assert!(
            s.source_before[..*at].ends_with("b):  # two lines\n\t\"\"\"Solve it.\n\tassert solve(1, 2) == 2\n\t\"\"\"\n"),
            "{}",
            s.source_before
        );
        assert_eq!(&s.source_before[*at..], "R = 3\n");
        assert_eq!(s.reference, format!("{}{reference}R = 3\n", &s.source_before[..*at]));
    }

    #[test]
    fn a_one_line_function_gets_its_body_on_a_line_of_its_own() {
        let row = Row {
            task_id: 12,
            text: "t".into(),
            code: "def f(x: dict = {1: 2}): return x  \nprint(f())\n".into(),
            test_list: vec!["assert f(1) == 1".into()],
            test_setup_code: String::new(),
        };
        let s = sample("Mbpp/12", &row).unwrap();
        assert_eq!(s.task, Task::Fill { at: s.source_before.find("print").unwrap(), reference: "    return x\n".into() });
        assert!(s.source_before.starts_with("def f(x: dict = {1: 2}):\n    \"\"\"t\n"), "{}", s.source_before);
        let untested = Row { test_list: vec!["assert g(1) == 1".into()], ..row };
        assert!(sample("Mbpp/12", &untested).unwrap_err().contains("no function"));
        let spaced =
            Row { code: "def f (x):\n#a comment at column 0\n return x\n".into(), test_list: vec!["assert f(1) == 1".into()], ..untested };
        let s = sample("Mbpp/12", &spaced).unwrap();
        assert!(matches!(&s.task, Task::Fill { reference, .. } if reference == "#a comment at column 0\n return x\n"), "{:?}", s.task);
        assert!(s.source_before.starts_with("def f (x):\n \"\"\"t\n"), "{}", s.source_before);
    }
}
