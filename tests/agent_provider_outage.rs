//! The provider fails with 500s until the circuit opens: chat turns wait (status `working`,
//! "temporarily unavailable"), later turns of the conversation wait behind them, other
//! conversations' actions keep moving, and once the provider is back every turn completes
//! once and in order.

use std::time::Duration;

use serde_json::{json, Value};
use testkit::client::{checkout_of, message, quantity};
use testkit::fake_llm::Fault;
use testkit::{FakeLlm, Stack, StackOptions};

fn chat(text: &str) -> Value {
    json!([{ "kind": "text", "text": text }])
}

#[tokio::test]
async fn turns_wait_out_an_outage_and_complete_once_in_order() {
    let llm = FakeLlm::start().await;
    let mut env = llm.env("gemini");
    env.extend([
        ("LLM_ATTEMPTS".to_owned(), "2".to_owned()),
        ("LLM_BREAKER_FAILURES".to_owned(), "3".to_owned()),
        ("LLM_BREAKER_COOLDOWN".to_owned(), "1".to_owned()),
    ]);
    let stack = Stack::start(StackOptions {
        workers: 1,
        worker_env: env,
        ..Default::default()
    })
    .await;
    let client = stack.client("patient");
    llm.fail_all(Fault::Status {
        status: 500,
        retry_after: None,
    });

    let add = "call add_to_checkout {\"product_id\": \"BISC-001\", \"quantity\": 1}";
    let mut ids = Vec::new();
    for _ in 0..3 {
        let task = client.send(message(chat(add), Some("outage-ctx")), false).await;
        ids.push(task["id"].as_str().unwrap().to_owned());
    }
    let first = testkit::eventually(Duration::from_secs(20), "the first turn to say the assistant is unavailable", || {
        let client = client.clone();
        let id = ids[0].clone();
        async move {
            let task = client.get_task(&id).await;
            let text = task["status"]["message"]["parts"][0]["text"].as_str().unwrap_or_default().to_owned();
            text.contains("temporarily unavailable").then_some(task)
        }
    })
    .await;
    assert_eq!(first["status"]["state"], "working", "{first}");
    stack.workers[0].wait_for_log("circuit opened", Duration::from_secs(20)).await;
    for id in &ids[1..] {
        let task = client.get_task(id).await;
        assert_eq!(task["status"]["state"], "submitted", "later turns wait behind the first: {task}");
    }

    // Deterministic actions of another conversation do not wait for the model.
    let other = client
        .act(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 5}), Some("other-ctx"))
        .await;
    assert_eq!(other["status"]["state"], "completed", "{other}");

    let calls_during_outage = llm.received().len();
    llm.recover();
    let mut finished = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let task = client.wait_for_state(id, "completed", Duration::from_secs(30)).await;
        assert_eq!(
            quantity(&checkout_of(&task).expect("a checkout"), "BISC-001"),
            n as i64 + 1,
            "each turn applied once, on top of the one before: {task}"
        );
        finished.push(task["status"]["timestamp"].as_str().unwrap().to_owned());
    }
    assert!(finished.windows(2).all(|w| w[0] <= w[1]), "status times follow the conversation's order: {finished:?}");
    assert_eq!(llm.answered(), 6, "two model calls per turn once the provider is back");
    assert!(calls_during_outage >= 3, "the provider was tried until its circuit opened");
    let failed: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks WHERE state = 'failed'")
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(failed, 0, "waiting burned no turn");
}
