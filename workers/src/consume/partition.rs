//! The pull loop of one partition consumer.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::Context;
use futures::StreamExt;
use schemas::TaskEnvelope;
use tokio::sync::watch;

use super::ack::{acknowledge, retry_delay, Outcome};
use super::conversations::{Conversations, Job};
use super::dead_letter::{DeadLetters, Origin};
use super::keepalive::Keepalive;

/// How long one pull request waits on the server for messages.
const PULL_EXPIRES: Duration = Duration::from_secs(5);
/// Heartbeat the server sends while a pull waits; must be at most half of the expiry.
const PULL_HEARTBEAT: Duration = Duration::from_secs(2);
/// Pause before pulling again after the pull stream failed.
const REPULL_DELAY: Duration = Duration::from_millis(500);

/// What a partition's pull loop needs besides its consumer.
pub struct Puller {
    pub js: Context,
    pub topology: queue::Topology,
    pub conversations: Arc<Conversations>,
    pub dead_letters: DeadLetters,
    /// Messages fetched per pull request.
    pub batch: usize,
    /// Places for messages this worker holds (pulled, not yet acknowledged), shared by every
    /// partition: with none free, the pull loops stop reading until a turn finishes.
    pub held: Arc<tokio::sync::Semaphore>,
}

/// Pulls `consumer` until `stop` turns true, dispatching each task to its conversation. When a
/// pull fails, the streams and the partition's consumer are ensured again before the next pull:
/// a server that lost its store comes back without them (the reconciler republishes the tasks
/// they held).
pub async fn run(partition: u32, consumer: PullConsumer, puller: Arc<Puller>, mut stop: watch::Receiver<bool>) {
    let ack_wait = puller.topology.ack_wait;
    while !*stop.borrow() {
        let pulled = consumer
            .stream()
            .expires(PULL_EXPIRES)
            .heartbeat(PULL_HEARTBEAT)
            .max_messages_per_batch(puller.batch)
            .messages()
            .await;
        let mut messages = match pulled {
            Ok(messages) => messages,
            Err(error) => {
                tracing::warn!(partition, %error, "could not pull; pulling again shortly");
                if !recover(&puller, partition, &mut stop).await {
                    return;
                }
                continue;
            }
        };
        loop {
            let held = tokio::select! {
                _ = stop.changed() => return,
                held = puller.held.clone().acquire_owned() => match held {
                    Ok(held) => held,
                    Err(_) => return,
                },
            };
            let next = tokio::select! {
                _ = stop.changed() => return,
                next = messages.next() => next,
            };
            match next {
                Some(Ok(message)) => match serde_json::from_slice::<TaskEnvelope>(&message.payload) {
                    Ok(envelope) => {
                        let keepalive = Keepalive::start(&message, ack_wait);
                        puller.conversations.dispatch(Job {
                            envelope: Arc::new(envelope),
                            message,
                            keepalive,
                            held,
                        });
                    }
                    Err(error) => {
                        let error = format!("not a task envelope: {}", schemas::redact::describe_serde_error(&error));
                        undecodable(&puller, &message, &error).await;
                    }
                },
                Some(Err(error)) => {
                    tracing::warn!(partition, %error, "pull stream error; pulling again shortly");
                    if !recover(&puller, partition, &mut stop).await {
                        return;
                    }
                    break;
                }
                None => break,
            }
        }
    }
}

/// Dead-letters a message that is not a task envelope, then acknowledges it; if the dead
/// letter could not be stored, it is delivered again later.
async fn undecodable(puller: &Puller, message: &async_nats::jetstream::Message, error: &str) {
    let origin = Origin::of(message);
    let delivered = origin.attempts as i64;
    let recorded = puller
        .dead_letters
        .record(origin, None, schemas::dead_letter::Reason::Undecodable, Some(error))
        .await;
    match recorded {
        Ok(_) => acknowledge(message, Outcome::Ack).await,
        Err(error) => {
            tracing::warn!(%error, "could not dead-letter an undecodable message; it will be delivered again");
            acknowledge(message, Outcome::Retry(retry_delay(delivered))).await;
        }
    }
}

/// Waits a moment, then creates this partition's stream and consumer if they are missing. Returns false
/// if the worker is stopping.
async fn recover(puller: &Puller, partition: u32, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = stop.changed() => return false,
        _ = tokio::time::sleep(REPULL_DELAY) => {}
    }
    if let Err(error) = queue::topology::ensure_partition(&puller.js, &puller.topology, partition).await {
        tracing::warn!(partition, %error, "could not ensure the stream and consumer yet");
    }
    true
}
