//! Chat turns run by a model (the fake provider, in each wire format): multi-step tool use
//! against the conversation's checkout, the model's text beside the structured results, usage
//! in the task's metadata, and the session's history in the next turn's request.

use serde_json::{json, Value};
use testkit::client::{checkout_of, data_part, message, quantity};
use testkit::{FakeLlm, Stack, StackOptions};

fn chat(text: &str) -> Value {
    json!([{ "kind": "text", "text": text }])
}

async fn multi_step_tool_use(dialect: &str) {
    let llm = FakeLlm::start().await;
    let options = StackOptions {
        workers: 1,
        worker_env: llm.env(dialect),
        ..Default::default()
    };
    let stack = Stack::start(options).await;
    let client = stack.client("shopper");
    let context = format!("agent-{dialect}");

    let script = "call search_shopping_catalog {\"query\": \"cookies\"}\n\
                  call add_to_checkout {\"product_id\": \"BISC-001\", \"quantity\": 2}";
    let task = client.send(message(chat(script), Some(&context)), true).await;
    assert_eq!(task["status"]["state"], "completed", "{task}");
    let text = task["status"]["message"]["parts"][0]["text"].as_str().unwrap_or_default();
    assert_eq!(text, "Fake model answer after 2 tool step(s): Done: add_to_checkout.", "{task}");
    let results = data_part(&task, "a2a.product_results").expect("the search results reach the client");
    assert!(!results["results"].as_array().unwrap().is_empty(), "{results}");
    let checkout = checkout_of(&task).expect("the checkout reaches the client");
    assert_eq!(quantity(&checkout, "BISC-001"), 2);
    let usage = &task["metadata"]["usage"];
    assert_eq!(usage["model_calls"], 3, "two tool steps and the answer: {task}");
    assert!(usage["total_tokens"].as_i64().unwrap() > 0, "{usage}");
    assert_eq!(llm.answered(), 3);
    assert!(
        llm.received().iter().all(|r| r.dialect == dialect && r.key.as_deref() == Some(&format!("fake-{dialect}-key")[..])),
        "every call went to the configured dialect with its key"
    );

    // The next turn sees the first one in its history and the checkout as it was left.
    let task = client.send(message(chat("call get_checkout"), Some(&context)), true).await;
    assert_eq!(task["status"]["state"], "completed", "{task}");
    assert_eq!(quantity(&checkout_of(&task).unwrap(), "BISC-001"), 2);
    let last = llm.received().last().cloned().expect("a request");
    let sent = last.body.to_string();
    assert!(sent.contains("Fake model answer after 2 tool step(s)"), "history reaches the model: {sent}");
    assert!(sent.contains("BISC-001"), "the open checkout is described to the model");

    let exchanges: i64 = sqlx::query_scalar("SELECT jsonb_array_length(history)::bigint FROM sessions WHERE context_id = $1")
        .bind(&context)
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(exchanges, 2);
    let journaled: i64 = sqlx::query_scalar("SELECT count(*) FROM turn_journal").fetch_one(&stack.db.pool).await.unwrap();
    assert_eq!(journaled, 3 + 2, "every model reply was journaled");
}

#[tokio::test]
async fn gemini_multi_step_tool_use() {
    multi_step_tool_use("gemini").await;
}

#[tokio::test]
async fn openai_multi_step_tool_use() {
    multi_step_tool_use("openai").await;
}

/// The history the model is shown is bounded by `LLM_HISTORY_TURNS`.
#[tokio::test]
async fn history_is_bounded() {
    let llm = FakeLlm::start().await;
    let mut env = llm.env("gemini");
    env.push(("LLM_HISTORY_TURNS".into(), "2".into()));
    let stack = Stack::start(StackOptions {
        workers: 1,
        worker_env: env,
        ..Default::default()
    })
    .await;
    let client = stack.client("talker");
    for i in 0..4 {
        let task = client.send(message(chat(&format!("turn number {i}")), Some("long-talk")), true).await;
        assert_eq!(task["status"]["state"], "completed", "{task}");
    }
    let last = llm.received().last().cloned().expect("a request").body;
    let users: Vec<&str> = last["contents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["role"] == "user")
        .filter_map(|c| c["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(users, ["turn number 1", "turn number 2", "turn number 3"], "two earlier turns, then this one");
}
