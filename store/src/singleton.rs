//! One at a time across all workers: a PostgreSQL session advisory lock held for a background
//! pass that does more than one transaction (the reconciler publishes while it holds it).

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};

use crate::Result;

/// The reconciler's lock.
pub const RECONCILER: i64 = 0x6361_7274_7265_636f; // "cartreco"
/// The stuck-task sweeper's lock.
pub const STUCK_SWEEPER: i64 = 0x6361_7274_7374_7563; // "cartstuc"

/// A held lock. Dropping it closes its connection, which releases the lock even when the pass
/// was cancelled half-way; the connection is never handed back to the pool still locked.
pub struct Held {
    _conn: PoolConnection<Postgres>,
}

/// Takes lock `key` if no other session holds it.
pub async fn try_hold(pool: &PgPool, key: i64) -> Result<Option<Held>> {
    let mut conn = pool.acquire().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut *conn)
        .await?;
    if !locked {
        return Ok(None);
    }
    conn.close_on_drop();
    Ok(Some(Held { _conn: conn }))
}
