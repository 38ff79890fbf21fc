//! Order webhooks of the UCP REST binding: a platform whose profile names a `webhook_url`
//! (`dev.ucp.shopping.order`) gets `order_placed` and `order_shipped` from the PostgreSQL
//! outbox. A receiver that refuses the first attempts never fails or delays the checkout call;
//! the events are retried until it takes them, each order's in the order they happened, each
//! acknowledged once, without payment credentials; a platform without a webhook gets none.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::rest::{load_flower_shop, RestClient, WebhookReceiver};
use testkit::{Stack, StackOptions};

const SECRET: &str = "simulation-secret-for-tests-0123";
const CARD_NUMBER: &str = "4242424242424242";

fn id_of(document: &Value) -> String {
    document["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an id in {document}"))
        .to_owned()
}

async fn simulate_shipping(client: &RestClient, order_id: &str) {
    let shipped = client
        .send(
            "POST",
            &format!("/testing/simulate-shipping/{order_id}"),
            Some(b"{}".to_vec()),
            None,
            &[("simulation-secret", Some(SECRET))],
        )
        .await;
    assert_eq!(
        shipped.expect(200, "the shipping simulation"),
        &json!({"status": "shipped"})
    );
}

/// The outbox rows of an order: (event type, delivered, attempts), oldest first.
async fn outbox(stack: &Stack, order_id: &str) -> Vec<(String, bool, i32)> {
    sqlx::query_as(
        "SELECT event_type, delivered_at IS NOT NULL, attempts FROM webhook_deliveries WHERE order_id = $1 ORDER BY id",
    )
    .bind(order_id)
    .fetch_all(&stack.db.pool)
    .await
    .expect("read the outbox")
}

#[tokio::test]
async fn order_events_reach_a_receiver_that_fails_at_first() {
    let receiver = WebhookReceiver::start(2).await;
    // The receiver is the only host profiles and webhooks may be fetched from or sent to.
    let stack = Stack::start(StackOptions {
        env: vec![
            ("UCP_PROFILE_ALLOWLIST".to_owned(), receiver.allowlist_entry()),
            ("SIMULATION_SECRET".to_owned(), SECRET.to_owned()),
        ],
        ..StackOptions::with_workers(2)
    })
    .await;
    load_flower_shop(&stack);
    let client = RestClient::new(&stack, "platform").with_profile(&receiver.profile_url());

    let checkout = client.ready_checkout(&[("bouquet_roses", 2)]).await;
    let checkout_id = id_of(&checkout);
    let card = json!({"type": "card", "number": CARD_NUMBER, "expiry_month": 12, "expiry_year": 2030, "cvc": "123"});
    let started = Instant::now();
    let completed = client.complete(&checkout_id, card).await;
    let took = started.elapsed();
    let done = completed.expect(200, "completion while the webhook receiver fails");
    assert!(
        receiver.acknowledged().is_empty(),
        "the completion answered (after {took:?}) without waiting for the webhook, which is refused \
         twice and retried only after the receiver's quiet period"
    );
    let order_id = done["order"]["id"].as_str().expect("an order id").to_owned();

    // Shipped at once: its event must still reach the receiver after the placed one.
    simulate_shipping(&client, &order_id).await;

    let acknowledged = testkit::eventually(
        Duration::from_secs(40),
        "order_placed and order_shipped acknowledged by the receiver (2 refusals, backoff 1 s doubling, 5 s quiet)",
        || async {
            let acknowledged = receiver.acknowledged();
            let has = |kind: &str| acknowledged.iter().any(|e| e["event_type"] == kind);
            (has("order_placed") && has("order_shipped")).then_some(acknowledged)
        },
    )
    .await;

    let placed = acknowledged
        .iter()
        .find(|e| e["event_type"] == "order_placed")
        .expect("order_placed");
    assert_eq!(placed["checkout_id"], checkout_id.as_str(), "{placed}");
    assert_eq!(placed["order"]["id"], order_id.as_str(), "{placed}");
    assert_eq!(placed["order"]["checkout_id"], checkout_id.as_str());
    assert_eq!(
        placed["order"]["line_items"][0]["quantity"],
        json!({"total": 2, "fulfilled": 0})
    );
    assert_eq!(
        placed["order"]["fulfillment"]["expectations"][0]["description"], "Standard Shipping (Free)",
        "roses ship free: {placed}"
    );
    assert_eq!(
        placed["order"]["totals"], done["totals"],
        "the order's totals are the checkout's"
    );

    let shipped = acknowledged
        .iter()
        .find(|e| e["event_type"] == "order_shipped")
        .expect("order_shipped");
    assert_eq!(shipped["checkout_id"], checkout_id.as_str(), "{shipped}");
    assert_eq!(shipped["order"]["id"], order_id.as_str(), "{shipped}");
    let events = shipped["order"]["fulfillment"]["events"].as_array().expect("events");
    assert!(
        events.iter().any(|e| e["type"] == "shipped"),
        "the shipped event: {shipped}"
    );

    // Every request the receiver got, in arrival order: the first two (refused) were the
    // placed event, and nothing about the shipment came before the placed event was taken.
    let deliveries = receiver.deliveries();
    let kinds: Vec<(String, bool)> = deliveries
        .iter()
        .map(|d| {
            (
                d.body["event_type"].as_str().unwrap_or_default().to_owned(),
                d.acknowledged,
            )
        })
        .collect();
    assert_eq!(
        kinds[..3],
        [
            ("order_placed".to_owned(), false),
            ("order_placed".to_owned(), false),
            ("order_placed".to_owned(), true)
        ],
        "the placed event was retried until taken: {kinds:?}"
    );
    let first_shipped = kinds
        .iter()
        .position(|(kind, _)| kind == "order_shipped")
        .expect("a shipped request");
    assert!(
        first_shipped > 2,
        "order_shipped was sent only after order_placed was taken: {kinds:?}"
    );

    let rows = testkit::eventually(
        Duration::from_secs(10),
        "both outbox rows recorded as delivered",
        || async {
            let rows = outbox(&stack, &order_id).await;
            (rows.len() == 2 && rows.iter().all(|(_, delivered, _)| *delivered)).then_some(rows)
        },
    )
    .await;
    assert_eq!(rows[0].0, "order_placed");
    assert!(
        rows[0].2 >= 3,
        "the placed event took at least three attempts: {rows:?}"
    );
    assert_eq!(rows[1].0, "order_shipped");
    let acknowledged = receiver.acknowledged();
    for kind in ["order_placed", "order_shipped"] {
        let times = acknowledged.iter().filter(|e| e["event_type"] == kind).count();
        assert_eq!(
            times, 1,
            "{kind} was acknowledged once, then never sent again: {kinds:?}"
        );
    }

    for delivery in &deliveries {
        assert!(
            !delivery.body.to_string().contains(CARD_NUMBER),
            "a webhook carried the card number: {}",
            delivery.body
        );
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE strpos(body::text, $1) > 0")
        .bind(CARD_NUMBER)
        .fetch_one(&stack.db.pool)
        .await
        .expect("search the outbox");
    assert_eq!(stored, 0, "the outbox never holds the card number");

    // A platform whose profile names no webhook gets no events.
    let quiet = client.clone().with_profile("platform-without-webhooks");
    let other = quiet.ready_checkout(&[("bouquet_tulips", 1)]).await;
    let paid = quiet
        .complete(&id_of(&other), json!({"type": "token", "token": "success_token"}))
        .await;
    let other_order = paid.expect(200, "completion without a webhook")["order"]["id"]
        .as_str()
        .expect("an order id")
        .to_owned();
    simulate_shipping(&quiet, &other_order).await;
    assert!(
        outbox(&stack, &other_order).await.is_empty(),
        "no webhook, no outbox rows"
    );
    let about_it = receiver
        .deliveries()
        .iter()
        .filter(|d| d.body["order"]["id"] == other_order.as_str())
        .count();
    assert_eq!(
        about_it, 0,
        "the receiver heard nothing of an order placed without its profile"
    );
}
