//! Runs one commerce action, or a chat turn, inside the turn's transaction.

use chrono::{DateTime, Utc};
use schemas::action::{Action, ACTION_NAMES};
use schemas::merchant::Merchant;
use schemas::ucp::{Checkout, CHECKOUT_KEY, PRODUCT_RESULTS_KEY};
use schemas::TaskEnvelope;
use serde_json::{json, Map, Value};
use sqlx::PgConnection;
use store::checkouts::{self, Versioned};
use store::{catalog, orders};
use uuid::Uuid;

use super::checkout::{self, Refusal};

/// What the engine needs besides the store.
#[derive(Clone)]
pub struct Settings {
    pub merchant: Merchant,
    /// Product lookups by id, from memory.
    pub catalog: std::sync::Arc<catalog::Cache>,
    /// How long a checkout lives after its last change.
    pub session_ttl: chrono::Duration,
}

/// The agent's answer to one turn: text, and the DataPart holding its result.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub text: String,
    pub data: Option<Map<String, Value>>,
}

impl Answer {
    fn text(text: impl Into<String>) -> Answer {
        Answer {
            text: text.into(),
            data: None,
        }
    }

    fn checkout(text: impl Into<String>, checkout: &Checkout, refusal: Option<&Refusal>) -> Answer {
        let mut shown = checkout.clone();
        if let Some(refusal) = refusal {
            shown.messages.push(refusal.message());
        }
        let status = if refusal.is_some() { "error" } else { "success" };
        let data = json!({ CHECKOUT_KEY: shown, "status": status });
        Answer {
            text: text.into(),
            data: data.as_object().cloned(),
        }
    }
}

/// The conversation's checkout as an action finds it.
enum Found {
    Open(Versioned),
    /// The last checkout is completed, canceled or has just expired.
    Closed(Checkout),
    None,
}

async fn find_checkout(conn: &mut PgConnection, env: &TaskEnvelope, now: DateTime<Utc>) -> store::Result<Found> {
    if let Some(mut open) = checkouts::open_for_update(conn, &env.principal, &env.context_id).await? {
        if open.checkout.expires_at > now {
            return Ok(Found::Open(open));
        }
        checkout::expire(&mut open.checkout);
        checkouts::update(conn, checkout_id(&open.checkout), &open.checkout, open.version).await?;
        return Ok(Found::Closed(open.checkout));
    }
    Ok(match checkouts::latest(conn, &env.principal, &env.context_id).await? {
        Some(closed) => Found::Closed(closed),
        None => Found::None,
    })
}

fn checkout_id(checkout: &Checkout) -> Uuid {
    // Ids are minted by `checkout::new_checkout` from a Uuid.
    checkout.id.parse().unwrap_or_default()
}

const NO_CHECKOUT: &str = "There is no checkout in this conversation yet; add a product to start one.";

/// Runs `action` for the envelope's conversation.
pub async fn run(
    conn: &mut PgConnection,
    env: &TaskEnvelope,
    action: &Action,
    settings: &Settings,
    now: DateTime<Utc>,
) -> store::Result<Answer> {
    let name = action.name();
    match action {
        Action::SearchShoppingCatalog { query } => search(conn, query).await,
        Action::GetCheckout => Ok(match find_checkout(conn, env, now).await? {
            Found::Open(open) => Answer::checkout(format!("Done: {name}."), &open.checkout, None),
            Found::Closed(closed) => Answer::checkout(format!("Done: {name}."), &closed, None),
            Found::None => Answer::text(NO_CHECKOUT),
        }),
        Action::AddToCheckout { product_id, quantity } => {
            let Some(product) = settings.catalog.get(product_id).await? else {
                return Ok(Answer::text(format!("Product {product_id} is not in the catalog.")));
            };
            let (mut checkout, version) = match find_checkout(conn, env, now).await? {
                Found::Open(open) => (open.checkout, Some(open.version)),
                Found::Closed(_) | Found::None => {
                    let id = Uuid::new_v4();
                    let merchant = &settings.merchant;
                    (
                        checkout::new_checkout(
                            id,
                            &env.capabilities,
                            &merchant.currency,
                            &merchant.payment_handlers,
                            now,
                        ),
                        None,
                    )
                }
            };
            let changed = checkout::add_item(&mut checkout, &product, *quantity);
            save(conn, env, checkout, version, changed, name, settings, now).await
        }
        Action::RemoveFromCheckout { product_id } => {
            mutate(conn, env, settings, now, name, |c| checkout::remove_item(c, product_id)).await
        }
        Action::UpdateCheckout { product_id, quantity } => {
            mutate(conn, env, settings, now, name, |c| {
                checkout::set_quantity(c, product_id, *quantity)
            })
            .await
        }
        Action::StartPayment => mutate(conn, env, settings, now, name, checkout::start_payment).await,
        Action::UpdateCustomerDetails(details) => {
            mutate(conn, env, settings, now, name, |c| {
                checkout::update_customer(c, details)
            })
            .await
        }
        Action::CancelCheckout => mutate(conn, env, settings, now, name, checkout::cancel).await,
        Action::CompleteCheckout { instrument, .. } => {
            let mut open = match open_or_answer(conn, env, now).await? {
                Ok(open) => open,
                Err(answer) => return Ok(answer),
            };
            match checkout::complete(&mut open.checkout, instrument) {
                Ok(order) => {
                    let id = checkout_id(&open.checkout);
                    checkouts::update(conn, id, &open.checkout, open.version).await?;
                    orders::insert(conn, &order.id, id, &env.principal, &open.checkout).await?;
                    Ok(Answer::checkout(
                        format!("Order {} placed.", order.id),
                        &open.checkout,
                        None,
                    ))
                }
                Err(refusal) => Ok(Answer::checkout(
                    refusal.content.clone(),
                    &open.checkout,
                    Some(&refusal),
                )),
            }
        }
    }
}

/// The open checkout, or the answer to give when there is none.
async fn open_or_answer(
    conn: &mut PgConnection,
    env: &TaskEnvelope,
    now: DateTime<Utc>,
) -> store::Result<Result<Versioned, Answer>> {
    Ok(match find_checkout(conn, env, now).await? {
        Found::Open(open) => Ok(open),
        Found::Closed(closed) => {
            let refusal = checkout::refuse_closed(&closed);
            Err(Answer::checkout(refusal.content.clone(), &closed, Some(&refusal)))
        }
        Found::None => Err(Answer::text(NO_CHECKOUT)),
    })
}

/// Applies a change to the open checkout and stores it.
async fn mutate(
    conn: &mut PgConnection,
    env: &TaskEnvelope,
    settings: &Settings,
    now: DateTime<Utc>,
    name: &str,
    change: impl FnOnce(&mut Checkout) -> Result<(), Refusal>,
) -> store::Result<Answer> {
    let mut open = match open_or_answer(conn, env, now).await? {
        Ok(open) => open,
        Err(answer) => return Ok(answer),
    };
    let changed = change(&mut open.checkout);
    save(
        conn,
        env,
        open.checkout,
        Some(open.version),
        changed,
        name,
        settings,
        now,
    )
    .await
}

/// Stores a changed checkout (or reports the refusal without storing anything).
#[allow(clippy::too_many_arguments)]
async fn save(
    conn: &mut PgConnection,
    env: &TaskEnvelope,
    mut checkout: Checkout,
    version: Option<i64>,
    changed: Result<(), Refusal>,
    name: &str,
    settings: &Settings,
    now: DateTime<Utc>,
) -> store::Result<Answer> {
    if let Err(refusal) = changed {
        return Ok(Answer::checkout(refusal.content.clone(), &checkout, Some(&refusal)));
    }
    if !checkout.status.is_closed() {
        checkout.expires_at = now + settings.session_ttl;
    }
    let id = checkout_id(&checkout);
    match version {
        Some(version) => checkouts::update(conn, id, &checkout, version).await?,
        None => checkouts::insert(conn, id, &env.principal, &env.context_id, &checkout).await?,
    }
    Ok(Answer::checkout(format!("Done: {name}."), &checkout, None))
}

async fn search(conn: &mut PgConnection, query: &str) -> store::Result<Answer> {
    let results = catalog::search(conn, query).await?;
    let mut product_results = json!({ "results": results });
    let text = if results.is_empty() {
        product_results["content"] = json!("No products found");
        format!("No products found for \"{query}\".")
    } else {
        format!("Found {} product(s) for \"{query}\".", results.len())
    };
    let data = json!({ PRODUCT_RESULTS_KEY: product_results });
    Ok(Answer {
        text,
        data: data.as_object().cloned(),
    })
}

/// A free-text turn. Until the LLM agent arrives, it searches the catalog for the text's words
/// and names the actions a client can send.
pub async fn chat(conn: &mut PgConnection, text: &str) -> store::Result<Answer> {
    let mut answer = search(conn, text).await?;
    answer.text = format!(
        "{} To shop, send a DataPart {{\"action\": \"<name>\", ...}} with one of: {}.",
        answer.text,
        ACTION_NAMES.join(", ")
    );
    Ok(answer)
}
