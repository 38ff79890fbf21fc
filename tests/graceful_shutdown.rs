//! SIGTERM to a worker: it stops pulling and gives back at once what it holds (a turn waiting
//! for its provider, the messages queued behind it), so it exits without using its grace period
//! and another worker picks the messages up at once, not after `ack_wait`.

use std::time::Duration;

use serde_json::json;
use testkit::client::message;
use testkit::fake_llm::Fault;
use testkit::{eventually, FakeLlm, Stack, StackOptions};

#[tokio::test]
async fn a_stopping_worker_releases_waiting_and_queued_messages_at_once() {
    let llm = FakeLlm::start().await;
    let mut env = llm.env("gemini");
    env.extend([
        ("LLM_ATTEMPTS".to_owned(), "1".to_owned()),
        ("LLM_BREAKER_FAILURES".to_owned(), "1".to_owned()),
        ("LLM_BREAKER_COOLDOWN".to_owned(), "30".to_owned()),
    ]);
    let mut stack = Stack::start(StackOptions {
        workers: 1,
        // Long enough that a message left to time out would not be redelivered within the
        // test's waits.
        ack_wait: 120,
        worker_env: env.clone(),
        ..Default::default()
    })
    .await;
    let client = stack.client("leaving");
    llm.fail_all(Fault::Status {
        status: 500,
        retry_after: None,
    });
    let chat = json!([{ "kind": "text", "text": "call add_to_checkout {\"product_id\": \"BISC-001\", \"quantity\": 1}" }]);
    let mut ids = Vec::new();
    for ctx in ["leaving-a", "leaving-a", "leaving-a", "leaving-b"] {
        let task = client.send(message(chat.clone(), Some(ctx)), false).await;
        ids.push(task["id"].as_str().unwrap().to_owned());
    }
    eventually(Duration::from_secs(20), "the first turn to wait for its provider", || {
        let client = client.clone();
        let id = ids[0].clone();
        async move {
            let task = client.get_task(&id).await;
            let text = task["status"]["message"]["parts"][0]["text"].as_str().unwrap_or_default().to_owned();
            text.contains("temporarily unavailable").then_some(())
        }
    })
    .await;

    stack.workers[0].terminate(Duration::from_secs(60)).await;
    let said = stack.workers[0].output();
    assert!(said.contains("worker stopped"), "the worker exited by itself: {said}");
    assert!(
        !said.contains("turns still running after the grace period"),
        "nothing held the shutdown for the grace period: {said}"
    );

    llm.recover();
    stack.start_worker(&env).await;
    for id in &ids {
        // Well within ACK_WAIT (120 s): the messages were given back, not left to time out.
        client.wait_for_state(id, "completed", Duration::from_secs(30)).await;
    }
}
