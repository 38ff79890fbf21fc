//! The reconciler as the housekeeping job it is: one pass at a time across all workers (while
//! another session holds its advisory lock, no worker reconciles), and what it republishes is
//! only what JetStream lost: a task queued behind a turn in progress, and the tasks parked behind
//! it, are left alone however long they wait, so a backlog never gets copies of itself.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use store::tasks::{Accepted, NewTask};
use testkit::client::{action, message_with_id};
use testkit::metrics::{sample, scrape};
use testkit::{FakeLlm, Stack, StackOptions};

/// Messages stored in all task streams (work queues: an acknowledged message is gone).
async fn stored_task_messages(stack: &Stack) -> u64 {
    let client = async_nats::connect(stack.nats.url()).await.expect("connect to nats");
    let js = async_nats::jetstream::new(client);
    let names: Vec<String> = js.stream_names().filter_map(|n| async move { n.ok() }).collect().await;
    let mut total = 0;
    for name in names.iter().filter(|n| n.starts_with("CARTWRIGHT_TASKS")) {
        let mut stream = js.get_stream(name).await.expect("a task stream");
        total += stream.info().await.expect("stream info").state.messages;
    }
    total
}

/// A task recorded in the store and never published (an ingress that died in between).
async fn orphan(stack: &Stack) -> uuid::Uuid {
    let id = uuid::Uuid::new_v4();
    let request = json!({"kind": "message", "role": "user", "messageId": "orphan-1", "contextId": "orphan-ctx",
        "taskId": id.to_string(),
        "parts": [{"kind": "data", "data": {"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1}}]});
    let task = NewTask {
        id,
        principal: "orphan".into(),
        context_id: "orphan-ctx".into(),
        message_id: "orphan-1".into(),
        request: serde_json::from_value(request).expect("a message"),
        request_digest: b"orphan".to_vec(),
        sealed_credential: None,
        capabilities: Vec::new(),
    };
    let accepted = store::tasks::accept(&stack.db.pool, vec![task]).await;
    assert!(matches!(accepted.as_slice(), [Ok(Accepted::New(_))]));
    id
}

async fn state(stack: &Stack, id: uuid::Uuid) -> String {
    sqlx::query_scalar("SELECT state::text FROM tasks WHERE id = $1")
        .bind(id)
        .fetch_one(&stack.db.pool)
        .await
        .expect("the task")
}

async fn counter(stack: &Stack, series: &str) -> f64 {
    sample(&scrape(&stack.worker_url(0)).await, series).unwrap_or(0.0)
}

#[tokio::test]
async fn one_pass_at_a_time_and_only_lost_tasks_are_republished() {
    let llm = FakeLlm::start().await;
    let marker = format!("slow-{}", uuid::Uuid::new_v4().simple());
    let mut worker_env = llm.env("openai");
    worker_env.push(("RECONCILE_AFTER".to_owned(), "1".to_owned()));
    let stack = Stack::start(StackOptions {
        workers: 1,
        worker_env,
        // A turn in progress that does not end while the test runs.
        first_worker_env: vec![("CARTWRIGHT_FAULT".to_owned(), format!("after_model_reply:{marker}"))],
        ..Default::default()
    })
    .await;

    // Another session holds the reconciler's lock: no worker may reconcile.
    let mut holder = stack.db.pool.acquire().await.expect("a connection");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(store::singleton::RECONCILER)
        .execute(&mut *holder)
        .await
        .expect("take the reconciler's lock");
    let ran_before = counter(&stack, r#"cartwright_reconciler_passes_total{outcome="ran"}"#).await;

    let client = stack.client("busy");
    let text = "call add_to_checkout {\"product_id\": \"BISC-001\", \"quantity\": 1}";
    client
        .send(message_with_id(&format!("{marker}-1"), json!([{ "kind": "text", "text": text }]), Some("busy-ctx")), false)
        .await;
    stack.workers[0].wait_for_log("fault point reached", Duration::from_secs(20)).await;
    for n in 2..=3 {
        let add = action(json!({"action": "add_to_checkout", "product_id": "CHIPS-001", "quantity": n}));
        client.send(message_with_id(&format!("busy-{n}"), add, Some("busy-ctx")), false).await;
    }
    let lost = orphan(&stack).await;

    testkit::eventually(Duration::from_secs(30), "two reconciler passes skipped for the held lock", || async {
        let skipped = counter(&stack, r#"cartwright_reconciler_passes_total{outcome="skipped"}"#).await;
        (skipped >= 2.0).then_some(())
    })
    .await;
    assert_eq!(state(&stack, lost).await, "submitted", "nothing republished while another session holds the lock");
    assert_eq!(
        counter(&stack, r#"cartwright_reconciler_passes_total{outcome="ran"}"#).await,
        ran_before,
        "no pass ran while the lock was held"
    );

    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(store::singleton::RECONCILER)
        .execute(&mut *holder)
        .await
        .expect("give the lock back");
    testkit::eventually(Duration::from_secs(30), "the lost task to be republished and applied", || async {
        (state(&stack, lost).await == "completed").then_some(())
    })
    .await;
    let ran = counter(&stack, r#"cartwright_reconciler_passes_total{outcome="ran"}"#).await;
    testkit::eventually(Duration::from_secs(30), "two more reconciler passes", || async {
        let now = counter(&stack, r#"cartwright_reconciler_passes_total{outcome="ran"}"#).await;
        (now >= ran + 2.0).then_some(())
    })
    .await;
    let metrics = scrape(&stack.worker_url(0)).await;
    assert_eq!(
        sample(&metrics, r#"cartwright_reconciler_tasks_total{outcome="republished"}"#),
        Some(1.0),
        "only the lost task was republished: {metrics}"
    );
    assert!(
        sample(&metrics, r#"cartwright_reconciler_tasks_total{outcome="queued"}"#).unwrap_or(0.0) >= 2.0,
        "the turn in progress was looked at on every pass and left alone: {metrics}"
    );
    assert_eq!(
        stored_task_messages(&stack).await,
        3,
        "the busy conversation's three messages and no copies are in JetStream"
    );
}
