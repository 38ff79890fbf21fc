//! The queue settings both the ingress and the workers read from the environment.

use std::time::Duration;

use clap::Args;

use crate::Topology;

/// Default partition count: enough to spread load and to keep per-partition consumers cheap;
/// concurrency comes from many conversations in flight per partition, not from partitions.
pub const PARTITIONS_DEFAULT: u32 = 16;
/// Default seconds before an unacknowledged delivery is redelivered.
pub const ACK_WAIT_DEFAULT: u64 = 30;
/// Default deliveries in flight per partition, across all workers.
pub const MAX_ACK_PENDING_DEFAULT: i64 = 1024;
/// Default task streams: nats-server writes and fsyncs one stream's messages one at a time, so
/// with an fsync before every PubAck more streams publish more in parallel (BENCHMARKS.md).
pub const STREAMS_DEFAULT: u32 = 4;
/// Default seconds JetStream remembers a Nats-Msg-Id.
pub const DUPLICATE_WINDOW_DEFAULT: u64 = 120;

#[derive(Debug, Clone, Args)]
pub struct TopologyArgs {
    /// NATS server URL (JetStream enabled, nats-server 2.11 or newer).
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:14222")]
    pub nats_url: String,
    /// Fixed partition count of the task stream. Every process of a deployment must agree.
    #[arg(long, env = "PARTITIONS", default_value_t = PARTITIONS_DEFAULT)]
    pub partitions: u32,
    /// Task streams the partitions are spread over. Every process of a deployment must agree.
    #[arg(long, env = "STREAMS", default_value_t = STREAMS_DEFAULT)]
    pub streams: u32,
    /// Replicas of each task stream (1 for one server, 3 in production clusters).
    #[arg(long, env = "STREAM_REPLICAS", default_value_t = 1)]
    pub stream_replicas: usize,
    /// Seconds JetStream drops a republished Nats-Msg-Id.
    #[arg(long, env = "DUPLICATE_WINDOW", default_value_t = DUPLICATE_WINDOW_DEFAULT)]
    pub duplicate_window: u64,
    /// Seconds a delivered, unacknowledged message waits before redelivery.
    #[arg(long, env = "ACK_WAIT", default_value_t = ACK_WAIT_DEFAULT)]
    pub ack_wait: u64,
    /// Deliveries in flight per partition across all workers.
    #[arg(long, env = "MAX_ACK_PENDING", default_value_t = MAX_ACK_PENDING_DEFAULT)]
    pub max_ack_pending: i64,
}

impl TopologyArgs {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=1024).contains(&self.partitions) {
            return Err(format!(
                "PARTITIONS must be between 1 and 1024, got {}",
                self.partitions
            ));
        }
        if !(1..=self.partitions).contains(&self.streams) {
            return Err(format!(
                "STREAMS must be between 1 and PARTITIONS, got {}",
                self.streams
            ));
        }
        if !(1..=5).contains(&self.stream_replicas) {
            return Err("STREAM_REPLICAS must be between 1 and 5".into());
        }
        if self.ack_wait < 3 {
            return Err("ACK_WAIT must be at least 3 seconds".into());
        }
        if self.max_ack_pending < 1 {
            return Err("MAX_ACK_PENDING must be at least 1".into());
        }
        Ok(())
    }

    pub fn topology(&self) -> Topology {
        Topology {
            partitions: self.partitions,
            streams: self.streams,
            replicas: self.stream_replicas,
            duplicate_window: Duration::from_secs(self.duplicate_window),
            ack_wait: Duration::from_secs(self.ack_wait),
            max_ack_pending: self.max_ack_pending,
        }
    }
}
