//! The harness's own tests: a right program passes, a wrong one fails, one that never ends
//! times out and one that eats memory is stopped by the memory limit well before the time
//! limit. Languages whose toolchain is missing say so and are skipped.

use super::*;

fn executor(lang: Lang, wall_secs: u64) -> Executor {
    let cache = std::env::temp_dir().join("anneal-eval-test-cache");
    Executor::new(&[lang], Limits { wall: Duration::from_secs(wall_secs), memory_mb: 256 }, &cache)
}

fn ready(executor: &Executor, lang: Lang) -> bool {
    if let Some(why) = executor.unavailable(lang) {
        eprintln!("skipped: {} tests of the executor: {why}", lang.name());
        return false;
    }
    true
}

const PY_TESTS: &str = "\n\nassert add(2, 3) == 5\nassert add(-1, 1) == 0\n";

#[test]
fn python_reference_passes_and_a_bug_fails() {
    let ex = executor(Lang::Python, 10);
    assert!(ready(&ex, Lang::Python), "python3 is required");
    let right = ex.execute(Lang::Python, &format!("def add(a, b):\n    return a + b{PY_TESTS}")).unwrap();
    assert_eq!(right.verdict, Verdict::Passed, "{}", right.output_tail);
    let wrong = ex.execute(Lang::Python, &format!("def add(a, b):\n    return a - b{PY_TESTS}")).unwrap();
    assert_eq!(wrong.verdict, Verdict::Failed);
    assert!(wrong.output_tail.contains("AssertionError"), "{}", wrong.output_tail);
    let broken = ex.execute(Lang::Python, &format!("def add(a, b)\n    return a + b{PY_TESTS}")).unwrap();
    assert_eq!(broken.verdict, Verdict::Failed);
}

#[test]
fn python_stdlib_only_no_network() {
    let ex = executor(Lang::Python, 10);
    let stdlib = ex.execute(Lang::Python, "import json, collections, itertools\nassert json.loads('[1]') == [1]\n").unwrap();
    assert_eq!(stdlib.verdict, Verdict::Passed, "{}", stdlib.output_tail);
    if ex.sandbox.network_isolated {
        let net = "import socket\ns = socket.create_connection(('1.1.1.1', 53), timeout=2)\n";
        assert_eq!(ex.execute(Lang::Python, net).unwrap().verdict, Verdict::Failed, "the network is reachable");
    } else {
        eprintln!("skipped: network isolation (unshare -rn does not work here)");
    }
}

#[test]
fn a_candidate_that_never_ends_times_out() {
    let ex = executor(Lang::Python, 1);
    let run = ex.execute(Lang::Python, "while True:\n    pass\n").unwrap();
    assert_eq!(run.verdict, Verdict::Timeout);
    assert!(run.seconds < 8.0, "took {}s", run.seconds);
}

#[test]
fn a_memory_hog_is_stopped_by_the_memory_limit() {
    // 8 GiB against a 256 MiB limit, with 60 s of time: only the memory limit can stop it fast.
    let ex = executor(Lang::Python, 60);
    let run = ex.execute(Lang::Python, "x = bytearray(8 << 30)\nx[-1] = 1\n").unwrap();
    assert_eq!(run.verdict, Verdict::Failed);
    assert!(run.output_tail.contains("MemoryError"), "{}", run.output_tail);
    assert!(run.seconds < 30.0, "took {}s", run.seconds);
}

#[test]
fn javascript_assertions_fail_the_program() {
    let ex = executor(Lang::Js, 10);
    if !ready(&ex, Lang::Js) {
        return;
    }
    let prelude = crate::eval::humanevalfix::JS_STRICT_ASSERT;
    let right = ex.execute(Lang::Js, &format!("{prelude}const add = (a, b) => a + b;\nconsole.assert(add(2, 3) === 5)\n")).unwrap();
    assert_eq!(right.verdict, Verdict::Passed, "{}", right.output_tail);
    let wrong = ex.execute(Lang::Js, &format!("{prelude}const add = (a, b) => a - b;\nconsole.assert(add(2, 3) === 5)\n")).unwrap();
    assert_eq!(wrong.verdict, Verdict::Failed);
}

/// Through `cargo test --offline` on the prepared crate (its dependencies are built once, in a
/// cache that later runs reuse).
#[test]
fn rust_reference_passes_and_a_bug_fails() {
    let ex = executor(Lang::Rust, 60);
    if !ready(&ex, Lang::Rust) {
        return;
    }
    let tests = "\n#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn adds() { assert_eq!(add(2, 3), 5); }\n}\n";
    let uses_deps = "use rand::Rng;\nuse regex::Regex;\n#[allow(dead_code)]\nfn deps() -> bool { Regex::new(\"a+\").unwrap().is_match(\"aa\") && rand::thread_rng().gen_range(0, 2) < 2 }\n";
    let right = ex.execute(Lang::Rust, &format!("{uses_deps}fn add(a: i32, b: i32) -> i32 {{ a + b }}{tests}")).unwrap();
    assert_eq!(right.verdict, Verdict::Passed, "{}", right.output_tail);
    let wrong = ex.execute(Lang::Rust, &format!("fn add(a: i32, b: i32) -> i32 {{ a - b }}{tests}")).unwrap();
    assert_eq!(wrong.verdict, Verdict::Failed, "{}", wrong.output_tail);
    let broken = ex.execute(Lang::Rust, &format!("fn add(a: i32, b: i32) -> i32 {{ a - }}{tests}")).unwrap();
    assert_eq!(broken.verdict, Verdict::CompileError);
}
