//! The reconciler: a task recorded in PostgreSQL whose publish never happened (the ingress died
//! between its commit and its publish) is republished and applied, exactly once.

use std::time::Duration;

use serde_json::json;
use store::tasks::{Accepted, NewTask};
use testkit::{Stack, StackOptions};

/// A task written straight into the store, as an ingress that crashed before publishing would
/// leave it, completes within the reconciler's window.
#[tokio::test]
async fn task_recorded_but_never_published_is_applied_once() {
    let stack = Stack::start(StackOptions::with_workers(2)).await;
    let id = uuid::Uuid::new_v4();
    let request = json!({"kind": "message", "role": "user", "messageId": "orphan-1", "contextId": "orphan-ctx",
        "taskId": id.to_string(),
        "parts": [{"kind": "data", "data": {"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 2}}]});
    let task = NewTask {
        id,
        principal: "orphan".into(),
        context_id: "orphan-ctx".into(),
        message_id: "orphan-1".into(),
        request: serde_json::from_value(request).expect("a message"),
        request_digest: b"orphan".to_vec(),
        sealed_credential: None,
        capabilities: Default::default(),
    };
    let accepted = store::tasks::accept(&stack.db.pool, vec![task]).await;
    assert!(matches!(accepted.as_slice(), [Ok(Accepted::New(_))]));

    let pool = stack.db.pool.clone();
    testkit::eventually(
        Duration::from_secs(40),
        "the reconciler to republish and a worker to apply the task",
        || {
            let pool = pool.clone();
            async move {
                let state: String = sqlx::query_scalar("SELECT state::text FROM tasks WHERE id = $1")
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .ok()?;
                (state == "completed").then_some(())
            }
        },
    )
    .await;
    let processed: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_messages WHERE task_id = $1")
        .bind(id)
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(processed, 1);
    let quantity: i64 = sqlx::query_scalar(
        "SELECT (body->'line_items'->0->>'quantity')::bigint FROM checkouts WHERE principal = 'orphan'",
    )
    .fetch_one(&stack.db.pool)
    .await
    .unwrap();
    assert_eq!(quantity, 2);
}
