//! Idempotency of the UCP REST binding: a mutation resent with the same `Idempotency-Key` and
//! the same request gets the stored response byte for byte, with its status (a 201 create, an
//! update since overtaken, a completion, a declined payment, a cancel of a checkout closed
//! since), and its effect happens once, also when eight copies arrive at once; the same key
//! with another body, path or payment credential is refused (409), and a newer UCP version is
//! refused (400) before any replay.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use testkit::rest::{checkout_body, load_flower_shop, payment_body, success_token, Reply, RestClient};
use testkit::{Stack, StackOptions};

/// One stack for every case: each uses checkouts and keys of its own.
#[tokio::test]
async fn idempotency_keys_replay_and_conflict() {
    let stack = Stack::start(StackOptions::with_workers(1)).await;
    load_flower_shop(&stack);
    let client = RestClient::new(&stack, "idem");
    create_replays(&stack, &client).await;
    update_replays_the_stored_response(&client).await;
    complete_replays_and_refuses_a_changed_credential(&stack, &client).await;
    cancel_replays_after_the_checkout_closed(&client).await;
    concurrent_copies_create_one_checkout(&stack, &client).await;
    malformed_keys_are_refused(&stack, &client).await;
}

fn key() -> String {
    format!("key-{}", uuid::Uuid::new_v4())
}

#[track_caller]
fn assert_replayed(first: &Reply, again: &Reply, what: &str) {
    assert_eq!(
        again.status, first.status,
        "{what}: the replay has the first answer's status"
    );
    assert_eq!(
        again.raw,
        first.raw,
        "{what}: the replay is the stored response byte for byte\nfirst: {}\nagain: {}",
        String::from_utf8_lossy(&first.raw),
        String::from_utf8_lossy(&again.raw)
    );
}

#[track_caller]
fn assert_conflict(reply: &Reply, what: &str) {
    let body = reply.expect(409, what);
    assert_eq!(body["code"], "idempotency_conflict", "{what}: {body}");
}

fn id_of(checkout: &Value) -> String {
    checkout["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a checkout id in {checkout}"))
        .to_owned()
}

async fn checkouts_of(stack: &Stack, principal: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM checkouts WHERE principal = $1")
        .bind(principal)
        .fetch_one(&stack.db.pool)
        .await
        .expect("count checkouts")
}

async fn create_replays(stack: &Stack, client: &RestClient) {
    let before = checkouts_of(stack, "idem").await;
    let k = key();
    let body = checkout_body(&[("bouquet_tulips", 2)]);
    let first = client.post("/checkout-sessions", &body, Some(&k)).await;
    first.expect(201, "create");
    let again = client.post("/checkout-sessions", &body, Some(&k)).await;
    assert_replayed(&first, &again, "create resent");
    // The same JSON with its keys in another order and other whitespace is the same request.
    let reordered =
        br#"{ "line_items" : [ { "quantity" : 2, "item" : { "id" : "bouquet_tulips" } } ], "currency" : "USD" }"#;
    let resent = client
        .send("POST", "/checkout-sessions", Some(reordered.to_vec()), Some(&k), &[])
        .await;
    assert_replayed(&first, &resent, "create resent with its keys reordered");
    assert_eq!(
        checkouts_of(stack, "idem").await,
        before + 1,
        "one checkout for three sends"
    );

    let changed = client
        .post("/checkout-sessions", &checkout_body(&[("bouquet_tulips", 3)]), Some(&k))
        .await;
    assert_conflict(&changed, "the key reused for another create body");
    let id = id_of(&first.json);
    let elsewhere = client.put(&format!("/checkout-sessions/{id}"), &body, Some(&k)).await;
    assert_conflict(&elsewhere, "the key reused for an update");
    assert_eq!(
        checkouts_of(stack, "idem").await,
        before + 1,
        "the conflicts created nothing"
    );
    let read = client.get(&format!("/checkout-sessions/{id}")).await;
    assert_eq!(
        read.expect(200, "read")["line_items"][0]["quantity"],
        2,
        "the conflicts changed nothing"
    );

    // Keys belong to their principal: another one using the same key makes its own checkout.
    let other = RestClient::new(stack, "idem-other")
        .post("/checkout-sessions", &body, Some(&k))
        .await;
    let theirs = other.expect(201, "another principal's create with the same key");
    assert_ne!(
        theirs["id"], first.json["id"],
        "another principal's key is another request"
    );
}

async fn update_replays_the_stored_response(client: &RestClient) {
    let id = id_of(&client.create(&checkout_body(&[("bouquet_tulips", 1)])).await);
    let path = format!("/checkout-sessions/{id}");
    let to = |quantity: i64| json!({"line_items": [{"item": {"id": "bouquet_tulips"}, "quantity": quantity}]});
    let (k2, k3) = (key(), key());
    let two = client.put(&path, &to(2), Some(&k2)).await;
    assert_eq!(two.expect(200, "update to 2")["line_items"][0]["quantity"], 2);
    let three = client.put(&path, &to(3), Some(&k3)).await;
    assert_eq!(three.expect(200, "update to 3")["line_items"][0]["quantity"], 3);
    let again = client.put(&path, &to(2), Some(&k2)).await;
    assert_replayed(&two, &again, "the first update resent after a later one");
    let read = client.get(&path).await;
    assert_eq!(
        read.expect(200, "read")["line_items"][0]["quantity"],
        3,
        "the replay did not apply the first update again"
    );
    let changed = client.put(&path, &to(4), Some(&k2)).await;
    assert_conflict(&changed, "the update key reused for another quantity");
    assert_eq!(client.get(&path).await.json["line_items"][0]["quantity"], 3);
}

async fn complete_replays_and_refuses_a_changed_credential(stack: &Stack, client: &RestClient) {
    let id = id_of(&client.ready_checkout(&[("orchid_white", 1)]).await);
    let path = format!("/checkout-sessions/{id}/complete");
    let stock = || async {
        sqlx::query_scalar::<_, i64>("SELECT quantity FROM inventory WHERE product_id = 'orchid_white'")
            .fetch_one(&stack.db.pool)
            .await
            .expect("read stock")
    };
    let stock_before = stock().await;

    // A declined payment is a stored answer too.
    let k_declined = key();
    let fail = payment_body(json!({"type": "token", "token": "fail_token"}));
    let declined = client.post(&path, &fail, Some(&k_declined)).await;
    declined.expect(402, "a declined payment");

    let k = key();
    let pay = payment_body(success_token());
    let first = client.post(&path, &pay, Some(&k)).await;
    assert_eq!(first.expect(200, "complete")["status"], "completed");
    let again = client.post(&path, &pay, Some(&k)).await;
    assert_replayed(&first, &again, "complete resent after the checkout completed");
    let declined_again = client.post(&path, &fail, Some(&k_declined)).await;
    assert_replayed(
        &declined,
        &declined_again,
        "the declined payment resent after completion",
    );

    let other_credentials = [
        json!({"type": "token", "token": "fraud_token"}),
        json!({"type": "card", "number": "4242424242424242", "expiry_month": 12, "expiry_year": 2030, "cvc": "123"}),
    ];
    for credential in other_credentials {
        let changed = client.post(&path, &payment_body(credential), Some(&k)).await;
        assert_conflict(&changed, "the complete key reused with another credential");
    }

    let newer = format!("profile=\"{}\"; version=\"2099-01-01\"", client.profile);
    let from_the_future = client
        .send(
            "POST",
            &path,
            Some(pay.to_string().into_bytes()),
            Some(&k),
            &[("ucp-agent", Some(&newer))],
        )
        .await;
    let body = from_the_future.expect(400, "a newer UCP version with a used key");
    assert_eq!(body["code"], "version_unsupported", "{body}");
    let current = format!("profile=\"{}\"; version=\"2026-01-11\"", client.profile);
    let same_version = client
        .send(
            "POST",
            &path,
            Some(pay.to_string().into_bytes()),
            Some(&k),
            &[("ucp-agent", Some(&current))],
        )
        .await;
    assert_replayed(&first, &same_version, "complete resent naming our version");

    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE checkout_id = $1")
        .bind(uuid::Uuid::parse_str(&id).expect("a UUID"))
        .fetch_one(&stack.db.pool)
        .await
        .expect("count orders");
    assert_eq!(orders, 1, "one order for every resend");
    assert_eq!(stock().await, stock_before - 1, "the stock was taken once");
}

async fn cancel_replays_after_the_checkout_closed(client: &RestClient) {
    let id = id_of(&client.create(&checkout_body(&[("bouquet_sunflowers", 1)])).await);
    let path = format!("/checkout-sessions/{id}/cancel");
    let k = key();
    let first = client.post(&path, &json!({}), Some(&k)).await;
    assert_eq!(first.expect(200, "cancel")["status"], "canceled");
    let again = client.post(&path, &json!({}), Some(&k)).await;
    assert_replayed(&first, &again, "cancel resent after the checkout was canceled");
    let fresh = client.post(&path, &json!({}), None).await;
    assert_eq!(
        fresh.expect(409, "a new cancel of a canceled checkout")["code"],
        "checkout_closed"
    );
}

async fn concurrent_copies_create_one_checkout(stack: &Stack, client: &RestClient) {
    let before = checkouts_of(stack, "idem").await;
    let k = key();
    let body = checkout_body(&[("pot_ceramic", 1), ("bouquet_roses", 1)]);
    let replies = join_all((0..8).map(|_| {
        let client = client.clone();
        let (body, k) = (body.clone(), k.clone());
        async move { client.post("/checkout-sessions", &body, Some(&k)).await }
    }))
    .await;
    for reply in &replies {
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "every copy answers 201: {}",
            String::from_utf8_lossy(&reply.raw)
        );
        assert_replayed(&replies[0], reply, "a concurrent copy");
    }
    assert_eq!(
        checkouts_of(stack, "idem").await,
        before + 1,
        "eight concurrent copies created one checkout"
    );
    let tasks: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks WHERE message_id = $1")
        .bind(format!("rest:{k}"))
        .fetch_one(&stack.db.pool)
        .await
        .expect("count tasks");
    assert_eq!(tasks, 1, "one task recorded for the key");
}

/// A key is 1 to 255 visible ASCII characters; any other is refused before anything is
/// recorded.
async fn malformed_keys_are_refused(stack: &Stack, client: &RestClient) {
    let before = checkouts_of(stack, "idem").await;
    let body = checkout_body(&[("pot_ceramic", 1)]);
    let longest = "k".repeat(255);
    let accepted = client.post("/checkout-sessions", &body, Some(&longest)).await;
    accepted.expect(201, "a 255-character key");
    for bad in ["k".repeat(256), String::new(), "with space".to_owned()] {
        let refused = client.post("/checkout-sessions", &body, Some(&bad)).await;
        let answer = refused.expect(400, &format!("the key {bad:?}"));
        assert!(
            answer["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("Idempotency-Key"),
            "{answer}"
        );
    }
    assert_eq!(
        checkouts_of(stack, "idem").await,
        before + 1,
        "only the valid key created a checkout"
    );
}
