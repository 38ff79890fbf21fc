//! The admin API: operators' endpoints, for callers with the admin role (see `auth::Admin`).
//! Errors are REST (`error::Rest`). Dead letters (see `dlq` for what each operation does):
//!
//! - `GET /admin/dlq?reason=&older_than=&newer_than=&context=&principal=`: `{"dead_letters": [...]}`
//! - `GET /admin/dlq/{id}`: one dead letter, 404 if there is none
//! - `POST /admin/dlq/{id}/replay`, `POST /admin/dlq/{id}/discard`: the outcome, 404 if none
//! - `POST /admin/dlq/replay` with `{"ids": [...]}` or `{"all": true, <filters>}`, and
//!   `POST /admin/dlq/discard` with `{"ids": [...]}`: `{"results": [<outcome per id>]}`

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Admin;
use crate::dlq::{self, Action, FilterArgs, Outcome};
use crate::error::{Error, Rest};
use crate::AppState;

/// The admin routes, under `/admin`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/dlq", get(list))
        .route("/admin/dlq/replay", post(replay_many))
        .route("/admin/dlq/discard", post(discard_many))
        .route("/admin/dlq/{id}", get(show))
        .route("/admin/dlq/{id}/replay", post(replay_one))
        .route("/admin/dlq/{id}/discard", post(discard_one))
}

async fn list(_: Admin, State(state): State<AppState>, query: Result<Query<FilterArgs>, QueryRejection>) -> Result<Json<Value>, Rest> {
    let Query(args) = query.map_err(|e| Error::InvalidParams(e.body_text()))?;
    let dead_letters = dlq::list(&state.js, &args.parse()?).await?;
    Ok(Json(json!({ "dead_letters": dead_letters })))
}

async fn show(_: Admin, State(state): State<AppState>, id: Result<Path<u64>, PathRejection>) -> Result<Json<Value>, Rest> {
    let id = dead_letter_id(id)?;
    match dlq::show(&state.js, id).await? {
        Some(stored) => Ok(Json(json!(stored))),
        None => Err(not_found(id)),
    }
}

async fn replay_one(admin: Admin, State(state): State<AppState>, id: Result<Path<u64>, PathRejection>) -> Result<Json<Outcome>, Rest> {
    one(admin, &state, dead_letter_id(id)?, Action::Replay).await
}

async fn discard_one(admin: Admin, State(state): State<AppState>, id: Result<Path<u64>, PathRejection>) -> Result<Json<Outcome>, Rest> {
    one(admin, &state, dead_letter_id(id)?, Action::Discard).await
}

async fn one(Admin(by): Admin, state: &AppState, id: u64, action: Action) -> Result<Json<Outcome>, Rest> {
    let partitions = state.config.topology.partitions;
    let outcome = dlq::release(&state.db, &state.js, partitions, id, action).await?;
    if outcome.result == "not_found" {
        return Err(not_found(id));
    }
    tracing::info!(operator = %by.0, dead_letter = id, ?action, "dead letter released over the admin API");
    Ok(Json(outcome))
}

/// The body of a bulk replay or discard.
#[derive(Debug, Default, Deserialize)]
struct Bulk {
    #[serde(default)]
    ids: Vec<u64>,
    /// Every dead letter matching the filters (replay only).
    #[serde(default)]
    all: bool,
    #[serde(flatten)]
    filters: FilterArgs,
}

async fn replay_many(admin: Admin, State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, Rest> {
    many(admin, &state, &body, Action::Replay).await
}

async fn discard_many(admin: Admin, State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, Rest> {
    many(admin, &state, &body, Action::Discard).await
}

async fn many(Admin(by): Admin, state: &AppState, body: &[u8], action: Action) -> Result<Json<Value>, Rest> {
    let bulk: Bulk = serde_json::from_slice(body)
        .map_err(|e| Error::InvalidRequest(format!("expected {{\"ids\": [...]}} or {{\"all\": true, ...filters}}: {e}")))?;
    let ids = match (bulk.all, bulk.ids.is_empty()) {
        (true, true) if action == Action::Replay => {
            let matching = dlq::list(&state.js, &bulk.filters.parse()?).await?;
            matching.iter().map(|stored| stored.id).collect()
        }
        (true, _) if action == Action::Discard => {
            return Err(Error::InvalidRequest("discard takes ids only (no \"all\")".into()).into());
        }
        (false, false) => bulk.ids,
        _ => return Err(Error::InvalidRequest("give either \"ids\" (a non-empty list) or \"all\": true".into()).into()),
    };
    let partitions = state.config.topology.partitions;
    let results = dlq::release_many(&state.db, &state.js, partitions, &ids, action).await?;
    tracing::info!(operator = %by.0, count = results.len(), ?action, "dead letters released over the admin API");
    Ok(Json(json!({ "results": results })))
}

fn dead_letter_id(id: Result<Path<u64>, PathRejection>) -> Result<u64, Rest> {
    id.map(|Path(id)| id)
        .map_err(|_| Error::InvalidParams("a dead letter id is a positive integer".into()).into())
}

fn not_found(id: u64) -> Rest {
    Error::NotFound(format!("no dead letter {id} (it may have been replayed or discarded already)")).into()
}
