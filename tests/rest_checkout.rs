//! The UCP REST binding's checkout sessions on the flower shop: a checkout created (201), read,
//! updated and completed into an order, and refused (409) once completed or canceled; prices,
//! compounding discount codes, free-shipping promotions and shipping options that follow the
//! destination's country; the buyer's saved addresses offered as destinations, new ones saved
//! and reused; every malformed, unknown, foreign or unauthenticated request refused with the
//! right status and a UCP error body, never a 500; and one checkout shared by the A2A and REST
//! bindings in both directions.

use reqwest::StatusCode;
use serde_json::{json, Value};
use testkit::client::{checkout_of, quantity};
use testkit::rest::{checkout_body, load_flower_shop, options, payment_body, stock, success_token, total, RestClient};
use testkit::{Stack, StackOptions};

/// One stack for every case that needs no setting of its own: each case uses checkouts of
/// its own.
#[tokio::test]
async fn checkout_sessions_over_rest() {
    let stack = Stack::start(StackOptions::with_workers(1)).await;
    load_flower_shop(&stack);
    let alice = RestClient::new(&stack, "alice");
    lifecycle(&stack, &alice).await;
    canceled_checkouts_are_closed(&alice).await;
    totals_discounts_and_shipping(&alice).await;
    saved_addresses(&stack, &alice).await;
    invalid_requests_are_refused(&stack, &alice).await;
    foreign_unknown_and_unauthenticated(&stack, &alice).await;
    shared_with_a2a(&stack, &alice).await;
    request_id_is_answered(&alice).await;
}

/// The binding's `Request-Id` is the request's id, answered as `X-Request-Id`.
async fn request_id_is_answered(client: &RestClient) {
    let response = client
        .http
        .get(format!("{}/checkout-sessions/{}", client.base, uuid::Uuid::new_v4()))
        .bearer_auth(client.token.as_deref().expect("a token"))
        .header("Request-Id", "ucp-request-42")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers().get("x-request-id").and_then(|v| v.to_str().ok()),
        Some("ucp-request-42"),
        "the client's Request-Id is the request's id"
    );
}

fn path(id: &str) -> String {
    format!("/checkout-sessions/{id}")
}

fn id_of(checkout: &Value) -> String {
    checkout["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a checkout id in {checkout}"))
        .to_owned()
}

/// A UCP error body with `code`, whose `messages[0]` says the same as `detail`.
#[track_caller]
fn assert_error_body(body: &Value, code: &str) {
    assert_eq!(body["code"], code, "error code: {body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(!detail.is_empty(), "an error body has a detail: {body}");
    assert_eq!(body["messages"][0]["type"], "error", "{body}");
    assert_eq!(body["messages"][0]["code"], code, "{body}");
    assert_eq!(body["messages"][0]["content"], detail, "{body}");
}

/// Create → read → update lines → buyer and shipping method → destination → option →
/// complete → order; the completed checkout then refuses every change with 409.
async fn lifecycle(stack: &Stack, client: &RestClient) {
    let stock_before = stock(stack, "pot_ceramic").await;
    let created = client
        .post("/checkout-sessions", &checkout_body(&[("pot_ceramic", 2)]), None)
        .await;
    let checkout = created.expect(201, "create").clone();
    let id = id_of(&checkout);
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "the checkout id is a UUID: {id}");
    assert_eq!(checkout["status"], "incomplete", "{checkout}");
    assert_eq!(checkout["currency"], "USD");
    let line = &checkout["line_items"][0];
    assert_eq!(line["item"]["title"], "Ceramic Pot", "the catalog names the item");
    assert_eq!(line["item"]["price"], 1500, "the catalog prices the item");
    assert_eq!(line["quantity"], 2);
    assert_eq!(total(line, "total"), Some(3000));
    assert_eq!(
        (total(&checkout, "subtotal"), total(&checkout, "total")),
        (Some(3000), Some(3000))
    );
    assert_eq!(
        total(&checkout, "fulfillment"),
        None,
        "no shipping before an option is selected"
    );
    let line_id = line["id"].as_str().expect("a line id").to_owned();

    let read = client.get(&path(&id)).await;
    assert_eq!(
        read.expect(200, "read"),
        &checkout,
        "GET returns the checkout as created"
    );

    let updated = client
        .update(
            &id,
            &json!({"line_items": [{"id": line_id, "item": {"id": "pot_ceramic"}, "quantity": 3}]}),
        )
        .await;
    assert_eq!(
        updated["line_items"][0]["id"],
        line_id.as_str(),
        "a line named by id keeps its id"
    );
    assert_eq!(updated["line_items"][0]["quantity"], 3);
    assert_eq!(total(&updated, "total"), Some(4500));
    assert_eq!(updated["status"], "incomplete");

    let buyer = json!({"first_name": "John", "last_name": "Doe", "email": "john.doe@example.com"});
    let with_method = client
        .update(
            &id,
            &json!({"buyer": buyer, "fulfillment": {"methods": [{"type": "shipping"}]}}),
        )
        .await;
    assert_eq!(
        with_method["line_items"][0]["quantity"], 3,
        "an absent field keeps what the checkout has"
    );
    let destinations: Vec<&str> = with_method["fulfillment"]["methods"][0]["destinations"]
        .as_array()
        .unwrap_or_else(|| panic!("the buyer's saved addresses are offered: {with_method}"))
        .iter()
        .filter_map(|d| d["id"].as_str())
        .collect();
    assert_eq!(destinations, ["addr_1", "addr_2"]);
    assert_eq!(with_method["status"], "incomplete", "no destination selected yet");

    let with_destination = client
        .update(
            &id,
            &json!({"fulfillment": {"methods": [{"type": "shipping", "selected_destination_id": "addr_1"}]}}),
        )
        .await;
    assert_eq!(
        options(&with_destination),
        [
            ("std-ship".to_owned(), "Standard Shipping".to_owned(), 500),
            ("exp-ship-us".to_owned(), "Express Shipping (US)".to_owned(), 1500)
        ],
        "US options once a US destination is selected: {with_destination}"
    );
    assert_eq!(with_destination["status"], "incomplete", "no option selected yet");

    let ready = client
        .update(&id, &json!({"fulfillment": {"methods": [{"type": "shipping", "groups": [{"selected_option_id": "std-ship"}]}]}}))
        .await;
    assert_eq!(ready["status"], "ready_for_complete", "{ready}");
    assert_eq!(
        ready["fulfillment"]["methods"][0]["selected_destination_id"], "addr_1",
        "the destination stays selected"
    );
    assert_eq!(total(&ready, "fulfillment"), Some(500));
    assert_eq!(total(&ready, "total"), Some(5000));
    assert_eq!(total(&ready, "tax"), None, "the flower shop charges no tax");

    let completed = client.complete(&id, success_token()).await;
    let done = completed.expect(200, "complete").clone();
    assert_eq!(done["status"], "completed", "{done}");
    let order_id = format!("ORD-{id}");
    assert_eq!(done["order"]["id"], order_id.as_str(), "{done}");
    assert_eq!(done["payment"]["instruments"][0]["id"], "instr_1", "{done}");
    assert!(
        done["payment"]["instruments"][0].get("credential").is_none(),
        "the checkout never shows the credential: {done}"
    );
    assert_eq!(
        stock(stack, "pot_ceramic").await,
        stock_before - 3,
        "completion takes the stock"
    );

    let order = client
        .get(&format!("/orders/{order_id}"))
        .await
        .expect(200, "read the order")
        .clone();
    assert_eq!(order["id"], order_id.as_str());
    assert_eq!(order["checkout_id"], id.as_str());
    assert_eq!(order["permalink_url"], done["order"]["permalink_url"]);
    assert_eq!(order["line_items"][0]["id"], line_id.as_str());
    assert_eq!(order["line_items"][0]["item"]["id"], "pot_ceramic");
    assert_eq!(order["line_items"][0]["quantity"], json!({"total": 3, "fulfilled": 0}));
    assert_eq!(order["line_items"][0]["status"], "processing");
    let expectation = &order["fulfillment"]["expectations"][0];
    assert_eq!(expectation["method_type"], "shipping", "{order}");
    assert_eq!(
        expectation["description"], "Standard Shipping",
        "the selected option's title"
    );
    assert_eq!(expectation["destination"]["street_address"], "123 Main St");
    assert_eq!(expectation["line_items"], json!([{"id": line_id, "quantity": 3}]));
    assert_eq!(order["fulfillment"]["events"], json!([]));
    assert_eq!(order["adjustments"], Value::Null);
    assert_eq!(order["totals"], done["totals"], "the order's totals are the checkout's");

    let refused = [
        client
            .put(
                &path(&id),
                &json!({"line_items": [{"item": {"id": "pot_ceramic"}, "quantity": 1}]}),
                None,
            )
            .await,
        client.complete(&id, success_token()).await,
        client.post(&format!("{}/cancel", path(&id)), &json!({}), None).await,
    ];
    for (what, reply) in ["update", "complete", "cancel"].iter().zip(&refused) {
        assert_error_body(
            reply.expect(409, &format!("{what} of a completed checkout")),
            "checkout_closed",
        );
    }
    let after = client.get(&path(&id)).await.expect(200, "read").clone();
    assert_eq!(after, done, "the refused requests changed nothing");
    assert_eq!(
        stock(stack, "pot_ceramic").await,
        stock_before - 3,
        "the stock was taken once"
    );
}

/// A canceled checkout refuses update, complete and cancel.
async fn canceled_checkouts_are_closed(client: &RestClient) {
    let id = id_of(&client.ready_checkout(&[("bouquet_tulips", 1)]).await);
    let canceled = client.post(&format!("{}/cancel", path(&id)), &json!({}), None).await;
    assert_eq!(canceled.expect(200, "cancel")["status"], "canceled");
    let refused = [
        client
            .put(&path(&id), &json!({"discounts": {"codes": ["10OFF"]}}), None)
            .await,
        client.complete(&id, success_token()).await,
        client.post(&format!("{}/cancel", path(&id)), &json!({}), None).await,
    ];
    for (what, reply) in ["update", "complete", "cancel"].iter().zip(&refused) {
        assert_error_body(
            reply.expect(409, &format!("{what} of a canceled checkout")),
            "checkout_closed",
        );
    }
    let read = client.get(&path(&id)).await;
    assert_eq!(read.expect(200, "read")["status"], "canceled");
    assert!(read.json.get("order").is_none(), "a canceled checkout places no order");
}

async fn totals_discounts_and_shipping(client: &RestClient) {
    // Codes apply in the order given, each to what the ones before left; unknown ones apply
    // nothing.
    let mut body = checkout_body(&[("bouquet_tulips", 1)]);
    body["discounts"] = json!({"codes": ["10OFF", "NOPE", "FIXED500"]});
    let checkout = client.create(&body).await;
    assert_eq!(
        checkout["discounts"]["applied"],
        json!([{"code": "10OFF", "title": "10% Off", "amount": 300}, {"code": "FIXED500", "title": "$5.00 Off", "amount": 500}]),
        "{checkout}"
    );
    assert_eq!(checkout["discounts"]["codes"], json!(["10OFF", "NOPE", "FIXED500"]));
    assert_eq!(
        (total(&checkout, "discount"), total(&checkout, "total")),
        (Some(800), Some(2200))
    );
    let id = id_of(&checkout);
    let reordered = client
        .update(&id, &json!({"discounts": {"codes": ["FIXED500", "10OFF"]}}))
        .await;
    assert_eq!(
        reordered["discounts"]["applied"],
        json!([{"code": "FIXED500", "title": "$5.00 Off", "amount": 500}, {"code": "10OFF", "title": "10% Off", "amount": 250}]),
        "the other order compounds differently: {reordered}"
    );
    assert_eq!(
        (total(&reordered, "discount"), total(&reordered, "total")),
        (Some(750), Some(2250))
    );
    let three = client
        .update(&id, &json!({"discounts": {"codes": ["WELCOME20", "10OFF"]}}))
        .await;
    assert_eq!(
        (total(&three, "discount"), total(&three, "total")),
        (Some(600 + 240), Some(2160))
    );

    // Lines for the same product are merged.
    let merged = client
        .create(&checkout_body(&[
            ("pot_ceramic", 1),
            ("bouquet_roses", 1),
            ("pot_ceramic", 2),
        ]))
        .await;
    let lines: Vec<(&str, i64)> = merged["line_items"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["item"]["id"].as_str().unwrap_or_default(),
                l["quantity"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(lines, [("pot_ceramic", 3), ("bouquet_roses", 1)], "{merged}");
    assert_eq!(total(&merged, "subtotal"), Some(3 * 1500 + 3500));

    // Shipping options follow the selected destination's country; a selection the new
    // country does not offer is dropped.
    let destinations = json!([
        {"id": "home-us", "street_address": "1 Market St", "address_locality": "San Francisco",
         "address_region": "CA", "postal_code": "94105", "address_country": "US"},
        {"id": "home-ca", "street_address": "100 Queen St W", "address_locality": "Toronto",
         "address_region": "ON", "postal_code": "M5H 2N2", "address_country": "CA"}
    ]);
    let mut body = checkout_body(&[("pot_ceramic", 1)]);
    body["fulfillment"] = json!({"methods": [{"type": "shipping", "destinations": destinations,
        "selected_destination_id": "home-us", "groups": [{"selected_option_id": "exp-ship-us"}]}]});
    let us = client.create(&body).await;
    let id = id_of(&us);
    assert_eq!(
        options(&us),
        [
            ("std-ship".to_owned(), "Standard Shipping".to_owned(), 500),
            ("exp-ship-us".to_owned(), "Express Shipping (US)".to_owned(), 1500)
        ],
        "the US rate replaces the default express rate: {us}"
    );
    assert_eq!(us["status"], "ready_for_complete");
    assert_eq!(
        (total(&us, "fulfillment"), total(&us, "total")),
        (Some(1500), Some(3000))
    );

    let ca = client
        .update(
            &id,
            &json!({"fulfillment": {"methods": [{"type": "shipping", "selected_destination_id": "home-ca"}]}}),
        )
        .await;
    assert_eq!(
        options(&ca),
        [
            ("std-ship".to_owned(), "Standard Shipping".to_owned(), 500),
            ("exp-ship-intl".to_owned(), "International Express".to_owned(), 2500)
        ],
        "Canada gets the default rates: {ca}"
    );
    assert!(
        ca["fulfillment"]["methods"][0]["groups"][0]
            .get("selected_option_id")
            .is_none(),
        "the US express option is not offered to Canada and is dropped: {ca}"
    );
    assert_eq!(ca["status"], "incomplete");
    assert_eq!(total(&ca, "fulfillment"), None);
    let us_option_for_ca = client
        .put(&path(&id), &json!({"fulfillment": {"methods": [{"type": "shipping", "groups": [{"selected_option_id": "exp-ship-us"}]}]}}), None)
        .await;
    assert_error_body(
        us_option_for_ca.expect(400, "a US option for a Canadian destination"),
        "unknown_option",
    );
    let intl = client
        .update(&id, &json!({"fulfillment": {"methods": [{"type": "shipping", "groups": [{"selected_option_id": "exp-ship-intl"}]}]}}))
        .await;
    assert_eq!(intl["status"], "ready_for_complete");
    assert_eq!(
        (total(&intl, "fulfillment"), total(&intl, "total")),
        (Some(2500), Some(4000))
    );

    // Free standard shipping from a subtotal of 10000, and for roses whatever the subtotal.
    let free = |title: &str| (title.to_owned(), 0);
    let cases: [(&[(&str, i64)], bool); 4] = [
        (&[("bouquet_tulips", 4)], true),
        (&[("bouquet_sunflowers", 4)], true),
        (&[("orchid_white", 1), ("bouquet_sunflowers", 2)], false),
        (&[("bouquet_roses", 1)], true),
    ];
    for (items, is_free) in cases {
        let mut body = checkout_body(items);
        body["fulfillment"] = json!({"methods": [{"type": "shipping", "destinations": [destinations[0].clone()],
            "selected_destination_id": "home-us", "groups": [{"selected_option_id": "std-ship"}]}]});
        let checkout = client.create(&body).await;
        let standard: Vec<(String, i64)> = options(&checkout)
            .into_iter()
            .filter(|(id, _, _)| id == "std-ship")
            .map(|(_, title, amount)| (title, amount))
            .collect();
        let expected = if is_free {
            vec![free("Standard Shipping (Free)")]
        } else {
            vec![("Standard Shipping".to_owned(), 500)]
        };
        assert_eq!(standard, expected, "standard shipping for {items:?}: {checkout}");
        let express = options(&checkout)
            .into_iter()
            .find(|(id, _, _)| id == "exp-ship-us")
            .map(|o| o.2);
        assert_eq!(express, Some(1500), "express is never free ({items:?})");
        let subtotal = total(&checkout, "subtotal").expect("a subtotal");
        let shipping = if is_free { 0 } else { 500 };
        assert_eq!(total(&checkout, "fulfillment"), Some(shipping), "{items:?}");
        assert_eq!(total(&checkout, "total"), Some(subtotal + shipping), "{items:?}");
    }

    // The promotion is re-evaluated when the lines change.
    let mut body = checkout_body(&[("bouquet_sunflowers", 4)]);
    body["fulfillment"] = json!({"methods": [{"type": "shipping", "destinations": [destinations[0].clone()],
        "selected_destination_id": "home-us", "groups": [{"selected_option_id": "std-ship"}]}]});
    let id = id_of(&client.create(&body).await);
    let smaller = client
        .update(
            &id,
            &json!({"line_items": [{"item": {"id": "bouquet_sunflowers"}, "quantity": 3}]}),
        )
        .await;
    assert_eq!(
        (
            total(&smaller, "subtotal"),
            total(&smaller, "fulfillment"),
            total(&smaller, "total")
        ),
        (Some(7500), Some(500), Some(8000)),
        "below 10000 standard shipping costs 500 again: {smaller}"
    );
    assert_eq!(
        smaller["status"], "ready_for_complete",
        "the standard option stays selected"
    );
}

fn destination_ids(checkout: &Value) -> Value {
    match checkout["fulfillment"]["methods"][0]["destinations"].as_array() {
        Some(destinations) => destinations.iter().map(|d| d["id"].clone()).collect(),
        None => checkout["fulfillment"]["methods"][0]["destinations"].clone(),
    }
}

async fn saved_addresses(stack: &Stack, client: &RestClient) {
    let shipping_for = |email: &str| {
        let mut body = checkout_body(&[("pot_ceramic", 1)]);
        body["buyer"] = json!({"first_name": "Jane", "last_name": "Doe", "email": email});
        body["fulfillment"] = json!({"methods": [{"type": "shipping"}]});
        body
    };
    // Saved addresses become the destinations of a shipping method given none.
    let john = client.create(&shipping_for("john.doe@example.com")).await;
    let method = &john["fulfillment"]["methods"][0];
    assert_eq!(
        method["destinations"],
        json!([
            {"id": "addr_1", "street_address": "123 Main St", "address_locality": "Springfield",
             "address_region": "IL", "postal_code": "62704", "address_country": "US"},
            {"id": "addr_2", "street_address": "456 Oak Ave", "address_locality": "Metropolis",
             "address_region": "NY", "postal_code": "10012", "address_country": "US"}
        ]),
        "{john}"
    );

    // A customer without addresses, and an email nobody has, get none.
    let jane_email = "jane.doe@example.com";
    let jane = client.create(&shipping_for(jane_email)).await;
    assert_eq!(
        destination_ids(&jane),
        Value::Null,
        "jane.doe has no saved address: {jane}"
    );
    let stranger = format!("nobody-{}@example.com", uuid::Uuid::new_v4().simple());
    let unknown = client.create(&shipping_for(&stranger)).await;
    assert_eq!(
        destination_ids(&unknown),
        Value::Null,
        "an unknown customer has no saved address: {unknown}"
    );

    // A new full address is saved for the buyer's email and offered to her next checkouts.
    let new_address = json!({"street_address": "77 Tulip Way", "address_locality": "Portland",
        "address_region": "OR", "postal_code": "97201", "address_country": "US"});
    let jane_id = id_of(&jane);
    let given = client
        .update(
            &jane_id,
            &json!({"fulfillment": {"methods": [{"type": "shipping", "destinations": [new_address]}]}}),
        )
        .await;
    let saved_id = given["fulfillment"]["methods"][0]["destinations"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("the given address has an id: {given}"))
        .to_owned();
    assert!(
        saved_id.starts_with("addr_") && !["addr_1", "addr_2", "addr_3"].contains(&saved_id.as_str()),
        "a new saved address id: {saved_id}"
    );
    let next = client.create(&shipping_for(jane_email)).await;
    let mut expected = new_address.clone();
    expected["id"] = json!(saved_id);
    assert_eq!(
        next["fulfillment"]["methods"][0]["destinations"],
        json!([expected]),
        "jane's next checkout offers the address she gave: {next}"
    );
    let mut again = shipping_for(jane_email);
    again["fulfillment"]["methods"][0]["destinations"] = json!([new_address]);
    let third = client.create(&again).await;
    assert_eq!(
        destination_ids(&third),
        json!([saved_id]),
        "the same address keeps its saved id: {third}"
    );
    let jane_addresses: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM customer_addresses a JOIN customers c ON c.id = a.customer_id WHERE lower(c.email) = $1",
    )
    .bind(jane_email)
    .fetch_one(&stack.db.pool)
    .await
    .expect("count addresses");
    assert_eq!(jane_addresses, 1, "the address was saved once");

    // John giving his first saved address in full gets its saved id back.
    let mut body = shipping_for("john.doe@example.com");
    body["fulfillment"]["methods"][0]["destinations"] = json!([{"street_address": "123 Main St",
        "address_locality": "Springfield", "address_region": "IL", "postal_code": "62704", "address_country": "US"}]);
    body["fulfillment"]["methods"][0]["selected_destination_id"] = json!("addr_1");
    let dedup = client.create(&body).await;
    assert_eq!(
        destination_ids(&dedup),
        json!(["addr_1"]),
        "a known address is deduplicated to addr_1: {dedup}"
    );
    assert_eq!(dedup["fulfillment"]["methods"][0]["selected_destination_id"], "addr_1");
}

async fn invalid_requests_are_refused(stack: &Stack, client: &RestClient) {
    let unknown = client
        .post("/checkout-sessions", &checkout_body(&[("nope", 1)]), None)
        .await;
    let body = unknown.expect(400, "an unknown product");
    assert_error_body(body, "product_not_found");
    assert_eq!(body["detail"], "Product nope not found");

    let sold_out = client
        .post("/checkout-sessions", &checkout_body(&[("gardenias", 1)]), None)
        .await;
    let body = sold_out.expect(400, "a product out of stock");
    assert_error_body(body, "out_of_stock");
    assert_eq!(body["detail"], "Insufficient stock for item gardenias");

    // Quantities up to the stock (500 sunflowers) are accepted; one more is refused and
    // changes nothing.
    let id = id_of(&client.create(&checkout_body(&[("bouquet_sunflowers", 1)])).await);
    let all = client
        .update(
            &id,
            &json!({"line_items": [{"item": {"id": "bouquet_sunflowers"}, "quantity": 500}]}),
        )
        .await;
    assert_eq!(all["line_items"][0]["quantity"], 500);
    let too_many = client
        .put(
            &path(&id),
            &json!({"line_items": [{"item": {"id": "bouquet_sunflowers"}, "quantity": 501}]}),
            None,
        )
        .await;
    let body = too_many.expect(400, "an update past the stock");
    assert_error_body(body, "out_of_stock");
    assert_eq!(body["detail"], "Insufficient stock for item bouquet_sunflowers");
    let read = client.get(&path(&id)).await;
    assert_eq!(
        read.expect(200, "read")["line_items"][0]["quantity"],
        500,
        "the refused update changed nothing"
    );

    let no_fulfillment = client.complete(&id, success_token()).await;
    let body = no_fulfillment.expect(400, "completion without fulfillment");
    assert_error_body(body, "fulfillment_required");
    assert_eq!(
        body["detail"],
        "Fulfillment address and option must be selected before completion."
    );
    assert_eq!(client.get(&path(&id)).await.json["status"], "incomplete");

    // Malformed and mistyped bodies: 400 naming the problem, never a 500.
    let checkouts = stack.db.count("checkouts").await;
    let mistyped: Vec<(&str, String, &str)> = vec![
        ("POST", "/checkout-sessions".into(), r#"{"line_items": ["#),
        ("POST", "/checkout-sessions".into(), r#"{"line_items": "x"}"#),
        (
            "POST",
            "/checkout-sessions".into(),
            r#"{"line_items": [{"item": {"id": "pot_ceramic"}, "quantity": "two"}]}"#,
        ),
        (
            "POST",
            "/checkout-sessions".into(),
            r#"{"line_items": [{"item": 5, "quantity": 1}]}"#,
        ),
        (
            "POST",
            "/checkout-sessions".into(),
            r#"{"line_items": [{"item": {"id": "pot_ceramic"}, "quantity": 1.5}]}"#,
        ),
        (
            "POST",
            "/checkout-sessions".into(),
            r#"{"line_items": [{"item": {"id": "pot_ceramic"}, "quantity": 1e300}]}"#,
        ),
        (
            "POST",
            "/checkout-sessions".into(),
            r#"{"line_items": [{"item": {"id": "pot_ceramic"}, "quantity": 0}]}"#,
        ),
        (
            "POST",
            "/checkout-sessions".into(),
            r#"{"line_items": [{"item": {"id": "pot_ceramic"}, "quantity": -3}]}"#,
        ),
        (
            "POST",
            "/checkout-sessions".into(),
            r#"{"line_items": [{"item": {"id": "pot_ceramic"}, "quantity": 1}], "fulfillment": 3}"#,
        ),
        (
            "POST",
            "/checkout-sessions".into(),
            r#"{"line_items": [{"item": {"id": "pot_ceramic"}, "quantity": 1}], "buyer": []}"#,
        ),
        (
            "POST",
            "/checkout-sessions".into(),
            r#"{"line_items": [{"item": {"id": "pot_ceramic"}, "quantity": 1}], "discounts": {"codes": "10OFF"}}"#,
        ),
        ("POST", "/checkout-sessions".into(), r#"{"line_items": []}"#),
        ("POST", "/checkout-sessions".into(), "[]"),
        ("POST", "/checkout-sessions".into(), "null"),
        ("POST", "/checkout-sessions".into(), "\"text\""),
        ("PUT", path(&id), r#"{"line_items": {"item": "pot_ceramic"}}"#),
        (
            "PUT",
            path(&id),
            r#"{"fulfillment": {"methods": [{"type": "shipping", "destinations": "home"}]}}"#,
        ),
        (
            "PUT",
            path(&id),
            r#"{"fulfillment": {"methods": [{"type": "shipping", "selected_destination_id": "nowhere"}]}}"#,
        ),
        ("PUT", path(&id), "{not json"),
        ("POST", format!("{}/complete", path(&id)), r#"{"payment_data": "x"}"#),
        ("POST", format!("{}/complete", path(&id)), "{}"),
        (
            "POST",
            format!("{}/complete", path(&id)),
            r#"{"payment_data": {"id": 1}}"#,
        ),
    ];
    for (method, target, body) in &mistyped {
        let reply = client
            .send(method, target, Some(body.as_bytes().to_vec()), None, &[])
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{method} {target} {body}: expected 400, got {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.raw)
        );
        assert!(
            !reply.detail().is_empty() && !reply.code().is_empty(),
            "a UCP error body for {body}: {}",
            reply.json
        );
    }
    let malformed = client
        .send(
            "POST",
            "/checkout-sessions",
            Some(br#"{"line_items": ["#.to_vec()),
            None,
            &[],
        )
        .await;
    assert!(
        malformed.detail().contains("not valid JSON"),
        "the detail says why: {}",
        malformed.json
    );
    let mistyped = client
        .send(
            "POST",
            "/checkout-sessions",
            Some(br#"{"line_items": "x"}"#.to_vec()),
            None,
            &[],
        )
        .await;
    assert!(
        mistyped.detail().contains("line_items"),
        "the detail names the field: {}",
        mistyped.json
    );
    assert_eq!(
        stack.db.count("checkouts").await,
        checkouts,
        "no refused request created a checkout"
    );
    assert_eq!(
        client.get(&path(&id)).await.json["line_items"][0]["quantity"],
        500,
        "no refused update changed the checkout"
    );

    // Every mutation needs Idempotency-Key and UCP-Agent.
    let create = checkout_body(&[("pot_ceramic", 1)]).to_string().into_bytes();
    let complete = payment_body(success_token()).to_string().into_bytes();
    let targets = [
        ("POST", "/checkout-sessions".to_owned(), create.clone()),
        ("PUT", path(&id), create.clone()),
        ("POST", format!("{}/complete", path(&id)), complete),
        ("POST", format!("{}/cancel", path(&id)), b"{}".to_vec()),
    ];
    for (method, target, body) in &targets {
        let no_key = client
            .send(method, target, Some(body.clone()), None, &[("idempotency-key", None)])
            .await;
        let refused = no_key.expect(400, &format!("{method} {target} without Idempotency-Key"));
        assert!(
            refused["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("Idempotency-Key"),
            "{refused}"
        );
        let no_agent = client
            .send(method, target, Some(body.clone()), None, &[("ucp-agent", None)])
            .await;
        let refused = no_agent.expect(400, &format!("{method} {target} without UCP-Agent"));
        assert!(
            refused["detail"].as_str().unwrap_or_default().contains("UCP-Agent"),
            "{refused}"
        );
    }
    assert_eq!(
        stack.db.count("checkouts").await,
        checkouts,
        "no refused request created a checkout"
    );
    assert_eq!(
        client.get(&path(&id)).await.json["status"],
        "incomplete",
        "nor changed one"
    );

    // A profile that is not an http(s) URL is accepted, with the business's capabilities.
    let plain = client.clone().with_profile("conformance-platform");
    let created = plain
        .post("/checkout-sessions", &checkout_body(&[("pot_ceramic", 1)]), None)
        .await;
    let capabilities = created.expect(201, "a non-URL profile")["ucp"]["capabilities"].to_string();
    assert!(capabilities.contains("dev.ucp.shopping.fulfillment"), "{capabilities}");

    // A body over MAX_BODY_BYTES (256 KiB) is refused before it is read whole.
    let status_line = oversized_post(stack, client).await;
    assert!(
        status_line.starts_with("HTTP/1.1 413"),
        "an oversized body: expected 413, got {status_line:?}"
    );
}

/// Sends the head of a `POST /checkout-sessions` announcing a 300 KiB body and 260 KiB of it,
/// then reads the answer's status line: the ingress must answer without waiting for the rest.
async fn oversized_post(stack: &Stack, client: &RestClient) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = stack.base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect to the ingress");
    let head = format!(
        "POST /checkout-sessions HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         UCP-Agent: profile=\"{}\"\r\nIdempotency-Key: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        client.token.as_deref().expect("a token"),
        client.profile,
        uuid::Uuid::new_v4(),
        300 * 1024
    );
    stream.write_all(head.as_bytes()).await.expect("send the head");
    // Past the limit (MAX_BODY_BYTES, 256 KiB), short of the announced length. The ingress may
    // close the connection once it has refused the body: a failed write is not an error.
    let mut start = br#"{"line_items": [], "note": ""#.to_vec();
    start.resize(260 * 1024, b'x');
    let _ = stream.write_all(&start).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut buffer = [0u8; 1024];
        while !answer.windows(2).any(|w| w == b"\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the ingress waited for the rest of an oversized body instead of refusing it"
    );
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

async fn foreign_unknown_and_unauthenticated(stack: &Stack, alice: &RestClient) {
    let checkout = alice.create(&checkout_body(&[("orchid_white", 1)])).await;
    let id = id_of(&checkout);
    let requests = |id: &str| {
        vec![
            ("GET", path(id), None),
            ("PUT", path(id), Some(json!({"discounts": {"codes": ["10OFF"]}}))),
            (
                "POST",
                format!("{}/complete", path(id)),
                Some(payment_body(success_token())),
            ),
            ("POST", format!("{}/cancel", path(id)), Some(json!({}))),
        ]
    };
    let send = |client: &RestClient, method: &'static str, target: String, body: Option<Value>| {
        let client = client.clone();
        async move {
            client
                .send(method, &target, body.map(|b| b.to_string().into_bytes()), None, &[])
                .await
        }
    };

    let unknown_ids = [
        uuid::Uuid::new_v4().to_string(),
        "not-a-uuid".to_owned(),
        "x".repeat(300),
    ];
    for unknown in &unknown_ids {
        for (method, target, body) in requests(unknown) {
            let reply = send(alice, method, target.clone(), body).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {target}: {}", reply.json);
        }
    }

    let bob = RestClient::new(stack, "bob");
    for (method, target, body) in requests(&id) {
        let reply = send(&bob, method, target.clone(), body).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "another principal's {method} {target}: {}",
            reply.json
        );
    }
    assert_eq!(
        alice.get(&path(&id)).await.expect(200, "read"),
        &checkout,
        "another principal changed nothing"
    );

    let nobody = RestClient::anonymous(stack);
    let mut forged = alice.clone();
    forged.token = Some("not-a-jwt".to_owned());
    let mut expired = alice.clone();
    expired.token = Some(testkit::stack::token("alice", -600));
    for client in [&nobody, &forged, &expired] {
        for (method, target, body) in requests(&id) {
            let reply = send(client, method, target.clone(), body).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {target}: {}",
                reply.json
            );
        }
        let create = client
            .post("/checkout-sessions", &checkout_body(&[("pot_ceramic", 1)]), None)
            .await;
        assert_error_body(
            create.expect(401, "create without valid credentials"),
            "unauthenticated",
        );
    }
    assert_eq!(
        alice.get(&path(&id)).await.json,
        checkout,
        "nothing changed the checkout"
    );
}

/// A checkout made over A2A is read and changed over REST, and one made over REST is read
/// over A2A in its conversation (the checkout id); another principal sees neither.
async fn shared_with_a2a(stack: &Stack, alice: &RestClient) {
    let a2a = stack.client("alice");
    let context = format!("flowers-{}", uuid::Uuid::new_v4().simple());
    let added = a2a
        .act(
            json!({"action": "add_to_checkout", "product_id": "bouquet_roses", "quantity": 1}),
            Some(&context),
        )
        .await;
    let over_a2a = checkout_of(&added).unwrap_or_else(|| panic!("an A2A checkout: {added}"));
    let id = id_of(&over_a2a);
    let read = alice.get(&path(&id)).await;
    let over_rest = read.expect(200, "GET of a checkout made over A2A");
    assert_eq!(over_rest["id"], id.as_str());
    assert_eq!(quantity(over_rest, "bouquet_roses"), 1, "{over_rest}");
    assert_eq!(over_rest["line_items"][0]["item"]["price"], 3500);
    let foreign = RestClient::new(stack, "bob").get(&path(&id)).await;
    assert_eq!(
        foreign.status,
        StatusCode::NOT_FOUND,
        "another principal: {}",
        foreign.json
    );

    let changed = alice
        .update(
            &id,
            &json!({"line_items": [{"item": {"id": "bouquet_roses"}, "quantity": 2}]}),
        )
        .await;
    assert_eq!(quantity(&changed, "bouquet_roses"), 2);
    let seen = a2a.act(json!({"action": "get_checkout"}), Some(&context)).await;
    let seen = checkout_of(&seen).unwrap_or_else(|| panic!("get_checkout answers the checkout: {seen}"));
    assert_eq!(seen["id"], id.as_str());
    assert_eq!(quantity(&seen, "bouquet_roses"), 2, "A2A sees the REST update: {seen}");

    let made_over_rest = alice.create(&checkout_body(&[("bouquet_tulips", 3)])).await;
    let rest_id = id_of(&made_over_rest);
    let got = a2a.act(json!({"action": "get_checkout"}), Some(&rest_id)).await;
    let got = checkout_of(&got).unwrap_or_else(|| panic!("get_checkout in the REST checkout's conversation: {got}"));
    assert_eq!(got["id"], rest_id.as_str());
    assert_eq!(quantity(&got, "bouquet_tulips"), 3);
    let line_id = made_over_rest["line_items"][0]["id"].as_str().expect("a line id");
    let (_, answer) = stack
        .client("bob")
        .rpc(
            "message/send",
            json!({"message": testkit::client::message(testkit::client::action(json!({"action": "get_checkout"})), Some(&rest_id)),
                "configuration": {"blocking": true}}),
        )
        .await;
    assert!(
        !answer.to_string().contains(line_id),
        "another principal's A2A turn in that conversation does not see the checkout: {answer}"
    );
}

/// With `UCP_REST_ANONYMOUS_PRINCIPAL`, a request without credentials acts as that principal;
/// bad credentials are still refused.
#[tokio::test]
async fn anonymous_requests_act_as_the_configured_principal() {
    let stack = Stack::start(StackOptions {
        workers: 1,
        env: vec![("UCP_REST_ANONYMOUS_PRINCIPAL".to_owned(), "conformance".to_owned())],
        ..Default::default()
    })
    .await;
    load_flower_shop(&stack);
    let anonymous = RestClient::anonymous(&stack).with_profile("conformance-platform");
    let created = anonymous.create(&checkout_body(&[("bouquet_roses", 1)])).await;
    let id = id_of(&created);
    assert_eq!(anonymous.get(&path(&id)).await.expect(200, "anonymous read"), &created);
    let as_principal = RestClient::new(&stack, "conformance").get(&path(&id)).await;
    assert_eq!(
        as_principal.expect(200, "the configured principal reads the anonymous checkout"),
        &created
    );
    let other = RestClient::new(&stack, "someone-else").get(&path(&id)).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.json);

    let mut forged = anonymous.clone();
    forged.token = Some("not-a-jwt".to_owned());
    assert_eq!(
        forged.get(&path(&id)).await.status,
        StatusCode::UNAUTHORIZED,
        "a bad token is still refused"
    );
    let refused = forged
        .post("/checkout-sessions", &checkout_body(&[("bouquet_roses", 1)]), None)
        .await;
    refused.expect(401, "create with a bad token");
    let api_key = anonymous
        .send(
            "GET",
            &path(&id),
            None,
            None,
            &[("x-api-key", Some("cw_not_a_real_key"))],
        )
        .await;
    assert_eq!(
        api_key.status,
        StatusCode::UNAUTHORIZED,
        "a bad API key is still refused: {}",
        api_key.json
    );
}

/// Two lines of one product are merged: quantities whose sum does not fit are refused (400),
/// never an arithmetic overflow in the worker.
#[tokio::test]
async fn merged_lines_whose_sum_overflows_are_refused() {
    // A short blocking cap: a turn that never ends is a 503 after 5 s, not 30.
    let stack = Stack::start(StackOptions {
        workers: 1,
        env: vec![("BLOCKING_TIMEOUT".to_owned(), "5".to_owned())],
        ..Default::default()
    })
    .await;
    load_flower_shop(&stack);
    let client = RestClient::new(&stack, "overflow");
    let body = br#"{"line_items": [{"item": {"id": "pot_ceramic"}, "quantity": 9223372036854775807},
        {"item": {"id": "pot_ceramic"}, "quantity": 1}]}"#;
    let reply = client
        .send("POST", "/checkout-sessions", Some(body.to_vec()), None, &[])
        .await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "expected 400 for quantities summing past i64::MAX, got {} {}",
        reply.status,
        String::from_utf8_lossy(&reply.raw)
    );
    assert_eq!(stack.db.count("checkouts").await, 0, "no checkout was created");
    let fine = client.create(&checkout_body(&[("pot_ceramic", 1)])).await;
    assert_eq!(fine["status"], "incomplete", "the worker still serves requests: {fine}");
}
