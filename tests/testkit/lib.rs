//! The integration-test harness: starts the real system (nats-server, a fresh PostgreSQL
//! database, the ingress and worker binaries) and speaks to it over its real protocols.
//!
//! # Layout
//! - [`process`]: child processes with captured logs, killed on drop.
//! - [`nats`]: a nats-server of our own on a free port with a temporary store.
//! - [`db`]: a fresh, migrated, seeded database per test, dropped afterwards.
//! - [`pg`]: a PostgreSQL server of the test's own, for tests that restart it.
//! - [`profile`]: an HTTP server for the client's UCP profile.
//! - [`fake_llm`]: a fake model provider speaking Gemini's and OpenAI's wire formats.
//! - [`tls`]: a CA and a server certificate for TLS tests.
//! - [`nats_jwt`]: an operator, account and user for NATS creds-file tests.
//! - [`client`]: a JSON-RPC client for the ingress.
//! - [`rest`]: a client for the UCP REST binding, the flower shop data set, a webhook receiver.
//! - [`stack`]: all of the above wired together.

pub mod client;
pub mod db;
pub mod fake_llm;
pub mod metrics;
pub mod nats;
pub mod nats_jwt;
pub mod pg;
pub mod process;
pub mod profile;
pub mod rest;
pub mod stack;
pub mod tls;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

pub use client::Client;
pub use fake_llm::FakeLlm;
pub use stack::{Stack, StackOptions};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The project's Python (the venv the test command installs into .tools/), or `CARTWRIGHT_PYTHON`.
pub fn python() -> PathBuf {
    std::env::var("CARTWRIGHT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join(".tools/venv/bin/python"))
}

/// Where the built binaries are: `CARTWRIGHT_BIN_DIR`, or the profile folder this executable
/// was built into (tests run from target/<profile>/deps, the bench from target/<profile>).
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CARTWRIGHT_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("the executable's folder");
    if dir.ends_with("deps") {
        dir.parent().expect("target/<profile>")
    } else {
        dir
    }
    .to_path_buf()
}

/// A port nobody listens on right now, below the kernel's ephemeral range (32768 and up on
/// Linux): a port from that range could be taken, before its server binds it, by any outgoing
/// connection or by a process binding port 0 (the workers' HTTP servers do). Each call in this
/// process gets a different port.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = std::process::id().wrapping_mul(7919) % COUNT;
    for _ in 0..COUNT {
        let port = (FIRST + (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % COUNT) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + COUNT)
}

/// Polls `check` until it returns `Some`, or fails the test after `timeout` saying what was
/// awaited. For state that has no event to await (database rows, process readiness).
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
