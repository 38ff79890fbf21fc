//! Who is calling: a bearer JWT (`Authorization: Bearer`, see [`jwt`]) or an API key
//! (`X-API-Key`, see [`api_keys`]). A handler that takes a [`Principal`] is authenticated.
//! Failures answer 401 with `WWW-Authenticate` and a reason that names what to fix (missing,
//! expired, not yet valid, wrong issuer or audience) without helping a forger (every bad
//! signature, key or format is "invalid"). A handler that takes an [`Admin`] also needs the
//! admin role (403 without it).
//!
//! - [`jwt`]: HS256 with a shared secret, or RS256/ES256/EdDSA against a JWKS.
//! - [`jwks`]: the JWKS fetched, cached, and refreshed (rate-limited) on an unknown `kid`.
//! - [`api_keys`]: keys stored as hashes, verified through a cache of a few seconds.

pub mod api_keys;
pub mod jwks;
pub mod jwt;

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};

use crate::error::Error;
use crate::AppState;

/// The longest principal (`sub`) accepted.
pub const MAX_SUBJECT_LEN: usize = 256;
/// The header API keys travel in.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The authenticated caller. Tasks, conversations and checkouts belong to one principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal(pub String);

impl Principal {
    /// A principal from a token subject or a key's owner, checked for size.
    pub fn new(subject: String) -> Result<Principal, Error> {
        if subject.is_empty() || subject.len() > MAX_SUBJECT_LEN {
            return Err(Error::Unauthenticated(format!("the principal must be 1 to {MAX_SUBJECT_LEN} bytes")));
        }
        Ok(Principal(subject))
    }
}

/// Who a request authenticated as, and whether it may use the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub principal: Principal,
    /// A JWT whose `roles` claim includes [`ADMIN_ROLE`], or an API key created with `--admin`.
    pub admin: bool,
}

/// The role that grants the admin API (`/admin/...`).
pub const ADMIN_ROLE: &str = "admin";

/// Authenticates a request by its API key or bearer JWT.
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<Identity, Error> {
    if let Some(key) = parts.headers.get(API_KEY_HEADER) {
        let key = key
            .to_str()
            .map_err(|_| Error::Unauthenticated("the API key is not valid".into()))?;
        return state.api_keys.verify(key.trim()).await;
    }
    let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
        Error::Unauthenticated("missing Authorization header (Bearer <JWT>) or X-API-Key".into())
    })?;
    let value = value
        .to_str()
        .map_err(|_| Error::Unauthenticated("Authorization header is not text".into()))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| Error::Unauthenticated("Authorization must be `Bearer <token>`".into()))?;
    state.jwt.verify(token.trim()).await
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(authenticate(parts, state).await?.principal)
    }
}

/// An authenticated caller with the admin role; anyone else is refused (401 or 403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin(pub Principal);

impl FromRequestParts<AppState> for Admin {
    type Rejection = crate::error::Rest;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let identity = authenticate(parts, state).await?;
        if !identity.admin {
            return Err(Error::Forbidden(format!("the admin API needs the {ADMIN_ROLE:?} role")).into());
        }
        Ok(Admin(identity.principal))
    }
}
