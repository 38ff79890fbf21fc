//! Publishing accepted tasks.
//!
//! A task message carries, besides `Nats-Msg-Id`, the trace context of its publish (W3C
//! `traceparent` and `tracestate`, when traces are on) and the id of the request that accepted it
//! (`X-Request-Id`, when published while handling one): the worker continues the trace and logs
//! the request id with the turn ([`continue_trace`]).

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};
use async_nats::HeaderMap;
use schemas::queue::{task_subject, TaskEnvelope};
use tracing::Instrument as _;

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
    let span = tracing::info_span!(
        "publish",
        "otel.kind" = "producer",
        // The subject without its partition: span names stay few.
        "otel.name" = format!("publish {}", subject.rsplit_once('.').map_or(subject.as_str(), |(prefix, _)| prefix)),
        "messaging.system" = "nats",
        "messaging.destination.name" = %subject,
    );
    let headers = headers(&span);
    let publish = async {
        let message = PublishMessage::build()
            .headers(headers)
            .message_id(msg_id)
            .payload(payload.into());
        js.send_publish(subject, message).await?.await
    };
    let ack = tokio::time::timeout(timeout, publish)
        .instrument(span)
        .await
        .ok()
        .ok_or(Error::PublishTimeout(timeout))??;
    Ok(Published {
        stream_sequence: ack.sequence,
        duplicate: ack.duplicate,
    })
}

/// The header naming the request that accepted a task.
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";

/// A task message's headers: the publish span's trace context and the current request's id.
fn headers(span: &tracing::Span) -> HeaderMap {
    let mut headers = HeaderMap::new();
    lifecycle::telemetry::inject(span, |name, value| headers.insert(name, value));
    if let Some(id) = lifecycle::telemetry::request_id() {
        headers.insert(REQUEST_ID_HEADER, &*id);
    }
    headers
}

/// Continues, in `span` (just created, not yet entered), the trace of the publish that sent a
/// message with `headers`; returns the request id it carries, if it is a sane one.
pub fn continue_trace(span: &tracing::Span, headers: Option<&HeaderMap>) -> Option<String> {
    let headers = headers?;
    lifecycle::telemetry::set_parent(span, |name| headers.get(name).map(|v| v.as_str().to_owned()));
    headers
        .get(REQUEST_ID_HEADER)
        .map(|v| v.as_str())
        .filter(|id| lifecycle::telemetry::valid_request_id(id))
        .map(str::to_owned)
}
