//! Publishing accepted tasks.

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};
use schemas::queue::{task_subject, TaskEnvelope};

use crate::Error;

/// The outcome of a publish the server acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub stream_sequence: u64,
    /// The server already held a message with this Nats-Msg-Id (within the duplicate window).
    pub duplicate: bool,
}

/// Publishes a task to its partition with `Nats-Msg-Id` = task id and waits (up to `timeout`)
/// for the PubAck: a task counts as published only once the server has stored it.
pub async fn publish_task(
    js: &jetstream::Context,
    partition: u32,
    envelope: &TaskEnvelope,
    timeout: Duration,
) -> Result<Published, Error> {
    let payload = serde_json::to_vec(envelope)?;
    let publish = async {
        let message = PublishMessage::build()
            .message_id(envelope.msg_id())
            .payload(payload.into());
        js.send_publish(task_subject(partition), message).await?.await
    };
    let ack = tokio::time::timeout(timeout, publish)
        .await
        .ok()
        .ok_or(Error::PublishTimeout(timeout))??;
    Ok(Published {
        stream_sequence: ack.sequence,
        duplicate: ack.duplicate,
    })
}
