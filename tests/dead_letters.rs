//! Dead letters: a message that cannot succeed is kept for an operator, its conversation waits
//! behind it (other conversations go on), and a replay or a discard lets the conversation move
//! on in order, never applying anything twice.
//!
//! Poison and failing messages come from the workers' fault points (workers/src/fault.rs): a
//! message whose messageId carries the marker fails every time it is applied.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use testkit::client::{action, checkout_of, message_with_id, quantity, Client};
use testkit::stack::token_with_roles;
use testkit::{eventually, Stack, StackOptions};

const WAIT: Duration = Duration::from_secs(30);

fn add_biscuits() -> Value {
    action(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1}))
}

fn stack_with_fault(point: &str, marker: &str, extra: Vec<(String, String)>) -> StackOptions {
    StackOptions {
        workers: 1,
        first_worker_env: vec![("CARTWRIGHT_FAULT".to_owned(), format!("{point}:{marker}"))],
        env: extra,
        ..Default::default()
    }
}

/// The admin API as an operator with the admin role.
async fn admin(stack: &Stack, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    admin_as(stack, &token_with_roles("ops", 600, &["admin"]), method, path, body).await
}

async fn admin_as(stack: &Stack, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", stack.base_url))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("admin API answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits until the DLQ holds a dead letter of `task_id`; returns it.
async fn dead_letter_of(stack: &Stack, task_id: &str) -> Value {
    eventually(WAIT, &format!("a dead letter for task {task_id}"), || async move {
        let (status, body) = admin(stack, reqwest::Method::GET, "/admin/dlq", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["dead_letters"].as_array()?.iter().find(|d| d["task_id"] == task_id).cloned()
    })
    .await
}

fn status_text(task: &Value) -> String {
    task["status"]["message"]["parts"][0]["text"].as_str().unwrap_or_default().to_owned()
}

/// Sends message 1 (applied), 2 (poison), 3 and 4 of one conversation; returns their task ids
/// once 2 is dead-lettered and 3 and 4 wait, having checked that another checkout is served.
async fn poison_in_the_middle(stack: &Stack, client: &Client, marker: &str, ctx: &str) -> (Vec<String>, Value) {
    let first = client.send(message_with_id(&format!("{ctx}-1"), add_biscuits(), Some(ctx)), true).await;
    assert_eq!(first["status"]["state"], "completed", "{first}");
    let mut ids = vec![first["id"].as_str().unwrap().to_owned()];
    for (n, id) in [(2, format!("{marker}-2")), (3, format!("{ctx}-3")), (4, format!("{ctx}-4"))] {
        let task = client.send(message_with_id(&id, add_biscuits(), Some(ctx)), false).await;
        assert!(task["id"].is_string(), "message {n}: {task}");
        ids.push(task["id"].as_str().unwrap().to_owned());
    }
    let dead = dead_letter_of(stack, &ids[1]).await;
    assert_eq!(dead["reason"], "non_retryable", "{dead}");
    assert_eq!(dead["context_id"], ctx, "{dead}");
    assert_eq!(dead["principal"], "shopper", "{dead}");
    assert_eq!(dead["seq"], 2, "{dead}");
    assert!(dead["error"].as_str().unwrap().contains("injected fault (permanent)"), "{dead}");
    assert!(dead["attempts"].as_u64().unwrap() >= 1, "{dead}");
    assert!(dead["subject"].as_str().unwrap().starts_with("cartwright.tasks."), "{dead}");
    assert!(dead["first_failure"].is_string() && dead["last_failure"].is_string(), "{dead}");
    assert_eq!(dead["payload"]["task_id"], ids[1], "the original message is kept: {dead}");

    let held = client.get_task(&ids[1]).await;
    assert!(status_text(&held).contains("held for an operator"), "{held}");
    for waiting in &ids[2..] {
        let task = eventually(WAIT, "a later message to say it waits", || async move {
            let task = client.get_task(waiting).await;
            status_text(&task).contains("Waiting").then_some(task)
        })
        .await;
        assert!(matches!(task["status"]["state"].as_str(), Some("submitted" | "working")), "{task}");
    }
    // Another checkout is not held up.
    let other = client.act(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 5}), None).await;
    assert_eq!(other["status"]["state"], "completed", "{other}");
    (ids, dead)
}

#[tokio::test]
async fn a_poison_message_holds_its_conversation_until_replayed_in_order() {
    let marker = format!("poison-{}", uuid::Uuid::new_v4().simple());
    let mut stack = Stack::start(stack_with_fault("poison_turn", &marker, Vec::new())).await;
    let client = stack.client("shopper");
    let (ids, dead) = poison_in_the_middle(&stack, &client, &marker, "poisoned-ctx").await;
    let dlq_id = dead["id"].as_u64().unwrap().to_string();

    // The admin API needs an admin.
    let (status, body) = admin_as(&stack, "not-a-token", reqwest::Method::GET, "/admin/dlq", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = admin_as(&stack, &token_with_roles("shopper", 600, &[]), reqwest::Method::GET, "/admin/dlq", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    let (status, body) = admin(&stack, reqwest::Method::GET, "/admin/dlq?reason=bogus", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = admin(&stack, reqwest::Method::GET, "/admin/dlq/not-a-number", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // The CLI sees the same dead letter, with filters.
    let (ok, listing, said) = stack.cli(&["dlq", "list", "--reason", "non_retryable", "--context", "poisoned-ctx"]);
    assert!(ok && listing.contains(&ids[1]), "{listing}{said}");
    let (ok, listing, _) = stack.cli(&["dlq", "list", "--older-than", "1h"]);
    assert!(ok && !listing.contains(&ids[1]), "{listing}");
    let (ok, shown, said) = stack.cli(&["dlq", "show", &dlq_id]);
    assert!(ok && shown.contains("injected fault"), "{shown}{said}");

    // The fault is fixed (a worker without it), then the operator replays.
    stack.workers[0].terminate(Duration::from_secs(15)).await;
    stack.start_worker(&[]).await;
    let (ok, said, err) = stack.cli(&["dlq", "replay", &dlq_id]);
    assert!(ok && said.contains("replayed") && said.contains("3 message(s) republished"), "{said}{err}");

    for (i, id) in ids.iter().enumerate() {
        let task = client.wait_for_state(id, "completed", WAIT).await;
        let checkout = checkout_of(&task).unwrap_or_else(|| panic!("no checkout in {task}"));
        assert_eq!(quantity(&checkout, "BISC-001"), i as i64 + 1, "message {} applied in its place: {task}", i + 1);
    }

    // Replaying again finds nothing and changes nothing.
    let (ok, _, said) = stack.cli(&["dlq", "replay", &dlq_id]);
    assert!(!ok && said.contains("not found"), "{said}");
    let (status, body) = admin(&stack, reqwest::Method::POST, &format!("/admin/dlq/{dlq_id}/replay"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let next = client.act(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1}), Some("poisoned-ctx")).await;
    assert_eq!(quantity(&checkout_of(&next).unwrap(), "BISC-001"), 5, "each message applied once: {next}");
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_messages WHERE task_id = ANY($1::uuid[])")
        .bind(ids.iter().map(|id| uuid::Uuid::parse_str(id).unwrap()).collect::<Vec<_>>())
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(applied, 4);
    let held: Option<i64> = sqlx::query_scalar("SELECT held_seq FROM contexts WHERE context_id = 'poisoned-ctx'")
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(held, None);
}

#[tokio::test]
async fn a_discarded_message_fails_visibly_and_the_conversation_moves_on() {
    let marker = format!("poison-{}", uuid::Uuid::new_v4().simple());
    let stack = Stack::start(stack_with_fault("poison_turn", &marker, Vec::new())).await;
    let client = stack.client("shopper");
    let (ids, dead) = poison_in_the_middle(&stack, &client, &marker, "discarded-ctx").await;
    let dlq_id = dead["id"].as_u64().unwrap();

    let (status, body) = admin(&stack, reqwest::Method::POST, "/admin/dlq/discard", Some(json!({"ids": [dlq_id]}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["result"], "discarded", "{body}");

    let failed = client.wait_for_state(&ids[1], "failed", WAIT).await;
    assert!(status_text(&failed).contains("discarded"), "{failed}");
    let third = client.wait_for_state(&ids[2], "completed", WAIT).await;
    assert_eq!(quantity(&checkout_of(&third).unwrap(), "BISC-001"), 2, "the discarded add never applied: {third}");
    let fourth = client.wait_for_state(&ids[3], "completed", WAIT).await;
    assert_eq!(quantity(&checkout_of(&fourth).unwrap(), "BISC-001"), 3, "{fourth}");
    let (status, _) = admin(&stack, reqwest::Method::GET, &format!("/admin/dlq/{dlq_id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_message_that_keeps_failing_is_dead_lettered_after_max_deliver() {
    let marker = format!("flaky-{}", uuid::Uuid::new_v4().simple());
    let stack = Stack::start(stack_with_fault("fail_turn", &marker, vec![("MAX_DELIVER".to_owned(), "3".to_owned())])).await;
    let client = stack.client("shopper");
    let task = client.send(message_with_id(&format!("{marker}-1"), add_biscuits(), Some("flaky-ctx")), false).await;
    let task_id = task["id"].as_str().unwrap();
    let dead = dead_letter_of(&stack, task_id).await;
    assert_eq!(dead["reason"], "max_deliveries", "{dead}");
    assert_eq!(dead["attempts"], 3, "{dead}");
    assert!(dead["error"].as_str().unwrap().contains("injected fault (retryable)"), "{dead}");
    let failures: i32 = sqlx::query_scalar("SELECT failures FROM tasks WHERE id = $1::uuid")
        .bind(task_id)
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(failures, 3, "each failed attempt is counted");
}

#[tokio::test]
async fn a_worker_dying_on_a_message_every_time_gets_it_dead_lettered() {
    let marker = format!("crash-{}", uuid::Uuid::new_v4().simple());
    let mut stack = Stack::start(stack_with_fault("crash_turn", &marker, vec![("MAX_DELIVER".to_owned(), "2".to_owned())])).await;
    let client = stack.client("shopper");
    let task = client.send(message_with_id(&format!("{marker}-1"), add_biscuits(), Some("crash-ctx")), false).await;
    let task_id = task["id"].as_str().unwrap().to_owned();
    let fault = stack.options.first_worker_env.clone();
    // Delivery 1 and 2 each kill the worker that takes them; the third worker sees the
    // server's max-deliveries advisory and dead-letters the message.
    for _ in 0..2 {
        let last = stack.workers.len() - 1;
        stack.workers[last]
            .wait_for_log("fault point reached: aborting", WAIT)
            .await;
        stack.start_worker(&fault).await;
    }
    let dead = dead_letter_of(&stack, &task_id).await;
    assert_eq!(dead["reason"], "max_deliveries", "{dead}");
    assert_eq!(dead["attempts"], 2, "{dead}");
    let later = client.send(message_with_id("crash-ctx-2", add_biscuits(), Some("crash-ctx")), false).await;
    let later_id = later["id"].as_str().unwrap().to_owned();
    eventually(WAIT, "the next message to wait behind the dead one", || {
        let client = &client;
        let later_id = &later_id;
        async move { status_text(&client.get_task(later_id).await).contains("Waiting").then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn an_undecodable_message_is_dead_lettered_with_its_secrets_redacted() {
    let stack = Stack::start(StackOptions::with_workers(1)).await;
    let nats = async_nats::connect(stack.nats.url()).await.expect("NATS connects");
    let js = async_nats::jetstream::new(nats);
    js.publish("cartwright.tasks.3", r#"{"card_number": "4111111111111111", "junk": true}"#.into())
        .await
        .unwrap()
        .await
        .unwrap();
    js.publish("cartwright.tasks.5", "not json at all".into()).await.unwrap().await.unwrap();
    let listed = eventually(WAIT, "two undecodable dead letters", || async {
        let (ok, out, _) = stack.cli(&["dlq", "list", "--reason", "undecodable", "--json"]);
        let listed: Vec<Value> = serde_json::from_str(&out).ok()?;
        (ok && listed.len() == 2).then_some(listed)
    })
    .await;
    let text = serde_json::to_string(&listed).unwrap();
    assert!(!text.contains("4111111111111111"), "{text}");
    assert!(text.contains("not json at all"), "{text}");
    assert!(listed.iter().any(|d| d["partition"] == 3 && d["payload"]["junk"] == true), "{text}");
    let ids: Vec<String> = listed.iter().map(|d| d["id"].to_string()).collect();
    let (ok, said, err) = stack.cli(&["dlq", "discard", &ids[0], &ids[1]]);
    assert!(ok && said.matches("discarded").count() == 2, "{said}{err}");
    let (ok, out, _) = stack.cli(&["dlq", "list", "--json"]);
    assert!(ok && out.trim() == "[]", "{out}");
}

/// A turn whose code panics (a bug) is dead-lettered at once, with the panic's message, rather
/// than retried forever as if the database were down; other conversations go on.
#[tokio::test]
async fn a_panicking_turn_is_dead_lettered_not_retried_forever() {
    let marker = format!("panic-{}", uuid::Uuid::new_v4().simple());
    let stack = Stack::start(stack_with_fault("panic_turn", &marker, Vec::new())).await;
    let client = stack.client("shopper");
    let task = client.send(message_with_id(&format!("{marker}-1"), add_biscuits(), Some("panic-ctx")), false).await;
    let id = task["id"].as_str().expect("a task id").to_owned();
    let dead = dead_letter_of(&stack, &id).await;
    assert_eq!(dead["reason"], "non_retryable", "{dead}");
    assert!(dead["error"].as_str().unwrap_or_default().contains("the turn panicked"), "{dead}");
    let other = client.act(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1}), None).await;
    assert_eq!(other["status"]["state"], "completed", "another conversation is served: {other}");
}
