//! Checkouts. A conversation has at most one open checkout (a partial unique index says so);
//! a completed or canceled one stays for the record and for `get_checkout`. A worker reads the
//! checkouts of a whole batch of turns at once and writes their changes at once.

use std::collections::HashMap;

use schemas::ucp::Checkout;
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::contexts::{columns, Key};
use crate::{Error, Result};

/// A checkout with the version its row had when read.
#[derive(Debug, Clone)]
pub struct Versioned {
    pub checkout: Checkout,
    pub version: i64,
}

/// A checkout a turn creates or changes.
#[derive(Debug, Clone)]
pub enum Write {
    Insert {
        id: Uuid,
        key: Key,
        checkout: Checkout,
    },
    /// Stored only if the row still has `version`.
    Update {
        id: Uuid,
        checkout: Checkout,
        version: i64,
    },
}

/// The open checkout of each conversation that has one, locked until the caller's transaction
/// ends (in id order).
pub async fn open_for_update(conn: &mut PgConnection, keys: &[Key]) -> Result<HashMap<Key, Versioned>> {
    open_checkouts(conn, keys, "FOR UPDATE OF c").await
}

/// The open checkout of each conversation that has one, unlocked: the agent computes a turn's
/// changes against it, and the turn's transaction writes them only if the version still holds.
pub async fn open(conn: &mut PgConnection, keys: &[Key]) -> Result<HashMap<Key, Versioned>> {
    open_checkouts(conn, keys, "").await
}

async fn open_checkouts(conn: &mut PgConnection, keys: &[Key], lock: &str) -> Result<HashMap<Key, Versioned>> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let (principals, context_ids) = columns(keys);
    let rows: Vec<(String, String, Json<Checkout>, i64)> = sqlx::query_as(&format!(
        "SELECT c.principal, c.context_id, c.body, c.version
         FROM checkouts c
         JOIN unnest($1::text[], $2::text[]) AS k (principal, context_id)
           ON c.context_id = k.context_id AND c.principal = k.principal
         WHERE c.status NOT IN ('completed', 'canceled')
         ORDER BY c.id
         {lock}"
    ))
    .bind(&principals)
    .bind(&context_ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(principal, context_id, Json(checkout), version)| {
            ((principal, context_id), Versioned { checkout, version })
        })
        .collect())
}

/// The most recently changed checkout of each conversation that has any, open or not.
pub async fn latest(conn: &mut PgConnection, keys: &[Key]) -> Result<HashMap<Key, Checkout>> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let (principals, context_ids) = columns(keys);
    let rows: Vec<(String, String, Json<Checkout>)> = sqlx::query_as(
        "SELECT DISTINCT ON (c.context_id, c.principal) c.principal, c.context_id, c.body
         FROM checkouts c
         JOIN unnest($1::text[], $2::text[]) AS k (principal, context_id)
           ON c.context_id = k.context_id AND c.principal = k.principal
         ORDER BY c.context_id, c.principal, c.updated_at DESC",
    )
    .bind(&principals)
    .bind(&context_ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(principal, context_id, Json(checkout))| ((principal, context_id), checkout))
        .collect())
}

/// Stores checkout writes: changes first (an expired checkout closes before the conversation's
/// new one opens), then new checkouts. Fails with [`Error::CheckoutVersionConflict`] if a
/// changed row no longer has the version it was read with.
pub async fn write(conn: &mut PgConnection, writes: &[Write]) -> Result<()> {
    let mut updates = Vec::new();
    let mut inserts = Vec::new();
    for write in writes {
        match write {
            Write::Update { id, checkout, version } => updates.push((*id, checkout, *version)),
            Write::Insert { id, key, checkout } => inserts.push((*id, key, checkout)),
        }
    }
    if !updates.is_empty() {
        let updated: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE checkouts c
             SET status = u.status::checkout_status, body = u.body, expires_at = u.expires_at,
                 version = c.version + 1, updated_at = now()
             FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::timestamptz[], $5::bigint[])
                  AS u (id, status, body, expires_at, version)
             WHERE c.id = u.id AND c.version = u.version
             RETURNING c.id",
        )
        .bind(updates.iter().map(|(id, _, _)| *id).collect::<Vec<_>>())
        .bind(updates.iter().map(|(_, c, _)| c.status.as_str()).collect::<Vec<_>>())
        .bind(updates.iter().map(|(_, c, _)| Json(*c)).collect::<Vec<_>>())
        .bind(updates.iter().map(|(_, c, _)| c.expires_at).collect::<Vec<_>>())
        .bind(updates.iter().map(|(_, _, v)| *v).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await?;
        if let Some((id, _, _)) = updates.iter().find(|(id, _, _)| !updated.contains(id)) {
            return Err(Error::CheckoutVersionConflict(*id));
        }
    }
    if !inserts.is_empty() {
        sqlx::query(
            "INSERT INTO checkouts (id, principal, context_id, status, body, expires_at)
             SELECT u.id, u.principal, u.context_id, u.status::checkout_status, u.body, u.expires_at
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::timestamptz[])
                  AS u (id, principal, context_id, status, body, expires_at)",
        )
        .bind(inserts.iter().map(|(id, _, _)| *id).collect::<Vec<_>>())
        .bind(inserts.iter().map(|(_, k, _)| k.0.as_str()).collect::<Vec<_>>())
        .bind(inserts.iter().map(|(_, k, _)| k.1.as_str()).collect::<Vec<_>>())
        .bind(inserts.iter().map(|(_, _, c)| c.status.as_str()).collect::<Vec<_>>())
        .bind(inserts.iter().map(|(_, _, c)| Json(*c)).collect::<Vec<_>>())
        .bind(inserts.iter().map(|(_, _, c)| c.expires_at).collect::<Vec<_>>())
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Up to `limit` open checkouts whose `expires_at` has passed, locked (skipping any a turn
/// holds), with their ids: the session sweeper expires them.
pub async fn expired_for_update(conn: &mut PgConnection, limit: i64) -> Result<Vec<(Uuid, Versioned)>> {
    let rows: Vec<(Uuid, Json<Checkout>, i64)> = sqlx::query_as(
        "SELECT id, body, version FROM checkouts
         WHERE status NOT IN ('completed', 'canceled') AND expires_at < now()
         ORDER BY expires_at LIMIT $1
         FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, Json(checkout), version)| (id, Versioned { checkout, version }))
        .collect())
}

/// The principal's checkout `id`, open or not, locked until the caller's transaction ends.
pub async fn by_id_for_update(conn: &mut PgConnection, principal: &str, id: Uuid) -> Result<Option<Versioned>> {
    let row: Option<(Json<Checkout>, i64)> =
        sqlx::query_as("SELECT body, version FROM checkouts WHERE id = $1 AND principal = $2 FOR UPDATE")
            .bind(id)
            .bind(principal)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(Json(checkout), version)| Versioned { checkout, version }))
}

/// The principal's checkout `id` and the conversation it belongs to, if it exists and is theirs.
pub async fn by_id(pool: &sqlx::PgPool, principal: &str, id: Uuid) -> Result<Option<(Checkout, String)>> {
    let row: Option<(Json<Checkout>, String)> =
        sqlx::query_as("SELECT body, context_id FROM checkouts WHERE id = $1 AND principal = $2")
            .bind(id)
            .bind(principal)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(Json(checkout), context_id)| (checkout, context_id)))
}
