//! Task-change notifications. A transaction that changes tasks notifies (see [`task_changed`]
//! and `tasks::complete_turns`); PostgreSQL delivers the notification only when that
//! transaction commits. The ingress runs one [`TaskWatcher`]
//! that listens and wakes the requests waiting on that task, so a blocking `message/send`
//! awaits an event instead of polling.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgConnection;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::Result;

/// The LISTEN/NOTIFY channel; the payload is a comma-separated list of task ids.
pub const CHANNEL: &str = "cartwright_task_changed";

/// The most task ids one notification carries: payloads must stay under 8,000 bytes.
const IDS_PER_NOTIFICATION: usize = 200;

/// The payloads announcing that `ids` changed, as few as the payload limit allows.
pub(crate) fn payloads(ids: &[Uuid]) -> Vec<String> {
    ids.chunks(IDS_PER_NOTIFICATION)
        .map(|chunk| chunk.iter().map(Uuid::to_string).collect::<Vec<_>>().join(","))
        .collect()
}

/// How long the watcher waits before listening again after its connection failed.
const RELISTEN_DELAY: Duration = Duration::from_millis(500);

/// Announces, on commit of the caller's transaction, that task `id` changed.
pub async fn task_changed(conn: &mut PgConnection, id: Uuid) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(id.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Announces, on commit of the caller's transaction, that tasks `ids` changed.
pub async fn tasks_changed(conn: &mut PgConnection, ids: &[Uuid]) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
        .bind(CHANNEL)
        .bind(payloads(ids))
        .execute(conn)
        .await?;
    Ok(())
}

async fn listen(database_url: &str) -> Result<PgListener> {
    let mut listener = PgListener::connect(database_url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

type Waiters = Mutex<HashMap<Uuid, Arc<Notify>>>;

/// Wakes requests waiting on a task when a notification for it arrives.
#[derive(Default)]
pub struct TaskWatcher {
    waiters: Waiters,
}

impl TaskWatcher {
    /// Starts listening on the server at `database_url` (a connection of its own, outside the
    /// request pool) and returns the watcher. The listener task runs until the watcher is
    /// dropped. When its connection fails it wakes every waiter, connects again with a fresh
    /// listener, and wakes every waiter once more: a waiter re-reads its task on every wake, so a
    /// notification sent while nobody listened cannot strand it.
    pub async fn start(database_url: &str) -> Result<Arc<TaskWatcher>> {
        let mut listener = listen(database_url).await?;
        let watcher = Arc::new(TaskWatcher::default());
        let weak = Arc::downgrade(&watcher);
        let database_url = database_url.to_owned();
        tokio::spawn(async move {
            loop {
                let received = listener.try_recv().await;
                let Some(watcher) = weak.upgrade() else { return };
                match received {
                    Ok(Some(notification)) => {
                        for id in notification.payload().split(',') {
                            if let Ok(id) = id.parse::<Uuid>() {
                                watcher.wake(id);
                            }
                        }
                        continue;
                    }
                    Ok(None) => tracing::warn!("task notification listener lost its connection"),
                    Err(error) => tracing::warn!(%error, "task notification listener failed"),
                }
                watcher.wake_all();
                drop(watcher);
                loop {
                    tokio::time::sleep(RELISTEN_DELAY).await;
                    match listen(&database_url).await {
                        Ok(fresh) => {
                            listener = fresh;
                            break;
                        }
                        Err(error) => tracing::warn!(%error, "task notification listener cannot connect yet"),
                    }
                }
                let Some(watcher) = weak.upgrade() else { return };
                tracing::info!("task notification listener connected again");
                watcher.wake_all();
            }
        });
        Ok(watcher)
    }

    /// Registers interest in task `id`. Create the subscription before reading the task's
    /// state, then await [`Subscription::changed`]: no change between the two is missed.
    pub fn subscribe(self: &Arc<Self>, id: Uuid) -> Subscription {
        let notify = self.lock().entry(id).or_default().clone();
        Subscription {
            id,
            notify,
            watcher: self.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<Notify>>> {
        self.waiters.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wake(&self, id: Uuid) {
        if let Some(notify) = self.lock().get(&id) {
            notify.notify_waiters();
        }
    }

    fn wake_all(&self) {
        for notify in self.lock().values() {
            notify.notify_waiters();
        }
    }
}

/// The next change of a subscribed task, as a future.
pub type Change<'a> = std::pin::Pin<Box<tokio::sync::futures::Notified<'a>>>;

/// Interest in one task's changes; dropping it unregisters.
pub struct Subscription {
    id: Uuid,
    notify: Arc<Notify>,
    watcher: Arc<TaskWatcher>,
}

impl Subscription {
    /// A future that resolves at the next change of the task. Call it, then re-read the task,
    /// then await it.
    pub fn changed(&self) -> Change<'_> {
        let mut notified = Box::pin(self.notify.notified());
        notified.as_mut().enable();
        notified
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut waiters = self.watcher.lock();
        // Two references remain when this is the last subscriber: the map's and ours.
        if Arc::strong_count(&self.notify) <= 2 {
            waiters.remove(&self.id);
        }
    }
}
