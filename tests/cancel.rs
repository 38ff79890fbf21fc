//! Cancellation: a task cancelled before any worker ran it has no effect, and the conversation
//! goes on past it.

use std::time::Duration;

use serde_json::json;
use testkit::client::{action, checkout_of, message, quantity};
use testkit::{Stack, StackOptions};

/// With no worker running, a non-blocking add is cancelled; once a worker starts, the cancelled
/// task stays cancelled, applies nothing, and the next message of the conversation completes.
#[tokio::test]
async fn cancelled_task_applies_nothing_and_does_not_block_its_conversation() {
    let mut stack = Stack::start(StackOptions::with_workers(0)).await;
    let client = stack.client("canceller");
    let add =
        |quantity: i64| action(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": quantity}));
    let task = client.send(message(add(5), Some("cancel-ctx")), false).await;
    let id = task["id"].as_str().unwrap().to_owned();
    let (_, canceled) = client.rpc("tasks/cancel", json!({"id": id})).await;
    assert_eq!(canceled["result"]["status"]["state"], "canceled", "{canceled}");
    let (_, again) = client.rpc("tasks/cancel", json!({"id": id})).await;
    assert_eq!(
        again["error"]["code"], -32002,
        "a canceled task cannot be canceled again"
    );

    let next = client.send(message(add(1), Some("cancel-ctx")), false).await;
    stack.start_worker(&[]).await;
    let next_id = next["id"].as_str().unwrap().to_owned();
    let done = client
        .wait_for_state(&next_id, "completed", Duration::from_secs(20))
        .await;
    assert_eq!(
        quantity(&checkout_of(&done).unwrap(), "BISC-001"),
        1,
        "the cancelled add of 5 was not applied"
    );
    assert_eq!(client.get_task(&id).await["status"]["state"], "canceled");
}
