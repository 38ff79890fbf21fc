//! Per-checkout order with several workers: bursts of interleaved messages on many checkouts
//! are each applied exactly once, in the order the ingress accepted them.

use std::collections::HashMap;
use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};
use testkit::client::{action, message, quantity};
use testkit::{Stack, StackOptions};

const CHECKOUTS: usize = 16;
const MESSAGES_PER_CHECKOUT: i64 = 24;

/// The message with sequence `seq` (1-based) of a checkout: odd steps set BISC-001's quantity
/// to `seq` (so the last applied one wins), even steps add one STRAW-001 (so each applied one
/// counts).
fn step(seq: i64) -> Value {
    match seq {
        1 => json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1}),
        s if s % 2 == 1 => json!({"action": "update_checkout", "product_id": "BISC-001", "quantity": s}),
        _ => json!({"action": "add_to_checkout", "product_id": "STRAW-001", "quantity": 1}),
    }
}

/// What the checkout must hold right after message `seq` if every earlier message was applied
/// once and in order: (BISC-001 quantity, STRAW-001 quantity).
fn expected_after(seq: i64) -> (i64, i64) {
    let bisc = if seq % 2 == 1 { seq } else { seq - 1 };
    (bisc, seq / 2)
}

/// Three workers, sixteen checkouts, 24 non-blocking messages each sent back to back while all
/// checkouts are sent to at once: every task's own checkout snapshot shows exactly the effects
/// of the messages before it, so each message was applied once and in acceptance order.
#[tokio::test]
async fn interleaved_bursts_apply_once_in_order_per_checkout() {
    let stack = Stack::start(StackOptions {
        workers: 3,
        partitions: 4,
        ..Default::default()
    })
    .await;
    let client = stack.client("orderly");
    let senders = (0..CHECKOUTS).map(|k| {
        let client = client.clone();
        async move {
            let context_id = format!("order-{k}");
            for seq in 1..=MESSAGES_PER_CHECKOUT {
                let task = client.send(message(action(step(seq)), Some(&context_id)), false).await;
                assert_eq!(task["status"]["state"], "submitted");
            }
        }
    });
    join_all(senders).await;

    let total = (CHECKOUTS as i64) * MESSAGES_PER_CHECKOUT;
    let pool = stack.db.pool.clone();
    testkit::eventually(Duration::from_secs(60), "every task to complete", || {
        let pool = pool.clone();
        async move {
            let done: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks WHERE state = 'completed'")
                .fetch_one(&pool)
                .await
                .ok()?;
            (done == total).then_some(())
        }
    })
    .await;

    let rows: Vec<(String, i64, Value)> =
        sqlx::query_as("SELECT context_id, seq, reply FROM tasks ORDER BY context_id, seq")
            .fetch_all(&stack.db.pool)
            .await
            .unwrap();
    assert_eq!(rows.len() as i64, total);
    let mut last: HashMap<String, i64> = HashMap::new();
    for (context_id, seq, reply) in rows {
        let checkout = reply["parts"]
            .as_array()
            .and_then(|parts| parts.iter().find_map(|p| p["data"].get("a2a.ucp.checkout").cloned()))
            .unwrap_or_else(|| panic!("task {context_id}#{seq} has no checkout: {reply}"));
        let got = (quantity(&checkout, "BISC-001"), quantity(&checkout, "STRAW-001"));
        assert_eq!(got, expected_after(seq), "checkout {context_id} after message {seq}");
        last.insert(context_id, seq);
    }
    assert_eq!(last.len(), CHECKOUTS);
    let processed = stack.db.count("processed_messages").await;
    assert_eq!(processed, total, "each message recorded as processed once");
    let applied: Vec<i64> = sqlx::query_scalar("SELECT applied_seq FROM contexts")
        .fetch_all(&stack.db.pool)
        .await
        .unwrap();
    assert!(applied.iter().all(|&s| s == MESSAGES_PER_CHECKOUT), "{applied:?}");
}
