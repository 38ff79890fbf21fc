//! The queue settings both the ingress and the workers read from the environment.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use lifecycle::secret::{self, Secret};

use crate::Topology;

/// Default partition count: enough to spread load and to keep per-partition consumers cheap;
/// concurrency comes from many conversations in flight per partition, not from partitions.
pub const PARTITIONS_DEFAULT: u32 = 16;
/// Default seconds before an unacknowledged delivery is redelivered.
pub const ACK_WAIT_DEFAULT: u64 = 30;
/// Default deliveries in flight per partition, across all workers.
pub const MAX_ACK_PENDING_DEFAULT: i64 = 1024;
/// Default task streams: nats-server writes and fsyncs one stream's messages one at a time, so
/// with an fsync before every PubAck more streams publish more in parallel (BENCHMARKS.md).
pub const STREAMS_DEFAULT: u32 = 4;
/// Default seconds JetStream remembers a Nats-Msg-Id.
pub const DUPLICATE_WINDOW_DEFAULT: u64 = 120;
/// Default deliveries of a message before it is dead-lettered.
pub const MAX_DELIVER_DEFAULT: i64 = 20;
/// Default seconds dead letters are kept: 30 days.
pub const DLQ_MAX_AGE_DEFAULT: u64 = 30 * 24 * 60 * 60;

#[derive(Debug, Clone, Args)]
pub struct TopologyArgs {
    /// NATS server URL (JetStream enabled, nats-server 2.11 or newer); `tls://` requires TLS.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:14222")]
    pub nats_url: String,
    #[command(flatten)]
    pub nats_auth: NatsAuthArgs,
    /// Fixed partition count of the task stream. Every process of a deployment must agree.
    #[arg(long, env = "PARTITIONS", default_value_t = PARTITIONS_DEFAULT)]
    pub partitions: u32,
    /// Task streams the partitions are spread over. Every process of a deployment must agree.
    #[arg(long, env = "STREAMS", default_value_t = STREAMS_DEFAULT)]
    pub streams: u32,
    /// Replicas of each task stream (1 for one server, 3 in production clusters).
    #[arg(long, env = "STREAM_REPLICAS", default_value_t = 1)]
    pub stream_replicas: usize,
    /// Seconds JetStream drops a republished Nats-Msg-Id.
    #[arg(long, env = "DUPLICATE_WINDOW", default_value_t = DUPLICATE_WINDOW_DEFAULT)]
    pub duplicate_window: u64,
    /// Seconds a delivered, unacknowledged message waits before redelivery.
    #[arg(long, env = "ACK_WAIT", default_value_t = ACK_WAIT_DEFAULT)]
    pub ack_wait: u64,
    /// Deliveries in flight per partition across all workers.
    #[arg(long, env = "MAX_ACK_PENDING", default_value_t = MAX_ACK_PENDING_DEFAULT)]
    pub max_ack_pending: i64,
    /// Deliveries of a task message (each a failed attempt) before it is dead-lettered.
    #[arg(long, env = "MAX_DELIVER", default_value_t = MAX_DELIVER_DEFAULT)]
    pub max_deliver: i64,
    /// Seconds dead letters are kept in CARTWRIGHT_DLQ before the server drops them.
    #[arg(long, env = "DLQ_MAX_AGE", default_value_t = DLQ_MAX_AGE_DEFAULT)]
    pub dlq_max_age: u64,
}

/// How to reach NATS securely: TLS (with a CA file to trust, and a client certificate for
/// mutual TLS) and one way of authenticating. Each secret may also come from a `*_FILE`.
#[derive(Debug, Clone, Args)]
pub struct NatsAuthArgs {
    /// A PEM file of CA certificates to trust for the server's certificate; setting it
    /// requires TLS.
    #[arg(long, env = "NATS_TLS_CA_FILE")]
    pub nats_tls_ca_file: Option<PathBuf>,
    /// Require TLS even without a CA file (the platform's roots are trusted).
    #[arg(long, env = "NATS_TLS_REQUIRED", default_value_t = false)]
    pub nats_tls_required: bool,
    /// A client certificate (PEM) for mutual TLS, with NATS_TLS_KEY_FILE.
    #[arg(long, env = "NATS_TLS_CERT_FILE")]
    pub nats_tls_cert_file: Option<PathBuf>,
    #[arg(long, env = "NATS_TLS_KEY_FILE")]
    pub nats_tls_key_file: Option<PathBuf>,
    /// User name, with NATS_PASSWORD or NATS_PASSWORD_FILE.
    #[arg(long, env = "NATS_USER")]
    pub nats_user: Option<String>,
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true)]
    pub nats_password: Option<Secret>,
    #[arg(long, env = "NATS_PASSWORD_FILE")]
    pub nats_password_file: Option<PathBuf>,
    /// An authentication token.
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<Secret>,
    #[arg(long, env = "NATS_TOKEN_FILE")]
    pub nats_token_file: Option<PathBuf>,
    /// An NKey seed (`SU...`).
    #[arg(long, env = "NATS_NKEY_SEED", hide_env_values = true)]
    pub nats_nkey_seed: Option<Secret>,
    #[arg(long, env = "NATS_NKEY_SEED_FILE")]
    pub nats_nkey_seed_file: Option<PathBuf>,
    /// A `.creds` file (user JWT and NKey seed, as `nsc` writes them).
    #[arg(long, env = "NATS_CREDS_FILE")]
    pub nats_creds_file: Option<PathBuf>,
}

/// The one way of authenticating to NATS, resolved from the settings.
#[derive(Debug, Clone)]
pub enum NatsAuth {
    None,
    UserPassword(String, Secret),
    Token(Secret),
    NKey(Secret),
    CredsFile(PathBuf),
}

impl NatsAuthArgs {
    /// The authentication configured; more than one way is an error.
    pub fn auth(&self) -> Result<NatsAuth, String> {
        let password = secret::resolve(self.nats_password.as_ref(), self.nats_password_file.as_deref(), "NATS_PASSWORD")?;
        let token = secret::resolve(self.nats_token.as_ref(), self.nats_token_file.as_deref(), "NATS_TOKEN")?;
        let seed = secret::resolve(self.nats_nkey_seed.as_ref(), self.nats_nkey_seed_file.as_deref(), "NATS_NKEY_SEED")?;
        let mut ways = Vec::new();
        match (&self.nats_user, password) {
            (Some(user), Some(password)) => ways.push(NatsAuth::UserPassword(user.clone(), password)),
            (None, None) => {}
            _ => return Err("NATS_USER and NATS_PASSWORD (or NATS_PASSWORD_FILE) go together".into()),
        }
        ways.extend(token.map(NatsAuth::Token));
        ways.extend(seed.map(NatsAuth::NKey));
        ways.extend(self.nats_creds_file.clone().map(NatsAuth::CredsFile));
        if ways.len() > 1 {
            return Err("configure one way to authenticate to NATS: a user and password, a token, an NKey seed or a creds file".into());
        }
        Ok(ways.pop().unwrap_or(NatsAuth::None))
    }

    /// True when the connection must be TLS.
    pub fn tls_required(&self, url: &str) -> bool {
        self.nats_tls_required || self.nats_tls_ca_file.is_some() || self.nats_tls_cert_file.is_some() || url.starts_with("tls://")
    }

    fn validate(&self) -> Result<(), String> {
        self.auth()?;
        if self.nats_tls_cert_file.is_some() != self.nats_tls_key_file.is_some() {
            return Err("NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE go together".into());
        }
        for (name, path) in [
            ("NATS_TLS_CA_FILE", &self.nats_tls_ca_file),
            ("NATS_TLS_CERT_FILE", &self.nats_tls_cert_file),
            ("NATS_TLS_KEY_FILE", &self.nats_tls_key_file),
            ("NATS_CREDS_FILE", &self.nats_creds_file),
        ] {
            if let Some(path) = path {
                if !path.is_file() {
                    return Err(format!("{name}: {} is not a readable file", path.display()));
                }
            }
        }
        Ok(())
    }
}

impl TopologyArgs {
    pub fn validate(&self) -> Result<(), String> {
        self.nats_auth.validate()?;
        if !(1..=1024).contains(&self.partitions) {
            return Err(format!(
                "PARTITIONS must be between 1 and 1024, got {}",
                self.partitions
            ));
        }
        if !(1..=self.partitions).contains(&self.streams) {
            return Err(format!(
                "STREAMS must be between 1 and PARTITIONS, got {}",
                self.streams
            ));
        }
        if !(1..=5).contains(&self.stream_replicas) {
            return Err("STREAM_REPLICAS must be between 1 and 5".into());
        }
        if self.ack_wait < 3 {
            return Err("ACK_WAIT must be at least 3 seconds".into());
        }
        if self.max_ack_pending < 1 {
            return Err("MAX_ACK_PENDING must be at least 1".into());
        }
        if self.max_deliver < 2 {
            return Err("MAX_DELIVER must be at least 2".into());
        }
        if self.dlq_max_age < 60 {
            return Err("DLQ_MAX_AGE must be at least 60 seconds".into());
        }
        Ok(())
    }

    pub fn topology(&self) -> Topology {
        Topology {
            partitions: self.partitions,
            streams: self.streams,
            replicas: self.stream_replicas,
            duplicate_window: Duration::from_secs(self.duplicate_window),
            ack_wait: Duration::from_secs(self.ack_wait),
            max_ack_pending: self.max_ack_pending,
            max_deliver: self.max_deliver,
            dlq_max_age: Duration::from_secs(self.dlq_max_age),
        }
    }
}
