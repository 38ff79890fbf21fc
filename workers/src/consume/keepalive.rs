//! In-progress acks. A message waiting in a conversation's FIFO or being worked on must not
//! be redelivered just because it is held longer than `ack_wait`: while it is held, a task
//! sends `AckKind::Progress` every third of `ack_wait`.

use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use tokio::task::JoinHandle;

/// Keeps a message alive until dropped.
pub struct Keepalive(JoinHandle<()>);

impl Keepalive {
    pub fn start(message: &Message, ack_wait: Duration) -> Keepalive {
        let message = message.clone();
        let period = ack_wait / 3;
        Keepalive(tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            loop {
                ticks.tick().await;
                if message.ack_with(AckKind::Progress).await.is_err() {
                    return;
                }
            }
        }))
    }
}

impl Drop for Keepalive {
    fn drop(&mut self) {
        self.0.abort();
    }
}
