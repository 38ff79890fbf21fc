//! A FIFO per conversation inside the worker. Messages of one conversation run one at a time,
//! in the order they arrived; different conversations run concurrently, without limit here
//! (the partition consumers' `max_ack_pending` and the database pool bound the real work).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_nats::jetstream::Message;
use schemas::TaskEnvelope;
use sqlx::PgPool;
use tokio::sync::mpsc;

use super::ack::{acknowledge, retry_delay, Outcome};
use super::keepalive::Keepalive;
use crate::commerce::actions::Settings;
use crate::fault::Faults;
use crate::turn::{self, Applied};

/// A delivered task waiting for its turn.
pub struct Job {
    pub envelope: TaskEnvelope,
    pub message: Message,
    pub keepalive: Keepalive,
}

/// What running a turn needs.
pub struct Handler {
    pub pool: PgPool,
    pub settings: Settings,
    pub faults: Faults,
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

    async fn run_conversation(self: Arc<Self>, key: String, mut jobs: mpsc::UnboundedReceiver<Job>, _running: mpsc::Sender<()>) {
        loop {
            let job = match jobs.try_recv() {
                Ok(job) => job,
                Err(_) => {
                    // Check emptiness under the map lock: senders hold it while sending.
                    let mut queues = self.queues();
                    match jobs.try_recv() {
                        Ok(job) => job,
                        Err(_) => {
                            queues.remove(&key);
                            return;
                        }
                    }
                }
            };
            self.handler.handle(job).await;
        }
    }

    /// Stops starting new conversation runners and waits until the running ones finish.
    pub async fn drained(&self) {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).take();
        let _ = self.all_done.lock().await.recv().await;
    }
}

impl Handler {
    /// Runs one job's turn and acknowledges its message.
    async fn handle(&self, job: Job) {
        let Job { envelope, message, keepalive } = job;
        let span = tracing::info_span!("turn", task_id = %envelope.task_id, context_id = %envelope.context_id, seq = envelope.seq);
        let outcome = tracing::Instrument::instrument(self.outcome(&envelope, &message), span).await;
        acknowledge(&message, outcome).await;
        drop(keepalive);
    }

    async fn outcome(&self, envelope: &TaskEnvelope, message: &Message) -> Outcome {
        let delivered = message.info().map(|info| info.delivered).unwrap_or(1);
        if let Some(latency) = self.simulated_turn {
            tokio::time::sleep(latency).await;
        }
        match turn::apply(&self.pool, envelope, &self.settings, &self.faults).await {
            Ok(Applied::Committed) => {
                tracing::info!("turn committed");
                Outcome::Ack
            }
            Ok(Applied::AlreadyApplied) => {
                tracing::info!("duplicate delivery skipped");
                Outcome::Ack
            }
            Ok(Applied::NotYet) => {
                tracing::debug!(delivered, "an earlier task of the conversation is pending; retrying later");
                Outcome::Retry(retry_delay(delivered))
            }
            Ok(Applied::UnknownConversation) => {
                tracing::error!("task names a conversation this database does not have; discarding");
                Outcome::Discard
            }
            Err(error) if error.is_unavailable() || matches!(error, store::Error::CheckoutVersionConflict(_)) => {
                tracing::warn!(%error, delivered, "turn could not commit; retrying later");
                Outcome::Retry(retry_delay(delivered))
            }
            Err(error) => {
                tracing::error!(%error, "turn failed; recording the task as failed");
                match turn::fail(&self.pool, envelope, &self.faults).await {
                    Ok(_) => Outcome::Ack,
                    Err(error) => {
                        tracing::warn!(%error, "could not record the failure; retrying later");
                        Outcome::Retry(retry_delay(delivered))
                    }
                }
            }
        }
    }
}
