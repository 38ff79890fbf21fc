//! Runs one commerce action, or a chat turn, inside the transaction of its batch. The batch
//! reads the conversation's checkouts before ([`Stored`]) and writes what the action changed
//! after ([`Effects`]); only catalog search talks to the database here.

use chrono::{DateTime, Utc};
use schemas::action::{Action, ACTION_NAMES};
use schemas::merchant::Merchant;
use schemas::ucp::{Checkout, CHECKOUT_KEY, PRODUCT_RESULTS_KEY};
use schemas::TaskEnvelope;
use serde_json::{json, Map, Value};
use sqlx::PgConnection;
use store::checkouts::{self, Versioned, Write};
use store::orders::NewOrder;
use store::{catalog, orders};
use uuid::Uuid;

use super::checkout::{self, Refusal};
use crate::payments::Payments;

/// What the engine needs besides the store.
#[derive(Clone)]
pub struct Settings {
    pub merchant: Merchant,
    /// Product lookups by id, from memory.
    pub catalog: std::sync::Arc<catalog::Cache>,
    /// The merchant's discounts, promotions, shipping and tax rates, from memory.
    pub pricing: std::sync::Arc<store::pricing::Cache>,
    /// How long a checkout lives after its last change.
    pub session_ttl: chrono::Duration,
    /// Exchanges a session keeps (`LLM_HISTORY_TURNS`).
    pub history_turns: usize,
    /// The payment handlers offered, and the keys that open credentials.
    pub payments: std::sync::Arc<Payments>,
    /// Wakes the webhook dispatcher once a batch that queued webhook events has committed.
    pub webhooks_due: std::sync::Arc<tokio::sync::Notify>,
    /// For stock checks, which read committed stock outside the turn's transaction (the
    /// reservation at completion, inside it, is what counts).
    pub pool: sqlx::PgPool,
}

/// The agent's answer to one turn: text, and the DataParts holding its results.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub text: String,
    pub data: Vec<Map<String, Value>>,
}

impl Answer {
    /// A REST operation's HTTP response, as one DataPart under `schemas::rest::RESPONSE_KEY`.
    pub fn rest(response: schemas::rest::Response) -> Answer {
        let text = format!("HTTP {}", response.status);
        let data = json!({ schemas::rest::RESPONSE_KEY: response });
        Answer {
            text,
            data: data.as_object().cloned().into_iter().collect(),
        }
    }

    fn text(text: impl Into<String>) -> Answer {
        Answer {
            text: text.into(),
            data: Vec::new(),
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
            data: data.as_object().cloned().into_iter().collect(),
        }
    }
}

/// A conversation's checkouts as its batch read them.
#[derive(Default)]
pub struct Stored {
    /// The open checkout, locked.
    pub open: Option<Versioned>,
    /// The most recent checkout, read only when there is no open one and the action reports on
    /// a closed one (see [`reads_latest`]).
    pub latest: Option<Checkout>,
}

/// True if the action works on the conversation's checkout.
pub fn reads_checkout(action: &Action) -> bool {
    !matches!(action, Action::SearchShoppingCatalog { .. })
}

/// True if the action, finding no open checkout, reports on the last closed one.
pub fn reads_latest(action: &Action) -> bool {
    reads_checkout(action) && !matches!(action, Action::AddToCheckout { .. })
}

/// What a batch of turns writes besides the tasks: checkouts, then orders, the stock their A2A
/// completions take, and the webhook events they cause.
#[derive(Debug, Clone, Default)]
pub struct Effects {
    pub checkouts: Vec<Write>,
    pub orders: Vec<NewOrder>,
    /// (product, quantity) that A2A completions take from stock.
    pub reservations: Vec<(String, i64)>,
    pub webhooks: Vec<store::webhooks::NewDelivery>,
}

impl Effects {
    /// Writes every effect of the batch (a few statements, whatever the batch's size). Stock
    /// that another order took since the completion checked it fails the batch with
    /// [`store::Error::StockTaken`]; its turns run again, and the completion is then refused.
    pub async fn write(&self, conn: &mut PgConnection) -> store::Result<()> {
        checkouts::write(conn, &self.checkouts).await?;
        orders::insert(conn, &self.orders).await?;
        if let Err(product_id) = store::inventory::reserve(conn, &self.reservations).await? {
            return Err(store::Error::StockTaken(product_id));
        }
        store::webhooks::enqueue(conn, &self.webhooks).await
    }
}

/// The first of `lines` (product, quantity) whose product has less stock than that. Products
/// whose stock is not counted (the catalog says which) cost no query.
async fn short_of_stock(settings: &Settings, lines: &[(String, i64)]) -> store::Result<Option<Refusal>> {
    let mut ids = Vec::new();
    for (id, _) in lines {
        if settings.catalog.get(id).await?.is_some_and(|product| product.stocked) {
            ids.push(id.clone());
        }
    }
    if ids.is_empty() {
        return Ok(None);
    }
    let mut conn = settings.pool.acquire().await?;
    let stock = store::inventory::available(&mut conn, &ids).await?;
    Ok(lines
        .iter()
        .find(|(id, quantity)| stock.get(id).is_some_and(|available| quantity > available))
        .map(|(id, _)| Refusal::new("out_of_stock", format!("Insufficient stock for item {id}"))))
}

/// The checkout's lines as (product, quantity).
fn lines_of(checkout: &Checkout) -> Vec<(String, i64)> {
    checkout
        .line_items
        .iter()
        .map(|line| (line.item.id.clone(), line.quantity))
        .collect()
}

/// The conversation's checkout as an action finds it.
enum Found {
    Open(Versioned),
    /// The last checkout is completed, canceled or has just expired.
    Closed(Checkout),
    None,
}

fn find_checkout(stored: Stored, now: DateTime<Utc>, effects: &mut Effects) -> Found {
    if let Some(mut open) = stored.open {
        if open.checkout.expires_at > now {
            return Found::Open(open);
        }
        checkout::expire(&mut open.checkout);
        effects.checkouts.push(Write::Update {
            id: checkout_id(&open.checkout),
            checkout: open.checkout.clone(),
            version: open.version,
        });
        return Found::Closed(open.checkout);
    }
    match stored.latest {
        Some(closed) => Found::Closed(closed),
        None => Found::None,
    }
}

fn checkout_id(checkout: &Checkout) -> Uuid {
    // Ids are minted by `checkout::new_checkout` from a Uuid.
    checkout.id.parse().unwrap_or_default()
}

const NO_CHECKOUT: &str = "There is no checkout in this conversation yet; add a product to start one.";

/// What an action needs besides its conversation's checkouts: the settings, the time, where its
/// writes go, and for a search the products the caller found (searches are read by the caller,
/// so many turns' searches can share a statement).
pub struct Context<'a> {
    pub found: Vec<Value>,
    pub settings: &'a Settings,
    pub now: DateTime<Utc>,
    pub effects: &'a mut Effects,
    /// The id a checkout this action starts gets.
    pub checkout_id: Uuid,
}

/// Runs `action` for the envelope's conversation, whose checkouts are `stored`.
pub async fn run(cx: Context<'_>, env: &TaskEnvelope, action: &Action, stored: Stored) -> store::Result<Answer> {
    let Context {
        found,
        settings,
        now,
        effects,
        checkout_id: new_id,
    } = cx;
    let name = action.name();
    let rules = settings.pricing.get().await?;
    let rules = rules.as_ref();
    match action {
        Action::SearchShoppingCatalog { query } => Ok(search_answer(query, found)),
        Action::GetCheckout => Ok(match find_checkout(stored, now, effects) {
            Found::Open(open) => Answer::checkout(format!("Done: {name}."), &open.checkout, None),
            Found::Closed(closed) => Answer::checkout(format!("Done: {name}."), &closed, None),
            Found::None => Answer::text(NO_CHECKOUT),
        }),
        Action::AddToCheckout { product_id, quantity } => {
            let Some(product) = settings.catalog.get(product_id).await? else {
                return Ok(Answer::text(format!("Product {product_id} is not in the catalog.")));
            };
            let (mut checkout, version) = match find_checkout(stored, now, effects) {
                Found::Open(open) => (open.checkout, Some(open.version)),
                Found::Closed(_) | Found::None => {
                    let merchant = &settings.merchant;
                    (
                        checkout::new_checkout(
                            new_id,
                            &env.capabilities,
                            &merchant.currency,
                            &merchant.payment_handlers,
                            now,
                            rules,
                        ),
                        None,
                    )
                }
            };
            let mut changed = checkout::add_item(&mut checkout, &product, *quantity, rules);
            if changed.is_ok() {
                let line = lines_of(&checkout).into_iter().filter(|(id, _)| id == product_id).collect::<Vec<_>>();
                if let Some(refusal) = short_of_stock(settings, &line).await? {
                    changed = Err(refusal);
                }
            }
            let saved = Saved {
                env,
                version,
                changed,
                name,
                settings,
                now,
            };
            Ok(save(saved, checkout, effects))
        }
        Action::RemoveFromCheckout { product_id } => Ok(mutate(stored, env, settings, now, name, effects, |c| {
            checkout::remove_item(c, product_id, rules)
        })),
        Action::UpdateCheckout { product_id, quantity } => {
            let short = short_of_stock(settings, &[(product_id.clone(), *quantity)]).await?;
            Ok(mutate(stored, env, settings, now, name, effects, |c| match short {
                Some(refusal) => Err(refusal),
                None => checkout::set_quantity(c, product_id, *quantity, rules),
            }))
        }
        Action::StartPayment => Ok(mutate(stored, env, settings, now, name, effects, |c| {
            checkout::start_payment(c, rules)
        })),
        Action::UpdateCustomerDetails(details) => Ok(mutate(stored, env, settings, now, name, effects, |c| {
            checkout::update_customer(c, details, rules)
        })),
        Action::CancelCheckout => Ok(mutate(stored, env, settings, now, name, effects, checkout::cancel)),
        Action::CompleteCheckout { payment } => {
            let mut open = match open_or_answer(stored, now, effects) {
                Ok(open) => open,
                Err(answer) => return Ok(answer),
            };
            let lines = lines_of(&open.checkout);
            let authorized = match checkout::completable(&open.checkout, &payment.instrument) {
                Ok(()) => match short_of_stock(settings, &lines).await? {
                    Some(refusal) => Err(refusal),
                    None => settings.payments.authorize(env, payment, &open.checkout).await.map(|_| ()),
                },
                Err(refusal) => Err(refusal),
            };
            if let Err(refusal) = authorized {
                return Ok(Answer::checkout(refusal.content.clone(), &open.checkout, Some(&refusal)));
            }
            match checkout::complete(&mut open.checkout, &payment.instrument) {
                Ok(order) => {
                    let id = checkout_id(&open.checkout);
                    let answer = Answer::checkout(format!("Order {} placed.", order.id), &open.checkout, None);
                    super::orders::place(effects, env, id, &open.checkout, &order, None);
                    effects.reservations.extend(lines);
                    effects.checkouts.push(Write::Update {
                        id,
                        checkout: open.checkout,
                        version: open.version,
                    });
                    Ok(answer)
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
fn open_or_answer(stored: Stored, now: DateTime<Utc>, effects: &mut Effects) -> Result<Versioned, Answer> {
    match find_checkout(stored, now, effects) {
        Found::Open(open) => Ok(open),
        Found::Closed(closed) => {
            let refusal = checkout::refuse_closed(&closed);
            Err(Answer::checkout(refusal.content.clone(), &closed, Some(&refusal)))
        }
        Found::None => Err(Answer::text(NO_CHECKOUT)),
    }
}

/// Applies a change to the open checkout and queues it for writing.
fn mutate(
    stored: Stored,
    env: &TaskEnvelope,
    settings: &Settings,
    now: DateTime<Utc>,
    name: &'static str,
    effects: &mut Effects,
    change: impl FnOnce(&mut Checkout) -> Result<(), Refusal>,
) -> Answer {
    let mut open = match open_or_answer(stored, now, effects) {
        Ok(open) => open,
        Err(answer) => return answer,
    };
    let changed = change(&mut open.checkout);
    let saved = Saved {
        env,
        version: Some(open.version),
        changed,
        name,
        settings,
        now,
    };
    save(saved, open.checkout, effects)
}

/// A checkout an action changed, and how.
struct Saved<'a> {
    env: &'a TaskEnvelope,
    /// The version the checkout was read with; `None` for a new checkout.
    version: Option<i64>,
    changed: Result<(), Refusal>,
    name: &'static str,
    settings: &'a Settings,
    now: DateTime<Utc>,
}

/// Queues a changed checkout for writing (or reports the refusal without writing anything).
fn save(saved: Saved<'_>, mut checkout: Checkout, effects: &mut Effects) -> Answer {
    if let Err(refusal) = saved.changed {
        return Answer::checkout(refusal.content.clone(), &checkout, Some(&refusal));
    }
    if !checkout.status.is_closed() {
        checkout.expires_at = saved.now + saved.settings.session_ttl;
    }
    let answer = Answer::checkout(format!("Done: {}.", saved.name), &checkout, None);
    let id = checkout_id(&checkout);
    effects.checkouts.push(match saved.version {
        Some(version) => Write::Update { id, checkout, version },
        None => Write::Insert {
            id,
            key: (saved.env.principal.clone(), saved.env.context_id.clone()),
            checkout,
        },
    });
    answer
}

/// The answer to a search for `query` that found `results`.
pub fn search_answer(query: &str, results: Vec<Value>) -> Answer {
    let mut product_results = json!({ "results": results });
    let text = if results.is_empty() {
        product_results["content"] = json!("No products found");
        format!("No products found for \"{query}\".")
    } else {
        format!("Found {} product(s) for \"{query}\".", results.len())
    };
    let data = json!({ PRODUCT_RESULTS_KEY: product_results });
    Answer {
        text,
        data: data.as_object().cloned().into_iter().collect(),
    }
}

/// A free-text turn while the agent is offline (no model configured): it searches the catalog
/// for the text's words and names the actions a client can send.
pub async fn chat(conn: &mut PgConnection, text: &str) -> store::Result<Answer> {
    let mut answer = search_answer(text, catalog::search(conn, text).await?);
    answer.text = format!(
        "The assistant is offline (no model is configured), so this is a plain catalog search. {} \
         To shop, send a DataPart {{\"action\": \"<name>\", ...}} with one of: {}.",
        answer.text,
        ACTION_NAMES.join(", ")
    );
    Ok(answer)
}
