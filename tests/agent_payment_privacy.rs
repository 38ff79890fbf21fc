//! Payment data sent with a chat message pays for that turn's checkout and goes nowhere else:
//! not to the model, not into the session or the journal, not into any log line. A card
//! number typed into the chat is masked before it is stored, queued or sent to a model.

use serde_json::json;
use testkit::client::{checkout_of, message};
use testkit::{FakeLlm, Stack, StackOptions};

const TOKEN: &str = "tok_live_privacy_7Q2x9";
const CARD: &str = "4111 1111 1111 1111";

#[tokio::test]
async fn payment_data_and_typed_cards_never_reach_the_model_or_the_logs() {
    let llm = FakeLlm::start().await;
    let stack = Stack::start(StackOptions {
        workers: 1,
        worker_env: llm.env("gemini"),
        log_level: "debug".to_owned(),
        ..Default::default()
    })
    .await;
    let client = stack.client("payer");
    let script = format!(
        "call add_to_checkout {{\"product_id\": \"BISC-001\", \"quantity\": 1}}\n\
         call update_customer_details {{\"first_name\": \"Jane\", \"last_name\": \"Doe\", \"street_address\": \"1 Main St\", \
         \"address_locality\": \"Springfield\", \"address_region\": \"IL\", \"postal_code\": \"62701\", \"address_country\": \"US\", \"email\": \"jane@example.com\"}}\n\
         call complete_checkout\n\
         my card is {CARD}, expiry 12/30"
    );
    let parts = json!([
        { "kind": "text", "text": script },
        { "kind": "data", "data": { "a2a.ucp.checkout.payment_data": {
            "id": "instr_1", "handler_id": "example_payment_provider", "type": "card", "brand": "visa",
            "last_digits": "1111", "credential": { "type": "token", "token": TOKEN } } } }
    ]);
    let task = client.send(message(parts, Some("pay-ctx")), true).await;
    assert_eq!(task["status"]["state"], "completed", "{task}");
    let checkout = checkout_of(&task).expect("a checkout");
    assert_eq!(checkout["status"], "completed", "the turn's payment completed the checkout: {checkout}");
    assert_eq!(stack.db.count("orders").await, 1);

    let received = llm.received();
    assert_eq!(received.len(), 4, "three tool steps and the answer");
    let digits = CARD.replace(' ', "");
    for request in &received {
        let body = request.body.to_string();
        for secret in [TOKEN, CARD, digits.as_str(), "instr_1"] {
            assert!(!body.contains(secret), "{secret} reached the model: {body}");
        }
    }
    assert!(received[0].body.to_string().contains("[card ending 1111]"), "the model sees the masked card");

    let mut logs = stack.workers[0].output();
    logs.push_str(&stack.ingress.as_ref().unwrap().output());
    for secret in [TOKEN, CARD, digits.as_str()] {
        assert!(!logs.contains(secret), "{secret} in the logs");
    }
    for (table, column) in [("tasks", "request"), ("tasks", "reply"), ("sessions", "history"), ("turn_journal", "response")] {
        let leaked: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE {column}::text LIKE '%' || $1 || '%' OR {column}::text LIKE '%' || $2 || '%'"
        ))
        .bind(TOKEN)
        .bind(CARD)
        .fetch_one(&stack.db.pool)
        .await
        .unwrap();
        assert_eq!(leaked, 0, "a secret is stored in {table}.{column}");
    }
}
