//! Client profiles: checked against the allow-list, fetched through the filtering resolver
//! with connect and total timeouts, no redirects and a size bound, and cached with a TTL and a
//! size bound (successes 5 minutes, failures 30 s). Concurrent requests for one URL share one
//! fetch, so a slow profile server holds each request at most `FETCH_TIMEOUT` and is asked
//! once, and requests for cached profiles never wait on it.
//!
//! A refused URL's error names the rule; a fetch that fails says only that no profile could be
//! had there, never the remote status, body, or which port answered (the cause is logged).

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use schemas::capabilities::{business_capabilities, Capabilities};
use schemas::ucp::{Capability, VERSION};
use serde::Deserialize;

use lifecycle::outbound::{Allowlist, FilteringResolver, Refused};
use crate::error::Error;

/// The whole time one profile fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
/// The time to set up the connection (TCP and TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The largest profile document read.
pub const MAX_PROFILE_BYTES: usize = 64 * 1024;
/// How long a fetched profile is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(300);
/// How long a failed fetch is remembered (so a dead URL does not cost every request 2 s).
pub const FAILURE_TTL: Duration = Duration::from_secs(30);
/// The most profiles (and failures) cached; the least used go first.
pub const CACHE_CAPACITY: u64 = 4096;

#[derive(Debug, Clone, Deserialize)]
struct Document {
    ucp: DocumentUcp,
}

#[derive(Debug, Clone, Deserialize)]
struct DocumentUcp {
    version: String,
    #[serde(default)]
    capabilities: Vec<DocumentCapability>,
}

#[derive(Debug, Clone, Deserialize)]
struct DocumentCapability {
    #[serde(flatten)]
    capability: Capability,
    #[serde(default)]
    config: Option<serde_json::Value>,
}

/// The capability whose config names the platform's order webhook.
const ORDER_CAPABILITY: &str = "dev.ucp.shopping.order";

/// What a profile says that negotiation needs.
#[derive(Debug)]
struct Profile {
    version: String,
    /// Ours that the profile also lists (same name and version), found once per fetch.
    capabilities: Capabilities,
    /// `dev.ucp.shopping.order`'s `config.webhook_url`, if the allow-list permits it.
    webhook_url: Option<String>,
}

/// The outcome of negotiating with a client's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Ours that the client also has (same name and version).
    pub capabilities: Capabilities,
    /// Where the client wants order events.
    pub webhook_url: Option<String>,
}

/// Why no profile could be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("{0}")]
    Refused(#[from] Refused),
    #[error("no UCP profile could be fetched from it (unreachable, no answer within {FETCH_TIMEOUT:?}, not a success, larger than {MAX_PROFILE_BYTES} bytes or not a UCP profile)")]
    Unfetchable,
}

type Cached = Result<Arc<Profile>, ProfileError>;

/// Successes and failures live for different times.
struct Lifetimes;

impl moka::Expiry<String, Cached> for Lifetimes {
    fn expire_after_create(&self, _key: &String, value: &Cached, _created_at: Instant) -> Option<Duration> {
        Some(if value.is_ok() { CACHE_TTL } else { FAILURE_TTL })
    }
}

/// Fetches and caches client profiles.
pub struct Profiles {
    allowlist: Arc<Allowlist>,
    http: reqwest::Client,
    cache: Cache<String, Cached>,
}

impl Profiles {
    /// `trusted`: CA certificates trusted besides the platform's roots (`HTTP_CA_FILE`).
    pub fn new(allowlist: Allowlist, trusted: &[reqwest::Certificate]) -> Result<Profiles, reqwest::Error> {
        let allowlist = Arc::new(allowlist);
        let http = lifecycle::tls::trusting(reqwest::Client::builder(), trusted)
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(FilteringResolver {
                allowlist: allowlist.clone(),
            }))
            .build()?;
        let cache = Cache::builder()
            .max_capacity(CACHE_CAPACITY)
            .expire_after(Lifetimes)
            .build();
        Ok(Profiles { allowlist, http, cache })
    }

    /// The capabilities negotiated with the client whose profile is at `url`, refusing a client
    /// whose UCP version is newer than ours.
    pub async fn negotiate(&self, url: &str, header_version: Option<&str>) -> Result<Negotiated, Error> {
        if let Some(version) = header_version {
            check_version(version)?;
        }
        let profile = self.profile(url).await.map_err(|reason| Error::Profile {
            url: url.chars().take(200).collect(),
            reason,
        })?;
        check_version(&profile.version)?;
        Ok(Negotiated {
            capabilities: profile.capabilities.clone(),
            webhook_url: profile.webhook_url.clone(),
        })
    }

    async fn profile(&self, url: &str) -> Cached {
        let parsed = reqwest::Url::parse(url).map_err(|_| Refused::NotAUrl)?;
        self.allowlist.check_url(&parsed)?;
        let http = self.http.clone();
        let allowlist = self.allowlist.clone();
        self.cache
            .get_with(url.to_owned(), async move { fetch(&http, parsed, &allowlist).await.map(Arc::new) })
            .await
    }
}

async fn fetch(http: &reqwest::Client, url: reqwest::Url, allowlist: &Allowlist) -> Result<Profile, ProfileError> {
    let host = url.host_str().unwrap_or_default().to_owned();
    let failed = |cause: &str| {
        tracing::info!(profile_host = %host, cause, "client profile not usable");
        ProfileError::Unfetchable
    };
    let mut response = match http.get(url.clone()).send().await {
        Ok(response) => response,
        Err(error) => {
            if let Some(refused) = refusal_in(&error) {
                return Err(ProfileError::Refused(refused));
            }
            return Err(failed(if error.is_timeout() { "timeout" } else { "connection failed" }));
        }
    };
    if !response.status().is_success() {
        return Err(failed(&format!("HTTP {}", response.status().as_u16())));
    }
    if response.content_length().is_some_and(|n| n > MAX_PROFILE_BYTES as u64) {
        return Err(failed("too large"));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_PROFILE_BYTES {
                    return Err(failed("too large"));
                }
            }
            Ok(None) => break,
            Err(error) => return Err(failed(if error.is_timeout() { "timeout" } else { "body failed" })),
        }
    }
    let document: Document = serde_json::from_slice(&body).map_err(|_| failed("not a UCP profile"))?;
    let webhook_url = document
        .ucp
        .capabilities
        .iter()
        .filter(|c| c.capability.name == ORDER_CAPABILITY)
        .find_map(|c| c.config.as_ref()?.get("webhook_url")?.as_str().map(str::to_owned))
        .filter(|webhook| {
            let permitted = reqwest::Url::parse(webhook).is_ok_and(|parsed| allowlist.check_url(&parsed).is_ok());
            if !permitted {
                tracing::info!(profile_host = %host, "the profile's webhook_url is not permitted; no order webhooks");
            }
            permitted
        });
    let theirs = &document.ucp.capabilities;
    let capabilities = business_capabilities()
        .iter()
        .filter(|mine| {
            theirs
                .iter()
                .any(|c| c.capability.name == mine.name && c.capability.version == mine.version)
        })
        .cloned()
        .collect::<Vec<_>>()
        .into();
    Ok(Profile {
        version: document.ucp.version,
        capabilities,
        webhook_url,
    })
}

/// The allow-list refusal the resolver gave, if that is why the request failed.
fn refusal_in(error: &reqwest::Error) -> Option<Refused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return Some(refused.clone());
        }
        source = cause.source();
    }
    None
}

/// Versions are dates (YYYY-MM-DD) and compare as text.
pub fn check_version(version: &str) -> Result<(), Error> {
    let well_formed = version.len() == 10
        && version.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !well_formed {
        return Err(Error::InvalidParams(format!(
            "UCP version {:?} is not YYYY-MM-DD",
            version.chars().take(32).collect::<String>()
        )));
    }
    if version > VERSION {
        return Err(Error::VersionUnsupported(version.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_versions_are_unsupported() {
        assert!(check_version("2026-01-11").is_ok());
        assert!(check_version("2025-06-01").is_ok());
        assert!(matches!(check_version("2027-01-01"), Err(Error::VersionUnsupported(v)) if v == "2027-01-01"));
        assert!(check_version("...").is_err());
    }
}
