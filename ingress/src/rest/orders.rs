//! `/orders/{id}`: read, and update its fulfillment events and adjustments (422 when they do
//! not validate); `POST /testing/simulate-shipping/{id}` ships every line, only with a
//! `Simulation-Secret` header equal to `SIMULATION_SECRET` (403 otherwise, and always when the
//! setting is unset).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use schemas::rest::{Operation, OrderUpdate};

use super::principal::RestPrincipal;
use super::{json_response, mutation_headers, path_id, submit, Body, Mutation};
use crate::auth::Principal;
use crate::error::{Error, Ucp};
use crate::AppState;

pub async fn get(
    State(state): State<AppState>,
    RestPrincipal(principal): RestPrincipal,
    Path(id): Path<String>,
) -> Result<Response, Ucp> {
    let (order, _) = locate(&state, &principal, &id).await?;
    Ok(json_response(
        200,
        &serde_json::to_value(order).map_err(|e| Error::Internal(e.to_string()))?,
    ))
}

pub async fn update(
    State(state): State<AppState>,
    RestPrincipal(principal): RestPrincipal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, Ucp> {
    let (agent, key) = mutation_headers(&headers)?;
    let update: OrderUpdate = super::parse_body(&body).map_err(|e| Error::Unprocessable(e.to_string()))?;
    update.validate().map_err(Error::Unprocessable)?;
    let (_, context_id) = locate(&state, &principal, &id).await?;
    let (capabilities, _) = agent.negotiate(&state).await?;
    let mutation = Mutation {
        principal: &principal,
        key,
        context_id,
        method: "PUT",
        path: format!("/orders/{id}"),
        body: &body,
        operation: Operation::UpdateOrder { order_id: id, update },
        capabilities,
    };
    submit(&state, mutation).await
}

pub async fn simulate_shipping(
    State(state): State<AppState>,
    RestPrincipal(principal): RestPrincipal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, Ucp> {
    let given = headers.get("simulation-secret").map(|v| v.as_bytes());
    let allowed = match (&state.config.simulation_secret, given) {
        (Some(secret), Some(given)) => constant_time_eq(secret.expose().as_bytes(), given),
        _ => false,
    };
    if !allowed {
        return Err(Error::Forbidden("the shipping simulation needs the Simulation-Secret header".into()).into());
    }
    let (_, context_id) = locate(&state, &principal, &id).await?;
    let key = match headers.get("idempotency-key") {
        Some(_) => super::headers::idempotency_key(&headers)?,
        None => uuid::Uuid::new_v4().to_string(),
    };
    let mutation = Mutation {
        principal: &principal,
        key,
        context_id,
        method: "POST",
        path: format!("/testing/simulate-shipping/{id}"),
        body: &body,
        operation: Operation::ShipOrder { order_id: id },
        capabilities: Default::default(),
    };
    submit(&state, mutation).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The caller's order `id` and its checkout's conversation, or 404.
async fn locate(state: &AppState, principal: &Principal, id: &str) -> Result<(schemas::ucp::Order, String), Error> {
    let not_found = || Error::NotFound(format!("order {:?} not found", id.chars().take(64).collect::<String>()));
    let id = path_id(id).map_err(|_| not_found())?;
    store::orders::get(&state.db, &principal.0, id)
        .await?
        .ok_or_else(not_found)
}
