//! Turning a message that cannot succeed into a dead letter, without losing it or breaking its
//! conversation's order: first the task is held in PostgreSQL (its conversation's later tasks
//! wait behind it), then the record is stored in the dead-letter stream (PubAck awaited), and
//! only then may the caller acknowledge or delete the original. A crash in between leaves the
//! original to be delivered again; the record's `Nats-Msg-Id` keeps a second copy out.

use std::time::Duration;

use async_nats::jetstream;
use chrono::Utc;
use schemas::dead_letter::{DeadLetter, Reason};
use schemas::TaskEnvelope;
use sqlx::PgPool;
use store::dead_letters::Hold;

/// How long storing a dead letter may wait for its PubAck.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a message was and how often it was delivered.
pub struct Origin<'a> {
    pub subject: &'a str,
    pub stream: &'a str,
    pub stream_sequence: u64,
    pub attempts: u64,
    pub payload: &'a [u8],
}

impl<'a> Origin<'a> {
    /// Where a delivered message came from.
    pub fn of(message: &'a jetstream::Message) -> Origin<'a> {
        let info = message.info().ok();
        Origin {
            subject: message.subject.as_str(),
            stream: info.as_ref().map_or("", |i| i.stream),
            stream_sequence: info.as_ref().map_or(0, |i| i.stream_sequence),
            attempts: info.as_ref().map_or(1, |i| i.delivered.max(1) as u64),
            payload: &message.payload,
        }
    }
}

/// What became of a message sent to [`DeadLetters::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Stored as the dead letter with this id.
    DeadLetter(u64),
    /// Its task's turn was applied already: nothing to dead-letter, just acknowledge it.
    AlreadyApplied,
}

/// What dead-lettering needs.
#[derive(Clone)]
pub struct DeadLetters {
    pub pool: PgPool,
    pub js: jetstream::Context,
}

impl DeadLetters {
    /// Holds the message's task (if it has one) and stores the dead letter. `error` `None`
    /// keeps the task's last recorded error. An error means nothing may be acknowledged yet.
    pub async fn record(
        &self,
        origin: Origin<'_>,
        envelope: Option<&TaskEnvelope>,
        reason: Reason,
        error: Option<&str>,
    ) -> anyhow::Result<Recorded> {
        let held = match envelope {
            Some(env) => match store::dead_letters::hold(&self.pool, env.task_id, error).await? {
                Hold::Applied => return Ok(Recorded::AlreadyApplied),
                Hold::Held(failures) => Some(failures),
                Hold::NoTask => None,
            },
            None => None,
        };
        let now = Utc::now();
        let (payload, payload_text) = DeadLetter::keep_payload(origin.payload);
        let record = DeadLetter {
            reason,
            error: error
                .map(str::to_owned)
                .or_else(|| held.as_ref().and_then(|f| f.last_error.clone()))
                .unwrap_or_else(|| format!("delivered {} times without success", origin.attempts)),
            attempts: origin.attempts,
            subject: origin.subject.to_owned(),
            partition: partition_of_subject(origin.subject),
            stream: origin.stream.to_owned(),
            stream_sequence: origin.stream_sequence,
            task_id: envelope.map(|e| e.task_id),
            context_id: envelope.map(|e| e.context_id.clone()),
            principal: envelope.map(|e| e.principal.clone()),
            seq: envelope.map(|e| e.seq),
            first_failure: held.as_ref().and_then(|f| f.first_failure_at).unwrap_or(now),
            last_failure: held.as_ref().and_then(|f| f.last_failure_at).unwrap_or(now),
            payload,
            payload_text,
        };
        let id = queue::dlq::publish(&self.js, &record, PUBLISH_TIMEOUT).await?;
        crate::metrics::dead_lettered(reason);
        tracing::error!(dead_letter = id, %reason, error = %record.error, attempts = record.attempts, "message dead-lettered");
        Ok(Recorded::DeadLetter(id))
    }
}

/// The partition of a task subject (`cartwright.tasks.<p>`); 0 for a subject without one.
fn partition_of_subject(subject: &str) -> u32 {
    subject.rsplit('.').next().and_then(|p| p.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn partition_comes_from_the_subject() {
        assert_eq!(super::partition_of_subject("cartwright.tasks.7"), 7);
        assert_eq!(super::partition_of_subject("odd"), 0);
    }
}
