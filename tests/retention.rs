//! Retention: processed-message records past `PROCESSED_RETENTION`, finished tasks past
//! `TASK_RETENTION` (with their journals) and conversations left with nothing are purged by the
//! workers' background job; recent records, and conversations that still hold a checkout, stay.

use std::time::Duration;

use serde_json::json;
use testkit::{eventually, Stack, StackOptions};

#[tokio::test]
async fn records_past_retention_are_purged_and_recent_ones_kept() {
    let mut stack = Stack::start(StackOptions::with_workers(1)).await;
    let client = stack.client("keeper");
    let add = json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1});
    let search = json!({"action": "search_shopping_catalog", "query": "cookies"});
    for (action, ctx) in [(&add, "old-ctx"), (&add, "old-ctx"), (&search, "idle-ctx"), (&add, "new-ctx")] {
        let task = client.act(action.clone(), Some(ctx)).await;
        assert_eq!(task["status"]["state"], "completed", "{task}");
    }
    stack.workers[0].terminate(Duration::from_secs(15)).await;
    let pool = stack.db.pool.clone();
    for statement in [
        "UPDATE processed_messages SET processed_at = now() - interval '3 days'
         WHERE task_id IN (SELECT id FROM tasks WHERE context_id IN ('old-ctx', 'idle-ctx'))",
        "UPDATE tasks SET finished_at = now() - interval '40 days' WHERE context_id IN ('old-ctx', 'idle-ctx')",
        "UPDATE contexts SET updated_at = now() - interval '40 days' WHERE context_id IN ('old-ctx', 'idle-ctx')",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }

    let index = stack.start_worker(&[]).await;
    let pool = &pool;
    let count = |sql: &'static str| async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await.unwrap() };
    eventually(Duration::from_secs(30), "the old tasks to be purged", || async {
        (count("SELECT count(*) FROM tasks WHERE context_id IN ('old-ctx', 'idle-ctx')").await == 0).then_some(())
    })
    .await;
    assert_eq!(count("SELECT count(*) FROM processed_messages").await, 1, "only the recent record is left");
    assert_eq!(count("SELECT count(*) FROM tasks WHERE context_id = 'new-ctx'").await, 1);
    assert_eq!(
        count("SELECT count(*) FROM contexts WHERE context_id = 'idle-ctx'").await,
        0,
        "a conversation with nothing left goes"
    );
    assert_eq!(
        count("SELECT count(*) FROM contexts WHERE context_id = 'old-ctx'").await,
        1,
        "a conversation holding a checkout stays"
    );
    let metrics = reqwest::get(format!("{}/metrics", stack.worker_url(index))).await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"cartwright_purged_total{table="tasks"} 3"#), "{metrics}");

    // The conversation goes on after its old tasks are gone.
    let next = client.act(add.clone(), Some("old-ctx")).await;
    assert_eq!(next["status"]["state"], "completed", "{next}");
}
