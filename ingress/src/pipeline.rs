//! What both bindings (A2A `message/send`, the UCP REST binding) do with a task once it is
//! recorded: publish it to its conversation's partition, and wait for its end.

use std::time::Duration;

use schemas::action::Turn;
use schemas::capabilities::Capabilities;
use schemas::{partition_of, TaskEnvelope, TaskState};
use store::notify::{Change, Subscription};
use store::tasks::TaskRow;
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::Error;
use crate::AppState;

/// How long a publish may wait for JetStream's PubAck.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// Publishes a task just recorded: its turn with payment secrets redacted and the credential
/// in its sealed form.
pub async fn publish_new(
    state: &AppState,
    row: &TaskRow,
    mut turn: Turn,
    sealed: Option<&str>,
    capabilities: Capabilities,
) -> Result<(), Error> {
    turn.redact_secrets();
    if let (Some(sealed), Some(payment)) = (sealed, turn.payment_mut()) {
        payment.set_sealed_credential(sealed);
    }
    let envelope = TaskEnvelope {
        task_id: row.id,
        principal: row.principal.clone(),
        context_id: row.context_id.clone(),
        seq: row.seq,
        message_id: row.message_id.clone(),
        turn,
        capabilities,
        accepted_at: row.created_at,
    };
    publish(state, &envelope).await
}

/// A resent task's first publish may have failed: while it is still `submitted`, publishes it
/// again from what was stored (JetStream drops the duplicate).
pub async fn republish(state: &AppState, row: &TaskRow) -> Result<(), Error> {
    if row.state == TaskState::Submitted {
        publish(state, &row.envelope()?).await?;
    }
    Ok(())
}

/// Publishes the task to its partition. If the server has no stream for it (it lost its
/// store), the streams are created again and the publish retried once.
pub async fn publish(state: &AppState, envelope: &TaskEnvelope) -> Result<(), Error> {
    let topology = &state.config.topology;
    let partition = partition_of(&envelope.principal, &envelope.context_id, topology.partitions);
    let started = std::time::Instant::now();
    let first = queue::publish_task(&state.js, partition, envelope, PUBLISH_TIMEOUT).await;
    crate::metrics::publish(first.is_ok(), started.elapsed());
    match first {
        Err(error) if error.is_stream_missing() => {
            tracing::warn!(%error, "the task stream is missing; creating the streams again");
            queue::topology::ensure(&state.js, &topology.topology()).await?;
            queue::publish_task(&state.js, partition, envelope, PUBLISH_TIMEOUT).await?;
        }
        published => {
            published?;
        }
    }
    Ok(())
}

/// Waits, on task-change notifications, until the task is terminal or needs input, or until the
/// blocking cap passes; returns the task as it then is. `change` was enabled before `current`
/// was read, so a change after that read wakes it.
pub async fn wait_for_end(
    state: &AppState,
    principal: &Principal,
    subscription: &Subscription,
    mut change: Change<'_>,
    mut current: TaskRow,
) -> Result<TaskRow, Error> {
    let deadline = tokio::time::Instant::now() + state.config.blocking_timeout();
    while !current.state.ends_wait() {
        if tokio::time::timeout_at(deadline, change).await.is_err() {
            break;
        }
        change = subscription.changed();
        current = read(state, principal, current.id).await?;
    }
    Ok(current)
}

/// [`wait_for_end`] for a task recorded earlier (a resend): listens, then reads it.
pub async fn wait_for_existing(state: &AppState, principal: &Principal, id: Uuid) -> Result<TaskRow, Error> {
    let subscription = state.watcher.subscribe(id);
    let change = subscription.changed();
    let current = read(state, principal, id).await?;
    wait_for_end(state, principal, &subscription, change, current).await
}

async fn read(state: &AppState, principal: &Principal, id: Uuid) -> Result<TaskRow, Error> {
    state.tasks.get(&principal.0, id).await?.ok_or(Error::TaskNotFound)
}
