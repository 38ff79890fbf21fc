//! Discovery documents: the A2A agent card and the UCP business profile. Both are rendered
//! once at start-up from the merchant seed and `PUBLIC_URL`, and served with `Cache-Control`
//! and a strong `ETag` (a conditional GET gets 304).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use schemas::a2a::PROTOCOL_VERSION;
use schemas::capabilities::business_capabilities;
use schemas::merchant::Merchant;
use schemas::ucp::{EXTENSION_URI, VERSION};
use serde_json::{json, Value};

use crate::AppState;

/// How long clients may cache the documents.
const CACHE_CONTROL: &str = "public, max-age=300";

/// A rendered document and its ETag.
pub struct Document {
    body: Vec<u8>,
    etag: HeaderValue,
}

impl Document {
    fn new(value: &Value) -> Document {
        let body = serde_json::to_vec_pretty(value).unwrap_or_default();
        let etag = format!("\"{:016x}\"", schemas::queue::fnv1a(body.iter().copied()));
        Document {
            etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\"")),
            body,
        }
    }

    fn serve(&self, request: &HeaderMap) -> Response {
        let matches = request.get(header::IF_NONE_MATCH).is_some_and(|tags| {
            tags.to_str()
                .unwrap_or_default()
                .split(',')
                .any(|tag| tag.trim() == self.etag || tag.trim() == "*")
        });
        let headers = [
            (header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL)),
            (header::ETAG, self.etag.clone()),
        ];
        if matches {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        let content_type = (header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        (StatusCode::OK, headers, [content_type], self.body.clone()).into_response()
    }
}

/// Both discovery documents.
pub struct Documents {
    pub agent_card: Document,
    pub business_profile: Document,
}

impl Documents {
    /// `jwt_algorithm` is the one JWT algorithm accepted, for the agent card's security schemes.
    pub fn render(merchant: &Merchant, public_url: &str, jwt_algorithm: &str) -> Documents {
        Documents {
            agent_card: Document::new(&agent_card(merchant, public_url, jwt_algorithm)),
            business_profile: Document::new(&business_profile(merchant, public_url)),
        }
    }
}

pub async fn agent_card_handler(State(state): State<AppState>, headers: HeaderMap) -> Response {
    state.documents.agent_card.serve(&headers)
}

pub async fn business_profile_handler(State(state): State<AppState>, headers: HeaderMap) -> Response {
    state.documents.business_profile.serve(&headers)
}

fn agent_card(merchant: &Merchant, public_url: &str, jwt_algorithm: &str) -> Value {
    let base = public_url.trim_end_matches('/');
    json!({
        "name": merchant.name,
        "description": merchant.description,
        "url": format!("{base}/"),
        "preferredTransport": "JSONRPC",
        "protocolVersion": PROTOCOL_VERSION,
        "version": env!("CARGO_PKG_VERSION"),
        "provider": merchant.provider,
        "capabilities": {
            "streaming": false,
            "pushNotifications": false,
            "extensions": [{
                "uri": EXTENSION_URI,
                "description": "UCP Extension",
                "required": true,
                "params": { "capabilities": business_capabilities() }
            }]
        },
        "defaultInputModes": ["text", "text/plain", "application/json"],
        "defaultOutputModes": ["text", "text/plain", "application/json"],
        "securitySchemes": {
            "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                        "description": format!("{jwt_algorithm} JWT with sub (the principal) and exp") },
            "apiKey": { "type": "apiKey", "in": "header", "name": "X-API-Key",
                        "description": "an API key issued by the merchant's operator" }
        },
        "security": [{ "bearer": [] }, { "apiKey": [] }],
        "skills": [
            {
                "id": "product_search",
                "name": "Perform product search",
                "description": "Helps with product search for given user criteria",
                "tags": ["shopping", "search", "catalog search"],
                "examples": ["Help me find cookies"]
            },
            {
                "id": "checkout",
                "name": "Checkout",
                "description": "Adds Checkout functionality for the agent",
                "tags": ["checkout"],
                "examples": ["Add a product to current Checkout session", "change the quantity for a product", "remove a product from Checkout"]
            }
        ]
    })
}

fn business_profile(merchant: &Merchant, public_url: &str) -> Value {
    let base = public_url.trim_end_matches('/');
    json!({
        "ucp": {
            "version": VERSION,
            "services": {
                "dev.ucp.shopping": {
                    "version": VERSION,
                    "spec": "https://ucp.dev/specs/shopping",
                    "a2a": { "endpoint": format!("{base}/.well-known/agent-card.json") },
                    "rest": {
                        "schema": "https://ucp.dev/services/shopping/rest.openapi.json",
                        "endpoint": format!("{base}/")
                    }
                }
            },
            "capabilities": business_capabilities()
        },
        "payment": { "handlers": merchant.payment_handlers }
    })
}
