//! Running untrusted candidate code: a subprocess with a wall-time limit, a memory limit and
//! (where the kernel allows) no network, its output kept in a file of its working directory.
//!
//! `#![deny(unsafe_code)]` rules out `pre_exec`, so the limits come from wrappers: `timeout`
//! (which signals the whole process group it makes, so a compiler's children die too), `sh -c
//! 'ulimit -d …'` (RLIMIT_DATA counts the writable memory a process maps; unlike an address
//! space limit it lets the JVM and V8 reserve their large unused ranges) and `unshare -rn` (a
//! new user and network namespace with only a downed loopback device).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub wall: Duration,
    pub memory_mb: u64,
}

/// How a limited command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    Exit(i32),
    /// Killed by a signal (a crash, or the memory limit turned into an abort).
    Signal,
    TimedOut,
}

#[derive(Clone, Debug)]
pub struct Run {
    pub ended: Ended,
    /// The last part of stdout and stderr together.
    pub output_tail: String,
    pub seconds: f64,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.ended == Ended::Exit(0)
    }
}

/// The wrappers this machine has, found once.
#[derive(Clone, Debug)]
pub struct Sandbox {
    /// `unshare -rn` works here: commands run with no network.
    pub network_isolated: bool,
    has_timeout: bool,
}

/// Bytes of output kept for the report.
const OUTPUT_TAIL: usize = 2000;
/// `timeout`'s own exit status when the limit fired.
const TIMEOUT_STATUS: i32 = 124;

impl Sandbox {
    pub fn detect() -> Sandbox {
        let works = |argv: &[&str]| {
            Command::new(argv[0]).args(&argv[1..]).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
        };
        Sandbox { network_isolated: works(&["unshare", "-rn", "true"]), has_timeout: works(&["timeout", "5", "true"]) }
    }

    /// Runs `argv` in `dir` under `limits`. Its output goes to a file in `dir` (a pipe left
    /// unread would block a chatty program until the time limit).
    pub fn run(&self, argv: &[String], dir: &Path, env: &[(&str, &str)], limits: Limits) -> Result<Run> {
        let mut command: Vec<String> = vec![];
        if self.network_isolated {
            command.extend(["unshare", "-rn"].map(String::from));
        }
        let secs = limits.wall.as_secs_f64().max(0.1);
        if self.has_timeout {
            // TERM first, so a test runner may report; KILL a second later.
            command.extend(["timeout".into(), "-k".into(), "1".into(), format!("{secs:.1}")]);
        }
        command.extend(["sh", "-c", "ulimit -d \"$0\" && exec \"$@\""].map(String::from));
        command.push((limits.memory_mb * 1024).to_string());
        command.extend(argv.iter().cloned());

        let log_path = dir.join(".anneal-eval-output");
        let log = std::fs::File::create(&log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
        let started = Instant::now();
        let mut child = Command::new(&command[0])
            .args(&command[1..])
            .current_dir(dir)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", command[0]))?;
        // A backstop for a machine without `timeout`, or a wrapper that does not exit.
        let deadline = limits.wall + Duration::from_secs(5);
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if started.elapsed() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let seconds = started.elapsed().as_secs_f64();
        let ended = match status.map(|s| s.code()) {
            None => Ended::TimedOut,
            Some(Some(TIMEOUT_STATUS)) if self.has_timeout => Ended::TimedOut,
            Some(Some(code)) if seconds >= secs && self.has_timeout && code == 128 + 9 => Ended::TimedOut,
            Some(Some(code)) => Ended::Exit(code),
            Some(None) => Ended::Signal,
        };
        Ok(Run { ended, output_tail: tail(&std::fs::read(&log_path).unwrap_or_default()), seconds })
    }
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(OUTPUT_TAIL)..]);
    text.trim().to_string()
}
