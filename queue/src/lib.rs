//! Cartwright's NATS JetStream side, shared by the ingress and the workers.
//!
//! # Layout
//! - [`config`]: the queue settings read from the environment (NATS_URL, PARTITIONS, ...).
//! - [`topology`]: the task stream and the partition consumers, created or updated idempotently.
//! - [`publish`]: publishing a task envelope with `Nats-Msg-Id` and awaiting the server's PubAck.

pub mod config;
pub mod publish;
pub mod topology;

pub use config::TopologyArgs;

/// Connects to NATS (retrying until the server answers, and reconnecting for as long as the
/// process runs) and returns the client with its JetStream context.
pub async fn connect(
    url: &str,
) -> Result<(async_nats::Client, async_nats::jetstream::Context), async_nats::ConnectError> {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(url)
        .await?;
    let js = async_nats::jetstream::new(client.clone());
    Ok((client, js))
}
pub use publish::publish_task;
pub use topology::{ensure_consumer, ensure_consumers, ensure_streams, Topology};

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
}

impl Error {
    /// True when a publish found no stream for its subject: the server lost or never had the
    /// task streams, and `ensure_streams` should create them before publishing again.
    pub fn is_stream_missing(&self) -> bool {
        matches!(self, Error::Publish(e) if e.kind() == async_nats::jetstream::context::PublishErrorKind::StreamNotFound)
    }
}
