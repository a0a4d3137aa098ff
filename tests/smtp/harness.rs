//! A real SMTP server for the tests: `tests/smtp/sink.py` (aiosmtpd) in a
//! child process on a free loopback port, writing each message it accepts
//! as a JSON line.
//!
//! The Python comes from `SEGLAB_SMTP_PYTHON` (set by `scripts/test.sh`),
//! else `tests/smtp/.venv/bin/python` (made by `tests/smtp/setup.sh`). With
//! neither, [`Sink::start`] says so on stderr and returns `None`, so the test
//! returns early; when `CI=true` or `SEGLAB_REQUIRE_SMTP=1`, it panics
//! instead: a test must not pass without its server.

// Shared by the tests of several crates; each uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// One message as the sink received it.
#[derive(Debug, Clone, Deserialize)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub idempotency_key: Option<String>,
    pub message_id: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
    pub content_type: String,
    pub list_unsubscribe: Option<String>,
    pub list_unsubscribe_post: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
}

/// What the sink reports when it stops.
#[derive(Debug, Clone, Copy)]
pub struct SinkStats {
    pub messages: u64,
    pub connections: u64,
    pub cpu_seconds: f64,
}

pub struct Sink {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    port: u16,
    out: PathBuf,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

fn repo() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir.ancestors().nth(2).unwrap().to_path_buf()
}

fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("SEGLAB_REQUIRE_SMTP").is_ok_and(|v| v == "1")
}

/// The Python to run the sink with, or why there is none.
fn python() -> Result<PathBuf, String> {
    if let Some(python) = std::env::var_os("SEGLAB_SMTP_PYTHON") {
        return Ok(python.into());
    }
    let venv = repo().join("tests/smtp/.venv/bin/python");
    if venv.exists() {
        return Ok(venv);
    }
    Err(format!(
        "no Python for the SMTP sink: SEGLAB_SMTP_PYTHON is unset and {} does not exist \
         (run `bash tests/smtp/setup.sh`)",
        venv.display()
    ))
}

impl Sink {
    /// Starts a sink with these extra flags (`--reject-rcpt ADDR`,
    /// `--fail-first N`, `--fail-all`).
    pub fn start(flags: &[&str]) -> Option<Sink> {
        let python = match python() {
            Ok(python) => python,
            Err(why) if required() => {
                panic!("the SMTP sink is required (CI=true or SEGLAB_REQUIRE_SMTP=1): {why}")
            }
            Err(why) => {
                eprintln!("SKIPPED: this test needs the SMTP sink: {why}");
                return None;
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("messages.jsonl");
        let stderr = dir.path().join("stderr.txt");
        let mut child = Command::new(&python)
            .arg(repo().join("tests/smtp/sink.py"))
            .args(["--port", "0", "--out"])
            .arg(&out)
            .args(flags)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start the SMTP sink with {}: {e}", python.display())
            });
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut sink = Sink {
            stdin: child.stdin.take(),
            child,
            lines,
            port: 0,
            out,
            stderr,
            _dir: dir,
        };
        let first = sink.lines.recv_timeout(Duration::from_secs(30));
        sink.port = match first.as_deref().ok().and_then(|l| l.strip_prefix("PORT ")) {
            Some(port) => port.parse().unwrap(),
            None => panic!(
                "the SMTP sink did not start ({first:?}); stderr:\n{}",
                sink.stderr()
            ),
        };
        Some(sink)
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Every message received so far.
    pub fn received(&self) -> Vec<Received> {
        let text = match std::fs::read_to_string(&self.out) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => panic!("cannot read {}: {e}", self.out.display()),
        };
        // The sink may be writing a line as it is read: only whole lines.
        text.split_inclusive('\n')
            .filter(|line| line.ends_with('\n'))
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    /// The messages, once there are at least `n` (the sink writes a message
    /// before it acknowledges it, so this returns at once after the sends).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                start.elapsed() < timeout,
                "{} of {n} messages after {timeout:?}; sink stderr:\n{}",
                received.len(),
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the sink (by closing its stdin) and returns its counters.
    pub fn stop(mut self) -> SinkStats {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if let Some(stats) = line.strip_prefix("STATS ") {
                let field = |name: &str| {
                    stats
                        .split_whitespace()
                        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                        .unwrap_or_else(|| panic!("no {name} in {line}"))
                };
                return SinkStats {
                    messages: field("messages").parse().unwrap(),
                    connections: field("connections").parse().unwrap(),
                    cpu_seconds: field("cpu_seconds").parse().unwrap(),
                };
            }
        }
        panic!("the SMTP sink did not report; stderr:\n{}", self.stderr());
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
