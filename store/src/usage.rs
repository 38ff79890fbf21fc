//! Tokens used per principal per UTC day, for the daily budget. Each turn adds its usage in the
//! transaction that commits it, to one of [`SHARDS`] rows per principal and day (so concurrent
//! transactions of one busy principal rarely wait for each other); the day's total sums them.

use std::collections::HashMap;

use sqlx::PgExecutor;

use crate::Result;

/// Rows per principal and day.
pub const SHARDS: u16 = 16;

/// Adds tokens to each principal's total for today (UTC), in shard `shard % SHARDS`. One
/// statement for a batch; a principal may appear more than once.
pub async fn add(conn: impl PgExecutor<'_>, shard: u16, spent: &[(&str, i64)]) -> Result<()> {
    let spent: Vec<&(&str, i64)> = spent.iter().filter(|(_, tokens)| *tokens > 0).collect();
    if spent.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO principal_usage AS u (principal, day, shard, tokens)
         SELECT principal, (now() AT TIME ZONE 'UTC')::date, $3, sum(tokens)
         FROM unnest($1::text[], $2::bigint[]) AS i (principal, tokens)
         GROUP BY principal ORDER BY principal
         ON CONFLICT ON CONSTRAINT principal_usage_pkey DO UPDATE SET tokens = u.tokens + EXCLUDED.tokens",
    )
    .bind(spent.iter().map(|(p, _)| *p).collect::<Vec<_>>())
    .bind(spent.iter().map(|(_, t)| *t).collect::<Vec<_>>())
    .bind((shard % SHARDS) as i16)
    .execute(conn)
    .await?;
    Ok(())
}

/// The tokens each of these principals used today (UTC); absent means none.
pub async fn today(conn: impl PgExecutor<'_>, principals: &[&str]) -> Result<HashMap<String, i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT principal, sum(tokens)::bigint FROM principal_usage
         WHERE principal = ANY($1) AND day = (now() AT TIME ZONE 'UTC')::date
         GROUP BY principal",
    )
    .bind(principals)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}
