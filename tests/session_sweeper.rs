//! `SESSION_TTL`: an idle session is deleted with its turns' journals, and the open checkout
//! expires with it (per its `expires_at`).

use std::time::Duration;

use serde_json::json;
use testkit::client::{checkout_of, message};
use testkit::{FakeLlm, Stack, StackOptions};

#[tokio::test]
async fn idle_sessions_and_their_journals_are_swept() {
    let llm = FakeLlm::start().await;
    let mut env = llm.env("gemini");
    env.push(("SESSION_TTL".into(), "2".into()));
    let stack = Stack::start(StackOptions {
        workers: 1,
        worker_env: env,
        ..Default::default()
    })
    .await;
    let client = stack.client("forgetful");
    let text = "call add_to_checkout {\"product_id\": \"BISC-001\", \"quantity\": 1}";
    let task = client.send(message(json!([{ "kind": "text", "text": text }]), Some("idle-ctx")), true).await;
    assert_eq!(task["status"]["state"], "completed", "{task}");
    assert_eq!(stack.db.count("sessions").await, 1);
    assert_eq!(stack.db.count("turn_journal").await, 2);

    let pool = stack.db.pool.clone();
    testkit::eventually(Duration::from_secs(20), "the idle session and its journal to be swept", || {
        let pool = pool.clone();
        async move {
            let left: i64 = sqlx::query_scalar("SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM turn_journal)")
                .fetch_one(&pool)
                .await
                .ok()?;
            (left == 0).then_some(())
        }
    })
    .await;
    let status: String = sqlx::query_scalar("SELECT status::text FROM checkouts").fetch_one(&pool).await.unwrap();
    assert_eq!(status, "canceled", "the open checkout expired");
    let tasks = stack.db.count("tasks").await;
    assert_eq!(tasks, 1, "the task itself stays");

    let shown = client.act(json!({"action": "get_checkout"}), Some("idle-ctx")).await;
    let checkout = checkout_of(&shown).expect("the expired checkout is reported");
    assert_eq!(checkout["messages"][0]["code"], "checkout_expired", "{checkout}");
}
