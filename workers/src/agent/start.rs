//! Starting agent turns, many at once: where each stands (fence, task state), the due ones
//! moved to `working`, and what they start from (session, checkout, journal, the principal's
//! tokens today), in a handful of statements per batch. The connection is returned before any
//! model is called.

use std::collections::HashMap;
use std::sync::Arc;

use schemas::agent::ModelReply;
use schemas::{TaskEnvelope, TaskState};
use sqlx::PgPool;
use store::batch::Batcher;
use store::contexts::Key;
use store::sessions::Session;
use store::tasks::{Standing, Start};
use store::SharedError;

use crate::commerce::actions::Stored;

/// Most turns started in one batch.
const MAX_BATCH: usize = 256;
/// Start batches in flight at once.
const IN_FLIGHT: usize = 2;

/// What a turn starts from.
#[derive(Default)]
pub struct Begun {
    /// `None`: the task or its conversation does not exist.
    pub standing: Option<Standing>,
    pub session: Session,
    pub stored: Stored,
    /// Replies an earlier delivery journaled, in step order.
    pub journal: Vec<ModelReply>,
    /// Tokens the principal used today (read only when a daily budget is set).
    pub spent_today: i64,
}

impl Begun {
    /// True if the turn is next in its conversation and its task still wants running.
    pub fn is_due(&self, seq: i64) -> bool {
        self.standing.is_some_and(|s| {
            s.applied_seq == seq - 1 && matches!(s.state, TaskState::Submitted | TaskState::Working)
        })
    }
}

/// The handle agent turns start through.
#[derive(Clone)]
pub struct Starter {
    batcher: Batcher<Arc<TaskEnvelope>, Result<Begun, SharedError>>,
}

impl Starter {
    pub fn start(pool: PgPool, read_budget: bool) -> Starter {
        let batcher = Batcher::start(MAX_BATCH, IN_FLIGHT, store::batch::QUEUE_DEFAULT, move |batch| {
            let pool = pool.clone();
            async move {
                let size = batch.len();
                match begin(&pool, batch, read_budget).await {
                    Ok(begun) => begun.into_iter().map(Ok).collect(),
                    Err(error) => store::fail_each(size, error),
                }
            }
        });
        Starter { batcher }
    }

    pub async fn begin(&self, envelope: Arc<TaskEnvelope>) -> Result<Begun, SharedError> {
        self.batcher
            .submit(envelope)
            .await
            .unwrap_or_else(|| Err(Arc::new(store::Error::Database(sqlx::Error::PoolClosed))))
    }
}

async fn begin(pool: &PgPool, batch: Vec<Arc<TaskEnvelope>>, read_budget: bool) -> store::Result<Vec<Begun>> {
    let starts: Vec<Start<'_>> = batch
        .iter()
        .map(|env| Start {
            id: env.task_id,
            principal: &env.principal,
            context_id: &env.context_id,
        })
        .collect();
    let standings = store::tasks::start_turns(pool, &starts).await?;
    let mut begun: Vec<Begun> = standings
        .into_iter()
        .map(|standing| Begun {
            standing,
            ..Begun::default()
        })
        .collect();
    let due: Vec<usize> = (0..batch.len()).filter(|&i| begun[i].is_due(batch[i].seq)).collect();
    if due.is_empty() {
        return Ok(begun);
    }
    let keys: Vec<Key> = due
        .iter()
        .map(|&i| (batch[i].principal.clone(), batch[i].context_id.clone()))
        .collect();
    // Only a task an earlier delivery started can have journaled replies.
    let ids: Vec<uuid::Uuid> = due
        .iter()
        .filter(|&&i| begun[i].standing.is_some_and(|s| s.state == TaskState::Working))
        .map(|&i| batch[i].task_id)
        .collect();
    let mut conn = pool.acquire().await?;
    let mut sessions = store::sessions::load(&mut conn, &keys).await?;
    let mut open = store::checkouts::open(&mut conn, &keys).await?;
    let closed: Vec<Key> = keys.iter().filter(|k| !open.contains_key(*k)).cloned().collect();
    let mut latest = store::checkouts::latest(&mut conn, &closed).await?;
    let mut journals = store::journal::read(&mut conn, &ids).await?;
    let spent: HashMap<String, i64> = if read_budget {
        let principals: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
        store::usage::today(&mut *conn, &principals).await?
    } else {
        HashMap::new()
    };
    for (&i, key) in due.iter().zip(&keys) {
        let turn = &mut begun[i];
        turn.session = sessions.remove(key).unwrap_or_default();
        turn.stored = Stored {
            open: open.remove(key),
            latest: latest.remove(key),
        };
        turn.journal = journals.remove(&batch[i].task_id).unwrap_or_default();
        turn.spent_today = spent.get(&key.0).copied().unwrap_or(0);
    }
    Ok(begun)
}
