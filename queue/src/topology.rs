//! The task streams and their partition consumers, and who owns them.
//!
//! One process owns the topology: `cartwright-ingress migrate` creates every stream and
//! consumer or updates them to its settings ([`apply`]). The ingress and the workers only
//! create what is missing and compare what exists with their own settings ([`ensure`]); they
//! refuse to start when it differs, saying what differs, instead of overwriting each other.
//!
//! Accepted tasks go to `cartwright.tasks.<partition>`; `STREAMS` streams share the partition
//! subjects (see `schemas::queue::task_stream`). Each partition has one durable pull consumer,
//! on its stream, that every worker pulls from; a worker keeps a FIFO per conversation, and
//! PostgreSQL's sequence fence is the final arbiter of order (see README, "Partitions and
//! concurrency").

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use schemas::dead_letter::ADVISORY_STREAM;
use schemas::queue::{partition_consumer, task_stream, task_subject};

use crate::{dlq, Error};

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

/// The task stream of partition group `group`.
///
/// Retention is work-queue (a message is deleted once acked: the database holds the record);
/// storage is file. Durability of acknowledged publishes also depends on the server's
/// `sync_interval` (see deploy/nats-server.conf).
pub fn stream_config(group: u32, topology: &Topology) -> stream::Config {
    let subjects = (0..topology.partitions)
        .filter(|p| p % topology.streams == group)
        .map(task_subject)
        .collect::<Vec<_>>();
    stream::Config {
        name: task_stream(group, topology.streams),
        subjects,
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        num_replicas: topology.replicas,
        duplicate_window: topology.duplicate_window,
        max_consumers: (topology.partitions as i32).saturating_mul(2),
        discard: stream::DiscardPolicy::Old,
        ..Default::default()
    }
}

/// Every stream of the deployment, task streams first.
fn streams(topology: &Topology) -> Vec<stream::Config> {
    let mut all: Vec<stream::Config> = (0..topology.streams).map(|g| stream_config(g, topology)).collect();
    all.push(dlq::dlq_stream_config(topology));
    all.push(dlq::advisory_stream_config(topology));
    all
}

/// Every durable consumer of the deployment, with its stream's name.
fn consumers(topology: &Topology) -> Vec<(String, consumer::pull::Config)> {
    let mut all: Vec<(String, consumer::pull::Config)> = (0..topology.partitions)
        .map(|p| (task_stream(p, topology.streams), consumer_config(p, topology)))
        .collect();
    all.push((ADVISORY_STREAM.to_owned(), dlq::advisory_consumer_config()));
    all
}

/// Creates every stream and consumer, or updates them to this configuration: the owner's job
/// (`cartwright-ingress migrate`), run once per deployment or settings change.
pub async fn apply(js: &jetstream::Context, topology: &Topology) -> Result<(), Error> {
    for config in streams(topology) {
        js.create_or_update_stream(config).await?;
    }
    for (stream, config) in consumers(topology) {
        js.get_stream(&stream).await?.create_consumer(config).await?;
    }
    Ok(())
}

/// What every other process does: creates what is missing (a fresh server, or one that lost its
/// store) with this configuration and changes nothing that exists; fails with
/// [`Error::TopologyDiffers`] if what exists differs from this configuration.
pub async fn ensure(js: &jetstream::Context, topology: &Topology) -> Result<(), Error> {
    let mut differences = Vec::new();
    for config in streams(topology) {
        let mut stream = js.get_or_create_stream(config.clone()).await?;
        let actual = stream.info().await.map_err(Error::other)?.config.clone();
        differences.extend(stream_differences(&config, &actual));
    }
    for (stream, config) in consumers(topology) {
        let stream = js.get_stream(&stream).await?;
        let name = config.durable_name.clone().unwrap_or_default();
        let mut consumer: consumer::PullConsumer = stream
            .get_or_create_consumer(&name, config.clone())
            .await
            .map_err(Error::other)?;
        let actual = consumer.info().await.map_err(Error::other)?.config.clone();
        differences.extend(consumer_differences(&name, &config, &actual));
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(Error::TopologyDiffers(differences))
    }
}

/// Creates one partition's stream and consumer if they are missing (after a pull failed: the
/// server may have lost its store; the reconciler republishes the tasks they held).
pub async fn ensure_partition(js: &jetstream::Context, topology: &Topology, partition: u32) -> Result<(), Error> {
    let group = partition % topology.streams.max(1);
    let stream = js.get_or_create_stream(stream_config(group, topology)).await?;
    let config = consumer_config(partition, topology);
    let name = config.durable_name.clone().unwrap_or_default();
    stream.get_or_create_consumer::<consumer::pull::Config>(&name, config).await.map_err(Error::other)?;
    Ok(())
}

/// The settings of a stream that differ from what this process expects, one line each.
fn stream_differences(want: &stream::Config, have: &stream::Config) -> Vec<String> {
    let sorted = |subjects: &[String]| {
        let mut subjects = subjects.to_vec();
        subjects.sort();
        format!("{subjects:?}")
    };
    let fields = [
        ("subjects", sorted(&want.subjects), sorted(&have.subjects)),
        ("retention", format!("{:?}", want.retention), format!("{:?}", have.retention)),
        ("storage", format!("{:?}", want.storage), format!("{:?}", have.storage)),
        ("replicas", want.num_replicas.to_string(), have.num_replicas.to_string()),
        ("duplicate_window", format!("{:?}", want.duplicate_window), format!("{:?}", have.duplicate_window)),
        ("max_age", format!("{:?}", want.max_age), format!("{:?}", have.max_age)),
        ("max_consumers", want.max_consumers.to_string(), have.max_consumers.to_string()),
        ("discard", format!("{:?}", want.discard), format!("{:?}", have.discard)),
    ];
    differences(&format!("stream {}", want.name), &fields)
}

/// The settings of a consumer that differ from what this process expects, one line each.
fn consumer_differences(name: &str, want: &consumer::pull::Config, have: &consumer::Config) -> Vec<String> {
    let fields = [
        ("filter_subject", want.filter_subject.clone(), have.filter_subject.clone()),
        ("ack_policy", format!("{:?}", want.ack_policy), format!("{:?}", have.ack_policy)),
        ("ack_wait", format!("{:?}", want.ack_wait), format!("{:?}", have.ack_wait)),
        ("max_deliver", want.max_deliver.to_string(), have.max_deliver.to_string()),
        ("max_ack_pending", want.max_ack_pending.to_string(), have.max_ack_pending.to_string()),
    ];
    differences(&format!("consumer {name}"), &fields)
}

fn differences(what: &str, fields: &[(&str, String, String)]) -> Vec<String> {
    fields
        .iter()
        .filter(|(_, want, have)| want != have)
        .map(|(field, want, have)| format!("{what}: {field} is {have}, this process expects {want}"))
        .collect()
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
