//! Restart: the ingress, the workers and nats-server all restarted in the middle of a
//! conversation; tasks, checkout and orders survive and the conversation continues.

use std::time::Duration;

use serde_json::json;
use testkit::client::{action, checkout_of, message, quantity};
use testkit::{Stack, StackOptions};

/// A conversation with one message in flight across a full restart of every process.
#[tokio::test]
async fn conversation_survives_a_restart_of_every_process() {
    let mut stack = Stack::start(StackOptions::default()).await;
    let client = stack.client("restarter");
    let first = client
        .act(
            json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1}),
            Some("restart-ctx"),
        )
        .await;
    let checkout_id = checkout_of(&first).unwrap()["id"].clone();
    let in_flight = client
        .send(
            message(
                action(json!({"action": "add_to_checkout", "product_id": "STRAW-001", "quantity": 3})),
                Some("restart-ctx"),
            ),
            false,
        )
        .await;

    stack.stop_processes().await;
    stack.nats.stop().await;
    stack.nats.start_again().await;
    for _ in 0..2 {
        stack.start_worker(&[]).await;
    }
    stack.start_ingress().await;

    let before = client.get_task(first["id"].as_str().unwrap()).await;
    assert_eq!(
        before["status"]["state"], "completed",
        "tasks from before the restart are kept"
    );
    let in_flight_id = in_flight["id"].as_str().unwrap().to_owned();
    client
        .wait_for_state(&in_flight_id, "completed", Duration::from_secs(30))
        .await;

    let details = json!({"action": "update_customer_details", "first_name": "Ann", "last_name": "Lee",
        "street_address": "2 Elm St", "address_locality": "Portland", "address_region": "OR",
        "postal_code": "97201", "email": "ann@example.com"});
    let ready = checkout_of(&client.act(details, Some("restart-ctx")).await).unwrap();
    assert_eq!(ready["id"], checkout_id, "the same checkout continues");
    assert_eq!(quantity(&ready, "BISC-001"), 1);
    assert_eq!(quantity(&ready, "STRAW-001"), 3);
    let parts = json!([
        {"kind": "data", "data": {"action": "complete_checkout"}},
        {"kind": "data", "data": {"a2a.ucp.checkout.payment_data": {"id": "i", "handler_id": "example_payment_provider", "type": "card",
            "credential": {"type": "token", "token": "tok_restart"}}}}
    ]);
    let done = checkout_of(&client.send(message(parts, Some("restart-ctx")), true).await).unwrap();
    assert_eq!(done["status"], "completed");
    let order_id = done["order"]["id"].as_str().unwrap().to_owned();

    stack.stop_processes().await;
    stack.nats.stop().await;
    stack.nats.start_again().await;
    stack.start_worker(&[]).await;
    stack.start_ingress().await;
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE id = $1")
        .bind(&order_id)
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(orders, 1, "the order is still there");
    let after = client.act(json!({"action": "get_checkout"}), Some("restart-ctx")).await;
    assert_eq!(checkout_of(&after).unwrap()["order"]["id"], order_id.as_str());
}
