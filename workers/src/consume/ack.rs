//! Turning a turn's outcome into a JetStream acknowledgement.

use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};

/// What to tell JetStream about a delivered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done (committed now or before): never deliver again.
    Ack,
    /// Deliver again after the delay (the turn failed and will be retried, or the worker is
    /// shutting down and gives the message back).
    Retry(Duration),
}

/// The first retry delay; it doubles with each delivery up to [`MAX_RETRY_DELAY`].
pub const FIRST_RETRY_DELAY: Duration = Duration::from_millis(50);
/// The longest retry delay.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// The retry delay for a message delivered (or waiting) `delivered` times: exponential, capped,
/// so a long outage does not turn into a storm of retries.
pub fn retry_delay(delivered: i64) -> Duration {
    let exponent = delivered.clamp(1, 16) as u32 - 1;
    FIRST_RETRY_DELAY.saturating_mul(1u32 << exponent).min(MAX_RETRY_DELAY)
}

/// Sends the acknowledgement for `outcome`. A failed ack is logged, not retried: the message
/// will be redelivered and the database fence makes that a no-op.
pub async fn acknowledge(message: &Message, outcome: Outcome) {
    let kind = match outcome {
        Outcome::Ack => AckKind::Ack,
        Outcome::Retry(delay) => AckKind::Nak(Some(delay)),
    };
    if let Err(error) = message.ack_with(kind).await {
        tracing::warn!(%error, ?outcome, "acknowledgement failed; the message will be redelivered");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_and_is_capped() {
        assert_eq!(retry_delay(1), Duration::from_millis(50));
        assert_eq!(retry_delay(2), Duration::from_millis(100));
        assert_eq!(retry_delay(4), Duration::from_millis(400));
        assert_eq!(retry_delay(40), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(0), Duration::from_millis(50));
    }
}
