//! One turn, applied exactly once and in conversation order.
//!
//! In one PostgreSQL transaction: lock the conversation and check the fence (its
//! `applied_seq` must be this task's `seq - 1`), record the message id as processed, lock the
//! task, run the action (checkout row locked and version-checked), write the task's result,
//! advance the fence, notify. Commit, and only then is the message acked. A redelivery finds
//! the fence past it and changes nothing.

use chrono::Utc;
use schemas::a2a::{Artifact, Message, Part};
use schemas::action::Turn;
use schemas::{TaskEnvelope, TaskState};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use store::tasks::TurnResult;
use uuid::Uuid;

use crate::commerce::actions::{self, Answer, Settings};
use crate::fault::{FaultPoint, Faults};

/// What happened to a delivered task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The turn's effects and result were committed now.
    Committed,
    /// An earlier delivery already committed it (or the task was cancelled and is now skipped).
    AlreadyApplied,
    /// An earlier task of the conversation has not been applied yet: try again later.
    NotYet,
    /// The conversation does not exist: the message does not belong to this database.
    UnknownConversation,
}

/// Applies the turn of `env`.
pub async fn apply(pool: &PgPool, env: &TaskEnvelope, settings: &Settings, faults: &Faults) -> store::Result<Applied> {
    commit_turn(pool, env, faults, Work::Run(settings)).await
}

/// Commits the task as failed, with a reference the operator can search the logs for. Used when
/// a turn fails for a reason a retry cannot fix, so the conversation is not blocked behind it.
pub async fn fail(pool: &PgPool, env: &TaskEnvelope, faults: &Faults) -> store::Result<Applied> {
    commit_turn(pool, env, faults, Work::Fail).await
}

/// What the transaction does between the fence and the commit.
enum Work<'a> {
    Run(&'a Settings),
    Fail,
}

async fn commit_turn(pool: &PgPool, env: &TaskEnvelope, faults: &Faults, work: Work<'_>) -> store::Result<Applied> {
    let mut tx = pool.begin().await?;
    let Some(applied) = store::contexts::lock_applied_seq(&mut tx, &env.principal, &env.context_id).await? else {
        return Ok(Applied::UnknownConversation);
    };
    if applied >= env.seq {
        return Ok(Applied::AlreadyApplied);
    }
    if applied < env.seq - 1 {
        return Ok(Applied::NotYet);
    }
    if !store::dedup::record_processed(&mut tx, &env.msg_id(), env.task_id).await? {
        return Ok(Applied::AlreadyApplied);
    }
    let state = store::tasks::lock_for_turn(&mut tx, env.task_id).await?;
    let result = if matches!(state, Some(TaskState::Submitted | TaskState::Working)) {
        let (state, answer, name) = match work {
            Work::Run(settings) => run(&mut tx, env, settings).await?,
            Work::Fail => {
                let text = format!("The agent could not process this message (reference {}).", env.task_id);
                (TaskState::Failed, Answer { text, data: None }, "error")
            }
        };
        let (reply, artifacts) = render(env, &answer, name);
        Some((state, reply, artifacts))
    } else {
        None
    };
    let result = result.as_ref().map(|(state, reply, artifacts)| TurnResult {
        state: *state,
        reply,
        artifacts,
    });
    store::tasks::complete_turn(&mut tx, &env.principal, &env.context_id, env.seq, env.task_id, result).await?;
    faults.reach(FaultPoint::BeforeCommit, env).await;
    tx.commit().await?;
    faults.reach(FaultPoint::AfterCommit, env).await;
    Ok(Applied::Committed)
}

async fn run(
    conn: &mut PgConnection,
    env: &TaskEnvelope,
    settings: &Settings,
) -> store::Result<(TaskState, Answer, &'static str)> {
    let now = Utc::now();
    let (answer, name) = match &env.turn {
        Turn::Action { action } => (actions::run(conn, env, action, settings, now).await?, action.name()),
        Turn::Chat { text } => (actions::chat(conn, text).await?, "chat"),
    };
    Ok((TaskState::Completed, answer, name))
}

/// The agent's reply message and the task's artifacts.
fn render(env: &TaskEnvelope, answer: &Answer, name: &str) -> (Value, Value) {
    let mut parts = vec![Part::text(answer.text.clone())];
    let mut artifacts = Vec::new();
    if let Some(data) = &answer.data {
        parts.push(Part::data(data.clone()));
        artifacts.push(Artifact {
            artifact_id: Uuid::new_v4().to_string(),
            name: Some(name.to_owned()),
            parts: vec![Part::data(data.clone())],
        });
    }
    let message = Message::agent(
        Uuid::new_v4().to_string(),
        &env.context_id,
        &env.task_id.to_string(),
        parts,
    );
    (
        serde_json::to_value(message).unwrap_or(Value::Null),
        serde_json::to_value(artifacts).unwrap_or(Value::Null),
    )
}
