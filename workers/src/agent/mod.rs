//! The agent: a chat turn as a durable, replayable computation.
//!
//! A turn starts ([`start`]): its task moves to `working` and its session, checkout and journal
//! are read; no connection is kept. Then, at most `LLM_MAX_STEPS` times, the model is asked
//! ([`crate::llm`]) unless the journal already holds that step's reply (a redelivery after a
//! crash), each new reply is journaled at once, and the tools it asked for run against the
//! turn's own view of the checkout ([`tools`]). The [`Outcome`] (reply, effects, the session's
//! new exchange, usage) is committed by the turn transaction with the fence, all or nothing.
//! While no provider can answer, the turn waits: its message is redelivered later.
//!
//! - [`start`]: batched start of turns.
//! - [`tools`]: tool declarations and their execution.
//! - [`prompt`]: the system instruction.

pub mod prompt;
pub mod start;
pub mod tools;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use schemas::a2a::{Message, Part};
use schemas::action::Turn;
use schemas::agent::{Exchange, ModelReply, ToolResult, Usage};
use schemas::{TaskEnvelope, TaskState};
use serde_json::{Map, Value};
use sqlx::PgPool;
use store::batch::Batcher;
use store::journal::Entry as JournalEntry;
use store::SharedError;
use uuid::Uuid;

use crate::commerce::actions::{Effects, Settings};
use crate::fault::{FaultPoint, Faults};
use crate::llm::router::{Failure, Router};
use crate::llm::{Entry, ModelRequest, Tools};
use crate::turn::{Applied, Work};
use start::{Begun, Starter};
use tools::{Searches, ToolContext, Workspace};

/// What the task's status says while no provider can answer.
pub const UNAVAILABLE: &str =
    "The assistant is temporarily unavailable; this message will be answered as soon as it is back.";

/// The longest a waiting turn stays away before it is tried again.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// The shortest.
const MIN_WAIT: Duration = Duration::from_millis(250);

/// What a chat turn's run produced, for the turn transaction to commit.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub state: TaskState,
    pub text: String,
    /// The reply's DataParts: the last search results and the last checkout state.
    pub data: Vec<Map<String, Value>>,
    pub effects: Effects,
    /// Appended to the session (`None` for a failed turn).
    pub exchange: Option<Exchange>,
    pub usage: Usage,
}

impl Outcome {
    fn failed(text: String, usage: Usage) -> Outcome {
        Outcome {
            state: TaskState::Failed,
            text,
            data: Vec::new(),
            effects: Effects::default(),
            exchange: None,
            usage,
        }
    }
}

/// What to do with a delivered chat turn.
pub enum Decision {
    /// Nothing to run: it is applied already, not due yet, or unknown.
    Skip(Applied),
    /// Commit this in the turn transaction.
    Apply(Work),
    /// No provider can answer now: deliver the message again after this long.
    Wait(Duration),
}

/// The agent's limits.
pub struct Limits {
    pub max_steps: usize,
    pub history_turns: usize,
    pub daily_tokens_per_principal: Option<i64>,
}

/// The worker's agent.
pub struct Agent {
    pool: PgPool,
    settings: Settings,
    router: Router,
    tools: Tools,
    limits: Limits,
    starter: Starter,
    searches: Searches,
    journal: Batcher<JournalEntry, Result<ModelReply, SharedError>>,
    faults: Faults,
}

impl Agent {
    pub fn new(pool: PgPool, settings: Settings, router: Router, limits: Limits, faults: Faults) -> Agent {
        let starter = Starter::start(pool.clone(), limits.daily_tokens_per_principal.is_some());
        let journal_pool = pool.clone();
        let journal = Batcher::start(256, 2, store::batch::QUEUE_DEFAULT, move |entries: Vec<JournalEntry>| {
            let pool = journal_pool.clone();
            async move {
                let size = entries.len();
                match store::journal::record(&pool, &entries).await {
                    Ok(held) => held.into_iter().map(Ok).collect(),
                    Err(error) => store::fail_each(size, error),
                }
            }
        });
        Agent {
            searches: Searches::start(pool.clone()),
            pool,
            settings,
            router,
            tools: Tools::new(&tools::specs()),
            limits,
            starter,
            journal,
            faults,
        }
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Decides what becomes of a delivered chat turn, running the model if it is due.
    pub async fn decide(&self, env: &Arc<TaskEnvelope>) -> Result<Decision, SharedError> {
        let begun = self.starter.begin(env.clone()).await?;
        let Some(standing) = begun.standing else {
            return Ok(Decision::Skip(Applied::UnknownConversation));
        };
        if standing.applied_seq >= env.seq {
            return Ok(Decision::Skip(Applied::AlreadyApplied));
        }
        if standing.applied_seq < env.seq - 1 {
            if standing.held_seq.is_some_and(|held| held < env.seq) {
                // Behind a dead-lettered task: the turn transaction records it as waiting.
                return Ok(Decision::Apply(Work::Run));
            }
            return Ok(Decision::Skip(Applied::NotYet));
        }
        let Turn::Chat { text, payment } = &env.turn else {
            return Ok(Decision::Apply(Work::Run));
        };
        if !begun.is_due(env.seq) {
            // Cancelled (or finished): the transaction only moves the fence past it.
            return Ok(Decision::Apply(Work::Run));
        }
        if let Some(budget) = self.limits.daily_tokens_per_principal {
            if begun.spent_today >= budget {
                let text = format!(
                    "This caller has used its daily budget of {budget} model tokens; chat turns are refused until 00:00 UTC."
                );
                return Ok(Decision::Apply(Work::Agent(Arc::new(Outcome::failed(text, Usage::default())))));
            }
        }
        match self.converse(env, text, payment.as_ref(), begun).await? {
            Ok(outcome) => Ok(Decision::Apply(Work::Agent(Arc::new(outcome)))),
            Err(wait) => {
                let status = Message::agent(
                    Uuid::new_v4().to_string(),
                    &env.context_id,
                    &env.task_id.to_string(),
                    vec![Part::text(UNAVAILABLE)],
                );
                if let Err(error) = store::tasks::set_status_message(&self.pool, env.task_id, &status).await {
                    tracing::warn!(%error, "could not record the unavailable status");
                }
                Ok(Decision::Wait(wait.clamp(MIN_WAIT, MAX_WAIT)))
            }
        }
    }

    /// Runs the model-and-tools loop. `Err(wait)` inside: no provider can answer now.
    async fn converse(
        &self,
        env: &TaskEnvelope,
        text: &str,
        payment: Option<&schemas::action::Payment>,
        begun: Begun,
    ) -> Result<Result<Outcome, Duration>, SharedError> {
        let Begun {
            session,
            stored,
            journal,
            ..
        } = begun;
        let mut workspace = Workspace::new(stored);
        let system = prompt::system(&self.settings.merchant, workspace.checkout());
        let cx = ToolContext {
            searches: &self.searches,
            settings: &self.settings,
            envelope: env,
            payment,
            now: Utc::now(),
        };
        let history = &session.history[session.history.len().saturating_sub(self.limits.history_turns)..];
        let mut replies: Vec<ModelReply> = Vec::new();
        let mut results: Vec<Vec<ToolResult>> = Vec::new();
        let mut usage = Usage::default();
        for step in 0..self.limits.max_steps {
            let reply = match journal.get(step) {
                Some(reply) => reply.clone(),
                None => {
                    let entries = entries(history, text, &replies, &results);
                    let request = ModelRequest {
                        system: &system,
                        entries: &entries,
                        tools: &self.tools,
                    };
                    match self.router.complete(&request, step).await {
                        Ok(reply) => {
                            let entry = JournalEntry {
                                task_id: env.task_id,
                                step: step as i32,
                                reply,
                            };
                            let held = self
                                .journal
                                .submit(entry)
                                .await
                                .unwrap_or_else(|| Err(Arc::new(store::Error::Database(sqlx::Error::PoolClosed))));
                            let held = held?;
                            self.faults.reach(FaultPoint::AfterModelReply, env).await;
                            held
                        }
                        Err(Failure::Unavailable { retry_in, detail }) => {
                            tracing::warn!(%detail, retry_in_ms = retry_in.as_millis() as u64, "no model provider available; the turn waits");
                            return Ok(Err(retry_in));
                        }
                        Err(Failure::Rejected(detail)) => {
                            tracing::warn!(%detail, "the model provider rejected the turn");
                            let text = format!("The assistant could not answer this message: {detail}");
                            return Ok(Ok(Outcome::failed(text, usage)));
                        }
                    }
                }
            };
            usage += reply.usage;
            if reply.calls.is_empty() {
                let (effects, data) = workspace.finish();
                let answer = if reply.text.trim().is_empty() { "Done.".to_owned() } else { reply.text.clone() };
                return Ok(Ok(Outcome {
                    state: TaskState::Completed,
                    exchange: Some(Exchange {
                        user: text.to_owned(),
                        agent: answer.clone(),
                    }),
                    text: answer,
                    data,
                    effects,
                    usage,
                }));
            }
            let step_results = workspace.run(&cx, step, &reply.calls).await?;
            replies.push(reply);
            results.push(step_results);
        }
        let text = format!(
            "The assistant needed more than {} model calls for this message and stopped; nothing was changed.",
            self.limits.max_steps
        );
        Ok(Ok(Outcome::failed(text, usage)))
    }
}

/// The conversation shown to the model at a step: the session's history, the user's text, and
/// this turn's replies and tool results so far.
fn entries<'a>(history: &'a [Exchange], text: &'a str, replies: &'a [ModelReply], results: &'a [Vec<ToolResult>]) -> Vec<Entry<'a>> {
    let mut entries = Vec::with_capacity(history.len() * 2 + 1 + replies.len() * 2);
    for exchange in history {
        entries.push(Entry::User(&exchange.user));
        entries.push(Entry::Agent(&exchange.agent));
    }
    entries.push(Entry::User(text));
    for (reply, results) in replies.iter().zip(results) {
        entries.push(Entry::Model(reply));
        entries.push(Entry::Tools(results));
    }
    entries
}
