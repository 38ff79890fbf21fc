//! The dead-letterer turns the server's "gave up on this message" advisories into dead letters.
//!
//! A message whose deliveries are used up without an ack (a worker died on it every time) stays
//! in its work-queue stream, undelivered; one terminated by a client is gone. JetStream announces
//! both as advisories, which `CARTWRIGHT_ADVISORIES` captures (see `queue::dlq`). Every worker
//! pulls the shared `dead-letterer` consumer; for each advisory it reads the message from its
//! task stream, dead-letters it (holding its task, so its conversation waits), deletes it from
//! the task stream and acknowledges the advisory, in that order: a crash in between repeats a
//! step, never skips one.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use schemas::dead_letter::{Reason, ADVISORY_CONSUMER, ADVISORY_STREAM};
use schemas::TaskEnvelope;
use serde::Deserialize;
use tokio::sync::watch;

use crate::consume::dead_letter::{DeadLetters, Origin, Recorded};

/// Pause before pulling again after a failure.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// The fields of a max-deliveries or terminated advisory this needs.
#[derive(Debug, Deserialize)]
struct Advisory {
    #[serde(rename = "type")]
    kind: String,
    stream: String,
    stream_seq: u64,
    #[serde(default)]
    deliveries: u64,
}

/// Runs until `stop` turns true. While the advisory stream cannot be read (a server that lost
/// its store), the missing streams and consumers are created again.
pub async fn run(js: jetstream::Context, topology: queue::Topology, dead_letters: DeadLetters, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        let messages = async {
            let stream = js.get_stream(ADVISORY_STREAM).await.map_err(anyhow::Error::new)?;
            let consumer: jetstream::consumer::PullConsumer =
                stream.get_consumer(ADVISORY_CONSUMER).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let messages = consumer
                .stream()
                .expires(Duration::from_secs(5))
                .heartbeat(Duration::from_secs(2))
                .messages()
                .await?;
            anyhow::Ok(messages)
        };
        let mut messages = match messages.await {
            Ok(messages) => messages,
            Err(error) => {
                tracing::warn!(%error, "cannot read the advisories yet");
                if let Err(error) = queue::topology::ensure(&js, &topology).await {
                    tracing::warn!(%error, "could not create the missing streams");
                }
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(RETRY_DELAY) => continue,
                }
            }
        };
        loop {
            let next = tokio::select! {
                _ = stop.changed() => return,
                next = messages.next() => next,
            };
            match next {
                Some(Ok(message)) => {
                    let kind = match handle(&js, &dead_letters, &message.payload).await {
                        Ok(()) => AckKind::Ack,
                        Err(error) => {
                            tracing::warn!(%error, "could not dead-letter an abandoned message; trying again");
                            AckKind::Nak(Some(RETRY_DELAY))
                        }
                    };
                    if let Err(error) = message.ack_with(kind).await {
                        tracing::warn!(%error, "advisory acknowledgement failed");
                    }
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "advisory pull failed; pulling again");
                    break;
                }
                None => break,
            }
        }
    }
}

/// Dead-letters the message one advisory names. Ok means the advisory is done with.
async fn handle(js: &jetstream::Context, dead_letters: &DeadLetters, payload: &[u8]) -> anyhow::Result<()> {
    let Ok(advisory) = serde_json::from_slice::<Advisory>(payload) else {
        tracing::warn!("an advisory that does not parse; skipped");
        return Ok(());
    };
    let reason = if advisory.kind.ends_with(".terminated") {
        Reason::Terminated
    } else {
        Reason::MaxDeliveries
    };
    let stream = js.get_stream(&advisory.stream).await?;
    let message = match stream.get_raw_message(advisory.stream_seq).await {
        Ok(message) => Some(message),
        Err(error) if queue::dlq::is_no_message(error.kind()) => None,
        Err(error) => return Err(error.into()),
    };
    let Some(message) = message else {
        if reason == Reason::MaxDeliveries {
            // Acknowledged after all (a last delivery succeeded, or a worker dead-lettered it).
            return Ok(());
        }
        let origin = Origin {
            subject: "",
            stream: &advisory.stream,
            stream_sequence: advisory.stream_seq,
            attempts: advisory.deliveries,
            payload: &[],
        };
        let error = "terminated by a client; the server no longer has the message";
        dead_letters.record(origin, None, reason, Some(error)).await?;
        return Ok(());
    };
    let envelope = serde_json::from_slice::<TaskEnvelope>(&message.payload).ok();
    let origin = Origin {
        subject: message.subject.as_str(),
        stream: &advisory.stream,
        stream_sequence: advisory.stream_seq,
        attempts: advisory.deliveries,
        payload: &message.payload,
    };
    let reason = if envelope.is_none() { Reason::Undecodable } else { reason };
    let error = (reason == Reason::Undecodable).then_some("not a task envelope");
    if let Recorded::DeadLetter(id) = dead_letters.record(origin, envelope.as_ref(), reason, error).await? {
        tracing::info!(dead_letter = id, stream = %advisory.stream, seq = advisory.stream_seq, "abandoned message dead-lettered");
    }
    queue::dlq::delete_from(js, &advisory.stream, advisory.stream_seq).await?;
    Ok(())
}
