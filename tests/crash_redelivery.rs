//! A worker SIGKILLed in the middle of a turn: the task still completes, exactly once.
//!
//! The first worker is started with a fault point that stops it at one place of one task's
//! turn (see workers/src/fault.rs); the test waits for it to report reaching that place,
//! SIGKILLs it, starts a healthy worker, and checks the outcome.

use std::time::Duration;

use serde_json::json;
use testkit::client::{action, checkout_of, message_with_id, quantity};
use testkit::{Stack, StackOptions};

async fn crash_at(point: &str) -> Stack {
    let marker = format!("crash-{}", uuid::Uuid::new_v4().simple());
    let options = StackOptions {
        workers: 1,
        ack_wait: 3,
        first_worker_env: vec![("CARTWRIGHT_FAULT".to_owned(), format!("{point}:{marker}"))],
        ..Default::default()
    };
    let mut stack = Stack::start(options).await;
    let client = stack.client("crashy");
    let add = action(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1}));
    let task = client
        .send(message_with_id(&format!("{marker}-1"), add, Some("crash-ctx")), false)
        .await;
    let task_id = task["id"].as_str().unwrap().to_owned();

    stack.workers[0]
        .wait_for_log("fault point reached", Duration::from_secs(20))
        .await;
    stack.workers[0].kill9().await;
    let survivor = stack.start_worker(&[]).await;

    let done = client
        .wait_for_state(&task_id, "completed", Duration::from_secs(30))
        .await;
    assert_eq!(quantity(&checkout_of(&done).unwrap(), "BISC-001"), 1);

    // The conversation goes on: the next message applies on top of exactly one add.
    let next = client
        .act(
            json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1}),
            Some("crash-ctx"),
        )
        .await;
    assert_eq!(
        quantity(&checkout_of(&next).unwrap(), "BISC-001"),
        2,
        "the crashed turn was applied once"
    );
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_messages WHERE task_id = $1::uuid")
        .bind(&task_id)
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(recorded, 1);
    let _ = survivor;
    stack
}

/// Killed after the commit, before the ack: the redelivery finds the turn applied and only
/// acknowledges it.
#[tokio::test]
async fn killed_after_commit_before_ack_applies_once() {
    let stack = crash_at("after_commit").await;
    stack.workers[1]
        .wait_for_log("duplicate delivery skipped", Duration::from_secs(20))
        .await;
}

/// Killed inside the transaction, before the commit: nothing was applied, and the redelivery
/// applies the turn.
#[tokio::test]
async fn killed_before_commit_applies_on_redelivery() {
    let stack = crash_at("before_commit").await;
    assert!(
        !stack.workers[1].output().contains("duplicate delivery skipped"),
        "the first delivery committed nothing"
    );
}
