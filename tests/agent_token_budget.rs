//! The daily token budget per principal (`LLM_DAILY_TOKENS_PER_PRINCIPAL`): once a caller's
//! turns have used it, further chat messages are refused with HTTP 429 and JSON-RPC -32050
//! until 00:00 UTC; a chat turn already queued fails with a clear message; actions and other
//! callers are not affected.

use std::time::Duration;

use serde_json::{json, Value};
use testkit::client::message;
use testkit::{FakeLlm, Stack, StackOptions};

fn chat(text: &str) -> Value {
    json!([{ "kind": "text", "text": text }])
}

#[tokio::test]
async fn a_spent_budget_refuses_chat_until_tomorrow() {
    let llm = FakeLlm::start().await;
    llm.set_latency(Duration::from_millis(400));
    let stack = Stack::start(StackOptions {
        workers: 1,
        worker_env: llm.env("openai"),
        env: vec![("LLM_DAILY_TOKENS_PER_PRINCIPAL".into(), "10".into())],
        ..Default::default()
    })
    .await;
    let client = stack.client("spender");

    // Both accepted while nothing is spent; the first spends the budget, the second then fails.
    let first = client.send(message(chat("cookies"), Some("budget-ctx")), false).await;
    let second = client.send(message(chat("more cookies"), Some("budget-ctx")), false).await;
    let first = client.wait_for_state(first["id"].as_str().unwrap(), "completed", Duration::from_secs(20)).await;
    assert!(first["metadata"]["usage"]["total_tokens"].as_i64().unwrap() > 10, "{first}");
    let second = client.wait_for_state(second["id"].as_str().unwrap(), "failed", Duration::from_secs(20)).await;
    let text = second["status"]["message"]["parts"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("daily budget"), "{second}");

    let response = client.send_raw(&message(chat("and more"), Some("budget-ctx")), true).await.unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry_after), "Retry-After runs to midnight UTC: {retry_after}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32050, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("00:00 UTC"), "{body}");

    let action = client
        .act(json!({"action": "search_shopping_catalog", "query": "cookies"}), Some("budget-ctx"))
        .await;
    assert_eq!(action["status"]["state"], "completed", "actions need no model: {action}");
    let other = stack.client("frugal").send(message(chat("cookies"), None), true).await;
    assert_eq!(other["status"]["state"], "completed", "another caller has its own budget: {other}");
    let spent: i64 = sqlx::query_scalar("SELECT sum(tokens)::bigint FROM principal_usage WHERE principal = 'spender'")
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(spent, first["metadata"]["usage"]["total_tokens"].as_i64().unwrap());
}
