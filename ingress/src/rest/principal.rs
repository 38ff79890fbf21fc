//! Who a REST request acts for: the caller its bearer JWT or API key authenticates, or, for a
//! request with neither, `UCP_REST_ANONYMOUS_PRINCIPAL` when that is set (off by default: for
//! platforms that do not authenticate, such as the UCP conformance suite). Bad credentials are
//! refused either way.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};

use crate::auth::{Principal, API_KEY_HEADER};
use crate::error::{Error, Ucp};
use crate::AppState;

/// The principal of a REST request.
pub struct RestPrincipal(pub Principal);

impl FromRequestParts<AppState> for RestPrincipal {
    type Rejection = Ucp;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let anonymous =
            !parts.headers.contains_key(header::AUTHORIZATION) && !parts.headers.contains_key(API_KEY_HEADER);
        let principal = match (anonymous, &state.config.ucp_rest_anonymous_principal) {
            (true, Some(principal)) => Principal(principal.clone()),
            _ => crate::auth::authenticate(parts, state).await?.principal,
        };
        if let Err(retry_after_secs) = state.rate_limiter.check_principal(&principal.0) {
            return Err(Error::RateLimited {
                scope: crate::rate_limit::Scope::Principal.as_str(),
                limit: state.config.rate_limit_principal,
                retry_after_secs,
            }
            .into());
        }
        Ok(RestPrincipal(principal))
    }
}
