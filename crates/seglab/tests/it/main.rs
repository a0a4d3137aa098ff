//! The real binary: processes, signals, files.

mod backup;
mod campaigns;
mod cli;
mod durability;
mod faults;
mod import;
mod insights;
mod live;
mod people;
mod retention;
mod segments;
#[path = "../../../../tests/smtp/harness.rs"]
mod smtp;
mod warehouse;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_seglab"))
}

/// An HTTP client (with the TLS provider the binary also installs).
pub fn http() -> reqwest::Client {
    seglab_live::webhook::install_tls_provider();
    reqwest::Client::new()
}

/// Runs `seglab --data DIR args…` to completion.
pub fn seglab(data: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--data")
        .arg(data)
        .args(args)
        .env("SEGLAB_LOG", "warn")
        .output()
        .unwrap()
}

/// The standard output of a command that must have succeeded.
pub fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A `seglab serve` child on an ephemeral loopback port.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub key: String,
    /// What the server logged (standard error), when started with
    /// [`Server::start_logged`].
    pub log: Arc<Mutex<String>>,
}

pub const ADMIN: &str = "it-admin";

/// `GET path` with the admin token; the answer must be a success.
pub async fn get(client: &reqwest::Client, server: &Server, path: &str) -> serde_json::Value {
    let res = client
        .get(format!("{}{path}", server.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let v: serde_json::Value = res.json().await.unwrap();
    assert!(status.is_success(), "GET {path}: {status} {v}");
    v
}

/// Sends `batch` to `/v1/batch` with the server's write key; it must be accepted.
pub async fn post_batch(client: &reqwest::Client, server: &Server, batch: &[serde_json::Value]) {
    let res = client
        .post(format!("{}/v1/batch", server.url))
        .basic_auth(&server.key, Some(""))
        .json(&serde_json::json!({ "batch": batch }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

impl Server {
    pub fn start(data: &Path) -> Server {
        Server::start_with(data, &[])
    }

    /// Starts with more flags (`--smtp URL`, …).
    pub fn start_with(data: &Path, flags: &[&str]) -> Server {
        Server::spawn(data, flags, false)
    }

    /// Starts with its log (warnings and errors) kept in [`Server::log`]
    /// (and passed on to the test's standard error).
    pub fn start_logged(data: &Path) -> Server {
        Server::spawn(data, &[], true)
    }

    fn spawn(data: &Path, flags: &[&str], logged: bool) -> Server {
        let mut child = Command::new(bin())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-token",
                ADMIN,
                "--log",
                "warn",
                "--data",
            ])
            .arg(data)
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(if logged {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(err) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    eprintln!("{line}");
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut url, mut key) = (None, None);
        for line in out.by_ref() {
            let line = line.unwrap();
            if let Some(u) = line.split("listening on ").nth(1) {
                url = Some(u.trim().to_owned());
            }
            if let Some(k) = line.trim().strip_prefix("write key") {
                key = Some(k.trim().to_owned());
                break;
            }
        }
        // Keep draining stdout so the server never writes into a closed pipe.
        std::thread::spawn(move || out.for_each(drop));
        Server {
            child,
            url: url.expect("address printed"),
            key: key.expect("write key printed"),
            log,
        }
    }

    /// What the server logged so far.
    pub fn logged(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits (at most 60 s) for a clean exit.
    pub fn stop(mut self) {
        self.signal("TERM");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status:?}");
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no exit 60 s after SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: &str) {
        assert!(
            Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(self.child.id().to_string())
                .status()
                .unwrap()
                .success()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
