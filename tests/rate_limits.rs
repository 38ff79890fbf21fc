//! Rate limits and overload: a principal's limit holds across two ingress replicas (their
//! counts are shared), a client IP's limit applies before authentication, and an ingress at
//! its in-flight cap answers 503 with `Retry-After` at once; a request past the request timeout
//! gets a JSON-RPC error. Every refusal is a JSON-RPC error.

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use testkit::client::message;
use testkit::{Client, Stack, StackOptions};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A cheap authenticated request: `tasks/get` of a task that does not exist.
async fn probe(client: &Client) -> (StatusCode, Value, Option<String>) {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": uuid::Uuid::new_v4().to_string()}});
    let (status, headers, body) = client.post_with_headers(body.to_string().into_bytes(), &[]).await;
    let retry_after = headers.get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (status, body, retry_after)
}

#[tokio::test]
async fn a_principals_limit_holds_across_two_replicas() {
    let stack = Stack::start(StackOptions {
        workers: 0,
        env: env(&[("RATE_LIMIT_PRINCIPAL", "20")]),
        ..Default::default()
    })
    .await;
    let first = stack.client("busy");
    let (_replica, second) = stack.start_replica("busy").await;

    let started = Instant::now();
    let (mut admitted, mut limited) = (0u32, 0u32);
    while started.elapsed() < Duration::from_secs(6) {
        let answers = join_all([probe(&first), probe(&second), probe(&first), probe(&second)]).await;
        for (status, body, retry_after) in answers {
            match status {
                StatusCode::OK => {
                    assert_eq!(body["error"]["code"], -32001, "{body}");
                    admitted += 1;
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    assert_eq!(body["error"]["code"], -32051, "{body}");
                    assert!(body["error"]["message"].as_str().unwrap().contains("principal"), "{body}");
                    assert_eq!(retry_after.as_deref(), Some("1"));
                    limited += 1;
                }
                other => panic!("unexpected {other}: {body}"),
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let per_second = admitted as f64 / seconds;
    println!("admitted {admitted} ({per_second:.1}/s), limited {limited}, over {seconds:.1} s, limit 20/s across 2 replicas");
    assert!(limited > admitted, "the traffic was well over the limit");
    // One replica alone admits up to 20 per wall-clock second, so about 23/s over 6 s that
    // touch 7 windows; two replicas that did not share counts would admit about twice that.
    assert!(per_second <= 30.0, "the two replicas together admitted {per_second:.1}/s for a limit of 20/s");
    assert!(per_second >= 12.0, "the limit admitted too little: {per_second:.1}/s");
    let other = stack.client("quiet");
    assert_eq!(probe(&other).await.0, StatusCode::OK, "another principal is not limited");
}

#[tokio::test]
async fn a_client_ips_limit_applies_before_authentication() {
    let stack = Stack::start(StackOptions {
        workers: 0,
        env: env(&[("RATE_LIMIT_IP", "10")]),
        ..Default::default()
    })
    .await;
    let mut forger = stack.client("forger");
    forger.token = "not-a-token".to_owned();
    let answers = join_all((0..40).map(|_| probe(&forger))).await;
    let unauthorized = answers.iter().filter(|a| a.0 == StatusCode::UNAUTHORIZED).count();
    let limited = answers.iter().filter(|a| a.0 == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(unauthorized + limited, 40);
    assert!((1..=12).contains(&unauthorized), "{unauthorized} bad tokens were even looked at");
    let (_, body, retry_after) = answers.into_iter().find(|a| a.0 == StatusCode::TOO_MANY_REQUESTS).unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("client IP"), "{body}");
    assert!(retry_after.is_some());
    let health = reqwest::get(format!("{}/health", stack.base_url)).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "health checks are not rate limited");
}

#[tokio::test]
async fn an_ingress_at_its_in_flight_cap_sheds_load_at_once() {
    let stack = Stack::start(StackOptions {
        workers: 0,
        env: env(&[("MAX_IN_FLIGHT", "2"), ("BLOCKING_TIMEOUT", "4")]),
        ..Default::default()
    })
    .await;
    let client = stack.client("crowd");
    let search = || message(json!([{"kind": "data", "data": {"action": "search_shopping_catalog", "query": "x"}}]), None);
    // No worker runs, so blocking sends wait out BLOCKING_TIMEOUT, each holding a slot.
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let (client, message) = (client.clone(), search());
            tokio::spawn(async move { client.send_raw(&message, true).await.map(|r| r.status()) })
        })
        .collect();
    let pool = stack.db.pool.clone();
    testkit::eventually(Duration::from_secs(3), "both blocking sends to be waiting", || {
        let pool = pool.clone();
        async move {
            let tasks: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks").fetch_one(&pool).await.ok()?;
            (tasks == 2).then_some(())
        }
    })
    .await;
    let started = Instant::now();
    let response = client.send_raw(&search(), false).await.expect("an answer");
    let took = started.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(took < Duration::from_millis(500), "shed at once, not queued: {took:?}");
    assert_eq!(response.headers().get("retry-after").unwrap(), "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32052, "{body}");
    assert_eq!(body["error"]["data"]["retryable"], true);
    let ready = reqwest::get(format!("{}/ready", stack.base_url)).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK, "probes still answer while the A2A endpoint sheds");
    for handle in waiting {
        assert_eq!(handle.await.unwrap().unwrap(), StatusCode::OK, "the waiting sends finish normally");
    }
    assert_eq!(client.send_raw(&search(), false).await.unwrap().status(), StatusCode::OK, "capacity is back");
}

/// A request still running at REQUEST_TIMEOUT is answered with a JSON-RPC error, not a bare
/// status: here a blocking send with no worker to run it, cut before BLOCKING_TIMEOUT.
#[tokio::test]
async fn the_request_timeout_answers_a_json_rpc_error() {
    let stack = Stack::start(StackOptions {
        workers: 0,
        env: env(&[("REQUEST_TIMEOUT", "1"), ("BLOCKING_TIMEOUT", "10")]),
        ..Default::default()
    })
    .await;
    let client = stack.client("patient");
    let started = Instant::now();
    let search = message(json!([{"kind": "data", "data": {"action": "search_shopping_catalog", "query": "x"}}]), None);
    let response = client.send_raw(&search, true).await.expect("an answer");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let body: Value = response.json().await.expect("a JSON-RPC body");
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["error"]["code"], -32603, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("longer than 1 s"), "{body}");
    assert_eq!(body["error"]["data"]["retryable"], true);
}

/// With PostgreSQL down the counts cannot be shared: each ingress goes on limiting on its own
/// (429s keep coming, the admitted requests get 503 as the database is gone), says so once in
/// its log, and shares again when PostgreSQL is back.
#[tokio::test]
async fn with_postgres_down_each_ingress_limits_on_its_own() {
    let postgres = testkit::pg::PgServer::start();
    let stack = Stack::start(StackOptions {
        workers: 0,
        postgres_admin_url: Some(postgres.url()),
        env: env(&[("RATE_LIMIT_PRINCIPAL", "10")]),
        ..Default::default()
    })
    .await;
    let client = stack.client("offline");
    assert_eq!(probe(&client).await.0, StatusCode::OK);
    postgres.stop();
    let answers = join_all((0..40).map(|_| probe(&client))).await;
    let limited = answers.iter().filter(|a| a.0 == StatusCode::TOO_MANY_REQUESTS).count();
    let unavailable = answers.iter().filter(|a| a.0 == StatusCode::SERVICE_UNAVAILABLE).count();
    assert_eq!(limited + unavailable, 40, "only 429 and 503 while PostgreSQL is down");
    assert!(limited >= 28, "the limit still holds on this ingress: {limited} of 40 limited");
    let ingress = stack.ingress.as_ref().unwrap();
    ingress
        .wait_for_log("limits hold per ingress until they can", Duration::from_secs(10))
        .await;
    postgres.start_again();
    testkit::eventually(Duration::from_secs(20), "the counts to be shared again", || async {
        ingress.output().contains("rate limit counts shared again").then_some(())
    })
    .await;
}
