//! Dead letters: messages a worker could not process, kept for an operator to inspect, replay or
//! discard (README, "Dead letters"). A record says why, how often it was tried, where the message
//! came from and which task and conversation it belongs to, and carries the message itself:
//! payment credentials in a task envelope are sealed by the ingress, so they stay encrypted
//! here too, and anything else is redacted before it is kept (see [`DeadLetter::keep_payload`]).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The stream dead letters are kept in (subjects `cartwright.dlq.<partition>`); a record's id is
/// its sequence number in this stream.
pub const DLQ_STREAM: &str = "CARTWRIGHT_DLQ";
/// Dead letters of partition `p` are published to `cartwright.dlq.<p>`.
pub const DLQ_SUBJECT_PREFIX: &str = "cartwright.dlq";
/// The stream that captures JetStream's max-deliveries and terminated advisories of the task
/// streams, so a message the server gave up on is turned into a dead letter, never lost.
pub const ADVISORY_STREAM: &str = "CARTWRIGHT_ADVISORIES";
/// The durable consumer of [`ADVISORY_STREAM`] the workers share.
pub const ADVISORY_CONSUMER: &str = "dead-letterer";

/// The subject of partition `partition`'s dead letters.
pub fn dlq_subject(partition: u32) -> String {
    format!("{DLQ_SUBJECT_PREFIX}.{partition}")
}

/// Why a message was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The message is not a task envelope.
    Undecodable,
    /// Its turn failed in a way no retry can fix (or it names no conversation we have).
    NonRetryable,
    /// Its turn failed on every one of `MAX_DELIVER` deliveries, or the server stopped
    /// delivering it (a worker died on it every time).
    MaxDeliveries,
    /// Something terminated the message instead of acknowledging it.
    Terminated,
}

impl Reason {
    pub const ALL: [Reason; 4] = [
        Reason::Undecodable,
        Reason::NonRetryable,
        Reason::MaxDeliveries,
        Reason::Terminated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Undecodable => "undecodable",
            Reason::NonRetryable => "non_retryable",
            Reason::MaxDeliveries => "max_deliveries",
            Reason::Terminated => "terminated",
        }
    }

    pub fn parse(text: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One dead-lettered message, as stored in [`DLQ_STREAM`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub reason: Reason,
    /// The last error, as the worker logged it (never a credential: errors carry none).
    pub error: String,
    /// Deliveries of the message before it was dead-lettered.
    pub attempts: u64,
    /// Where the message was: its subject, partition, stream and sequence in that stream.
    pub subject: String,
    pub partition: u32,
    pub stream: String,
    pub stream_sequence: u64,
    /// The task and conversation, when the message could be read as a task envelope.
    pub task_id: Option<Uuid>,
    pub context_id: Option<String>,
    pub principal: Option<String>,
    pub seq: Option<i64>,
    pub first_failure: DateTime<Utc>,
    pub last_failure: DateTime<Utc>,
    /// The message: a task envelope as published (its payment credential sealed), other JSON
    /// with anything secret-looking redacted; `None` when the server no longer had it or it is
    /// not JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
    /// A message that is not JSON, as text with card numbers masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_text: Option<String>,
}

impl DeadLetter {
    /// What of a message's bytes a dead letter keeps (`payload`, `payload_text`): a task
    /// envelope as it is; other JSON redacted; other bytes as text with card numbers masked.
    pub fn keep_payload(bytes: &[u8]) -> (Option<serde_json::Value>, Option<String>) {
        if serde_json::from_slice::<crate::TaskEnvelope>(bytes).is_ok() {
            return (serde_json::from_slice(bytes).ok(), None);
        }
        match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(mut value) => {
                crate::redact::redact_secrets(&mut value);
                (Some(value), None)
            }
            Err(_) => {
                let text = String::from_utf8_lossy(bytes);
                (None, Some(crate::redact::mask_card_numbers(&text).into_owned()))
            }
        }
    }

    /// The `Nats-Msg-Id` of a message's dead letter: recording it twice (a worker and the
    /// advisory path, or a retry) stores it once.
    pub fn msg_id(&self) -> String {
        format!("dlq:{}:{}", self.stream, self.stream_sequence)
    }
}

/// A dead letter with its id (its sequence number in [`DLQ_STREAM`]) and when it was stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    pub id: u64,
    pub dead_lettered_at: DateTime<Utc>,
    #[serde(flatten)]
    pub record: DeadLetter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_by_name() {
        for reason in Reason::ALL {
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
        assert_eq!(Reason::parse("bogus"), None);
    }

    #[test]
    fn foreign_payloads_are_kept_redacted() {
        let (json, text) = DeadLetter::keep_payload(br#"{"payment": {"card_number": "4111111111111111"}}"#);
        assert_eq!(text, None);
        assert!(!json.unwrap().to_string().contains("4111"));
        let (json, text) = DeadLetter::keep_payload(b"card 4111 1111 1111 1111 \xff");
        assert_eq!(json, None);
        assert!(!text.unwrap().contains("4111 1111 1111 1111"));
    }
}
