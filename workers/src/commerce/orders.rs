//! Orders: the UCP order a completed checkout places (lines, totals and the fulfillment
//! expectations of its selected shipping), and the REST operations on it (`PUT /orders/{id}`,
//! the shipping simulation).

use chrono::{DateTime, Utc};
use schemas::rest::{OrderUpdate, Response};
use schemas::ucp::{
    Checkout, Expectation, FulfillmentEvent, LineQuantity, Order, OrderConfirmation, OrderFulfillment, OrderLineItem,
    OrderQuantity,
};
use schemas::TaskEnvelope;
use serde_json::json;
use sqlx::PgConnection;
use store::orders::NewOrder;
use store::webhooks::NewDelivery;
use uuid::Uuid;

use super::actions::Effects;
use super::checkout_sessions::failure;

/// Queues the order a completed checkout places.
pub fn place(
    effects: &mut Effects,
    env: &TaskEnvelope,
    checkout_id: Uuid,
    checkout: &Checkout,
    confirmation: &OrderConfirmation,
    webhook_url: Option<String>,
) {
    let order = order_of(checkout, confirmation);
    if let Some(url) = &webhook_url {
        effects.webhooks.push(event(env, "order_placed", url, &order));
    }
    effects.orders.push(NewOrder {
        id: confirmation.id.clone(),
        checkout_id,
        principal: env.principal.clone(),
        total_minor: checkout.total("total").unwrap_or(0),
        currency: checkout.currency.clone(),
        order,
        webhook_url,
    });
}

/// An order event for the platform's webhook: `{"event_type", "checkout_id", "order"}`.
fn event(env: &TaskEnvelope, event_type: &str, url: &str, order: &Order) -> NewDelivery {
    NewDelivery {
        principal: env.principal.clone(),
        order_id: order.id.clone(),
        event_type: event_type.to_owned(),
        url: url.to_owned(),
        body: json!({ "event_type": event_type, "checkout_id": order.checkout_id, "order": order }),
    }
}

/// The order document of a completed checkout.
pub fn order_of(checkout: &Checkout, confirmation: &OrderConfirmation) -> Order {
    let quantity_of = |line_id: &str| {
        checkout
            .line_items
            .iter()
            .find(|line| line.id == line_id)
            .map_or(0, |line| line.quantity)
    };
    let mut expectations = Vec::new();
    for method in checkout.fulfillment.iter().flat_map(|f| &f.methods) {
        let destination = method
            .destinations
            .iter()
            .flatten()
            .find(|d| Some(&d.id) == method.selected_destination_id.as_ref());
        let Some(destination) = destination else {
            continue;
        };
        for group in &method.groups {
            let option = group
                .options
                .iter()
                .find(|o| Some(&o.id) == group.selected_option_id.as_ref());
            expectations.push(Expectation {
                id: format!("exp_{}", &Uuid::new_v4().simple().to_string()[..12]),
                line_items: group
                    .line_item_ids
                    .iter()
                    .map(|id| LineQuantity {
                        id: id.clone(),
                        quantity: quantity_of(id),
                    })
                    .collect(),
                method_type: method.kind.clone(),
                destination: destination.address.clone(),
                description: option.map(|o| o.title.clone()),
                fulfillable_on: None,
                extra: Default::default(),
            });
        }
    }
    Order {
        ucp: checkout.ucp.clone(),
        id: confirmation.id.clone(),
        checkout_id: checkout.id.clone(),
        permalink_url: confirmation.permalink_url.clone(),
        line_items: checkout
            .line_items
            .iter()
            .map(|line| OrderLineItem {
                id: line.id.clone(),
                item: line.item.clone(),
                quantity: OrderQuantity {
                    total: line.quantity,
                    fulfilled: 0,
                },
                totals: line.totals.clone(),
                status: "processing".to_owned(),
            })
            .collect(),
        fulfillment: OrderFulfillment {
            expectations,
            events: Vec::new(),
        },
        adjustments: None,
        totals: checkout.totals.clone(),
    }
}

fn order_answer(order: &Order) -> Response {
    Response {
        status: 200,
        body: serde_json::to_value(order).unwrap_or_default(),
    }
}

fn not_found(order_id: &str) -> Response {
    failure(404, "not_found", format!("order {order_id} not found"))
}

/// `PUT /orders/{id}`: replaces the fulfillment events and the adjustments the update gives.
pub async fn update(
    conn: &mut PgConnection,
    env: &TaskEnvelope,
    order_id: &str,
    update: &OrderUpdate,
) -> store::Result<Response> {
    let Some((mut order, _)) = store::orders::for_update(conn, &env.principal, order_id).await? else {
        return Ok(not_found(order_id));
    };
    if let Some(events) = update.fulfillment.as_ref().and_then(|f| f.events.clone()) {
        order.fulfillment.events = events;
    }
    if let Some(adjustments) = &update.adjustments {
        order.adjustments = Some(adjustments.clone());
    }
    store::orders::replace(conn, order_id, &order).await?;
    Ok(order_answer(&order))
}

/// The shipping simulation: every line ships now (a `shipped` event, lines fulfilled).
pub async fn ship(
    now: DateTime<Utc>,
    effects: &mut Effects,
    conn: &mut PgConnection,
    env: &TaskEnvelope,
    order_id: &str,
) -> store::Result<Response> {
    let Some((mut order, webhook_url)) = store::orders::for_update(conn, &env.principal, order_id).await? else {
        return Ok(not_found(order_id));
    };
    order.fulfillment.events.push(FulfillmentEvent {
        id: format!("evt_{}", &Uuid::new_v4().simple().to_string()[..12]),
        occurred_at: now,
        kind: "shipped".to_owned(),
        line_items: order
            .line_items
            .iter()
            .map(|line| LineQuantity {
                id: line.id.clone(),
                quantity: line.quantity.total,
            })
            .collect(),
        tracking_number: None,
        tracking_url: None,
        carrier: None,
        description: Some("Shipped (simulated)".to_owned()),
        extra: Default::default(),
    });
    for line in &mut order.line_items {
        line.quantity.fulfilled = line.quantity.total;
        line.status = "fulfilled".to_owned();
    }
    store::orders::replace(conn, order_id, &order).await?;
    if let Some(url) = &webhook_url {
        effects.webhooks.push(event(env, "order_shipped", url, &order));
    }
    Ok(Response {
        status: 200,
        body: json!({ "status": "shipped" }),
    })
}
