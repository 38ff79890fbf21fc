//! JetStream losing acknowledged messages (a power failure under a bounded `sync_interval`, or
//! a lost disk): every accepted task is in PostgreSQL, so the reconciler republishes what the
//! stream lost, the workers and the ingress recreate the stream and consumers, and every task is
//! applied exactly once, in order.

use std::time::Duration;

use serde_json::{json, Value};
use testkit::client::{action, message, quantity};
use testkit::{Client, Stack, StackOptions};

const MESSAGES: i64 = 4;

fn add_one() -> Value {
    action(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1}))
}

/// Sends `MESSAGES` non-blocking adds to `context` and returns their task ids.
async fn send_adds(client: &Client, context: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..MESSAGES {
        let task = client.send(message(add_one(), Some(context)), false).await;
        ids.push(task["id"].as_str().expect("task id").to_owned());
    }
    ids
}

/// Waits for every task, then checks each one's checkout shows the quantity its position says.
async fn assert_applied_once_in_order(client: &Client, ids: &[String], first_quantity: i64) {
    for (i, id) in ids.iter().enumerate() {
        let task = client.wait_for_state(id, "completed", Duration::from_secs(45)).await;
        let checkout = testkit::client::checkout_of(&task).expect("a checkout");
        assert_eq!(
            quantity(&checkout, "BISC-001"),
            first_quantity + i as i64,
            "task {i} applied once, after the ones before it"
        );
    }
}

#[tokio::test]
async fn tasks_lost_by_jetstream_are_republished_and_applied_once() {
    let mut stack = Stack::start(StackOptions {
        worker_env: vec![("RECONCILE_AFTER".into(), "2".into())],
        ..StackOptions::with_workers(1)
    })
    .await;
    let client = stack.client("loss");

    // Workers down: the accepted tasks wait in the stream, which then loses everything.
    for mut worker in stack.workers.drain(..) {
        worker.kill9().await;
    }
    let waiting = send_adds(&client, "loss-a").await;
    stack.nats.kill_and_lose_store().await;
    stack.nats.start_again().await;
    stack.start_worker(&[]).await;
    assert_applied_once_in_order(&client, &waiting, 1).await;

    // Everything running: the server loses its store again under the running ingress and
    // worker, which recreate the stream and consumers themselves.
    stack.nats.kill_and_lose_store().await;
    stack.nats.start_again().await;
    let after = send_adds(&client, "loss-a").await;
    assert_applied_once_in_order(&client, &after, 1 + MESSAGES).await;

    let processed = stack.db.count("processed_messages").await;
    assert_eq!(processed, 2 * MESSAGES, "each message recorded as processed once");
}
