//! Bearer JWTs. The algorithm is fixed by `AUTH_JWT_ALGORITHM` and never taken from the
//! token: HS256 with `AUTH_JWT_SECRET` (development), or RS256, ES256 or EdDSA with the keys of
//! `AUTH_JWKS_URL`. `exp` and `sub` are required, `nbf` is honoured, `iss` and `aud` are
//! enforced when configured, with `AUTH_JWT_LEEWAY` seconds of clock skew. The principal is
//! `sub`.
//!
//! A token that verified is remembered (by its whole text) for [`VERIFIED_TTL`] or until it
//! expires, whichever comes first, so a client sending the same token with every request is not
//! verified again each time: the signature check and the two JSON documents were a tenth of the
//! ingress's instructions per request (BENCHMARKS.md, issue 11). A key withdrawn from the JWKS
//! stops a remembered token at most [`VERIFIED_TTL`] later.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use moka::future::Cache;
use serde::{Deserialize, Serialize};

use super::jwks::{Jwks, KeyError};
use super::{Identity, Principal};
use crate::error::Error;

/// The longest a verified token is remembered.
pub const VERIFIED_TTL: Duration = Duration::from_secs(60);
/// The most bytes of tokens remembered (the least used go first): 16 MiB, some 20,000 tokens of
/// a typical size.
const VERIFIED_BYTES: u64 = 16 * 1024 * 1024;

/// What a verified token says (its `exp`, `nbf`, `iss` and `aud` are checked by validation).
#[derive(Debug, Deserialize)]
struct Claims {
    sub: Option<String>,
    /// Required by validation, which names it when it is missing.
    exp: Option<u64>,
    /// The caller's roles; [`super::ADMIN_ROLE`] grants the admin API. Anything but a list of
    /// strings grants nothing.
    #[serde(default)]
    roles: serde_json::Value,
}

/// What a minted token holds.
#[derive(Debug, Serialize)]
struct Minted<'a> {
    sub: &'a str,
    exp: u64,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    roles: &'a [&'a str],
}

/// Where verification keys come from.
pub enum Keys {
    /// HS256: one shared secret, which also mints development tokens.
    Secret { decoding: Arc<DecodingKey>, encoding: EncodingKey },
    /// RS256, ES256 or EdDSA: the identity provider's published keys, by `kid`.
    Jwks(Arc<Jwks>),
}

/// What tokens must satisfy.
pub struct Rules {
    pub algorithm: Algorithm,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub leeway_secs: u64,
}

/// Verifies bearer tokens (and mints them, with HS256).
pub struct JwtVerifier {
    algorithm: Algorithm,
    validation: Validation,
    keys: Keys,
    /// Tokens that verified, with who they name, until [`Verified::until`].
    verified: Cache<String, Verified>,
}

/// A token that verified: who it names, and until when it may be taken without verifying.
#[derive(Debug, Clone)]
struct Verified {
    identity: Identity,
    until: Instant,
}

/// Each remembered token lives until its own [`Verified::until`].
struct UntilExpiry;

impl moka::Expiry<String, Verified> for UntilExpiry {
    fn expire_after_create(&self, _token: &String, verified: &Verified, created_at: Instant) -> Option<Duration> {
        Some(verified.until.saturating_duration_since(created_at))
    }
}

impl JwtVerifier {
    pub fn new(rules: Rules, keys: Keys) -> JwtVerifier {
        let mut validation = Validation::new(rules.algorithm);
        validation.leeway = rules.leeway_secs;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        if let Some(issuer) = &rules.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &rules.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        JwtVerifier {
            algorithm: rules.algorithm,
            validation,
            keys,
            verified: Cache::builder()
                .max_capacity(VERIFIED_BYTES)
                .weigher(|token: &String, _| u32::try_from(token.len()).unwrap_or(u32::MAX))
                .expire_after(UntilExpiry)
                .build(),
        }
    }

    /// The principal a bearer token names, if the token is valid.
    pub async fn verify(&self, token: &str) -> Result<Identity, Error> {
        // The cache never hands back an entry past its `until` (UntilExpiry).
        if let Some(verified) = self.verified.get(token).await {
            return Ok(verified.identity);
        }
        let (identity, exp) = self.check(token).await?;
        // Remembered until the token expires (with the leeway validation allows), at most
        // VERIFIED_TTL.
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let left = Duration::from_secs(exp.saturating_add(self.validation.leeway)).saturating_sub(now);
        let verified = Verified {
            identity: identity.clone(),
            until: Instant::now() + left.min(VERIFIED_TTL),
        };
        self.verified.insert(token.to_owned(), verified).await;
        Ok(identity)
    }

    /// Verifies a token: the principal it names and its `exp`.
    async fn check(&self, token: &str) -> Result<(Identity, u64), Error> {
        let invalid = || Error::Unauthenticated("the token is invalid".into());
        let header = decode_header(token).map_err(|_| invalid())?;
        if header.alg != self.algorithm {
            return Err(invalid());
        }
        let key = match &self.keys {
            Keys::Secret { decoding, .. } => decoding.clone(),
            Keys::Jwks(jwks) => match jwks.key(header.kid.as_deref()).await {
                Ok(key) => key,
                Err(KeyError::Unknown) => return Err(invalid()),
                Err(KeyError::Unavailable) => return Err(Error::Unavailable("authentication keys")),
            },
        };
        let data = decode::<Claims>(token, &key, &self.validation).map_err(|e| {
            Error::Unauthenticated(
                match e.kind() {
                    ErrorKind::ExpiredSignature => "the token expired".to_owned(),
                    ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".to_owned(),
                    ErrorKind::InvalidIssuer => "the token's issuer is not accepted".to_owned(),
                    ErrorKind::InvalidAudience => "the token's audience is not accepted".to_owned(),
                    ErrorKind::MissingRequiredClaim(claim) => format!("the token lacks the required claim {claim}"),
                    _ => "the token is invalid".to_owned(),
                },
            )
        })?;
        let admin = data
            .claims
            .roles
            .as_array()
            .is_some_and(|roles| roles.iter().any(|r| r.as_str() == Some(super::ADMIN_ROLE)));
        let sub = data
            .claims
            .sub
            .ok_or_else(|| Error::Unauthenticated("the token lacks the required claim sub".into()))?;
        let identity = Identity {
            principal: Principal::new(sub)?,
            admin,
        };
        Ok((identity, data.claims.exp.unwrap_or_default()))
    }

    /// A token for `subject` valid for `ttl_secs`, with the admin role if `admin` (HS256 only: other keys are the identity
    /// provider's).
    pub fn mint(&self, subject: &str, ttl_secs: u64, admin: bool) -> Result<String, String> {
        let Keys::Secret { encoding, .. } = &self.keys else {
            return Err("tokens can be minted only with AUTH_JWT_ALGORITHM=HS256 (the identity provider mints the others)".into());
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let claims = Minted {
            sub: subject,
            exp: now + ttl_secs,
            roles: if admin { &[super::ADMIN_ROLE] } else { &[] },
        };
        encode(&Header::new(Algorithm::HS256), &claims, encoding).map_err(|e| e.to_string())
    }
}

impl Keys {
    /// HS256 keys from the shared secret.
    pub fn secret(secret: &[u8]) -> Keys {
        Keys::Secret {
            decoding: Arc::new(DecodingKey::from_secret(secret)),
            encoding: EncodingKey::from_secret(secret),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(secret: &[u8], issuer: Option<&str>) -> JwtVerifier {
        verifier_with_leeway(secret, issuer, 5)
    }

    fn verifier_with_leeway(secret: &[u8], issuer: Option<&str>, leeway_secs: u64) -> JwtVerifier {
        let rules = Rules {
            algorithm: Algorithm::HS256,
            issuer: issuer.map(str::to_owned),
            audience: None,
            leeway_secs,
        };
        JwtVerifier::new(rules, Keys::secret(secret))
    }

    #[tokio::test]
    async fn minted_tokens_verify_and_others_do_not() {
        let keys = verifier(b"0123456789abcdef0123456789abcdef", None);
        let token = keys.mint("alice", 60, false).unwrap();
        assert_eq!(keys.verify(&token).await.unwrap().principal, Principal("alice".into()));
        assert!(!keys.verify(&token).await.unwrap().admin);
        let admin = keys.mint("ops", 60, true).unwrap();
        assert!(keys.verify(&admin).await.unwrap().admin);
        let other = verifier(b"another-secret-another-secret-000", None);
        assert!(matches!(other.verify(&token).await, Err(Error::Unauthenticated(_))));
        assert!(matches!(keys.verify("not.a.token").await, Err(Error::Unauthenticated(_))));
    }

    #[tokio::test]
    async fn a_configured_issuer_is_required() {
        let keys = verifier(b"0123456789abcdef0123456789abcdef", Some("https://idp.example"));
        let token = keys.mint("alice", 60, false).unwrap();
        assert!(matches!(keys.verify(&token).await, Err(Error::Unauthenticated(m)) if m.contains("iss")));
    }

    #[tokio::test]
    async fn a_remembered_token_still_expires() {
        let keys = verifier_with_leeway(b"0123456789abcdef0123456789abcdef", None, 0);
        let token = keys.mint("alice", 1, false).unwrap();
        assert_eq!(keys.verify(&token).await.unwrap().principal, Principal("alice".into()));
        assert_eq!(keys.verify(&token).await.unwrap().principal, Principal("alice".into()), "remembered");
        // The token's exp is a whole second at most 1 s away: wait until the clock passes it.
        let exp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 1;
        while SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() <= exp {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(matches!(keys.verify(&token).await, Err(Error::Unauthenticated(m)) if m.contains("expired")));
    }

    #[tokio::test]
    async fn a_token_is_remembered_only_once_it_verified() {
        let keys = verifier(b"0123456789abcdef0123456789abcdef", None);
        let token = keys.mint("alice", 60, false).unwrap();
        let (body, signature) = token.rsplit_once('.').unwrap();
        let forged = format!("{body}.{}", signature.chars().rev().collect::<String>());
        assert!(keys.verify(&forged).await.is_err());
        assert!(keys.verify(&forged).await.is_err(), "a failure is not remembered as a success");
        assert!(keys.verify(&token).await.is_ok());
        assert!(keys.verify(&forged).await.is_err(), "another token's success is not this one's");
    }
}
