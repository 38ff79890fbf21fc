//! A worker SIGKILLed after the model answered and before the turn committed: the redelivery
//! replays the journaled reply instead of calling (and paying) the provider again, makes the
//! same decisions, and commits the turn's effects once.

use std::time::Duration;

use serde_json::json;
use testkit::client::{checkout_of, message_with_id, quantity};
use testkit::{FakeLlm, Stack, StackOptions};

#[tokio::test]
async fn killed_after_the_model_answered_replays_the_journal() {
    let llm = FakeLlm::start().await;
    let marker = format!("crash-{}", uuid::Uuid::new_v4().simple());
    let mut stack = Stack::start(StackOptions {
        workers: 1,
        ack_wait: 3,
        worker_env: llm.env("openai"),
        first_worker_env: vec![("CARTWRIGHT_FAULT".to_owned(), format!("after_model_reply:{marker}"))],
        ..Default::default()
    })
    .await;
    let client = stack.client("crashy");
    let text = "call add_to_checkout {\"product_id\": \"BISC-001\", \"quantity\": 1}";
    let task = client
        .send(message_with_id(&format!("{marker}-1"), json!([{ "kind": "text", "text": text }]), Some("replay-ctx")), false)
        .await;
    let task_id = task["id"].as_str().unwrap().to_owned();

    stack.workers[0].wait_for_log("fault point reached", Duration::from_secs(20)).await;
    assert_eq!(llm.answered(), 1, "the model answered the first step");
    stack.workers[0].kill9().await;
    stack.start_worker(&[]).await;

    let done = client.wait_for_state(&task_id, "completed", Duration::from_secs(30)).await;
    assert_eq!(quantity(&checkout_of(&done).expect("a checkout"), "BISC-001"), 1, "{done}");
    assert_eq!(llm.answered(), 2, "the journaled step was not asked again; only the answer step was");
    assert_eq!(done["metadata"]["usage"]["model_calls"], 2);
    let checkouts = stack.db.count("checkouts").await;
    assert_eq!(checkouts, 1, "one effect");
    let journal: i64 = sqlx::query_scalar("SELECT count(*) FROM turn_journal WHERE task_id = $1::uuid")
        .bind(&task_id)
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(journal, 2);
}
