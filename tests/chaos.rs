//! The chaos suite: steady shopping traffic while workers and the ingress are SIGKILLed and
//! nats-server and PostgreSQL are restarted. Afterwards, from the database and the clients' own
//! records: every accepted request reached a terminal state, no effect was applied twice, each
//! conversation's order held, no task is stuck; requests made during an outage got a retryable
//! answer (503 with Retry-After; a refused or dropped connection while the ingress was down or
//! being killed), never a hang or another error, and their retries with the same messageId
//! succeeded once.
//!
//! Short form (in `make test`): `CHAOS_SECONDS` defaults to 30. Long form:
//! `CHAOS_SECONDS=600 CHAOS_CONVERSATIONS=64 bash deploy/local/test.sh --test chaos -- --nocapture`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use testkit::pg::PgServer;
use testkit::{Client, Stack, StackOptions};
use tokio::sync::watch;

/// How long one request may take before it counts as a hang (a blocking send may wait up to
/// the ingress's 30 s cap).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);
/// How long each outage lasts.
const OUTAGE: Duration = Duration::from_millis(1500);

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(Default, Debug)]
struct Ledger {
    requests: u64,
    service_unavailable: u64,
    refused: u64,
    dropped: u64,
    other_errors: Vec<String>,
    hangs: u64,
    /// Accepted task ids per conversation, in the order the client sent them.
    accepted: HashMap<String, Vec<String>>,
}

enum Answer {
    Accepted(String),
    Retry,
}

async fn attempt(client: &Client, message: &Value, blocking: bool, ledger: &Mutex<Ledger>) -> Answer {
    let request = client.send_raw(message, blocking);
    ledger.lock().unwrap().requests += 1;
    let response = match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
        Err(_) => {
            ledger.lock().unwrap().hangs += 1;
            return Answer::Retry;
        }
        Ok(Err(error)) if error.is_connect() => {
            ledger.lock().unwrap().refused += 1;
            return Answer::Retry;
        }
        // The ingress was SIGKILLed with this request in flight: whether it was recorded or
        // not, the retry with the same messageId settles it.
        Ok(Err(_)) => {
            ledger.lock().unwrap().dropped += 1;
            return Answer::Retry;
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    let retry_after = response.headers().contains_key("retry-after");
    let text = tokio::time::timeout(REQUEST_TIMEOUT, response.text())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status == 503 && retry_after && value["error"]["data"]["retryable"] == true {
        ledger.lock().unwrap().service_unavailable += 1;
        return Answer::Retry;
    }
    match value["result"]["id"].as_str() {
        Some(id) if status == 200 => Answer::Accepted(id.to_owned()),
        _ => {
            ledger
                .lock()
                .unwrap()
                .other_errors
                .push(format!("{status}: {}", text.chars().take(300).collect::<String>()));
            Answer::Retry
        }
    }
}

/// One conversation: adds one item per message, each message retried with its messageId until
/// accepted; blocking sends (wait for the turn) or non-blocking ones.
async fn converse(
    client: Client,
    context_id: String,
    blocking: bool,
    mut stop: watch::Receiver<bool>,
    ledger: Arc<Mutex<Ledger>>,
) {
    let mut i = 0;
    while !*stop.borrow() {
        let message = testkit::client::message_with_id(
            &format!("{context_id}-{i}"),
            testkit::client::action(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1})),
            Some(&context_id),
        );
        let give_up = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            match attempt(&client, &message, blocking, &ledger).await {
                Answer::Accepted(task_id) => {
                    ledger
                        .lock()
                        .unwrap()
                        .accepted
                        .entry(context_id.clone())
                        .or_default()
                        .push(task_id);
                    break;
                }
                Answer::Retry if tokio::time::Instant::now() > give_up => {
                    panic!("{context_id}-{i} never accepted in 90 s")
                }
                Answer::Retry => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        i += 1;
        tokio::select! {
            _ = stop.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(25)) => {}
        }
    }
}

#[derive(Default, Debug)]
struct Faults {
    worker_kills: u32,
    ingress_kills: u32,
    nats_restarts: u32,
    postgres_restarts: u32,
}

/// Steady traffic with worker and ingress SIGKILLs and nats-server and PostgreSQL restarts.
#[tokio::test]
async fn chaos_loses_nothing_duplicates_nothing_and_keeps_order() {
    let seconds = setting("CHAOS_SECONDS", 30);
    let conversations = setting("CHAOS_CONVERSATIONS", 16);
    let postgres = PgServer::start();
    let mut stack = Stack::start(StackOptions {
        workers: 2,
        partitions: 8,
        ack_wait: 4,
        postgres_admin_url: Some(postgres.url()),
        ..Default::default()
    })
    .await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let (stop, stopped) = watch::channel(false);
    let traffic: Vec<_> = (0..conversations)
        .map(|k| {
            let mut client = stack.client("chaos");
            client.http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
            tokio::spawn(converse(
                client,
                format!("chaos-{k}"),
                k % 2 == 0,
                stopped.clone(),
                ledger.clone(),
            ))
        })
        .collect();

    let mut faults = Faults::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let mut round = 0usize;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(2)).await;
        match round % 4 {
            0 => {
                let victim = round / 4 % stack.workers.len();
                stack.workers[victim].kill9().await;
                stack.workers.remove(victim);
                stack.start_worker(&[]).await;
                faults.worker_kills += 1;
            }
            1 => {
                if let Some(mut ingress) = stack.ingress.take() {
                    ingress.kill9().await;
                }
                stack.start_ingress().await;
                faults.ingress_kills += 1;
            }
            2 => {
                stack.nats.stop().await;
                tokio::time::sleep(OUTAGE).await;
                stack.nats.start_again().await;
                faults.nats_restarts += 1;
            }
            _ => {
                postgres.stop();
                tokio::time::sleep(OUTAGE).await;
                postgres.start_again();
                faults.postgres_restarts += 1;
            }
        }
        round += 1;
    }
    let _ = stop.send(true);
    for conversation in traffic {
        conversation.await.expect("conversation task");
    }

    let pool = stack.db.pool.clone();
    let unfinished_query = "SELECT count(*) FROM tasks WHERE finished_at IS NULL";
    let settled = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut stuck: i64;
    loop {
        stuck = sqlx::query_scalar(unfinished_query)
            .fetch_one(&pool)
            .await
            .unwrap_or(-1);
        if stuck == 0 || tokio::time::Instant::now() > settled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    let accepted: Vec<&String> = ledger.accepted.values().flatten().collect();
    let states: HashMap<String, String> =
        sqlx::query_as::<_, (String, String)>("SELECT id::text, state::text FROM tasks")
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let lost = accepted
        .iter()
        .filter(|id| states.get(id.as_str()).map(String::as_str) != Some("completed"))
        .count();
    // Each conversation adds one item per message: the checkout snapshot of task `seq` must show
    // quantity `seq` (more: applied twice; otherwise: out of order or missing).
    let snapshots: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT t.context_id, t.seq, (
             SELECT (li->>'quantity')::bigint FROM jsonb_array_elements(
                 (SELECT p->'data'->'a2a.ucp.checkout'->'line_items' FROM jsonb_array_elements(t.reply->'parts') p
                  WHERE p->'data' ? 'a2a.ucp.checkout')) li
             WHERE li->'item'->>'id' = 'BISC-001')
         FROM tasks t WHERE t.state = 'completed'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let duplicated = snapshots
        .iter()
        .filter(|(_, seq, q)| q.is_some_and(|q| q > *seq))
        .count();
    let out_of_order = snapshots
        .iter()
        .filter(|(_, seq, q)| q.is_none_or(|q| q < *seq))
        .count();
    let processed: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_messages")
        .fetch_one(&pool)
        .await
        .unwrap();
    let tasks = states.len() as i64;
    let injected = faults.worker_kills + faults.ingress_kills + faults.nats_restarts + faults.postgres_restarts;
    println!(
        "chaos: {seconds} s, {conversations} conversations, requests {}, accepted {}, tasks {tasks}, retryable answers {} \
         (503 {}, connection refused {}, connection dropped {}), other errors {}, hangs {}, faults injected {injected} ({faults:?}), \
         lost {lost}, duplicated {duplicated}, out of order {out_of_order}, stuck {stuck}",
        ledger.requests,
        accepted.len(),
        ledger.service_unavailable + ledger.refused + ledger.dropped,
        ledger.service_unavailable,
        ledger.refused,
        ledger.dropped,
        ledger.other_errors.len(),
        ledger.hangs,
    );
    if stuck != 0 || lost != 0 || !ledger.other_errors.is_empty() {
        let pending: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT context_id, applied_seq, last_seq FROM contexts WHERE applied_seq < last_seq ORDER BY context_id",
        )
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
        println!("conversations behind (context, applied, last): {pending:?}");
        let next: Vec<String> = sqlx::query_scalar(
            "SELECT format('%s #%s %s, failures %s, last error %s, status %s', t.context_id, t.seq, t.state,
                           t.failures, t.last_error, t.status_message)
             FROM contexts c JOIN tasks t ON t.principal = c.principal AND t.context_id = c.context_id
                 AND t.seq = c.applied_seq + 1
             WHERE c.applied_seq < c.last_seq ORDER BY c.context_id",
        )
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
        println!("their next tasks: {next:?}");
        println!(
            "first other errors: {:?}",
            ledger.other_errors.iter().take(5).collect::<Vec<_>>()
        );
        for worker in &stack.workers {
            println!("--- {} (last lines)\n{}", worker.name, worker.tail(25));
        }
    }
    assert!(
        faults.worker_kills >= 1
            && faults.ingress_kills >= 1
            && faults.nats_restarts >= 1
            && faults.postgres_restarts >= 1,
        "{faults:?}"
    );
    assert_eq!(lost, 0, "accepted requests that did not complete");
    assert_eq!(duplicated, 0, "effects applied twice");
    assert_eq!(out_of_order, 0, "tasks applied out of order");
    assert_eq!(stuck, 0, "tasks left unfinished");
    assert_eq!(
        accepted.len() as i64,
        tasks,
        "every task is one the clients saw accepted"
    );
    assert_eq!(processed, tasks, "every task processed once");
    assert!(
        ledger.other_errors.is_empty(),
        "non-retryable answers during outages: {:?}",
        ledger.other_errors
    );
    assert_eq!(ledger.hangs, 0, "requests that hung");
}
