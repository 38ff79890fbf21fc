//! The JetStream side of the pipeline as data: names, subjects, the partition function and the
//! envelope a task travels in. Applying the topology to a server is `queue::topology`'s job.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::action::Turn;
use crate::capabilities::Capabilities;

/// The streams holding accepted tasks are `CARTWRIGHT_TASKS_<n>`; each holds the subjects of
/// the partitions `p` with `p % streams == n`. Several streams let the server write (and
/// fsync) in parallel: it writes one stream's messages one at a time.
pub const TASK_STREAM_PREFIX: &str = "CARTWRIGHT_TASKS";
/// Subjects are `cartwright.tasks.<partition>`.
pub const TASK_SUBJECT_PREFIX: &str = "cartwright.tasks";
/// The priority group every worker pulls with; the server pins each partition to one worker.
pub const WORKER_GROUP: &str = "workers";

/// The subject of a partition.
pub fn task_subject(partition: u32) -> String {
    format!("{TASK_SUBJECT_PREFIX}.{partition}")
}

/// The stream holding a partition's subject, of `streams` task streams.
pub fn task_stream(partition: u32, streams: u32) -> String {
    format!("{TASK_STREAM_PREFIX}_{}", partition % streams.max(1))
}

/// The durable consumer that owns a partition.
pub fn partition_consumer(partition: u32) -> String {
    format!("partition-{partition}")
}

/// The partition of a conversation: a stable hash (FNV-1a, 64 bit) of principal and context id,
/// modulo the deployment's fixed partition count. Stable across processes, builds and versions.
pub fn partition_of(principal: &str, context_id: &str, partitions: u32) -> u32 {
    let key = principal.bytes().chain([0u8]).chain(context_id.bytes());
    (fnv1a(key) % u64::from(partitions.max(1))) as u32
}

/// FNV-1a, 64 bit: a tiny hash whose value never changes between builds (unlike std's).
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .into_iter()
        .fold(OFFSET, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME))
}

/// A task as published to JetStream. `seq` is the conversation's sequence number assigned at
/// acceptance; workers apply a conversation's tasks strictly in `seq` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEnvelope {
    pub task_id: Uuid,
    pub principal: String,
    pub context_id: String,
    pub seq: i64,
    pub message_id: String,
    pub turn: Turn,
    /// Capabilities negotiated with the client's UCP profile (queued by name).
    pub capabilities: Capabilities,
    pub accepted_at: DateTime<Utc>,
}

impl TaskEnvelope {
    /// The `Nats-Msg-Id` of this task: publishing it twice stores it once.
    pub fn msg_id(&self) -> String {
        self.task_id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_is_stable_and_in_range() {
        assert_eq!(partition_of("alice", "ctx-1", 16), partition_of("alice", "ctx-1", 16));
        // Pinned values: changing the hash would move live conversations between partitions.
        assert_eq!(partition_of("alice", "ctx-1", 1 << 30), 878_579_624);
        for i in 0..1000 {
            assert!(partition_of("p", &format!("c{i}"), 16) < 16);
        }
    }

    #[test]
    fn principal_and_context_do_not_run_together() {
        assert_ne!(partition_of("ab", "c", 1 << 30), partition_of("a", "bc", 1 << 30));
    }

    #[test]
    fn partitions_spread_keys() {
        let mut counts = [0u32; 16];
        for i in 0..16_000 {
            counts[partition_of("p", &format!("ctx-{i}"), 16) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (800..1200).contains(&c)), "{counts:?}");
    }
}
