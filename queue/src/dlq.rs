//! The dead-letter stream and the advisory stream that feeds it (see `schemas::dead_letter`).
//!
//! `CARTWRIGHT_DLQ` keeps dead letters (limits retention, `DLQ_MAX_AGE`); a record's id is its
//! sequence there, and it is deleted once an operator replays or discards it.
//! `CARTWRIGHT_ADVISORIES` captures the server's max-deliveries and terminated advisories of the
//! task streams' consumers; the workers' `dead-letterer` consumer turns each into a dead letter.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
use schemas::dead_letter::{
    dlq_subject, DeadLetter, Stored, ADVISORY_CONSUMER, ADVISORY_STREAM, DLQ_STREAM, DLQ_SUBJECT_PREFIX,
};
use schemas::queue::task_stream;

use crate::{Error, Topology};

/// How long reading one dead letter may take while listing.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Advisories are kept a week: long enough for a worker fleet that was down to catch up.
const ADVISORY_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The advisory subjects of the task streams' consumers that mean "the server gave up on a
/// message": every delivery used up, or terminated.
pub fn advisory_subjects(topology: &Topology) -> Vec<String> {
    (0..topology.streams)
        .flat_map(|group| {
            let stream = task_stream(group, topology.streams);
            [
                format!("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.*"),
                format!("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.{stream}.*"),
            ]
        })
        .collect()
}

/// The dead-letter stream (created by `topology::apply` with the others).
pub fn dlq_stream_config(topology: &Topology) -> stream::Config {
    stream::Config {
        name: DLQ_STREAM.to_owned(),
        subjects: vec![format!("{DLQ_SUBJECT_PREFIX}.*")],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        num_replicas: topology.replicas,
        duplicate_window: topology.duplicate_window,
        max_age: topology.dlq_max_age,
        max_consumers: -1,
        discard: stream::DiscardPolicy::Old,
        ..Default::default()
    }
}

/// The stream capturing the task consumers' max-deliveries and terminated advisories.
pub fn advisory_stream_config(topology: &Topology) -> stream::Config {
    stream::Config {
        name: ADVISORY_STREAM.to_owned(),
        subjects: advisory_subjects(topology),
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        num_replicas: topology.replicas,
        duplicate_window: topology.duplicate_window,
        max_age: ADVISORY_MAX_AGE,
        max_consumers: -1,
        ..Default::default()
    }
}

/// The workers' shared consumer of the advisory stream.
pub fn advisory_consumer_config() -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(ADVISORY_CONSUMER.to_owned()),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(30),
        max_deliver: -1,
        max_ack_pending: 1000,
        deliver_policy: consumer::DeliverPolicy::All,
        ..Default::default()
    }
}

/// Stores a dead letter and waits for the PubAck; returns its id. Recording the same message
/// twice (same stream and sequence) within the duplicate window stores it once.
pub async fn publish(js: &jetstream::Context, record: &DeadLetter, timeout: Duration) -> Result<u64, Error> {
    let payload = serde_json::to_vec(record)?;
    let published = crate::publish_raw(js, dlq_subject(record.partition), payload, &record.msg_id(), timeout).await?;
    Ok(published.stream_sequence)
}

/// The dead-letter stream; `None` if no process has created it yet (there are no dead letters).
async fn dlq_stream(js: &jetstream::Context) -> Result<Option<stream::Stream>, Error> {
    match js.get_stream(DLQ_STREAM).await {
        Ok(stream) => Ok(Some(stream)),
        Err(error)
            if matches!(error.kind(), jetstream::context::GetStreamErrorKind::JetStream(e)
                if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
        {
            Ok(None)
        }
        Err(error) => Err(error.into()),
    }
}

/// Every dead letter, oldest first.
pub async fn list(js: &jetstream::Context) -> Result<Vec<Stored>, Error> {
    let Some(stream) = dlq_stream(js).await? else {
        return Ok(Vec::new());
    };
    if stream.get_info().await.map_err(Error::other)?.state.messages == 0 {
        return Ok(Vec::new());
    }
    let reader = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await?;
    let mut messages = reader.messages().await.map_err(Error::other)?;
    let mut stored = Vec::new();
    loop {
        let message = match tokio::time::timeout(READ_TIMEOUT, messages.next()).await {
            Ok(Some(Ok(message))) => message,
            Ok(Some(Err(error))) => return Err(Error::other(error)),
            Ok(None) => break,
            Err(_) => return Err(Error::Dlq("reading the dead letters timed out".into())),
        };
        let info = message.info().map_err(|e| Error::Dlq(e.to_string()))?;
        let (id, at, pending) = (info.stream_sequence, info.published, info.pending);
        stored.push(decode(id, at, &message.payload)?);
        if pending == 0 {
            break;
        }
    }
    Ok(stored)
}

/// The dead letter with this id, if it is still kept.
pub async fn get(js: &jetstream::Context, id: u64) -> Result<Option<Stored>, Error> {
    let Some(stream) = dlq_stream(js).await? else {
        return Ok(None);
    };
    match stream.get_raw_message(id).await {
        Ok(message) => Ok(Some(decode(id, message.time, &message.payload)?)),
        Err(error) if is_no_message(error.kind()) => Ok(None),
        Err(error) => Err(Error::other(error)),
    }
}

/// Deletes a dead letter; false if it was not there.
pub async fn delete(js: &jetstream::Context, id: u64) -> Result<bool, Error> {
    delete_from(js, DLQ_STREAM, id).await
}

/// Deletes message `sequence` of stream `stream`; false if it was not there.
pub async fn delete_from(js: &jetstream::Context, stream: &str, sequence: u64) -> Result<bool, Error> {
    let stream = js.get_stream(stream).await?;
    match stream.delete_message(sequence).await {
        Ok(deleted) => Ok(deleted),
        Err(error) if matches!(error.kind(), stream::DeleteMessageErrorKind::JetStream(e)
            if e.error_code() == jetstream::ErrorCode::NO_MESSAGE_FOUND || e.to_string().contains("no message found")) => Ok(false),
        Err(error) => Err(Error::other(error)),
    }
}

/// Dead letters kept now.
pub async fn depth(js: &jetstream::Context) -> Result<u64, Error> {
    let Some(stream) = dlq_stream(js).await? else {
        return Ok(0);
    };
    Ok(stream.get_info().await.map_err(Error::other)?.state.messages)
}

/// True when a stream read found no message at that sequence.
pub fn is_no_message(kind: stream::RawMessageErrorKind) -> bool {
    match kind {
        stream::RawMessageErrorKind::NoMessageFound => true,
        stream::RawMessageErrorKind::JetStream(error) => error.error_code() == jetstream::ErrorCode::NO_MESSAGE_FOUND,
        _ => false,
    }
}

fn decode(id: u64, at: chrono::DateTime<chrono::Utc>, payload: &[u8]) -> Result<Stored, Error> {
    let record: DeadLetter =
        serde_json::from_slice(payload).map_err(|e| Error::Dlq(format!("dead letter {id} is malformed: {e}")))?;
    Ok(Stored {
        id,
        dead_lettered_at: at,
        record,
    })
}
