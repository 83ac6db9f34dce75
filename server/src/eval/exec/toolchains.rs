//! Which languages this machine can run, found once per run, and the one-time preparation two
//! of them need: Rust's test crate with the benchmark's dependencies built into a shared target
//! folder, and Go's module with testify. A language that cannot run is skipped, with the reason
//! shown in the summary, never counted as a failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::eval::Lang;

/// The crate every Rust candidate is tested in (HumanEvalFix's Rust tests use these three).
const RUST_MANIFEST: &str = "[package]\nname = \"candidate\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
[dependencies]\nrand = \"0.7\"\nregex = \"1\"\nmd5 = \"0.7\"\n\n[workspace]\n";
const GO_MOD: &str = "module candidate\n\ngo 1.18\n";
const GO_PROBE: &str = "package main\n\nimport (\n    \"testing\"\n    \"github.com/stretchr/testify/assert\"\n)\n\n\
func TestProbe(t *testing.T) { assert.New(t).Equal(1, 1) }\n";

/// What a runnable language needs beyond its command.
#[derive(Clone, Debug)]
pub enum Ready {
    Plain,
    /// The interpreter's own path: `python3` is often a version manager's shim that costs
    /// more to start than a test takes to run.
    Python(String),
    /// A folder with the prepared manifest (and lock file) to copy next to each candidate, and
    /// the environment that points builds at the shared caches.
    Prepared {
        template: PathBuf,
        env: Vec<(String, String)>,
    },
}

pub type Toolchains = BTreeMap<Lang, Result<Ready, String>>;

fn succeeds(argv: &[&str], dir: Option<&Path>, env: &[(String, String)]) -> Result<(), String> {
    let mut command = Command::new(argv[0]);
    command.args(&argv[1..]).stdin(Stdio::null()).envs(env.iter().map(|(k, v)| (k, v)));
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    match command.output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr);
            Err(format!("`{}` failed: {}", argv.join(" "), err.lines().last().unwrap_or("").trim()))
        }
        Err(_) => Err(format!("no {} on PATH", argv[0])),
    }
}

/// Finds (and prepares) the toolchains of `langs`. `cache` holds Rust's and Go's shared build
/// caches between runs.
pub fn detect(langs: &[Lang], cache: &Path) -> Toolchains {
    let mut found = Toolchains::new();
    for &lang in langs {
        let ready = match lang {
            Lang::Python => python_executable().map(Ready::Python),
            Lang::Js => succeeds(&["node", "--version"], None, &[]).map(|_| Ready::Plain),
            Lang::Java => {
                succeeds(&["javac", "-version"], None, &[]).and_then(|_| succeeds(&["java", "-version"], None, &[])).map(|_| Ready::Plain)
            }
            Lang::Cpp => succeeds(&["g++", "--version"], None, &[]).map(|_| Ready::Plain),
            Lang::Go => succeeds(&["go", "version"], None, &[]).and_then(|_| prepare_go(&cache.join("go"))),
            Lang::Rust => succeeds(&["cargo", "--version"], None, &[]).and_then(|_| prepare_rust(&cache.join("rust"))),
        };
        let ready = ready.map_err(|why| match lang {
            Lang::Rust | Lang::Go if why.starts_with("no ") => format!("no {} toolchain", lang.name()),
            _ if why.starts_with("no ") => format!("no {} toolchain ({why})", lang.name()),
            _ => why,
        });
        found.insert(lang, ready);
    }
    found
}

fn python_executable() -> Result<String, String> {
    let out =
        Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().map_err(|_| "no python3 on PATH".to_string())?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && !path.is_empty() {
        Ok(path)
    } else {
        Err("python3 does not run".into())
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::create_dir_all(path.parent().expect("a file in a folder")).map_err(|e| e.to_string())?;
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Fetches the dependencies (the only step that may use the network) and builds them once
/// into the shared target folder, so each candidate compiles only itself.
fn prepare_rust(cache: &Path) -> Result<Ready, String> {
    let template = cache.join("template");
    write(&template.join("Cargo.toml"), RUST_MANIFEST)?;
    write(&template.join("src/lib.rs"), "")?;
    let env = vec![("CARGO_TARGET_DIR".to_string(), cache.join("target").display().to_string())];
    succeeds(&["cargo", "fetch", "--quiet"], Some(&template), &env)
        .and_then(|_| succeeds(&["cargo", "test", "--offline", "--no-run", "--quiet"], Some(&template), &env))
        .map_err(|why| format!("rust test crate not ready ({why})"))?;
    Ok(Ready::Prepared { template, env })
}

fn prepare_go(cache: &Path) -> Result<Ready, String> {
    let template = cache.join("template");
    write(&template.join("go.mod"), GO_MOD)?;
    write(&template.join("main_test.go"), GO_PROBE)?;
    let env = vec![("GOCACHE".to_string(), cache.join("build").display().to_string()), ("GOFLAGS".to_string(), "-mod=mod".to_string())];
    succeeds(&["go", "mod", "tidy"], Some(&template), &env)
        .and_then(|_| succeeds(&["go", "test", "./..."], Some(&template), &env))
        .map_err(|why| format!("go test module not ready ({why})"))?;
    std::fs::remove_file(template.join("main_test.go")).map_err(|e| e.to_string())?;
    let mut env = env;
    env.push(("GOPROXY".to_string(), "off".to_string()));
    Ok(Ready::Prepared { template, env })
}
