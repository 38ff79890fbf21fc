//! The whole shopping flow through the real ingress, NATS and workers, with this crate's
//! JSON-RPC client: blocking sends, and non-blocking sends polled with tasks/get.

use futures::StreamExt;
use serde_json::{json, Value};
use testkit::client::{action, checkout_of, data_part, message, quantity};
use testkit::{Client, Stack, StackOptions};

async fn send(client: &Client, parts: Value, context_id: Option<&str>, blocking: bool) -> Value {
    let task = client.send(message(parts, context_id), blocking).await;
    if blocking {
        return task;
    }
    assert_eq!(
        task["status"]["state"], "submitted",
        "non-blocking send returns the submitted task"
    );
    client
        .wait_for_state(
            task["id"].as_str().unwrap(),
            "completed",
            std::time::Duration::from_secs(20),
        )
        .await
}

async fn shop(blocking: bool) {
    let stack = Stack::start(StackOptions::default()).await;
    let client = stack.client("alice");
    // A plain subscriber sees every task the ingress publishes to the partitions.
    let nats = async_nats::connect(stack.nats.url()).await.expect("connecting to NATS");
    let mut queued = nats.subscribe("cartwright.tasks.>").await.expect("subscribing");

    let found = send(
        &client,
        action(json!({"action": "search_shopping_catalog", "query": "cookies"})),
        None,
        blocking,
    )
    .await;
    let context_id = found["contextId"].as_str().expect("a contextId is assigned").to_owned();
    let results = data_part(&found, "a2a.product_results").expect("search results");
    let ids: Vec<&str> = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["productID"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"BISC-001"), "{ids:?}");
    assert_eq!(
        found["artifacts"][0]["parts"][0]["data"]["a2a.product_results"],
        results
    );

    let ctx = Some(context_id.as_str());
    let added = send(
        &client,
        action(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 2})),
        ctx,
        blocking,
    )
    .await;
    let checkout = checkout_of(&added).expect("checkout");
    assert_eq!(quantity(&checkout, "BISC-001"), 2);
    assert_eq!(checkout["status"], "incomplete");
    assert!(checkout["expires_at"].is_string(), "expires_at is set");

    let details = json!({"action": "update_customer_details", "first_name": "Jane", "last_name": "Doe",
        "street_address": "1 Main St", "address_locality": "Springfield", "address_region": "IL",
        "postal_code": "62701", "address_country": "US", "email": "jane@example.com"});
    let ready = checkout_of(&send(&client, action(details), ctx, blocking).await).unwrap();
    assert_eq!(ready["status"], "ready_for_complete");

    let started = checkout_of(&send(&client, action(json!({"action": "start_payment"})), ctx, blocking).await).unwrap();
    assert_eq!(started["status"], "ready_for_complete");
    let total = started["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "total")
        .unwrap()["amount"]
        .as_i64();
    assert_eq!(
        total,
        Some(998 + 500 + 100),
        "items + standard shipping + 10 % tax, in cents"
    );

    let payment = json!([
        {"kind": "data", "data": {"action": "complete_checkout"}},
        {"kind": "data", "data": {"a2a.ucp.checkout.payment_data": {"id": "instr_1", "handler_id": "example_payment_provider",
            "type": "card", "brand": "visa", "last_digits": "4242", "credential": {"type": "token", "token": "tok_flow_secret"}}}}
    ]);
    let completed = send(&client, payment, ctx, blocking).await;
    let done = checkout_of(&completed).unwrap();
    assert_eq!(done["status"], "completed");
    let order_id = done["order"]["id"].as_str().expect("order id");
    assert!(order_id.starts_with("ORD-"), "{order_id}");

    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(orders, 1);
    let history = client.get_task(completed["id"].as_str().unwrap()).await;
    assert!(
        !history.to_string().contains("tok_flow_secret"),
        "the credential is never returned"
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks WHERE request::text LIKE '%tok_flow_secret%'")
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "the credential is never stored");
    for process in stack.workers.iter().chain(stack.ingress.iter()) {
        assert!(
            !process.output().contains("tok_flow_secret"),
            "{} logged the credential",
            process.name
        );
    }
    let complete_queued = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(task) = queued.next().await {
            let payload = String::from_utf8_lossy(&task.payload);
            assert!(!payload.contains("tok_flow_secret"), "the credential is never queued");
            if payload.contains("complete_checkout") {
                return;
            }
        }
    });
    complete_queued
        .await
        .expect("the complete_checkout task was seen on its partition subject");
}

/// Blocking sends: each returns the finished task.
#[tokio::test]
async fn shopping_flow_blocking() {
    shop(true).await;
}

/// Free text (until the LLM agent arrives): a catalog search of its words and the list of
/// actions; a text part that is exactly a JSON action runs that action.
#[tokio::test]
async fn text_turns_search_and_json_text_runs_the_action() {
    let stack = Stack::start(StackOptions::with_workers(1)).await;
    let client = stack.client("chatty");
    let chat = client
        .send(
            message(json!([{"kind": "text", "text": "show me strawberries"}]), None),
            true,
        )
        .await;
    let results = data_part(&chat, "a2a.product_results").expect("search results");
    assert_eq!(results["results"][0]["productID"], "STRAW-001");
    let text = chat["status"]["message"]["parts"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("add_to_checkout") && text.contains("complete_checkout"),
        "{text}"
    );

    let context_id = chat["contextId"].as_str().unwrap();
    let as_text =
        json!([{"kind": "text", "text": r#"{"action": "add_to_checkout", "product_id": "STRAW-001", "quantity": 3}"#}]);
    let added = client.send(message(as_text, Some(context_id)), true).await;
    assert_eq!(quantity(&checkout_of(&added).unwrap(), "STRAW-001"), 3);
}

/// Non-blocking sends: each returns the submitted task; tasks/get reports the result.
#[tokio::test]
async fn shopping_flow_non_blocking() {
    shop(false).await;
}
