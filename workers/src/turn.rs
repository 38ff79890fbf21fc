//! Turns, applied exactly once and in conversation order, many conversations per transaction.
//!
//! One PostgreSQL transaction takes a batch of turns, each of a different conversation: lock
//! the conversations and check each fence (`applied_seq` must be the task's `seq - 1`), record
//! the message ids as processed, lock the tasks, read the checkouts, run each action, write the
//! effects, write the tasks' results, advance the fences, notify. Commit, and only then are the
//! messages acked. A redelivery finds its fence past it and changes nothing. Each step is one
//! statement for the whole batch, so a batch costs a handful of round trips and one commit
//! whatever its size.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use schemas::a2a::{Artifact, Message, Part};
use schemas::action::Turn;
use schemas::{TaskEnvelope, TaskState};
use sqlx::{PgConnection, PgPool};
use store::contexts::Key;
use store::sessions::Append;
use store::tasks::{TurnClose, TurnResult};
use uuid::Uuid;

use crate::agent::Outcome;
use crate::commerce::actions::{self, Answer, Context, Effects, Settings, Stored};
use crate::commerce::checkout_sessions;
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
    /// An earlier task of the conversation is dead-lettered: this one waits in the database
    /// (its status says why) until an operator releases it, which republishes it.
    Held,
    /// The conversation does not exist: the message does not belong to this database.
    UnknownConversation,
}

/// What the transaction does with a turn that passed its fence.
#[derive(Debug, Clone)]
pub enum Work {
    /// Run the turn's action (or the offline chat answer).
    Run,
    /// Commit what the agent computed for a chat turn: its checkout changes, its reply, the
    /// session's new exchange and the tokens it used.
    Agent(Arc<Outcome>),
}

/// Applies a batch of turns, each of a different conversation, in one transaction. Returns what
/// happened to each, in order. An error means nothing of the batch was committed.
pub async fn apply(
    pool: &PgPool,
    batch: &[(&TaskEnvelope, &Work)],
    settings: &Settings,
    faults: &Faults,
) -> store::Result<Vec<Applied>> {
    let mut tx = pool.begin().await?;
    let keys: Vec<Key> = batch.iter().map(|(env, _)| key(env)).collect();
    let fences = store::contexts::lock_applied_seqs(&mut tx, &keys).await?;
    let mut applied = Vec::with_capacity(batch.len());
    let mut due = Vec::new();
    let mut waiting = Vec::new();
    for (i, (env, _)) in batch.iter().enumerate() {
        applied.push(match fences.get(&keys[i]) {
            None => Applied::UnknownConversation,
            Some(fence) if fence.applied_seq >= env.seq => Applied::AlreadyApplied,
            Some(fence) if fence.waits_behind_held(env.seq) => {
                waiting.push((env.task_id, env.context_id.as_str(), fence.held_seq.unwrap_or_default()));
                Applied::Held
            }
            Some(fence) if fence.applied_seq < env.seq - 1 => Applied::NotYet,
            Some(_) => {
                due.push(i);
                Applied::Committed
            }
        });
    }
    store::contexts::mark_waiting(&mut tx, &waiting).await?;
    if due.is_empty() {
        if !waiting.is_empty() {
            tx.commit().await?;
        }
        return Ok(applied);
    }

    let messages: Vec<(String, Uuid)> = due.iter().map(|&i| (batch[i].0.msg_id(), batch[i].0.task_id)).collect();
    let recorded = store::dedup::record_processed(&mut tx, &messages).await?;
    due.retain(|&i| {
        let fresh = recorded.contains(&batch[i].0.msg_id());
        if !fresh {
            applied[i] = Applied::AlreadyApplied;
        }
        fresh
    });
    let ids: Vec<Uuid> = due.iter().map(|&i| batch[i].0.task_id).collect();
    let states = store::tasks::lock_for_turns(&mut tx, &ids).await?;
    let runnable = |i: usize| {
        matches!(
            states.get(&batch[i].0.task_id),
            Some(TaskState::Submitted | TaskState::Working)
        )
    };
    for &i in due.iter().filter(|&&i| runnable(i)) {
        faults.fail(batch[i].0)?;
    }
    let mut stored = read_checkouts(&mut tx, batch, &keys, due.iter().copied().filter(|&i| runnable(i))).await?;

    let now = Utc::now();
    let mut effects = Effects::default();
    let mut closes = Vec::with_capacity(due.len());
    let mut exchanges = Vec::new();
    let mut spent = Vec::new();
    for &i in &due {
        let (env, work) = batch[i];
        let result = if runnable(i) {
            let (state, answer, name, usage) = match work {
                Work::Agent(outcome) => {
                    effects.checkouts.extend(outcome.effects.checkouts.iter().cloned());
                    effects.orders.extend(outcome.effects.orders.iter().cloned());
                    effects.reservations.extend(outcome.effects.reservations.iter().cloned());
                    effects.webhooks.extend(outcome.effects.webhooks.iter().cloned());
                    if let Some(exchange) = &outcome.exchange {
                        exchanges.push((keys[i].clone(), exchange, &env.capabilities));
                    }
                    spent.push((env.principal.as_str(), outcome.usage.total_tokens));
                    let answer = Answer {
                        text: outcome.text.clone(),
                        data: outcome.data.clone(),
                    };
                    (outcome.state, answer, "chat", Some(outcome.usage))
                }
                Work::Run => {
                    let found = match &env.turn {
                        Turn::Action {
                            action: schemas::Action::SearchShoppingCatalog { query },
                        } => store::catalog::search(&mut tx, query).await?,
                        _ => Vec::new(),
                    };
                    let cx = Context {
                        found,
                        settings,
                        now,
                        effects: &mut effects,
                        checkout_id: Uuid::now_v7(),
                    };
                    let (state, answer, name) = run(cx, &mut tx, env, stored.remove(&keys[i]).unwrap_or_default()).await?;
                    (state, answer, name, None)
                }
            };
            let (reply, artifacts) = render(env, answer, name);
            Some(TurnResult {
                state,
                reply,
                artifacts,
                usage,
            })
        } else {
            None
        };
        closes.push(TurnClose {
            principal: &env.principal,
            context_id: &env.context_id,
            seq: env.seq,
            id: env.task_id,
            result,
        });
    }
    effects.write(&mut tx).await?;
    let webhooks_queued = !effects.webhooks.is_empty();
    let appends: Vec<Append<'_>> = exchanges
        .iter()
        .map(|(key, exchange, capabilities)| Append {
            key,
            exchange,
            capabilities,
        })
        .collect();
    store::sessions::append(&mut tx, &appends, settings.history_turns).await?;
    store::tasks::complete_turns(&mut tx, &closes).await?;
    // Last before the commit: a busy principal's usage row is locked as briefly as possible.
    let shard = batch.first().map_or(0, |(env, _)| env.task_id.as_u128() as u16);
    store::usage::add(&mut *tx, shard, &spent).await?;
    for &i in &due {
        faults.reach(FaultPoint::BeforeCommit, batch[i].0).await;
    }
    tx.commit().await?;
    if webhooks_queued {
        settings.webhooks_due.notify_one();
    }
    for &i in &due {
        faults.reach(FaultPoint::AfterCommit, batch[i].0).await;
    }
    Ok(applied)
}

fn key(env: &TaskEnvelope) -> Key {
    (env.principal.clone(), env.context_id.clone())
}

/// The checkouts the runnable turns' actions work on, read (and the open ones locked) in two
/// statements for the whole batch.
async fn read_checkouts(
    conn: &mut PgConnection,
    batch: &[(&TaskEnvelope, &Work)],
    keys: &[Key],
    runnable: impl Iterator<Item = usize>,
) -> store::Result<HashMap<Key, Stored>> {
    let actions: Vec<(Key, &schemas::action::Action)> = runnable
        .filter(|&i| matches!(batch[i].1, Work::Run))
        .filter_map(|i| match &batch[i].0.turn {
            Turn::Action { action } if actions::reads_checkout(action) => Some((keys[i].clone(), action)),
            _ => None,
        })
        .collect();
    let keys: Vec<Key> = actions.iter().map(|(key, _)| key.clone()).collect();
    let mut open = store::checkouts::open_for_update(conn, &keys).await?;
    let closed_keys: Vec<Key> = actions
        .iter()
        .filter(|(key, action)| !open.contains_key(key) && actions::reads_latest(action))
        .map(|(key, _)| key.clone())
        .collect();
    let mut latest = store::checkouts::latest(conn, &closed_keys).await?;
    Ok(keys
        .into_iter()
        .map(|key| {
            let stored = Stored {
                open: open.remove(&key),
                latest: latest.remove(&key),
            };
            (key, stored)
        })
        .collect())
}

async fn run(
    cx: Context<'_>,
    conn: &mut PgConnection,
    env: &TaskEnvelope,
    stored: Stored,
) -> store::Result<(TaskState, Answer, &'static str)> {
    let (answer, name) = match &env.turn {
        Turn::Action { action } => (actions::run(cx, env, action, stored).await?, action.name()),
        Turn::Chat { text, .. } => (actions::chat(conn, text).await?, "chat"),
        Turn::Rest { operation } => {
            let response = checkout_sessions::run(cx, conn, env, operation).await?;
            let state = if response.status < 400 { TaskState::Completed } else { TaskState::Failed };
            return Ok((state, Answer::rest(response), operation.name()));
        }
    };
    Ok((TaskState::Completed, answer, name))
}

/// The agent's reply message and the task's artifacts (one per DataPart).
fn render(env: &TaskEnvelope, answer: Answer, name: &str) -> (Message, Vec<Artifact>) {
    let mut parts = vec![Part::text(answer.text)];
    let mut artifacts = Vec::new();
    for data in answer.data {
        artifacts.push(Artifact {
            artifact_id: Uuid::new_v4().to_string(),
            name: Some(name.to_owned()),
            parts: vec![Part::data(data.clone())],
        });
        parts.push(Part::data(data));
    }
    let message = Message::agent(
        Uuid::new_v4().to_string(),
        &env.context_id,
        &env.task_id.to_string(),
        parts,
    );
    (message, artifacts)
}
