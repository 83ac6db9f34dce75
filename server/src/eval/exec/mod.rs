//! Runs test programs: one temporary folder and one limited subprocess per candidate, laid out
//! and built as each language needs.

pub mod sandbox;
pub mod toolchains;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

pub use sandbox::{Ended, Limits, Sandbox};
use toolchains::{Ready, Toolchains};

use super::Lang;

/// What running a candidate's tests showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Passed,
    Failed,
    CompileError,
    /// Over the time limit: a failure, reported as its own kind.
    Timeout,
}

#[derive(Clone, Debug)]
pub struct Execution {
    pub verdict: Verdict,
    pub output_tail: String,
    pub seconds: f64,
}

pub struct Executor {
    pub sandbox: Sandbox,
    /// Limits for running the tests (the candidate's own code).
    pub run_limits: Limits,
    toolchains: Toolchains,
}

/// Compilers get more room than the code they compile: rustc and javac need more than a
/// small test, and a slow machine shared with other work should not fail a correct candidate.
const COMPILE_LIMITS: Limits = Limits { wall: Duration::from_secs(180), memory_mb: 4096 };

impl Executor {
    /// Detects the sandbox and prepares the toolchains of `langs`; `cache` keeps Rust's and
    /// Go's builds between runs.
    pub fn new(langs: &[Lang], run_limits: Limits, cache: &Path) -> Executor {
        Executor { sandbox: Sandbox::detect(), run_limits, toolchains: toolchains::detect(langs, cache) }
    }

    /// Why `lang` cannot run here, if it cannot.
    pub fn unavailable(&self, lang: Lang) -> Option<&str> {
        match self.toolchains.get(&lang) {
            Some(Ok(_)) => None,
            Some(Err(why)) => Some(why),
            None => Some("not prepared"),
        }
    }

    pub fn execute(&self, lang: Lang, program: &str) -> Result<Execution> {
        let ready = match self.toolchains.get(&lang) {
            Some(Ok(ready)) => ready,
            _ => anyhow::bail!("{} cannot run here: {}", lang.name(), self.unavailable(lang).unwrap_or("")),
        };
        let dir = tempfile::Builder::new().prefix("anneal-eval-").tempdir().context("cannot make a temporary folder")?;
        let env: Vec<(String, String)> = match ready {
            Ready::Plain | Ready::Python(_) => vec![],
            Ready::Prepared { template, env } => {
                copy_files(template, dir.path())?;
                env.clone()
            }
        };
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let python = if let Ready::Python(path) = ready { path.as_str() } else { "python3" };
        let (file, compile, run) = layout(lang, self.run_limits.memory_mb, python);
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().expect("a file in a folder"))?;
        std::fs::write(&path, program)?;
        let mut seconds = 0.0;
        if let Some(compile) = compile {
            let built = self.sandbox.run(&compile, dir.path(), &env, COMPILE_LIMITS)?;
            seconds += built.seconds;
            if !built.ok() {
                let verdict = if built.ended == Ended::TimedOut { Verdict::Timeout } else { Verdict::CompileError };
                return Ok(Execution { verdict, output_tail: built.output_tail, seconds });
            }
        }
        let ran = self.sandbox.run(&run, dir.path(), &env, self.run_limits)?;
        let verdict = match ran.ended {
            Ended::Exit(0) => Verdict::Passed,
            Ended::TimedOut => Verdict::Timeout,
            _ => Verdict::Failed,
        };
        Ok(Execution { verdict, output_tail: ran.output_tail, seconds: seconds + ran.seconds })
    }
}

/// The file a language's program goes in, the command that builds it (if any) and the one
/// that runs its tests.
fn layout(lang: Lang, memory_mb: u64, python: &str) -> (&'static str, Option<Vec<String>>, Vec<String>) {
    let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match lang {
        // -I -S: no user site, no site-packages, no PYTHON* variables: the standard library only.
        Lang::Python => ("main.py", None, argv(&[python, "-I", "-S", "main.py"])),
        Lang::Js => ("main.js", None, argv(&["node", "main.js"])),
        Lang::Java => {
            // The heap inside the memory limit, so running out is the JVM's own clear error.
            let heap = format!("-Xmx{}m", (memory_mb / 2).max(64));
            ("Main.java", Some(argv(&["javac", "-nowarn", "Main.java"])), argv(&["java", &heap, "Main"]))
        }
        Lang::Cpp => ("main.cpp", Some(argv(&["g++", "-std=c++17", "-O1", "-o", "main", "main.cpp"])), argv(&["./main"])),
        Lang::Go => ("main_test.go", Some(argv(&["go", "test", "-c", "-o", "main.test"])), argv(&["./main.test"])),
        Lang::Rust => (
            "src/lib.rs",
            Some(argv(&["cargo", "test", "--offline", "--quiet", "--no-run"])),
            argv(&["cargo", "test", "--offline", "--quiet"]),
        ),
    }
}

fn copy_files(from: &Path, to: &Path) -> Result<()> {
    for entry in std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
