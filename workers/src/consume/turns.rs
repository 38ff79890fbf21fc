//! Ready turns of many conversations, applied in shared transactions (see `turn`).
//!
//! Conversation runners submit their next turn and await its outcome; a [`store::batch`]
//! batcher groups the turns that become ready while earlier transactions run. A batch holds at
//! most one turn per conversation, since each conversation runner has at most one turn in
//! flight. If a batch fails for a reason other than an unreachable database, its turns are
//! retried one by one, so one bad turn cannot fail the others. A turn whose code panics fails
//! with a permanent error (and is dead-lettered) instead of taking its batch's task down.

use std::sync::Arc;

use schemas::TaskEnvelope;
use sqlx::PgPool;
use store::batch::Batcher;

use crate::commerce::actions::Settings;
use crate::fault::Faults;
use crate::turn::{self, Applied, Work};

/// A batch's failure, shared by every turn in it.
pub type TurnError = store::SharedError;

/// What applying turns needs.
pub struct Turns {
    pub pool: PgPool,
    pub settings: Settings,
    pub faults: Faults,
}

type Item = (Arc<TaskEnvelope>, Work);

/// The handle conversation runners submit turns through.
#[derive(Clone)]
pub struct TurnBatcher {
    batcher: Batcher<Item, Result<Applied, TurnError>>,
}

impl TurnBatcher {
    /// At most `max_batch` turns per transaction, at most `in_flight` transactions at once.
    pub fn start(turns: Turns, max_batch: usize, in_flight: usize) -> TurnBatcher {
        let turns = Arc::new(turns);
        let batcher = Batcher::start(max_batch, in_flight, store::batch::QUEUE_DEFAULT, move |batch| execute(turns.clone(), batch));
        TurnBatcher { batcher }
    }

    /// Applies one turn (in whatever batch it lands in) and returns what happened to it.
    pub async fn apply(&self, envelope: Arc<TaskEnvelope>, work: Work) -> Result<Applied, TurnError> {
        self.batcher
            .submit((envelope, work))
            .await
            .unwrap_or_else(|| Err(Arc::new(store::Error::Database(sqlx::Error::PoolClosed))))
    }
}

async fn execute(turns: Arc<Turns>, batch: Vec<Item>) -> Vec<Result<Applied, TurnError>> {
    match apply(&turns, &batch).await {
        Ok(applied) => applied.into_iter().map(Ok).collect(),
        Err(error) if batch.len() == 1 || error.is_unavailable() => store::fail_each(batch.len(), error),
        Err(error) => {
            tracing::warn!(%error, size = batch.len(), "a batch of turns failed; applying them one by one");
            let mut outcomes = Vec::with_capacity(batch.len());
            for item in &batch {
                let outcome = apply(&turns, std::slice::from_ref(item))
                    .await
                    .map(|applied| applied.first().copied().unwrap_or(Applied::NotYet))
                    .map_err(Arc::new);
                outcomes.push(outcome);
            }
            outcomes
        }
    }
}

async fn apply(turns: &Turns, batch: &[Item]) -> store::Result<Vec<Applied>> {
    use futures::FutureExt as _;
    let jobs: Vec<(&TaskEnvelope, &Work)> = batch.iter().map(|(envelope, work)| (&**envelope, work)).collect();
    let applied = std::panic::AssertUnwindSafe(turn::apply(&turns.pool, &jobs, &turns.settings, &turns.faults));
    match applied.catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            tracing::error!(panic = %what, size = batch.len(), "a batch of turns panicked");
            Err(store::Error::TurnPanicked(what))
        }
    }
}
