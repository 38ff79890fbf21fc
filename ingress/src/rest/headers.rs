//! The headers of a REST request: `UCP-Agent` and `Idempotency-Key`. (`Request-Id` is the
//! request's id, see `request_id`; `Request-Signature` is accepted and not verified: callers
//! authenticate with a bearer JWT or an API key.)

use axum::http::HeaderMap;
use schemas::rest::Platform;
use schemas::capabilities::Capabilities;

use crate::error::Error;
use crate::ucp::agent_header;
use crate::AppState;

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// What the `UCP-Agent` header says.
pub struct Agent {
    /// The profile URL, when it is an http(s) URL.
    profile: Option<String>,
}

/// Reads `UCP-Agent` and refuses a client whose UCP version is newer than ours (400
/// `VERSION_UNSUPPORTED`), before anything else about the request is looked at.
pub fn agent(headers: &HeaderMap) -> Result<Agent, Error> {
    let value = headers.get("ucp-agent").and_then(|v| v.to_str().ok());
    let agent = agent_header::parse_fields(value)?;
    if let Some(version) = &agent.version {
        crate::ucp::profiles::check_version(version)?;
    }
    let usable = agent.profile.starts_with("http://") || agent.profile.starts_with("https://");
    Ok(Agent {
        profile: usable.then_some(agent.profile),
    })
}

impl Agent {
    /// The capabilities negotiated with the platform's profile and what the checkout needs from
    /// it. A header whose profile is not an http(s) URL gets the business's capabilities and no
    /// order webhooks; a profile URL that is refused or cannot be fetched is a 400.
    pub async fn negotiate(&self, state: &AppState) -> Result<(Capabilities, Platform), Error> {
        let Some(url) = &self.profile else {
            return Ok((Capabilities::all(), Platform::default()));
        };
        let negotiated = state.profiles.negotiate(url, None).await?;
        Ok((
            negotiated.capabilities,
            Platform {
                webhook_url: negotiated.webhook_url,
            },
        ))
    }
}

/// The `Idempotency-Key` every mutation carries: 1 to 255 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<String, Error> {
    let key = headers
        .get("idempotency-key")
        .ok_or_else(|| Error::InvalidRequest("the Idempotency-Key header is required on every mutation".into()))?;
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            Error::InvalidRequest(format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
            ))
        })?;
    Ok(key.to_owned())
}
