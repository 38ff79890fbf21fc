//! The stuck-task sweeper: a chat turn that hangs in a live worker (the worker holds the message
//! and keeps it alive, the task stays `working`, nothing changes) is failed visibly once it has
//! made no progress for `STUCK_TASK_AFTER`, its effects never apply, the worker lets the turn go,
//! and the conversation's next message runs.

use std::time::Duration;

use serde_json::json;
use testkit::client::{action, checkout_of, message_with_id, quantity};
use testkit::metrics::{sample, scrape};
use testkit::{FakeLlm, Stack, StackOptions};

#[tokio::test]
async fn a_turn_that_makes_no_progress_is_failed_and_its_conversation_goes_on() {
    let llm = FakeLlm::start().await;
    let marker = format!("hang-{}", uuid::Uuid::new_v4().simple());
    let mut worker_env = llm.env("openai");
    worker_env.push(("STUCK_TASK_AFTER".to_owned(), "3".to_owned()));
    let stack = Stack::start(StackOptions {
        workers: 1,
        worker_env,
        // Stops the turn after the model's first reply, forever, in the live worker.
        first_worker_env: vec![("CARTWRIGHT_FAULT".to_owned(), format!("after_model_reply:{marker}"))],
        ..Default::default()
    })
    .await;
    let client = stack.client("stuck-user");
    let text = "call add_to_checkout {\"product_id\": \"BISC-001\", \"quantity\": 1}";
    let hung = client
        .send(message_with_id(&format!("{marker}-1"), json!([{ "kind": "text", "text": text }]), Some("stuck-ctx")), false)
        .await;
    let hung_id = hung["id"].as_str().expect("a task id").to_owned();
    stack.workers[0].wait_for_log("fault point reached", Duration::from_secs(20)).await;
    let next = client
        .send(
            message_with_id(
                "after-hang-2",
                action(json!({"action": "add_to_checkout", "product_id": "CHIPS-001", "quantity": 2})),
                Some("stuck-ctx"),
            ),
            false,
        )
        .await;
    let next_id = next["id"].as_str().expect("a task id").to_owned();
    let waiting = client.get_task(&next_id).await;
    assert_eq!(waiting["status"]["state"], "submitted", "the next message waits behind the hung turn: {waiting}");

    let failed = client.wait_for_state(&hung_id, "failed", Duration::from_secs(30)).await;
    let reply = failed["status"]["message"]["parts"][0]["text"].as_str().unwrap_or_default();
    assert!(reply.contains("made no progress for 3 s"), "the failure says why: {failed}");
    let done = client.wait_for_state(&next_id, "completed", Duration::from_secs(30)).await;
    let checkout = checkout_of(&done).expect("a checkout");
    assert_eq!(quantity(&checkout, "CHIPS-001"), 2, "{checkout}");
    assert_eq!(quantity(&checkout, "BISC-001"), 0, "the failed turn's effect never applied: {checkout}");

    let worker = &stack.workers[0];
    worker.wait_for_log("task stuck in working failed", Duration::from_secs(5)).await;
    worker.wait_for_log("the turn is let go", Duration::from_secs(10)).await;
    let metrics = scrape(&stack.worker_url(0)).await;
    assert_eq!(sample(&metrics, r#"cartwright_stuck_tasks_total{action="failed"}"#), Some(1.0), "{metrics}");
    assert_eq!(sample(&metrics, r#"cartwright_stuck_tasks_total{action="abandoned"}"#), Some(1.0), "{metrics}");
    testkit::eventually(Duration::from_secs(20), "the hung turn's message to be acknowledged", || async {
        let metrics = scrape(&stack.worker_url(0)).await;
        (sample(&metrics, "cartwright_queue_depth_total") == Some(0.0)).then_some(())
    })
    .await;
}
