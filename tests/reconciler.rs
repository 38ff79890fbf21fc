//! The reconciler as the housekeeping job it is: one pass at a time across all workers (while
//! another session holds its advisory lock, no worker reconciles); a lost task is republished
//! although the messages of its conversation behind it are parked in a worker (they wait for it,
//! they do not hide it); and a task merely queued in a backlog the workers have not pulled yet is
//! left alone however long it waits, so a backlog never gets copies of itself; and a lost task
//! whose parked successors fill its partition's `max_ack_pending` (so no copy of it could be
//! delivered) is fetched from the database by the worker that holds them.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use store::tasks::{Accepted, NewTask};
use testkit::client::{action, checkout_of, message_with_id, quantity};
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

/// A task recorded in the store and never published (an ingress that died in between): the
/// first message of principal `orphan`'s conversation `orphan-ctx`.
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
        capabilities: Default::default(),
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

async fn updated_at(stack: &Stack, id: &str) -> f64 {
    sqlx::query_scalar("SELECT extract(epoch FROM updated_at)::float8 FROM tasks WHERE id = $1::uuid")
        .bind(id)
        .fetch_one(&stack.db.pool)
        .await
        .expect("the task")
}

#[tokio::test]
async fn one_pass_at_a_time_and_a_lost_task_is_found_behind_parked_ones() {
    let stack = Stack::start(StackOptions {
        workers: 1,
        worker_env: vec![
            ("RECONCILE_AFTER".to_owned(), "1".to_owned()),
            // The reconciler is under test: the worker holding the parked messages must not
            // fetch the lost task itself.
            ("FETCH_PREDECESSOR_AFTER".to_owned(), "600".to_owned()),
        ],
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

    // The conversation's first message is lost; its next two are delivered and parked behind it.
    let lost = orphan(&stack).await;
    let client = stack.client("orphan");
    let mut later = Vec::new();
    for (n, product) in [(2, "CHIPS-001"), (3, "STRAW-001")] {
        let add = action(json!({"action": "add_to_checkout", "product_id": product, "quantity": n}));
        let task = client.send(message_with_id(&format!("orphan-{n}"), add, Some("orphan-ctx")), false).await;
        later.push(task["id"].as_str().expect("a task id").to_owned());
    }

    testkit::eventually(Duration::from_secs(30), "two reconciler passes skipped for the held lock", || async {
        let skipped = counter(&stack, r#"cartwright_reconciler_passes_total{outcome="skipped"}"#).await;
        (skipped >= 2.0).then_some(())
    })
    .await;
    assert_eq!(state(&stack, lost).await, "submitted", "nothing republished while another session holds the lock");
    for id in &later {
        assert_eq!(client.get_task(id).await["status"]["state"], "submitted", "parked behind the lost task");
    }
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
    let last = client.wait_for_state(&later[1], "completed", Duration::from_secs(30)).await;
    assert_eq!(state(&stack, lost).await, "completed");
    let checkout = checkout_of(&last).expect("a checkout");
    for (product, n) in [("BISC-001", 1), ("CHIPS-001", 2), ("STRAW-001", 3)] {
        assert_eq!(quantity(&checkout, product), n, "every turn applied once, in order: {checkout}");
    }
    assert_eq!(
        counter(&stack, r#"cartwright_reconciler_tasks_total{outcome="republished"}"#).await,
        1.0,
        "only the lost task was republished"
    );
    assert_eq!(stored_task_messages(&stack).await, 0, "every message acknowledged, no copy left");
}

#[tokio::test]
async fn a_backlog_the_workers_have_not_pulled_is_left_alone() {
    let llm = FakeLlm::start().await;
    let marker = format!("busy-{}", uuid::Uuid::new_v4().simple());
    let mut worker_env = llm.env("openai");
    for (name, value) in [("RECONCILE_AFTER", "1"), ("MAX_HELD_MESSAGES", "1"), ("PULL_BATCH", "1")] {
        worker_env.push((name.to_owned(), value.to_owned()));
    }
    let stack = Stack::start(StackOptions {
        workers: 1,
        partitions: 1,
        env: vec![("STREAMS".to_owned(), "1".to_owned())],
        worker_env,
        // The one message the worker may hold is a turn that does not end while the test runs.
        first_worker_env: vec![("CARTWRIGHT_FAULT".to_owned(), format!("after_model_reply:{marker}"))],
        ..Default::default()
    })
    .await;
    let client = stack.client("busy");
    let text = "call add_to_checkout {\"product_id\": \"BISC-001\", \"quantity\": 1}";
    client
        .send(message_with_id(&format!("{marker}-1"), json!([{ "kind": "text", "text": text }]), Some("busy-ctx")), false)
        .await;
    stack.workers[0].wait_for_log("fault point reached", Duration::from_secs(20)).await;

    // Six conversations' first messages: the worker may have one of them in its pull buffer,
    // the rest are not delivered.
    let mut backlog = Vec::new();
    for n in 1..=6 {
        let add = action(json!({"action": "add_to_checkout", "product_id": "CHIPS-001", "quantity": 1}));
        let task = client.send(message_with_id(&format!("backlog-{n}"), add, Some(&format!("backlog-{n}"))), false).await;
        backlog.push(task["id"].as_str().expect("a task id").to_owned());
    }
    let queued_tail = &backlog[2..];
    let mut before = Vec::new();
    for id in queued_tail {
        before.push(updated_at(&stack, id).await);
    }
    let ran = counter(&stack, r#"cartwright_reconciler_passes_total{outcome="ran"}"#).await;
    testkit::eventually(Duration::from_secs(40), "three reconciler passes over the backlog", || async {
        let now = counter(&stack, r#"cartwright_reconciler_passes_total{outcome="ran"}"#).await;
        (now >= ran + 3.0).then_some(())
    })
    .await;
    for (id, before) in queued_tail.iter().zip(before) {
        assert_eq!(updated_at(&stack, id).await, before, "queued task {id} was not republished");
        assert_eq!(client.get_task(id).await["status"]["state"], "submitted");
    }
    let queued = counter(&stack, r#"cartwright_reconciler_tasks_total{outcome="queued"}"#).await;
    assert!(queued >= 8.0, "the queued tasks were looked at and left alone on each pass: {queued}");
    assert_eq!(stored_task_messages(&stack).await, 7, "the busy turn and the backlog, no copies");
}

/// The chaos suite's deadlock, made small: the conversation's first message is lost and its
/// successors, delivered and parked behind it, fill the partition consumer's `max_ack_pending`.
/// The server delivers nothing more on that partition, so no republished copy could arrive; the
/// worker holding the parked messages runs the lost task from the database.
#[tokio::test]
async fn a_lost_task_behind_a_full_partition_is_fetched_by_the_worker_holding_its_successors() {
    let stack = Stack::start(StackOptions {
        workers: 1,
        partitions: 1,
        env: vec![("STREAMS".to_owned(), "1".to_owned()), ("MAX_ACK_PENDING".to_owned(), "3".to_owned())],
        worker_env: vec![
            ("RECONCILE_AFTER".to_owned(), "1".to_owned()),
            ("FETCH_PREDECESSOR_AFTER".to_owned(), "2".to_owned()),
        ],
        ..Default::default()
    })
    .await;
    let lost = orphan(&stack).await;
    let client = stack.client("orphan");
    let mut later = Vec::new();
    for n in 2..=7 {
        let add = action(json!({"action": "add_to_checkout", "product_id": "CHIPS-001", "quantity": 1}));
        let task = client.send(message_with_id(&format!("orphan-{n}"), add, Some("orphan-ctx")), false).await;
        later.push(task["id"].as_str().expect("a task id").to_owned());
    }
    // Another conversation on the same (full) partition waits too, and moves once it drains.
    let other = client
        .send(
            message_with_id("other-1", action(json!({"action": "get_checkout"})), Some("other-ctx")),
            false,
        )
        .await;

    let last = client.wait_for_state(later.last().unwrap(), "completed", Duration::from_secs(30)).await;
    assert_eq!(state(&stack, lost).await, "completed");
    let checkout = checkout_of(&last).expect("a checkout");
    assert_eq!(quantity(&checkout, "BISC-001"), 1, "the lost task applied once: {checkout}");
    assert_eq!(quantity(&checkout, "CHIPS-001"), 6, "every later task applied once, after it: {checkout}");
    client.wait_for_state(other["id"].as_str().unwrap(), "completed", Duration::from_secs(30)).await;
    let fetched = counter(&stack, "cartwright_predecessors_fetched_total").await;
    assert_eq!(fetched, 1.0, "the worker fetched the lost task once");
    testkit::eventually(Duration::from_secs(10), "every message acknowledged", || async {
        (stored_task_messages(&stack).await == 0).then_some(())
    })
    .await;
}
