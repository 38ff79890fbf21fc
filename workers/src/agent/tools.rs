//! The commerce actions as model tools: their declarations, and their execution against the
//! conversation's checkout as this turn sees it. A tool runs the same code a client's DataPart
//! action runs ([`crate::commerce::actions`]); its changes accumulate in a [`Workspace`] and are
//! committed with the turn, or not at all.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use schemas::action::{action_from_call, Payment};
use schemas::agent::{ToolCall, ToolResult};
use schemas::ucp::{Checkout, CHECKOUT_KEY, PRODUCT_RESULTS_KEY};
use schemas::TaskEnvelope;
use serde_json::{json, Map, Value};
use sqlx::PgPool;
use store::batch::Batcher;
use store::checkouts::{Versioned, Write};
use store::SharedError;
use uuid::Uuid;

use crate::commerce::actions::{self, Answer, Context, Effects, Settings, Stored};
use crate::llm::ToolSpec;

/// The tools every model is offered: the sample's names and parameters, and `cancel_checkout`.
pub fn specs() -> Vec<ToolSpec> {
    let string = |description: &str| json!({ "type": "string", "description": description });
    let object = |properties: Value, required: &[&str]| json!({ "type": "object", "properties": properties, "required": required });
    vec![
        ToolSpec {
            name: "search_shopping_catalog",
            description: "Searches the merchant's catalog for products matching a query.",
            parameters: Some(object(json!({ "query": string("what the user is looking for") }), &["query"])),
        },
        ToolSpec {
            name: "add_to_checkout",
            description: "Adds a product (by id, from search results) to the checkout, starting one if needed.",
            parameters: Some(object(
                json!({
                    "product_id": string("the product's id"),
                    "quantity": { "type": "integer", "description": "how many, at least 1 (default 1)" },
                }),
                &["product_id"],
            )),
        },
        ToolSpec {
            name: "remove_from_checkout",
            description: "Removes a product from the checkout.",
            parameters: Some(object(json!({ "product_id": string("the product's id") }), &["product_id"])),
        },
        ToolSpec {
            name: "update_checkout",
            description: "Sets the quantity of a product in the checkout; 0 removes it.",
            parameters: Some(object(
                json!({
                    "product_id": string("the product's id"),
                    "quantity": { "type": "integer", "description": "the new quantity" },
                }),
                &["product_id", "quantity"],
            )),
        },
        ToolSpec {
            name: "get_checkout",
            description: "Shows the current checkout: lines, totals, status.",
            parameters: None,
        },
        ToolSpec {
            name: "start_payment",
            description: "Moves the checkout towards payment once buyer details are complete.",
            parameters: None,
        },
        ToolSpec {
            name: "update_customer_details",
            description: "Sets the buyer's name, email and shipping address, then starts payment.",
            parameters: Some(object(
                json!({
                    "first_name": string("given name"),
                    "last_name": string("family name"),
                    "street_address": string("street and number"),
                    "extended_address": string("apartment, suite (optional)"),
                    "address_locality": string("city"),
                    "address_region": string("state or region"),
                    "postal_code": string("postal code"),
                    "address_country": string("ISO country code, e.g. US"),
                    "email": string("email address (optional)"),
                }),
                &["first_name", "last_name", "street_address", "address_locality", "address_region", "postal_code", "address_country"],
            )),
        },
        ToolSpec {
            name: "complete_checkout",
            description: "Places the order with the payment the user sent with this message. Only when the checkout is ready_for_complete and the user asked to pay.",
            parameters: None,
        },
        ToolSpec {
            name: "cancel_checkout",
            description: "Cancels the open checkout.",
            parameters: None,
        },
    ]
}

/// The checkouts a turn works on and the changes its tools made, not yet written.
pub struct Workspace {
    open: Option<Versioned>,
    latest: Option<Checkout>,
    writes: Vec<Write>,
    effects: Effects,
    /// The last search results and the last checkout state, as the client is shown them.
    shown: HashMap<&'static str, Map<String, Value>>,
}

/// Catalog searches of many turns' tools, one statement per batch.
#[derive(Clone)]
pub struct Searches {
    batcher: Batcher<String, Result<Vec<Value>, SharedError>>,
}

impl Searches {
    pub fn start(pool: PgPool) -> Searches {
        let batcher = Batcher::start(128, 2, store::batch::QUEUE_DEFAULT, move |queries: Vec<String>| {
            let pool = pool.clone();
            async move {
                match store::catalog::search_many(&pool, &queries).await {
                    Ok(found) => found.into_iter().map(Ok).collect(),
                    Err(error) => store::fail_each(queries.len(), error),
                }
            }
        });
        Searches { batcher }
    }

    async fn search(&self, query: &str) -> Result<Vec<Value>, SharedError> {
        self.batcher
            .submit(query.to_owned())
            .await
            .unwrap_or_else(|| Err(std::sync::Arc::new(store::Error::Database(sqlx::Error::PoolClosed))))
    }
}

/// What a tool needs besides the workspace.
pub struct ToolContext<'a> {
    pub searches: &'a Searches,
    pub settings: &'a Settings,
    pub envelope: &'a TaskEnvelope,
    pub payment: Option<&'a Payment>,
    pub now: DateTime<Utc>,
}

impl Workspace {
    pub fn new(stored: Stored) -> Workspace {
        Workspace {
            open: stored.open,
            latest: stored.latest,
            writes: Vec::new(),
            effects: Effects::default(),
            shown: HashMap::new(),
        }
    }

    /// The open checkout as the turn now sees it.
    pub fn checkout(&self) -> Option<&Checkout> {
        self.open.as_ref().map(|open| &open.checkout)
    }

    /// Runs the tools one model reply asked for, in order. `step` makes the ids of checkouts
    /// they create the same on every replay of the turn.
    pub async fn run(&mut self, cx: &ToolContext<'_>, step: usize, calls: &[ToolCall]) -> Result<Vec<ToolResult>, SharedError> {
        let mut results = Vec::with_capacity(calls.len());
        for (i, call) in calls.iter().enumerate() {
            let response = match action_from_call(&call.name, &call.args, cx.payment) {
                Err(error) => {
                    let mut response = Map::new();
                    response.insert("error".into(), Value::String(error.to_string()));
                    response
                }
                Ok(action) => {
                    let checkout_id = Uuid::new_v5(&cx.envelope.task_id, format!("checkout.{step}.{i}").as_bytes());
                    let answer = self.run_action(cx, &action, checkout_id).await?;
                    self.remember(&answer);
                    for_model(answer)
                }
            };
            results.push(ToolResult {
                id: call.id.clone(),
                name: call.name.clone(),
                response,
            });
        }
        Ok(results)
    }

    async fn run_action(&mut self, cx: &ToolContext<'_>, action: &schemas::Action, checkout_id: Uuid) -> Result<Answer, SharedError> {
        let stored = Stored {
            open: self.open.clone(),
            latest: self.latest.clone(),
        };
        let found = match action {
            schemas::Action::SearchShoppingCatalog { query } => cx.searches.search(query).await?,
            _ => Vec::new(),
        };
        let mut effects = Effects::default();
        let answer = actions::run(
            Context {
                found,
                settings: cx.settings,
                now: cx.now,
                effects: &mut effects,
                checkout_id,
            },
            cx.envelope,
            action,
            stored,
        )
        .await
        .map_err(std::sync::Arc::new)?;
        self.absorb(effects);
        Ok(answer)
    }

    /// Folds an action's writes into the turn's: a checkout written twice is written once, with
    /// its last state, as the insert or versioned update it first was.
    fn absorb(&mut self, effects: Effects) {
        for write in effects.checkouts {
            let (id, checkout) = match &write {
                Write::Insert { id, checkout, .. } | Write::Update { id, checkout, .. } => (*id, checkout.clone()),
            };
            let version = match &write {
                Write::Update { version, .. } => *version,
                Write::Insert { .. } => 0,
            };
            match self.writes.iter_mut().find(|w| write_id(w) == id) {
                Some(Write::Insert { checkout: held, .. } | Write::Update { checkout: held, .. }) => *held = checkout.clone(),
                None => self.writes.push(write),
            }
            if checkout.status.is_closed() {
                if self.open.as_ref().is_some_and(|open| open.checkout.id == checkout.id) {
                    self.open = None;
                }
                self.latest = Some(checkout);
            } else {
                let version = match &self.open {
                    Some(open) if open.checkout.id == checkout.id => open.version,
                    _ => version,
                };
                self.open = Some(Versioned { checkout, version });
            }
        }
        self.effects.orders.extend(effects.orders);
        self.effects.reservations.extend(effects.reservations);
        self.effects.webhooks.extend(effects.webhooks);
    }

    fn remember(&mut self, answer: &Answer) {
        for data in &answer.data {
            for key in [PRODUCT_RESULTS_KEY, CHECKOUT_KEY] {
                if data.contains_key(key) {
                    self.shown.insert(key, data.clone());
                }
            }
        }
    }

    /// The turn's effects and the DataParts its reply carries (search results, then checkout).
    pub fn finish(mut self) -> (Effects, Vec<Map<String, Value>>) {
        self.effects.checkouts = self.writes;
        let shown = [PRODUCT_RESULTS_KEY, CHECKOUT_KEY]
            .into_iter()
            .filter_map(|key| self.shown.remove(key))
            .collect();
        (self.effects, shown)
    }
}

fn write_id(write: &Write) -> Uuid {
    match write {
        Write::Insert { id, .. } | Write::Update { id, .. } => *id,
    }
}

/// A tool's answer as the model sees it: the text and the structured result, without the
/// checkout's payment section (instruments are not the model's business).
fn for_model(answer: Answer) -> Map<String, Value> {
    let mut response = Map::new();
    response.insert("result".into(), Value::String(answer.text));
    for mut data in answer.data {
        if let Some(Value::Object(checkout)) = data.get_mut(CHECKOUT_KEY) {
            checkout.remove("payment");
        }
        response.extend(data);
    }
    response
}

/// The checkout as the system instruction describes it to the model (no payment section).
pub fn describe_checkout(checkout: &Checkout) -> String {
    let mut value = serde_json::to_value(checkout).unwrap_or_default();
    if let Value::Object(map) = &mut value {
        map.remove("payment");
    }
    value.to_string()
}
