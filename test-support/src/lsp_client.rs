//! A minimal LSP client over the real binary's stdio, for end-to-end tests: frames messages,
//! answers the server's own requests (progress tokens, applyEdit), and waits for responses.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub struct LspClient {
    child: Child,
    stdin: ChildStdin,
    incoming: Receiver<Value>,
    next_id: i64,
    /// Notifications and server requests seen so far, in order.
    pub seen: Vec<Value>,
    /// What to answer to `workspace/applyEdit`.
    pub apply_edit_answer: bool,
}

fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length: ") {
            length = v.parse::<usize>().ok();
        }
    }
    let mut body = vec![0u8; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

impl LspClient {
    pub fn start(binary: &str) -> LspClient {
        LspClient::start_with_env(binary, &[])
    }

    /// Starts the server with extra environment variables (test hooks, log levels).
    pub fn start_with_env(binary: &str, env: &[(&str, &str)]) -> LspClient {
        let mut command = Command::new(binary);
        command.env("ANNEAL_LOG", "anneal=debug").envs(env.iter().copied()).stderr(Stdio::inherit());
        LspClient::spawn(command)
    }

    /// Starts `anneal serve ARGS…` (`--dtype`).
    pub fn start_with_args(binary: &str, args: &[&str]) -> LspClient {
        let mut command = Command::new(binary);
        command.env("ANNEAL_LOG", "anneal=debug").stderr(Stdio::inherit());
        LspClient::spawn_with(command, args)
    }

    /// [`LspClient::start_with_env`] with the server's stderr written to `log`.
    pub fn start_with_env_and_log(binary: &str, env: &[(&str, &str)], log: std::fs::File) -> LspClient {
        let mut command = Command::new(binary);
        command.envs(env.iter().copied()).stderr(log);
        LspClient::spawn(command)
    }

    /// Starts the server as an editor does — its default logging, in `cwd` — with its log
    /// (stderr) written to `log`.
    pub fn start_as_editor(binary: &str, cwd: &std::path::Path, log: std::fs::File) -> LspClient {
        let mut command = Command::new(binary);
        command.env_remove("ANNEAL_LOG").current_dir(cwd).stderr(log);
        LspClient::spawn(command)
    }

    fn spawn(command: Command) -> LspClient {
        LspClient::spawn_with(command, &[])
    }

    fn spawn_with(mut command: Command, args: &[&str]) -> LspClient {
        let mut child = command.arg("serve").args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("start anneal serve");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, incoming) = channel();
        std::thread::spawn(move || {
            while let Some(msg) = read_message(&mut stdout) {
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        LspClient { child, stdin, incoming, next_id: 1, seen: vec![], apply_edit_answer: true }
    }

    pub fn send(&mut self, msg: &Value) {
        let body = serde_json::to_vec(msg).unwrap();
        write!(self.stdin, "Content-Length: {}\r\n\r\n", body.len()).unwrap();
        self.stdin.write_all(&body).unwrap();
        self.stdin.flush().unwrap();
    }

    /// Writes bytes as they are: malformed framing, invalid JSON, anything a broken client sends.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).unwrap();
        self.stdin.flush().unwrap();
    }

    /// The server's peak resident memory in MiB, where the system tells (Linux).
    pub fn peak_rss_mib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? / 1024)
    }

    /// A number from the server's `/proc/PID/status` (Linux): `VmRSS` (KiB), `Threads`, ...
    pub fn proc_status(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok()
    }

    /// Whether the server process has exited (and how).
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns its id without waiting.
    pub fn request_async(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    /// Waits for the response to `id`, answering server requests meanwhile. Returns the whole
    /// response (with `result` or `error`), also when it came while the client waited for
    /// another one.
    pub fn wait_response(&mut self, id: i64, limit: Duration) -> Value {
        self.wait_until(limit, &format!("response to request {id}"), |m| m.get("id") == Some(&json!(id)) && m.get("method").is_none())
    }

    /// Waits for the first message from the server that `wanted` accepts (a response or a
    /// notification, including ones already seen), answering server requests meanwhile.
    pub fn wait_for(&mut self, limit: Duration, wanted: impl Fn(&Value) -> bool) -> Value {
        self.wait_until(limit, "awaited message", wanted)
    }

    fn wait_until(&mut self, limit: Duration, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        self.try_wait_until(limit, what, wanted)
            .unwrap_or_else(|| panic!("no {what} within {limit:?}; other messages seen: {}", self.describe_seen()))
    }

    /// [`Self::wait_response`], or None when no answer comes within `limit` (for tests that
    /// count missing answers rather than stop at the first).
    pub fn try_wait_response(&mut self, id: i64, limit: Duration) -> Option<Value> {
        self.try_wait_until(limit, &format!("response to request {id}"), |m| m.get("id") == Some(&json!(id)) && m.get("method").is_none())
    }

    fn try_wait_until(&mut self, limit: Duration, what: &str, wanted: impl Fn(&Value) -> bool) -> Option<Value> {
        if let Some(i) = self.seen.iter().position(&wanted) {
            return Some(self.seen.remove(i));
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = match self.incoming.recv_timeout(left) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("server closed its output before the {what}; {} other messages seen", self.seen.len())
                }
            };
            if msg.get("method").is_none() && wanted(&msg) {
                return Some(msg);
            }
            self.handle_server_message(msg);
            if let Some(i) = self.seen.iter().position(&wanted) {
                return Some(self.seen.remove(i));
            }
        }
    }

    /// Waits until the job started by the latest request is decoding: its first work-done
    /// progress report (sent after a decode step). The job is known by the progress token the
    /// server creates for it, since an earlier job's last reports may still arrive after its
    /// answer. For tests that act while a job runs, instead of a sleep that assumes it still
    /// does. Returns the token.
    pub fn wait_for_a_step(&mut self) -> Value {
        // Jobs' tokens are `anneal/job/N`; the model's load has its own (`anneal/load/N`).
        let is_create = |m: &Value| {
            m["method"] == "window/workDoneProgress/create" && m["params"]["token"].as_str().is_some_and(|t| t.starts_with("anneal/job/"))
        };
        self.seen.retain(|m| !is_create(m));
        let token = self.wait_for(Duration::from_secs(60), is_create)["params"]["token"].clone();
        self.wait_for(Duration::from_secs(60), Self::is_report_of(&token));
        token
    }

    fn is_report_of(token: &Value) -> impl Fn(&Value) -> bool + '_ {
        move |m: &Value| m["method"] == "$/progress" && m["params"]["token"] == *token && m["params"]["value"]["kind"] == "report"
    }

    /// The longest time between `n` consecutive progress reports of the job with this progress
    /// token: its slowest decode step, as the client sees it, on this machine now.
    pub fn slowest_step(&mut self, token: &Value, n: usize) -> Duration {
        self.wait_for(Duration::from_secs(60), Self::is_report_of(token));
        let mut last = Instant::now();
        let mut slowest = Duration::ZERO;
        for _ in 0..n {
            self.wait_for(Duration::from_secs(60), Self::is_report_of(token));
            slowest = slowest.max(last.elapsed());
            last = Instant::now();
        }
        slowest
    }

    /// Cancels request `id`, whose job has progress token `token`, after measuring the slowest
    /// of its next `n` steps; returns the answer, how long it came after the `$/cancelRequest`,
    /// and that slowest step.
    pub fn cancel_after_steps(&mut self, id: i64, token: &Value, n: usize) -> (Value, Duration, Duration) {
        let step = self.slowest_step(token, n);
        let sent = Instant::now();
        self.notify("$/cancelRequest", json!({"id": id}));
        let answer = self.wait_response(id, Duration::from_secs(60));
        (answer, sent.elapsed(), step)
    }

    /// The messages seen and not taken, one line each, for a failure's message.
    fn describe_seen(&self) -> String {
        self.seen.iter().map(|m| format!("\n  {}", m.to_string().chars().take(160).collect::<String>())).collect()
    }

    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.request_async(method, params);
        self.wait_response(id, Duration::from_secs(120))
    }

    fn handle_server_message(&mut self, msg: Value) {
        if let (Some(id), Some(method)) = (msg.get("id").cloned(), msg.get("method").and_then(Value::as_str)) {
            let result = match method {
                "workspace/applyEdit" => json!({"applied": self.apply_edit_answer}),
                _ => Value::Null,
            };
            self.send(&json!({"jsonrpc": "2.0", "id": id, "result": result}));
        }
        self.seen.push(msg);
    }

    /// `initialize` + `initialized` as an editor sends them (work-done progress, code action
    /// resolve support, the given position encodings); returns the initialize result.
    pub fn initialize(&mut self, encodings: &[&str], options: Value) -> Value {
        self.initialize_with(encodings, options, |_| {})
    }

    /// [`Self::initialize`] with the params changed by `edit` first (more capabilities, `trace`).
    pub fn initialize_with(&mut self, encodings: &[&str], options: Value, edit: impl FnOnce(&mut Value)) -> Value {
        let mut params = json!({
            "processId": null,
            "rootUri": null,
            "capabilities": {
                "general": {"positionEncodings": encodings},
                "window": {"workDoneProgress": true},
                "workspace": {"applyEdit": true},
                "textDocument": {"codeAction": {"resolveSupport": {"properties": ["edit"]}, "dataSupport": true}}
            },
            "initializationOptions": options
        });
        edit(&mut params);
        let init = self.request("initialize", params);
        assert!(init.get("error").is_none(), "initialize failed: {init}");
        self.notify("initialized", json!({}));
        init["result"].clone()
    }

    /// Drains pending messages for a while (to observe notifications).
    pub fn pump(&mut self, duration: Duration) {
        let deadline = Instant::now() + duration;
        while let Ok(msg) = self.incoming.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            self.handle_server_message(msg);
        }
    }

    pub fn shutdown(mut self) -> std::process::ExitStatus {
        let r = self.request("shutdown", Value::Null);
        assert!(r.get("error").is_none(), "shutdown failed: {r}");
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                self.child.kill().ok();
                panic!("server did not exit after `exit`");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for LspClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// A tiny random-weight checkpoint made by `anneal model random`, for plumbing tests.
pub fn tiny_checkpoint(binary: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(binary).args(["model", "random"]).arg(dir.path()).status().unwrap();
    assert!(status.success());
    dir
}

/// Applies LSP `TextEdit`s (UTF-16 positions) to a text, as a client would.
pub fn apply_text_edits(text: &str, edits: &[Value]) -> String {
    let offset = |pos: &Value| -> usize {
        let (line, ch) = (pos["line"].as_u64().unwrap() as usize, pos["character"].as_u64().unwrap() as usize);
        let mut off = 0;
        for (i, l) in text.split_inclusive('\n').enumerate() {
            if i == line {
                let mut units = 0;
                for (b, c) in l.char_indices() {
                    if units >= ch {
                        return off + b;
                    }
                    units += c.len_utf16();
                }
                return off + l.trim_end_matches('\n').len();
            }
            off += l.len();
        }
        text.len()
    };
    let mut ranged: Vec<(usize, usize, &str)> =
        edits.iter().map(|e| (offset(&e["range"]["start"]), offset(&e["range"]["end"]), e["newText"].as_str().unwrap())).collect();
    ranged.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut out = text.to_string();
    for (a, b, t) in ranged {
        out.replace_range(a..b, t);
    }
    out
}
