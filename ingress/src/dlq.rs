//! Operators' work on dead letters, shared by the CLI (`cartwright-ingress dlq ...`) and the
//! admin API (`/admin/dlq`): list with filters, show, replay, discard.
//!
//! Replaying or discarding a dead letter releases its task in PostgreSQL (replay: back to
//! `submitted`; discard: `failed`, visibly) and republishes, in conversation order and each with
//! a fresh `Nats-Msg-Id` (so JetStream's duplicate window does not drop it), the tasks its
//! conversation needs to move on: the released one and those that waited behind it. Only then
//! is the dead letter deleted, so a failure part-way leaves it to be released again; the
//! database fence makes every repeat a no-op, so replaying twice never applies anything twice.

use std::time::Duration;

use async_nats::jetstream;
use chrono::Utc;
use schemas::dead_letter::{Reason, Stored};
use schemas::partition_of;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use store::dead_letters::Release;
use uuid::Uuid;

use crate::error::Error;

/// How long one republish may wait for its PubAck.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// Which dead letters a listing or a bulk replay covers, as given on the command line or in
/// a query string: every field optional, ages in humantime (`90s`, `15m`, `2h`, `7d`).
#[derive(Debug, Clone, Default, clap::Args, Deserialize)]
pub struct FilterArgs {
    /// Only this reason: undecodable, non_retryable, max_deliveries or terminated.
    #[arg(long)]
    pub reason: Option<String>,
    /// Only dead letters older than this (e.g. 1h).
    #[arg(long)]
    pub older_than: Option<String>,
    /// Only dead letters newer than this (e.g. 15m).
    #[arg(long)]
    pub newer_than: Option<String>,
    /// Only this conversation (context id).
    #[arg(long)]
    pub context: Option<String>,
    /// Only this principal's messages.
    #[arg(long)]
    pub principal: Option<String>,
}

/// Parsed [`FilterArgs`].
#[derive(Debug, Clone, Default)]
pub struct Filters {
    reason: Option<Reason>,
    older_than: Option<Duration>,
    newer_than: Option<Duration>,
    context: Option<String>,
    principal: Option<String>,
}

impl FilterArgs {
    pub fn parse(&self) -> Result<Filters, Error> {
        let reason = match &self.reason {
            Some(name) => Some(Reason::parse(name).ok_or_else(|| {
                let names: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
                Error::InvalidParams(format!("reason {name:?} is not one of {}", names.join(", ")))
            })?),
            None => None,
        };
        let age = |name: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|text| {
                    humantime::parse_duration(text)
                        .map_err(|e| Error::InvalidParams(format!("{name} {text:?} is not a duration like 90s, 15m, 2h or 7d: {e}")))
                })
                .transpose()
        };
        Ok(Filters {
            reason,
            older_than: age("older_than", &self.older_than)?,
            newer_than: age("newer_than", &self.newer_than)?,
            context: self.context.clone(),
            principal: self.principal.clone(),
        })
    }
}

impl Filters {
    fn matches(&self, stored: &Stored) -> bool {
        let age = (Utc::now() - stored.dead_lettered_at).to_std().unwrap_or_default();
        let record = &stored.record;
        self.reason.is_none_or(|r| r == record.reason)
            && self.older_than.is_none_or(|d| age >= d)
            && self.newer_than.is_none_or(|d| age < d)
            && self.context.as_ref().is_none_or(|c| record.context_id.as_ref() == Some(c))
            && self.principal.as_ref().is_none_or(|p| record.principal.as_ref() == Some(p))
    }
}

/// The dead letters that match, oldest first.
pub async fn list(js: &jetstream::Context, filters: &Filters) -> Result<Vec<Stored>, Error> {
    let all = queue::dlq::list(js).await?;
    Ok(all.into_iter().filter(|stored| filters.matches(stored)).collect())
}

/// One dead letter.
pub async fn show(js: &jetstream::Context, id: u64) -> Result<Option<Stored>, Error> {
    Ok(queue::dlq::get(js, id).await?)
}

/// What an operator does with a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Replay,
    Discard,
}

/// What became of one dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub id: u64,
    /// `replayed`, `discarded` or `not_found` (no such dead letter: never was, or released
    /// already).
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<Uuid>,
    /// Messages published again: the released task and those that waited behind it.
    pub republished: usize,
    /// The task's turn had been applied before; nothing of it runs again.
    pub applied_before: bool,
}

/// Replays or discards dead letter `id`.
pub async fn release(db: &PgPool, js: &jetstream::Context, partitions: u32, id: u64, action: Action) -> Result<Outcome, Error> {
    let Some(stored) = queue::dlq::get(js, id).await? else {
        return Ok(Outcome {
            id,
            result: "not_found",
            task_id: None,
            republished: 0,
            applied_before: false,
        });
    };
    let record = &stored.record;
    let how = match action {
        Action::Replay => Release::Replay,
        Action::Discard => Release::Discard,
    };
    let released = match record.task_id {
        Some(task_id) => store::dead_letters::release(db, task_id, how).await?,
        None => None,
    };
    let (republished, applied_before) = match released {
        Some(released) => {
            for task in &released.republish {
                let envelope = task.envelope()?;
                let partition = partition_of(&envelope.principal, &envelope.context_id, partitions);
                let msg_id = format!("{}:replay:{}", envelope.task_id, Uuid::new_v4());
                queue::publish_task_as(js, partition, &envelope, &msg_id, PUBLISH_TIMEOUT).await?;
            }
            (released.republish.len(), released.applied_before)
        }
        // No task in this database (undecodable, or another database's): a replay puts the
        // message back where it was, a discard just drops it.
        None => match (&record.payload, action) {
            (Some(payload), Action::Replay) => {
                let msg_id = format!("dlq-replay:{id}:{}", Uuid::new_v4());
                let bytes = serde_json::to_vec(payload).map_err(|e| Error::Internal(e.to_string()))?;
                queue::publish_raw(js, record.subject.clone(), bytes, &msg_id, PUBLISH_TIMEOUT).await?;
                (1, false)
            }
            _ => (0, false),
        },
    };
    queue::dlq::delete(js, id).await?;
    tracing::info!(dead_letter = id, ?action, task_id = ?record.task_id, republished, "dead letter released");
    Ok(Outcome {
        id,
        result: match action {
            Action::Replay => "replayed",
            Action::Discard => "discarded",
        },
        task_id: record.task_id,
        republished,
        applied_before,
    })
}

/// Releases each of `ids`, in order, stopping at the first failure.
pub async fn release_many(
    db: &PgPool,
    js: &jetstream::Context,
    partitions: u32,
    ids: &[u64],
    action: Action,
) -> Result<Vec<Outcome>, Error> {
    let mut outcomes = Vec::with_capacity(ids.len());
    for &id in ids {
        outcomes.push(release(db, js, partitions, id, action).await?);
    }
    Ok(outcomes)
}
