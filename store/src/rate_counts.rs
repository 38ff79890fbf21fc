//! Shared request counts for the ingress's rate limits: per key, one-second window and
//! replica.

use sqlx::PgPool;
use uuid::Uuid;

/// Every replica's total for one key and window.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Total {
    pub key: String,
    pub window_start: i64,
    pub count: i64,
    /// Replicas that counted requests for it (this one included when it did).
    pub replicas: i64,
}

use crate::Result;

/// Adds `count` to `replica`'s row of each (key, window) and returns every replica's total. One
/// statement for everything an ingress counted since its last flush (a count of 0 only reads).
pub async fn add(pool: &PgPool, replica: Uuid, rows: &[(String, i64, i64)]) -> Result<Vec<Total>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut sorted: Vec<&(String, i64, i64)> = rows.iter().collect();
    sorted.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    Ok(sqlx::query_as(
        "WITH mine AS (
             INSERT INTO rate_counts AS r (key, window_start, replica, count)
             SELECT key, window_start, $4, count FROM unnest($1::text[], $2::bigint[], $3::bigint[])
                 AS i (key, window_start, count)
             ON CONFLICT (key, window_start, replica) DO UPDATE SET count = r.count + EXCLUDED.count
             RETURNING key, window_start, count
         )
         SELECT mine.key, mine.window_start, (mine.count + coalesce(sum(other.count), 0))::bigint AS count,
                ((mine.count > 0)::int + count(other.count) FILTER (WHERE other.count > 0))::bigint AS replicas
         FROM mine
         LEFT JOIN rate_counts other
             ON other.key = mine.key AND other.window_start = mine.window_start AND other.replica <> $4
         GROUP BY mine.key, mine.window_start, mine.count",
    )
    .bind(sorted.iter().map(|r| r.0.as_str()).collect::<Vec<_>>())
    .bind(sorted.iter().map(|r| r.1).collect::<Vec<_>>())
    .bind(sorted.iter().map(|r| r.2).collect::<Vec<_>>())
    .bind(replica)
    .fetch_all(pool)
    .await?)
}

/// Deletes windows before `before`.
pub async fn forget_before(pool: &PgPool, before: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM rate_counts WHERE window_start < $1")
        .bind(before)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}
