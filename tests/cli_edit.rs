//! `anneal edit` end to end on the embedded default model: the diff covers the widened span,
//! the result parses, and `--write` changes the file only when asked.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_anneal");

fn edit(file: &std::path::Path, range: &str, extra: &[&str]) -> std::process::Output {
    Command::new(BIN).arg("edit").arg(file).args(["--range", range]).args(extra).output().unwrap()
}

#[test]
fn bad_ranges_and_files_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = edit(&dir.path().join("missing.py"), "0:0-0:0", &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"), "{}", String::from_utf8_lossy(&out.stderr));
    let file = dir.path().join("x.py");
    std::fs::write(&file, "x = 1\n").unwrap();
    let out = edit(&file, "0:0", &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("LINE:COL-LINE:COL"));
    std::fs::write(&file, [0xff, 0xfe, 0x00]).unwrap();
    let out = edit(&file, "0:0-0:1", &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not UTF-8"));
}
