//! Tasks as request handlers record and read them. Concurrent requests share statements: the
//! accepts that arrive while earlier ones run are recorded together, and so are the reads
//! (`store::batch`), so a busy ingress pays one round trip and one commit for many requests.

use sqlx::PgPool;
use store::batch::Batcher;
use store::tasks::{AcceptResult, Accepted, NewTask, TaskRow};
use uuid::Uuid;

use crate::error::Error;

type ReadResult = Result<Option<TaskRow>, store::SharedError>;

/// The batched accept and read paths of one ingress process.
#[derive(Clone)]
pub struct TaskStore {
    accepts: Batcher<NewTask, AcceptResult>,
    reads: Batcher<(String, Uuid), ReadResult>,
}

impl TaskStore {
    /// At most `max_batch` tasks per statement, at most `in_flight` statements of each kind
    /// (accepts, reads) at once, at most `queue` requests of each kind waiting (more are
    /// refused as overload).
    pub fn start(db: &PgPool, max_batch: usize, in_flight: usize, queue: usize) -> TaskStore {
        let pool = db.clone();
        let accepts = Batcher::start(max_batch, in_flight, queue, move |tasks| {
            let pool = pool.clone();
            async move { store::tasks::accept(&pool, tasks).await }
        });
        let pool = db.clone();
        let reads = Batcher::start(max_batch, in_flight, queue, move |keys: Vec<(String, Uuid)>| {
            let pool = pool.clone();
            async move {
                match store::tasks::get_many(&pool, &keys).await {
                    Ok(rows) => rows.into_iter().map(Ok).collect(),
                    Err(error) => store::fail_each(keys.len(), error),
                }
            }
        });
        TaskStore { accepts, reads }
    }

    /// Records a task (see `store::tasks::accept`).
    pub async fn accept(&self, task: NewTask) -> Result<Accepted, Error> {
        let started = std::time::Instant::now();
        let accept = self.accepts.try_submit(task).map_err(|_| Error::Overloaded("task store queue"))?;
        let accepted = accept.await.ok_or(Error::Unavailable("database"))??;
        crate::metrics::record(started.elapsed());
        Ok(accepted)
    }

    /// The principal's task `id`, if it exists and belongs to them.
    pub async fn get(&self, principal: &str, id: Uuid) -> Result<Option<TaskRow>, Error> {
        let read = self
            .reads
            .try_submit((principal.to_owned(), id))
            .map_err(|_| Error::Overloaded("task store queue"))?;
        Ok(read.await.ok_or(Error::Unavailable("database"))??)
    }
}
