//! During an outage of NATS or PostgreSQL the ingress answers at once with a retryable error
//! (HTTP 503, `Retry-After`, JSON-RPC -32603 with `data.retryable`), never a hang; resending the
//! same messageId after the outage creates the task once and applies it once.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::client::{action, checkout_of, message_with_id, quantity};
use testkit::pg::PgServer;
use testkit::{Client, Stack, StackOptions};

async fn answer(client: &Client, message: &Value) -> (reqwest::StatusCode, Option<String>, Value) {
    let response = client.send_raw(message, false).await.expect("the ingress answers");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, response.json().await.unwrap_or(Value::Null))
}

fn assert_retryable(answer: &(reqwest::StatusCode, Option<String>, Value), took: Duration, what: &str) {
    let (status, retry_after, body) = answer;
    assert_eq!(*status, 503, "{what}: {body}");
    assert!(retry_after.is_some(), "{what}: Retry-After is set");
    assert_eq!(body["error"]["code"], -32603, "{what}: {body}");
    assert_eq!(body["error"]["data"]["retryable"], true, "{what}: {body}");
    assert!(
        took < Duration::from_secs(10),
        "{what}: answered in {took:?}, not a hang"
    );
}

/// Resends `message` as a client honouring the contract would: while the answer is a retryable
/// 503 (the pool or the connection may take a moment to find the server again), again after a
/// short wait, for at most 30 s; then the task completes and a further resend is the same task.
async fn resend_until_done(client: &Client, message: &Value, context_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let task = loop {
        let started = Instant::now();
        let answer = answer(client, message).await;
        if answer.0 == 200 {
            break answer.2["result"].clone();
        }
        assert_retryable(&answer, started.elapsed(), "while the service comes back");
        assert!(
            Instant::now() < deadline,
            "still a retryable 503 30 s after the outage ended: {}",
            answer.2
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    client
        .wait_for_state(task["id"].as_str().expect("a Task"), "completed", Duration::from_secs(30))
        .await;
    let again = client.send(message.clone(), false).await;
    assert_eq!(again["id"], task["id"], "a further resend is the same task");
    let current = client.act(json!({"action": "get_checkout"}), Some(context_id)).await;
    assert_eq!(quantity(&checkout_of(&current).unwrap(), "BISC-001"), 1, "applied once");
}

/// nats-server down: 503 at once; after it is back, the same messageId succeeds once.
#[tokio::test]
async fn nats_outage_gets_503_and_the_resend_applies_once() {
    let mut stack = Stack::start(StackOptions::with_workers(1)).await;
    let client = stack.client("patient");
    let message = message_with_id(
        "during-nats-outage",
        action(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1})),
        Some("nats-out"),
    );
    stack.nats.stop().await;
    let started = Instant::now();
    let answer = answer(&client, &message).await;
    assert_retryable(&answer, started.elapsed(), "NATS down");
    stack.nats.start_again().await;
    resend_until_done(&client, &message, "nats-out").await;
}

/// PostgreSQL down: 503 at once; after it is back, the same messageId succeeds once.
#[tokio::test]
async fn postgres_outage_gets_503_and_the_resend_applies_once() {
    let postgres = PgServer::start();
    let stack = Stack::start(StackOptions {
        workers: 1,
        postgres_admin_url: Some(postgres.url()),
        ..Default::default()
    })
    .await;
    let client = stack.client("patient");
    let message = message_with_id(
        "during-pg-outage",
        action(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1})),
        Some("pg-out"),
    );
    postgres.stop();
    let started = Instant::now();
    let answer = answer(&client, &message).await;
    assert_retryable(&answer, started.elapsed(), "PostgreSQL down");
    postgres.start_again();
    resend_until_done(&client, &message, "pg-out").await;
}
