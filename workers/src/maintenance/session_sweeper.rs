//! The session sweeper: deletes sessions idle for longer than `SESSION_TTL`, with the journals
//! of their conversations' turns, and expires open checkouts whose `expires_at` has passed (a
//! checkout lives `SESSION_TTL` after its last change).

use std::time::Duration;

use sqlx::PgPool;
use store::checkouts::Write;
use tokio::sync::watch;

use crate::commerce::checkout;

/// The most sessions (and checkouts) one pass handles.
pub const SWEEP_BATCH: i64 = 500;
/// The longest wait between passes.
pub const SWEEP_INTERVAL_MAX: Duration = Duration::from_secs(60);

/// Runs until `stop` turns true, a pass every `SESSION_TTL / 4` (at most a minute).
pub async fn run(pool: PgPool, ttl: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval((ttl / 4).clamp(Duration::from_millis(250), SWEEP_INTERVAL_MAX));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticks.tick() => {}
        }
        match sweep_once(&pool, ttl).await {
            Ok((0, 0)) => {}
            Ok((sessions, checkouts)) => tracing::info!(sessions, checkouts, "swept idle sessions and expired checkouts"),
            Err(error) => tracing::warn!(%error, "session sweep failed"),
        }
    }
}

/// One pass: returns (sessions deleted, checkouts expired).
pub async fn sweep_once(pool: &PgPool, ttl: Duration) -> store::Result<(u64, u64)> {
    let idle = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    let sessions = store::sessions::sweep(pool, idle, SWEEP_BATCH).await?;
    let mut tx = pool.begin().await?;
    let expired = store::checkouts::expired_for_update(&mut tx, SWEEP_BATCH).await?;
    let writes: Vec<Write> = expired
        .into_iter()
        .map(|(id, mut open)| {
            checkout::expire(&mut open.checkout);
            Write::Update {
                id,
                checkout: open.checkout,
                version: open.version,
            }
        })
        .collect();
    store::checkouts::write(&mut tx, &writes).await?;
    tx.commit().await?;
    Ok((sessions, writes.len() as u64))
}
