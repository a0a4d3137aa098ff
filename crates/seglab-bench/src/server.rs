//! `seglab serve` in a child process, on an ephemeral loopback port.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running `seglab serve` child with the admin token `bench`.
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
    pub(crate) key: String,
}

impl Server {
    pub(crate) fn start(exe: &Path, data: &Path) -> anyhow::Result<Server> {
        Server::start_with(exe, data, &[])
    }

    /// With more flags for `seglab serve`.
    pub(crate) fn start_with(exe: &Path, data: &Path, flags: &[&str]) -> anyhow::Result<Server> {
        let mut child = Command::new(exe)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-token",
                "bench",
                "--log",
                "warn",
                "--data",
            ])
            .arg(data)
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting seglab serve")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut url = None;
        let mut key = None;
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            if let Some(rest) = line.split("listening on ").nth(1) {
                url = Some(rest.trim().to_owned());
            }
            if let Some(rest) = line.trim().strip_prefix("write key") {
                key = Some(rest.trim().to_owned());
            }
            if url.is_some() && key.is_some() {
                break;
            }
        }
        match (url, key) {
            (Some(url), Some(key)) => Ok(Server { child, url, key }),
            _ => {
                let _ = child.kill();
                bail!("seglab serve did not print its address and write key")
            }
        }
    }

    /// The child's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        bail!("seglab serve did not stop within 60 s of SIGTERM")
    }
}
