//! Whole checkouts, the same work over both bindings: a lane places one order after another.
//!
//! - REST: `POST /checkout-sessions` (a line, a US destination, standard shipping selected),
//!   `PUT` (quantity 2), `POST .../complete` (the mock handler's `success_token`).
//! - A2A: blocking `message/send` of `add_to_checkout`, `update_customer_details` (address;
//!   standard shipping selected), `complete_checkout` (the same payment), in a new conversation.
//!
//! An operation is one whole checkout; it counts if it ended `completed` with an order.

use std::time::Duration;

use serde_json::{json, Value};
use testkit::client::{action, message};
use testkit::Stack;

use crate::load::{self, Sample};

/// The seed catalog's product every checkout buys.
const PRODUCT: &str = "BISC-001";

fn payment_instrument() -> Value {
    json!({"id": "instr_1", "handler_id": "mock_payment_handler", "type": "card", "brand": "visa",
           "last_digits": "4242", "credential": {"type": "token", "token": "success_token"}})
}

/// `lanes` lanes placing orders over the REST binding.
pub async fn rest(stack: &Stack, lanes: usize, warmup: Duration, window: Duration) -> Sample {
    let http = crate::http();
    let base = stack.base_url.clone();
    let token = testkit::stack::token("bench-rest", 3600);
    let agent = format!("profile=\"{}/profile.json\"", stack.profile_base);
    load::run(lanes, warmup, window, move |_, _| {
        let (http, base, token, agent) = (http.clone(), base.clone(), token.clone(), agent.clone());
        async move {
            let send = |method: reqwest::Method, path: String, body: Value| {
                http.request(method, format!("{base}{path}"))
                    .bearer_auth(&token)
                    .header("UCP-Agent", &agent)
                    .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
                    .json(&body)
                    .send()
            };
            let create = json!({
                "currency": "USD",
                "line_items": [{"item": {"id": PRODUCT}, "quantity": 1}],
                "fulfillment": {"methods": [{"type": "shipping",
                    "destinations": [{"id": "dest_1", "street_address": "1 Main St", "address_locality": "Springfield",
                                      "address_region": "IL", "postal_code": "62701", "address_country": "US"}],
                    "selected_destination_id": "dest_1", "groups": [{"selected_option_id": "standard"}]}]},
            });
            let Some(created) = ok_json(send(reqwest::Method::POST, "/checkout-sessions".into(), create).await).await
            else {
                return false;
            };
            let Some(id) = created["id"].as_str().map(str::to_owned) else {
                return false;
            };
            let line = &created["line_items"][0];
            let update = json!({"line_items": [{"id": line["id"], "item": {"id": PRODUCT}, "quantity": 2}]});
            if ok_json(send(reqwest::Method::PUT, format!("/checkout-sessions/{id}"), update).await)
                .await
                .is_none()
            {
                return false;
            }
            let complete = json!({"payment_data": payment_instrument(), "risk_signals": {}});
            let done = ok_json(
                send(
                    reqwest::Method::POST,
                    format!("/checkout-sessions/{id}/complete"),
                    complete,
                )
                .await,
            )
            .await;
            done.is_some_and(|done| done["status"] == "completed" && done["order"]["id"].is_string())
        }
    })
    .await
}

async fn ok_json(response: reqwest::Result<reqwest::Response>) -> Option<Value> {
    let response = response.ok().filter(|r| r.status().is_success())?;
    response.json().await.ok()
}

/// `lanes` lanes placing orders over A2A, each checkout in a conversation of its own.
pub async fn a2a(stack: &Stack, lanes: usize, warmup: Duration, window: Duration) -> Sample {
    let mut client = stack.client("bench-a2a");
    client.http = crate::http();
    load::run(lanes, warmup, window, move |_, _| {
        let client = client.clone();
        async move {
            let context = uuid::Uuid::new_v4().to_string();
            let details = json!({"action": "update_customer_details", "first_name": "Jane", "last_name": "Doe",
                "street_address": "1 Main St", "address_locality": "Springfield", "address_region": "IL",
                "postal_code": "62701", "address_country": "US", "email": "jane@example.com"});
            let pay = json!([
                {"kind": "data", "data": {"action": "complete_checkout"}},
                {"kind": "data", "data": {"a2a.ucp.checkout.payment_data": payment_instrument()}},
            ]);
            let steps = [
                action(json!({"action": "add_to_checkout", "product_id": PRODUCT, "quantity": 2})),
                action(details),
                pay,
            ];
            let mut last = Value::Null;
            for parts in steps {
                let params = json!({"message": message(parts, Some(&context)), "configuration": {"blocking": true}});
                let (status, body) = client.rpc("message/send", params).await;
                if !status.is_success() || body["result"]["status"]["state"] != "completed" {
                    return false;
                }
                last = body;
            }
            testkit::client::checkout_of(&last["result"]).is_some_and(|c| c["status"] == "completed")
        }
    })
    .await
}
