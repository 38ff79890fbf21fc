//! Idempotency: a messageId resent, concurrently or one after another, creates one task and
//! applies its effect once; reused for a different message, it is refused.

use futures::future::join_all;
use serde_json::json;
use testkit::client::{action, checkout_of, message_with_id, quantity};
use testkit::{Stack, StackOptions};

/// Twenty concurrent copies of one message, then five sequential resends: one task id, one
/// line of quantity 1.
#[tokio::test]
async fn resent_message_creates_one_task_and_one_effect() {
    let stack = Stack::start(StackOptions::default()).await;
    let client = stack.client("repeat");
    let add = action(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1}));
    let message = message_with_id("same-message-1", add, Some("idem-ctx"));

    let concurrent = join_all((0..20).map(|i| {
        let client = client.clone();
        let message = message.clone();
        async move { client.send(message, i % 2 == 0).await }
    }))
    .await;
    let task_id = concurrent[0]["id"].clone();
    assert!(
        concurrent.iter().all(|task| task["id"] == task_id),
        "every copy answers with the same task"
    );

    for _ in 0..5 {
        let again = client.send(message.clone(), true).await;
        assert_eq!(again["id"], task_id);
        assert_eq!(again["status"]["state"], "completed");
        assert_eq!(
            quantity(&checkout_of(&again).unwrap(), "BISC-001"),
            1,
            "the resend replays the original result"
        );
    }

    let current = client.act(json!({"action": "get_checkout"}), Some("idem-ctx")).await;
    assert_eq!(
        quantity(&checkout_of(&current).unwrap(), "BISC-001"),
        1,
        "the add was applied once"
    );
    assert_eq!(
        stack.db.count("tasks").await,
        2,
        "one task for the add, one for the get"
    );
    assert_eq!(stack.db.count("processed_messages").await, 2);
}

/// The same messageId from two principals is two messages: idempotency is per principal.
#[tokio::test]
async fn message_ids_are_scoped_to_the_principal() {
    let stack = Stack::start(StackOptions::with_workers(1)).await;
    let add = action(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1}));
    let a = stack
        .client("alice")
        .send(message_with_id("shared-id", add.clone(), Some("alice-c")), true)
        .await;
    let b = stack
        .client("bob")
        .send(message_with_id("shared-id", add, Some("bob-c")), true)
        .await;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(stack.db.count("tasks").await, 2);
}

/// A messageId reused for a different message is refused with a precise error and changes
/// nothing; the original message resent (its JSON keys in another order) still replays.
#[tokio::test]
async fn a_message_id_reused_for_a_different_message_is_refused() {
    let stack = Stack::start(StackOptions::with_workers(1)).await;
    let client = stack.client("reuser");
    let add = |quantity: u32| action(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": quantity}));
    let first = client.send(message_with_id("reused-1", add(1), Some("reuse-ctx")), true).await;
    assert_eq!(first["status"]["state"], "completed");

    let (status, body) = client
        .rpc("message/send", json!({"message": message_with_id("reused-1", add(5), Some("reuse-ctx"))}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["error"]["code"], -32602, "{body}");
    let text = body["error"]["message"].as_str().unwrap_or_default();
    assert!(text.contains("reused-1") && text.contains("different message"), "{text}");

    let reordered = json!({"parts": [{"data": {"quantity": 1, "product_id": "BISC-001", "action": "add_to_checkout"}, "kind": "data"}],
        "contextId": "reuse-ctx", "messageId": "reused-1", "role": "user", "kind": "message"});
    let again = client.send(reordered, true).await;
    assert_eq!(again["id"], first["id"], "the same message, keys reordered, is a resend");

    let current = client.act(json!({"action": "get_checkout"}), Some("reuse-ctx")).await;
    assert_eq!(quantity(&checkout_of(&current).unwrap(), "BISC-001"), 1, "the refused message added nothing");
}
