//! Client profiles: fetched with a short timeout and a size bound, cached (successes and
//! failures) so no request waits on a slow profile server for long or twice. Hardening against
//! hostile URLs (SSRF allow-lists) comes with the security issue; the bounds here already keep
//! a hostile URL from holding a request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use schemas::merchant::business_capabilities;
use schemas::ucp::{Capability, VERSION};
use serde::Deserialize;

use crate::error::Error;

/// The whole time one profile fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest profile document read.
pub const MAX_PROFILE_BYTES: usize = 64 * 1024;
/// How long a fetched profile is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(300);
/// How long a failed fetch is remembered (so a dead URL does not cost every request 2 s).
pub const FAILURE_TTL: Duration = Duration::from_secs(30);
/// The most profiles cached; past it the cache is cleared.
pub const CACHE_CAPACITY: usize = 4096;

#[derive(Debug, Clone, Deserialize)]
struct Profile {
    ucp: ProfileUcp,
}

#[derive(Debug, Clone, Deserialize)]
struct ProfileUcp {
    version: String,
    #[serde(default)]
    capabilities: Vec<Capability>,
}

type Cached = Result<(String, Vec<Capability>), String>;

/// Fetches and caches client profiles.
pub struct Profiles {
    http: reqwest::Client,
    cache: Mutex<HashMap<String, (Instant, Cached)>>,
}

impl Profiles {
    pub fn new() -> Profiles {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Profiles {
            http,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The capabilities negotiated with the client whose profile is at `url`, refusing a client
    /// whose UCP version is newer than ours.
    pub async fn negotiate(&self, url: &str, header_version: Option<&str>) -> Result<Vec<Capability>, Error> {
        if let Some(version) = header_version {
            check_version(version)?;
        }
        let (version, capabilities) = self
            .profile(url)
            .await
            .map_err(|reason| Error::InvalidParams(format!("could not use the UCP profile at {url}: {reason}")))?;
        check_version(&version)?;
        let ours = business_capabilities();
        Ok(ours
            .into_iter()
            .filter(|mine| {
                capabilities
                    .iter()
                    .any(|theirs| theirs.name == mine.name && theirs.version == mine.version)
            })
            .collect())
    }

    async fn profile(&self, url: &str) -> Cached {
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, cached)) = cache.get(url) {
                let ttl = if cached.is_ok() { CACHE_TTL } else { FAILURE_TTL };
                if at.elapsed() < ttl {
                    return cached.clone();
                }
            }
        }
        let fetched = self.fetch(url).await;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(url.to_owned(), (Instant::now(), fetched.clone()));
        fetched
    }

    async fn fetch(&self, url: &str) -> Cached {
        let mut response = self.http.get(url).send().await.map_err(describe)?;
        if !response.status().is_success() {
            return Err(format!("it answered HTTP {}", response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_PROFILE_BYTES {
                return Err(format!("it is larger than {MAX_PROFILE_BYTES} bytes"));
            }
        }
        let profile: Profile = serde_json::from_slice(&body).map_err(|e| format!("it is not a UCP profile ({e})"))?;
        Ok((profile.ucp.version, profile.ucp.capabilities))
    }
}

impl Default for Profiles {
    fn default() -> Self {
        Profiles::new()
    }
}

fn describe(error: reqwest::Error) -> String {
    if error.is_timeout() {
        format!("no answer within {FETCH_TIMEOUT:?}")
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else {
        "the fetch failed".to_owned()
    }
}

/// Versions are dates (YYYY-MM-DD) and compare as text.
fn check_version(version: &str) -> Result<(), Error> {
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
            "UCP version {version:?} is not YYYY-MM-DD"
        )));
    }
    if version > VERSION {
        return Err(Error::InvalidParams(format!(
            "VERSION_UNSUPPORTED: client UCP version {version} is newer than this merchant's {VERSION}"
        )));
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
        assert!(
            matches!(check_version("2027-01-01"), Err(Error::InvalidParams(m)) if m.starts_with("VERSION_UNSUPPORTED"))
        );
        assert!(check_version("...").is_err());
    }
}
