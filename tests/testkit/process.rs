//! Child processes whose output is captured line by line, so a test can await a log event.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

/// The most lines kept per process; older ones are dropped (a benchmark prints many).
const MAX_LINES: usize = 20_000;

#[derive(Default)]
struct Logs {
    lines: Mutex<Vec<String>>,
    added: Notify,
}

/// A running child process; SIGKILLed when dropped.
pub struct Proc {
    pub name: String,
    child: Child,
    logs: Arc<Logs>,
}

impl Proc {
    /// Starts `program` in the repository root with `env` added to the environment.
    pub fn spawn(name: &str, program: &Path, args: &[&str], env: &[(String, String)]) -> Proc {
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(crate::repo_root())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({}): {e}", program.display()));
        let logs = Arc::new(Logs::default());
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        for reader in [
            Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
            Box::new(stderr),
        ] {
            let logs = logs.clone();
            let echo = std::env::var("CARTWRIGHT_TEST_ECHO").is_ok();
            let name = name.to_owned();
            tokio::spawn(async move {
                let mut lines = BufReader::new(reader).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if echo {
                        eprintln!("[{name}] {line}");
                    }
                    {
                        let mut lines = logs.lines.lock().unwrap();
                        if lines.len() >= MAX_LINES {
                            lines.drain(..MAX_LINES / 2);
                        }
                        lines.push(line);
                    }
                    logs.added.notify_waiters();
                }
            });
        }
        Proc {
            name: name.to_owned(),
            child,
            logs,
        }
    }

    /// Waits until a line containing `needle` has been printed; returns it.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let added = self.logs.added.notified();
            tokio::pin!(added);
            added.as_mut().enable();
            if let Some(line) = self.logs.lines.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            if tokio::time::timeout_at(deadline, added).await.is_err() {
                panic!(
                    "{} did not log {needle:?} within {timeout:?}; last lines:\n{}",
                    self.name,
                    self.tail(20)
                );
            }
        }
    }

    /// Everything printed so far.
    pub fn output(&self) -> String {
        self.logs.lines.lock().unwrap().join("\n")
    }

    /// The last `n` lines printed.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.logs.lines.lock().unwrap();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL, then reap.
    pub async fn kill9(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// SIGTERM, then wait for the process to exit (SIGKILL after `grace`).
    pub async fn terminate(&mut self, grace: Duration) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        if tokio::time::timeout(grace, self.child.wait()).await.is_err() {
            self.kill9().await;
        }
    }

    /// Whether the process has exited.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

/// A running process's resident set size, from /proc (Linux).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}
