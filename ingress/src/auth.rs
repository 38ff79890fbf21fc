//! Authentication: `Authorization: Bearer <JWT>`, HS256 with `AUTH_JWT_SECRET`, `exp`
//! required; the principal is `sub`. A handler that takes a [`Principal`] is authenticated.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::AppState;

/// The longest principal (`sub`) accepted.
pub const MAX_SUBJECT_LEN: usize = 256;

/// The authenticated caller. Tasks, conversations and checkouts belong to one principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal(pub String);

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
}

/// Verifies and mints tokens.
pub struct Keys {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
}

impl Keys {
    pub fn new(secret: &[u8]) -> Keys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 5;
        Keys {
            decoding: DecodingKey::from_secret(secret),
            encoding: EncodingKey::from_secret(secret),
            validation,
        }
    }

    /// The principal a bearer token names, if the token is valid.
    pub fn verify(&self, token: &str) -> Result<Principal, Error> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            let reason = match e.kind() {
                ErrorKind::ExpiredSignature => "token expired",
                ErrorKind::InvalidSignature => "token signature is invalid",
                ErrorKind::MissingRequiredClaim(_) => "token lacks a required claim (sub, exp)",
                ErrorKind::InvalidAlgorithm => "token algorithm must be HS256",
                _ => "token is malformed",
            };
            Error::Unauthenticated(reason.to_owned())
        })?;
        let sub = data.claims.sub;
        if sub.is_empty() || sub.len() > MAX_SUBJECT_LEN {
            return Err(Error::Unauthenticated(format!(
                "token subject must be 1 to {MAX_SUBJECT_LEN} bytes"
            )));
        }
        Ok(Principal(sub))
    }

    /// A token for `subject` valid for `ttl_secs`.
    pub fn mint(&self, subject: &str, ttl_secs: u64) -> Result<String, jsonwebtoken::errors::Error> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: subject.to_owned(),
                exp: now + ttl_secs,
            },
            &self.encoding,
        )
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| Error::Unauthenticated("missing Authorization header".into()))?;
        let value = value
            .to_str()
            .map_err(|_| Error::Unauthenticated("Authorization header is not text".into()))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| Error::Unauthenticated("Authorization must be `Bearer <token>`".into()))?;
        state.keys.verify(token.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_and_others_do_not() {
        let keys = Keys::new(b"0123456789abcdef0123456789abcdef");
        let token = keys.mint("alice", 60).unwrap();
        assert_eq!(keys.verify(&token).unwrap(), Principal("alice".into()));
        let other = Keys::new(b"another-secret-another-secret-000");
        assert!(matches!(other.verify(&token), Err(Error::Unauthenticated(_))));
        assert!(matches!(keys.verify("not.a.token"), Err(Error::Unauthenticated(_))));
    }
}
