//! A FIFO per conversation inside the worker. Messages of one conversation run one at a time,
//! in the order they arrived; a message that arrived before its predecessor was applied is
//! parked until it can be. Different conversations run concurrently, without limit here (the
//! partition consumers' `max_ack_pending` and the turn batcher's transactions bound the real
//! work).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::Message;
use schemas::action::Turn;
use schemas::dead_letter::Reason;
use schemas::TaskEnvelope;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::ack::{acknowledge, retry_delay, Outcome};
use super::dead_letter::{DeadLetters, Origin, Recorded};
use super::keepalive::Keepalive;
use super::turns::TurnBatcher;
use crate::agent::{Agent, Decision};
use crate::turn::{Applied, Work};

/// The first wait before a parked job is retried when nothing else happens.
pub const RECHECK_FIRST: Duration = Duration::from_millis(20);
/// The longest wait between retries of parked jobs.
pub const RECHECK_MAX: Duration = Duration::from_secs(1);

/// A delivered task waiting for its turn.
pub struct Job {
    pub envelope: Arc<TaskEnvelope>,
    pub message: Message,
    pub keepalive: Keepalive,
    /// This message's place under `MAX_HELD_MESSAGES`, given back when the job is dropped.
    pub held: tokio::sync::OwnedSemaphorePermit,
}

/// What running a turn needs.
pub struct Handler {
    pub turns: TurnBatcher,
    pub dead_letters: DeadLetters,
    /// The partition consumers' `max_deliver`: the delivery on which a failing turn is
    /// dead-lettered.
    pub max_deliver: i64,
    /// `STUCK_TASK_AFTER`: how often a turn still running checks whether its task was settled
    /// elsewhere (the stuck-task sweeper failed it), to let it go.
    pub stuck_after: Duration,
    /// `FETCH_PREDECESSOR_AFTER`: how long parked jobs wait for the task before them before
    /// this worker runs it from the database (see [`Handler::run_predecessor`]).
    pub fetch_predecessor_after: Duration,
    /// The partition count, to name a fetched task's subject in a dead letter.
    pub partitions: u32,
    /// Turns true when the worker shuts down: waiting and parked jobs are released at once.
    pub stopping: watch::Receiver<bool>,
    /// The agent that runs chat turns; `None` when offline.
    pub agent: Option<Agent>,
    /// Benchmark-only wait before each turn (see `SIMULATED_TURN_MS`).
    pub simulated_turn: Option<std::time::Duration>,
}

/// The per-conversation queues of one worker process.
pub struct Conversations {
    queues: Mutex<HashMap<String, mpsc::UnboundedSender<Job>>>,
    handler: Arc<Handler>,
    /// Each conversation runner holds a clone; [`Conversations::drained`] waits until none is left.
    running: Mutex<Option<mpsc::Sender<()>>>,
    all_done: tokio::sync::Mutex<mpsc::Receiver<()>>,
}

impl Conversations {
    pub fn new(handler: Handler) -> Arc<Conversations> {
        let (running, all_done) = mpsc::channel(1);
        Arc::new(Conversations {
            queues: Mutex::new(HashMap::new()),
            handler: Arc::new(handler),
            running: Mutex::new(Some(running)),
            all_done: tokio::sync::Mutex::new(all_done),
        })
    }

    fn queues(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<Job>>> {
        self.queues.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a job behind the earlier jobs of its conversation, starting the conversation's
    /// runner if it has none.
    pub fn dispatch(self: &Arc<Self>, job: Job) {
        let key = format!("{}\u{0}{}", job.envelope.principal, job.envelope.context_id);
        let mut queues = self.queues();
        let job = match queues.get(&key) {
            Some(queue) => match queue.send(job) {
                Ok(()) => return,
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(running) = running else {
            // Shutting down: leave the message unacked; JetStream redelivers it.
            return;
        };
        let (queue, jobs) = mpsc::unbounded_channel();
        let _ = queue.send(job);
        queues.insert(key.clone(), queue);
        drop(queues);
        tokio::spawn(self.clone().run_conversation(key, jobs, running));
    }

    /// Runs one conversation's jobs in arrival order. A job whose predecessor has not been
    /// applied yet (it is still on its way, or another worker holds it) is parked here, still
    /// kept alive, and retried lowest sequence first: right after this runner applies anything,
    /// and otherwise on a timer that backs off from [`RECHECK_FIRST`] to [`RECHECK_MAX`]. Parking
    /// instead of nak'ing keeps a conversation's backlog from being redelivered out of order
    /// again and again after a worker dies.
    async fn run_conversation(
        self: Arc<Self>,
        key: String,
        mut jobs: mpsc::UnboundedReceiver<Job>,
        _running: mpsc::Sender<()>,
    ) {
        let mut parked: BTreeMap<i64, Job> = BTreeMap::new();
        let mut recheck = RECHECK_FIRST;
        // Since when parked jobs have waited with no progress of the conversation.
        let mut waiting_since: Option<Instant> = None;
        let mut stopping = self.handler.stopping.clone();
        loop {
            if *stopping.borrow() {
                self.release(&key, jobs, parked).await;
                return;
            }
            let job = match jobs.try_recv() {
                Ok(job) => Some(job),
                Err(_) if parked.is_empty() => {
                    // Check emptiness under the map lock: senders hold it while sending.
                    let mut queues = self.queues();
                    match jobs.try_recv() {
                        Ok(job) => Some(job),
                        Err(_) => {
                            queues.remove(&key);
                            return;
                        }
                    }
                }
                Err(_) => tokio::select! {
                    job = jobs.recv() => job,
                    _ = tokio::time::sleep(recheck) => None,
                    _ = stopping.changed() => continue,
                },
            };
            let mut progressed = match job {
                Some(job) => {
                    self.handler.simulate_latency().await;
                    self.handler.attempt(job, &mut parked).await
                }
                None => {
                    recheck = (recheck * 2).min(RECHECK_MAX);
                    self.handler.retry_parked(&mut parked).await
                }
            };
            let waited_long = waiting_since.is_some_and(|since| since.elapsed() >= self.handler.fetch_predecessor_after);
            if !progressed && waited_long {
                waiting_since = Some(Instant::now());
                progressed = self.handler.run_predecessor(&parked).await;
            }
            if progressed {
                recheck = RECHECK_FIRST;
                waiting_since = None;
                self.handler.retry_parked(&mut parked).await;
            }
            if parked.is_empty() {
                waiting_since = None;
            } else if waiting_since.is_none() {
                waiting_since = Some(Instant::now());
            }
        }
    }

    /// At shutdown: gives every job this runner holds back to JetStream for immediate
    /// redelivery (to another worker), instead of letting it wait out `ack_wait`.
    async fn release(&self, key: &str, mut jobs: mpsc::UnboundedReceiver<Job>, parked: BTreeMap<i64, Job>) {
        self.queues().remove(key);
        jobs.close();
        let mut held: Vec<Job> = parked.into_values().collect();
        while let Ok(job) = jobs.try_recv() {
            held.push(job);
        }
        for job in held {
            acknowledge(&job.message, Outcome::Retry(Duration::ZERO)).await;
        }
    }

    /// Stops starting new conversation runners and waits until the running ones finish.
    pub async fn drained(&self) {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).take();
        let _ = self.all_done.lock().await.recv().await;
    }
}

impl Handler {
    /// Benchmark-only: waits as long as an LLM call would (see `SIMULATED_TURN_MS`).
    async fn simulate_latency(&self) {
        if let Some(latency) = self.simulated_turn {
            tokio::time::sleep(latency).await;
        }
    }

    /// Runs one job's turn. Acknowledges its message, dead-letters it, or parks it if its
    /// predecessor has not been applied yet. While the turn must wait (the database is
    /// unreachable, no provider can answer) the job stays here, kept alive, and is tried again:
    /// a wait uses up no delivery. Returns true if the conversation's fence moved (or its hold).
    async fn attempt(&self, job: Job, parked: &mut BTreeMap<i64, Job>) -> bool {
        let span = turn_span(&job.envelope);
        // A child of the publish that queued the task (so of the request that accepted it).
        if let Some(request_id) = queue::continue_trace(&span, job.message.headers.as_ref()) {
            span.record("request_id", request_id.as_str());
        }
        let delivered = job.message.info().map(|info| info.delivered).unwrap_or(1);
        let mut waits = 0;
        let mut stopping = self.stopping.clone();
        loop {
            let step = tracing::Instrument::instrument(self.step(&job.envelope, delivered), span.clone());
            let Some(step) = self.unless_settled(&job, step).await else {
                let _entered = span.enter();
                tracing::warn!("the task was settled while its turn ran (failed as stuck); the turn is let go");
                metrics::counter!("cartwright_stuck_tasks_total", "action" => "abandoned").increment(1);
                acknowledge(&job.message, Outcome::Ack).await;
                return true;
            };
            match step {
                Step::Park => {
                    match parked.entry(job.envelope.seq) {
                        std::collections::btree_map::Entry::Vacant(slot) => {
                            slot.insert(job);
                        }
                        std::collections::btree_map::Entry::Occupied(_) => {
                            // A republished copy of a task already parked here: the parked copy
                            // (kept alive) will run it, so this one is done.
                            tracing::debug!("second copy of a parked task; acknowledged");
                            acknowledge(&job.message, Outcome::Ack).await;
                        }
                    }
                    return false;
                }
                Step::Committed | Step::Duplicate => {
                    acknowledge(&job.message, Outcome::Ack).await;
                    return true;
                }
                Step::Held => {
                    acknowledge(&job.message, Outcome::Ack).await;
                    return false;
                }
                Step::Retry(delay) => {
                    acknowledge(&job.message, Outcome::Retry(delay)).await;
                    return false;
                }
                Step::Wait(delay) => {
                    waits += 1;
                    let delay = delay.unwrap_or_else(|| retry_delay(waits));
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = stopping.changed() => {
                            acknowledge(&job.message, Outcome::Retry(Duration::ZERO)).await;
                            return false;
                        }
                    }
                }
                Step::DeadLetter(reason, error) => {
                    let _entered = span.enter();
                    return self.dead_letter(&job, reason, &error).await;
                }
            }
        }
    }

    /// Runs `step` to its end, unless its task is settled elsewhere meanwhile (`None`): checked
    /// every `stuck_after`, so a turn that finishes sooner costs one timer and no query.
    async fn unless_settled(&self, job: &Job, step: impl Future<Output = Step>) -> Option<Step> {
        let mut step = std::pin::pin!(step);
        loop {
            match tokio::time::timeout(self.stuck_after, &mut step).await {
                Ok(step) => return Some(step),
                Err(_) => match store::stuck::is_settled(&self.dead_letters.pool, job.envelope.task_id).await {
                    Ok(true) => return None,
                    Ok(false) => {}
                    Err(error) => tracing::warn!(%error, "could not read the task of a long turn"),
                },
            }
        }
    }

    /// Dead-letters a job's message, then acknowledges it; if the dead letter could not be
    /// stored, the message is delivered again later.
    async fn dead_letter(&self, job: &Job, reason: Reason, error: &str) -> bool {
        let origin = Origin::of(&job.message);
        let delivered = origin.attempts as i64;
        match self.dead_letters.record(origin, Some(&job.envelope), reason, Some(error)).await {
            Ok(Recorded::DeadLetter(_) | Recorded::AlreadyApplied) => {
                acknowledge(&job.message, Outcome::Ack).await;
                true
            }
            Err(error) => {
                tracing::warn!(%error, "could not dead-letter the message; it will be delivered again");
                acknowledge(&job.message, Outcome::Retry(retry_delay(delivered))).await;
                false
            }
        }
    }

    /// Runs, from the database, the task the parked jobs wait for, if it is still open and
    /// untouched after [`Handler::fetch_predecessor_after`]. Its message was lost, and the
    /// reconciler's copy may never arrive: the parked jobs behind it are unacknowledged and
    /// count against their partition consumer's `max_ack_pending`; once they fill it, the
    /// server delivers nothing more on that partition, that copy included (the chaos suite
    /// found conversations stuck this way). This worker holds what waits, so it runs the task
    /// itself; a copy that arrives later is a duplicate the fence skips. Returns true if the
    /// conversation moved (applied, or held behind the task, dead-lettered).
    async fn run_predecessor(&self, parked: &BTreeMap<i64, Job>) -> bool {
        let Some(first) = parked.values().next() else {
            return false;
        };
        let waiting = &first.envelope;
        let untouched_since = chrono::Utc::now() - self.fetch_predecessor_after;
        let pool = &self.dead_letters.pool;
        let row = match store::reconcile::next_waited_for(pool, &waiting.principal, &waiting.context_id, waiting.seq, untouched_since).await {
            Ok(Some(row)) => row,
            Ok(None) => return false,
            Err(error) => {
                tracing::warn!(%error, context_id = %waiting.context_id, "could not read the task parked messages wait for");
                return false;
            }
        };
        let envelope = match row.envelope() {
            Ok(envelope) => Arc::new(envelope),
            Err(error) => {
                tracing::error!(task_id = %row.id, %error, "the task parked messages wait for cannot be run");
                return false;
            }
        };
        crate::metrics::predecessor_fetched();
        let span = turn_span(&envelope);
        span.in_scope(|| {
            tracing::warn!(
                waited_s = self.fetch_predecessor_after.as_secs(),
                "the conversation's next message did not arrive; running its task from the database"
            )
        });
        let step = tracing::Instrument::instrument(self.step(&envelope, 1), span.clone()).await;
        match step {
            Step::Committed | Step::Duplicate => true,
            Step::DeadLetter(reason, error) => {
                let _entered = span.enter();
                let partition = schemas::partition_of(&envelope.principal, &envelope.context_id, self.partitions);
                let subject = schemas::queue::task_subject(partition);
                let payload = serde_json::to_vec(&*envelope).unwrap_or_default();
                let origin = Origin {
                    subject: &subject,
                    stream: "",
                    stream_sequence: 0,
                    attempts: 1,
                    payload: &payload,
                };
                match self.dead_letters.record(origin, Some(&envelope), reason, Some(&error)).await {
                    Ok(_) => true,
                    Err(error) => {
                        tracing::warn!(%error, "could not dead-letter the fetched task; it is tried again later");
                        false
                    }
                }
            }
            // Not now (a failure, a wait, a hold): tried again after another period.
            Step::Park | Step::Held | Step::Retry(_) | Step::Wait(_) => false,
        }
    }

    /// Retries parked jobs, lowest sequence first, while they apply. Returns true if any did.
    async fn retry_parked(&self, parked: &mut BTreeMap<i64, Job>) -> bool {
        let mut progressed = false;
        while let Some((_, job)) = parked.pop_first() {
            let seq = job.envelope.seq;
            if self.attempt(job, parked).await {
                progressed = true;
            } else if parked.contains_key(&seq) {
                return progressed;
            }
        }
        progressed
    }

    /// One attempt at a task's turn (on its `delivered`th delivery), counted in the turn metrics
    /// by what became of it.
    async fn step(&self, envelope: &Arc<TaskEnvelope>, delivered: i64) -> Step {
        let started = std::time::Instant::now();
        let step = self.decide_step(envelope, delivered).await;
        let outcome = match &step {
            Step::Committed => "committed",
            Step::Duplicate => "duplicate",
            Step::Held => "held",
            Step::Retry(_) => "retried",
            Step::Park => "parked",
            Step::Wait(_) => "waiting",
            Step::DeadLetter(..) => "dead_lettered",
        };
        crate::metrics::turn(outcome, started.elapsed());
        step
    }

    async fn decide_step(&self, envelope: &Arc<TaskEnvelope>, delivered: i64) -> Step {
        let applied = match (&self.agent, &envelope.turn) {
            (Some(agent), Turn::Chat { .. }) => match agent.decide(envelope).await {
                Ok(Decision::Skip(applied)) => Ok(applied),
                Ok(Decision::Apply(work)) => self.turns.apply(envelope.clone(), work).await,
                Ok(Decision::Wait(delay)) => return Step::Wait(Some(delay)),
                Err(error) => Err(error),
            },
            _ => self.turns.apply(envelope.clone(), Work::Run).await,
        };
        match applied {
            Ok(Applied::Committed) => {
                tracing::info!("turn committed");
                Step::Committed
            }
            Ok(Applied::AlreadyApplied) => {
                tracing::info!("duplicate delivery skipped");
                Step::Duplicate
            }
            Ok(Applied::NotYet) => {
                tracing::debug!("an earlier task of the conversation is pending; parked");
                Step::Park
            }
            Ok(Applied::Held) => {
                tracing::info!("an earlier task of the conversation is dead-lettered; this one waits in the database");
                Step::Held
            }
            Ok(Applied::UnknownConversation) => Step::DeadLetter(
                Reason::NonRetryable,
                "the task names a conversation this database does not have".to_owned(),
            ),
            Err(error) if error.is_unavailable() => {
                tracing::warn!(%error, "the database is unreachable; the turn waits here");
                Step::Wait(None)
            }
            Err(error) if error.is_permanent() => Step::DeadLetter(Reason::NonRetryable, error.to_string()),
            Err(error) => {
                let text = error.to_string();
                if let Err(error) = store::dead_letters::record_failure(&self.dead_letters.pool, envelope.task_id, &text).await {
                    tracing::warn!(%error, "could not record the failed attempt");
                }
                if delivered >= self.max_deliver {
                    return Step::DeadLetter(Reason::MaxDeliveries, text);
                }
                tracing::warn!(error = %text, delivered, "turn failed; retrying later");
                Step::Retry(retry_delay(delivered))
            }
        }
    }
}

/// The span of one task's turn.
fn turn_span(envelope: &TaskEnvelope) -> tracing::Span {
    tracing::info_span!(
        "turn",
        task_id = %envelope.task_id,
        context_id = %envelope.context_id,
        seq = envelope.seq,
        request_id = tracing::field::Empty,
        "otel.kind" = "consumer",
    )
}

/// What became of one attempt at a job.
enum Step {
    /// Committed now: acknowledge; the conversation's fence moved.
    Committed,
    /// Applied before (a redelivery or a second copy): acknowledge.
    Duplicate,
    /// Behind a dead-lettered task: acknowledge; the task waits in the database.
    Held,
    /// Failed: deliver it again after this long.
    Retry(Duration),
    /// Keep the job here until its predecessor is applied.
    Park,
    /// Keep the job and try it again after this long (`None`: back off from the first retry
    /// delay).
    Wait(Option<Duration>),
    /// It cannot succeed: dead-letter it.
    DeadLetter(Reason, String),
}
