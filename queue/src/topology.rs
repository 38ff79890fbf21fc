//! The task streams and their partition consumers.
//!
//! Accepted tasks go to `cartwright.tasks.<partition>`; `STREAMS` streams share the partition
//! subjects (see `schemas::queue::task_stream`). Each partition has one durable pull consumer,
//! on its stream, that every worker pulls from; a worker keeps a FIFO per conversation, and
//! PostgreSQL's sequence fence is the final arbiter of order (see README, "Partitions and
//! concurrency").

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use schemas::queue::{partition_consumer, task_stream, task_subject};

use crate::Error;

/// The deployment's queue settings.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Fixed partition count; changing it moves conversations between partitions.
    pub partitions: u32,
    /// Streams the partitions are spread over; changing it moves partitions between streams.
    pub streams: u32,
    /// Stream replicas: 1 on a single server, 3 in production.
    pub replicas: usize,
    /// How long JetStream remembers a Nats-Msg-Id to drop a duplicate publish.
    pub duplicate_window: Duration,
    /// How long a delivered message may go unacknowledged before it is redelivered.
    pub ack_wait: Duration,
    /// How many messages of one partition may be in flight at once, across all workers.
    pub max_ack_pending: i64,
    /// Deliveries of a message before the server gives up on it (and a max-deliveries advisory
    /// turns it into a dead letter).
    pub max_deliver: i64,
    /// How long dead letters are kept.
    pub dlq_max_age: Duration,
}

/// Creates the task streams, or updates them to this configuration.
///
/// Retention is work-queue (a message is deleted once acked: the database holds the record);
/// storage is file. Durability of acknowledged publishes also depends on the server's
/// `sync_interval` (see deploy/nats-server.conf).
pub async fn ensure_streams(js: &jetstream::Context, topology: &Topology) -> Result<(), Error> {
    for group in 0..topology.streams {
        let subjects = (0..topology.partitions)
            .filter(|p| p % topology.streams == group)
            .map(task_subject)
            .collect::<Vec<_>>();
        js.create_or_update_stream(stream::Config {
            name: task_stream(group, topology.streams),
            subjects,
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            num_replicas: topology.replicas,
            duplicate_window: topology.duplicate_window,
            max_consumers: (topology.partitions as i32).saturating_mul(2),
            discard: stream::DiscardPolicy::Old,
            ..Default::default()
        })
        .await?;
    }
    Ok(())
}

/// Creates or updates one durable pull consumer per partition.
pub async fn ensure_consumers(js: &jetstream::Context, topology: &Topology) -> Result<(), Error> {
    for partition in 0..topology.partitions {
        ensure_consumer(js, topology, partition).await?;
    }
    Ok(())
}

/// Creates or updates the durable pull consumer of one partition.
pub async fn ensure_consumer(js: &jetstream::Context, topology: &Topology, partition: u32) -> Result<(), Error> {
    let stream = js.get_stream(task_stream(partition, topology.streams)).await?;
    stream.create_consumer(consumer_config(partition, topology)).await?;
    Ok(())
}

/// The consumer of one partition.
pub fn consumer_config(partition: u32, topology: &Topology) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(partition_consumer(partition)),
        filter_subject: task_subject(partition),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: topology.ack_wait,
        // Waits (an unreachable database, providers down) keep the message in the worker
        // without a redelivery, so deliveries count real failures only; past the last one the
        // max-deliveries advisory makes it a dead letter (see `dlq`).
        max_deliver: topology.max_deliver,
        max_ack_pending: topology.max_ack_pending,
        deliver_policy: consumer::DeliverPolicy::All,
        ..Default::default()
    }
}
