//! The stuck-task sweeper: a task `working` with no change for `STUCK_TASK_AFTER` (far beyond
//! any turn's deadline: model timeouts, retries and steps, and the agent's waits, which refresh
//! the task's status) is failed, visibly, and its conversation moves on.
//!
//! Why failed rather than retried: a task whose worker died is retried already (JetStream
//! redelivers its message after `ack_wait`), and one whose message was lost is republished by
//! the reconciler. What is left is a turn that a live worker holds and does not finish; running it
//! again would hit the same cause, so the sweeper ends it like an operator's discard: the task
//! fails with a reply that says why, the conversation's fence moves past it (a late commit of
//! the stuck turn is refused by that fence), and the worker holding it lets it go (see
//! `consume::conversations`), so the conversation's later messages run.
//!
//! One worker at a time (a PostgreSQL advisory lock). Counted in
//! `cartwright_stuck_tasks_total{action="failed"}` (the worker letting go counts
//! `action="abandoned"`), each one logged as a warning with its task id.

use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::watch;

/// The most tasks failed per pass.
pub const SWEEP_BATCH: i64 = 500;

/// How often the sweeper looks: a quarter of `after`, between 1 s and 60 s.
pub fn interval(after: Duration) -> Duration {
    (after / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Runs until `stop` turns true.
pub async fn run(pool: PgPool, after: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(interval(after));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticks.tick() => {}
        }
        match sweep_once(&pool, after).await {
            Ok(Some(failed)) => metrics::counter!("cartwright_stuck_tasks_total", "action" => "failed").increment(failed as u64),
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "stuck-task sweep failed"),
        }
    }
}

/// One pass: the number of tasks failed, or `None` if another worker's pass holds the lock.
pub async fn sweep_once(pool: &PgPool, after: Duration) -> anyhow::Result<Option<usize>> {
    let Some(_lock) = store::singleton::try_hold(pool, store::singleton::STUCK_SWEEPER).await? else {
        return Ok(None);
    };
    let before = Utc::now() - chrono::Duration::from_std(after)?;
    let mut failed = 0;
    for id in store::stuck::working_before(pool, before, SWEEP_BATCH).await? {
        let text = format!(
            "This message was being worked on and made no progress for {} s, so it was stopped (reference {id}). Send it again to retry.",
            after.as_secs()
        );
        match store::stuck::fail(pool, id, before, &text).await {
            Ok(true) => {
                failed += 1;
                tracing::warn!(task_id = %id, after_secs = after.as_secs(), "task stuck in working failed; its conversation goes on");
            }
            Ok(false) => {}
            Err(error) => tracing::warn!(task_id = %id, %error, "could not fail a stuck task; the next pass tries again"),
        }
    }
    Ok(Some(failed))
}
