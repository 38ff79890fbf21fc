//! `/checkout-sessions`: create (201), read, update (fields given replace the checkout's),
//! complete and cancel. Mutations go through [`super::submit`]; a read comes from the store.
//!
//! Errors: 400 (malformed body, missing or malformed `UCP-Agent` or `Idempotency-Key`, a newer
//! UCP version, unknown product, insufficient stock, no fulfillment at completion), 402 (payment
//! declined), 403 (payment refused as fraud), 404 (no such checkout of the caller's), 409 (the
//! checkout is completed or canceled, or the `Idempotency-Key` was used for another request),
//! 503 (retry with the same key).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use schemas::action::Payment;
use schemas::rest::{CheckoutRequest, CompleteRequest, Operation};
use uuid::Uuid;

use super::principal::RestPrincipal;
use super::{json_response, mutation_headers, parse_body, path_id, submit, Body, Mutation};
use crate::auth::Principal;
use crate::error::{Error, Ucp};
use crate::AppState;

pub async fn create(
    State(state): State<AppState>,
    RestPrincipal(principal): RestPrincipal,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, Ucp> {
    let (agent, key) = mutation_headers(&headers)?;
    let request: CheckoutRequest = parse_body(&body)?;
    let (capabilities, _) = agent.negotiate(&state).await?;
    let checkout_id = Uuid::now_v7().to_string();
    let mutation = Mutation {
        principal: &principal,
        key,
        context_id: checkout_id.clone(),
        method: "POST",
        path: "/checkout-sessions".to_owned(),
        body: &body,
        operation: Operation::CreateCheckout { checkout_id, request },
        capabilities,
    };
    submit(&state, mutation).await
}

pub async fn get(
    State(state): State<AppState>,
    RestPrincipal(principal): RestPrincipal,
    Path(id): Path<String>,
) -> Result<Response, Ucp> {
    let (checkout, _) = locate(&state, &principal, &id).await?;
    Ok(json_response(
        200,
        &serde_json::to_value(checkout).map_err(|e| Error::Internal(e.to_string()))?,
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
    let request: CheckoutRequest = parse_body(&body)?;
    let (_, context_id) = locate(&state, &principal, &id).await?;
    let (capabilities, _) = agent.negotiate(&state).await?;
    let mutation = Mutation {
        principal: &principal,
        key,
        context_id,
        method: "PUT",
        path: format!("/checkout-sessions/{id}"),
        body: &body,
        operation: Operation::UpdateCheckout {
            checkout_id: id,
            request,
        },
        capabilities,
    };
    submit(&state, mutation).await
}

pub async fn complete(
    State(state): State<AppState>,
    RestPrincipal(principal): RestPrincipal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, Ucp> {
    let (agent, key) = mutation_headers(&headers)?;
    let request: CompleteRequest = parse_body(&body)?;
    let (_, context_id) = locate(&state, &principal, &id).await?;
    let (capabilities, platform) = agent.negotiate(&state).await?;
    let mut payment = Payment {
        instrument: request.payment_data,
        risk_signals: request.risk_signals,
    };
    payment.fill_last_digits();
    let mutation = Mutation {
        principal: &principal,
        key,
        context_id,
        method: "POST",
        path: format!("/checkout-sessions/{id}/complete"),
        body: &body,
        operation: Operation::CompleteCheckout {
            checkout_id: id,
            payment,
            platform,
        },
        capabilities,
    };
    submit(&state, mutation).await
}

pub async fn cancel(
    State(state): State<AppState>,
    RestPrincipal(principal): RestPrincipal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, Ucp> {
    let (agent, key) = mutation_headers(&headers)?;
    let (_, context_id) = locate(&state, &principal, &id).await?;
    let (capabilities, _) = agent.negotiate(&state).await?;
    let mutation = Mutation {
        principal: &principal,
        key,
        context_id,
        method: "POST",
        path: format!("/checkout-sessions/{id}/cancel"),
        body: &body,
        operation: Operation::CancelCheckout { checkout_id: id },
        capabilities,
    };
    submit(&state, mutation).await
}

/// The caller's checkout `id` and its conversation, or 404.
async fn locate(state: &AppState, principal: &Principal, id: &str) -> Result<(schemas::ucp::Checkout, String), Error> {
    let not_found = || {
        Error::NotFound(format!(
            "checkout {:?} not found",
            id.chars().take(64).collect::<String>()
        ))
    };
    let uuid: Uuid = path_id(id)?.parse().map_err(|_| not_found())?;
    store::checkouts::by_id(&state.db, &principal.0, uuid)
        .await?
        .ok_or_else(not_found)
}
