//! Answers that can never succeed (content blocked, a bad request, too many steps) fail that
//! task with a clear message, commit none of its tool effects, and the conversation goes on.

use serde_json::{json, Value};
use testkit::client::message;
use testkit::{FakeLlm, Stack, StackOptions};

fn chat(text: &str) -> Value {
    json!([{ "kind": "text", "text": text }])
}

fn status_text(task: &Value) -> String {
    task["status"]["message"]["parts"][0]["text"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn unanswerable_turns_fail_and_the_conversation_goes_on() {
    let llm = FakeLlm::start().await;
    let mut env = llm.env("gemini");
    env.push(("LLM_MAX_STEPS".into(), "3".into()));
    let stack = Stack::start(StackOptions {
        workers: 1,
        worker_env: env,
        ..Default::default()
    })
    .await;
    let client = stack.client("unlucky");
    let ctx = Some("failing-ctx");

    let blocked = client.send(message(chat("blocked"), ctx), true).await;
    assert_eq!(blocked["status"]["state"], "failed", "{blocked}");
    assert!(status_text(&blocked).contains("could not answer"), "{blocked}");
    assert!(status_text(&blocked).contains("SAFETY"), "{blocked}");

    llm.fail_next(1, 400, None);
    let refused = client.send(message(chat("cookies"), ctx), true).await;
    assert_eq!(refused["status"]["state"], "failed", "{refused}");
    assert!(status_text(&refused).contains("HTTP 400"), "{refused}");

    let looping = "call add_to_checkout {\"product_id\": \"BISC-001\", \"quantity\": 1}\nloop forever";
    let looped = client.send(message(chat(looping), ctx), true).await;
    assert_eq!(looped["status"]["state"], "failed", "{looped}");
    assert!(status_text(&looped).contains("more than 3 model calls"), "{looped}");
    assert_eq!(stack.db.count("checkouts").await, 0, "a failed turn commits none of its tool effects");

    let fine = client.send(message(chat("cookies"), ctx), true).await;
    assert_eq!(fine["status"]["state"], "completed", "the conversation goes on: {fine}");
}
