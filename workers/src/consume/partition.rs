//! The pull loop of one partition consumer.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use futures::StreamExt;
use schemas::TaskEnvelope;
use tokio::sync::watch;

use super::ack::{acknowledge, Outcome};
use super::conversations::{Conversations, Job};
use super::keepalive::Keepalive;

/// How long one pull request waits on the server for messages.
const PULL_EXPIRES: Duration = Duration::from_secs(5);
/// Heartbeat the server sends while a pull waits; must be at most half of the expiry.
const PULL_HEARTBEAT: Duration = Duration::from_secs(2);
/// Pause before pulling again after the pull stream failed.
const REPULL_DELAY: Duration = Duration::from_millis(500);

/// Pulls `consumer` until `stop` turns true, dispatching each task to its conversation.
pub async fn run(
    partition: u32,
    consumer: PullConsumer,
    conversations: Arc<Conversations>,
    batch: usize,
    ack_wait: Duration,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let pulled = consumer
            .stream()
            .expires(PULL_EXPIRES)
            .heartbeat(PULL_HEARTBEAT)
            .max_messages_per_batch(batch)
            .messages()
            .await;
        let mut messages = match pulled {
            Ok(messages) => messages,
            Err(error) => {
                tracing::warn!(partition, %error, "could not pull; pulling again shortly");
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(REPULL_DELAY) => continue,
                }
            }
        };
        loop {
            let next = tokio::select! {
                _ = stop.changed() => return,
                next = messages.next() => next,
            };
            match next {
                Some(Ok(message)) => match serde_json::from_slice::<TaskEnvelope>(&message.payload) {
                    Ok(envelope) => {
                        let keepalive = Keepalive::start(&message, ack_wait);
                        conversations.dispatch(Job {
                            envelope: Arc::new(envelope),
                            message,
                            keepalive,
                        });
                    }
                    Err(error) => {
                        tracing::error!(partition, %error, "message is not a task envelope; discarding");
                        acknowledge(&message, Outcome::Discard).await;
                    }
                },
                Some(Err(error)) => tracing::warn!(partition, %error, "pull stream error"),
                None => break,
            }
        }
    }
}
