//! Payment credentials are sealed at the ingress and opened only by the worker that pays,
//! which hands them to the instrument's handler. A declined or refused payment leaves the
//! checkout payable and places no order; a canary card number, CVC and token sent through a
//! whole purchase (and a card number typed into chat) appear nowhere in clear text: not in a
//! log line, a PostgreSQL table, or any message that crossed NATS.

use futures::StreamExt;
use serde_json::{json, Value};
use testkit::client::{checkout_of, message};
use testkit::{Client, Stack, StackOptions};

/// A checkout in `ready_for_complete` in conversation `ctx`.
async fn ready_checkout(client: &Client, ctx: &str) {
    client
        .act(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1}), Some(ctx))
        .await;
    let details = json!({"action": "update_customer_details", "first_name": "Jane", "last_name": "Doe",
        "street_address": "1 Main St", "address_locality": "Springfield", "address_region": "IL",
        "postal_code": "62701", "address_country": "US", "email": "jane@example.com"});
    let ready = checkout_of(&client.act(details, Some(ctx)).await).expect("a checkout");
    assert_eq!(ready["status"], "ready_for_complete", "{ready}");
}

fn pay_parts(handler: &str, credential: Value) -> Value {
    json!([
        {"kind": "data", "data": {"action": "complete_checkout"}},
        {"kind": "data", "data": {"a2a.ucp.checkout.payment_data": {"id": "instr_1", "handler_id": handler,
            "type": "card", "brand": "Visa", "last_digits": "1234", "credential": credential}}}
    ])
}

async fn pay(client: &Client, ctx: &str, handler: &str, credential: Value) -> Value {
    let task = client.send(message(pay_parts(handler, credential), Some(ctx)), true).await;
    assert_eq!(task["status"]["state"], "completed", "{task}");
    checkout_of(&task).expect("a checkout")
}

fn error_codes(checkout: &Value) -> Vec<String> {
    checkout["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["type"] == "error")
        .filter_map(|m| m["code"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn declined_and_fraudulent_payments_leave_the_checkout_payable() {
    let stack = Stack::start(StackOptions::with_workers(1)).await;
    let client = stack.client("mock-payer");
    ready_checkout(&client, "mock-ctx").await;

    let declined = pay(&client, "mock-ctx", "mock_payment_handler", json!({"type": "token", "token": "fail_token"})).await;
    assert_eq!(declined["status"], "ready_for_complete", "still payable: {declined}");
    assert_eq!(error_codes(&declined), ["payment_declined"], "{declined}");
    assert!(declined["messages"].to_string().contains("Insufficient Funds"), "{declined}");

    let fraud = pay(&client, "mock-ctx", "mock_payment_handler", json!({"type": "token", "token": "fraud_token"})).await;
    assert_eq!(fraud["status"], "ready_for_complete", "{fraud}");
    assert_eq!(error_codes(&fraud), ["payment_fraud_suspected"], "{fraud}");
    assert_eq!(stack.db.count("orders").await, 0, "no order for a declined or refused payment");

    let paid = pay(&client, "mock-ctx", "mock_payment_handler", json!({"type": "token", "token": "success_token"})).await;
    assert_eq!(paid["status"], "completed", "{paid}");
    assert!(paid["order"]["id"].is_string(), "{paid}");
    assert_eq!(paid["payment"]["instruments"][0]["last_digits"], "1234");
    assert_eq!(stack.db.count("orders").await, 1);

    let log = stack.workers[0].output();
    assert!(log.contains("payment declined") && log.contains("payment refused as fraud") && log.contains("payment authorized"));
}

/// An instrument naming a handler the merchant does not offer is refused before anything is
/// authorised.
#[tokio::test]
async fn an_unknown_handler_is_refused() {
    let stack = Stack::start(StackOptions::with_workers(1)).await;
    let client = stack.client("odd-payer");
    ready_checkout(&client, "odd-ctx").await;
    let refused = pay(&client, "odd-ctx", "no_such_handler", json!({"type": "token", "token": "success_token"})).await;
    assert_eq!(refused["status"], "ready_for_complete");
    assert_eq!(error_codes(&refused), ["payment_handler_unknown"]);
    assert_eq!(stack.db.count("orders").await, 0);
}

#[tokio::test]
async fn canary_credentials_appear_nowhere_in_clear_text() {
    let stack = Stack::start(StackOptions {
        workers: 1,
        log_level: "debug".to_owned(),
        ..Default::default()
    })
    .await;
    // Every message that crosses the server, JetStream's own traffic included.
    let nats = async_nats::connect(stack.nats.url()).await.expect("connecting to NATS");
    let mut everything = nats.subscribe(">").await.expect("subscribing to every subject");

    let unique = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let digits: String = unique.chars().map(|c| char::from(b'0' + (c as u8 % 10))).collect();
    let pan = format!("4000{digits}");
    let pan_spaced = format!("{} {} {} {}", &pan[0..4], &pan[4..8], &pan[8..12], &pan[12..16]);
    let cvc = format!("7{}", &digits[..3]);
    let token = format!("tok_canary_{unique}");
    let typed = format!("4{}", &digits[..11].chars().rev().collect::<String>()) + "0000";
    let canaries = [pan.as_str(), pan_spaced.as_str(), token.as_str(), typed.as_str(), &format!("\"{cvc}\"")];

    let client = stack.client("canary");
    ready_checkout(&client, "canary-ctx").await;
    let card = json!({"type": "card", "number": pan_spaced, "cvc": cvc, "token": token});
    let paid = pay(&client, "canary-ctx", "example_payment_provider", card).await;
    assert_eq!(paid["status"], "completed", "the sealed credential reached the handler: {paid}");
    let chat = client
        .send(message(json!([{"kind": "text", "text": format!("my other card is {typed}")}]), Some("canary-ctx")), true)
        .await;
    assert_eq!(chat["status"]["state"], "completed", "{chat}");

    let mut leaks = Vec::new();
    let mut logs = stack.workers[0].output();
    logs.push_str(&stack.ingress.as_ref().unwrap().output());
    for canary in canaries {
        if logs.contains(canary) {
            leaks.push(format!("logs hold {canary}"));
        }
    }

    for (what, url) in [("ingress", stack.base_url.clone()), ("worker", stack.worker_url(0))] {
        let metrics = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
        assert!(metrics.contains("cartwright_"), "{what} serves metrics");
        for canary in canaries {
            if metrics.contains(canary) {
                leaks.push(format!("{what} /metrics holds {canary}"));
            }
        }
    }

    let tables: Vec<String> =
        sqlx::query_scalar("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'")
            .fetch_all(&stack.db.pool)
            .await
            .unwrap();
    assert!(tables.len() >= 8, "{tables:?}");
    for table in &tables {
        for canary in canaries {
            let found: i64 = sqlx::query_scalar(&format!(
                "SELECT count(*) FROM \"{table}\" t WHERE strpos(to_jsonb(t)::text, $1) > 0"
            ))
            .bind(canary.replace('"', "\\\""))
            .fetch_one(&stack.db.pool)
            .await
            .unwrap();
            if found > 0 {
                leaks.push(format!("table {table} holds {canary}"));
            }
        }
    }
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks WHERE sealed_credential IS NOT NULL")
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
    assert_eq!(pending, 0, "sealed credentials are dropped once their task finished");

    let mut seen = 0;
    let mut sealed_seen = false;
    while let Ok(Some(msg)) = tokio::time::timeout(std::time::Duration::from_millis(500), everything.next()).await {
        seen += 1;
        let mut text = String::from_utf8_lossy(&msg.payload).into_owned();
        if let Some(headers) = &msg.headers {
            text.push_str(&format!("{headers:?}"));
        }
        sealed_seen |= text.contains("\"sealed\":\"v1.test1.");
        for canary in canaries {
            if text.contains(canary) {
                leaks.push(format!("NATS message on {} holds {canary}", msg.subject));
            }
        }
    }
    assert!(seen > 10, "the subscription saw the traffic ({seen} messages)");
    assert!(sealed_seen, "the queued payment carried its credential sealed");
    assert!(leaks.is_empty(), "canaries in clear text: {leaks:#?}");
}
