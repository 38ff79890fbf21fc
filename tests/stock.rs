//! Stock holds whichever binding sells it: an A2A add or quantity change beyond stock is refused
//! and changes nothing, an A2A completion takes its lines from stock with the order, and an A2A
//! and a REST completion racing for the last unit place one order between them.

use serde_json::{json, Value};
use testkit::client::checkout_of;
use testkit::rest::{load_flower_shop, stock, success_token, RestClient};
use testkit::{Stack, StackOptions};

/// The mock handler's authorising credential, as an A2A payment DataPart.
fn pay() -> Value {
    json!([
        {"kind": "data", "data": {"action": "complete_checkout"}},
        {"kind": "data", "data": {"a2a.ucp.checkout.payment_data": {"id": "instr_1", "handler_id": "mock_payment_handler",
            "type": "card", "credential": success_token()}}}
    ])
}

fn details() -> Value {
    json!({"action": "update_customer_details", "first_name": "Jane", "last_name": "Doe",
        "street_address": "1 Main St", "address_locality": "Springfield", "address_region": "IL",
        "postal_code": "62701", "address_country": "US", "email": "jane@example.com"})
}

fn refusal_code(task: &Value) -> Option<String> {
    let checkout = checkout_of(task)?;
    checkout["messages"][0]["code"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn a2a_changes_respect_stock_and_completion_takes_it() {
    let stack = Stack::start(StackOptions::with_workers(1)).await;
    load_flower_shop(&stack);
    let client = stack.client("stock-a2a");
    let ctx = "stock-a2a-1";

    let none = client
        .act(
            json!({"action": "add_to_checkout", "product_id": "gardenias", "quantity": 1}),
            Some(ctx),
        )
        .await;
    let text = none["status"]["message"]["parts"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        checkout_of(&none).is_none() || refusal_code(&none).as_deref() == Some("out_of_stock"),
        "gardenias (stock 0) cannot be added: {none}"
    );
    assert!(text.contains("Insufficient stock"), "the answer says why: {text}");
    assert_eq!(
        stack.db.count("checkouts").await,
        0,
        "a refused first add opens no checkout"
    );

    let added = client
        .act(
            json!({"action": "add_to_checkout", "product_id": "orchid_white", "quantity": 2}),
            Some(ctx),
        )
        .await;
    assert_eq!(
        testkit::client::quantity(&checkout_of(&added).expect("a checkout"), "orchid_white"),
        2
    );
    let too_many = client
        .act(
            json!({"action": "update_checkout", "product_id": "orchid_white", "quantity": 801}),
            Some(ctx),
        )
        .await;
    assert_eq!(
        refusal_code(&too_many).as_deref(),
        Some("out_of_stock"),
        "801 of 800 orchids: {too_many}"
    );
    let kept = client.act(json!({"action": "get_checkout"}), Some(ctx)).await;
    assert_eq!(
        testkit::client::quantity(&checkout_of(&kept).unwrap(), "orchid_white"),
        2,
        "the refused change changed nothing"
    );

    client.act(details(), Some(ctx)).await;
    let done = client.send(testkit::client::message(pay(), Some(ctx)), true).await;
    assert_eq!(checkout_of(&done).expect("a checkout")["status"], "completed", "{done}");
    assert_eq!(
        stock(&stack, "orchid_white").await,
        798,
        "the A2A order took its 2 orchids"
    );
}

#[tokio::test]
async fn a2a_and_rest_racing_for_the_last_unit_place_one_order() {
    let stack = Stack::start(StackOptions::with_workers(2)).await;
    load_flower_shop(&stack);
    sqlx::query("UPDATE inventory SET quantity = 1 WHERE product_id = 'pot_ceramic'")
        .execute(&stack.db.pool)
        .await
        .expect("set stock");
    let a2a = stack.client("race");
    let ctx = "race-a2a";
    a2a.act(
        json!({"action": "add_to_checkout", "product_id": "pot_ceramic", "quantity": 1}),
        Some(ctx),
    )
    .await;
    a2a.act(details(), Some(ctx)).await;
    let rest = RestClient::new(&stack, "race");
    let ready = rest.ready_checkout(&[("pot_ceramic", 1)]).await;
    let id = ready["id"].as_str().expect("checkout id").to_owned();

    let (a2a_done, rest_done) = tokio::join!(
        a2a.send(testkit::client::message(pay(), Some(ctx)), true),
        rest.complete(&id, success_token())
    );
    let a2a_won = checkout_of(&a2a_done).is_some_and(|c| c["status"] == "completed");
    let rest_won = rest_done.status == 200;
    assert!(
        a2a_won != rest_won,
        "exactly one completion wins: a2a {a2a_done}, rest {} {}",
        rest_done.status,
        rest_done.json
    );
    if !rest_won {
        assert!(
            rest_done.detail().contains("Insufficient stock"),
            "the REST loser says why: {}",
            rest_done.json
        );
    } else {
        assert_eq!(
            refusal_code(&a2a_done).as_deref(),
            Some("out_of_stock"),
            "the A2A loser says why: {a2a_done}"
        );
    }
    assert_eq!(stack.db.count("orders").await, 1, "one order");
    assert_eq!(stock(&stack, "pot_ceramic").await, 0, "the last unit is gone, once");
}
