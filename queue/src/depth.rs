//! Queue depth, the number workers scale on: for each partition consumer, the messages not yet
//! delivered plus those delivered and not yet acknowledged (`num_pending + num_ack_pending`),
//! as gauges `cartwright_queue_depth{partition}` and `cartwright_queue_depth_total`, and the
//! dead letters kept (`cartwright_dead_letters`). Every process that runs [`run`] reports the
//! same numbers, so dashboards and autoscalers take `max()` over them, never `sum()`.

use std::time::Duration;

use async_nats::jetstream;
use schemas::queue::{partition_consumer, task_stream};
use tokio::sync::watch;

use crate::Topology;

/// How often the depth is read.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The depth of every partition, in partition order.
pub async fn read(js: &jetstream::Context, topology: &Topology) -> Result<Vec<u64>, crate::Error> {
    let mut depths = Vec::with_capacity(topology.partitions as usize);
    for partition in 0..topology.partitions {
        let stream = js.get_stream(task_stream(partition, topology.streams)).await?;
        let info = stream
            .consumer_info(partition_consumer(partition))
            .await
            .map_err(crate::Error::other)?;
        depths.push(info.num_pending + info.num_ack_pending as u64);
    }
    Ok(depths)
}

/// Updates the gauges every [`POLL_INTERVAL`] until `stop` turns true. A failed read leaves
/// the last values (and logs once until a read succeeds again).
pub async fn run(js: jetstream::Context, topology: Topology, mut stop: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticks.tick() => {}
        }
        let read = async { Ok::<_, crate::Error>((read(&js, &topology).await?, crate::dlq::depth(&js).await?)) };
        match read.await {
            Ok((depths, dead)) => {
                failing = false;
                for (partition, depth) in depths.iter().enumerate() {
                    metrics::gauge!("cartwright_queue_depth", "partition" => partition.to_string()).set(*depth as f64);
                }
                metrics::gauge!("cartwright_queue_depth_total").set(depths.iter().sum::<u64>() as f64);
                metrics::gauge!("cartwright_dead_letters").set(dead as f64);
            }
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "could not read the queue depth");
            }
            Err(_) => {}
        }
    }
}
