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
    publish_task_as(js, partition, envelope, &envelope.msg_id(), timeout).await
}

/// Publishes a task with another `Nats-Msg-Id`: an operator's replay, which JetStream's
/// duplicate window must not drop. The database fence still applies the task at most once.
pub async fn publish_task_as(
    js: &jetstream::Context,
    partition: u32,
    envelope: &TaskEnvelope,
    msg_id: &str,
    timeout: Duration,
) -> Result<Published, Error> {
    let payload = serde_json::to_vec(envelope)?;
    publish_raw(js, task_subject(partition), payload, msg_id, timeout).await
}

/// Publishes bytes to `subject` with `Nats-Msg-Id` `msg_id` and waits (up to `timeout`) for the
/// PubAck.
pub async fn publish_raw(
    js: &jetstream::Context,
    subject: String,
    payload: Vec<u8>,
    msg_id: &str,
    timeout: Duration,
) -> Result<Published, Error> {
    let publish = async {
        let message = PublishMessage::build().message_id(msg_id).payload(payload.into());
        js.send_publish(subject, message).await?.await
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
