//! The reconciler closes the gap between "recorded in PostgreSQL" and "stored in JetStream".
//!
//! The ingress records a task, then publishes it. If it dies in between, or JetStream loses an
//! acknowledged message (see README, durability), the task would wait forever and block its
//! conversation behind it. Every [`RECONCILE_INTERVAL`] one worker at a time (a PostgreSQL
//! advisory lock, `store::singleton`) looks at the task each conversation must apply next,
//! when it was recorded (or last republished) more than `after` ago:
//!
//! - if its partition holds a message its consumer has not delivered yet, stored no later than
//!   that task's publish (plus [`PUBLISH_SLACK`]), the task may be queued behind it in the
//!   backlog and is left alone: a backlog is never answered with more copies of itself;
//! - otherwise its message, if JetStream still has it, was delivered, and the task is not
//!   applied although its predecessor is: the message was lost (or the turn holding it made no
//!   change for `after`), and it is republished with the same
//!   `Nats-Msg-Id` (a copy the duplicate window does not catch is a redelivery the database
//!   fence turns into a no-op), and marked so the next pass waits `after` again.
//!
//! A failed publish (or a partition that cannot be read) is counted and logged and the pass
//! goes on with the others.
//! Counted in `cartwright_reconciler_passes_total{outcome}` and
//! `cartwright_reconciler_tasks_total{outcome}`.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use queue::topology::Topology;
use schemas::partition_of;
use schemas::queue::{partition_consumer, task_stream, task_subject};
use sqlx::PgPool;
use tokio::sync::watch;

/// How often the reconciler looks.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(5);
/// The most tasks looked at per pass.
pub const RECONCILE_BATCH: i64 = 500;
/// How long one republish may wait for its PubAck.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long after a task is recorded its publish may still be stored (the ingress's publish and
/// its one retry, each with a 5 s timeout) plus clock skew between NATS and PostgreSQL.
pub const PUBLISH_SLACK: Duration = Duration::from_secs(15);

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub republished: usize,
    /// Left alone: their partition holds an undelivered message as old as their publish.
    pub queued: usize,
    pub failed: usize,
}

/// Runs until `stop` turns true.
pub async fn run(pool: PgPool, js: jetstream::Context, topology: Topology, after: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(RECONCILE_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticks.tick() => {}
        }
        match reconcile_once(&pool, &js, &topology, after).await {
            Ok(Some(pass)) => {
                metrics::counter!("cartwright_reconciler_passes_total", "outcome" => "ran").increment(1);
                for (outcome, count) in [("republished", pass.republished), ("queued", pass.queued), ("failed", pass.failed)] {
                    metrics::counter!("cartwright_reconciler_tasks_total", "outcome" => outcome).increment(count as u64);
                }
                if pass.republished > 0 || pass.failed > 0 {
                    tracing::info!(
                        republished = pass.republished,
                        failed = pass.failed,
                        queued = pass.queued,
                        "republished tasks that were recorded but are not in JetStream"
                    );
                }
            }
            Ok(None) => metrics::counter!("cartwright_reconciler_passes_total", "outcome" => "skipped").increment(1),
            Err(error) => {
                metrics::counter!("cartwright_reconciler_passes_total", "outcome" => "error").increment(1);
                tracing::warn!(%error, "reconciler pass failed");
            }
        }
    }
}

/// One pass; `None` if another worker's pass holds the lock.
pub async fn reconcile_once(
    pool: &PgPool,
    js: &jetstream::Context,
    topology: &Topology,
    after: Duration,
) -> anyhow::Result<Option<Pass>> {
    let Some(_lock) = store::singleton::try_hold(pool, store::singleton::RECONCILER).await? else {
        return Ok(None);
    };
    let before = Utc::now() - chrono::Duration::from_std(after)?;
    let rows = store::reconcile::next_unapplied_before(pool, before, RECONCILE_BATCH).await?;
    // Per partition: when its oldest message was stored, or `None` if it could not be read.
    let mut oldest: HashMap<u32, Option<Option<DateTime<Utc>>>> = HashMap::new();
    let mut pass = Pass::default();
    for row in rows {
        let envelope = match row.envelope() {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::error!(task_id = %row.id, %error, "stored task cannot be republished");
                pass.failed += 1;
                continue;
            }
        };
        let partition = partition_of(&envelope.principal, &envelope.context_id, topology.partitions);
        let first = match oldest.get(&partition) {
            Some(first) => *first,
            None => {
                let first = oldest_undelivered(js, topology, partition)
                    .await
                    .inspect_err(|error| tracing::warn!(partition, %error, "cannot tell what the partition holds; its tasks wait for the next pass"))
                    .ok();
                oldest.insert(partition, first);
                first
            }
        };
        let Some(first) = first else {
            pass.failed += 1;
            continue;
        };
        let published = row.updated_at.max(row.created_at) + chrono::Duration::from_std(PUBLISH_SLACK)?;
        if first.is_some_and(|first| first <= published) {
            pass.queued += 1;
            continue;
        }
        match queue::publish_task(js, partition, &envelope, PUBLISH_TIMEOUT).await {
            Ok(_) => {
                store::reconcile::mark_republished(pool, row.id).await?;
                pass.republished += 1;
            }
            Err(error) => {
                tracing::warn!(task_id = %row.id, partition, %error, "republish failed; the next pass tries again");
                pass.failed += 1;
            }
        }
    }
    Ok(Some(pass))
}

/// When the oldest message of `partition` that its consumer has not delivered yet was stored
/// (`None`: the consumer has delivered everything the partition holds). Messages delivered and
/// parked in a worker behind a lost predecessor do not count: they are what waits for it.
async fn oldest_undelivered(js: &jetstream::Context, topology: &Topology, partition: u32) -> anyhow::Result<Option<DateTime<Utc>>> {
    let stream = js
        .get_stream_no_info(task_stream(partition, topology.streams))
        .await
        .map_err(|e| anyhow::anyhow!("opening the stream of partition {partition}: {e}"))?;
    let delivered = stream
        .consumer_info(partition_consumer(partition))
        .await
        .map_err(|e| anyhow::anyhow!("reading the consumer of partition {partition}: {e}"))?
        .delivered
        .stream_sequence;
    match stream.get_first_raw_message_by_subject(task_subject(partition), delivered + 1).await {
        Ok(message) => Ok(Some(message.time)),
        Err(error) if error.kind() == jetstream::stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
        Err(error) => Err(anyhow::anyhow!("reading the oldest undelivered message of partition {partition}: {error}")),
    }
}
