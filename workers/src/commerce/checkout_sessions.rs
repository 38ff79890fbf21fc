//! The UCP REST binding's checkout operations (`POST/PUT /checkout-sessions...`), run inside
//! the turn's transaction like the A2A actions, on the same checkout documents: a checkout made
//! over either binding can be changed over the other.
//!
//! A create or update applies the request's fields (an absent field keeps what the checkout
//! has), prices the checkout from the catalog and the merchant's rules, checks stock, and moves
//! it to `ready_for_complete` once it has lines, a destination and a shipping option. Completion
//! reserves the stock, authorises the payment (giving the stock back if it is refused), places
//! the order and queues the `order_placed` webhook, all in the turn's transaction.

use chrono::{DateTime, Utc};
use schemas::action::MAX_QUANTITY;
use schemas::rest::{CheckoutRequest, DestinationRequest, FulfillmentRequest, Operation, Platform, Response};
use schemas::ucp::{
    Checkout, CheckoutStatus, Destination, Discounts, Fulfillment, FulfillmentGroup, FulfillmentMethod, Item, LineItem,
    PostalAddress,
};
use schemas::TaskEnvelope;
use sqlx::PgConnection;
use store::checkouts::{Versioned, Write};
use store::customers::SavedAddress;
use store::pricing::Rules;
use uuid::Uuid;

use super::actions::{Context, Settings};
use super::checkout::{self, Refusal};
use super::orders;
use super::pricing::recalculate;

/// An operation's answer that is not the checkout: an HTTP status and a UCP error.
struct Failure {
    status: u16,
    code: &'static str,
    detail: String,
}

impl Failure {
    fn new(status: u16, code: &'static str, detail: impl Into<String>) -> Failure {
        Failure {
            status,
            code,
            detail: detail.into(),
        }
    }

    fn response(self) -> Response {
        Response {
            status: self.status,
            body: schemas::rest::error_body(self.code, &self.detail),
        }
    }
}

/// Why an operation stops short of its answer: a refusal the client gets, or a store failure
/// that fails the turn (and is retried like any other).
enum Stop {
    Refused(Failure),
    Store(store::Error),
}

impl From<Failure> for Stop {
    fn from(failure: Failure) -> Stop {
        Stop::Refused(failure)
    }
}

impl From<store::Error> for Stop {
    fn from(error: store::Error) -> Stop {
        Stop::Store(error)
    }
}

impl From<sqlx::Error> for Stop {
    fn from(error: sqlx::Error) -> Stop {
        Stop::Store(error.into())
    }
}

type Outcome<T> = Result<T, Stop>;

/// Runs one REST operation for the envelope's principal.
pub async fn run(
    cx: Context<'_>,
    conn: &mut PgConnection,
    env: &TaskEnvelope,
    operation: &Operation,
) -> store::Result<Response> {
    let rules = cx.settings.pricing.get().await?;
    let outcome = match operation {
        Operation::CreateCheckout { checkout_id, request } => create(cx, conn, env, &rules, checkout_id, request).await,
        Operation::UpdateCheckout { checkout_id, request } => update(cx, conn, env, &rules, checkout_id, request).await,
        Operation::CompleteCheckout {
            checkout_id,
            payment,
            platform,
        } => complete(cx, conn, env, &rules, checkout_id, payment, platform).await,
        Operation::CancelCheckout { checkout_id } => cancel(cx, conn, env, checkout_id).await,
        Operation::UpdateOrder { order_id, update } => return orders::update(conn, env, order_id, update).await,
        Operation::ShipOrder { order_id } => return orders::ship(cx.now, cx.effects, conn, env, order_id).await,
    };
    match outcome {
        Ok(response) => Ok(response),
        Err(Stop::Refused(failure)) => Ok(failure.response()),
        Err(Stop::Store(error)) => Err(error),
    }
}

/// A checkout answer with its status.
fn answer(status: u16, checkout: &Checkout) -> Response {
    Response {
        status,
        body: serde_json::to_value(checkout).unwrap_or_default(),
    }
}

pub(super) fn failure(status: u16, code: &'static str, detail: impl Into<String>) -> Response {
    Failure::new(status, code, detail).response()
}

async fn create(
    cx: Context<'_>,
    conn: &mut PgConnection,
    env: &TaskEnvelope,
    rules: &Rules,
    checkout_id: &str,
    request: &CheckoutRequest,
) -> Outcome<Response> {
    let Ok(id) = checkout_id.parse::<Uuid>() else {
        return Err(Failure::new(400, "invalid_request", "the checkout id must be a UUID").into());
    };
    let merchant = &cx.settings.merchant;
    let mut checkout = checkout::new_checkout(
        id,
        &env.capabilities,
        &merchant.currency,
        &merchant.payment_handlers,
        cx.now,
        rules,
    );
    if request.line_items.as_ref().is_none_or(Vec::is_empty) {
        return Err(Failure::new(400, "invalid_request", "line_items must hold at least one line").into());
    }
    apply(&mut checkout, request, conn, cx.settings, rules).await?;
    checkout.expires_at = cx.now + cx.settings.session_ttl;
    let response = answer(201, &checkout);
    cx.effects.checkouts.push(Write::Insert {
        id,
        key: (env.principal.clone(), env.context_id.clone()),
        checkout,
    });
    Ok(response)
}

async fn update(
    cx: Context<'_>,
    conn: &mut PgConnection,
    env: &TaskEnvelope,
    rules: &Rules,
    checkout_id: &str,
    request: &CheckoutRequest,
) -> Outcome<Response> {
    let mut open = open_checkout(conn, env, checkout_id, cx.now, cx.effects).await?;
    apply(&mut open.checkout, request, conn, cx.settings, rules).await?;
    open.checkout.expires_at = cx.now + cx.settings.session_ttl;
    Ok(write(cx.effects, open))
}

async fn complete(
    cx: Context<'_>,
    conn: &mut PgConnection,
    env: &TaskEnvelope,
    rules: &Rules,
    checkout_id: &str,
    payment: &schemas::action::Payment,
    platform: &Platform,
) -> Outcome<Response> {
    let mut open = open_checkout(conn, env, checkout_id, cx.now, cx.effects).await?;
    recalculate(&mut open.checkout, rules);
    if !fulfillment_ready(&open.checkout) {
        return Err(Failure::new(
            400,
            "fulfillment_required",
            "Fulfillment address and option must be selected before completion.",
        )
        .into());
    }
    open.checkout.status = CheckoutStatus::ReadyForComplete;
    if let Err(refusal) = checkout::completable(&open.checkout, &payment.instrument) {
        return Err(refused(refusal).into());
    }
    let wanted: Vec<(String, i64)> = open
        .checkout
        .line_items
        .iter()
        .map(|line| (line.item.id.clone(), line.quantity))
        .collect();
    // The reservation stands only if the payment is authorised: a savepoint undoes it.
    let mut reservation = sqlx::Connection::begin(&mut *conn).await?;
    if let Err(product_id) = store::inventory::reserve(&mut reservation, &wanted).await? {
        reservation.rollback().await?;
        return Err(out_of_stock(&product_id).into());
    }
    if let Err(refusal) = cx.settings.payments.authorize(env, payment, &open.checkout).await {
        reservation.rollback().await?;
        return Err(refused(refusal).into());
    }
    reservation.commit().await?;
    let confirmation = match checkout::complete(&mut open.checkout, &payment.instrument) {
        Ok(confirmation) => confirmation,
        Err(refusal) => return Err(refused(refusal).into()),
    };
    let id = checkout_uuid(&open.checkout);
    orders::place(
        cx.effects,
        env,
        id,
        &open.checkout,
        &confirmation,
        platform.webhook_url.clone(),
    );
    Ok(write(cx.effects, open))
}

async fn cancel(cx: Context<'_>, conn: &mut PgConnection, env: &TaskEnvelope, checkout_id: &str) -> Outcome<Response> {
    let mut open = open_checkout(conn, env, checkout_id, cx.now, cx.effects).await?;
    if let Err(refusal) = checkout::cancel(&mut open.checkout) {
        return Err(refused(refusal).into());
    }
    Ok(write(cx.effects, open))
}

/// Queues the changed checkout for writing; the answer is the checkout.
fn write(effects: &mut super::actions::Effects, open: Versioned) -> Response {
    let response = answer(200, &open.checkout);
    effects.checkouts.push(Write::Update {
        id: checkout_uuid(&open.checkout),
        checkout: open.checkout,
        version: open.version,
    });
    response
}

fn checkout_uuid(checkout: &Checkout) -> Uuid {
    checkout.id.parse().unwrap_or_default()
}

/// The principal's checkout `id`, locked, if it is open: a closed one is 409, an unknown one
/// 404, and one whose expiry has passed is closed now (and is 409).
async fn open_checkout(
    conn: &mut PgConnection,
    env: &TaskEnvelope,
    id: &str,
    now: DateTime<Utc>,
    effects: &mut super::actions::Effects,
) -> Outcome<Versioned> {
    let found = match id.parse::<Uuid>() {
        Ok(id) => store::checkouts::by_id_for_update(conn, &env.principal, id).await?,
        Err(_) => None,
    };
    let Some(mut open) = found else {
        return Err(Failure::new(404, "not_found", format!("checkout {id} not found")).into());
    };
    if !open.checkout.status.is_closed() && open.checkout.expires_at <= now {
        checkout::expire(&mut open.checkout);
        effects.checkouts.push(Write::Update {
            id: checkout_uuid(&open.checkout),
            checkout: open.checkout.clone(),
            version: open.version,
        });
    }
    if open.checkout.status.is_closed() {
        return Err(refused(checkout::refuse_closed(&open.checkout)).into());
    }
    Ok(open)
}

/// The HTTP status of a refusal of the engine.
fn refused(refusal: Refusal) -> Failure {
    let status = match refusal.code {
        "checkout_closed" => 409,
        "payment_declined" => 402,
        "payment_fraud_suspected" => 403,
        _ => 400,
    };
    Failure::new(status, refusal.code, refusal.content)
}

fn out_of_stock(product_id: &str) -> Failure {
    Failure::new(400, "out_of_stock", format!("Insufficient stock for item {product_id}"))
}

/// True once every shipping group has a destination and an option selected.
fn fulfillment_ready(checkout: &Checkout) -> bool {
    let Some(fulfillment) = &checkout.fulfillment else {
        return false;
    };
    !checkout.line_items.is_empty()
        && !fulfillment.methods.is_empty()
        && fulfillment.methods.iter().all(|method| {
            method.selected_destination_id.is_some()
                && !method.groups.is_empty()
                && method.groups.iter().all(|g| g.selected_option_id.is_some())
        })
}

/// Applies a create or update request to the checkout and prices it.
async fn apply(
    checkout: &mut Checkout,
    request: &CheckoutRequest,
    conn: &mut PgConnection,
    settings: &Settings,
    rules: &Rules,
) -> Outcome<()> {
    if let Some(currency) = &request.currency {
        if !currency.eq_ignore_ascii_case(&checkout.currency) {
            return Err(Failure::new(
                400,
                "unsupported_currency",
                format!(
                    "currency {currency} is not offered; this merchant sells in {}",
                    checkout.currency
                ),
            )
            .into());
        }
    }
    if let Some(lines) = &request.line_items {
        checkout.line_items = line_items(checkout, lines, conn, settings).await?;
    }
    if let Some(buyer) = &request.buyer {
        checkout.buyer = Some(buyer.clone());
    }
    if let Some(discounts) = &request.discounts {
        checkout.discounts = Some(Discounts {
            codes: discounts.codes.clone(),
            applied: Vec::new(),
        });
    }
    if let Some(selected) = request.payment.as_ref().and_then(|p| p.selected_instrument_id.clone()) {
        checkout.payment.selected_instrument_id = Some(selected);
    }
    if let Some(fulfillment) = &request.fulfillment {
        apply_fulfillment(checkout, fulfillment, conn).await?;
    }
    recalculate(checkout, rules);
    if let Some(fulfillment) = &request.fulfillment {
        check_selected_options(checkout, fulfillment)?;
    }
    checkout.messages.clear();
    checkout.status = if fulfillment_ready(checkout) {
        CheckoutStatus::ReadyForComplete
    } else {
        CheckoutStatus::Incomplete
    };
    Ok(())
}

/// The checkout's new lines, priced from the catalog: a line keeps its id when the request
/// names it, lines for the same product are merged, and every product must exist and be in
/// stock.
async fn line_items(
    checkout: &Checkout,
    requested: &[schemas::rest::LineItemRequest],
    conn: &mut PgConnection,
    settings: &Settings,
) -> Outcome<Vec<LineItem>> {
    let mut lines: Vec<LineItem> = Vec::with_capacity(requested.len());
    let mut stocked = Vec::new();
    for request in requested {
        if request.quantity < 1 {
            return Err(Failure::new(
                400,
                "invalid_quantity",
                format!("line for {}: quantity must be at least 1", request.item.id),
            )
            .into());
        }
        let Some(product) = settings.catalog.get(&request.item.id).await? else {
            return Err(Failure::new(
                400,
                "product_not_found",
                format!("Product {} not found", request.item.id),
            )
            .into());
        };
        if product.stocked && !stocked.contains(&product.id) {
            stocked.push(product.id.clone());
        }
        if let Some(line) = lines.iter_mut().find(|line| line.item.id == product.id) {
            line.quantity = line.quantity.saturating_add(request.quantity);
            continue;
        }
        let kept_id = request
            .id
            .as_ref()
            .filter(|id| checkout.line_items.iter().any(|line| &line.id == *id));
        lines.push(LineItem {
            id: kept_id.cloned().unwrap_or_else(|| format!("li_{}", short_id())),
            item: Item {
                id: product.id.clone(),
                title: product.name.clone(),
                price: product.price_minor,
                image_url: product.image_url.clone(),
            },
            quantity: request.quantity,
            totals: Vec::new(),
        });
    }
    // Products whose stock is not counted (the catalog says which) cost no query.
    let stock = if stocked.is_empty() {
        Default::default()
    } else {
        store::inventory::available(conn, &stocked).await?
    };
    for line in &lines {
        if stock
            .get(&line.item.id)
            .is_some_and(|&available| line.quantity > available)
        {
            return Err(out_of_stock(&line.item.id).into());
        }
        if line.quantity > MAX_QUANTITY {
            return Err(Failure::new(
                400,
                "invalid_quantity",
                format!("line for {}: quantity must be at most {MAX_QUANTITY}", line.item.id),
            )
            .into());
        }
    }
    Ok(lines)
}

/// Replaces the checkout's fulfillment methods with the request's. A method without an id is
/// the existing method at its position. Destinations the request gives replace the method's
/// (an address the buyer has saved keeps its saved id; a new full address is saved for the
/// buyer's email); a shipping method with none gets the buyer's saved addresses.
async fn apply_fulfillment(
    checkout: &mut Checkout,
    request: &FulfillmentRequest,
    conn: &mut PgConnection,
) -> Outcome<()> {
    let email = checkout.buyer.as_ref().and_then(|b| b.email.clone());
    let name = checkout.buyer.as_ref().and_then(buyer_name);
    let existing = checkout.fulfillment.take().map(|f| f.methods).unwrap_or_default();
    let mut methods = Vec::with_capacity(request.methods.len());
    for (i, wanted) in request.methods.iter().enumerate() {
        let found = match &wanted.id {
            Some(id) => existing.iter().find(|m| &m.id == id),
            None => existing.get(i),
        };
        let mut method = found.cloned().unwrap_or_else(|| FulfillmentMethod {
            id: wanted.id.clone().unwrap_or_else(|| format!("method_{}", short_id())),
            kind: wanted.kind.clone(),
            line_item_ids: Vec::new(),
            destinations: None,
            selected_destination_id: None,
            groups: Vec::new(),
        });
        method.kind = wanted.kind.clone();
        if let Some(destinations) = &wanted.destinations {
            let mut given = Vec::with_capacity(destinations.len());
            for destination in destinations {
                given.push(destination_of(conn, destination, email.as_deref(), name.as_deref()).await?);
            }
            method.destinations = Some(given);
        } else if method.destinations.is_none() && method.kind == "shipping" {
            if let Some(email) = &email {
                let saved = store::customers::saved_addresses(conn, email).await?;
                method.destinations = (!saved.is_empty()).then(|| saved.into_iter().map(saved_destination).collect());
            }
        }
        let known = |id: &str| method.destinations.iter().flatten().any(|d| d.id == id);
        if let Some(selected) = &wanted.selected_destination_id {
            if !known(selected) {
                return Err(Failure::new(
                    400,
                    "unknown_destination",
                    format!("selected_destination_id {selected} is not one of the method's destinations"),
                )
                .into());
            }
            method.selected_destination_id = Some(selected.clone());
        } else if method.selected_destination_id.as_deref().is_some_and(|id| !known(id)) {
            method.selected_destination_id = None;
        }
        if method.groups.is_empty() {
            method.groups.push(FulfillmentGroup {
                id: format!("group_{}", short_id()),
                line_item_ids: Vec::new(),
                options: Vec::new(),
                selected_option_id: None,
            });
        }
        for (j, group_request) in wanted.groups.iter().flatten().enumerate() {
            let position = match &group_request.id {
                Some(id) => method.groups.iter().position(|g| &g.id == id),
                None => (j < method.groups.len()).then_some(j),
            };
            let Some(group) = position.and_then(|p| method.groups.get_mut(p)) else {
                return Err(Failure::new(
                    400,
                    "unknown_group",
                    format!(
                        "fulfillment group {} does not exist",
                        group_request.id.as_deref().unwrap_or("")
                    ),
                )
                .into());
            };
            if group_request.selected_option_id.is_some() {
                group.selected_option_id = group_request.selected_option_id.clone();
            }
        }
        methods.push(method);
    }
    checkout.fulfillment = Some(Fulfillment { methods });
    Ok(())
}

/// Refuses an option selection the priced checkout could not keep (not offered for the
/// destination, or no destination selected).
fn check_selected_options(checkout: &Checkout, request: &FulfillmentRequest) -> Outcome<()> {
    let methods = checkout
        .fulfillment
        .as_ref()
        .map(|f| f.methods.as_slice())
        .unwrap_or_default();
    for (method, wanted) in methods.iter().zip(&request.methods) {
        let groups = method.groups.iter().zip(wanted.groups.iter().flatten());
        for (group, group_request) in groups {
            if let Some(option) = &group_request.selected_option_id {
                if group.selected_option_id.as_ref() != Some(option) {
                    return Err(Failure::new(
                        400,
                        "unknown_option",
                        format!("shipping option {option} is not offered for the selected destination"),
                    )
                    .into());
                }
            }
        }
    }
    Ok(())
}

/// A destination as the checkout keeps it. An address with a street is saved for a buyer with
/// an email (the same address again gets the same saved id); an address without an id takes
/// the saved id, or a new one.
async fn destination_of(
    conn: &mut PgConnection,
    destination: &DestinationRequest,
    email: Option<&str>,
    name: Option<&str>,
) -> store::Result<Destination> {
    let address = &destination.address;
    let saved_id = match (email, address_fields(address)) {
        (Some(email), Some(fields)) => Some(store::customers::save_address(conn, email, name, &fields).await?),
        _ => None,
    };
    let id = destination
        .id
        .clone()
        .or(saved_id)
        .unwrap_or_else(|| format!("dest_{}", short_id()));
    Ok(Destination {
        id,
        address: address.clone(),
    })
}

/// The address to save, if it is complete enough to ship to (a street and a country).
fn address_fields(address: &PostalAddress) -> Option<store::customers::Address> {
    let street = address.street_address.as_deref().filter(|s| !s.trim().is_empty())?;
    let country = address.address_country.as_deref().filter(|s| !s.trim().is_empty())?;
    Some(store::customers::Address {
        street_address: street.to_owned(),
        extended_address: address.extended_address.clone(),
        city: address.address_locality.clone().unwrap_or_default(),
        state: address.address_region.clone().unwrap_or_default(),
        postal_code: address.postal_code.clone().unwrap_or_default(),
        country: country.to_owned(),
    })
}

fn saved_destination(saved: SavedAddress) -> Destination {
    Destination {
        id: saved.id,
        address: PostalAddress {
            street_address: Some(saved.street_address),
            extended_address: saved.extended_address,
            address_locality: Some(saved.city),
            address_region: Some(saved.state),
            postal_code: Some(saved.postal_code),
            address_country: Some(saved.country),
            extra: Default::default(),
        },
    }
}

/// The buyer's name as profiles send it: `first_name last_name`, or `full_name`/`fullName`.
fn buyer_name(buyer: &schemas::ucp::Buyer) -> Option<String> {
    let parts: Vec<&str> = [buyer.first_name.as_deref(), buyer.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !parts.is_empty() {
        return Some(parts.join(" "));
    }
    ["full_name", "fullName"]
        .iter()
        .find_map(|key| buyer.extra.get(*key).and_then(|v| v.as_str()))
        .map(str::to_owned)
}

fn short_id() -> String {
    Uuid::new_v4().simple().to_string()[..12].to_owned()
}
