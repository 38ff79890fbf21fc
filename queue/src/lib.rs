//! Cartwright's NATS JetStream side, shared by the ingress and the workers.
//!
//! # Layout
//! - [`config`]: the queue settings read from the environment (NATS_URL, TLS and credentials,
//!   PARTITIONS, ...).
//! - [`topology`]: the streams and consumers: applied by their owner (`migrate`), verified by the others.
//! - [`publish`]: publishing a task envelope with `Nats-Msg-Id` and awaiting the server's PubAck.
//! - [`dlq`]: the dead-letter stream, and the advisory stream that feeds it.
//! - [`depth`]: queue depth per partition and in total, the gauges workers scale on.

pub mod config;
pub mod depth;
pub mod dlq;
pub mod publish;
pub mod topology;

pub use config::{NatsAuth, NatsAuthArgs, TopologyArgs};

/// Connects to NATS with the configured TLS and authentication (retrying until the server
/// answers, and reconnecting for as long as the process runs) and returns the client with its
/// JetStream context.
pub async fn connect(
    args: &TopologyArgs,
) -> Result<(async_nats::Client, async_nats::jetstream::Context), ConnectError> {
    let tls = &args.nats_auth;
    let mut options = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .require_tls(tls.tls_required(&args.nats_url));
    if let Some(ca) = &tls.nats_tls_ca_file {
        options = options.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&tls.nats_tls_cert_file, &tls.nats_tls_key_file) {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    options = match tls.auth().map_err(ConnectError::Settings)? {
        NatsAuth::None => options,
        NatsAuth::UserPassword(user, password) => options.user_and_password(user, password.expose().to_owned()),
        NatsAuth::Token(token) => options.token(token.expose().to_owned()),
        NatsAuth::NKey(seed) => options.nkey(seed.expose().to_owned()),
        NatsAuth::CredsFile(path) => options
            .credentials_file(&path)
            .await
            .map_err(|e| ConnectError::Settings(format!("NATS_CREDS_FILE {}: {}", path.display(), e.kind())))?,
    };
    let client = options.connect(args.nats_url.as_str()).await.map_err(ConnectError::Nats)?;
    let js = async_nats::jetstream::new(client.clone());
    Ok((client, js))
}

/// Why NATS is not ready to serve, if it is not: not connected, or a task stream missing or
/// not answering within `timeout`.
pub async fn unready(
    client: &async_nats::Client,
    js: &async_nats::jetstream::Context,
    streams: u32,
    timeout: std::time::Duration,
) -> Vec<String> {
    if client.connection_state() != async_nats::connection::State::Connected {
        return vec!["NATS is not connected".to_owned()];
    }
    let mut reasons = Vec::new();
    for group in 0..streams {
        let name = schemas::queue::task_stream(group, streams);
        match tokio::time::timeout(timeout, js.get_stream(&name)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => reasons.push(format!("JetStream stream {name} is not available")),
            Err(_) => {
                reasons.push("JetStream is not answering".to_owned());
                break;
            }
        }
    }
    reasons
}

/// Why [`connect`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Settings(String),
    #[error(transparent)]
    Nats(async_nats::ConnectError),
}

pub use publish::{continue_trace, publish_raw, publish_task, publish_task_as};
pub use topology::Topology;

/// What can go wrong talking to JetStream.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not create or update the task stream: {0}")]
    Stream(#[from] async_nats::jetstream::context::CreateStreamError),
    #[error("could not read the task stream: {0}")]
    GetStream(#[from] async_nats::jetstream::context::GetStreamError),
    #[error("could not create or update consumer: {0}")]
    Consumer(#[from] async_nats::jetstream::stream::ConsumerError),
    #[error("publish failed: {0}")]
    Publish(#[from] async_nats::jetstream::context::PublishError),
    #[error("publish was not acknowledged within {0:?}")]
    PublishTimeout(std::time::Duration),
    #[error("could not encode the envelope: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("dead-letter stream: {0}")]
    Dlq(String),
    #[error("the JetStream topology differs from this process's settings; run `cartwright-ingress migrate` with the intended settings to apply them, or give this process the same settings:\n  {}", .0.join("\n  "))]
    TopologyDiffers(Vec<String>),
}

impl Error {
    /// Any other JetStream failure, by its message.
    pub fn other(error: impl std::fmt::Display) -> Error {
        Error::Dlq(error.to_string())
    }

    /// True when a publish found no stream for its subject: the server lost or never had the
    /// task streams, and `topology::ensure` should create them before publishing again.
    pub fn is_stream_missing(&self) -> bool {
        matches!(self, Error::Publish(e) if e.kind() == async_nats::jetstream::context::PublishErrorKind::StreamNotFound)
    }
}
