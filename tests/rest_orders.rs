//! Orders and payments over the UCP REST binding: a completed checkout's order is read, and its
//! fulfillment events and adjustments replaced (an invalid update is 422 and changes nothing);
//! the shipping simulation ships only with the right `Simulation-Secret` (403 otherwise, and
//! always when `SIMULATION_SECRET` is unset); a declined payment is 402 and a refused one 403,
//! neither placing an order nor taking stock; card numbers and tokens are never stored in clear;
//! and two checkouts racing for the last unit get one order and one "Insufficient stock".

use futures::future::join;
use reqwest::StatusCode;
use serde_json::{json, Value};
use testkit::rest::{load_flower_shop, payment_body, ready_body, stock, success_token, Reply, RestClient};
use testkit::{Stack, StackOptions};

const SECRET: &str = "simulation-secret-for-tests-0123";
const CARD_NUMBER: &str = "4242424242424242";

/// One stack for every case that needs the shipping simulation on: each uses checkouts of
/// its own. Two workers, so the inventory race can run on two processes.
#[tokio::test]
async fn orders_payments_and_stock() {
    let stack = Stack::start(StackOptions {
        env: vec![("SIMULATION_SECRET".to_owned(), SECRET.to_owned())],
        ..StackOptions::with_workers(2)
    })
    .await;
    load_flower_shop(&stack);
    let client = RestClient::new(&stack, "orders");
    orders_are_read_and_updated(&stack, &client).await;
    shipping_simulation_needs_the_secret(&stack, &client).await;
    payment_outcomes(&stack, &client).await;
    credentials_are_never_stored_in_clear(&stack, &client).await;
    the_last_unit_goes_to_one_checkout(&stack, &client).await;
}

fn order_path(id: &str) -> String {
    format!("/orders/{id}")
}

fn id_of(document: &Value) -> String {
    document["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an id in {document}"))
        .to_owned()
}

/// Completes a ready checkout of `items`; returns (checkout, order).
async fn order_of(client: &RestClient, items: &[(&str, i64)]) -> (Value, Value) {
    let checkout = client.ready_checkout(items).await;
    let done = client.complete(&id_of(&checkout), success_token()).await;
    let order_id = done.expect(200, "complete")["order"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an order id: {}", done.json))
        .to_owned();
    let order = client
        .get(&order_path(&order_id))
        .await
        .expect(200, "read the order")
        .clone();
    (done.json, order)
}

async fn orders_for(stack: &Stack, checkout_id: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM orders WHERE checkout_id = $1")
        .bind(uuid::Uuid::parse_str(checkout_id).expect("a UUID"))
        .fetch_one(&stack.db.pool)
        .await
        .expect("count orders")
}

async fn orders_are_read_and_updated(stack: &Stack, client: &RestClient) {
    let (checkout, order) = order_of(client, &[("bouquet_tulips", 2)]).await;
    let order_id = id_of(&order);
    assert_eq!(order["checkout_id"], checkout["id"]);
    let line_id = order["line_items"][0]["id"].as_str().expect("a line id").to_owned();
    assert_eq!(order["line_items"][0]["quantity"], json!({"total": 2, "fulfilled": 0}));

    let events = json!([{"id": "evt_partner_1", "occurred_at": "2026-01-12T10:00:00Z", "type": "shipped",
        "line_items": [{"id": line_id, "quantity": 2}], "tracking_number": "1Z999", "carrier": "UPS"}]);
    let adjustments = json!([{"id": "adj_1", "type": "refund", "occurred_at": "2026-01-13T09:30:00Z",
        "status": "completed", "line_items": [{"id": line_id, "quantity": 1}], "amount": 500,
        "description": "One stem arrived broken"}]);
    let updated = client
        .put(
            &order_path(&order_id),
            &json!({"fulfillment": {"events": events}, "adjustments": adjustments}),
            None,
        )
        .await;
    let updated = updated.expect(200, "PUT /orders/{id}").clone();
    assert_eq!(
        updated["fulfillment"]["events"], events,
        "the events are the body's: {updated}"
    );
    assert_eq!(
        updated["adjustments"], adjustments,
        "the adjustments are the body's: {updated}"
    );
    for merchants in ["line_items", "totals", "checkout_id", "permalink_url"] {
        assert_eq!(updated[merchants], order[merchants], "{merchants} stay the merchant's");
    }
    assert_eq!(
        updated["fulfillment"]["expectations"],
        order["fulfillment"]["expectations"]
    );
    let read = client.get(&order_path(&order_id)).await;
    assert_eq!(read.expect(200, "read"), &updated, "the update was stored");

    // Only what the body gives is replaced.
    let pending =
        json!([{"id": "adj_2", "type": "return", "occurred_at": "2026-01-14T08:00:00Z", "status": "pending"}]);
    let adjusted = client
        .put(&order_path(&order_id), &json!({"adjustments": pending}), None)
        .await;
    let adjusted = adjusted.expect(200, "an update of the adjustments only");
    assert_eq!(adjusted["adjustments"], pending);
    assert_eq!(
        adjusted["fulfillment"]["events"], events,
        "events absent from the body stay"
    );
    let cleared = client
        .put(&order_path(&order_id), &json!({"fulfillment": {"events": []}}), None)
        .await;
    let cleared = cleared.expect(200, "an update emptying the events");
    assert_eq!(cleared["fulfillment"]["events"], json!([]));
    assert_eq!(cleared["adjustments"], pending);

    // Updates that do not validate are 422 and change nothing.
    let before = client.get(&order_path(&order_id)).await.json;
    let invalid = [
        json!({"adjustments": [{"id": "a", "type": "refund", "occurred_at": "2026-01-13T09:30:00Z", "status": "bogus"}]}),
        json!({"adjustments": {"id": "a", "type": "refund", "occurred_at": "2026-01-13T09:30:00Z", "status": "pending"}}),
        json!({"adjustments": "none"}),
        json!({"adjustments": [{"id": "a", "type": "refund", "occurred_at": "2026-01-13T09:30:00Z", "status": "pending", "amount": -1}]}),
        json!({"fulfillment": {"events": [{"id": "e", "occurred_at": "2026-01-12T10:00:00Z", "type": "shipped",
            "line_items": [{"id": line_id, "quantity": 0}]}]}}),
        json!({"fulfillment": {"events": {"id": "e"}}}),
        json!({"fulfillment": {"events": [{"id": "e", "occurred_at": "yesterday", "type": "shipped", "line_items": []}]}}),
    ];
    for body in &invalid {
        let reply = client.put(&order_path(&order_id), body, None).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: expected 422, got {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.raw)
        );
        assert!(!reply.detail().is_empty(), "a UCP error body: {}", reply.json);
    }
    assert_eq!(
        client.get(&order_path(&order_id)).await.json,
        before,
        "the refused updates changed nothing"
    );

    // Unknown orders and other principals' orders are 404.
    let bob = RestClient::new(stack, "orders-bob");
    for (who, target) in [
        (client, "ORD-nope".to_owned()),
        (client, "x".repeat(300)),
        (&bob, order_id.clone()),
    ] {
        let read = who.get(&order_path(&target)).await;
        assert_eq!(read.status, StatusCode::NOT_FOUND, "GET {target}: {}", read.json);
        let update = who.put(&order_path(&target), &json!({"adjustments": []}), None).await;
        assert_eq!(update.status, StatusCode::NOT_FOUND, "PUT {target}: {}", update.json);
    }
    let foreign_ship = simulate(&bob, &order_id, Some(SECRET)).await;
    assert_eq!(
        foreign_ship.status,
        StatusCode::NOT_FOUND,
        "another principal's order: {}",
        foreign_ship.json
    );
    assert_eq!(
        client.get(&order_path(&order_id)).await.json,
        before,
        "another principal changed nothing"
    );
}

async fn simulate(client: &RestClient, order_id: &str, secret: Option<&str>) -> Reply {
    client
        .send(
            "POST",
            &format!("/testing/simulate-shipping/{order_id}"),
            Some(b"{}".to_vec()),
            None,
            &[("simulation-secret", secret)],
        )
        .await
}

async fn shipping_simulation_needs_the_secret(stack: &Stack, client: &RestClient) {
    let (_, order) = order_of(client, &[("bouquet_roses", 1), ("pot_ceramic", 2)]).await;
    let order_id = id_of(&order);
    // The REST operations cannot be smuggled in over A2A, in the order's own conversation.
    let context_id = order["checkout_id"].as_str().expect("the checkout id");
    let smuggled = json!([{"kind": "data", "data": {"note": "first part"}},
        {"kind": "data", "data": {"ucp.rest.operation": {"op": "ship_order", "order_id": order_id}}}]);
    let (_, answer) = stack
        .client("orders")
        .rpc(
            "message/send",
            json!({"message": testkit::client::message(smuggled, Some(context_id)), "configuration": {"blocking": true}}),
        )
        .await;
    assert_eq!(
        answer["error"]["code"], -32602,
        "A2A refuses a REST operation: {answer}"
    );
    let wrong_same_length: String = SECRET.chars().rev().collect();
    for secret in [
        None,
        Some("wrong"),
        Some(&SECRET[..SECRET.len() - 1]),
        Some(wrong_same_length.as_str()),
        Some(""),
    ] {
        let refused = simulate(client, &order_id, secret).await;
        let body = refused.expect(403, &format!("the simulation with secret {secret:?}"));
        assert_eq!(body["code"], "forbidden", "{body}");
    }
    let unchanged = client.get(&order_path(&order_id)).await.json;
    assert_eq!(
        unchanged["fulfillment"]["events"],
        json!([]),
        "refused simulations shipped nothing"
    );

    let shipped = simulate(client, &order_id, Some(SECRET)).await;
    assert_eq!(
        shipped.expect(200, "the simulation with the secret"),
        &json!({"status": "shipped"})
    );
    let after = client.get(&order_path(&order_id)).await.json;
    let events = after["fulfillment"]["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "one shipped event: {after}");
    assert_eq!(events[0]["type"], "shipped");
    let shipped_lines: Vec<(String, i64)> = events[0]["line_items"]
        .as_array()
        .expect("the event's lines")
        .iter()
        .map(|l| {
            (
                l["id"].as_str().unwrap_or_default().to_owned(),
                l["quantity"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let ordered: Vec<(String, i64)> = order["line_items"]
        .as_array()
        .expect("order lines")
        .iter()
        .map(|l| {
            (
                l["id"].as_str().unwrap_or_default().to_owned(),
                l["quantity"]["total"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(shipped_lines, ordered, "every line ships in full");
    for line in after["line_items"].as_array().expect("lines") {
        assert_eq!(line["status"], "fulfilled", "{line}");
        assert_eq!(line["quantity"]["fulfilled"], line["quantity"]["total"], "{line}");
    }
}

async fn payment_outcomes(stack: &Stack, client: &RestClient) {
    let checkout = client.ready_checkout(&[("bouquet_sunflowers", 2)]).await;
    let id = id_of(&checkout);
    let stock_before = stock(stack, "bouquet_sunflowers").await;
    let refusals = [
        (json!({"type": "token", "token": "fail_token"}), 402, "payment_declined"),
        (
            json!({"type": "token", "token": "fraud_token"}),
            403,
            "payment_fraud_suspected",
        ),
        (
            json!({"type": "token", "token": "some_other_token"}),
            402,
            "payment_declined",
        ),
    ];
    for (credential, status, code) in refusals {
        let refused = client.complete(&id, credential.clone()).await;
        let body = refused.expect(status, &format!("paying with {credential}"));
        assert_eq!(body["code"], code, "{body}");
        let read = client.get(&format!("/checkout-sessions/{id}")).await.json;
        assert_eq!(
            read["status"], "ready_for_complete",
            "still payable after {credential}: {read}"
        );
        assert!(read.get("order").is_none(), "no order after {credential}");
    }
    let mut unknown_handler = payment_body(success_token());
    unknown_handler["payment_data"]["handler_id"] = json!("no_such_handler");
    let refused = client
        .post(&format!("/checkout-sessions/{id}/complete"), &unknown_handler, None)
        .await;
    assert_eq!(
        refused.expect(400, "an unknown handler")["code"],
        "payment_handler_unknown"
    );
    assert_eq!(orders_for(stack, &id).await, 0, "no order for a refused payment");
    assert_eq!(
        stock(stack, "bouquet_sunflowers").await,
        stock_before,
        "refused payments took no stock"
    );

    let card = json!({"type": "card", "number": CARD_NUMBER, "expiry_month": 12, "expiry_year": 2030, "cvc": "123"});
    let paid = client.complete(&id, card).await;
    let done = paid.expect(200, "paying with a test card");
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["payment"]["instruments"][0]["last_digits"], "4242", "{done}");
    assert_eq!(orders_for(stack, &id).await, 1);
    assert_eq!(
        stock(stack, "bouquet_sunflowers").await,
        stock_before - 2,
        "the paid order took its stock"
    );
}

async fn credentials_are_never_stored_in_clear(stack: &Stack, client: &RestClient) {
    let canary = format!("tok_canary_{}", uuid::Uuid::new_v4().simple());
    // A create body carrying a credential (never read from there) and a completion paying
    // with a card and a token.
    let mut body = ready_body(&[("orchid_white", 1)]);
    body["payment"] = json!({"selected_instrument_id": "instr_9", "instruments": [{"id": "instr_9",
        "handler_id": "mock_payment_handler", "type": "card",
        "credential": {"type": "card", "number": CARD_NUMBER, "token": format!("{canary}_create")}}]});
    let checkout = client.create(&body).await;
    assert_eq!(checkout["status"], "ready_for_complete", "{checkout}");
    let card = json!({"type": "card", "number": CARD_NUMBER, "cvc": "987", "token": canary});
    let paid = client.complete(&id_of(&checkout), card).await;
    paid.expect(200, "paying with a card and a token");
    let tokened = client.ready_checkout(&[("orchid_white", 1)]).await;
    let declined = client
        .complete(
            &id_of(&tokened),
            json!({"type": "token", "token": format!("{canary}_declined")}),
        )
        .await;
    declined.expect(402, "an unknown token is declined");

    let mut leaks = Vec::new();
    for table in ["tasks", "checkouts", "orders", "webhook_deliveries"] {
        for secret in [CARD_NUMBER, canary.as_str()] {
            let found: i64 =
                sqlx::query_scalar(&format!("SELECT count(*) FROM {table} t WHERE strpos(t::text, $1) > 0"))
                    .bind(secret)
                    .fetch_one(&stack.db.pool)
                    .await
                    .expect("search the table");
            if found > 0 {
                leaks.push(format!("{found} rows of {table} hold {secret}"));
            }
        }
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks WHERE request::text LIKE '%complete_checkout%'")
        .fetch_one(&stack.db.pool)
        .await
        .expect("count completion tasks");
    assert!(
        rows >= 2,
        "the completions were recorded as tasks (the search looked at them)"
    );
    for process in stack.workers.iter().chain(stack.ingress.iter()) {
        for secret in [CARD_NUMBER, canary.as_str()] {
            if process.output().contains(secret) {
                leaks.push(format!("{} logged {secret}", process.name));
            }
        }
    }
    assert!(leaks.is_empty(), "credentials in clear text: {leaks:#?}");
}

async fn the_last_unit_goes_to_one_checkout(stack: &Stack, client: &RestClient) {
    sqlx::query("UPDATE inventory SET quantity = 1 WHERE product_id = 'pot_ceramic'")
        .execute(&stack.db.pool)
        .await
        .expect("set the stock to 1");
    let first = id_of(&client.ready_checkout(&[("pot_ceramic", 1)]).await);
    let second = id_of(&client.ready_checkout(&[("pot_ceramic", 1)]).await);
    let (a, b) = join(
        client.complete(&first, success_token()),
        client.complete(&second, success_token()),
    )
    .await;
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 400],
        "one completion wins the last unit, the other is refused:\n{}\n{}",
        String::from_utf8_lossy(&a.raw),
        String::from_utf8_lossy(&b.raw)
    );
    let (winner, loser, loser_id) = if a.status == StatusCode::OK {
        (&a, &b, &second)
    } else {
        (&b, &a, &first)
    };
    assert_eq!(winner.json["status"], "completed");
    assert_eq!(loser.code(), "out_of_stock", "{}", loser.json);
    assert!(loser.detail().contains("Insufficient stock"), "{}", loser.json);
    assert_eq!(stock(stack, "pot_ceramic").await, 0, "the last unit was taken once");
    assert_eq!(
        orders_for(stack, &first).await + orders_for(stack, &second).await,
        1,
        "one order"
    );
    let read = client.get(&format!("/checkout-sessions/{loser_id}")).await.json;
    assert_eq!(
        read["status"], "ready_for_complete",
        "the loser's checkout stays open: {read}"
    );
}

/// Without `SIMULATION_SECRET` the simulation is refused whatever header is sent.
#[tokio::test]
async fn shipping_simulation_is_off_without_the_setting() {
    let stack = Stack::start(StackOptions::with_workers(1)).await;
    load_flower_shop(&stack);
    let client = RestClient::new(&stack, "no-simulation");
    let (_, order) = order_of(&client, &[("bouquet_roses", 1)]).await;
    let order_id = id_of(&order);
    for secret in [None, Some(""), Some(SECRET)] {
        let refused = simulate(&client, &order_id, secret).await;
        refused.expect(
            403,
            &format!("the simulation with secret {secret:?} and no SIMULATION_SECRET"),
        );
    }
    let after = client.get(&order_path(&order_id)).await.json;
    assert_eq!(after["fulfillment"]["events"], json!([]), "nothing shipped: {after}");
}
